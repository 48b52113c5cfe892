/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Faults set with "lunsim fault" while a preloaded program runs: status
 * and sense, errno, host and driver status, counted faults, latency, a
 * hang released by "clear" (and counted by "lunsim show" meanwhile); and the launcher's LUN tools.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "prh/client.h"
#include "lunsim_test.h"

static char f_dir[LT_DIR_MAX], f_lun[PATH_MAX];
static struct lt_drive f_drv;
static const uint8_t f_tur[6];

/* A LUN and one driver process on it. */
static void
f_setup(void)
{
	cr_assert_eq(lt_tmpdir(f_dir), 0);
	snprintf(f_lun, sizeof(f_lun), "%s/f.lun", f_dir);
	cr_assert_eq(lt_create_lun(f_lun, 1 << 20), 0);
	cr_assert_eq(lt_drive_start(&f_drv, "A", f_lun, NULL), 0);
}

/* Stop the driver, remove the files. */
static void
f_teardown(void)
{
	lt_drive_stop(&f_drv);
	lt_rmdir(f_dir);
}

TestSuite(lunsim_fault, .init = f_setup, .fini = f_teardown, .timeout = 60);

/* Set fault words on the LUN; assert the tool succeeded. */
#define FAULT(...)                                                             \
	do {                                                                   \
		const char *const w_[] = { __VA_ARGS__, NULL };                \
		cr_assert_eq(lt_fault(f_lun, w_, NULL, 0), 0, "lunsim fault"); \
	} while (0)

/* TEST UNIT READY through the driver. */
static struct lt_result
f_tur_cmd(void)
{
	struct lt_result r;

	cr_assert_eq(lt_drive_cmd(&f_drv, f_tur, 6, NULL, 0, 0, &r), 0);
	return r;
}

Test(lunsim_fault, status_and_sense)
{
	struct lt_result r;

	FAULT("status=0x02", "sense=700004000000000a0000000044000000");
	r = f_tur_cmd();
	cr_assert_eq(r.status, 0x02);
	cr_assert_eq(r.driver_status, 0x08);
	cr_assert_eq(r.sense_len, 16);
	cr_assert_eq(r.sense[2], 0x04);
	cr_assert_eq(r.sense[12], 0x44);
	r = f_tur_cmd();
	cr_assert_eq(r.status, 0x02, "the fault stays until cleared");
	FAULT("clear");
	r = f_tur_cmd();
	cr_assert_eq(r.status, 0);
	cr_assert_eq(r.sense_len, 0);
}

Test(lunsim_fault, errno_host_driver)
{
	struct lt_result r;

	FAULT("errno=EIO");
	r = f_tur_cmd();
	cr_assert_eq(r.err, EIO);
	FAULT("clear", "host=0x07");
	r = f_tur_cmd();
	cr_assert_eq(r.err, 0);
	cr_assert_eq(r.host_status, 0x07);
	cr_assert_eq(r.status, 0);
	cr_assert_eq(r.info, 1);
	FAULT("clear", "driver=0x06");
	r = f_tur_cmd();
	cr_assert_eq(r.host_status, 0);
	cr_assert_eq(r.driver_status, 0x06);
}

Test(lunsim_fault, count_then_gone)
{
	char out[256];
	struct lt_result r;

	FAULT("count=1", "status=0x08");
	r = f_tur_cmd();
	cr_assert_eq(r.status, 0x08);
	r = f_tur_cmd();
	cr_assert_eq(r.status, 0x00);
	cr_assert_eq(lt_fault(f_lun, NULL, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "none\n");
}

Test(lunsim_fault, latency_is_a_lower_bound)
{
	struct lt_result r;

	FAULT("latency=30:5");
	r = f_tur_cmd();
	cr_assert_eq(r.status, 0);
	cr_assert_geq(r.duration, 30, "duration %u ms", r.duration);
}

/* Poll "lunsim show" (at most LT_TIMEOUT_MS) until it counts n commands
 * waiting out a hang (no line when none): 0 or -ETIMEDOUT. */
static int
f_wait_hung(unsigned n)
{
	const char *argv[] = { NULL, "show", f_lun, NULL };
	char bin[PATH_MAX], out[4096], want[64];
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	argv[0] = lt_build_path(bin, sizeof(bin), "lunsim");
	snprintf(want, sizeof(want), "\nhung %u commands waiting\n", n);
	for (int i = 0; i < LT_TIMEOUT_MS / 10; i++) {
		cr_assert_eq(lt_run(argv, out, sizeof(out)), 0, "lunsim show");
		if (n == 0 ? strstr(out, "\nhung ") == NULL
			   : strstr(out, want) != NULL)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

Test(lunsim_fault, hang_until_clear)
{
	struct pollfd p;
	struct lt_result r;

	FAULT("hang");
	cr_assert_eq(lt_drive_send(&f_drv, f_tur, 6, NULL, 0, 0), 0);
	cr_assert_eq(f_wait_hung(1), 0, "lunsim show counts the command");
	p.fd = fileno(f_drv.from);
	p.events = POLLIN;
	/* A hang has no event: watch for an answer for 200 ms. */
	cr_assert_eq(poll(&p, 1, 200), 0, "no answer while hung");
	FAULT("hang=0");
	cr_assert_eq(poll(&p, 1, LT_TIMEOUT_MS), 1, "answer after clear");
	cr_assert_eq(lt_drive_recv(&f_drv, &r), 0);
	cr_assert_eq(r.status, 0);
	cr_assert_eq(f_wait_hung(0), 0, "no command counted after clear");
}

Test(lunsim_fault, status_through_qemu_helper)
{
	struct lt_helper h = { .conn = -1 };
	struct lt_result r;
	uint8_t cdb[16];
	char sock[PATH_MAX];
	int fd;

	if (access("/usr/bin/qemu-pr-helper", X_OK) != 0 || geteuid() != 0) {
		f_teardown();
		cr_skip_test("needs /usr/bin/qemu-pr-helper and root");
	}
	snprintf(sock, sizeof(sock), "%s/h.sock", f_dir);
	cr_assert_eq(lt_helper_start(&h, "/usr/bin/qemu-pr-helper", "H", sock),
	    0);
	fd = open(f_lun, O_RDWR | O_CLOEXEC);
	FAULT("status=0x02", "sense=70000600000000000000000029000000");
	client_cdb_pr_in(cdb, 0, 1024);
	cr_expect_eq(lt_helper_connect(&h), 0);
	cr_expect_eq(lt_helper_cmd(&h, fd, cdb, NULL, 0, &r), 0);
	cr_expect_eq(r.status, 2);
	cr_expect_eq(r.sense[2], 6);
	cr_expect_eq(r.sense[12], 0x29);
	cr_expect_eq(r.len, 0);
	close(fd);
	lt_helper_stop(&h);
}

Test(lunsim_fault, bad_words_are_refused)
{
	const char *const w1[] = { "latency=abc", NULL };
	const char *const w2[] = { "explode", NULL };
	char out[256];

	cr_assert_eq(lt_fault(f_lun, w1, NULL, 0), 2);
	cr_assert_eq(lt_fault(f_lun, w2, NULL, 0), 2);
	cr_assert_eq(lt_fault(f_lun, NULL, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "none\n");
}

Test(lunsim_fault, tools_refuse_non_luns)
{
	char bin[PATH_MAX], plain[PATH_MAX];
	const char *show[] = { bin, "show", plain, NULL };
	const char *again[] = { bin, "create", f_lun, NULL };
	int fd;

	lt_build_path(bin, sizeof(bin), "lunsim");
	snprintf(plain, sizeof(plain), "%s/plain", f_dir);
	fd = open(plain, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 8192), 0);
	close(fd);
	cr_assert_eq(lt_run(show, NULL, 0), 1);
	cr_assert_eq(lt_fault(plain, NULL, NULL, 0), 1);
	cr_assert_eq(lt_run(again, NULL, 0), 1, "create keeps a LUN");
}

Test(lunsim_fault, plain_files_pass_through)
{
	struct lt_drive d;
	struct lt_result r;
	char plain[PATH_MAX];
	int fd;

	snprintf(plain, sizeof(plain), "%s/plain", f_dir);
	fd = open(plain, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 8192), 0);
	close(fd);
	cr_assert_eq(lt_drive_start(&d, "A", plain, NULL), 0);
	cr_assert_eq(lt_drive_cmd(&d, f_tur, 6, NULL, 0, 0, &r), 0);
	cr_expect_eq(r.err, ENOTTY, "the real ioctl answered");
	lt_drive_stop(&d);
}
