/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Integration: what the helper sends to SG_IO and how it maps the answer,
 * with the device's answers scripted through the shim.  Cases run against
 * our helper and QEMU's; where the two deliberately differ (qemu-pr-helper(8),
 * DIFFERENCES FROM QEMU'S HELPER) each side has its own named test.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <scsi/sg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

ITEST_SUITES();

/* Start the helper of kind with args, open a connection and a device. */
static void
setup(enum th_kind kind, const char *const *args, int *sock, int *dev)
{
	itest_start(kind, args);
	*sock = itest_conn();
	*dev = itest_dev("lun", O_RDWR);
}

/* Set the shim's answer for the device "lun" to the given keys. */
static void
answer(const char *keys)
{
	int rc = th_shim_set(&itest_env, "%s %s\n", itest_dev_path("lun"),
	    keys);

	cr_assert_eq(rc, 0, "shim control: %s", strerror(-rc));
}

/* The last SG_IO the shim saw (asserts there was one). */
static struct th_sgio_call *
last_call(void)
{
	struct th_sgio_call *calls, *c;
	int n = th_shim_calls(&itest_env, &calls);

	cr_assert_gt(n, 0, "no SG_IO logged");
	c = malloc(sizeof(*c));
	cr_assert_not_null(c);
	*c = calls[n - 1];
	free(calls);
	return c;
}

/* PR IN on the device with the shim answering keys; reply in r. */
static void
pr_in_with(int sock, int dev, const char *keys, struct client_reply *r)
{
	answer(keys);
	itest_pr_in(sock, dev, 0, 8192, r);
}

ITEST_BOTH(good_with_data)
{
	struct client_reply r;
	uint8_t data[40];
	char hex[2 * sizeof(data) + 1], keys[256];
	int sock, dev, i;

	setup(kind, NULL, &sock, &dev);
	for (i = 0; i < (int)sizeof(data); i++)
		data[i] = (uint8_t)(0xa0 + i);
	th_hex(hex, data, sizeof(data));
	snprintf(keys, sizeof(keys), "status=0 data=%s", hex);
	answer(keys);
	/* size = 8192 - resid = 40, under the allocation length. */
	itest_pr_in(sock, dev, 0, 8192, &r);
	cr_assert_eq(r.status, PRH_STATUS_GOOD);
	cr_assert_eq(r.size, sizeof(data));
	cr_expect_eq(memcmp(r.data, data, sizeof(data)), 0, "payload");
	/* Capped by the allocation length. */
	itest_pr_in(sock, dev, 0, 16, &r);
	cr_assert_eq(r.status, PRH_STATUS_GOOD);
	cr_assert_eq(r.size, 16);
	cr_expect_eq(memcmp(r.data, data, 16), 0, "payload");
}

ITEST_BOTH(good_size_from_resid)
{
	struct client_reply r;
	int sock, dev;

	setup(kind, NULL, &sock, &dev);
	pr_in_with(sock, dev, "status=0 data=0102030405060708 resid=8000", &r);
	cr_assert_eq(r.status, PRH_STATUS_GOOD);
	cr_expect_eq(r.size, 192, "size %u", r.size);
	cr_expect_eq(memcmp(r.data, "\x01\x02\x03\x04\x05\x06\x07\x08", 8), 0);
	itest_pr_in(sock, dev, 0, 100, &r);
	cr_expect_eq(r.size, 100, "size %u", r.size);
}

ITEST_BOTH(reservation_conflict)
{
	struct client_reply r;
	int sock, dev;

	setup(kind, NULL, &sock, &dev);
	pr_in_with(sock, dev, "status=0x18 data=00000001", &r);
	itest_expect(&r, PRH_STATUS_RESERVATION_CONFLICT, -1, 0, 0);
}

ITEST_BOTH(device_sense_verbatim)
{
	struct client_reply r;
	uint8_t want[PRH_SENSE_LEN] = { 0x72, 0x06, 0x2a, 0x05, 0, 0, 0, 0 };
	uint8_t fixed[PRH_SENSE_LEN];
	int sock, dev;

	setup(kind, NULL, &sock, &dev);
	/* Descriptor format, UNIT ATTENTION 2A/05 (registrations preempted):
	 * the device answers it to every resend, so ours too passes it on
	 * in the end (unit_attention_sent_again, below). */
	pr_in_with(sock, dev, "status=2 driver=8 sense=72062a0500000000", &r);
	cr_assert_eq(r.status, PRH_STATUS_CHECK_CONDITION);
	cr_expect_eq(r.size, 0);
	cr_expect_eq(memcmp(r.sense, want, sizeof(want)), 0,
	    "descriptor sense");
	/* Fixed format, passed as the device wrote it (also 18+ bytes). */
	th_sense_fixed(fixed, PRH_SK_UNIT_ATTENTION, 0x2a, 0x05);
	fixed[20] = 0x5a;
	pr_in_with(sock, dev,
	    "status=2 sense=700006000000000a000000002a050000000000005a", &r);
	cr_assert_eq(r.status, PRH_STATUS_CHECK_CONDITION);
	cr_expect_eq(memcmp(r.sense, fixed, sizeof(fixed)), 0, "fixed sense");
}

/* One row of the mapping both helpers agree on. */
struct map_case {
	const char *keys; /* shim answer */
	uint32_t status;  /* expected status */
	int key;	  /* sense key, -1: all-zero sense */
	uint8_t asc, ascq;
};

static const struct map_case common_map[] = {
	{ "errno=33", PRH_STATUS_TASK_SET_FULL, -1, 0, 0 },	   /* EDOM */
	{ "errno=52", PRH_STATUS_RESERVATION_CONFLICT, -1, 0, 0 }, /* EBADE */
	{ "errno=22", PRH_STATUS_CHECK_CONDITION, 0x5, 0x24,
	    0x00 }, /* EINVAL */
	{ "errno=121", PRH_STATUS_CHECK_CONDITION, 0x4, 0x44,
	    0x00 }, /* EREMOTEIO */
	{ "errno=12", PRH_STATUS_CHECK_CONDITION, 0x4, 0x44,
	    0x00 }, /* ENOMEM */
	{ "errno=61", PRH_STATUS_CHECK_CONDITION, 0x3, 0x11,
	    0x00 }, /* ENODATA */
	{ "errno=123", PRH_STATUS_CHECK_CONDITION, 0x2, 0x3a,
	    0x00 }, /* ENOMEDIUM */
	{ "errno=28", PRH_STATUS_CHECK_CONDITION, 0x7, 0x27,
	    0x07 },						    /* ENOSPC */
	{ "errno=5", PRH_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06 }, /* EIO */
	{ "errno=1", PRH_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06 }, /* EPERM */
	{ "host=1", PRH_STATUS_CHECK_CONDITION, 0xb, 0x05, 0x00 },
	{ "host=2", PRH_STATUS_BUSY, -1, 0, 0 },
	{ "host=3", PRH_STATUS_CHECK_CONDITION, 0xb, 0x2e, 0x02 },
	{ "host=4", PRH_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00 },
	{ "host=5", PRH_STATUS_CHECK_CONDITION, 0xb, 0x2f, 0x02 },
	{ "host=8", PRH_STATUS_CHECK_CONDITION, 0x6, 0x29, 0x00 },
	{ "host=14", PRH_STATUS_CHECK_CONDITION, 0xb, 0x29, 0x07 },
	{ "host=16", PRH_STATUS_CHECK_CONDITION, 0x4, 0x44, 0x00 },
	{ "host=17", PRH_STATUS_RESERVATION_CONFLICT, -1, 0, 0 },
	{ "host=18", PRH_STATUS_CHECK_CONDITION, 0x7, 0x27, 0x07 },
	{ "host=19", PRH_STATUS_CHECK_CONDITION, 0x3, 0x11, 0x00 },
	{ "driver=6", PRH_STATUS_BUSY, -1, 0, 0 },
	{ "driver=2", PRH_STATUS_BUSY, -1, 0, 0 },
	{ "status=0x08", PRH_STATUS_BUSY, -1, 0, 0 },
	{ "status=0x28", PRH_STATUS_TASK_SET_FULL, -1, 0, 0 },
	{ "status=0x22", 0x22, -1, 0, 0 },
	{ "status=0x40", 0x40, -1, 0, 0 },
};

/* Run every row on one connection, changing the shim's answer each time. */
static void
run_map(enum th_kind kind, const struct map_case *m, size_t n)
{
	struct client_reply r;
	int sock, dev;
	size_t i;

	setup(kind, NULL, &sock, &dev);
	for (i = 0; i < n; i++) {
		cr_log_info("shim answer: %s", m[i].keys);
		pr_in_with(sock, dev, m[i].keys, &r);
		itest_expect(&r, m[i].status, m[i].key, m[i].asc, m[i].ascq);
	}
}

ITEST_BOTH(result_mapping)
{
	cr_assert_eq(EDOM, 33);
	cr_assert_eq(EBADE, 52);
	cr_assert_eq(ENOMEDIUM, 123);
	cr_assert_eq(EREMOTEIO, 121);
	run_map(kind, common_map, sizeof(common_map) / sizeof(common_map[0]));
}

ITEST_BOTH(sgio_header_pr_in)
{
	struct client_reply r;
	struct th_sgio_call *c;
	uint8_t cdb[PRH_CDB_LEN];
	int sock, dev, i;

	setup(kind, NULL, &sock, &dev);
	answer("status=0");
	client_cdb_pr_in(cdb, 0x01, 512);
	for (i = 9; i < PRH_CDB_LEN; i++)
		cdb[i] = (uint8_t)(0xc0 + i); /* reserved bytes travel too */
	cdb[2] = 0x5a;
	cr_assert_eq(client_command(sock, cdb, dev, NULL, 0, &r), 0);
	cr_assert_eq(r.status, PRH_STATUS_GOOD);
	c = last_call();
	cr_expect_eq(c->cmd_len, 16);
	cr_expect_eq(memcmp(c->cdb, cdb, PRH_CDB_LEN), 0, "CDB modified");
	cr_expect_eq(c->dir, SG_DXFER_FROM_DEV);
	cr_expect_eq(c->dxfer_len, 8192);
	cr_expect_geq(c->mx_sb_len, 18);
	cr_expect_str_eq(c->path, itest_dev_path("lun"));
	free(c);
}

/* The CDB and the list go to SG_IO as they came.  The list's byte 20
 * (0x8d) has SPEC_I_PT and ALL_TG_PT set, which our helper refuses by
 * default (qemu-pr-helper(8), GUEST PR POLICY): it runs with the policy
 * off here. */
ITEST_BOTH(sgio_header_pr_out)
{
	static const char *const off[] = { "--guest-pr-policy=off", NULL };
	struct client_reply r;
	struct th_sgio_call *c;
	uint8_t cdb[PRH_CDB_LEN], param[40];
	int sock, dev, i;

	setup(kind, kind == TH_OURS ? off : NULL, &sock, &dev);
	answer("status=0");
	client_cdb_pr_out(cdb, 0x06, 0x13, sizeof(param));
	cdb[15] = 0x99;
	for (i = 0; i < (int)sizeof(param); i++)
		param[i] = (uint8_t)(i * 7 + 1);
	cr_assert_eq(client_command(sock, cdb, dev, param, sizeof(param), &r),
	    0);
	itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
	c = last_call();
	cr_expect_eq(c->cmd_len, 16);
	cr_expect_eq(memcmp(c->cdb, cdb, PRH_CDB_LEN), 0, "CDB modified");
	cr_expect_eq(c->dir, SG_DXFER_TO_DEV);
	cr_expect_eq(c->dxfer_len, sizeof(param));
	cr_expect_eq(c->param_len, sizeof(param));
	cr_expect_eq(memcmp(c->param, param, sizeof(param)), 0, "parameters");
	free(c);
}

ITEST_BOTH(pr_out_size_zero_even_with_resid)
{
	struct client_reply r;
	int sock, dev;

	setup(kind, NULL, &sock, &dev);
	answer("status=0 resid=0");
	itest_pr_out(sock, dev, &r);
	itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
}

/* --- deliberate differences (qemu-pr-helper(8)) ----------------------- */

/* PR IN on an O_NONBLOCK fd; returns whether the flag survived. */
static bool
nonblock_survives(enum th_kind kind)
{
	struct client_reply r;
	int sock, dev, fl;

	itest_start(kind, NULL);
	sock = itest_conn();
	dev = itest_dev("lun", O_RDWR | O_NONBLOCK);
	itest_pr_in(sock, dev, 0, 8192, &r);
	itest_expect_ioerr(&r);
	fl = fcntl(dev, F_GETFL);
	cr_assert_geq(fl, 0);
	return (fl & O_NONBLOCK) != 0;
}

Test(ours, client_fd_keeps_nonblock)
{
	cr_expect(nonblock_survives(TH_OURS), "O_NONBLOCK was cleared");
}

ITEST_REFS(client_fd_loses_nonblock)
{
	cr_expect(!nonblock_survives(kind), "O_NONBLOCK was kept");
}

static const struct map_case ours_host_map[] = {
	{ "host=7", PRH_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06 }, /* ERROR */
	{ "host=6", PRH_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06 }, /* PARITY */
	{ "host=15", PRH_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06 },
	{ "host=0x77", PRH_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06 },
	{ "host=11", PRH_STATUS_BUSY, -1, 0, 0 }, /* SOFT_ERROR */
	{ "host=12", PRH_STATUS_BUSY, -1, 0, 0 }, /* IMM_RETRY */
	{ "host=13", PRH_STATUS_BUSY, -1, 0, 0 }, /* REQUEUE */
};

static const struct map_case qemu_host_map[] = {
	{ "host=7", PRH_STATUS_GOOD, -1, 0, 0 },
	{ "host=6", PRH_STATUS_GOOD, -1, 0, 0 },
	{ "host=15", PRH_STATUS_GOOD, -1, 0, 0 },
	{ "host=0x77", PRH_STATUS_GOOD, -1, 0, 0 },
	{ "host=11", PRH_STATUS_GOOD, -1, 0, 0 },
	{ "host=12", PRH_STATUS_GOOD, -1, 0, 0 },
	{ "host=13", PRH_STATUS_GOOD, -1, 0, 0 },
};

Test(ours, unknown_host_status_is_error)
{
	run_map(TH_OURS, ours_host_map,
	    sizeof(ours_host_map) / sizeof(ours_host_map[0]));
}

ITEST_REFS(unknown_host_status_is_good)
{
	run_map(kind, qemu_host_map,
	    sizeof(qemu_host_map) / sizeof(qemu_host_map[0]));
}

/* The SG_IO timeout the helper passes, with args. */
static unsigned
sg_timeout(enum th_kind kind, const char *const *args)
{
	struct client_reply r;
	struct th_sgio_call *c;
	unsigned t;
	int sock, dev;

	setup(kind, args, &sock, &dev);
	answer("status=0");
	itest_pr_in(sock, dev, 0, 8192, &r);
	c = last_call();
	t = c->timeout;
	free(c);
	return t;
}

Test(ours, sg_timeout_default_30s)
{
	cr_expect_eq(sg_timeout(TH_OURS, NULL), 30000);
}

Test(ours, sg_timeout_option)
{
	static const char *const args[] = { "--sg-timeout=5", NULL };

	cr_expect_eq(sg_timeout(TH_OURS, args), 5000);
}

ITEST_REFS(sg_timeout_1ms)
{
	cr_expect_eq(sg_timeout(kind, NULL), 1);
}

Test(ours, enodev_hardware_error)
{
	struct client_reply r;
	int sock, dev;

	setup(TH_OURS, NULL, &sock, &dev);
	pr_in_with(sock, dev, "errno=19", &r);
	itest_expect(&r, PRH_STATUS_CHECK_CONDITION, 0x4, 0x44, 0x00);
}

/* ENODEV: HARDWARE ERROR 44/00 since QEMU 10.1 ("scsi: add conversion from
 * ENODEV to sense"); 7.2 and 10.0.2 still answer ABORTED COMMAND 00/06.
 * Each reference is held to the table of the release it is.  Ours
 * follows 10.2's table. */
ITEST_REFS(enodev_sense_of_its_release)
{
	struct client_reply r;
	int sock, dev;
	bool hw = itest_ref_release(kind) >= ITEST_RELEASE(10, 1, 0);

	setup(kind, NULL, &sock, &dev);
	pr_in_with(sock, dev, "errno=19", &r);
	if (hw)
		itest_expect(&r, PRH_STATUS_CHECK_CONDITION, 0x4, 0x44, 0x00);
	else
		itest_expect(&r, PRH_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06);
}

/* SG_IO calls for one PR IN that the device answers with UNIT ATTENTION
 * 2A/05 every time, with args; the answer must be that unit attention. */
static int
ua_calls(enum th_kind kind, const char *const *args)
{
	struct client_reply r;
	struct th_sgio_call *calls;
	uint8_t want[PRH_SENSE_LEN];
	int sock, dev, n;

	setup(kind, args, &sock, &dev);
	pr_in_with(sock, dev,
	    "status=2 driver=8 sense=700006000000000a000000002a05", &r);
	th_sense_fixed(want, PRH_SK_UNIT_ATTENTION, 0x2a, 0x05);
	cr_expect_eq(r.status, PRH_STATUS_CHECK_CONDITION);
	cr_expect_eq(memcmp(r.sense, want, 18), 0, "the unit attention");
	n = th_shim_calls(&itest_env, &calls);
	for (int i = 1; i < n; i++)
		cr_expect_eq(memcmp(calls[i].cdb, calls[0].cdb,
				 sizeof(calls[0].cdb)),
		    0, "call %d sent another CDB", i);
	free(calls);
	return n;
}

Test(ours, unit_attention_sent_again)
{
	static const char *const off[] = { "--pr-ua-retries=0", NULL };
	static const char *const two[] = { "--pr-ua-retries=2", NULL };

	cr_expect_eq(ua_calls(TH_OURS, NULL), 6);
	itest_fini();
	cr_expect_eq(ua_calls(TH_OURS, off), 1);
	itest_fini();
	cr_expect_eq(ua_calls(TH_OURS, two), 3);
}

ITEST_REFS(unit_attention_passed_on)
{
	cr_expect_eq(ua_calls(kind, NULL), 1);
}
