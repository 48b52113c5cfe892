/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One table of multi-initiator persistent-reservation steps, run four
 * ways with identical expected results:
 *   direct:  each initiator is a lunsim-drive process under
 *            "lunsim --initiator X --" issuing SG_IO on the LUN file;
 *   ours_no_retry:
 *            each initiator is $PRH_TOP_BUILDDIR/qemu-pr-helper
 *            --pr-ua-retries=0 under lunsim, driven over the helper
 *            protocol (client.h);
 *   qemu:    the same with /usr/bin/qemu-pr-helper (root only);
 *   qemu11:  the same with QEMU 11.1's, from the Debian 13 root of
 *            contrib/trixie-root.sh through the root's dynamic loader
 *            (harness.h, TH_QEMU11; root only, skipped without the root);
 * and
 *   ours:    our helper as it runs by default, which sends a command
 *            answered with UNIT ATTENTION again: where the device answers
 *            a unit attention the step expects the answer of the command
 *            sent again (the "retried" column), the rest is the same.
 * Our helper runs with --guest-pr-policy=off: the table's REGISTER AND
 * MOVE steps are the device's to answer (test_guest_pr.c has the policy).
 * LUNSIM_TEST_HELPER names another helper binary for the "ours" runs.
 * Then the case that made the resend: a preempted initiator's next
 * command gets its answer, and the metrics and the audit trail say so.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prh/client.h"
#include "harness.h"
#include "lunsim_test.h"
#include "slurp.h"

/* What a step does. */
enum sc_op {
	RK,
	RR,
	RC,
	RFS, /* PR IN */
	REG,
	RES,
	REL,
	CLR,
	PRE,
	PAA,
	RIEK,
	RMV /* PR OUT, by service action */
};

/* One step: initiator, command, expected normalised result. */
struct sc_step {
	char who; /* 'A', 'B' or 'C' */
	enum sc_op op;
	uint64_t key, sakey;
	uint8_t type;
	const char *dest; /* REGISTER AND MOVE target */
	int unreg;
	uint8_t flags; /* parameter byte 20 */
	int len;       /* alloc (PR IN) / param length; 0: default */
	int sa;	       /* raw service action if >= 0 */
	const char *expect;
	const char *retried; /* with resends after UNIT ATTENTION, if not
				expect (for every step expecting one) */
};

#define IN(w, op, exp)                                       \
	{                                                    \
		w, op, 0, 0, 0, NULL, 0, 0, 0, -1, exp, NULL \
	}
/* A PR IN the device answers with a unit attention, and its answer when
 * sent again. */
#define UA(w, op, exp, retried)                                 \
	{                                                       \
		w, op, 0, 0, 0, NULL, 0, 0, 0, -1, exp, retried \
	}
#define OUT(w, op, k, s, t, exp)                             \
	{                                                    \
		w, op, k, s, t, NULL, 0, 0, 0, -1, exp, NULL \
	}
#define MOVE(w, k, s, t, d, u, exp)                        \
	{                                                  \
		w, RMV, k, s, t, d, u, 0, 0, -1, exp, NULL \
	}

#define WE   1
#define EA   3
#define WERO 5
#define EARO 6
#define WEAR 7
#define EAAR 8

static const struct sc_step sc_steps[] = {
	/* two initiators register; a wrong key is refused */
	IN('A', RK, "ok g0 k:-"),
	OUT('A', REG, 0, 0xa, 0, "ok"),
	OUT('B', REG, 0, 0xb, 0, "ok"),
	IN('A', RK, "ok g2 k:a,b"),
	OUT('B', REG, 0x5, 0xbb, 0, "conflict"),
	IN('B', RK, "ok g2 k:a,b"),
	/* Write Exclusive: holder rules, release by others and by holder */
	OUT('A', RES, 0xa, 0, WE, "ok"),
	OUT('B', RES, 0xb, 0, WE, "conflict"),
	IN('B', RR, "ok g2 a/1"),
	OUT('A', RES, 0xa, 0, WE, "ok"),
	OUT('A', RES, 0xa, 0, EA, "conflict"),
	OUT('B', REL, 0xb, 0, WE, "ok"),
	IN('A', RR, "ok g2 a/1"),
	OUT('A', REL, 0xa, 0, EA, "cc 5/26/04"),
	OUT('A', REL, 0xa, 0, WE, "ok"),
	IN('A', RR, "ok g2 none"),
	/* an unregistered third initiator */
	OUT('C', RES, 0, 0, WE, "conflict"),
	OUT('C', REL, 0, 0, WE, "conflict"),
	OUT('C', CLR, 0, 0, 0, "conflict"),
	OUT('C', RIEK, 0x77, 0xc, 0, "ok"),
	IN('C', RK, "ok g3 k:a,b,c"),
	IN('C', RC, "ok caps:00080090ea010000"),
	/* Exclusive Access: releasing it queues no unit attention */
	OUT('A', RES, 0xa, 0, EA, "ok"),
	OUT('C', RES, 0xc, 0, EA, "conflict"),
	OUT('A', REL, 0xa, 0, EA, "ok"),
	IN('C', RR, "ok g3 none"),
	/* EA - Registrants Only, released by the holder unregistering */
	OUT('B', RES, 0xb, 0, EARO, "ok"),
	OUT('A', RES, 0xa, 0, WE, "conflict"),
	IN('A', RFS, "ok g3 a:A b:B*6 c:C"),
	OUT('B', REG, 0xb, 0, 0, "ok"),
	UA('A', RK, "cc 6/2a/04", "ok g4 k:a,c"),
	IN('A', RK, "ok g4 k:a,c"),
	UA('C', RR, "cc 6/2a/04", "ok g4 none"),
	IN('C', RR, "ok g4 none"),
	/* WE - Registrants Only: only the reserving nexus holds it */
	OUT('C', RES, 0xc, 0, WERO, "ok"),
	OUT('A', RES, 0xa, 0, WERO, "conflict"),
	OUT('C', REL, 0xc, 0, WERO, "ok"),
	UA('A', RR, "cc 6/2a/04", "ok g4 none"),
	IN('A', RR, "ok g4 none"),
	/* WE - All Registrants: every registrant is a holder */
	OUT('A', RES, 0xa, 0, WEAR, "ok"),
	OUT('C', RES, 0xc, 0, WEAR, "ok"),
	IN('C', RR, "ok g4 0/7"),
	IN('C', RFS, "ok g4 a:A*7 c:C*7"),
	OUT('A', REL, 0xa, 0, WEAR, "ok"),
	UA('C', RR, "cc 6/2a/04", "ok g4 none"),
	IN('C', RR, "ok g4 none"),
	/* PREEMPT of a holder; the preempted initiator sees 2A/05 once,
	 * the one keeping its registration 2A/04 (EA -> WE) */
	OUT('B', REG, 0, 0xb, 0, "ok"),
	OUT('B', RES, 0xb, 0, EA, "ok"),
	OUT('A', PRE, 0xa, 0xb, WE, "ok"),
	IN('A', RR, "ok g6 a/1"),
	UA('B', RK, "cc 6/2a/05", "ok g6 k:a,c"),
	IN('B', RK, "ok g6 k:a,c"),
	OUT('B', RES, 0xb, 0, WE, "conflict"),
	UA('C', RR, "cc 6/2a/04", "ok g6 a/1"),
	OUT('C', PRE, 0xc, 0x99, WE, "conflict"),
	OUT('C', PRE, 0xc, 0, WE, "cc 5/26/00"),
	/* PREEMPT AND ABORT into EA - All Registrants (WE -> EA-AR) */
	OUT('B', REG, 0, 0xbb, 0, "ok"),
	OUT('C', PAA, 0xc, 0xa, EAAR, "ok"),
	UA('A', RK, "cc 6/2a/05", "ok g8 k:bb,c"),
	IN('A', RR, "ok g8 0/8"),
	UA('B', RFS, "cc 6/2a/04", "ok g8 bb:B*8 c:C*8"),
	IN('B', RFS, "ok g8 bb:B*8 c:C*8"),
	OUT('A', REG, 0, 0xa, 0, "ok"),
	IN('A', RFS, "ok g9 a:A*8 bb:B*8 c:C*8"),
	/* PREEMPT of an all-registrants reservation with key 0 */
	OUT('B', PRE, 0xbb, 0, WE, "ok"),
	UA('A', RK, "cc 6/2a/05", "ok g10 k:bb"),
	UA('C', RR, "cc 6/2a/05", "ok g10 bb/1"),
	IN('C', RR, "ok g10 bb/1"),
	/* REGISTER AND MOVE */
	OUT('A', REG, 0, 0xa, 0, "ok"),
	OUT('C', REG, 0, 0xc, 0, "ok"),
	MOVE('B', 0xbb, 0xc2, EA, "C", 0, "ok"),
	IN('C', RR, "ok g13 c/3"),
	MOVE('B', 0xbb, 0xb2, WE, "A", 0, "conflict"),
	MOVE('C', 0xc, 0xa2, WE, "A", 1, "ok"),
	IN('A', RFS, "ok g14 a:A*1 bb:B"),
	MOVE('A', 0xa, 0xa3, WE, "A", 0, "cc 5/26/00"),
	MOVE('A', 0xa, 0, WE, "B", 0, "cc 5/26/00"),
	/* CDB and parameter list errors */
	{ 'A', REG, 0xa, 0xa, 0, NULL, 0, 0x01, 0, -1, "cc 5/26/00", NULL },
	{ 'A', REG, 0xa, 0xa, 0, NULL, 0, 0, 8, -1, "cc 5/1a/00", NULL },
	{ 'A', RK, 0, 0, 0, NULL, 0, 0, 0, 7, "cc 5/24/00", NULL },
	OUT('A', RES, 0xa, 0, 2, "cc 5/24/00"),
	{ 'A', RK, 0, 0, 0, NULL, 0, 0, 4, -1, "ok raw:0000000e", NULL },
	/* CLEAR: every other registrant sees 2A/03 once */
	OUT('B', CLR, 0xbb, 0, 0, "ok"),
	UA('A', RK, "cc 6/2a/03", "ok g15 k:-"),
	IN('A', RK, "ok g15 k:-"),
	IN('A', RR, "ok g15 none"),
	IN('C', RK, "ok g15 k:-"),
	OUT('B', REG, 0, 0xb, 0, "ok"),
	MOVE('B', 0xb, 0xc, WE, "C", 0, "cc 5/24/00"),
	/* the holder preempts itself into another type: 2A/04 to every
	 * other registrant, nothing to the preempting one */
	OUT('A', REG, 0, 0xa, 0, "ok"),
	OUT('C', REG, 0, 0xc, 0, "ok"),
	OUT('A', RES, 0xa, 0, WE, "ok"),
	OUT('A', PRE, 0xa, 0xa, EA, "ok"),
	IN('A', RR, "ok g19 a/3"),
	UA('B', RK, "cc 6/2a/04", "ok g19 k:a,b,c"),
	IN('B', RK, "ok g19 k:a,b,c"),
	UA('C', RR, "cc 6/2a/04", "ok g19 a/3"),
	IN('C', RR, "ok g19 a/3"),
	/* ... into the same type: no unit attention */
	OUT('A', PRE, 0xa, 0xa, EA, "ok"),
	IN('B', RR, "ok g20 a/3"),
	IN('C', RK, "ok g20 k:a,b,c"),
	/* PREEMPT of another holder into another type: 2A/05 only to the
	 * preempted one, 2A/04 to the one that keeps its registration */
	OUT('B', PRE, 0xb, 0xa, WERO, "ok"),
	UA('A', RK, "cc 6/2a/05", "ok g21 k:b,c"),
	IN('A', RK, "ok g21 k:b,c"),
	UA('C', RK, "cc 6/2a/04", "ok g21 k:b,c"),
	IN('C', RR, "ok g21 b/5"),
	/* PREEMPT of a registrant that holds nothing: 2A/05 to it only, and
	 * the reservation keeps its type whatever the CDB's type */
	OUT('A', REG, 0, 0xa, 0, "ok"),
	OUT('C', PRE, 0xc, 0xa, EA, "ok"),
	UA('A', RK, "cc 6/2a/05", "ok g23 k:b,c"),
	IN('B', RR, "ok g23 b/5"),
	IN('A', RK, "ok g23 k:b,c"),
	/* RELEASE of a registrants-only, then of an all-registrants
	 * reservation: 2A/04 to every other registrant */
	OUT('A', REG, 0, 0xa, 0, "ok"),
	OUT('B', REL, 0xb, 0, WERO, "ok"),
	UA('A', RR, "cc 6/2a/04", "ok g24 none"),
	UA('C', RK, "cc 6/2a/04", "ok g24 k:a,b,c"),
	IN('B', RK, "ok g24 k:a,b,c"),
	OUT('C', RES, 0xc, 0, EAAR, "ok"),
	IN('A', RFS, "ok g24 a:A*8 b:B*8 c:C*8"),
	OUT('B', REL, 0xb, 0, EAAR, "ok"),
	UA('A', RR, "cc 6/2a/04", "ok g24 none"),
	UA('C', RR, "cc 6/2a/04", "ok g24 none"),
	IN('B', RR, "ok g24 none"),
	/* PREEMPT of a holder whose key another registrant shares: both
	 * lose their registration (2A/05), nobody is left to see 2A/04 */
	OUT('C', REG, 0xc, 0xa, 0, "ok"),
	OUT('A', RES, 0xa, 0, EA, "ok"),
	OUT('B', PRE, 0xb, 0xa, WE, "ok"),
	UA('A', RK, "cc 6/2a/05", "ok g26 k:b"),
	UA('C', RK, "cc 6/2a/05", "ok g26 k:b"),
	IN('C', RR, "ok g26 b/1"),
	IN('B', RK, "ok g26 k:b"),
	/* CLEAR: 2A/03 to every other registrant, none to the clearing one */
	OUT('A', REG, 0, 0xa, 0, "ok"),
	OUT('C', REG, 0, 0xc, 0, "ok"),
	OUT('C', CLR, 0xc, 0, 0, "ok"),
	UA('A', RK, "cc 6/2a/03", "ok g29 k:-"),
	UA('B', RR, "cc 6/2a/03", "ok g29 none"),
	IN('C', RK, "ok g29 k:-"),
	IN('B', RR, "ok g29 none"),
};

#define SC_NSTEPS (sizeof(sc_steps) / sizeof(sc_steps[0]))

/* Build the CDB and parameter list of step s: the parameter length. */
static size_t
sc_build(const struct sc_step *s, uint8_t cdb[16], uint8_t *param)
{
	size_t plen;

	memset(cdb, 0, 16);
	if (s->op <= RFS) {
		client_cdb_pr_in(cdb,
		    (uint8_t)(s->sa >= 0 ? s->sa : (int)s->op),
		    (uint16_t)(s->len ? s->len : PRH_DATA_MAX));
		return 0;
	}
	plen = lt_param(param, s->key, s->sakey, s->flags, s->dest, s->unreg);
	if (s->len)
		plen = (size_t)s->len;
	client_cdb_pr_out(cdb,
	    (uint8_t)(s->op == RIEK ? 6
		    : s->op == RMV  ? 7
				    : (int)s->op - REG),
	    s->type, (uint16_t)plen);
	return plen;
}

/* An executor runs step s for initiator index i into r. */
typedef int (*sc_exec_fn)(void *ctx, int i, const uint8_t cdb[16],
    const uint8_t *param, size_t plen, struct lt_result *r);

/* What step s is to answer: its answer when sent again after a unit
 * attention if retried (every step expecting one says). */
static const char *
sc_want(const struct sc_step *s, bool retried)
{
	if (!retried)
		return s->expect;
	if (strncmp(s->expect, "cc 6/", 5) == 0)
		cr_assert_not_null(s->retried,
		    "a unit attention step (%s) "
		    "without its retried answer",
		    s->expect);
	return s->retried != NULL ? s->retried : s->expect;
}

/* Run the whole table through exec (with the helper's resends after
 * UNIT ATTENTION if retried); fail the test on any mismatch. */
static void
sc_run(sc_exec_fn exec, void *ctx, const char *how, bool retried)
{
	uint8_t cdb[16], param[256];
	struct lt_result r;
	char got[1024];
	const char *want;
	size_t i, plen;
	int rc;

	for (i = 0; i < SC_NSTEPS; i++) {
		plen = sc_build(&sc_steps[i], cdb, param);
		rc = exec(ctx, sc_steps[i].who - 'A', cdb, param, plen, &r);
		cr_assert_eq(rc, 0, "%s step %zu: transport error %d", how,
		    i + 1, rc);
		lt_result_str(cdb, &r, got, sizeof(got));
		want = sc_want(&sc_steps[i], retried);
		cr_expect_str_eq(got, want,
		    "%s step %zu (%c): got '%s', want '%s'", how, i + 1,
		    sc_steps[i].who, got, want);
	}
}

/* The world of one test: a temp dir with a LUN file. */
static char sc_dir[LT_DIR_MAX], sc_lun[PATH_MAX];

/* Make the temp dir and the LUN. */
static void
sc_setup(void)
{
	cr_assert_eq(lt_tmpdir(sc_dir), 0);
	snprintf(sc_lun, sizeof(sc_lun), "%s/pr.lun", sc_dir);
	cr_assert_eq(lt_create_lun(sc_lun, 1 << 20), 0, "lunsim create");
}

/* Remove the temp dir. */
static void
sc_teardown(void)
{
	lt_rmdir(sc_dir);
}

/* Direct executor: one lunsim-drive per initiator. */
static int
sc_exec_direct(void *ctx, int i, const uint8_t cdb[16], const uint8_t *param,
    size_t plen, struct lt_result *r)
{
	struct lt_drive *d = ctx;
	unsigned dxfer = plen == 0 && cdb[0] == 0x5e ? PRH_DATA_MAX : 0;
	int rc;

	rc = lt_drive_cmd(&d[i], cdb, 16, param, plen, dxfer, r);
	if (rc < 0 || r->err)
		return rc;
	/* the SG_IO header as the kernel fills it */
	cr_expect_eq(r->host_status, 0);
	cr_expect_eq(r->driver_status, r->sense_len ? 0x08u : 0u);
	cr_expect_eq(r->info, (r->status || r->sense_len) ? 1u : 0u);
	if (dxfer)
		cr_expect_eq(r->resid, dxfer - r->len, "resid %u len %zu",
		    r->resid, r->len);
	if (r->sense_len)
		cr_expect_eq(r->sense_len, 18);
	return 0;
}

TestSuite(lunsim_scenario, .init = sc_setup, .fini = sc_teardown,
    .timeout = 60);

Test(lunsim_scenario, direct)
{
	static const char *const names[] = { "A", "B", "C" };
	struct lt_drive d[3];
	int i;

	for (i = 0; i < 3; i++)
		cr_assert_eq(lt_drive_start(&d[i], names[i], sc_lun, NULL), 0);
	sc_run(sc_exec_direct, d, "direct", false);
	for (i = 0; i < 3; i++)
		cr_expect_eq(lt_drive_stop(&d[i]), 0);
}

/* Helper executor: one helper process and connection per initiator. */
struct sc_helpers {
	struct lt_helper h[3];
	int devfd;
};

/* Run one step through the initiator's helper. */
static int
sc_exec_helper(void *ctx, int i, const uint8_t cdb[16], const uint8_t *param,
    size_t plen, struct lt_result *r)
{
	struct sc_helpers *hs = ctx;

	return lt_helper_cmd(&hs->h[i], hs->devfd, cdb, param, plen, r);
}

/* Run the table through three helpers of binary bin with args (NULL or
 * NULL-terminated), which resend after a unit attention if retried. */
static void
sc_run_helpers(const char *const *cmd, const char *how, const char *const *args,
    bool retried)
{
	static const char *const names[] = { "A", "B", "C" };
	struct sc_helpers hs;
	char sock[PATH_MAX];
	int i, j, rc = 0;

	memset(&hs, 0, sizeof(hs));
	for (i = 0; i < 3; i++)
		hs.h[i].conn = -1;
	hs.devfd = open(sc_lun, O_RDWR | O_CLOEXEC);
	cr_assert_geq(hs.devfd, 0);
	for (i = 0; i < 3; i++) {
		snprintf(sock, sizeof(sock), "%s/%s.sock", sc_dir, names[i]);
		rc = lt_helper_start_cmd(&hs.h[i], cmd, names[i], sock, args,
		    NULL);
		if (rc == 0)
			rc = lt_helper_connect(&hs.h[i]);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		for (j = 0; j < 3; j++)
			lt_helper_stop(&hs.h[j]);
		close(hs.devfd);
		cr_assert_fail("%s: starting %s as %s: %s", how, cmd[0],
		    names[i], strerror(-rc));
	}
	sc_run(sc_exec_helper, &hs, how, retried);
	for (i = 0; i < 3; i++)
		lt_helper_stop(&hs.h[i]);
	close(hs.devfd);
}

/* Our helper's binary into bin (skips the test if it is not built). */
static void
sc_ours(char bin[PATH_MAX])
{
	const char *env = getenv("LUNSIM_TEST_HELPER");

	if (env != NULL && *env != '\0')
		snprintf(bin, PATH_MAX, "%s", env);
	else
		lt_build_path(bin, PATH_MAX, "qemu-pr-helper");
	if (access(bin, X_OK) != 0) {
		sc_teardown();
		cr_skip_test("helper %s not built", bin);
	}
}

Test(lunsim_scenario, ours)
{
	static const char *const args[] = { "--guest-pr-policy=off", NULL };
	char bin[PATH_MAX];
	const char *const cmd[] = { bin, NULL };

	sc_ours(bin);
	sc_run_helpers(cmd, "ours", args, true);
}

Test(lunsim_scenario, ours_no_retry)
{
	static const char *const args[] = { "--pr-ua-retries=0",
		"--guest-pr-policy=off", NULL };
	char bin[PATH_MAX];
	const char *const cmd[] = { bin, NULL };

	sc_ours(bin);
	sc_run_helpers(cmd, "ours_no_retry", args, false);
}

Test(lunsim_scenario, qemu)
{
	const char *const cmd[] = { "/usr/bin/qemu-pr-helper", NULL };

	if (access(cmd[0], X_OK) != 0 || geteuid() != 0) {
		sc_teardown();
		cr_skip_test("%s is not installed or we are not root", cmd[0]);
	}
	sc_run_helpers(cmd, "qemu", NULL, false);
}

Test(lunsim_scenario, qemu11)
{
	const char *why;

	if (th_helper_usable(TH_QEMU11, &why) < 0) {
		sc_teardown();
		cr_skip_test("%s", why);
	}
	sc_run_helpers(th_helper_cmd(TH_QEMU11), "qemu11", NULL, false);
}

/* Run one PR command as initiator who in a fresh driver process. */
static void
sc_once(const char *who, const struct sc_step *s, char *got, size_t len)
{
	struct lt_drive d;
	struct lt_result r;
	uint8_t cdb[16], param[256];
	size_t plen = sc_build(s, cdb, param);

	cr_assert_eq(lt_drive_start(&d, who, sc_lun, NULL), 0);
	cr_assert_eq(lt_drive_cmd(&d, cdb, 16, param, plen,
			 plen == 0 ? PRH_DATA_MAX : 0, &r),
	    0);
	cr_assert_eq(lt_drive_stop(&d), 0);
	lt_result_str(cdb, &r, got, len);
}

Test(lunsim_scenario, state_survives_restarts)
{
	static const struct sc_step steps[] = {
		OUT('A', REG, 0, 0xa, 0, "ok"),
		OUT('B', REG, 0, 0xb, 0, "ok"),
		OUT('A', RES, 0xa, 0, EA, "ok"),
		OUT('A', PRE, 0xa, 0xb, EA, "ok"),
		IN('B', RK, "cc 6/2a/05"),
		IN('B', RK, "ok g3 k:a"),
		IN('A', RR, "ok g3 a/3"),
	};
	char who[2] = { 0, 0 }, got[256];
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		who[0] = steps[i].who;
		sc_once(who, &steps[i], got, sizeof(got));
		cr_expect_str_eq(got, steps[i].expect, "step %zu", i + 1);
	}
}

#define SC_PROCS  6
#define SC_ROUNDS 40

Test(lunsim_scenario, concurrent_updates_are_not_lost)
{
	struct lt_drive d[SC_PROCS];
	struct lt_result r;
	struct sc_step s = OUT('A', REG, 0, 0, 0, "ok");
	uint8_t cdb[16], param[256];
	char name[8], got[512];
	size_t plen;
	int i, j;

	for (i = 0; i < SC_PROCS; i++) {
		snprintf(name, sizeof(name), "I%d", i);
		cr_assert_eq(lt_drive_start(&d[i], name, sc_lun, NULL), 0);
	}
	/* every process changes its key SC_ROUNDS times, all in flight */
	for (j = 0; j < SC_ROUNDS; j++)
		for (i = 0; i < SC_PROCS; i++) {
			s.key = j == 0
			    ? 0
			    : 0x1000 * (uint64_t)(i + 1) + (uint64_t)j - 1;
			s.sakey = 0x1000 * (uint64_t)(i + 1) + (uint64_t)j;
			plen = sc_build(&s, cdb, param);
			cr_assert_eq(lt_drive_send(&d[i], cdb, 16, param, plen,
					 0),
			    0);
		}
	for (j = 0; j < SC_ROUNDS; j++)
		for (i = 0; i < SC_PROCS; i++) {
			cr_assert_eq(lt_drive_recv(&d[i], &r), 0);
			cr_assert_eq(r.status, 0, "proc %d round %d", i, j);
		}
	s.op = RK;
	plen = sc_build(&s, cdb, param);
	cr_assert_eq(lt_drive_cmd(&d[0], cdb, 16, NULL, 0, PRH_DATA_MAX, &r),
	    0);
	lt_result_str(cdb, &r, got, sizeof(got));
	cr_expect_str_eq(got, "ok g240 k:1027,2027,3027,4027,5027,6027");
	for (i = 0; i < SC_PROCS; i++)
		cr_expect_eq(lt_drive_stop(&d[i]), 0);
}

/* Whether the file at path holds the text want, checked every 20 ms until
 * LT_TIMEOUT_MS have gone (the helper writes it on its own thread). */
static bool
sc_file_has(const char *path, const char *want)
{
	char *text;
	bool found = false;
	int fd;

	for (int ms = 0; !found && ms < LT_TIMEOUT_MS; ms += 20) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		text = fd >= 0 ? slurp_fd(fd, 1 << 20, NULL) : NULL;
		if (fd >= 0)
			close(fd);
		found = text != NULL && strstr(text, want) != NULL;
		free(text);
		if (!found)
			(void)poll(NULL, 0, 20);
	}
	return found;
}

/* One step of initiator i through its helper; its normalised result. */
static void
sc_helper_step(struct sc_helpers *hs, const struct sc_step *s, char *got,
    size_t len)
{
	uint8_t cdb[16], param[256];
	struct lt_result r;
	size_t plen = sc_build(s, cdb, param);

	cr_assert_eq(sc_exec_helper(hs, s->who - 'A', cdb, param, plen, &r), 0);
	lt_result_str(cdb, &r, got, len);
}

Test(lunsim_scenario,
    preempted_initiator_gets_the_answer_not_the_unit_attention)
{
	/* What QEMU's migration does: B takes A's reservation with PREEMPT,
	 * A's nexus then owes 2A/05 to its next command.  Through our
	 * helper that command is answered, not the unit attention. */
	static const struct sc_step steps[] = {
		OUT('A', REG, 0, 0xa, 0, "ok"),
		OUT('A', RES, 0xa, 0, WE, "ok"),
		OUT('B', REG, 0, 0xb, 0, "ok"),
		OUT('B', PRE, 0xb, 0xa, WE, "ok"),
		IN('A', RK, "ok g3 k:b"),
		OUT('A', RES, 0xa, 0, WE, "conflict"),
		IN('A', RR, "ok g3 b/1"),
	};
	char bin[PATH_MAX], sock[PATH_MAX], prom[PATH_MAX], err[PATH_MAX];
	char metrics[PATH_MAX + 32], got[256], show[4096];
	const char *args[] = { metrics, NULL };
	const char *show_argv[] = { bin, "show", sc_lun, NULL };
	struct sc_helpers hs;
	size_t i;

	sc_ours(bin);
	memset(&hs, 0, sizeof(hs));
	hs.devfd = open(sc_lun, O_RDWR | O_CLOEXEC);
	cr_assert_geq(hs.devfd, 0);
	snprintf(prom, sizeof(prom), "%s/A.prom", sc_dir);
	snprintf(err, sizeof(err), "%s/A.err", sc_dir);
	snprintf(metrics, sizeof(metrics), "--metrics-file=%s", prom);
	for (i = 0; i < 2; i++) {
		snprintf(sock, sizeof(sock), "%s/%c.sock", sc_dir,
		    (int)('A' + i));
		cr_assert_eq(lt_helper_start_args(&hs.h[i], bin,
				 i == 0 ? "A" : "B", sock, i == 0 ? args : NULL,
				 i == 0 ? err : NULL),
		    0);
		cr_assert_eq(lt_helper_connect(&hs.h[i]), 0);
	}
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		sc_helper_step(&hs, &steps[i], got, sizeof(got));
		cr_expect_str_eq(got, steps[i].expect, "step %zu (%c)", i + 1,
		    steps[i].who);
	}
	/* the unit attention is gone from A's nexus: the helper took it */
	lt_build_path(bin, sizeof(bin), "lunsim");
	cr_assert_eq(lt_run(show_argv, show, sizeof(show)), 0);
	cr_expect_null(strstr(show, " ua "), "%s", show);
	/* counted once, and logged with the command it answered */
	cr_expect_eq(kill(hs.h[0].pid, SIGUSR1), 0);
	cr_expect(sc_file_has(prom,
		      "\nprh_unit_attentions_retried_total{asc=\"2a\","
		      "ascq=\"05\"} 1\n"),
	    "metrics file %s", prom);
	cr_expect(sc_file_has(err, "] PR IN READ KEYS pr.lun 240:"),
	    "audit line");
	cr_expect(sc_file_has(err, ": GOOD, "), "audit line");
	cr_expect(sc_file_has(err,
		      " us; sent again after UNIT ATTENTION 2A/05 "
		      "(registrations preempted)\n"),
	    "audit line");
	for (i = 0; i < 2; i++)
		lt_helper_stop(&hs.h[i]);
	close(hs.devfd);
}
