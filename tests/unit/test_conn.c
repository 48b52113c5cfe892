/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The connection state machine on its own: conn.c with the real dispatch
 * and pool on an event base, and no server, no listener, no helper
 * process.  The test thread is the client, on one end of a socketpair;
 * the loop runs on a thread of its own.  The device policy reads a sysfs
 * tree the test makes (device_set_sysfs_root), in which /dev/loop0 (7:0),
 * opened by the test, is a whole SCSI disk: SG_IO reaches it and fails
 * (EINVAL: the loop driver has no SCSI), which answers CHECK CONDITION; a
 * refused command answers CHECK CONDITION too, as SG_IO failing with
 * ENOTTY does, and the counters tell the two apart. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "prh/client.h"
#include "prh/closer.h"
#include "prh/cmd.h"
#include "prh/config.h"
#include "prh/conn.h"
#include "prh/device.h"
#include "prh/dispatch.h"
#include "prh/fdpass.h"
#include "prh/log.h"
#include "prh/peerlog.h"
#include "prh/proto.h"
#include "prh/stats.h"
#include "prh/trace.h"

#define WAIT_MS 10000 /* bound on every wait */

static struct {
	struct event_base *base;
	struct prh_config cfg;
	struct prh_stats stats;
	struct device_registry *devices;
	struct closer *closer;
	struct dispatch *dispatch;
	struct conn_env env;
	pthread_t loop;
	bool looping;
	char sys[64];  /* the sysfs tree */
	int disk;      /* /dev/loop0, or -1 */
	unsigned gone; /* gone callbacks (loop thread) */
} tc;

/* conn_env's gone callback. */
static void
tc_gone(void *arg, const struct peer *peer)
{
	(void)arg;
	(void)peer;
	__atomic_add_fetch(&tc.gone, 1, __ATOMIC_SEQ_CST);
}

/* The closer's freed callback: as the server's. */
static void
tc_closer_freed(void *arg)
{
	(void)arg;
	fdbudget_freed(&tc.env.fds);
}

/* Run the loop until told to stop. */
static void *
tc_loop(void *arg)
{
	(void)arg;
	event_base_loop(tc.base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static pthread_mutex_t tc_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tc_cv = PTHREAD_COND_INITIALIZER;
static bool tc_running;

/* A callback of the loop: set the flag arg (under tc_mtx) and say so. */
static void
tc_flag_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pthread_mutex_lock(&tc_mtx);
	*(bool *)arg = true;
	pthread_cond_broadcast(&tc_cv);
	pthread_mutex_unlock(&tc_mtx);
}

/* Clear *flag, have the loop set it after tv (tc_flag_cb()), and wait
 * until it did. */
static void
tc_flag_after(bool *flag, const struct timeval *tv, bool start)
{
	*flag = false;
	cr_assert_eq(event_base_once(tc.base, -1, EV_TIMEOUT, tc_flag_cb, flag,
			 tv),
	    0);
	if (start) {
		cr_assert_eq(pthread_create(&tc.loop, NULL, tc_loop, NULL), 0);
		tc.looping = true;
	}
	pthread_mutex_lock(&tc_mtx);
	while (!*flag)
		pthread_cond_wait(&tc_cv, &tc_mtx);
	pthread_mutex_unlock(&tc_mtx);
}

/* Start the loop thread and wait until the loop runs: a loopbreak that
 * came before event_base_loop() started would be lost. */
static void
tc_loop_start(void)
{
	struct timeval now = { 0, 0 };

	tc_flag_after(&tc_running, &now, true);
}

/* Stop the loop thread (the loop's objects are the test's again). */
static void
tc_loop_stop(void)
{
	if (!tc.looping)
		return;
	event_base_loopbreak(tc.base);
	pthread_join(tc.loop, NULL);
	tc.looping = false;
}

/* Write a file of the fake sysfs tree. */
static void
tc_sysfs_file(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tc.sys, rel);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

/* A sysfs tree where 7:0 is a whole SCSI disk of unit 3:0:0:7. */
static void
tc_sysfs(void)
{
	char path[256];
	static const char *const dirs[] = { "dev", "dev/block", "dev/block/7:0",
		"devices", "devices/3:0:0:7", "devices/3:0:0:7/scsi_disk",
		NULL };

	snprintf(tc.sys, sizeof(tc.sys), "/tmp/prh-tconn.XXXXXX");
	cr_assert_not_null(mkdtemp(tc.sys));
	for (int i = 0; dirs[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", tc.sys, dirs[i]);
		cr_assert_eq(mkdir(path, 0755), 0, "%s", path);
	}
	snprintf(path, sizeof(path), "%s/dev/block/7:0/device", tc.sys);
	cr_assert_eq(symlink("../../../devices/3:0:0:7", path), 0);
	tc_sysfs_file("dev/block/7:0/uevent",
	    "MAJOR=7\nMINOR=0\nDEVNAME=loop0\nDEVTYPE=disk\n");
	tc_sysfs_file("devices/3:0:0:7/wwid", "naa.test\n");
	device_set_sysfs_root(tc.sys);
}

/* Fixture: configuration, registry, dispatch (2 workers), conn_env. */
static void
tc_setup(void)
{
	char *args[] = { (char *)"test_conn", (char *)"-q",
		(char *)"--threads=2", (char *)"--request-timeout=1", NULL };
	struct pool_limits lim = { .threads = 2,
		.max_per_device = 2,
		.queue_max = 16,
		.dev_queue_max = 4,
		.defer_wake = true,
		.min_threads = 1,
		.idle_ms = 0 };

	signal(SIGPIPE, SIG_IGN);
	memset(&tc.stats, 0, sizeof(tc.stats));
	tc.gone = 0;
	cr_assert_eq(config_parse(&tc.cfg, 4, args), CONFIG_RUN);
	log_init();
	log_set_verbosity(0);
	cr_assert_eq(evthread_use_pthreads(), 0);
	tc.base = event_base_new();
	cr_assert_not_null(tc.base);
	cr_assert_eq(devreg_new(&tc.devices), 0);
	memset(&tc.env, 0, sizeof(tc.env));
	cr_assert_eq(closer_new(tc.base, &tc.env.fds.held, tc_closer_freed,
			 NULL, &tc.closer),
	    0);
	cr_assert_eq(dispatch_new(tc.base, &lim, tc.devices, tc.closer,
			 &tc.dispatch),
	    0);
	tc.env.base = tc.base;
	tc.env.cfg = &tc.cfg;
	tc.env.dispatch = tc.dispatch;
	tc.env.devices = tc.devices;
	tc.env.closer = tc.closer;
	tc.env.stats = &tc.stats;
	tc.env.fds.budget = 1000;
	tc.env.gone = tc_gone;
	cr_assert_eq(conn_env_init(&tc.env), 0);
	tc_sysfs();
	tc.disk = open("/dev/loop0", O_RDWR | O_CLOEXEC);
}

/* Remove the sysfs tree. */
static void
tc_rm_sysfs(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tc.sys);
	(void)!system(cmd);
}

/* Fixture: everything freed. */
static void
tc_teardown(void)
{
	tc_loop_stop();
	conn_env_fini(&tc.env);
	dispatch_free(tc.dispatch);
	closer_free(tc.closer);
	devreg_free(tc.devices);
	event_base_free(tc.base);
	device_set_sysfs_root(NULL);
	tc_rm_sysfs();
	if (tc.disk >= 0)
		close(tc.disk);
}

TestSuite(conn, .init = tc_setup, .fini = tc_teardown, .timeout = 60);

/* A connection on a socketpair (the loop is stopped meanwhile): the
 * client's end, after the handshake. */
static int
tc_conn(void)
{
	struct peer peer = { .pid = getpid(),
		.uid = getuid(),
		.gid = getgid() };
	int sv[2], r;

	cr_assert_eq(socketpair(AF_UNIX,
			 SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
	    0);
	/* The client blocks, with a bound. */
	cr_assert_eq(fcntl(sv[1], F_SETFL, 0), 0);
	{
		struct timeval tv = { WAIT_MS / 1000, 0 };

		setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(sv[1], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	tc_loop_stop();
	cr_assert_eq(conn_new(&tc.env, sv[0], &peer), 0);
	tc_loop_start();
	r = client_handshake(sv[1]);
	cr_assert_geq(r, 0, "handshake: %s", strerror(-r));
	return sv[1];
}

/* Milliseconds on the monotonic clock. */
static long
tc_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Wait (bounded, polling: the counters have no event) until *v == want. */
static void
tc_wait_uint(const atomic_uint *v, unsigned want, const char *what)
{
	long end = tc_ms() + WAIT_MS;

	while (atomic_load(v) != want && tc_ms() < end) {
		struct timespec ts = { 0, 2000000 };

		nanosleep(&ts, NULL);
	}
	cr_assert_eq(atomic_load(v), want, "%s: %u, want %u", what,
	    atomic_load(v), want);
}

/* Wait until the peer closes: 0 on EOF or reset (a close with bytes of
 * ours unread resets), -EPROTO if bytes came instead. */
static int
tc_wait_eof(int s)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	ssize_t n;
	char c;

	if (poll(&p, 1, WAIT_MS) != 1)
		return -ETIMEDOUT;
	n = recv(s, &c, 1, MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno == ECONNRESET) ? 0 : -EPROTO;
}

/* Expect the reply the helper gives an SG_IO failing with ENOTTY. */
static void
tc_expect_enotty(int s)
{
	struct client_reply r;

	cr_assert_eq(client_read_reply(s, &r), 0);
	cr_expect_eq(r.status, PRH_STATUS_CHECK_CONDITION);
	cr_expect_eq(r.size, 0);
	cr_expect_eq(r.sense[2] & 0xf, PRH_SK_ABORTED_COMMAND);
	cr_expect_eq(r.sense[12], 0x00);
	cr_expect_eq(r.sense[13], 0x06);
}

/* Expect a CHECK CONDITION answer with no payload (what SG_IO failing on
 * the stand-in disk gives). */
static void
tc_expect_check(int s)
{
	struct client_reply r;

	cr_assert_eq(client_read_reply(s, &r), 0);
	cr_expect_eq(r.status, PRH_STATUS_CHECK_CONDITION);
	cr_expect_eq(r.size, 0);
}

/* Send on s a PR OUT REGISTER of service action key sakey, byte 20
 * flags, on fd. */
static void
tc_send_register(int s, int fd, uint64_t sakey, uint8_t flags)
{
	uint8_t cdb[PRH_CDB_LEN], param[24];

	client_cdb_pr_out(cdb, 0, 0, sizeof(param));
	client_param_basic(param, 0, sakey, flags);
	cr_assert_eq(client_send_request(s, cdb, fd, param, sizeof(param)), 0);
}

/* Skip without /dev/loop0. */
static void
tc_need_disk(void)
{
	if (tc.disk < 0)
		cr_skip_test("no /dev/loop0 to stand in for a disk");
}

Test(conn, allowed_device_goes_to_a_worker_and_reading_goes_on)
{
	uint8_t cdb[PRH_CDB_LEN];
	int s;

	tc_need_disk();
	s = tc_conn();
	client_cdb_pr_in(cdb, 0, 8192);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(client_send_request(s, cdb, tc.disk, NULL, 0), 0);
		tc_expect_check(s);
	}
	/* It reached the device: a worker ran it, the policy let it by. */
	cr_expect_eq(STATS_GET(tc.stats.refused_fds), 0);
	cr_expect_eq(STATS_GET(tc.stats.answered), 3);
	/* The worker sends the reply before its job is done: the job is
	 * surely done once the connection, which waits for it, is gone. */
	close(s);
	tc_wait_uint(&tc.stats.connections, 0, "connections");
	tc_loop_stop();
	{
		struct dispatch_stats ds;

		dispatch_get_stats(tc.dispatch, &ds);
		cr_expect_eq(ds.pool.completed, 3);
	}
	tc_loop_start();
}

/* What the guest PR policy refuses is answered on the loop thread
 * (ILLEGAL REQUEST 26/00 for SPEC_I_PT), counted, and never runs. */
Test(conn, guest_pr_policy_answers_without_a_worker)
{
	struct dispatch_stats ds;
	struct client_reply r;
	int s;

	tc_need_disk();
	s = tc_conn();
	tc_send_register(s, tc.disk, 0xa1, 0x08);
	cr_assert_eq(client_read_reply(s, &r), 0);
	cr_expect_eq(r.status, PRH_STATUS_CHECK_CONDITION);
	cr_expect_eq(r.sense[2], PRH_SK_ILLEGAL_REQUEST);
	cr_expect_eq(r.sense[12], 0x26);
	cr_expect_eq(STATS_GET(tc.stats.refused_guest_pr), 1);
	cr_expect_eq(STATS_GET(tc.stats.answered), 1);
	tc_loop_stop();
	dispatch_get_stats(tc.dispatch, &ds);
	cr_expect_eq(ds.pool.completed, 0, "a worker ran it");
	tc_loop_start();
	close(s);
}

Test(conn, a_pipe_is_closed_at_once_and_answered_without_a_worker)
{
	uint8_t cdb[PRH_CDB_LEN];
	struct dispatch_stats ds;
	struct pollfd p;
	int s, pp[2];

	s = tc_conn();
	cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_send_request(s, cdb, pp[0], NULL, 0), 0);
	close(pp[0]);
	tc_expect_enotty(s);
	/* The helper's copy of the read end goes (a closer thread closes
	 * it): the write end sees no reader (POLLERR, which poll reports
	 * unasked). */
	p = (struct pollfd){ .fd = pp[1], .events = 0 };
	cr_assert_eq(poll(&p, 1, WAIT_MS), 1);
	cr_expect(p.revents & POLLERR, "revents 0x%x", p.revents);
	cr_expect_eq(STATS_GET(tc.stats.refused_fds), 1);
	tc_loop_stop();
	dispatch_get_stats(tc.dispatch, &ds);
	cr_expect_eq(ds.pool.completed, 0, "a worker ran it");
	close(pp[1]);
	close(s);
}

Test(conn, own_socket_as_device_fd_cannot_pin_the_connection)
{
	uint8_t byte = 0x5e;
	int s;

	s = tc_conn();
	/* One byte of a CDB, with the client's own end as its "device". */
	cr_assert_eq(fdpass_send(s, &byte, 1, s), 1);
	tc_wait_uint(&tc.env.fds.held, 0, "fds held");
	/* The helper kept no reference to the client's end: closing it is
	 * an EOF the helper sees. */
	close(s);
	tc_wait_uint(&tc.stats.connections, 0, "connections");
	cr_expect_eq(__atomic_load_n(&tc.gone, __ATOMIC_SEQ_CST), 1);
}

Test(conn, device_fd_held_mid_request_is_dropped_after_the_timeout)
{
	uint8_t byte = 0x5e;
	long t0;
	int s;

	tc_need_disk();
	s = tc_conn();
	t0 = tc_ms();
	cr_assert_eq(fdpass_send(s, &byte, 1, tc.disk), 1);
	tc_wait_uint(&tc.env.fds.held, 1, "fds held");
	/* --request-timeout=1: bytes do not extend it. */
	cr_assert_eq(send(s, &byte, 1, 0), 1);
	cr_assert_eq(tc_wait_eof(s), 0);
	cr_expect_geq(tc_ms() - t0, 900);
	cr_expect_lt(tc_ms() - t0, 3000);
	tc_wait_uint(&tc.env.fds.held, 0, "fds held");
	cr_expect_eq(STATS_GET(tc.stats.timed_out), 1);
	close(s);
}

Test(conn, two_fds_on_one_cdb_close_the_connection)
{
	uint8_t cdb[PRH_CDB_LEN];
	int s, fds[2];

	s = tc_conn();
	fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fds[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	client_cdb_pr_in(cdb, 0, 8192);
	{
		struct iovec iov = { cdb, sizeof(cdb) };
		union {
			char b[CMSG_SPACE(2 * sizeof(int))];
			struct cmsghdr a;
		} u;
		struct msghdr m = { .msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = u.b,
			.msg_controllen = sizeof(u.b) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(2 * sizeof(int));
		memcpy(CMSG_DATA(c), fds, sizeof(fds));
		cr_assert_eq(sendmsg(s, &m, 0), (ssize_t)sizeof(cdb));
	}
	cr_assert_eq(tc_wait_eof(s), 0);
	cr_expect_eq(STATS_GET(tc.stats.closed_protocol), 1);
	close(fds[0]);
	close(fds[1]);
	close(s);
}

Test(conn, pr_out_on_read_only_fd_is_refused_first)
{
	struct client_reply r;
	int s, ro;

	s = tc_conn();
	ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
	tc_send_register(s, ro, 0xa, 0);
	cr_assert_eq(client_read_reply(s, &r), 0);
	cr_expect_eq(r.status, PRH_STATUS_CHECK_CONDITION);
	cr_expect_eq(r.sense[2] & 0xf, PRH_SK_ILLEGAL_REQUEST);
	cr_expect_eq(r.sense[12], 0x20);
	/* Refused for its access mode, not by the device policy. */
	cr_expect_eq(STATS_GET(tc.stats.refused_fds), 0);
	close(ro);
	close(s);
}

Test(conn, fd_budget_makes_a_request_wait_until_fds_are_freed)
{
	uint8_t cdb[PRH_CDB_LEN], byte = 0x5e;
	struct pollfd p;
	int a, b;

	tc_need_disk();
	/* Two connections and one fd of a request fill a budget of 3. */
	tc.env.fds.budget = 3;
	a = tc_conn();
	b = tc_conn();
	cr_assert_eq(fdpass_send(a, &byte, 1, tc.disk), 1);
	tc_wait_uint(&tc.env.fds.held, 1, "fds held");
	/* b's whole request waits in its socket, its fd with it. */
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_send_request(b, cdb, tc.disk, NULL, 0), 0);
	p = (struct pollfd){ .fd = b, .events = POLLIN };
	cr_expect_eq(poll(&p, 1, 300), 0, "answered over the budget");
	cr_expect_eq(atomic_load(&tc.env.fds.held), 1);
	/* a's request completes: its fd is freed, b is read and answered. */
	cr_assert_eq(send(a, cdb + 1, sizeof(cdb) - 1, 0),
	    (ssize_t)sizeof(cdb) - 1);
	tc_expect_check(a);
	tc_expect_check(b);
	tc_wait_uint(&tc.env.fds.held, 0, "fds held");
	close(a);
	close(b);
}

Test(conn, drain_answers_the_busy_then_closes_every_connection)
{
	uint8_t cdb[PRH_CDB_LEN];
	int busy, idle;

	tc_need_disk();
	busy = tc_conn();
	idle = tc_conn();
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_send_request(busy, cdb, tc.disk, NULL, 0), 0);
	tc_expect_check(busy);
	tc_loop_stop();
	conn_drain_all(&tc.env);
	dispatch_drain(tc.dispatch, NULL, NULL);
	tc_loop_start();
	cr_assert_eq(tc_wait_eof(idle), 0);
	cr_assert_eq(tc_wait_eof(busy), 0);
	tc_wait_uint(&tc.stats.connections, 0, "connections");
	close(busy);
	close(idle);
}

/* A request in its socket when the drain starts (the client sent it
 * before the shutdown) is read, run and answered before the EOF; the
 * client can send nothing after the drain started. */
Test(conn, drain_answers_what_was_sent_before_it)
{
	uint8_t cdb[PRH_CDB_LEN];
	int s;

	tc_need_disk();
	s = tc_conn();
	client_cdb_pr_in(cdb, 0, 8192);
	tc_loop_stop();
	cr_assert_eq(client_send_request(s, cdb, tc.disk, NULL, 0), 0);
	conn_drain_all(&tc.env);
	dispatch_drain(tc.dispatch, NULL, NULL);
	/* Shut for reading: the client's next request is refused. */
	cr_assert_eq(send(s, cdb, sizeof(cdb), MSG_NOSIGNAL), -1);
	cr_assert_eq(errno, EPIPE);
	tc_loop_start();
	tc_expect_check(s);
	cr_assert_eq(tc_wait_eof(s), 0);
	tc_wait_uint(&tc.stats.connections, 0, "connections");
	cr_expect_eq(STATS_GET(tc.stats.answered), 1);
	close(s);
}

/* Stopping at once (a second signal), requests still in the sockets
 * are read and answered ABORTED COMMAND 00/06 without running, then the
 * connections close. */
Test(conn, abort_answers_requests_in_the_socket_without_running_them)
{
	uint8_t cdb[PRH_CDB_LEN];
	struct dispatch_stats ds;
	int s;

	tc_need_disk();
	s = tc_conn();
	client_cdb_pr_in(cdb, 0, 8192);
	tc_loop_stop();
	for (int i = 0; i < 2; i++)
		cr_assert_eq(client_send_request(s, cdb, tc.disk, NULL, 0), 0);
	conn_drain_all(&tc.env);
	dispatch_drain(tc.dispatch, NULL, NULL);
	conn_abort_all(&tc.env);
	for (int i = 0; i < 2; i++)
		tc_expect_enotty(s); /* the bytes of a command not run */
	cr_assert_eq(tc_wait_eof(s), 0);
	cr_expect_eq(atomic_load(&tc.stats.connections), 0);
	dispatch_get_stats(tc.dispatch, &ds);
	cr_expect_eq(ds.outstanding, 0, "submitted");
	cr_expect_eq(ds.pool.completed, 0, "a worker ran one");
	close(s);
}

/* At a drain with no command out, a connection that cannot read its
 * request for want of fd room closes: nothing would free any. */
Test(conn, drain_closes_a_connection_waiting_for_fd_room_when_idle)
{
	uint8_t cdb[PRH_CDB_LEN];
	int s;

	tc_need_disk();
	s = tc_conn();
	tc_loop_stop();
	tc.env.fds.budget = 1; /* its socket uses it up */
	tc_loop_start();
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_send_request(s, cdb, tc.disk, NULL, 0), 0);
	tc_loop_stop();
	/* The socket is readable: the loop, run here, finds so. */
	cr_assert_geq(event_base_loop(tc.base, EVLOOP_NONBLOCK), 0);
	cr_assert_not_null(TAILQ_FIRST(&tc.env.fds.throttled), "not waiting");
	conn_drain_all(&tc.env);
	dispatch_drain(tc.dispatch, NULL, NULL);
	tc_loop_start();
	cr_assert_eq(tc_wait_eof(s), 0);
	tc_wait_uint(&tc.stats.connections, 0, "connections");
	cr_expect_eq(STATS_GET(tc.stats.answered), 0);
	close(s);
}

/* Wait until the running loop has run its timers due by ns
 * (trace_now_ns()): a timer of the loop's own set for then has fired. */
static void
tc_loop_past(uint64_t ns)
{
	static bool past;
	uint64_t now = trace_now_ns(), us = ns > now ? (ns - now) / 1000 : 0;
	struct timeval tv = { (time_t)(us / 1000000),
		(suseconds_t)(us % 1000000) };

	tc_flag_after(&past, &tv, false);
}

/* --request-timeout is the client's time to send its request: a client
 * that sent it all while the helper could not read it for want of fd
 * room is answered once there is room, not dropped. */
Test(conn, request_waiting_for_fd_room_is_not_timed_out)
{
	uint8_t cdb[PRH_CDB_LEN], param[24];
	uint64_t deadline;
	int s;

	tc_need_disk();
	s = tc_conn();
	client_cdb_pr_out(cdb, 0, 0, sizeof(param));
	client_param_basic(param, 0, 0xa, 0);
	cr_assert_eq(fdpass_send(s, cdb, sizeof(cdb), tc.disk),
	    (ssize_t)sizeof(cdb));
	tc_wait_uint(&tc.env.fds.held, 1, "fds held");
	/* Its socket and fd are above a budget of 1: the parameter list
	 * waits in the socket. */
	tc_loop_stop();
	tc.env.fds.budget = 1;
	deadline = TAILQ_FIRST(&tc.env.fds.held_list)->held_until_ns;
	tc_loop_start();
	cr_assert_eq(send(s, param, sizeof(param), 0), (ssize_t)sizeof(param));
	tc_loop_past(deadline + 100000000ull);
	tc_loop_stop();
	cr_expect_eq(STATS_GET(tc.stats.timed_out), 0);
	cr_expect_eq(atomic_load(&tc.stats.connections), 1);
	cr_assert_not_null(TAILQ_FIRST(&tc.env.fds.held_list));
	cr_expect_gt(TAILQ_FIRST(&tc.env.fds.held_list)->held_until_ns,
	    deadline, "its time did not start again");
	/* Room: it is read and answered. */
	tc.env.fds.budget = 1000;
	fdbudget_freed(&tc.env.fds);
	tc_loop_start();
	tc_expect_check(s);
	close(s);
}

Test(conn, refused_partition_is_answered_without_sg_io)
{
	uint8_t cdb[PRH_CDB_LEN];
	int s;

	tc_need_disk();
	/* 7:0 is a partition now: the worker refuses it, no SG_IO. */
	tc_sysfs_file("dev/block/7:0/partition", "1\n");
	s = tc_conn();
	client_cdb_pr_in(cdb, 0, 8192);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(client_send_request(s, cdb, tc.disk, NULL, 0), 0);
		tc_expect_enotty(s);
	}
	cr_expect_eq(STATS_GET(tc.stats.refused_fds), 2);
	close(s);
}

/* What the orphaned callback saw (loop thread). */
static atomic_uint tc_orphans;
static uint32_t tc_orphan_status;

/* dispatch's last word on an abandoned command. */
static void
tc_orphaned(struct cmd *cmd)
{
	cr_expect_eq(cmd->owner, &tc_orphans);
	tc_orphan_status = cmd->res.status;
	atomic_fetch_add(&tc_orphans, 1);
}

/* Stop the fixture's loop where it is. */
static void
tc_break_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(tc.base);
}

/* A command whose owner went while it ran still has its last word when
 * it is back (the connection logs a PR OUT that ran through it). */
Test(conn, an_abandoned_command_that_ran_has_its_last_word)
{
	uint8_t cdb[PRH_CDB_LEN], param[24];
	struct dispatch_stats ds;
	struct device_node node;
	struct event *brk;
	struct cmd *cmd;
	long end;

	tc_need_disk();
	tc_loop_stop(); /* this thread is the loop thread until started */
	cmd = dispatch_cmd_new(tc.dispatch);
	cr_assert_not_null(cmd);
	client_cdb_pr_out(cdb, 5, 1, sizeof(param));
	memcpy(cmd->cdb, cdb, sizeof(cdb));
	cr_assert_eq(proto_parse_cdb(cmd->cdb, &cmd->req), 0);
	cr_assert_eq(device_node_of_fd(tc.disk, &node), 0);
	cmd->dev = devreg_get(tc.devices, &node);
	cr_assert_not_null(cmd->dev);
	cmd->devfd = dup(tc.disk);
	cr_assert_geq(cmd->devfd, 0);
	cmd->timeout_ms = 1000;
	cmd->stats = &tc.stats;
	cmd->done = tc_orphaned; /* must not be called: it is abandoned */
	cmd->owner = NULL;
	cr_assert_eq(dispatch_submit(tc.dispatch, cmd), 0);
	/* The loop runs here until the pool's kick woke a worker: the
	 * break, activated after the kick, runs right after it, before the
	 * completion the worker activates later. */
	brk = event_new(tc.base, -1, 0, tc_break_cb, NULL);
	cr_assert_not_null(brk);
	event_active(brk, EV_TIMEOUT, 0);
	cr_assert_eq(event_base_loop(tc.base, 0), 0);
	event_free(brk);
	/* It runs and is done, but not back: the loop has not run since. */
	end = tc_ms() + WAIT_MS;
	do
		dispatch_get_stats(tc.dispatch, &ds);
	while (ds.pool.completed < 1 && tc_ms() < end);
	cr_assert_eq(ds.pool.completed, 1);
	cr_expect(dispatch_abandon(tc.dispatch, cmd)); /* back later */
	cmd->orphaned = tc_orphaned;
	cmd->owner = &tc_orphans;
	tc_loop_start();
	tc_wait_uint(&tc_orphans, 1, "orphaned calls");
	cr_expect_eq(tc_orphan_status, PRH_STATUS_CHECK_CONDITION);
}

/* A PR OUT that waits for its client's turn in the log (peerlog.h) when
 * the helper shuts down is answered, not dropped: ABORTED COMMAND. */
Test(conn, a_pr_out_waiting_for_its_turn_is_answered_at_shutdown)
{
	struct peer me = { .pid = getpid(), .uid = getuid(), .gid = getgid() };
	struct client_reply r;
	struct peerlog *pl;
	int s;

	tc_need_disk();
	tc_loop_stop();
	log_set_verbosity(1); /* PR OUT lines are logged, so they wait */
	cr_assert_eq(peerlog_new(tc.base, &tc.stats, &pl), 0);
	tc.env.peerlog = pl;
	/* This process's share used up for the next ten seconds. */
	for (int i = 0; i < PEERLOG_CMD_BURST + 10 * PEERLOG_CMD_PER_SEC; i++)
		(void)peerlog_command(pl, NULL, &me);
	tc_loop_start();
	s = tc_conn();
	tc_send_register(s, tc.disk, 0xa, 0);
	tc_wait_uint(&tc.stats.deferred, 1, "PR OUT deferred");
	tc_loop_stop();
	conn_drain_all(&tc.env);
	tc_loop_start();
	cr_assert_eq(client_read_reply(s, &r), 0);
	cr_expect_eq(r.status, PRH_STATUS_CHECK_CONDITION);
	cr_expect_eq(r.sense[2] & 0x0f, PRH_SK_ABORTED_COMMAND);
	cr_expect_eq(r.sense[12], 0x00);
	cr_expect_eq(r.sense[13], 0x06);
	cr_expect_eq(tc_wait_eof(s), 0);
	tc_wait_uint(&tc.stats.connections, 0, "connections");
	close(s);
	tc_loop_stop();
	tc.env.peerlog = NULL;
	peerlog_free(pl);
	tc_loop_start();
}
