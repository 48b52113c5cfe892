/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A process killed while it holds a simulated LUN (LUNSIM_TEST_DIE makes
 * it SIGKILL itself inside a PR OUT's commit, the LUN's mutex held): the
 * next command from another process is served, and the state is the one
 * before that PR OUT or the one after it, never a mixture.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lunsim_test.h"

static char c_dir[LT_DIR_MAX], c_lun[PATH_MAX];
static struct lt_drive c_drv;

/* A LUN, and a driver process of initiator A on it. */
static void
c_setup(void)
{
	cr_assert_eq(lt_tmpdir(c_dir), 0);
	snprintf(c_lun, sizeof(c_lun), "%s/c.lun", c_dir);
	cr_assert_eq(lt_create_lun(c_lun, 1 << 20), 0);
	cr_assert_eq(lt_drive_start(&c_drv, "A", c_lun, NULL), 0);
}

/* Stop the driver, remove the files. */
static void
c_teardown(void)
{
	if (c_drv.pid > 0)
		lt_drive_stop(&c_drv);
	lt_rmdir(c_dir);
}

TestSuite(lunsim_crash, .init = c_setup, .fini = c_teardown, .timeout = 60);

/* PR OUT REGISTER (key 0 -> sakey) through d: its result text. */
static void
c_register(struct lt_drive *d, uint64_t sakey, char *out, size_t len)
{
	uint8_t cdb[10] = { 0x5f, 0x00, 0, 0, 0, 0, 0, 0, 24, 0 }, p[24];
	struct lt_result r;

	lt_param(p, 0, sakey, 0, NULL, 0);
	cr_assert_eq(lt_drive_cmd(d, cdb, sizeof(cdb), p, 24, 0, &r), 0);
	lt_result_str(cdb, &r, out, len);
}

/* Expect PR IN READ KEYS through d to give want. */
static void
c_expect_keys(struct lt_drive *d, const char *want)
{
	uint8_t cdb[10] = { 0x5e, 0x00, 0, 0, 0, 0, 0, 0x20, 0x00, 0 };
	struct lt_result r;
	char out[512];

	cr_assert_eq(lt_drive_cmd(d, cdb, sizeof(cdb), NULL, 0, 8192, &r), 0);
	lt_result_str(cdb, &r, out, sizeof(out));
	cr_assert_str_eq(out, want);
}

/* Initiator B under LUNSIM_TEST_DIE=how sends REGISTER 0xb2: assert it
 * died of SIGKILL without an answer. */
static void
c_die_registering(const char *how)
{
	const uint8_t cdb[10] = { 0x5f, 0x00, 0, 0, 0, 0, 0, 0, 24, 0 };
	struct lt_drive b = { 0 };
	struct lt_result r;
	uint8_t p[24];

	cr_assert_eq(setenv("LUNSIM_TEST_DIE", how, 1), 0);
	cr_assert_eq(lt_drive_start(&b, "B", c_lun, NULL), 0);
	unsetenv("LUNSIM_TEST_DIE");
	lt_param(p, 0, 0xb2, 0, NULL, 0);
	cr_assert_eq(lt_drive_send(&b, cdb, sizeof(cdb), p, 24, 0), 0);
	cr_assert_eq(lt_drive_recv(&b, &r), -ECONNRESET, "B answered");
	cr_assert_eq(lt_drive_stop(&b), 128 + SIGKILL);
}

/* The LUN still serves: C registers, and lunsim show lists gen. */
static void
c_still_serves(const char *keys_after, const char *gen_line)
{
	struct lt_drive d = { 0 };
	char out[4096], lunsim[PATH_MAX];
	const char *show[] = { lt_build_path(lunsim, sizeof(lunsim), "lunsim"),
		"show", c_lun, NULL };

	cr_assert_eq(lt_drive_start(&d, "C", c_lun, NULL), 0);
	c_register(&d, 0xc3, out, sizeof(out));
	cr_assert_str_eq(out, "ok");
	c_expect_keys(&d, keys_after);
	lt_drive_stop(&d);
	cr_assert_eq(lt_run(show, out, sizeof(out)), 0);
	cr_assert(strstr(out, gen_line) != NULL, "%s", out);
}

Test(lunsim_crash, killed_before_the_commit_leaves_the_state_before)
{
	char out[256];

	c_register(&c_drv, 0xa1, out, sizeof(out));
	cr_assert_str_eq(out, "ok");
	c_die_registering("commit");
	c_expect_keys(&c_drv, "ok g1 k:a1");
	c_still_serves("ok g2 k:a1,c3", "generation 2\n");
}

Test(lunsim_crash, killed_after_the_commit_leaves_the_state_after)
{
	char out[256];

	c_register(&c_drv, 0xa1, out, sizeof(out));
	cr_assert_str_eq(out, "ok");
	c_die_registering("committed");
	c_expect_keys(&c_drv, "ok g2 k:a1,b2");
	c_still_serves("ok g3 k:a1,b2,c3", "generation 3\n");
}
