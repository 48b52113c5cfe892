/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The closer (closer.c) on its own: fds handed to it are closed by its
 * threads and counted until their close starts, the loop hears of it;
 * and, as root with /dev/fuse, closes that wait for a FUSE daemon that
 * answers nothing hold only the closer's threads: closer_close() and
 * closer_free() return, fds beyond the threads stay counted, and
 * everything is closed and freed once the daemon goes.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>
#include <event2/thread.h>

#include <linux/fuse.h>

#include "prh/closer.h"
#include "fusesrv.h"
#include "harness.h"

#define TC_WAIT_MS 10000 /* bound on every wait */
#define TC_THREADS 16	 /* the closer's threads at the most */

static struct {
	struct event_base *base;
	struct closer *closer;
	atomic_uint count;
	unsigned freed; /* freed() calls (loop thread: this one) */
	struct fusesrv fuse;
	char dir[64];
} tc;

/* closer's freed callback. */
static void
tc_freed(void *arg)
{
	(void)arg;
	tc.freed++;
}

/* Fixture: a base with thread support and a closer counting in tc. */
static void
tc_setup(void)
{
	memset(&tc, 0, sizeof(tc));
	cr_assert_eq(evthread_use_pthreads(), 0);
	tc.base = event_base_new();
	cr_assert_not_null(tc.base);
	cr_assert_eq(closer_new(tc.base, &tc.count, tc_freed, NULL, &tc.closer),
	    0);
}

/* Fixture end: the FUSE daemon first (a closer thread may wait for it),
 * then the closer and the base. */
static void
tc_teardown(void)
{
	fusesrv_stop(&tc.fuse);
	closer_free(tc.closer);
	event_base_free(tc.base);
	if (tc.dir[0] != '\0')
		th_rmtree(tc.dir);
}

TestSuite(closer, .init = tc_setup, .fini = tc_teardown, .timeout = 30);

/* Threads of this process. */
static int
tc_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Run the loop until the count is n (each change is followed by the
 * closer's event). */
static void
tc_loop_until_count(unsigned n)
{
	while (atomic_load(&tc.count) != n)
		cr_assert_eq(event_base_loop(tc.base,
				 EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY),
		    0);
}

Test(closer, every_fd_is_closed_counted_and_reported)
{
	enum {
		N = 50
	};
	int rd[N], wr[N], p[2], base = tc_threads();
	struct pollfd pfd;

	for (int i = 0; i < N; i++) {
		cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
		rd[i] = p[0];
		wr[i] = p[1];
	}
	for (int i = 0; i < N; i++)
		closer_close(tc.closer, wr[i]);
	/* Each write end goes: its read end sees the hang-up. */
	for (int i = 0; i < N; i++) {
		pfd.fd = rd[i];
		pfd.events = POLLIN;
		cr_assert_eq(poll(&pfd, 1, TC_WAIT_MS), 1, "pipe %d kept", i);
		cr_expect(pfd.revents & POLLHUP);
		close(rd[i]);
	}
	tc_loop_until_count(0);
	/* The last activation may not have run yet. */
	cr_assert_eq(event_base_loop(tc.base, EVLOOP_NONBLOCK), 1);
	cr_expect_geq(tc.freed, 1, "the loop was told");
	cr_expect_leq(tc_threads(), base + TC_THREADS);
}

/* Mount the test FUSE file system in a mount namespace of this process
 * and open n fds on its file, then stall its daemon; skips unless root
 * with /dev/fuse. */
static void
tc_stalled_fuse(int *fds, int n)
{
	char mnt[128];
	int r;

	if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0)
		cr_skip_test("needs root and /dev/fuse");
	cr_assert_eq(unshare(CLONE_NEWNS), 0);
	cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	snprintf(tc.dir, sizeof(tc.dir), "/tmp/prh-tcloser.XXXXXX");
	cr_assert_not_null(mkdtemp(tc.dir));
	snprintf(mnt, sizeof(mnt), "%s/fuse", tc.dir);
	cr_assert_eq(mkdir(mnt, 0755), 0);
	r = fusesrv_start(&tc.fuse, mnt);
	if (r == -ENODEV || r == -ENOENT)
		cr_skip_test("FUSE not available: %s", strerror(-r));
	cr_assert_eq(r, 0, "mount: %s", strerror(-r));
	for (int i = 0; i < n; i++) {
		fds[i] = open(tc.fuse.file, O_RDONLY | O_CLOEXEC);
		cr_assert_geq(fds[i], 0, "%s", strerror(errno));
	}
	fusesrv_stall(&tc.fuse);
}

Test(closer, closes_waiting_for_a_stalled_fuse_daemon_hold_only_threads)
{
	enum {
		N = TC_THREADS + 4
	};
	int fds[N], base;

	tc_stalled_fuse(fds, N);
	base = tc_threads();
	/* None of these waits: the FLUSH of each close goes from a closer
	 * thread, and the daemon answers none. */
	for (int i = 0; i < N; i++)
		closer_close(tc.closer, fds[i]);
	/* Every thread is in a close() whose FLUSH the daemon got and
	 * never answers; the fds beyond them wait, still counted. */
	tc_loop_until_count(N - TC_THREADS);
	for (int i = 0; i < TC_WAIT_MS / 10 &&
	     fusesrv_seen(&tc.fuse, FUSE_FLUSH, true) < TC_THREADS;
	     i++)
		poll(NULL, 0, 10); /* the daemon's counter has no event */
	cr_expect_eq(fusesrv_seen(&tc.fuse, FUSE_FLUSH, true), TC_THREADS);
	cr_expect_eq(atomic_load(&tc.count), N - TC_THREADS);
	cr_expect_eq(tc_threads(), base + TC_THREADS);
	/* The daemon goes: every close returns, the rest are closed. */
	fusesrv_stop(&tc.fuse);
	tc_loop_until_count(0);
}

Test(closer, free_returns_while_a_close_waits)
{
	int fd, base;

	tc_stalled_fuse(&fd, 1);
	base = tc_threads();
	closer_close(tc.closer, fd);
	tc_loop_until_count(0);
	/* The thread waits in close(): closer_free() leaves the closer to
	 * it. */
	closer_free(tc.closer);
	tc.closer = NULL;
	cr_expect_eq(tc_threads(), base + 1);
	/* The daemon goes (its thread too): the closer thread's close
	 * returns, it frees the closer and exits (a use after free would
	 * show under ASan). */
	fusesrv_stop(&tc.fuse);
	for (int i = 0; i < TC_WAIT_MS / 10 && tc_threads() > base - 1; i++)
		poll(NULL, 0, 10); /* a thread's exit has no event here */
	cr_expect_eq(tc_threads(), base - 1);
}
