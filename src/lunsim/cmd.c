/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lunsim: command dispatch, unit attentions and the commands a host needs
 * to see a disk (TEST UNIT READY, INQUIRY and its VPD pages, READ
 * CAPACITY, REPORT LUNS, MODE SENSE, REQUEST SENSE, READ and WRITE).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lunsim.h"

#define SK_NO_SENSE	   0x0
#define SK_HARDWARE_ERROR  0x4
#define SK_ILLEGAL_REQUEST 0x5
#define SK_UNIT_ATTENTION  0x6
#define STATUS_CHECK	   0x02
#define STATUS_CONFLICT	   0x18
#define RESP_MAX	   256 /* largest non-data response */

/* Set c to CHECK CONDITION with fixed-format sense key/asc/ascq. */
void
lunsim_sense(struct lunsim_cmd *c, uint8_t key, uint8_t asc, uint8_t ascq)
{
	memset(c->sense, 0, sizeof(c->sense));
	c->sense[0] = 0x70;
	c->sense[2] = key;
	c->sense[7] = LUNSIM_SENSE_LEN - 8;
	c->sense[12] = asc;
	c->sense[13] = ascq;
	c->sense_len = LUNSIM_SENSE_LEN;
	c->status = STATUS_CHECK;
	c->in_done = 0;
}

/* Copy a response of n bytes, capped by alloc and the buffer. */
static void
respond(struct lunsim_cmd *c, const uint8_t *buf, uint32_t n, uint32_t alloc)
{
	if (n > alloc)
		n = alloc;
	if (n > c->in_len)
		n = c->in_len;
	if (n > 0)
		memcpy(c->in, buf, n);
	c->in_done = n;
}

/* Pop the oldest unit attention of initiator into asc/ascq: 1 if any. */
static int
ua_take(struct lunsim_hdr *h, const char *initiator, uint8_t *asc,
    uint8_t *ascq)
{
	struct lunsim_itn *t;
	int i = lunsim_itn_find(h, initiator);

	if (i < 0 || h->itn[i].ua_count == 0)
		return 0;
	t = &h->itn[i];
	*asc = (uint8_t)(t->ua[0] >> 8);
	*ascq = (uint8_t)t->ua[0];
	memmove(t->ua, t->ua + 1, sizeof(t->ua[0]) * (LUNSIM_UA_MAX - 1));
	t->ua[LUNSIM_UA_MAX - 1] = 0;
	t->ua_count--;
	if (!t->registered && t->ua_count == 0)
		memset(t, 0, sizeof(*t));
	return 1;
}

/* Standard INQUIRY data into buf: the length. */
static uint32_t
inquiry_std(uint8_t *buf)
{
	buf[0] = 0x00; /* direct access block device */
	buf[2] = 0x06; /* SPC-4 */
	buf[3] = 0x12; /* HISUP, response data format 2 */
	buf[4] = 36 - 5;
	buf[7] = 0x02; /* CMDQUE */
	memcpy(buf + 8, "LUNSIM  ", 8);
	memcpy(buf + 16, "SIMULATED PR LUN", 16);
	memcpy(buf + 32, "0001", 4);
	return 36;
}

/* VPD page into buf: the length, or 0 if the page is not supported. */
static uint32_t
inquiry_vpd(const struct lunsim_hdr *h, unsigned page, uint8_t *buf)
{
	static const uint8_t pages[] = { 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2 };
	unsigned i;

	buf[1] = (uint8_t)page;
	switch (page) {
	case 0x00:
		memcpy(buf + 4, pages, sizeof(pages));
		buf[3] = sizeof(pages);
		return 4 + sizeof(pages);
	case 0x80:
		for (i = 0; i < 8; i++)
			snprintf((char *)buf + 4 + 2 * i, 3, "%02X", h->id[i]);
		buf[3] = 16;
		return 20;
	case 0x83:
		/* NAA IEEE Registered Extended designator of the LU */
		buf[4] = 0x01; /* binary */
		buf[5] = 0x03; /* LU, NAA */
		buf[7] = 16;
		memcpy(buf + 8, h->id, 16);
		buf[8] = (uint8_t)(0x60 | (buf[8] & 0x0f));
		/* relative target port identifier 1 */
		buf[24] = 0x01;
		buf[25] = 0x14; /* PIV 0, target port, type 4 */
		buf[27] = 4;
		lunsim_put_be(buf + 28, 1, 4);
		lunsim_put_be(buf + 2, 28, 2);
		return 32;
	case 0xb0: /* block limits */
		lunsim_put_be(buf + 2, 0x3c, 2);
		lunsim_put_be(buf + 8, 2048, 4); /* maximum transfer length */
		lunsim_put_be(buf + 12, 8, 4);	 /* optimal transfer length */
		return 64;
	case 0xb1: /* block device characteristics */
		lunsim_put_be(buf + 2, 0x3c, 2);
		lunsim_put_be(buf + 4, 1, 2); /* non-rotating medium */
		return 64;
	case 0xb2: /* logical block provisioning */
		lunsim_put_be(buf + 2, 4, 2);
		return 8;
	default:
		return 0;
	}
}

/* INQUIRY, standard or EVPD. */
static void
cmd_inquiry(const struct lunsim_hdr *h, struct lunsim_cmd *c)
{
	uint8_t buf[RESP_MAX];
	uint32_t n;

	memset(buf, 0, sizeof(buf));
	if (c->cdb[1] & 0x01)
		n = inquiry_vpd(h, c->cdb[2], buf);
	else
		n = c->cdb[2] == 0 ? inquiry_std(buf) : 0;
	if (n == 0) {
		lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		return;
	}
	respond(c, buf, n, (uint32_t)lunsim_get_be(c->cdb + 3, 2));
}

/* READ CAPACITY(10) and (16). */
static void
cmd_read_capacity(const struct lunsim_hdr *h, struct lunsim_cmd *c, int is16)
{
	uint8_t buf[32];
	uint64_t last = h->size / h->block_size - 1;

	memset(buf, 0, sizeof(buf));
	if (!is16) {
		lunsim_put_be(buf, last > 0xffffffffULL ? 0xffffffffULL : last,
		    4);
		lunsim_put_be(buf + 4, h->block_size, 4);
		respond(c, buf, 8, 8);
		return;
	}
	lunsim_put_be(buf, last, 8);
	lunsim_put_be(buf + 8, h->block_size, 4);
	respond(c, buf, 32, (uint32_t)lunsim_get_be(c->cdb + 10, 4));
}

/* REQUEST SENSE: a pending unit attention, or NO SENSE. */
static void
cmd_request_sense(struct lunsim_hdr *h, const char *initiator,
    struct lunsim_cmd *c)
{
	struct lunsim_cmd tmp;
	uint8_t asc, ascq;

	memset(&tmp, 0, sizeof(tmp));
	if (ua_take(h, initiator, &asc, &ascq)) {
		lunsim_sense(&tmp, SK_UNIT_ATTENTION, asc, ascq);
		c->dirty = 1;
	} else {
		lunsim_sense(&tmp, SK_NO_SENSE, 0, 0);
	}
	respond(c, tmp.sense, LUNSIM_SENSE_LEN, c->cdb[4]);
}

/* READ or WRITE of count blocks at lba through datafd. */
static void
cmd_rw(struct lunsim_hdr *h, int datafd, const char *initiator,
    struct lunsim_cmd *c, uint64_t lba, uint64_t count, int write)
{
	uint64_t bytes = count * h->block_size;
	off_t off = (off_t)(LUNSIM_HDR_SIZE + lba * h->block_size);
	ssize_t n;

	if (lba > h->size / h->block_size ||
	    count > h->size / h->block_size - lba) {
		lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x21, 0x00);
		return;
	}
	if (!lunsim_pr_access_ok(h, initiator, write)) {
		c->status = STATUS_CONFLICT;
		return;
	}
	if (datafd < 0) {
		lunsim_sense(c, SK_HARDWARE_ERROR, 0x44, 0x00);
		return;
	}
	if (write) {
		if (bytes > c->out_len)
			bytes = c->out_len;
		n = bytes > 0 ? pwrite(datafd, c->out, bytes, off) : 0;
		if (n >= 0)
			c->out_done = (uint32_t)n;
	} else {
		if (bytes > c->in_len)
			bytes = c->in_len;
		n = bytes > 0 ? pread(datafd, c->in, bytes, off) : 0;
		if (n >= 0) {
			memset(c->in + n, 0, bytes - (uint64_t)n);
			c->in_done = (uint32_t)bytes;
		}
	}
	if (n < 0)
		lunsim_sense(c, 0x3, write ? 0x0c : 0x11, 0x00);
}

/* MODE SENSE(6) and (10): a header without pages. */
static void
cmd_mode_sense(struct lunsim_cmd *c, int is10)
{
	uint8_t buf[8];

	memset(buf, 0, sizeof(buf));
	if (is10) {
		lunsim_put_be(buf, 6, 2);
		respond(c, buf, 8, (uint32_t)lunsim_get_be(c->cdb + 7, 2));
	} else {
		buf[0] = 3;
		respond(c, buf, 4, c->cdb[4]);
	}
}

/* Commands that run without unit attention and reservation checks. */
static int
cmd_ua_exempt(uint8_t op)
{
	return op == 0x12 || op == 0xa0 || op == 0x03;
}

/* Execute one command from initiator on the LUN described by h. */
void
lunsim_execute(struct lunsim_hdr *h, int datafd, const char *initiator,
    struct lunsim_cmd *c)
{
	const uint8_t *cdb = c->cdb;
	uint8_t asc, ascq, buf[16];

	c->status = 0;
	c->sense_len = 0;
	c->in_done = 0;
	c->out_done = 0;
	c->dirty = 0;
	if (c->cdb_len < 6) {
		lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x20, 0x00);
		return;
	}
	if (!cmd_ua_exempt(cdb[0]) && ua_take(h, initiator, &asc, &ascq)) {
		lunsim_sense(c, SK_UNIT_ATTENTION, asc, ascq);
		c->dirty = 1;
		return;
	}
	switch (cdb[0]) {
	case 0x00: /* TEST UNIT READY */
	case 0x35: /* SYNCHRONIZE CACHE(10) */
	case 0x91: /* SYNCHRONIZE CACHE(16) */
		break;
	case 0x03:
		cmd_request_sense(h, initiator, c);
		break;
	case 0x12:
		cmd_inquiry(h, c);
		break;
	case 0x1a:
	case 0x5a:
		cmd_mode_sense(c, cdb[0] == 0x5a);
		break;
	case 0x25:
		cmd_read_capacity(h, c, 0);
		break;
	case 0x9e:
		if ((cdb[1] & 0x1f) == 0x10)
			cmd_read_capacity(h, c, 1);
		else
			lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		break;
	case 0xa0: /* REPORT LUNS: LUN 0 only */
		memset(buf, 0, sizeof(buf));
		lunsim_put_be(buf, 8, 4);
		respond(c, buf, 16, (uint32_t)lunsim_get_be(cdb + 6, 4));
		break;
	case 0x28:
	case 0x2a:
		cmd_rw(h, datafd, initiator, c, lunsim_get_be(cdb + 2, 4),
		    lunsim_get_be(cdb + 7, 2), cdb[0] == 0x2a);
		break;
	case 0x88:
	case 0x8a:
		if (c->cdb_len < 16) {
			lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
			break;
		}
		cmd_rw(h, datafd, initiator, c, lunsim_get_be(cdb + 2, 8),
		    lunsim_get_be(cdb + 10, 4), cdb[0] == 0x8a);
		break;
	case 0x5e:
	case 0x5f:
		if (c->cdb_len < 10)
			lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		else if (cdb[0] == 0x5e)
			lunsim_pr_in(h, initiator, c);
		else
			lunsim_pr_out(h, initiator, c);
		break;
	default:
		lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x20, 0x00);
		break;
	}
}
