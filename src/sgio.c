/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The SG_IO backend: one PERSISTENT RESERVE IN/OUT on a device fd, its
 * outcome mapped to status + sense by scsi_result, sent again after a
 * UNIT ATTENTION (sgio.h).  Blocking; runs on worker threads only.
 *
 * The CDB goes to the device unmodified with cmd_len 16.  Nothing here
 * looks at the fd's access mode: refusing PR OUT on an fd not open for
 * writing is done by the caller before a command is submitted.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>

#include <scsi/sg.h>

#include "prh/sgio.h"
#include "prh/trace.h"

/* Fill hdr for one PR command; sense is the zeroed 96-byte sense buffer. */
static void
sgio_fill_hdr(struct sg_io_hdr *hdr, const uint8_t cdb[PRH_CDB_LEN],
    uint8_t *data, uint32_t len, int is_in, unsigned timeout_ms, uint8_t *sense)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->interface_id = 'S';
	hdr->cmd_len = PRH_CDB_LEN;
	hdr->cmdp = (unsigned char *)cdb;
	hdr->mx_sb_len = PRH_SENSE_LEN;
	hdr->sbp = sense;
	hdr->dxferp = data;
	if (is_in) {
		hdr->dxfer_direction = SG_DXFER_FROM_DEV;
		hdr->dxfer_len = PRH_DATA_MAX;
	} else {
		hdr->dxfer_direction = SG_DXFER_TO_DEV;
		hdr->dxfer_len = len;
	}
	hdr->timeout = timeout_ms;
}

/*
 * Clear the part of a PR IN buffer that a reply could carry.  The reply
 * sends min(PRH_DATA_MAX - resid, len) bytes, so nothing past len can
 * leave; below it, each byte the reply sends was either written by the
 * device or cleared here.  Nothing after the ioctl can tell the two apart
 * (a driver may report a resid smaller than what it wrote), so the
 * clearing comes first.  The buffer is recycled between commands: this is
 * what keeps a previous command's data from ever being sent.
 */
static void
sgio_clear_in(uint8_t *data, uint32_t len)
{
	memset(data, 0, len < PRH_DATA_MAX ? len : PRH_DATA_MAX);
}

/* Issue the cdb on fd once with SG_IO and map the outcome into res. */
static void
sgio_once(int fd, const uint8_t cdb[PRH_CDB_LEN], uint8_t *data, uint32_t len,
    unsigned timeout_ms, struct scsi_result *res)
{
	struct sg_io_hdr hdr;
	int is_in, r;

	is_in = cdb[0] == PRH_OP_PR_IN;
	if (is_in)
		sgio_clear_in(data, len);
	memset(res->sense, 0, sizeof(res->sense));
	sgio_fill_hdr(&hdr, cdb, data, len, is_in, timeout_ms, res->sense);

	do {
		r = ioctl(fd, SG_IO, &hdr);
	} while (r < 0 && errno == EINTR);

	if (r < 0) {
		scsi_result_from_errno(res, errno);
		return;
	}
	scsi_result_from_sgio(res, hdr.host_status, hdr.driver_status,
	    hdr.status, is_in, hdr.dxfer_len, hdr.resid, len);
}

/* Whether the answer in res may be sent again after tries resends:
 * a unit attention from the device, retries left, and at least half of
 * the timeout left; *timeout_ms is then the rest of it, and ua records
 * the unit attention. */
static bool
sgio_again(const struct scsi_result *res, const struct sgio_opts *o,
    unsigned tries, uint64_t t0_ns, unsigned *timeout_ms, struct sgio_ua *ua)
{
	uint8_t asc, ascq;
	uint64_t spent;

	if (tries >= o->ua_retries ||
	    !scsi_result_unit_attention(res, &asc, &ascq))
		return false;
	spent = (trace_now_ns() - t0_ns + 999999) / 1000000; /* ms, up */
	if (spent * 2 >= o->timeout_ms)
		return false;
	*timeout_ms = o->timeout_ms - (unsigned)spent;
	if (ua != NULL && ua->n < SGIO_UA_RETRIES_MAX)
		ua->code[ua->n++] = (uint16_t)(asc << 8 | ascq);
	return true;
}

/* Issue the cdb on fd with SG_IO, again after each unit attention while
 * opts allow, and map the last outcome into res. */
void
sgio_execute(int fd, const uint8_t cdb[PRH_CDB_LEN], uint8_t *data,
    uint32_t len, const struct sgio_opts *opts, struct scsi_result *res,
    struct sgio_ua *ua)
{
	unsigned timeout_ms = opts->timeout_ms, tries = 0;
	uint64_t t0_ns = trace_now_ns();

	if (ua != NULL)
		ua->n = 0;
	do
		sgio_once(fd, cdb, data, len, timeout_ms, res);
	while (sgio_again(res, opts, tries++, t0_ns, &timeout_ms, ua));
}
