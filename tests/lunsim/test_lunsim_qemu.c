/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The block-device mode (the default; --regular-file turns it off): a
 * preloaded program sees the LUN as a block device of the LUN's size, the
 * helper's device policy as a whole SCSI disk, and QEMU 7.2 starts with
 * host_device + scsi-block + pr-manager-helper on it, the helper itself
 * running under lunsim.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lunsim_test.h"

#define Q_SIZE (8ULL << 20)
#define QEMU   "/usr/bin/qemu-system-x86_64"

static char q_dir[LT_DIR_MAX], q_lun[PATH_MAX];

/* A LUN of Q_SIZE bytes. */
static void
q_setup(void)
{
	cr_assert_eq(lt_tmpdir(q_dir), 0);
	snprintf(q_lun, sizeof(q_lun), "%s/q.lun", q_dir);
	cr_assert_eq(lt_create_lun(q_lun, Q_SIZE), 0);
}

/* Remove the files. */
static void
q_teardown(void)
{
	lt_rmdir(q_dir);
}

TestSuite(lunsim_qemu, .init = q_setup, .fini = q_teardown, .timeout = 60);

/* Run lunsim-drive --stat under lunsim with extra launcher flag. */
static void
q_stat(const char *flag, char *out, size_t len)
{
	char bin[PATH_MAX], drv[PATH_MAX];
	const char *argv[] = { bin, flag, "--", drv, "--stat", q_lun, NULL };

	lt_build_path(bin, sizeof(bin), "lunsim");
	lt_build_path(drv, sizeof(drv), "tests/lunsim/lunsim-drive");
	if (flag == NULL) {
		argv[1] = "--";
		argv[2] = drv;
		argv[3] = "--stat";
		argv[4] = q_lun;
		argv[5] = NULL;
	}
	cr_assert_eq(lt_run(argv, out, len), 0);
}

Test(lunsim_qemu, fstat_reports_block_device)
{
	char out[512], want[512];
	unsigned minor;

	q_stat("--block-device", out, sizeof(out));
	cr_assert_eq(sscanf(out, "type=blk rdev=240:%u ", &minor), 1, "%s",
	    out);
	cr_assert_neq(minor, 0, "%s", out);
	snprintf(want, sizeof(want),
	    "type=blk rdev=240:%u size64=8388608 "
	    "seekend=8388608 ssz=512 pbsz=512 ro=0 sgver=30527 rsv=32768\n",
	    minor);
	cr_assert_str_eq(out, want);
	/* The same without the flag: a block device is the default. */
	q_stat(NULL, out, sizeof(out));
	cr_assert_str_eq(out, want);
}

/* Run lunsim-drive --policy under lunsim on lun. */
static void
q_policy(const char *lun, char *out, size_t len)
{
	char bin[PATH_MAX], drv[PATH_MAX];
	const char *argv[] = { bin, "--", drv, "--policy", lun, NULL };

	lt_build_path(bin, sizeof(bin), "lunsim");
	lt_build_path(drv, sizeof(drv), "tests/lunsim/lunsim-drive");
	cr_assert_eq(lt_run(argv, out, len), 0);
}

Test(lunsim_qemu, helper_policy_sees_a_whole_scsi_disk)
{
	char out[512], want[512], other[PATH_MAX];
	unsigned minor, minor2;

	q_policy(q_lun, out, sizeof(out));
	cr_assert_eq(sscanf(out, "node=block device 240:%u ", &minor), 1, "%s",
	    out);
	snprintf(want, sizeof(want),
	    "node=block device 240:%u kind=scsi-disk name=q.lun "
	    "unit=240:0:0:%u wwid=fakesys.%05x diskseq=yes\n",
	    minor, minor, minor);
	cr_assert_str_eq(out, want);
	/* Another LUN is another device (its own isolation key). */
	snprintf(other, sizeof(other), "%s/r.lun", q_dir);
	cr_assert_eq(lt_create_lun(other, Q_SIZE), 0);
	q_policy(other, out, sizeof(out));
	cr_assert_eq(sscanf(out, "node=block device 240:%u ", &minor2), 1, "%s",
	    out);
	cr_expect_neq(minor, minor2, "two LUNs, one minor: %s", out);
	cr_expect_not_null(strstr(out, " kind=scsi-disk name=r.lun "), "%s",
	    out);
}

/* Run lunsim-drive --diskseq under lunsim on lun: the ioctl's and
 * sysfs's numbers, which must agree. */
static unsigned long long
q_diskseq(const char *lun)
{
	char bin[PATH_MAX], drv[PATH_MAX], out[256];
	const char *argv[] = { bin, "--", drv, "--diskseq", lun, NULL };
	unsigned long long a, b;

	lt_build_path(bin, sizeof(bin), "lunsim");
	lt_build_path(drv, sizeof(drv), "tests/lunsim/lunsim-drive");
	cr_assert_eq(lt_run(argv, out, sizeof(out)), 0);
	cr_assert_eq(sscanf(out, "ioctl=%llu sysfs=%llu\n", &a, &b), 2, "%s",
	    out);
	cr_expect_eq(a, b, "%s", out);
	cr_expect_neq(a, 0, "%s", out);
	return a;
}

Test(lunsim_qemu, a_lun_formatted_again_is_another_disk)
{
	char bin[PATH_MAX], out[512], other[PATH_MAX];
	const char *argv[] = { bin, "create", q_lun, "--size", "8388608",
		"--force", NULL };
	unsigned long long seq = q_diskseq(q_lun), minor, minor2;

	/* Stable while the LUN is the same. */
	cr_expect_eq(q_diskseq(q_lun), seq);
	q_policy(q_lun, out, sizeof(out));
	cr_assert_eq(sscanf(out, "node=block device 240:%llu ", &minor), 1);
	/* Formatted again in place: the same inode and device number, a new
	 * sequence number (as a device number the kernel reuses). */
	lt_build_path(bin, sizeof(bin), "lunsim");
	cr_assert_eq(lt_run(argv, NULL, 0), 0);
	q_policy(q_lun, out, sizeof(out));
	cr_assert_eq(sscanf(out, "node=block device 240:%llu ", &minor2), 1);
	cr_expect_eq(minor, minor2, "%s", out);
	cr_expect_neq(q_diskseq(q_lun), seq);
	/* Another LUN, another number. */
	snprintf(other, sizeof(other), "%s/s.lun", q_dir);
	cr_assert_eq(lt_create_lun(other, Q_SIZE), 0);
	cr_expect_neq(q_diskseq(other), q_diskseq(q_lun));
}

Test(lunsim_qemu, regular_file_with_the_flag)
{
	char out[512];

	q_stat("--regular-file", out, sizeof(out));
	cr_assert_str_eq(out,
	    "type=reg rdev=0:0 size64=8388608 "
	    "seekend=8392704 ssz=512 pbsz=512 ro=0 sgver=30527 rsv=32768\n");
}

/* Write all of s to fd. */
static void
q_write(int fd, const char *s)
{
	size_t len = strlen(s);

	cr_assert_eq(write(fd, s, len), (ssize_t)len);
}

Test(lunsim_qemu, qemu_starts_with_scsi_block_and_pr_manager)
{
	static const char qmp[] = "{\"execute\":\"qmp_capabilities\"}\n"
				  "{\"execute\":\"query-pr-managers\"}\n"
				  "{\"execute\":\"quit\"}\n";
	struct lt_helper h = { .conn = -1 };
	char bin[PATH_MAX], sock[PATH_MAX], obj[PATH_MAX + 64];
	char bdev[PATH_MAX + 96], out[8192];
	const char *argv[] = { bin, "--block-device", "--initiator", "Q", "--",
		QEMU, "-machine", "q35", "-accel", "tcg", "-nodefaults",
		"-display", "none", "-S", "-qmp", "stdio", "-object", obj,
		"-blockdev", bdev, "-device", "virtio-scsi-pci,id=scsi0",
		"-device", "scsi-block,bus=scsi0.0,drive=lun0", NULL };
	int in[2], outp[2], rc;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (access(QEMU, X_OK) != 0) {
		q_teardown();
		cr_skip_test("%s is not installed", QEMU);
	}
	if (access("/usr/bin/qemu-pr-helper", X_OK) != 0 || geteuid() != 0) {
		q_teardown();
		cr_skip_test("needs /usr/bin/qemu-pr-helper and root");
	}
	lt_build_path(bin, sizeof(bin), "lunsim");
	snprintf(sock, sizeof(sock), "%s/h.sock", q_dir);
	snprintf(obj, sizeof(obj), "pr-manager-helper,id=pr0,path=%s", sock);
	snprintf(bdev, sizeof(bdev),
	    "node-name=lun0,driver=host_device,"
	    "filename=%s,pr-manager=pr0",
	    q_lun);
	cr_assert_eq(lt_helper_start(&h, "/usr/bin/qemu-pr-helper", "H", sock),
	    0);
	cr_assert_eq(pipe(in), 0);
	cr_assert_eq(pipe(outp), 0);
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(outp[1], 1);
		close(in[1]);
		close(outp[0]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	q_write(in[1], qmp);
	while (got + 1 < sizeof(out) &&
	    (n = read(outp[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(in[1]);
	close(outp[0]);
	rc = lt_wait_pid(pid, LT_TIMEOUT_MS);
	if (rc == -ETIMEDOUT) {
		kill(pid, SIGKILL);
		lt_wait_pid(pid, LT_TIMEOUT_MS);
	}
	lt_helper_stop(&h);
	cr_assert_eq(rc, 0, "qemu exit %d, output: %s", rc, out);
	cr_assert(strstr(out, "\"QMP\"") != NULL, "%s", out);
	cr_assert(strstr(out, "{\"connected\": true, \"id\": \"pr0\"}") != NULL,
	    "%s", out);
	cr_assert(strstr(out, "host-qmp-quit") != NULL, "%s", out);
}

/* Send a driver line with iovecs; the dxfer token is needed for "iov". */
static void
q_io(struct lt_drive *d, const uint8_t *cdb, const uint8_t *param, size_t plen,
    unsigned dxfer, struct lt_result *r)
{
	cr_assert_eq(lt_drive_send_how(d, cdb, 10, param, plen, dxfer, true),
	    0);
	cr_assert_eq(lt_drive_recv(d, r), 0);
}

Test(lunsim_qemu, read_write_through_iovecs_and_conflicts)
{
	uint8_t w10[10] = { 0x2a, 0, 0, 0, 0, 7, 0, 0, 1, 0 };
	uint8_t r10[10] = { 0x28, 0, 0, 0, 0, 7, 0, 0, 1, 0 };
	uint8_t block[512], p[24];
	struct lt_drive a, b;
	struct lt_result r;
	uint8_t reg[10] = { 0x5f, 0, 0, 0, 0, 0, 0, 0, 24, 0 };
	uint8_t res[10] = { 0x5f, 1, 3, 0, 0, 0, 0, 0, 24, 0 };
	size_t i;

	for (i = 0; i < sizeof(block); i++)
		block[i] = (uint8_t)(i * 7 + 1);
	cr_assert_eq(lt_drive_start(&a, "A", q_lun, NULL), 0);
	cr_assert_eq(lt_drive_start(&b, "B", q_lun, NULL), 0);
	q_io(&a, w10, block, sizeof(block), 0, &r);
	cr_assert_eq(r.status, 0);
	q_io(&b, r10, NULL, 0, 512, &r);
	cr_assert_eq(r.status, 0);
	cr_assert_eq(r.len, 512);
	cr_assert_eq(memcmp(r.data, block, 512), 0, "B reads what A wrote");
	/* A takes Exclusive Access: B can neither read nor write */
	memset(p, 0, sizeof(p));
	p[15] = 0xa;
	cr_assert_eq(lt_drive_cmd(&a, reg, 10, p, 24, 0, &r), 0);
	cr_assert_eq(r.status, 0);
	p[7] = 0xa;
	p[15] = 0;
	cr_assert_eq(lt_drive_cmd(&a, res, 10, p, 24, 0, &r), 0);
	cr_assert_eq(r.status, 0);
	q_io(&b, r10, NULL, 0, 512, &r);
	cr_assert_eq(r.status, 0x18);
	cr_assert_eq(r.resid, 512);
	q_io(&b, w10, block, sizeof(block), 0, &r);
	cr_assert_eq(r.status, 0x18);
	q_io(&a, r10, NULL, 0, 512, &r);
	cr_assert_eq(r.status, 0);
	cr_assert_eq(memcmp(r.data, block, 512), 0);
	lt_drive_stop(&a);
	lt_drive_stop(&b);
}
