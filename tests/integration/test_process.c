/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Integration: the helper as a process — command line, signals, the
 * socket path, the listen backlog, and (ours only) behaviour under hung
 * devices and load.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

ITEST_SUITES();

/* Whether path exists (any type). */
static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Stop the helper with sig while an idle client is connected: exit 0,
 * socket removed, the client sees EOF. */
static void
signal_exit(enum th_kind kind, int sig)
{
	int sock, rc, st = -1;

	itest_start(kind, NULL);
	sock = itest_conn();
	rc = th_stop(&itest_env, sig, TH_TIMEOUT_MS, &st);
	cr_assert_eq(rc, 0, "no exit after signal %d", sig);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status 0x%x",
	    st);
	cr_expect(!exists(itest_env.sock), "socket left behind");
	itest_expect_closed(sock);
	close(sock);
}

ITEST_BOTH(sigterm_exits_0_removes_socket)
{
	signal_exit(kind, SIGTERM);
}

ITEST_BOTH(sigint_exits_0_removes_socket)
{
	signal_exit(kind, SIGINT);
}

ITEST_BOTH(sighup_exits_0_removes_socket)
{
	signal_exit(kind, SIGHUP);
}

ITEST_BOTH(relative_socket_path_refused)
{
	static const char *const args[] = { "-k", "relative/sock", NULL };

	itest_prepare(kind);
	cr_expect_eq(itest_run_exit(kind, args), 1);
	itest_expect_stderr("socket path must be absolute");
}

ITEST_BOTH(unknown_option_refused)
{
	static const char *const args[] = { "--no-such-option", NULL };
	char *err;

	itest_prepare(kind);
	cr_expect_eq(itest_run_exit(kind, args), 1);
	err = th_stderr(&itest_env);
	cr_assert_not_null(err);
	cr_expect(strstr(err, "Try") != NULL, "stderr: %s", err);
	cr_expect(strstr(err, "--help") != NULL, "stderr: %s", err);
	free(err);
}

/* Run with one option; expect exit 0 and something on stdout. */
static void
info_option(enum th_kind kind, const char *opt)
{
	const char *args[] = { opt, NULL };
	char *out;

	itest_prepare(kind);
	cr_expect_eq(itest_run_exit(kind, args), 0);
	out = th_read_file(itest_env.out, NULL);
	cr_assert_not_null(out);
	cr_expect(strstr(out, "qemu-pr-helper") != NULL, "stdout: %s", out);
	free(out);
}

ITEST_BOTH(help_exits_0)
{
	info_option(kind, "-h");
}

ITEST_BOTH(version_exits_0)
{
	info_option(kind, "-V");
}

/* -V of a reference names the release it is: the suites really run the
 * QEMU releases they are named after. */
static void
version_is(enum th_kind kind, const char *release)
{
	static const char *const args[] = { "-V", NULL };
	char *out;

	itest_prepare(kind);
	cr_assert_eq(itest_run_exit(kind, args), 0);
	out = th_read_file(itest_env.out, NULL);
	cr_assert_not_null(out);
	cr_expect(strstr(out, release) != NULL, "-V: %s", out);
	free(out);
}

/* The system's helper is whatever release the distribution ships (7.2 on
 * Debian 12, 10.0 on Debian 13): -V names one, 7.2 or later. */
Test(qemu, version_names_its_release)
{
	int r = itest_ref_release(TH_QEMU);

	cr_expect_geq(r, ITEST_RELEASE(7, 2, 0), "release %d", r);
}

Test(qemu10, version_is_10_0)
{
	version_is(TH_QEMU10, "qemu-pr-helper 10.0.");
}

Test(qemu11, version_is_11_1)
{
	version_is(TH_QEMU11, "qemu-pr-helper 11.1.");
}

ITEST_BOTH(stale_socket_replaced)
{
	struct sockaddr_un sun;
	struct client_reply r;
	int fd, sock, dev;

	itest_prepare(kind);
	/* A socket file nobody listens on. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, itest_env.sock, strlen(itest_env.sock));
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	cr_assert(exists(itest_env.sock));
	cr_assert_eq(th_start(&itest_env, NULL), 0, "helper did not start");
	sock = itest_conn();
	dev = itest_dev("lun", O_RDWR);
	itest_pr_in(sock, dev, 0, 8192, &r);
	itest_expect_ioerr(&r);
}

/* A second helper env on the first one's socket path. */
static void
second_on_same_socket(struct th_env *e2, enum th_kind kind)
{
	int rc = th_env_init(e2, kind);

	cr_assert_eq(rc, 0);
	memcpy(e2->sock, itest_env.sock, sizeof(e2->sock));
}

Test(ours, live_socket_not_displaced)
{
	struct client_reply r;
	struct th_env e2;
	char *err;
	int rc, st = -1, sock, dev;

	itest_start(TH_OURS, NULL);
	second_on_same_socket(&e2, TH_OURS);
	rc = th_spawn(&e2, NULL, 0);
	cr_assert_eq(rc, 0);
	rc = th_wait_exit(&e2, TH_TIMEOUT_MS, &st);
	err = th_stderr(&e2);
	th_env_fini(&e2);
	cr_assert_eq(rc, 0, "second helper still running");
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status 0x%x", st);
	cr_expect(err != NULL && strstr(err, itest_env.sock) != NULL,
	    "no clear message naming the socket: %s", err ? err : "");
	free(err);
	/* The first helper still owns the path. */
	sock = itest_conn();
	dev = itest_dev("lun", O_RDWR);
	itest_pr_in(sock, dev, 0, 8192, &r);
	itest_expect_ioerr(&r);
}

ITEST_REFS(live_socket_stolen)
{
	struct th_env e2;
	int rc, st = -1;

	itest_start(kind, NULL);
	second_on_same_socket(&e2, kind);
	rc = th_start(&e2, NULL);
	if (rc == 0)
		rc = th_stop(&e2, SIGTERM, TH_TIMEOUT_MS, &st);
	th_env_fini(&e2);
	cr_assert_eq(rc, 0, "second helper: %s", strerror(-rc));
	/* The second took the path and removed it: the first is orphaned. */
	cr_expect(!exists(itest_env.sock), "socket path still there");
	cr_expect_eq(kill(itest_env.pid, 0), 0, "first helper gone");
}

/* Stop the helper, make n non-blocking connects, let it run again; the
 * number of connects that succeeded is returned, and every one of them
 * must be answered. */
static int
backlog_connects(int n)
{
	struct client_reply r;
	uint8_t hello[4], zero[4] = { 0 }, cdb[PRH_CDB_LEN];
	int *socks, i, ok = 0, answered = 0, st, dev;

	socks = calloc((size_t)n, sizeof(*socks));
	cr_assert_not_null(socks);
	dev = itest_dev("lun", O_RDWR);
	cr_assert_eq(kill(itest_env.pid, SIGSTOP), 0);
	cr_assert_eq(waitpid(itest_env.pid, &st, WUNTRACED), itest_env.pid);
	cr_assert(WIFSTOPPED(st));
	for (i = 0; i < n; i++) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

		cr_assert_geq(fd, 0);
		memcpy(sun.sun_path, itest_env.sock, strlen(itest_env.sock));
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			socks[ok++] = fd;
		} else {
			cr_expect_eq(errno, EAGAIN, "connect: %s",
			    strerror(errno));
			close(fd);
		}
	}
	cr_assert_eq(kill(itest_env.pid, SIGCONT), 0);
	client_cdb_pr_in(cdb, 0, 8192);
	for (i = 0; i < ok; i++) {
		int fd = socks[i];

		fcntl(fd, F_SETFL, 0);
		if (client_read_all(fd, hello, 4) == 0 &&
		    client_write_all(fd, zero, 4) == 0 &&
		    client_command(fd, cdb, dev, NULL, 0, &r) == 0 &&
		    r.status == PRH_STATUS_CHECK_CONDITION)
			answered++;
		close(fd);
	}
	free(socks);
	cr_expect_eq(answered, ok, "%d of %d connected clients answered",
	    answered, ok);
	return ok;
}

Test(ours, listen_backlog_300)
{
	itest_start(TH_OURS, NULL);
	cr_expect_eq(backlog_connects(300), 300);
}

ITEST_REFS(listen_backlog_1)
{
	int ok;

	itest_start(kind, NULL);
	ok = backlog_connects(300);
	cr_expect(ok >= 1 && ok <= 2, "%d connects queued", ok);
}

/* --- ours only: hung devices, shutdown with work in flight ------------ */

/* Send a PR IN for devfd on a new connection without reading the reply. */
static int
send_pr_in(int devfd)
{
	uint8_t cdb[PRH_CDB_LEN];
	int sock = itest_conn();

	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_send_request(sock, cdb, devfd, NULL, 0), 0);
	return sock;
}

/* Wait until the shim logged n SG_IO calls in total. */
static void
wait_calls(int n)
{
	int got = th_wait_shim_calls(&itest_env, n, TH_TIMEOUT_MS);

	cr_assert_geq(got, n, "SG_IO calls: %d, expected %d", got, n);
}

Test(ours, disconnect_while_device_hangs)
{
	struct client_reply r;
	int keep, base, a, b, c1, dev;

	itest_start(TH_OURS, NULL);
	keep = itest_conn();
	dev = itest_dev("warm", O_RDWR);
	base = th_fd_count(itest_env.pid);
	itest_pr_in(keep, dev, 0, 8192, &r);
	/* Its device fd goes to the closer, which may be after the reply. */
	base = itest_fds_settle(base);
	a = itest_dev("a", O_RDWR);
	b = itest_dev("b", O_RDWR);
	itest_hang("a");
	c1 = send_pr_in(a);
	wait_calls(2);
	close(c1);
	/* Others are served meanwhile. */
	itest_expect_served(b);
	itest_pr_in(keep, b, 0, 8192, &r);
	itest_expect_ioerr(&r);
	/* Release the device: the answer has nowhere to go. */
	cr_assert_eq(th_shim_set(&itest_env, "%s status=0\n",
			 itest_dev_path("a")),
	    0);
	cr_expect_eq(itest_fds_settle(base), base, "fd leak");
	itest_pr_in(keep, a, 0, 8192, &r);
	itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
}

Test(ours, hung_device_does_not_starve_others)
{
	static const char *const args[] = {
		"--threads=2",
		"--max-per-device=1",
		NULL,
	};
	struct client_reply r;
	int a, b, socks[4], sock, i;

	itest_start(TH_OURS, args);
	a = itest_dev("a", O_RDWR);
	b = itest_dev("b", O_RDWR);
	itest_hang("a");
	for (i = 0; i < 4; i++)
		socks[i] = send_pr_in(a);
	wait_calls(1);
	/* With both workers stuck on "a", this would never be answered. */
	sock = itest_conn();
	itest_pr_in(sock, b, 0, 8192, &r);
	itest_expect_ioerr(&r);
	cr_expect_eq(itest_calls_on("a"), 1,
	    "more than max-per-device commands ran on one device");
	cr_assert_eq(th_shim_set(&itest_env, "%s status=0\n",
			 itest_dev_path("a")),
	    0);
	for (i = 0; i < 4; i++) {
		cr_assert_eq(client_read_reply(socks[i], &r), 0);
		itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
	}
	cr_expect_eq(itest_calls_on("a"), 4);
}

Test(ours, sigterm_waits_for_command_in_flight)
{
	struct client_reply r;
	int a, sock, rc, st = -1;

	itest_start(TH_OURS, NULL);
	a = itest_dev("a", O_RDWR);
	itest_hang("a");
	sock = send_pr_in(a);
	wait_calls(1);
	cr_assert_eq(kill(itest_env.pid, SIGTERM), 0);
	rc = th_wait_notify(&itest_env, "STOPPING=1", TH_TIMEOUT_MS);
	cr_assert_eq(rc, 0, "no STOPPING=1: %s", strerror(-rc));
	cr_assert_eq(th_shim_set(&itest_env, "%s status=0x18\n",
			 itest_dev_path("a")),
	    0);
	cr_assert_eq(client_read_reply(sock, &r), 0, "answer lost");
	itest_expect(&r, PRH_STATUS_RESERVATION_CONFLICT, -1, 0, 0);
	rc = th_wait_exit(&itest_env, TH_TIMEOUT_MS, &st);
	cr_assert_eq(rc, 0, "helper did not exit");
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
	cr_expect(!exists(itest_env.sock), "socket left behind");
}

Test(ours, full_queue_parks_connections)
{
	static const char *const args[] = {
		"--threads=1",
		"--queue-max=2",
		NULL,
	};
	struct client_reply r;
	char name[16];
	int socks[6], dev, i;

	itest_start(TH_OURS, args);
	cr_assert_eq(th_shim_set(&itest_env, "* hang=1\n"), 0);
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "lun%d", i);
		dev = itest_dev(name, O_RDWR);
		socks[i] = send_pr_in(dev);
		close(dev);
	}
	wait_calls(1);
	/* One runs, two wait in the queue, the rest wait in their sockets. */
	cr_assert_eq(th_shim_set(&itest_env, "* status=0\n"), 0);
	for (i = 0; i < 6; i++) {
		cr_assert_eq(client_read_reply(socks[i], &r), 0,
		    "connection %d dropped", i);
		itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
	}
	cr_expect_eq(th_wait_shim_calls(&itest_env, 6, TH_TIMEOUT_MS), 6);
}

ITEST_BOTH(quiet_suppresses_messages)
{
	static const char *const args[] = { "-q", NULL };
	struct client_reply r;
	uint8_t cdb[PRH_CDB_LEN];
	char *err;
	int sock, dev;

	itest_start(kind, args);
	dev = itest_dev("lun", O_RDWR);
	sock = itest_conn();
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_send_request(sock, cdb, -1, NULL, 0), 0);
	itest_expect_closed(sock);
	close(sock);
	/* The loop has moved on past the error once it answers this. */
	sock = itest_conn();
	itest_pr_in(sock, dev, 0, 8192, &r);
	itest_expect_ioerr(&r);
	err = th_stderr(&itest_env);
	cr_assert_not_null(err);
	cr_expect(strstr(err, "No file descriptor") == NULL, "stderr: %s", err);
	free(err);
}

ITEST_BOTH(idle_connections_are_cheap)
{
	struct client_reply r;
	long before, after;
	int socks[200], dev, i, n = 200;

	itest_start(kind, NULL);
	dev = itest_dev("lun", O_RDWR);
	socks[0] = itest_conn();
	itest_pr_in(socks[0], dev, 0, 8192, &r);
	before = th_vmrss_kb(itest_env.pid);
	cr_assert_gt(before, 0);
	for (i = 1; i < n; i++)
		socks[i] = itest_conn();
	/* Every connection has been accepted and greeted; one more round
	 * trip on the last makes sure the loop has caught up. */
	itest_pr_in(socks[n - 1], dev, 0, 8192, &r);
	itest_expect_ioerr(&r);
	after = th_vmrss_kb(itest_env.pid);
	cr_assert_gt(after, 0);
	cr_log_info("%ld KiB more for %d idle connections", after - before, n);
	cr_expect_lt(after - before, 32L * n, "%ld KiB for %d idle connections",
	    after - before, n);
	for (i = 0; i < n; i++)
		close(socks[i]);
}

/* --multipath=on on a host without device-mapper: start-up fails, with
 * the reason (auto, the default, starts: every other test). */
Test(ours, multipath_on_without_device_mapper_fails_start)
{
	static const char *const args[] = { "--multipath=on", NULL };
	struct th_env e;
	char *err;
	int rc, st = -1;

	if (exists("/dev/mapper/control"))
		cr_skip_test("this host has device-mapper");
	cr_assert_eq(th_env_init(&e, TH_OURS), 0);
	rc = th_run(&e, args, 0, TH_TIMEOUT_MS, &st);
	err = th_stderr(&e);
	th_env_fini(&e);
	cr_assert_eq(rc, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status 0x%x", st);
	cr_expect(err != NULL &&
		strstr(err,
		    "--multipath=on: cannot open /dev/mapper/control") != NULL,
	    "%s", err ? err : "");
	free(err);
}
