/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for scsi_result: errno, host_status, driver_status and raw
 * status mapping, sense bytes, and the payload size rules. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "prh/scsi_result.h"
#include "harness.h"

#define CHECK	PRH_STATUS_CHECK_CONDITION
#define BUSY	PRH_STATUS_BUSY
#define RESCONF PRH_STATUS_RESERVATION_CONFLICT
#define TSF	PRH_STATUS_TASK_SET_FULL

/* A recognisable "kernel" sense: descriptor format, then a pattern. */
static void
kernel_sense(uint8_t out[PRH_SENSE_LEN])
{
	size_t i;

	out[0] = 0x72;
	out[1] = PRH_SK_UNIT_ATTENTION;
	out[2] = 0x2a;
	out[3] = 0x05;
	for (i = 4; i < PRH_SENSE_LEN; i++)
		out[i] = (uint8_t)(0x80 + i);
}

/* Print sense bytes for a failure message. */
static const char *
hex(const uint8_t *p, size_t n)
{
	static char buf[3 * PRH_SENSE_LEN + 1];
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < n && i < PRH_SENSE_LEN; i++)
		snprintf(buf + 3 * i, 4, "%02x ", p[i]);
	return buf;
}

/* One errno row: status, and for CHECK CONDITION the sense triple. */
struct errno_case {
	int err;
	uint8_t status;
	uint8_t key, asc, ascq;
};

static const struct errno_case errno_cases[] = {
	{ EDOM, TSF, 0, 0, 0 },
	{ EBADE, RESCONF, 0, 0, 0 },
	{ EREMOTEIO, CHECK, PRH_SK_HARDWARE_ERROR, 0x44, 0x00 },
	{ ENODEV, CHECK, PRH_SK_HARDWARE_ERROR, 0x44, 0x00 },
	{ ENOMEM, CHECK, PRH_SK_HARDWARE_ERROR, 0x44, 0x00 },
	{ ENODATA, CHECK, PRH_SK_MEDIUM_ERROR, 0x11, 0x00 },
	{ ENOMEDIUM, CHECK, PRH_SK_NOT_READY, 0x3a, 0x00 },
	{ EINVAL, CHECK, PRH_SK_ILLEGAL_REQUEST, 0x24, 0x00 },
	{ ENOSPC, CHECK, PRH_SK_DATA_PROTECT, 0x27, 0x07 },
	{ ENOTTY, CHECK, PRH_SK_ABORTED_COMMAND, 0x00, 0x06 },
	{ EPERM, CHECK, PRH_SK_ABORTED_COMMAND, 0x00, 0x06 },
	{ EACCES, CHECK, PRH_SK_ABORTED_COMMAND, 0x00, 0x06 },
	{ EIO, CHECK, PRH_SK_ABORTED_COMMAND, 0x00, 0x06 },
	{ EAGAIN, CHECK, PRH_SK_ABORTED_COMMAND, 0x00, 0x06 },
	{ EBADF, CHECK, PRH_SK_ABORTED_COMMAND, 0x00, 0x06 },
	{ ETIMEDOUT, CHECK, PRH_SK_ABORTED_COMMAND, 0x00, 0x06 },
	{ EFAULT, CHECK, PRH_SK_ABORTED_COMMAND, 0x00, 0x06 },
	{ ENXIO, CHECK, PRH_SK_ABORTED_COMMAND, 0x00, 0x06 },
	{ EBUSY, CHECK, PRH_SK_ABORTED_COMMAND, 0x00, 0x06 },
	{ EINTR, CHECK, PRH_SK_ABORTED_COMMAND, 0x00, 0x06 },
	{ 0, CHECK, PRH_SK_ABORTED_COMMAND, 0x00, 0x06 },
	{ 4095, CHECK, PRH_SK_ABORTED_COMMAND, 0x00, 0x06 },
};

Test(scsi_result, errno_table)
{
	uint8_t want[PRH_SENSE_LEN];
	struct scsi_result r;
	size_t i;

	for (i = 0; i < sizeof(errno_cases) / sizeof(errno_cases[0]); i++) {
		const struct errno_case *c = &errno_cases[i];

		memset(&r, 0xcc, sizeof(r)); /* stale bytes must go */
		scsi_result_from_errno(&r, c->err);
		if (c->status == CHECK)
			th_sense_fixed(want, c->key, c->asc, c->ascq);
		else
			memset(want, 0, sizeof(want));
		cr_expect_eq(r.status, c->status, "errno %d (%s): status %#x",
		    c->err, strerror(c->err), r.status);
		cr_expect_eq(r.size, 0, "errno %d: size %u", c->err, r.size);
		cr_expect_eq(memcmp(r.sense, want, PRH_SENSE_LEN), 0,
		    "errno %d (%s): sense %s", c->err, strerror(c->err),
		    hex(r.sense, 18));
	}
}

Test(scsi_result, enotty_exact_bytes)
{
	static const uint8_t head[18] = { 0x70, 0x00, 0x0b, 0x00, 0x00, 0x00,
		0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00,
		0x00, 0x00 };
	struct scsi_result r;
	size_t i;

	memset(&r, 0xff, sizeof(r));
	scsi_result_from_errno(&r, ENOTTY);
	cr_assert_eq(r.status, 0x02);
	cr_assert_eq(r.size, 0);
	cr_assert_eq(memcmp(r.sense, head, sizeof(head)), 0, "sense %s",
	    hex(r.sense, 18));
	for (i = sizeof(head); i < PRH_SENSE_LEN; i++)
		cr_assert_eq(r.sense[i], 0, "sense byte %zu is %#x", i,
		    r.sense[i]);
}

/* One host_status row.  key == 0xff: the kernel's sense must be kept. */
struct host_case {
	unsigned host;
	uint8_t status;
	uint8_t key, asc, ascq;
};

#define KEPT 0xff
#define ABRT PRH_SK_ABORTED_COMMAND
#define UA   PRH_SK_UNIT_ATTENTION
#define HW   PRH_SK_HARDWARE_ERROR

static const struct host_case host_cases[] = {
	{ 0x00, 0x00, KEPT, 0, 0 },	   /* DID_OK */
	{ 0x01, CHECK, ABRT, 0x05, 0x00 }, /* NO_CONNECT */
	{ 0x02, BUSY, KEPT, 0, 0 },	   /* BUS_BUSY */
	{ 0x03, CHECK, ABRT, 0x2e, 0x02 }, /* TIME_OUT */
	{ 0x04, CHECK, ABRT, 0x08, 0x00 }, /* BAD_TARGET */
	{ 0x05, CHECK, ABRT, 0x2f, 0x02 }, /* ABORT */
	{ 0x06, CHECK, ABRT, 0x00, 0x06 }, /* PARITY */
	{ 0x07, CHECK, ABRT, 0x00, 0x06 }, /* ERROR */
	{ 0x08, CHECK, UA, 0x29, 0x00 },   /* RESET */
	{ 0x09, CHECK, ABRT, 0x00, 0x06 }, /* BAD_INTR */
	{ 0x0a, CHECK, ABRT, 0x00, 0x06 }, /* PASSTHROUGH */
	{ 0x0b, BUSY, KEPT, 0, 0 },	   /* SOFT_ERROR */
	{ 0x0c, BUSY, KEPT, 0, 0 },	   /* IMM_RETRY */
	{ 0x0d, BUSY, KEPT, 0, 0 },	   /* REQUEUE */
	{ 0x0e, CHECK, ABRT, 0x29, 0x07 }, /* TRANSP_DISRUPTED */
	{ 0x0f, CHECK, ABRT, 0x00, 0x06 }, /* TRANSPORT_FAILFAST */
	{ 0x10, CHECK, HW, 0x44, 0x00 },   /* TARGET_FAILURE */
	{ 0x11, RESCONF, KEPT, 0, 0 },	   /* NEXUS_FAILURE */
	{ 0x12, CHECK, PRH_SK_DATA_PROTECT, 0x27, 0x07 }, /* ALLOC_FAILURE */
	{ 0x13, CHECK, PRH_SK_MEDIUM_ERROR, 0x11, 0x00 }, /* MEDIUM_ERROR */
	{ 0x14, CHECK, ABRT, 0x00, 0x06 }, /* TRANSPORT_MARGINAL */
	{ 0x15, CHECK, ABRT, 0x00, 0x06 },
	{ 0x16, CHECK, ABRT, 0x00, 0x06 },
	{ 0x17, CHECK, ABRT, 0x00, 0x06 },
	{ 0x18, CHECK, ABRT, 0x00, 0x06 },
	{ 0x19, CHECK, ABRT, 0x00, 0x06 },
	{ 0x1a, CHECK, ABRT, 0x00, 0x06 },
	{ 0x1b, CHECK, ABRT, 0x00, 0x06 },
	{ 0x1c, CHECK, ABRT, 0x00, 0x06 },
	{ 0x1d, CHECK, ABRT, 0x00, 0x06 },
	{ 0x1e, CHECK, ABRT, 0x00, 0x06 },
	{ 0x1f, CHECK, ABRT, 0x00, 0x06 },
	{ 0x20, CHECK, ABRT, 0x00, 0x06 },
	{ 0xff, CHECK, ABRT, 0x00, 0x06 },
	{ 0x100, CHECK, ABRT, 0x00, 0x06 },
	{ 0xffffffff, CHECK, ABRT, 0x00, 0x06 },
};

Test(scsi_result, host_status_table)
{
	uint8_t ksense[PRH_SENSE_LEN], want[PRH_SENSE_LEN];
	struct scsi_result r;
	size_t i;

	kernel_sense(ksense);
	for (i = 0; i < sizeof(host_cases) / sizeof(host_cases[0]); i++) {
		const struct host_case *c = &host_cases[i];

		/* Device said GOOD with data: a host error must override it. */
		r.status = 0xaa;
		r.size = 0xaaaa;
		memcpy(r.sense, ksense, PRH_SENSE_LEN);
		scsi_result_from_sgio(&r, c->host, 0, PRH_STATUS_GOOD, 1,
		    PRH_DATA_MAX, PRH_DATA_MAX - 16, 1024);
		if (c->key == KEPT)
			memcpy(want, ksense, PRH_SENSE_LEN);
		else
			th_sense_fixed(want, c->key, c->asc, c->ascq);
		cr_expect_eq(r.status, c->status,
		    "host %#x: status %#x, "
		    "expected %#x",
		    c->host, r.status, c->status);
		cr_expect_eq(r.size, c->status == 0 ? 16 : 0,
		    "host %#x: size %u", c->host, r.size);
		cr_expect_eq(memcmp(r.sense, want, PRH_SENSE_LEN), 0,
		    "host %#x: sense %s", c->host, hex(r.sense, 18));
	}
}

Test(scsi_result, host_status_beats_driver_and_device)
{
	struct scsi_result r;
	uint8_t want[PRH_SENSE_LEN];

	memset(&r, 0, sizeof(r));
	scsi_result_from_sgio(&r, 0x03, 0x06, RESCONF, 1, PRH_DATA_MAX, 0,
	    8192);
	th_sense_fixed(want, ABRT, 0x2e, 0x02);
	cr_expect_eq(r.status, CHECK);
	cr_expect_eq(r.size, 0);
	cr_expect_eq(memcmp(r.sense, want, PRH_SENSE_LEN), 0);
}

/* One driver_status row. */
struct driver_case {
	unsigned driver;
	unsigned status; /* device status byte */
	uint8_t expect;	 /* expected SCSI status */
};

static const struct driver_case driver_cases[] = {
	{ 0x06, PRH_STATUS_GOOD, BUSY }, /* DRIVER_TIMEOUT */
	{ 0x02, PRH_STATUS_GOOD, BUSY }, /* bit 1 */
	{ 0x04, PRH_STATUS_GOOD, BUSY }, /* bit 2 */
	{ 0x0e, PRH_STATUS_GOOD, BUSY },
	{ 0x16, CHECK, BUSY },
	{ 0x08, PRH_STATUS_GOOD, PRH_STATUS_GOOD }, /* DRIVER_SENSE */
	{ 0x08, CHECK, CHECK },
	{ 0x01, RESCONF, RESCONF },
	{ 0x10, 0x22, 0x22 },
	{ 0x00, 0x30, 0x30 },
};

Test(scsi_result, driver_status_bit_test)
{
	uint8_t ksense[PRH_SENSE_LEN];
	struct scsi_result r;
	size_t i;

	kernel_sense(ksense);
	for (i = 0; i < sizeof(driver_cases) / sizeof(driver_cases[0]); i++) {
		const struct driver_case *c = &driver_cases[i];

		memcpy(r.sense, ksense, PRH_SENSE_LEN);
		r.size = 0xdead;
		scsi_result_from_sgio(&r, 0, c->driver, c->status, 1,
		    PRH_DATA_MAX, PRH_DATA_MAX - 40, 100);
		cr_expect_eq(r.status, c->expect,
		    "driver %#x status %#x: got "
		    "%#x",
		    c->driver, c->status, r.status);
		cr_expect_eq(r.size, c->expect == PRH_STATUS_GOOD ? 40 : 0,
		    "driver %#x: size %u", c->driver, r.size);
		cr_expect_eq(memcmp(r.sense, ksense, PRH_SENSE_LEN), 0,
		    "driver %#x: kernel sense changed", c->driver);
	}
}

Test(scsi_result, raw_device_status_keeps_sense)
{
	static const unsigned raw[] = { 0x02, 0x08, 0x18, 0x22, 0x28, 0x30,
		0x40 };
	uint8_t ksense[PRH_SENSE_LEN];
	struct scsi_result r;
	size_t i;
	int is_in;

	kernel_sense(ksense);
	for (is_in = 0; is_in <= 1; is_in++) {
		for (i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
			memcpy(r.sense, ksense, PRH_SENSE_LEN);
			r.size = 77;
			scsi_result_from_sgio(&r, 0, 0, raw[i], is_in,
			    is_in ? PRH_DATA_MAX : 24, 0, is_in ? 8192 : 24);
			cr_expect_eq(r.status, raw[i], "raw %#x", raw[i]);
			cr_expect_eq(r.size, 0, "raw %#x: size %u", raw[i],
			    r.size);
			cr_expect_eq(memcmp(r.sense, ksense, PRH_SENSE_LEN), 0,
			    "raw %#x: sense changed", raw[i]);
		}
	}
}

/* One size case for a GOOD completion. */
struct size_case {
	int is_in;
	uint32_t dxfer_len;
	int32_t resid;
	uint32_t alloc_len;
	uint32_t size;
};

static const struct size_case size_cases[] = {
	/* PR IN: min(dxfer_len - resid, alloc_len) */
	{ 1, 8192, 8192 - 8, 1024, 8 },
	{ 1, 8192, 8192 - 1024, 1024, 1024 },
	{ 1, 8192, 8192 - 2000, 1024, 1024 }, /* capped by alloc_len */
	{ 1, 8192, 0, 8192, 8192 },
	{ 1, 8192, 0, 8191, 8191 },
	{ 1, 8192, 0, 0, 0 },	    /* allocation length 0 */
	{ 1, 8192, 8192, 1024, 0 }, /* nothing transferred */
	{ 1, 8192, 8193, 1024, 0 }, /* resid > dxfer_len */
	{ 1, 8192, 0x7fffffff, 8192, 0 },
	{ 1, 8192, -1, 1024, 1024 }, /* negative resid */
	{ 1, 8192, -1, 8192, 8192 },
	{ 1, 8192, INT32_MIN, 8192, 8192 },
	{ 1, 8192, INT32_MIN, 16, 16 },
	{ 1, 16, 0, 8192, 16 }, /* never above dxfer_len */
	{ 1, 16, -100, 8192, 16 },
	{ 1, 16, 17, 8192, 0 },
	{ 1, 0, 0, 8192, 0 },
	{ 1, 0, -5, 8192, 0 },
	{ 1, 100000, 0, 100000, PRH_DATA_MAX }, /* never above the buffer */
	/* PR OUT: always 0 */
	{ 0, 24, 0, 24, 0 },
	{ 0, 8192, 0, 8192, 0 },
	{ 0, 8192, -1, 8192, 0 },
	{ 0, 24, 100, 24, 0 },
	{ 0, 0, 0, 0, 0 },
};

Test(scsi_result, good_size_rules)
{
	struct scsi_result r;
	size_t i;

	for (i = 0; i < sizeof(size_cases) / sizeof(size_cases[0]); i++) {
		const struct size_case *c = &size_cases[i];

		r.size = 0xdeadbeef;
		memset(r.sense, 0, sizeof(r.sense));
		scsi_result_from_sgio(&r, 0, 0, PRH_STATUS_GOOD, c->is_in,
		    c->dxfer_len, c->resid, c->alloc_len);
		cr_expect_eq(r.status, PRH_STATUS_GOOD);
		cr_expect_eq(r.size, c->size,
		    "case %zu (%s dxfer %u resid %d "
		    "alloc %u): size %u, expected %u",
		    i, c->is_in ? "in" : "out", c->dxfer_len, c->resid,
		    c->alloc_len, r.size, c->size);
	}
}

Test(scsi_result, size_invariant_sweep)
{
	static const int32_t resids[] = { INT32_MIN, -8192, -1, 0, 1, 7, 4096,
		8191, 8192, 8193, 65536, INT32_MAX };
	static const unsigned statuses[] = { 0x00, 0x02, 0x08, 0x18, 0x22 };
	struct scsi_result r;
	uint32_t alloc;
	size_t i, j;
	unsigned host, drv;
	int is_in;

	for (is_in = 0; is_in <= 1; is_in++)
		for (alloc = 0; alloc <= PRH_DATA_MAX; alloc += 97)
			for (i = 0; i < sizeof(resids) / sizeof(resids[0]); i++)
				for (j = 0;
				     j < sizeof(statuses) / sizeof(statuses[0]);
				     j++)
					for (host = 0; host <= 0x14;
					     host += 0x0b)
						for (drv = 0; drv <= 0x08;
						     drv += 0x04) {
							uint32_t dxfer = is_in
							    ? PRH_DATA_MAX
							    : alloc;

							memset(&r, 0,
							    sizeof(r));
							scsi_result_from_sgio(
							    &r, host, drv,
							    statuses[j], is_in,
							    dxfer, resids[i],
							    alloc);
							if (!is_in ||
							    r.status !=
								PRH_STATUS_GOOD)
								cr_assert_eq(
								    r.size, 0,
								    "in %d status %#x size %u",
								    is_in,
								    r.status,
								    r.size);
							else
								cr_assert_leq(
								    r.size,
								    alloc,
								    "alloc %u resid %d "
								    "size %u",
								    alloc,
								    resids[i],
								    r.size);
						}
}

Test(scsi_result, check_builds_fixed_sense)
{
	uint8_t want[PRH_SENSE_LEN];
	struct scsi_result r;

	memset(&r, 0xee, sizeof(r));
	scsi_result_check(&r, PRH_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	th_sense_fixed(want, 0x05, 0x20, 0x00);
	cr_expect_eq(r.status, CHECK);
	cr_expect_eq(r.size, 0);
	cr_expect_eq(memcmp(r.sense, want, PRH_SENSE_LEN), 0, "sense %s",
	    hex(r.sense, 18));

	memset(&r, 0xee, sizeof(r));
	scsi_result_check(&r, PRH_SK_UNIT_ATTENTION, 0x2a, 0x05);
	th_sense_fixed(want, 0x06, 0x2a, 0x05);
	cr_expect_eq(memcmp(r.sense, want, PRH_SENSE_LEN), 0, "sense %s",
	    hex(r.sense, 18));
}

Test(scsi_result, status_has_zero_sense)
{
	static const uint8_t zero[PRH_SENSE_LEN];
	struct scsi_result r;

	memset(&r, 0xee, sizeof(r));
	scsi_result_status(&r, RESCONF);
	cr_expect_eq(r.status, RESCONF);
	cr_expect_eq(r.size, 0);
	cr_expect_eq(memcmp(r.sense, zero, PRH_SENSE_LEN), 0);
}

/* The device's own sense in r, through the SG_IO mapping. */
static void
device_answer(struct scsi_result *r, unsigned host, unsigned driver,
    unsigned status, const uint8_t *sense, size_t len)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->sense, sense, len);
	scsi_result_from_sgio(r, host, driver, status, 1, 8192, 8192, 8192);
}

Test(scsi_result, unit_attention_is_the_devices_own)
{
	uint8_t s[PRH_SENSE_LEN], asc = 0, ascq = 0;
	struct scsi_result r;

	kernel_sense(s); /* descriptor format, 06/2A/05 */
	device_answer(&r, 0, 0x08, CHECK, s, sizeof(s));
	cr_expect(scsi_result_unit_attention(&r, &asc, &ascq));
	cr_expect_eq(asc, 0x2a);
	cr_expect_eq(ascq, 0x05);
	th_sense_fixed(s, PRH_SK_UNIT_ATTENTION, 0x29, 0x07);
	device_answer(&r, 0, 0, CHECK, s, 18);
	cr_expect(scsi_result_unit_attention(&r, &asc, &ascq));
	cr_expect_eq(asc, 0x29);
	cr_expect_eq(ascq, 0x07);
	s[0] = 0xf0; /* VALID bit set: still current, fixed format */
	device_answer(&r, 0, 0, CHECK, s, 18);
	cr_expect(scsi_result_unit_attention(&r, &asc, &ascq));
	/* deferred errors, another key, another status: no */
	s[0] = 0x71;
	device_answer(&r, 0, 0, CHECK, s, 18);
	cr_expect_not(scsi_result_unit_attention(&r, &asc, &ascq));
	th_sense_fixed(s, PRH_SK_NOT_READY, 0x04, 0x03);
	device_answer(&r, 0, 0, CHECK, s, 18);
	cr_expect_not(scsi_result_unit_attention(&r, &asc, &ascq));
	th_sense_fixed(s, PRH_SK_UNIT_ATTENTION, 0x2a, 0x05);
	device_answer(&r, 0, 0, BUSY, s, 18);
	cr_expect_not(scsi_result_unit_attention(&r, &asc, &ascq));
	/* the unit attention the mapping makes of DID_RESET: no */
	device_answer(&r, 0x08, 0, CHECK, s, 18);
	cr_expect_eq(r.status, CHECK);
	cr_expect_eq(r.sense[2], PRH_SK_UNIT_ATTENTION);
	cr_expect_not(scsi_result_unit_attention(&r, &asc, &ascq));
	/* a driver timeout with that sense is BUSY: no */
	device_answer(&r, 0, 0x06, CHECK, s, 18);
	cr_expect_not(scsi_result_unit_attention(&r, &asc, &ascq));
	/* nor what the helper builds itself */
	scsi_result_from_errno(&r, EIO);
	cr_expect_not(scsi_result_unit_attention(&r, &asc, &ascq));
}
