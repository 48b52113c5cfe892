/* SPDX-License-Identifier: GPL-2.0-or-later */
/* How callers reach a simulated LUN: an O_DIRECT descriptor (QEMU with
 * cache='none'), a descriptor its owner opened held by a process that may
 * not reopen the file (the helper libvirt starts, after libvirt chowned
 * the LUN to QEMU's user), and --port (one initiator port per path).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lunsim_test.h"

static char a_dir[LT_DIR_MAX], a_lun[PATH_MAX];
static struct lt_drive a_drv, a_drv2;

/* A LUN in a private directory. */
static void
a_setup(void)
{
	cr_assert_eq(lt_tmpdir(a_dir), 0);
	snprintf(a_lun, sizeof(a_lun), "%s/a.lun", a_dir);
	cr_assert_eq(lt_create_lun(a_lun, 1 << 20), 0);
}

/* Stop the drivers, remove the files. */
static void
a_teardown(void)
{
	if (a_drv.pid > 0)
		lt_drive_stop(&a_drv);
	if (a_drv2.pid > 0)
		lt_drive_stop(&a_drv2);
	lt_rmdir(a_dir);
}

TestSuite(lunsim_access, .init = a_setup, .fini = a_teardown, .timeout = 60);

/* Run a PR OUT REGISTER (key 0 -> sakey) through d: its result text. */
static void
a_register(struct lt_drive *d, uint64_t key, uint64_t sakey, char *out,
    size_t len)
{
	uint8_t cdb[10] = { 0x5f, 0x00, 0, 0, 0, 0, 0, 0, 24, 0 }, p[24];
	struct lt_result r;

	lt_param(p, key, sakey, 0, NULL, 0);
	cr_assert_eq(lt_drive_cmd(d, cdb, sizeof(cdb), p, 24, 0, &r), 0);
	lt_result_str(cdb, &r, out, len);
}

/* Run PR IN READ KEYS through d: its result text. */
static void
a_read_keys(struct lt_drive *d, char *out, size_t len)
{
	uint8_t cdb[10] = { 0x5e, 0x00, 0, 0, 0, 0, 0, 0x20, 0x00, 0 };
	struct lt_result r;

	cr_assert_eq(lt_drive_cmd(d, cdb, sizeof(cdb), NULL, 0, 8192, &r), 0);
	lt_result_str(cdb, &r, out, len);
}

/* Expect REGISTER of sakey through d to succeed. */
static void
a_expect_register(struct lt_drive *d, uint64_t sakey)
{
	char out[512];

	a_register(d, 0, sakey, out, sizeof(out));
	cr_expect_str_eq(out, "ok", "REGISTER 0x%llx",
	    (unsigned long long)sakey);
}

/* Expect READ KEYS through d to answer want. */
static void
a_expect_keys(struct lt_drive *d, const char *want)
{
	char out[512];

	a_read_keys(d, out, sizeof(out));
	cr_expect_str_eq(out, want);
}

/* Expect "lunsim show" of the LUN to hold needle. */
static void
a_expect_shown(const char *needle)
{
	char bin[PATH_MAX], out[1024];
	const char *argv[] = { bin, "show", a_lun, NULL };

	lt_build_path(bin, sizeof(bin), "lunsim");
	cr_assert_eq(lt_run(argv, out, sizeof(out)), 0);
	cr_expect(strstr(out, needle) != NULL, "%s", out);
}

Test(lunsim_access, o_direct_descriptor)
{
	static const char *const dopts[] = { "--direct", NULL };
	uint8_t wr[10] = { 0x2a, 0, 0, 0, 0, 3, 0, 0, 1, 0 }, blk[512];
	uint8_t rd[10] = { 0x28, 0, 0, 0, 0, 3, 0, 0, 1, 0 };
	char bin[PATH_MAX], drv[PATH_MAX], out[512];
	const char *argv[] = { bin, "--block-device", "--", drv, "--stat",
		"--direct", a_lun, NULL };
	struct lt_result r;
	int fd = open(a_lun, O_RDWR | O_DIRECT);

	if (fd < 0)
		cr_skip_test("O_DIRECT not supported here: %s",
		    strerror(errno));
	close(fd);
	cr_assert_eq(lt_drive_start_opts(&a_drv, "A", NULL, dopts, a_lun), 0);
	a_expect_register(&a_drv, 0xa1);
	a_expect_keys(&a_drv, "ok g1 k:a1");
	/* The data area through the same descriptor. */
	memset(blk, 0x5a, sizeof(blk));
	cr_assert_eq(lt_drive_cmd(&a_drv, wr, sizeof(wr), blk, sizeof(blk), 0,
			 &r),
	    0);
	cr_expect_eq(r.status, 0, "WRITE(10) status 0x%x", r.status);
	cr_assert_eq(lt_drive_cmd(&a_drv, rd, sizeof(rd), NULL, 0, 512, &r), 0);
	cr_expect_eq(r.status, 0, "READ(10) status 0x%x", r.status);
	cr_expect_eq(r.len, 512);
	cr_expect_eq(memcmp(r.data, blk, sizeof(blk)), 0, "block read back");
	/* What host_device asks an O_DIRECT block device. */
	lt_build_path(bin, sizeof(bin), "lunsim");
	lt_build_path(drv, sizeof(drv), "tests/lunsim/lunsim-drive");
	cr_assert_eq(lt_run(argv, out, sizeof(out)), 0);
	cr_expect(strstr(out, "type=blk ") != NULL, "%s", out);
	cr_expect(strstr(out, " size64=1048576 ") != NULL, "%s", out);
	cr_expect(strstr(out, " seekend=1048576 ") != NULL, "%s", out);
}

/* The LUN owned by uid 65534 with mode; a driver that opened it as root
 * and then became uid 65533 (no owner, no capability) registers, reads
 * the key back, and the file has it. */
static void
a_other_owner(mode_t mode)
{
	static const char *const dopts[] = { "--setuid", "65533", NULL };

	if (geteuid() != 0)
		cr_skip_test("needs root to change owners and ids");
	cr_assert_eq(chmod(a_dir, 0755), 0);
	cr_assert_eq(chown(a_lun, 65534, 65534), 0);
	cr_assert_eq(chmod(a_lun, mode), 0);
	cr_assert_eq(lt_drive_start_opts(&a_drv, "A", NULL, dopts, a_lun), 0);
	a_expect_register(&a_drv, 0xa1);
	a_expect_keys(&a_drv, "ok g1 k:a1");
	a_expect_shown("initiator A key 0xa1");
}

Test(lunsim_access, owner_opened_fd_file_readable)
{
	a_other_owner(0644);
}

Test(lunsim_access, owner_opened_fd_file_unreadable)
{
	a_other_owner(0600);
}

Test(lunsim_access, port_per_path)
{
	char b_lun[PATH_MAX + 8], port[PATH_MAX + 16];
	const char *extra[] = { "--port", port, NULL };

	snprintf(b_lun, sizeof(b_lun), "%s/b.lun", a_dir);
	cr_assert_eq(link(a_lun, b_lun), 0);
	snprintf(port, sizeof(port), "%s=B", b_lun);
	/* Same options, default initiator A: b.lun's commands come from B. */
	cr_assert_eq(lt_drive_start(&a_drv, "A", a_lun, extra), 0);
	cr_assert_eq(lt_drive_start(&a_drv2, "A", b_lun, extra), 0);
	a_expect_register(&a_drv, 0xa1);
	/* From A this would be a conflict (A holds key 0xa1). */
	a_expect_register(&a_drv2, 0xb2);
	a_expect_keys(&a_drv2, "ok g2 k:a1,b2");
	a_expect_shown("initiator A key 0xa1");
	a_expect_shown("initiator B key 0xb2");
}

Test(lunsim_access, port_option_checked)
{
	char bin[PATH_MAX];
	const char *argv[] = { bin, "--port", "relative=B", "--", "true",
		NULL };

	lt_build_path(bin, sizeof(bin), "lunsim");
	cr_expect_eq(lt_run(argv, NULL, 0), 2);
	argv[2] = "/x.lun=";
	cr_expect_eq(lt_run(argv, NULL, 0), 2);
}
