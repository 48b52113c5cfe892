/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for sgio: the sg_io_hdr it builds, EINTR handling and the
 * mapping of its outcome, with SG_IO answered either by the real kernel
 * (regular file, pipe, bad fd) or by the fake below.  The fake shares
 * ioctl() and the sg_io_hdr answer with the other SG_IO fakes
 * (src/lunsim/sgfake.h); unlike lunsim and the shim it runs in this
 * process, so that a test scripts raw header fields (a resid no device
 * would send, EINTR) and reads back exactly what sgio.c sent.  The resend
 * of a command answered with UNIT ATTENTION (--pr-ua-retries) is tested
 * here too: the fake answers a scripted number of calls with a unit
 * attention before its scripted answer. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <scsi/sg.h>

#include <criterion/criterion.h>

#include "prh/sgio.h"
#include "sgfake.h"

/*
 * The fake SG_IO device.  Off by default: ioctl() then goes straight to
 * the kernel.  When on, SG_IO records what it was given and answers with
 * the scripted outcome.  Each Criterion test runs in its own process, so
 * this state starts fresh for every test.
 */
static struct {
	int on;
	int eintr; /* fail this many calls: EINTR */
	int err;   /* then fail with this errno */
	int calls;
	struct sg_io_hdr hdr; /* as received on the last call */
	uint8_t cdb[PRH_CDB_LEN];
	uint8_t sense_in[PRH_SENSE_LEN];
	uint8_t data_in[PRH_DATA_MAX];
	/* scripted answer */
	unsigned host, driver, status;
	int resid;
	const uint8_t *sense;
	size_t sense_len;
	const uint8_t *data;
	size_t data_len;
	/* the first ua_calls calls answer CHECK CONDITION with ua_sense */
	int ua_calls;
	const uint8_t *ua_sense;
	size_t ua_sense_len;
	long delay_ms;	       /* each call takes this long, as a slow device */
	unsigned timeouts[64]; /* hdr.timeout of each call */
} fake;

/* The unit attentions the last sg_exec() consumed. */
static struct sgio_ua last_ua;

/* Wait ms milliseconds, as a device taking its time. */
static void
fake_delay(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Answer SG_IO as scripted in fake: 0 or -errno. */
static int
fake_sg_io(struct sg_io_hdr *h)
{
	struct sgfake_answer a = {
		.status = fake.status,
		.host = fake.host,
		.driver = fake.driver,
		.sense = fake.sense,
		.sense_len = fake.sense_len,
		.resid = fake.resid,
	};

	if (fake.calls < 64)
		fake.timeouts[fake.calls] = h->timeout;
	fake.calls++;
	fake.hdr = *h;
	sgfake_cdb(h, fake.cdb);
	memcpy(fake.sense_in, h->sbp,
	    h->mx_sb_len < PRH_SENSE_LEN ? h->mx_sb_len : PRH_SENSE_LEN);
	if (h->dxferp != NULL && h->dxfer_len > 0)
		memcpy(fake.data_in, h->dxferp,
		    h->dxfer_len < PRH_DATA_MAX ? h->dxfer_len : PRH_DATA_MAX);
	if (fake.eintr > 0) {
		fake.eintr--;
		return -EINTR;
	}
	if (fake.err != 0)
		return -fake.err;
	if (fake.delay_ms > 0)
		fake_delay(fake.delay_ms);
	if (fake.ua_calls > 0) {
		struct sgfake_answer ua = {
			.status = PRH_STATUS_CHECK_CONDITION,
			.sense = fake.ua_sense,
			.sense_len = fake.ua_sense_len,
			.driver_sense = 1,
		};

		fake.ua_calls--;
		sgfake_reply(h, &ua);
		return 0;
	}
	sgfake_reply(h, &a);
	if (fake.data_len > 0)
		memcpy(h->dxferp, fake.data, fake.data_len);
	return 0;
}

/* The ioctl as sgio.c sees it (sgfake.c): faked SG_IO, or the kernel's. */
int
sgfake_ioctl(int fd, unsigned long request, void *arg)
{
	(void)fd;
	return fake.on && request == SG_IO ? fake_sg_io(arg) : SGFAKE_PASS;
}

/* sgio_execute() with the SG_IO timeout timeout_ms and the default
 * resends after UNIT ATTENTION; last_ua gets what they consumed. */
static void
sg_exec(int fd, const uint8_t *cdb, uint8_t *data, uint32_t len,
    unsigned timeout_ms, struct scsi_result *r)
{
	struct sgio_opts o = { timeout_ms, SGIO_UA_RETRIES_DEFAULT };

	sgio_execute(fd, cdb, data, len, &o, r, &last_ua);
}

static const uint8_t cdb_in[PRH_CDB_LEN] = {
	0x5e,
	0x00,
	0x11,
	0x22,
	0x33,
	0x44,
	0x55,
	0x04,
	0x00,
	0x66,
	0x77,
	0x88,
	0x99,
	0xaa,
	0xbb,
	0xcc,
};
static const uint8_t cdb_out[PRH_CDB_LEN] = {
	0x5f,
	0x06,
	0x01,
	0,
	0,
	0x00,
	0x01,
	0x00,
	0x18,
	0xfe,
};

/* The ABORTED COMMAND 00/06 answer to a non-SCSI or bad fd. */
static void
assert_aborted_0006(const struct scsi_result *r)
{
	static const uint8_t head[18] = { 0x70, 0x00, 0x0b, 0x00, 0x00, 0x00,
		0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00,
		0x00, 0x00 };
	size_t i;

	cr_assert_eq(r->status, PRH_STATUS_CHECK_CONDITION);
	cr_assert_eq(r->size, 0);
	cr_assert_eq(memcmp(r->sense, head, sizeof(head)), 0);
	for (i = sizeof(head); i < PRH_SENSE_LEN; i++)
		cr_assert_eq(r->sense[i], 0, "sense byte %zu", i);
}

/* Run PR IN and PR OUT on fd and expect ABORTED COMMAND 00/06 for both. */
static void
expect_aborted_both(int fd)
{
	static uint8_t data[PRH_DATA_MAX];
	struct scsi_result r;

	memset(&r, 0xee, sizeof(r));
	sg_exec(fd, cdb_in, data, 1024, 1000, &r);
	assert_aborted_0006(&r);
	memset(&r, 0xee, sizeof(r));
	memset(data, 0, 24);
	sg_exec(fd, cdb_out, data, 24, 1000, &r);
	assert_aborted_0006(&r);
}

/* sg_exec() of cdb_in (PR IN, 1024 bytes) on the fake device. */
static void
run_in(struct scsi_result *r)
{
	static uint8_t data[PRH_DATA_MAX];

	sg_exec(7, cdb_in, data, 1024, 1000, r);
}

/* PR IN (1024 bytes, 30 s) on the fake device answering the len bytes of
 * reply, into data and r full of stale 0xee bytes before. */
static void
run_in_reply(const uint8_t *reply, size_t len, uint8_t *data,
    struct scsi_result *r)
{
	fake.resid = PRH_DATA_MAX - (int)len;
	fake.data = reply;
	fake.data_len = len;
	memset(data, 0xee, PRH_DATA_MAX);
	memset(r, 0xee, sizeof(*r));
	sg_exec(7, cdb_in, data, 1024, 30000, r);
}

Test(sgio, regular_file_enotty)
{
	char path[] = "/tmp/prh-test-sgio-XXXXXX";
	int fd;

	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(write(fd, "x", 1), 1);
	expect_aborted_both(fd);
	close(fd);
}

Test(sgio, pipe_enotty)
{
	int p[2];

	cr_assert_eq(pipe(p), 0);
	expect_aborted_both(p[0]);
	expect_aborted_both(p[1]);
	close(p[0]);
	close(p[1]);
}

Test(sgio, closed_fd_ebadf)
{
	int fd = open("/dev/null", O_RDONLY);

	cr_assert_geq(fd, 0);
	close(fd);
	expect_aborted_both(fd);
	expect_aborted_both(-1);
}

Test(sgio, pr_in_header)
{
	static uint8_t data[PRH_DATA_MAX];
	static const uint8_t zero[PRH_SENSE_LEN];
	uint8_t reply[40];
	struct scsi_result r;
	size_t i;

	for (i = 0; i < sizeof(reply); i++)
		reply[i] = (uint8_t)(i + 1);
	fake.on = 1;
	run_in_reply(reply, sizeof(reply), data, &r);

	cr_assert_eq(fake.calls, 1);
	cr_expect_eq(fake.hdr.interface_id, 'S');
	cr_expect_eq(fake.hdr.cmd_len, 16);
	cr_expect_eq(memcmp(fake.cdb, cdb_in, PRH_CDB_LEN), 0);
	cr_expect_eq(fake.hdr.dxfer_direction, SG_DXFER_FROM_DEV);
	cr_expect_eq(fake.hdr.dxfer_len, PRH_DATA_MAX);
	cr_expect_eq(fake.hdr.dxferp, data);
	cr_expect_eq(fake.hdr.mx_sb_len, PRH_SENSE_LEN);
	cr_expect_eq(fake.hdr.sbp, r.sense);
	cr_expect_eq(memcmp(fake.sense_in, zero, PRH_SENSE_LEN), 0,
	    "sense buffer not zeroed before SG_IO");
	for (i = 0; i < 1024; i++)
		cr_assert_eq(fake.data_in[i], 0,
		    "PR IN byte %zu not zeroed "
		    "before SG_IO",
		    i);
	cr_expect_eq(fake.hdr.timeout, 30000);
	cr_expect_eq(fake.hdr.flags, 0);
	cr_expect_eq(fake.hdr.iovec_count, 0);

	cr_expect_eq(r.status, PRH_STATUS_GOOD);
	cr_expect_eq(r.size, sizeof(reply));
	cr_expect_eq(memcmp(data, reply, sizeof(reply)), 0);
	cr_expect_eq(memcmp(r.sense, zero, PRH_SENSE_LEN), 0);
}

Test(sgio, pr_in_size_capped_by_alloc_len)
{
	static uint8_t data[PRH_DATA_MAX];
	struct scsi_result r;

	fake.on = 1;
	fake.resid = 0; /* the device claims 8192 bytes */
	sg_exec(7, cdb_in, data, 8, 1000, &r);
	cr_expect_eq(r.status, PRH_STATUS_GOOD);
	cr_expect_eq(r.size, 8);
	cr_expect_eq(fake.hdr.dxfer_len, PRH_DATA_MAX,
	    "dxfer_len is always "
	    "the full buffer");
}

/* Fill a parameter list with base, base + 1, ... */
static void
fill_param(uint8_t *data, size_t len, uint8_t base)
{
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(base + i);
}

Test(sgio, pr_out_header)
{
	uint8_t data[24];
	struct scsi_result r;

	fill_param(data, sizeof(data), 0xa0);
	fake.on = 1;
	fake.resid = 0;
	memset(&r, 0xee, sizeof(r));
	sg_exec(7, cdb_out, data, sizeof(data), 1, &r);
	cr_assert_eq(fake.calls, 1);
	cr_expect_eq(fake.hdr.interface_id, 'S');
	cr_expect_eq(fake.hdr.cmd_len, 16);
	cr_expect_eq(memcmp(fake.cdb, cdb_out, PRH_CDB_LEN), 0);
	cr_expect_eq(fake.hdr.dxfer_direction, SG_DXFER_TO_DEV);
	cr_expect_eq(fake.hdr.dxfer_len, sizeof(data));
	cr_expect_eq(fake.hdr.dxferp, data);
	cr_expect_eq(fake.data_in[0], 0xa0, "parameter list changed");
	cr_expect_eq(fake.data_in[23], 0xa0 + 23);
	cr_expect_eq(fake.hdr.timeout, 1);
	cr_expect_eq(r.status, PRH_STATUS_GOOD);
	cr_expect_eq(r.size, 0);
}

Test(sgio, pr_out_len_zero)
{
	uint8_t data[1] = { 0x42 };
	struct scsi_result r;

	fake.on = 1;
	sg_exec(7, cdb_out, data, 0, 1000, &r);
	cr_expect_eq(fake.hdr.dxfer_direction, SG_DXFER_TO_DEV);
	cr_expect_eq(fake.hdr.dxfer_len, 0);
	cr_expect_eq(r.status, PRH_STATUS_GOOD);
	cr_expect_eq(r.size, 0);
	cr_expect_eq(data[0], 0x42);
}

Test(sgio, eintr_is_retried)
{
	struct scsi_result r;

	fake.on = 1;
	fake.eintr = 3;
	fake.resid = PRH_DATA_MAX - 8;
	run_in(&r);
	cr_expect_eq(fake.calls, 4);
	cr_expect_eq(r.status, PRH_STATUS_GOOD);
	cr_expect_eq(r.size, 8);
}

/* One scripted errno and the status it must produce. */
struct err_case {
	int err;
	uint8_t status;
	uint8_t key, asc;
};

static const struct err_case err_cases[] = {
	{ EDOM, PRH_STATUS_TASK_SET_FULL, 0, 0 },
	{ EBADE, PRH_STATUS_RESERVATION_CONFLICT, 0, 0 },
	{ ENODEV, PRH_STATUS_CHECK_CONDITION, PRH_SK_HARDWARE_ERROR, 0x44 },
	{ EINVAL, PRH_STATUS_CHECK_CONDITION, PRH_SK_ILLEGAL_REQUEST, 0x24 },
	{ EIO, PRH_STATUS_CHECK_CONDITION, PRH_SK_ABORTED_COMMAND, 0x00 },
};

Test(sgio, ioctl_errno_mapped)
{
	struct scsi_result r;
	size_t i;

	fake.on = 1;
	for (i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		fake.err = err_cases[i].err;
		memset(&r, 0xee, sizeof(r));
		run_in(&r);
		cr_expect_eq(r.status, err_cases[i].status, "errno %d",
		    err_cases[i].err);
		cr_expect_eq(r.size, 0);
		cr_expect_eq(r.sense[2], err_cases[i].key, "errno %d",
		    err_cases[i].err);
		cr_expect_eq(r.sense[12], err_cases[i].asc);
		cr_expect_eq(r.sense[95], 0);
		/* No SG_IO outcome: the trace-only fields are 0. */
		cr_expect_eq(r.host_status, 0);
		cr_expect_eq(r.driver_status, 0);
	}
}

Test(sgio, device_sense_copied_verbatim)
{
	static uint8_t data[PRH_DATA_MAX];
	static const uint8_t ksense[20] = {
		0x72,
		0x06,
		0x2a,
		0x05,
		0,
		0,
		0,
		0x0c,
		0x00,
		0x0a,
		0x80,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0x12,
		0x34,
	};
	struct scsi_result r;
	size_t i;

	fake.on = 1;
	fake.status = PRH_STATUS_CHECK_CONDITION;
	fake.driver = 0x08; /* DRIVER_SENSE */
	fake.sense = ksense;
	fake.sense_len = sizeof(ksense);
	fake.resid = 0;
	memset(&r, 0xee, sizeof(r));
	sg_exec(7, cdb_out, data, 24, 1000, &r);
	cr_expect_eq(r.status, PRH_STATUS_CHECK_CONDITION);
	cr_expect_eq(r.size, 0);
	cr_expect_eq(memcmp(r.sense, ksense, sizeof(ksense)), 0);
	for (i = sizeof(ksense); i < PRH_SENSE_LEN; i++)
		cr_expect_eq(r.sense[i], 0, "stale sense byte %zu", i);
	/* A unit attention: sent again 5 times, then passed on as it is. */
	cr_expect_eq(fake.calls, 1 + SGIO_UA_RETRIES_DEFAULT);
	cr_expect_eq(last_ua.n, SGIO_UA_RETRIES_DEFAULT);
}

Test(sgio, host_status_busy_keeps_sense)
{
	static const uint8_t ksense[4] = { 0x70, 0x00, 0x06, 0x00 };
	struct scsi_result r;

	fake.on = 1;
	fake.host = 0x0d; /* DID_REQUEUE */
	fake.sense = ksense;
	fake.sense_len = sizeof(ksense);
	run_in(&r);
	cr_expect_eq(r.status, PRH_STATUS_BUSY);
	cr_expect_eq(r.size, 0);
	cr_expect_eq(memcmp(r.sense, ksense, sizeof(ksense)), 0);
	cr_expect_eq(r.sense[4], 0);
}

Test(sgio, host_status_error_is_aborted)
{
	struct scsi_result r;

	fake.on = 1;
	fake.host = 0x07; /* DID_ERROR: not GOOD */
	fake.status = PRH_STATUS_GOOD;
	fake.resid = 0;
	run_in(&r);
	assert_aborted_0006(&r);
}

Test(sgio, host_and_driver_status_reported)
{
	static uint8_t data[PRH_DATA_MAX];
	struct scsi_result r;

	fake.on = 1;
	fake.host = 0x07;
	fake.driver = 0x08;
	fake.status = PRH_STATUS_CHECK_CONDITION;
	memset(&r, 0xee, sizeof(r));
	run_in(&r);
	cr_expect_eq(r.host_status, 0x07);
	cr_expect_eq(r.driver_status, 0x08);
	fake.host = 0;
	fake.driver = 0x06;
	memset(&r, 0xee, sizeof(r));
	sg_exec(7, cdb_out, data, 24, 1000, &r);
	cr_expect_eq(r.status, PRH_STATUS_BUSY);
	cr_expect_eq(r.host_status, 0);
	cr_expect_eq(r.driver_status, 0x06);
}

Test(sgio, driver_timeout_is_busy)
{
	struct scsi_result r;

	fake.on = 1;
	fake.driver = 0x06;
	fake.resid = 0;
	run_in(&r);
	cr_expect_eq(r.status, PRH_STATUS_BUSY);
	cr_expect_eq(r.size, 0);
}

/* The device writes 40 bytes of pattern; the scripted resid may lie. */
static const uint8_t dev40[40] = {
	0x00,
	0x00,
	0x00,
	0x07,
	0x00,
	0x00,
	0x00,
	0x20,
	0xa1,
	0xa2,
	0xa3,
	0xa4,
	0xa5,
	0xa6,
	0xa7,
	0xa8,
	0xb1,
	0xb2,
	0xb3,
	0xb4,
	0xb5,
	0xb6,
	0xb7,
	0xb8,
	0xc1,
	0xc2,
	0xc3,
	0xc4,
	0xc5,
	0xc6,
	0xc7,
	0xc8,
	0xd1,
	0xd2,
	0xd3,
	0xd4,
	0xd5,
	0xd6,
	0xd7,
	0xd8,
};

/* Run one PR IN over a buffer full of stale 0xee bytes, with the device
 * writing dev40 and reporting resid; every byte the reply would carry must
 * be the device's or zero.  Returns the reply size. */
static uint32_t
run_stale(uint8_t *data, uint32_t alloc_len, int resid)
{
	struct scsi_result r;
	uint32_t i;

	memset(data, 0xee, PRH_DATA_MAX);
	memset(&fake, 0, sizeof(fake));
	fake.on = 1;
	fake.resid = resid;
	fake.data = dev40;
	fake.data_len = sizeof(dev40);
	sg_exec(7, cdb_in, data, alloc_len, 1000, &r);
	cr_assert_eq(r.status, PRH_STATUS_GOOD);
	cr_assert_leq(r.size, PRH_DATA_MAX);
	cr_assert_leq(r.size, alloc_len);
	for (i = 0; i < r.size; i++) {
		uint8_t want = i < sizeof(dev40) ? dev40[i] : 0;

		cr_assert_eq(data[i], want,
		    "alloc_len %u resid %d: reply byte "
		    "%u is 0x%02x, want 0x%02x",
		    alloc_len, resid, i, data[i], want);
	}
	return r.size;
}

Test(sgio, pr_in_never_sends_stale_bytes)
{
	static const uint32_t lens[] = {
		0,
		1,
		8,
		39,
		40,
		41,
		1024,
		8191,
		8192,
		8193,
		65535,
	};
	static const int resids[] = {
		0,
		-5,
		1,
		PRH_DATA_MAX - 40,
		PRH_DATA_MAX - 41,
		PRH_DATA_MAX - 1,
		PRH_DATA_MAX,
		PRH_DATA_MAX + 1000,
	};
	uint8_t *data = malloc(PRH_DATA_MAX); /* exact size, for ASan */
	size_t i, j;

	cr_assert_not_null(data);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (j = 0; j < sizeof(resids) / sizeof(resids[0]); j++)
			(void)run_stale(data, lens[i], resids[j]);
	free(data);
}

Test(sgio, pr_in_lying_resid_gives_zeros_not_stale_data)
{
	uint8_t *data = malloc(PRH_DATA_MAX);
	uint32_t i;

	cr_assert_not_null(data);
	/* The device wrote 40 bytes but claims all 8192. */
	cr_assert_eq(run_stale(data, 1024, 0), 1024);
	for (i = sizeof(dev40); i < 1024; i++)
		cr_assert_eq(data[i], 0, "stale byte %u in the reply", i);
	/* Past the allocation length nothing is sent, nor cleared. */
	cr_expect_eq(data[1024], 0xee);
	cr_expect_eq(data[PRH_DATA_MAX - 1], 0xee);
	/* An allocation length above the buffer clears the whole buffer. */
	cr_assert_eq(run_stale(data, 65535, 0), PRH_DATA_MAX);
	cr_expect_eq(data[PRH_DATA_MAX - 1], 0);
	free(data);
}

Test(sgio, pr_out_leaves_parameter_list_alone)
{
	uint8_t data[PRH_DATA_MAX];
	struct scsi_result r;

	memset(data, 0x5a, sizeof(data));
	fake.on = 1;
	sg_exec(7, cdb_out, data, 24, 1000, &r);
	cr_expect_eq(fake.data_in[0], 0x5a);
	cr_expect_eq(fake.data_in[23], 0x5a);
	cr_expect_eq(data[24], 0x5a, "PR OUT touched the buffer past len");
	cr_expect_eq(data[PRH_DATA_MAX - 1], 0x5a);
}

/* --- resends after UNIT ATTENTION ---------------------------------------- */

/* UNIT ATTENTION 2A/05, registrations preempted: fixed and descriptor
 * format, current sense. */
static const uint8_t ua_fixed[18] = { 0x70, 0, 0x06, 0, 0, 0, 0, 0x0a, 0, 0, 0,
	0, 0x2a, 0x05, 0, 0, 0, 0 };
static const uint8_t ua_desc[8] = { 0x72, 0x06, 0x2a, 0x05, 0, 0, 0, 0 };

/* The device answers n calls with the unit attention sense, then its
 * scripted answer. */
static void
fake_ua_first(int n, const uint8_t *sense, size_t len)
{
	fake.on = 1;
	fake.ua_calls = n;
	fake.ua_sense = sense;
	fake.ua_sense_len = len;
}

/* sgio_execute() with its own resend count. */
static void
sg_exec_retries(const uint8_t *cdb, uint8_t *data, uint32_t len,
    unsigned retries, struct scsi_result *r)
{
	struct sgio_opts o = { 1000, retries };

	sgio_execute(7, cdb, data, len, &o, r, &last_ua);
}

Test(sgio, unit_attention_then_good_answers_good)
{
	static uint8_t data[PRH_DATA_MAX];
	static const uint8_t reply[8] = { 0, 0, 0, 9, 0, 0, 0, 0 };
	static const uint8_t zero[PRH_SENSE_LEN];
	struct scsi_result r;
	size_t i;

	fake_ua_first(1, ua_fixed, sizeof(ua_fixed));
	run_in_reply(reply, sizeof(reply), data, &r);
	cr_assert_eq(fake.calls, 2, "calls %d", fake.calls);
	cr_expect_eq(memcmp(fake.cdb, cdb_in, PRH_CDB_LEN), 0, "CDB changed");
	/* the resend starts from a clean buffer and a clean sense */
	for (i = 0; i < 1024; i++)
		cr_assert_eq(fake.data_in[i], 0, "byte %zu not cleared", i);
	cr_expect_eq(memcmp(fake.sense_in, zero, PRH_SENSE_LEN), 0);
	cr_expect_eq(r.status, PRH_STATUS_GOOD);
	cr_expect_eq(r.size, sizeof(reply));
	cr_expect_eq(memcmp(data, reply, sizeof(reply)), 0);
	cr_expect_eq(memcmp(r.sense, zero, PRH_SENSE_LEN), 0, "UA sense left");
	cr_expect_eq(last_ua.n, 1);
	cr_expect_eq(last_ua.code[0], 0x2a05);
}

Test(sgio, unit_attention_descriptor_format_pr_out_sent_again)
{
	uint8_t data[24];
	struct scsi_result r;

	fill_param(data, sizeof(data), 0x30);
	fake_ua_first(2, ua_desc, sizeof(ua_desc));
	sg_exec(7, cdb_out, data, sizeof(data), 1000, &r);
	cr_assert_eq(fake.calls, 3, "calls %d", fake.calls);
	cr_expect_eq(r.status, PRH_STATUS_GOOD);
	cr_expect_eq(fake.hdr.dxfer_direction, SG_DXFER_TO_DEV);
	cr_expect_eq(fake.hdr.dxfer_len, sizeof(data));
	cr_expect_eq(memcmp(fake.data_in, data, sizeof(data)), 0,
	    "the parameter list of the resend differs");
	cr_expect_eq(memcmp(fake.cdb, cdb_out, PRH_CDB_LEN), 0);
	cr_expect_eq(last_ua.n, 2);
	cr_expect_eq(last_ua.code[1], 0x2a05);
}

Test(sgio, unit_attention_forever_is_passed_on_after_the_bound)
{
	static uint8_t data[PRH_DATA_MAX];
	struct scsi_result r;

	fake_ua_first(1000, ua_fixed, sizeof(ua_fixed));
	sg_exec(7, cdb_in, data, 1024, 1000, &r);
	cr_expect_eq(fake.calls, 6, "calls %d", fake.calls);
	cr_expect_eq(r.status, PRH_STATUS_CHECK_CONDITION);
	cr_expect_eq(r.size, 0);
	cr_expect_eq(memcmp(r.sense, ua_fixed, sizeof(ua_fixed)), 0);
	cr_expect_eq(last_ua.n, 5);
	/* another bound */
	memset(&fake, 0, sizeof(fake));
	fake_ua_first(1000, ua_desc, sizeof(ua_desc));
	sg_exec_retries(cdb_in, data, 1024, 2, &r);
	cr_expect_eq(fake.calls, 3, "calls %d", fake.calls);
	cr_expect_eq(memcmp(r.sense, ua_desc, sizeof(ua_desc)), 0);
	cr_expect_eq(last_ua.n, 2);
}

Test(sgio, retries_zero_passes_the_unit_attention_on)
{
	static uint8_t data[PRH_DATA_MAX];
	struct scsi_result r;

	fake_ua_first(1, ua_fixed, sizeof(ua_fixed));
	sg_exec_retries(cdb_in, data, 1024, 0, &r);
	cr_expect_eq(fake.calls, 1);
	cr_expect_eq(r.status, PRH_STATUS_CHECK_CONDITION);
	cr_expect_eq(memcmp(r.sense, ua_fixed, sizeof(ua_fixed)), 0);
	cr_expect_eq(last_ua.n, 0);
}

/* One answer that is no unit attention of the device's own. */
struct no_ua_case {
	const char *what;
	unsigned status, host, driver;
	uint8_t sense[18];
};

static const struct no_ua_case no_ua_cases[] = {
	{ "ILLEGAL REQUEST 24/00", 2, 0, 8,
	    { 0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0 } },
	{ "NOT READY 04/03", 2, 0, 8,
	    { 0x70, 0, 0x02, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x04, 0x03 } },
	{ "ABORTED COMMAND, descriptor", 2, 0, 8, { 0x72, 0x0b, 0, 0 } },
	{ "deferred unit attention", 2, 0, 8,
	    { 0x71, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x2a, 0x05 } },
	{ "deferred unit attention, descriptor", 2, 0, 8,
	    { 0x73, 0x06, 0x2a, 0x05 } },
	{ "CHECK CONDITION without sense", 2, 0, 0, { 0 } },
	{ "unit attention sense, host DID_RESET", 2, 0x08, 8,
	    { 0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0 } },
	{ "unit attention sense, host DID_ERROR", 2, 0x07, 8,
	    { 0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x2a, 0x05 } },
	{ "unit attention sense, driver timeout", 2, 0, 0x06,
	    { 0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x2a, 0x05 } },
	{ "unit attention sense, status BUSY", 8, 0, 8,
	    { 0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x2a, 0x05 } },
	{ "RESERVATION CONFLICT", 0x18, 0, 0, { 0 } },
	{ "GOOD", 0, 0, 0, { 0 } },
};

Test(sgio, no_other_answer_is_sent_again)
{
	static uint8_t data[PRH_DATA_MAX];
	const struct no_ua_case *c;
	struct scsi_result r;
	size_t i;

	for (i = 0; i < sizeof(no_ua_cases) / sizeof(no_ua_cases[0]); i++) {
		c = &no_ua_cases[i];
		memset(&fake, 0, sizeof(fake));
		fake.on = 1;
		fake.status = c->status;
		fake.host = c->host;
		fake.driver = c->driver;
		fake.sense = c->sense;
		fake.sense_len = c->sense[0] != 0 ? sizeof(c->sense) : 0;
		sg_exec(7, cdb_in, data, 1024, 1000, &r);
		cr_expect_eq(fake.calls, 1, "%s: %d calls", c->what,
		    fake.calls);
		cr_expect_eq(last_ua.n, 0, "%s", c->what);
		sg_exec(7, cdb_out, data, 24, 1000, &r);
		cr_expect_eq(fake.calls, 2, "%s (PR OUT): %d calls", c->what,
		    fake.calls);
	}
	/* the ioctl failing (errno) is not a unit attention either */
	memset(&fake, 0, sizeof(fake));
	fake.on = 1;
	fake.err = EIO;
	sg_exec(7, cdb_in, data, 1024, 1000, &r);
	cr_expect_eq(fake.calls, 1);
}

Test(sgio, resend_gets_the_rest_of_the_timeout)
{
	static uint8_t data[PRH_DATA_MAX];
	struct scsi_result r;

	fake_ua_first(1, ua_fixed, sizeof(ua_fixed));
	fake.delay_ms = 20;
	sg_exec(7, cdb_in, data, 1024, 1000, &r);
	cr_assert_eq(fake.calls, 2);
	cr_expect_eq(r.status, PRH_STATUS_GOOD);
	cr_expect_eq(fake.timeouts[0], 1000);
	/* at least the 20 ms the first answer took are gone */
	cr_expect_leq(fake.timeouts[1], 980, "%u", fake.timeouts[1]);
	cr_expect_geq(fake.timeouts[1], 500, "%u", fake.timeouts[1]);
}

Test(sgio, no_resend_once_half_the_timeout_is_gone)
{
	static uint8_t data[PRH_DATA_MAX];
	struct scsi_result r;
	struct sgio_opts o = { 100, 5 };

	/* every answer takes 60 ms of a 100 ms budget: none is resent */
	fake_ua_first(1000, ua_fixed, sizeof(ua_fixed));
	fake.delay_ms = 60;
	sgio_execute(7, cdb_in, data, 1024, &o, &r, &last_ua);
	cr_expect_eq(fake.calls, 1, "calls %d", fake.calls);
	cr_expect_eq(r.status, PRH_STATUS_CHECK_CONDITION);
	cr_expect_eq(memcmp(r.sense, ua_fixed, sizeof(ua_fixed)), 0);
	cr_expect_eq(last_ua.n, 0);
}

Test(sgio, no_record_without_ua)
{
	static uint8_t data[PRH_DATA_MAX];
	struct sgio_opts o = { 1000, 5 };
	struct scsi_result r;

	/* ua may be NULL: the resends happen all the same */
	fake_ua_first(2, ua_fixed, sizeof(ua_fixed));
	sgio_execute(7, cdb_in, data, 1024, &o, &r, NULL);
	cr_expect_eq(fake.calls, 3);
	cr_expect_eq(r.status, PRH_STATUS_GOOD);
}
