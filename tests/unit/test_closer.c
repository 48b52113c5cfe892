/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The closer (closer.c) on its own: fds handed to it are closed by its
 * threads and counted until their close starts, the loop hears of it and
 * its tick stops; when no thread can be started the fd waits, counted,
 * never closed by the caller, until the loop's tick starts one; a
 * connection socket is closed by the caller only when nothing is left to
 * read in it; and, as
 * root with /dev/fuse, closes that wait for a FUSE daemon that answers
 * nothing hold only the closer's threads: closer_close() and
 * closer_free() return, fds beyond the threads stay counted, one client
 * holds at most CLOSER_PER_CLIENT threads while the fds of others are
 * closed, and everything is closed and freed once the daemon goes.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
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

int __real_pthread_create(pthread_t *t, const pthread_attr_t *attr,
    void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr,
    void *(*fn)(void *), void *arg);

static atomic_bool tc_no_threads; /* pthread_create fails */

/* pthread_create, which fails with EAGAIN while tc_no_threads is set
 * (linked with --wrap: the closer's calls come here). */
int
__wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr,
    void *(*fn)(void *), void *arg)
{
	if (atomic_load(&tc_no_threads))
		return EAGAIN;
	return __real_pthread_create(t, attr, fn, arg);
}

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

/* Whether fd is readable or hung up within ms. */
static bool
tc_ready(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 1;
}

/* Whether the read end rd of a pipe whose write end went to the closer
 * sees it closed within TC_WAIT_MS, the loop running meanwhile (its tick
 * wakes a thread for fds fewer than a batch); the loop passes taken in
 * *passes (NULL: not wanted). */
static bool
tc_closed(int rd, int *passes)
{
	long long t0 = th_now_ms();
	int n = 0;

	while (!tc_ready(rd, 0) && th_now_ms() - t0 < TC_WAIT_MS) {
		cr_assert_geq(event_base_loop(tc.base, EVLOOP_ONCE), 0);
		n++;
	}
	if (passes != NULL)
		*passes = n;
	return tc_ready(rd, 0);
}

Test(closer, every_fd_is_closed_counted_and_reported)
{
	enum {
		N = 50
	};
	int rd[N], wr[N], p[2], base = tc_threads();

	for (int i = 0; i < N; i++) {
		cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
		rd[i] = p[0];
		wr[i] = p[1];
	}
	for (int i = 0; i < N; i++)
		closer_close(tc.closer, wr[i], CLOSER_NEUTRAL);
	/* Each write end goes: its read end sees the hang-up. */
	for (int i = 0; i < N; i++) {
		cr_assert(tc_closed(rd[i], NULL), "pipe %d kept", i);
		close(rd[i]);
	}
	tc_loop_until_count(0);
	/* The closer's tick tells the loop, and stops once nothing is
	 * queued: the loop is left with no event. */
	while (event_base_loop(tc.base, EVLOOP_ONCE) == 0)
		;
	cr_expect_geq(tc.freed, 1, "the loop was told");
	cr_expect_leq(tc_threads(), base + TC_THREADS);
}

Test(closer, an_fd_waits_counted_while_no_thread_starts)
{
	int p[2], base = tc_threads();

	atomic_store(&tc_no_threads, true);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	closer_close(tc.closer, p[1], CLOSER_NEUTRAL);
	/* Not closed here, and counted. */
	cr_expect(!th_readable(p[0], 0), "closed by the caller");
	cr_expect_eq(atomic_load(&tc.count), 1);
	/* The loop's timer tries again (and fails again). */
	cr_assert_eq(event_base_loop(tc.base, EVLOOP_ONCE), 0);
	cr_expect(!th_readable(p[0], 0), "closed without a thread");
	cr_expect_eq(tc_threads(), base);
	/* Threads can start again: the next try closes it. */
	atomic_store(&tc_no_threads, false);
	tc_loop_until_count(0);
	cr_expect(th_readable(p[0], TC_WAIT_MS), "never closed");
	close(p[0]);
}

Test(closer, a_socket_is_closed_at_once_only_with_nothing_to_read)
{
	int sv[2], p[2];

	/* Empty: closed by the caller (its peer sees the end at once),
	 * not counted. */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	atomic_store(&tc_no_threads, true); /* no thread could do it */
	closer_close_socket(tc.closer, sv[0], CLOSER_NEUTRAL);
	cr_expect(th_readable(sv[1], 0), "not closed at once");
	cr_expect_eq(atomic_load(&tc.count), 0);
	close(sv[1]);
	/* A message left in it (with an fd): its close goes to a thread,
	 * and the fd it carries goes with it. */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(th_send_fds(sv[1], "x", 1, &p[1], 1), 0);
	close(p[1]);
	closer_close_socket(tc.closer, sv[0], CLOSER_NEUTRAL);
	cr_expect(!th_readable(p[0], 0), "closed by the caller");
	cr_expect_eq(atomic_load(&tc.count), 1);
	/* Shut down while it waits: the peer can add nothing more. */
	cr_expect_eq(send(sv[1], "y", 1, MSG_NOSIGNAL), -1);
	cr_expect_eq(errno, EPIPE);
	atomic_store(&tc_no_threads, false);
	tc_loop_until_count(0);
	cr_expect(th_readable(p[0], TC_WAIT_MS), "the fd in it was kept");
	close(sv[1]);
	close(p[0]);
	/* A byte sent out of band, with an fd, is left to read too. */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(th_send_fds_flags(sv[1], "x", 1, &p[1], 1, MSG_OOB), 0);
	close(p[1]);
	atomic_store(&tc_no_threads, true);
	closer_close_socket(tc.closer, sv[0], CLOSER_NEUTRAL);
	cr_expect(!th_readable(p[0], 0), "closed by the caller");
	cr_expect_eq(atomic_load(&tc.count), 1);
	atomic_store(&tc_no_threads, false);
	tc_loop_until_count(0);
	cr_expect(th_readable(p[0], TC_WAIT_MS), "the fd in it was kept");
	close(sv[1]);
	close(p[0]);
}

/* Mount the test FUSE file system in a mount namespace of this process
 * and open n fds on its file, then stall its daemon; skips unless root
 * with /dev/fuse. */
static void
tc_stalled_fuse(int *fds, int n)
{
	const char *why;
	int r;

	snprintf(tc.dir, sizeof(tc.dir), "/tmp/prh-tcloser.XXXXXX");
	cr_assert_not_null(mkdtemp(tc.dir));
	r = fusesrv_start_private(&tc.fuse, tc.dir, &why);
	if (why != NULL)
		cr_skip_test("%s: %s", why, strerror(-r));
	cr_assert_eq(r, 0, "mount: %s", strerror(-r));
	for (int i = 0; i < n; i++) {
		fds[i] = open(tc.fuse.file, O_RDONLY | O_CLOEXEC);
		cr_assert_geq(fds[i], 0, "%s", strerror(errno));
	}
	fusesrv_stall(&tc.fuse);
}

/* Poll until the stalled daemon has seen n FLUSH requests (its counter
 * has no event), running the loop meanwhile (its tick wakes threads). */
static void
tc_wait_flushes(unsigned n)
{
	for (int i = 0; i < TC_WAIT_MS / 10 &&
	     fusesrv_seen(&tc.fuse, FUSE_FLUSH, true) < n;
	     i++) {
		cr_assert_geq(event_base_loop(tc.base, EVLOOP_NONBLOCK), 0);
		poll(NULL, 0, 10);
	}
}

Test(closer, closes_waiting_for_a_stalled_fuse_daemon_hold_only_threads)
{
	enum {
		CLIENTS = TC_THREADS / CLOSER_PER_CLIENT,
		PER = CLOSER_PER_CLIENT + 1,
		N = CLIENTS * PER
	};
	int fds[N], base;

	tc_stalled_fuse(fds, N);
	base = tc_threads();
	/* None of these waits: the FLUSH of each close goes from a closer
	 * thread, and the daemon answers none.  Four clients (each may hold
	 * CLOSER_PER_CLIENT threads) take all of them. */
	for (int i = 0; i < N; i++)
		closer_close(tc.closer, fds[i], 1 + (uint64_t)(i % CLIENTS));
	/* Every thread is in a close() whose FLUSH the daemon got and
	 * never answers; the fds beyond them wait, still counted. */
	tc_loop_until_count(N - TC_THREADS);
	tc_wait_flushes(TC_THREADS);
	cr_expect_eq(fusesrv_seen(&tc.fuse, FUSE_FLUSH, true), TC_THREADS);
	cr_expect_eq(atomic_load(&tc.count), N - TC_THREADS);
	cr_expect_eq(tc_threads(), base + TC_THREADS);
	for (unsigned k = 1; k <= CLIENTS; k++)
		cr_expect_eq(closer_client_pending(tc.closer, k), PER);
	/* The daemon goes: every close returns, the rest are closed. */
	fusesrv_stop(&tc.fuse);
	tc_loop_until_count(0);
}

/* Poll until client has at most n fds queued or in close(): the count
 * then (a thread's count goes down after its close returns, which has
 * no event here). */
static unsigned
tc_wait_pending(uint64_t client, unsigned n)
{
	for (int i = 0; i < TC_WAIT_MS / 10 &&
	     closer_client_pending(tc.closer, client) > n;
	     i++)
		poll(NULL, 0, 10);
	return closer_client_pending(tc.closer, client);
}

Test(closer, a_stalled_client_holds_its_share_of_threads_only)
{
	enum {
		STUCK = CLOSER_PER_CLIENT + 2,		    /* A's FUSE files */
		MORE = CLOSER_CLIENT_QUEUE_MAX - STUCK + 1, /* A's pipes */
		B = 40					    /* B's pipes */
	};
	int fds[STUCK], a_rd[MORE], b_rd[B], p[2], base;
	unsigned eased;
	struct pollfd pfd = { .events = POLLIN };

	tc_stalled_fuse(fds, STUCK);
	base = tc_threads();
	eased = closer_clients_eased(tc.closer);
	/* Client 1 (A): closes that never return, then fds that would not
	 * wait, queued behind them. */
	for (int i = 0; i < STUCK; i++)
		closer_close(tc.closer, fds[i], 1);
	tc_wait_flushes(CLOSER_PER_CLIENT);
	for (int i = 0; i < MORE; i++) {
		cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
		a_rd[i] = p[0];
		closer_close(tc.closer, p[1], 1);
	}
	/* Client 2 (B): its fds are closed past A's queue. */
	for (int i = 0; i < B; i++) {
		cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
		b_rd[i] = p[0];
		closer_close(tc.closer, p[1], 2);
	}
	tc_loop_until_count(STUCK + MORE - CLOSER_PER_CLIENT);
	for (int i = 0; i < B; i++) {
		pfd.fd = b_rd[i];
		cr_expect_eq(poll(&pfd, 1, TC_WAIT_MS), 1);
		cr_expect(pfd.revents & POLLHUP, "B's pipe %d still open", i);
	}
	/* A holds CLOSER_PER_CLIENT threads, no more; none of its pipes is
	 * closed. */
	cr_expect_eq(fusesrv_seen(&tc.fuse, FUSE_FLUSH, true),
	    CLOSER_PER_CLIENT);
	cr_expect_eq(closer_client_pending(tc.closer, 1), STUCK + MORE);
	cr_expect_eq(tc_wait_pending(2, 0), 0);
	for (int i = 0; i < MORE; i++) {
		pfd.fd = a_rd[i];
		cr_expect_eq(poll(&pfd, 1, 0), 0, "A's pipe %d closed", i);
	}
	cr_expect_eq(closer_clients_eased(tc.closer), eased);
	cr_expect_leq(tc_threads(), base + TC_THREADS);
	/* The daemon goes: A's closes return, its queue is closed, and the
	 * loop heard that A fell below the bound once. */
	fusesrv_stop(&tc.fuse);
	tc_loop_until_count(0);
	for (int i = 0; i < MORE; i++) {
		pfd.fd = a_rd[i];
		cr_expect_eq(poll(&pfd, 1, TC_WAIT_MS), 1);
	}
	cr_expect_eq(tc_wait_pending(1, 0), 0);
	cr_expect_eq(closer_clients_eased(tc.closer), eased + 1);
	for (int i = 0; i < MORE; i++)
		close(a_rd[i]);
	for (int i = 0; i < B; i++)
		close(b_rd[i]);
}

Test(closer, a_lone_fd_is_closed_past_closes_that_do_not_return)
{
	enum {
		STUCK = CLOSER_PER_CLIENT + 1 /* the last one queued */
	};
	int fds[STUCK], p[2], passes;

	tc_stalled_fuse(fds, STUCK);
	for (int i = 0; i < STUCK; i++)
		closer_close(tc.closer, fds[i], 1);
	tc_wait_flushes(CLOSER_PER_CLIENT);
	/* Nothing more can be taken: the tick backs off (1 + 2 + ... ms). */
	for (int i = 0; i < 8; i++)
		cr_assert_eq(event_base_loop(tc.base, EVLOOP_ONCE), 0);
	/* One fd of another client, far below a batch: the tick comes back
	 * for it and a thread closes it. */
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	closer_close(tc.closer, p[1], 2);
	cr_expect(tc_closed(p[0], &passes), "the pipe was kept");
	cr_log_info("closed after %d passes of the loop", passes);
	cr_expect_eq(closer_client_pending(tc.closer, 1), STUCK);
	cr_expect_eq(closer_client_pending(tc.closer, 2), 0);
	close(p[0]);
	fusesrv_stop(&tc.fuse);
	tc_loop_until_count(0);
}

Test(closer, free_returns_while_a_close_waits)
{
	int fd, base;

	tc_stalled_fuse(&fd, 1);
	base = tc_threads();
	closer_close(tc.closer, fd, CLOSER_NEUTRAL);
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
