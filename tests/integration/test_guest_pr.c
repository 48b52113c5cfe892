/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Integration: the guest PR policy over the socket (qemu-pr-helper(8),
 * GUEST PR POLICY).  A REGISTER with SPEC_I_PT or ALL_TG_PT, and REGISTER
 * AND MOVE, get ILLEGAL REQUEST and never reach SG_IO (the shim logs
 * every SG_IO the helper makes, and answers GOOD to any here); the
 * connection serves on; REPORT CAPABILITIES comes back with SIP_C and
 * ATP_C cleared and nothing else changed.  With --guest-pr-policy=off
 * all of it reaches the device as the client sent it, as it does with
 * QEMU's helper.
 */
#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

ITEST_SUITES();

/* A REPORT CAPABILITIES answer: length 8, CRH, SIP_C, ATP_C, PTPL_C,
 * TMV and PTPL_A, every type. */
#define GP_CAPS "00081d81ff010000"

/* A REGISTER-style list naming one iSCSI initiator port (52 bytes). */
static size_t
gp_param(uint8_t p[PRH_DATA_MAX], uint8_t flags)
{
	static const char name[] = "iqn.2026-12.test:foreign";

	memset(p, 0, PRH_DATA_MAX);
	client_param_basic(p, 0, 0x1234, flags);
	p[27] = 28;   /* TransportID list length */
	p[28] = 0x05; /* iSCSI, format 0 */
	p[31] = 24;   /* name length, NUL-padded to a multiple of 4 */
	memcpy(p + 32, name, sizeof(name) - 1);
	return 56;
}

/* Start the helper of kind with args; the shim answers GOOD on "lun",
 * with data for a PR IN. */
static void
gp_setup(enum th_kind kind, const char *const *args, const char *data,
    int *sock, int *dev)
{
	itest_start(kind, args);
	cr_assert_eq(th_shim_set(&itest_env, "%s status=0%s%s\n",
			 itest_dev_path("lun"), data != NULL ? " data=" : "",
			 data != NULL ? data : ""),
	    0);
	*sock = itest_conn();
	*dev = itest_dev("lun", O_RDWR);
}

/* PR OUT sa with flags in a 56-byte list; the reply in r. */
static void
gp_out(int sock, int dev, uint8_t sa, uint8_t flags, struct client_reply *r)
{
	uint8_t cdb[PRH_CDB_LEN], p[PRH_DATA_MAX];
	size_t len = gp_param(p, flags);
	int rc;

	client_cdb_pr_out(cdb, sa, 0x00, (uint16_t)len);
	rc = client_command(sock, cdb, dev, p, len, r);
	cr_assert_eq(rc, 0, "PR OUT 0x%02x: %s", sa, strerror(-rc));
}

/* One refusal: sa with flags answers ILLEGAL REQUEST asc/00 with no
 * SG_IO, logged in the audit trail as why; then a plain REGISTER on the
 * same connection reaches the device. */
static void
gp_refused(uint8_t sa, uint8_t flags, uint8_t asc, const char *why)
{
	struct client_reply r;
	int sock, dev;

	gp_setup(TH_OURS, NULL, NULL, &sock, &dev);
	gp_out(sock, dev, sa, flags, &r);
	itest_expect(&r, PRH_STATUS_CHECK_CONDITION, PRH_SK_ILLEGAL_REQUEST,
	    asc, 0x00);
	cr_expect_eq(itest_calls_on("lun"), 0, "the device saw it");
	itest_expect_stderr(why);
	gp_out(sock, dev, 0x00, 0x00, &r);
	itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
	cr_expect_eq(itest_calls_on("lun"), 1);
	close(sock);
	close(dev);
}

Test(ours, spec_i_pt_refused)
{
	gp_refused(0x00, 0x08, 0x26, "refused (guest PR policy: SPEC_I_PT)");
}

Test(ours, spec_i_pt_ignore_existing_refused)
{
	gp_refused(0x06, 0x09, 0x26, "refused (guest PR policy: SPEC_I_PT)");
}

Test(ours, all_tg_pt_refused)
{
	gp_refused(0x06, 0x04, 0x26, "refused (guest PR policy: ALL_TG_PT)");
}

Test(ours, register_and_move_refused)
{
	gp_refused(0x07, 0x00, 0x24,
	    "refused (guest PR policy: REGISTER AND MOVE)");
}

/* What the policy refuses reaches the device, byte for byte, when off
 * (and with QEMU's helper, which has no such policy). */
static void
gp_passed(enum th_kind kind, const char *const *args)
{
	static const uint8_t sas[] = { 0x00, 0x06, 0x07 };
	static const uint8_t flags[] = { 0x08, 0x04, 0x00 };
	struct th_sgio_call *calls;
	struct client_reply r;
	uint8_t p[PRH_DATA_MAX];
	int sock, dev, n;

	gp_setup(kind, args, NULL, &sock, &dev);
	for (size_t i = 0; i < sizeof(sas); i++) {
		gp_out(sock, dev, sas[i], flags[i], &r);
		itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
	}
	n = th_shim_calls(&itest_env, &calls);
	cr_assert_eq(n, 3, "SG_IO calls: %d", n);
	for (int i = 0; i < n; i++) {
		size_t len = gp_param(p, flags[i]);

		cr_expect_eq(calls[i].cdb[1] & 0x1f, sas[i]);
		cr_expect_eq(calls[i].param_len, len);
		cr_expect_arr_eq(calls[i].param, p, len, "list %d", i);
	}
	free(calls);
	close(sock);
	close(dev);
}

Test(ours, policy_off_passes)
{
	static const char *const args[] = { "--guest-pr-policy=off", NULL };

	gp_passed(TH_OURS, args);
}

ITEST_REFS(qemu_passes)
{
	gp_passed(kind, NULL);
}

/* REPORT CAPABILITIES with allocation length alloc: its payload. */
static void
gp_caps(int sock, int dev, uint16_t alloc, struct client_reply *r)
{
	itest_pr_in(sock, dev, 0x02, alloc, r);
	cr_assert_eq(r->status, PRH_STATUS_GOOD);
}

/* Start our helper with args, the device answering GP_CAPS: REPORT
 * CAPABILITIES comes back whole, with byte2 for byte 2.  The connection
 * and the device stay open in *sock and *dev. */
static void
gp_caps_whole(const char *const *args, uint8_t byte2, int *sock, int *dev)
{
	uint8_t want[8] = { 0x00, 0x08, 0x00, 0x81, 0xff, 0x01, 0x00, 0x00 };
	struct client_reply r;

	want[2] = byte2;
	gp_setup(TH_OURS, args, GP_CAPS, sock, dev);
	gp_caps(*sock, *dev, 8192, &r);
	cr_expect_eq(r.size, 8);
	cr_expect_arr_eq(r.data, want, sizeof(want));
}

Test(ours, report_capabilities_masked)
{
	static const uint8_t want[3] = { 0x00, 0x08, 0x11 };
	struct client_reply r;
	int sock, dev;

	gp_caps_whole(NULL, 0x11, &sock, &dev);
	/* Byte 2 returned alone, and not returned at all. */
	gp_caps(sock, dev, 3, &r);
	cr_expect_eq(r.size, 3);
	cr_expect_arr_eq(r.data, want, 3);
	gp_caps(sock, dev, 2, &r);
	cr_expect_eq(r.size, 2);
	cr_expect_arr_eq(r.data, want, 2);
	/* READ KEYS with the same bytes is the device's as it is. */
	itest_pr_in(sock, dev, 0x00, 8192, &r);
	cr_expect_eq(r.size, 8);
	cr_expect_eq(r.data[2], 0x1d);
	close(sock);
	close(dev);
}

Test(ours, report_capabilities_off)
{
	static const char *const args[] = { "--guest-pr-policy=off", NULL };
	int sock, dev;

	gp_caps_whole(args, 0x1d, &sock, &dev);
	close(sock);
	close(dev);
}
