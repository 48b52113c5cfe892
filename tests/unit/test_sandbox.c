/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the seccomp filter's ioctl rules (sandbox.c): in a child
 * process that enters the sandbox, each ioctl request is sent to
 * /dev/null, which answers ENOTTY to every request the filter lets
 * through; a request the filter stops fails with EPERM instead.  The
 * persistent-reservation ioctls of the kernel multipath mode pass only
 * when asked for, and never the ones the helper does not send; SG_IO and
 * BLKGETDISKSEQ (the device policy's) always, other block ioctls never.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/fs.h>
#include <linux/pr.h>
#include <scsi/sg.h>

#include <criterion/criterion.h>

#include "config.h"
#include "prh/sandbox.h"

/* Linux 6.19's read ioctls, which the helper does not send. */
#define TEST_IOC_PR_READ_KEYS	     _IOWR('p', 206, uint64_t[2])
#define TEST_IOC_PR_READ_RESERVATION _IOR('p', 207, uint64_t[2])

/* The ioctls asked about, in order. */
static const unsigned long requests[] = {
	IOC_PR_REGISTER,
	IOC_PR_RESERVE,
	IOC_PR_RELEASE,
	IOC_PR_PREEMPT,
	IOC_PR_PREEMPT_ABORT,
	IOC_PR_CLEAR,
	TEST_IOC_PR_READ_KEYS,
	TEST_IOC_PR_READ_RESERVATION,
	SG_IO,
	BLKGETDISKSEQ,
	BLKGETSIZE64,
};
#define NREQ (sizeof(requests) / sizeof(requests[0]))

/* In a child inside the sandbox (pr_ioctls as given), send each request
 * to /dev/null; errs[i] gets its errno. */
static void
probe(bool pr_ioctls, int errs[NREQ])
{
	int p[2], st;
	pid_t pid;

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		uint8_t arg[64] = { 0 };
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC), e[NREQ];

		if (fd < 0 || sandbox_enter(true, false, pr_ioctls) < 0)
			_exit(2);
		for (size_t i = 0; i < NREQ; i++)
			e[i] = ioctl(fd, requests[i], arg) < 0 ? errno : 0;
		_exit(write(p[1], e, sizeof(e)) == sizeof(e) ? 0 : 3);
	}
	close(p[1]);
	cr_assert_eq(read(p[0], errs, sizeof(int) * NREQ),
	    (ssize_t)(sizeof(int) * NREQ));
	close(p[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x",
	    st);
}

/* Skip without the filter. */
static void
need_seccomp(void)
{
#ifndef HAVE_LIBSECCOMP
	cr_skip_test("built without the seccomp filter");
#endif
}

Test(sandbox, pr_ioctls_pass_only_for_the_kernel_multipath_mode,
    .init = need_seccomp)
{
	int errs[NREQ];

	probe(true, errs);
	for (size_t i = 0; i < 6; i++)
		cr_expect_eq(errs[i], ENOTTY, "request %zu: %d", i, errs[i]);
	cr_expect_eq(errs[6], EPERM, "READ KEYS: %d", errs[6]);
	cr_expect_eq(errs[7], EPERM, "READ RESERVATION: %d", errs[7]);
	cr_expect_eq(errs[8], ENOTTY, "SG_IO: %d", errs[8]);
	cr_expect_eq(errs[9], ENOTTY, "BLKGETDISKSEQ: %d", errs[9]);
	cr_expect_eq(errs[10], EPERM, "BLKGETSIZE64: %d", errs[10]);
	probe(false, errs);
	for (size_t i = 0; i < 8; i++)
		cr_expect_eq(errs[i], EPERM, "request %zu: %d", i, errs[i]);
	cr_expect_eq(errs[8], ENOTTY, "SG_IO: %d", errs[8]);
	cr_expect_eq(errs[9], ENOTTY, "BLKGETDISKSEQ: %d", errs[9]);
	cr_expect_eq(errs[10], EPERM, "BLKGETSIZE64: %d", errs[10]);
}
