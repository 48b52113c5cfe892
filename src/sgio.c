/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The SG_IO backend: one PERSISTENT RESERVE IN/OUT on a device fd, its
 * outcome mapped to status + sense by scsi_result.  Blocking; runs on
 * worker threads only.
 *
 * The CDB goes to the device unmodified with cmd_len 16.  Nothing here
 * looks at the fd's access mode: refusing PR OUT on an O_RDONLY fd is done
 * by the caller before a command is submitted.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include <scsi/sg.h>

#include "prh/sgio.h"

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

/* Issue the cdb on fd with SG_IO and map the outcome into res. */
void
sgio_execute(int fd, const uint8_t cdb[PRH_CDB_LEN], uint8_t *data,
    uint32_t len, unsigned timeout_ms, struct scsi_result *res)
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
