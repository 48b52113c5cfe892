/* SPDX-License-Identifier: GPL-2.0-or-later */
/* No close of a client's fd on the event loop: closes that wait, as an
 * attacker makes them.
 *
 * The last close of a file runs its release on the thread that drops the
 * last reference, and some releases wait: a TCP socket with SO_LINGER and
 * unsent data waits up to its linger time, a Unix socket frees the
 * messages queued in it (with the fds they carry), a FUSE file's close
 * waits for the file system's daemon.  A client sends such a file with
 * every frame of the protocol (hello, CDB, parameter list), alone or
 * among the 253 fds one message can carry, out of band, on a connection
 * the helper refuses at accept or closes before reading it all.  Each
 * time the close provably waits on a thread of the helper that is not its
 * loop thread (a thread inside close(): /proc/PID/task/TID/syscall),
 * another client is served within 100 ms meanwhile, and SIGTERM stops the
 * helper within 1 s.  One client (a uid) whose closes never return
 * holds 4 closer threads, no more: the fds of others are closed past
 * its own, and its connections stop reading at 64 fds queued while
 * others' go on.  With all 16 closer threads waiting (four such
 * clients), further fds queue, counted in the fd budget: connections
 * then wait, the fd table does not grow, and SIGTERM still stops the
 * helper.  Other clients are other uids (root only): a child process
 * connects as one and hands the socket over.
 *
 * The test's own reference goes first, so that the helper's is the last:
 * the helper is stopped (SIGSTOP) while the test sends the file and closes
 * its copy.  TCP is on 127.0.0.1 only, with an ephemeral port; the
 * listener never accepts, so the data never leaves the send buffer and
 * the linger (an hour) does not end on its own; closing the listener
 * resets the connections and ends it.  FUSE needs root and /dev/fuse; a
 * FLUSH the daemon never answers cannot be interrupted, so a closer thread
 * waiting in one keeps the process until the daemon goes (doc/threads.md):
 * there SIGTERM is checked to stop the helper's main thread within 1 s,
 * and the process to end within 1 s once the daemon is gone (with a
 * sanitizer runtime, whose leak check at exit stops every thread, the
 * daemon goes first).  Skipped under $PRH_HELPER_WRAPPER: valgrind runs
 * one thread at a time and keeps its lock in a close() that waits.
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prh/fdpass.h"
#include "fusesrv.h"
#include "itest.h"

#ifndef LG_LINGER_S
#define LG_LINGER_S 3600 /* a close that waits this long: for ever here */
#endif
/* Bounds that tell "not waiting for a close" (which waits LG_LINGER_S)
 * from "served", on a loaded machine too: how fast is the benchmark's
 * question, not this test's. */
#define LG_SERVED_MS	  10000 /* another client's answer, at the most */
#define LG_STOP_MS	  10000 /* SIGTERM to exit, at the most */
/* Both with $PRH_HELPER_BIN set (contrib/tsan.sh: ThreadSanitizer runs
 * slowly, and sleeps 1 s at exit to catch late races). */
#define LG_SERVED_SLOW_MS 20000
#define LG_STOP_SLOW_MS	  20000
#define LG_SAMPLES	  3	/* requests timed per check */
#define LG_CLOSERS	  16	/* the closer's threads at the most */
#define LG_PER_CLIENT	  4	/* of them one client holds at the most */
#define LG_CLIENT_MAX	  64	/* a client's fds with the closer: no reads */
#define LG_UID		  65534 /* the first of the other clients' uids */
#define LG_QUEUED	  4	/* fds queued behind busy closer threads */
#define LG_NOFILE	  360	/* the fd limit of the budget tests' helper */
#define LG_RULE		  "* status=0 data=0000000100000000\n"

/* The frame an attack sends its fds with. */
enum lg_frame {
	LG_HELLO, /* the client's hello */
	LG_CDB,	  /* a PR IN CDB */
	LG_PARAM, /* a PR OUT parameter list (its CDB has a disk's fd) */
};

/* What an attack sends. */
enum lg_kind {
	LG_TCP,	 /* a lingering TCP socket */
	LG_UNIX, /* a Unix socket holding a lingering TCP socket */
	LG_FUSE, /* a file of a FUSE daemon that stops answering */
	LG_MANY, /* 253 fds: 8 of /dev/null, then a lingering TCP socket */
};

static struct {
	int listener;	   /* 127.0.0.1, never accepts */
	struct fusesrv fs; /* the FUSE tests' daemon */
} lg = { .listener = -1 };

/* Suite teardown: the FUSE daemon goes first (a helper thread waiting
 * for it could not be killed), then the listener (ending every linger),
 * then the helper. */
static void
lg_fini(void)
{
	fusesrv_stop(&lg.fs);
	if (lg.listener >= 0)
		close(lg.listener);
	lg.listener = -1;
	itest_fini();
}

TestSuite(ours, .fini = lg_fini, .timeout = 60);

/* Skip where a close that waits would stop every thread. */
static void
lg_need_threads(void)
{
	const char *w = getenv("PRH_HELPER_WRAPPER");

	if (w != NULL && w[0] != '\0')
		cr_skip_test("under $PRH_HELPER_WRAPPER (valgrind holds its "
			     "lock in a close() that waits)");
}

/* Start our helper (args may be NULL) with the catch-all GOOD rule. */
static void
lg_start(const char *const *args)
{
	lg_need_threads();
	itest_start(TH_OURS, args);
	cr_assert_eq(th_shim_set(&itest_env, LG_RULE), 0);
}

/* A TCP socket whose last close waits for LG_LINGER_S: connected to the
 * listener, which never accepts, its send buffer full, SO_LINGER on. */
static int
lg_tcp(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	struct linger lin = { .l_onoff = 1, .l_linger = LG_LINGER_S };
	char buf[4096] = { 0 };
	int small = 4096, fd;
	ssize_t n, total = 0;

	if (lg.listener < 0) {
		lg.listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_geq(lg.listener, 0, "socket: %s", strerror(errno));
		/* Connections inherit the small receive buffer. */
		cr_assert_eq(setsockopt(lg.listener, SOL_SOCKET, SO_RCVBUF,
				 &small, sizeof(small)),
		    0);
		cr_assert_eq(bind(lg.listener, (struct sockaddr *)&sin,
				 sizeof(sin)),
		    0, "bind 127.0.0.1: %s", strerror(errno));
		cr_assert_eq(listen(lg.listener, 64), 0);
	}
	cr_assert_eq(getsockname(lg.listener, (struct sockaddr *)&sin, &len),
	    0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small,
			 sizeof(small)),
	    0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, len), 0,
	    "connect: %s", strerror(errno));
	while (
	    (n = send(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL)) > 0)
		total += n;
	cr_assert(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
	    "send: %s", strerror(errno));
	cr_assert_gt(total, 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin)),
	    0);
	return fd;
}

/* A Unix stream socket whose last close waits: a lingering TCP socket
 * waits in its receive queue, and the close frees it. */
static int
lg_unix(void)
{
	int sv[2], tcp = lg_tcp();

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(th_send_fds(sv[0], "x", 1, &tcp, 1), 0);
	close(tcp); /* the message holds it now */
	close(sv[0]);
	return sv[1];
}

/* Mount the FUSE daemon (in this test's own mount namespace) and open
 * its file; skips unless root with /dev/fuse. */
static int
lg_fuse(void)
{
	const char *why;
	int r, fd;

	r = fusesrv_start_private(&lg.fs, itest_env.dir, &why);
	if (why != NULL)
		cr_skip_test("%s: %s", why, strerror(-r));
	cr_assert_eq(r, 0, "mount FUSE: %s", strerror(-r));
	fd = open(lg.fs.file, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", lg.fs.file, strerror(errno));
	return fd;
}

/* Fill fds with what kind sends: the count. */
static int
lg_fds(enum lg_kind kind, int fds[FDPASS_MAX_FDS])
{
	int tcp;

	switch (kind) {
	case LG_TCP:
		fds[0] = lg_tcp();
		return 1;
	case LG_UNIX:
		fds[0] = lg_unix();
		return 1;
	case LG_FUSE:
		fds[0] = lg_fuse();
		return 1;
	case LG_MANY:
		break;
	}
	/* Past the 8 fds the control buffer used to hold. */
	for (int i = 0; i < 8; i++) {
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		cr_assert_geq(fds[i], 0);
	}
	tcp = lg_tcp();
	for (int i = 8; i < FDPASS_MAX_FDS; i++) {
		fds[i] = i == 8 ? tcp : dup(tcp);
		cr_assert_geq(fds[i], 0, "dup: %s", strerror(errno));
	}
	return FDPASS_MAX_FDS;
}

/* The state letter of the helper's main (loop) thread. */
static char
lg_state(void)
{
	char path[64], *buf, *p;
	char st = '?';

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)itest_env.pid);
	buf = th_read_file(path, NULL);
	cr_assert_not_null(buf);
	p = strrchr(buf, ')');
	if (p != NULL && p[1] == ' ')
		st = p[2];
	free(buf);
	return st;
}

/* Poll until the main thread's state is one of states: whether it was
 * within timeout_ms (a stop or an exit has no event here). */
static bool
lg_wait_state(const char *states, int timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;

	while (strchr(states, lg_state()) == NULL) {
		if (th_now_ms() >= deadline)
			return false;
		poll(NULL, 0, 5);
	}
	return true;
}

/* Stop the helper, and wait until its loop thread is stopped. */
static void
lg_freeze(void)
{
	cr_assert_eq(kill(itest_env.pid, SIGSTOP), 0);
	cr_assert(lg_wait_state("tT", TH_TIMEOUT_MS), "helper not stopped");
}

/* Let the helper run on. */
static void
lg_thaw(void)
{
	cr_assert_eq(kill(itest_env.pid, SIGCONT), 0);
}

/* Threads of the helper inside close(); *loop: whether its loop thread
 * (the main thread) is one of them. */
static int
lg_closing(bool *loop)
{
	char path[PATH_MAX], *buf;
	struct dirent *de;
	int n = 0;
	DIR *d;

	*loop = false;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)itest_env.pid);
	d = opendir(path);
	cr_assert_not_null(d, "%s: %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/syscall",
		    (int)itest_env.pid, de->d_name);
		buf = th_read_file(path, NULL);
		if (buf != NULL && atol(buf) == SYS_close &&
		    strncmp(buf, "running", 7) != 0) {
			n++;
			if (atoi(de->d_name) == itest_env.pid)
				*loop = true;
		}
		free(buf);
	}
	closedir(d);
	return n;
}

/* Wait until n threads of the helper wait in close() (none of them its
 * loop thread): the count then. */
static int
lg_wait_closing(int n)
{
	long long deadline = th_now_ms() + TH_TIMEOUT_MS;
	bool loop;
	int got;

	/* A thread's syscall has no event: poll. */
	while ((got = lg_closing(&loop)) < n && th_now_ms() < deadline)
		poll(NULL, 0, 5);
	cr_assert_geq(got, n, "%d thread(s) wait in close(), expected %d", got,
	    n);
	cr_assert(!loop, "the loop thread waits in close()");
	return got;
}

/* Bound on another client's answer (stop false), or on the exit after
 * SIGTERM (stop true). */
static int
lg_bound_ms(bool stop)
{
	const char *bin = getenv("PRH_HELPER_BIN");

	if (bin != NULL && bin[0] != '\0')
		return stop ? LG_STOP_SLOW_MS : LG_SERVED_SLOW_MS;
	return stop ? LG_STOP_MS : LG_SERVED_MS;
}

/* A PR IN on the shim's disk, sent on sock: answered GOOD within the
 * bound, LG_SAMPLES times. */
static void
lg_expect_served(int sock)
{
	struct client_reply r;
	long long t0, ms, worst = 0;
	int dev = itest_dev("lun", O_RDWR);

	for (int i = 0; i < LG_SAMPLES; i++) {
		t0 = th_now_ms();
		itest_pr_in(sock, dev, 0, 8192, &r);
		ms = th_now_ms() - t0;
		cr_expect_eq(r.status, PRH_STATUS_GOOD, "status 0x%02x",
		    r.status);
		if (ms > worst)
			worst = ms;
	}
	close(dev);
	cr_log_info("another client served in %lld ms at worst", worst);
	cr_assert_lt(worst, lg_bound_ms(false),
	    "another client waited %lld ms for its answer", worst);
}

/* SIGTERM: the helper exits, 0, within LG_STOP_MS. */
static void
lg_expect_sigterm_exit(void)
{
	long long t0 = th_now_ms();
	int st = 0, rc;

	rc = th_stop(&itest_env, SIGTERM, lg_bound_ms(true), &st);
	cr_assert_eq(rc, 0, "no exit within %d ms of SIGTERM",
	    lg_bound_ms(true));
	cr_log_info("exit %lld ms after SIGTERM", th_now_ms() - t0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
}

/* SIGTERM with closer threads waiting for the FUSE daemon: the helper's
 * main thread is gone within LG_STOP_MS (the process waits for those
 * threads), and the process ends within LG_STOP_MS of the daemon's. */
static void
lg_expect_sigterm_fuse(void)
{
	int st = 0;

	/* LeakSanitizer stops every thread at exit (ptrace), and a thread
	 * in an uninterruptible wait never stops: the daemon goes first. */
	if (th_sanitized(itest_env.pid)) {
		fusesrv_stop(&lg.fs);
		lg_expect_sigterm_exit();
		return;
	}
	cr_assert_eq(kill(itest_env.pid, SIGTERM), 0);
	cr_assert(lg_wait_state("Z", lg_bound_ms(true)),
	    "main thread still there %d ms after SIGTERM", lg_bound_ms(true));
	cr_expect_eq(access(itest_env.sock, F_OK), -1, "socket left");
	fusesrv_stop(&lg.fs);
	cr_assert_eq(th_wait_exit(&itest_env, lg_bound_ms(true), &st), 0,
	    "no exit within %d ms of the FUSE daemon's", lg_bound_ms(true));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
}

/* Connect, read the helper's hello, and send ours unless the attack
 * sends it. */
static int
lg_connect(bool hello)
{
	uint8_t buf[PRH_HELLO_LEN] = { 0 };
	int sock = th_connect_raw(&itest_env);

	cr_assert_geq(sock, 0, "connect: %s", strerror(-sock));
	cr_assert_eq(client_read_all(sock, buf, sizeof(buf)), 0);
	if (hello)
		cr_assert_eq(client_write_all(sock, (uint8_t[4]){ 0 }, 4), 0);
	return sock;
}

/* Send frame on sock with the n fds of fds, and close the test's copies,
 * while the helper is stopped (if freeze): its references are then the
 * last.  A FUSE daemon stops answering once the test's copies are
 * closed.  (A signal ends a linger: no SIGSTOP once a close waits.) */
static void
lg_send(int sock, enum lg_frame frame, int *fds, int n, bool freeze)
{
	uint8_t cdb[PRH_CDB_LEN], param[24], hello[PRH_HELLO_LEN] = { 0 };
	int lun = -1, rc = 0;

	if (frame == LG_PARAM)
		lun = itest_dev("lun", O_RDWR);
	if (freeze)
		lg_freeze();
	switch (frame) {
	case LG_HELLO:
		rc = th_send_fds(sock, hello, sizeof(hello), fds, n);
		break;
	case LG_CDB:
		client_cdb_pr_in(cdb, 0, 8192);
		rc = th_send_fds(sock, cdb, sizeof(cdb), fds, n);
		break;
	case LG_PARAM:
		client_cdb_pr_out(cdb, 0x00, 0x00, sizeof(param));
		client_param_basic(param, 0, 0x1234, 0);
		rc = th_send_fds(sock, cdb, sizeof(cdb), &lun, 1);
		if (rc == 0)
			rc = th_send_fds(sock, param, sizeof(param), fds, n);
		break;
	}
	cr_assert_eq(rc, 0, "send: %s", strerror(-rc));
	for (int i = 0; i < n; i++)
		close(fds[i]);
	if (lun >= 0)
		close(lun);
	if (lg.fs.running)
		fusesrv_stall(&lg.fs);
	if (freeze)
		lg_thaw();
}

/* One attack: kind sent with frame while another client waits to be
 * served. */
static void
lg_case(enum lg_frame frame, enum lg_kind kind)
{
	int fds[FDPASS_MAX_FDS], n, other, sock;
	struct client_reply r;

	lg_start(NULL);
	other = itest_conn();
	n = lg_fds(kind, fds);
	sock = lg_connect(frame != LG_HELLO);
	lg_send(sock, frame, fds, n, true);
	/* The last close waits, on a closer thread. */
	lg_wait_closing(1);
	lg_expect_served(other);
	/* The frame's answer, as QEMU's helper gives it: fds with the hello
	 * or the parameter list are dropped and the connection goes on (the
	 * PR OUT runs on its disk); a CDB's one fd is refused as no device
	 * node; more than one close the connection. */
	if (frame == LG_HELLO) {
		lg_expect_served(sock);
	} else if (frame == LG_PARAM) {
		cr_assert_eq(client_read_reply(sock, &r), 0);
		itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
	} else if (n == 1) {
		cr_assert_eq(client_read_reply(sock, &r), 0);
		itest_expect_ioerr(&r);
	} else {
		itest_expect_closed(sock);
	}
	lg_expect_served(other);
	lg_wait_closing(1); /* still waiting */
	close(sock);
	close(other);
	if (kind == LG_FUSE)
		lg_expect_sigterm_fuse();
	else
		lg_expect_sigterm_exit();
}

Test(ours, lingering_tcp_socket_with_the_hello)
{
	lg_case(LG_HELLO, LG_TCP);
}

Test(ours, lingering_tcp_socket_with_a_cdb)
{
	lg_case(LG_CDB, LG_TCP);
}

Test(ours, lingering_tcp_socket_with_the_parameter_list)
{
	lg_case(LG_PARAM, LG_TCP);
}

Test(ours, lingering_unix_socket_with_the_hello)
{
	lg_case(LG_HELLO, LG_UNIX);
}

Test(ours, lingering_unix_socket_with_a_cdb)
{
	lg_case(LG_CDB, LG_UNIX);
}

Test(ours, lingering_unix_socket_with_the_parameter_list)
{
	lg_case(LG_PARAM, LG_UNIX);
}

Test(ours, stalled_fuse_file_with_the_hello)
{
	lg_case(LG_HELLO, LG_FUSE);
}

Test(ours, stalled_fuse_file_with_a_cdb)
{
	lg_case(LG_CDB, LG_FUSE);
}

Test(ours, stalled_fuse_file_with_the_parameter_list)
{
	lg_case(LG_PARAM, LG_FUSE);
}

Test(ours, fds_9_to_253_with_the_hello)
{
	lg_case(LG_HELLO, LG_MANY);
}

Test(ours, fds_9_to_253_with_a_cdb)
{
	lg_case(LG_CDB, LG_MANY);
}

Test(ours, fds_9_to_253_with_the_parameter_list)
{
	lg_case(LG_PARAM, LG_MANY);
}

/* --- other ways to leave a socket in the helper's hands -------------- */

/* How the socket reaches the helper. */
enum lg_way {
	LG_OOB,	    /* a CDB's first byte, sent out of band */
	LG_REFUSED, /* on a connection refused at accept */
	LG_UNREAD,  /* after a CDB that closes the connection */
};

/* Send a lingering TCP socket the way way says while another client
 * waits to be served. */
static void
lg_other_way(enum lg_way way)
{
	static const char *const one[] = { "--max-clients-per-uid=1", NULL };
	uint8_t cdb[PRH_CDB_LEN];
	struct client_reply r;
	int other, sock = -1, tcp, rc = 0;

	lg_start(way == LG_REFUSED ? one : NULL);
	other = itest_conn();
	tcp = lg_tcp();
	if (way != LG_REFUSED)
		sock = lg_connect(true);
	client_cdb_pr_in(cdb, 0, 8192);
	lg_freeze();
	switch (way) {
	case LG_OOB:
		/* Read in line, the fd is the request's (a plain read would
		 * skip the byte, and the kernel would drop it, fd and all). */
		rc = th_send_fds_flags(sock, cdb, 1, &tcp, 1, MSG_OOB);
		if (rc == 0)
			rc = client_write_all(sock, cdb + 1, sizeof(cdb) - 1);
		break;
	case LG_REFUSED:
		/* Sent before the helper accepts: queued in the socket it
		 * refuses (one connection per uid) and closes. */
		sock = th_connect_raw(&itest_env);
		cr_assert_geq(sock, 0, "connect: %s", strerror(-sock));
		rc = th_send_fds(sock, cdb, sizeof(cdb), &tcp, 1);
		break;
	case LG_UNREAD:
		/* A CDB without its fd closes the connection; the byte with
		 * the socket behind it is never read. */
		rc = client_write_all(sock, cdb, sizeof(cdb));
		if (rc == 0)
			rc = th_send_fds(sock, cdb, 1, &tcp, 1);
		break;
	}
	cr_assert_eq(rc, 0, "send: %s", strerror(-rc));
	close(tcp);
	lg_thaw();
	if (way == LG_OOB) {
		cr_assert_eq(client_read_reply(sock, &r), 0);
		itest_expect_ioerr(&r);
	} else {
		itest_expect_closed(sock);
	}
	lg_wait_closing(1);
	lg_expect_served(other);
	close(sock);
	close(other);
	lg_expect_sigterm_exit();
}

Test(ours, lingering_socket_sent_out_of_band)
{
	lg_other_way(LG_OOB);
}

Test(ours, lingering_socket_on_a_connection_refused_at_accept)
{
	lg_other_way(LG_REFUSED);
}

Test(ours, lingering_socket_unread_when_a_connection_closes)
{
	lg_other_way(LG_UNREAD);
}

Test(ours, lingering_socket_on_a_connection_pending_at_sigterm)
{
	uint8_t cdb[PRH_CDB_LEN];
	int sock, tcp, st = 0;

	lg_start(NULL);
	tcp = lg_tcp();
	client_cdb_pr_in(cdb, 0, 8192);
	/* A connection with the socket queued in it, and SIGTERM, both
	 * before the helper runs on: whether it accepts the connection
	 * first or closes its listening socket with it, the close that
	 * waits is not the loop's, and the helper exits. */
	lg_freeze();
	sock = th_connect_raw(&itest_env);
	cr_assert_geq(sock, 0, "connect: %s", strerror(-sock));
	cr_assert_eq(th_send_fds(sock, cdb, sizeof(cdb), &tcp, 1), 0);
	close(tcp);
	cr_assert_eq(kill(itest_env.pid, SIGTERM), 0);
	lg_thaw();
	cr_assert_eq(th_wait_exit(&itest_env, lg_bound_ms(true), &st), 0,
	    "no exit within %d ms of SIGTERM", lg_bound_ms(true));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
	close(sock);
}

/* --- every closer thread waits --------------------------------------- */

/* The budget tests' helper gets a small fd limit, so its fd budget is
 * small (a few dozen). */
static void
lg_low_limit(struct th_env *e)
{
	struct rlimit rl = { .rlim_cur = LG_NOFILE, .rlim_max = LG_NOFILE };

	(void)e;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		_exit(127);
}

/* A socket connected to the helper as uid (root only: a child drops to
 * it, connects and hands the socket over; the helper knows the client by
 * the credentials of connect()), its hello read and the test's sent. */
static int
lg_connect_as(uid_t uid)
{
	uint8_t buf[PRH_HELLO_LEN] = { 0 };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = buf, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int sv[2], sock = -1, st = 0;
	pid_t pid;

	if (geteuid() != 0)
		cr_skip_test("needs root (clients of other uids)");
	/* They reach the socket. */
	cr_assert_eq(chmod(itest_env.dir, 0711), 0);
	cr_assert_eq(chmod(itest_env.sock, 0666), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(10);
		sock = th_connect_raw(&itest_env);
		_exit(sock >= 0 && th_send_fds(sv[1], "s", 1, &sock, 1) == 0
			? 0
			: 11);
	}
	close(sv[1]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child 0x%x", st);
	cr_assert_eq(recvmsg(sv[0], &msg, MSG_CMSG_CLOEXEC), 1);
	cm = CMSG_FIRSTHDR(&msg);
	cr_assert(cm != NULL && cm->cmsg_type == SCM_RIGHTS);
	memcpy(&sock, CMSG_DATA(cm), sizeof(sock));
	close(sv[0]);
	cr_assert_eq(client_read_all(sock, buf, sizeof(buf)), 0);
	cr_assert_eq(client_write_all(sock, (uint8_t[4]){ 0 }, 4), 0);
	return sock;
}

/* Send the n fds of fds on one CDB of a new connection of uid (-1: the
 * test's own): more than one, so the helper closes the connection and
 * drops them all. */
static void
lg_send_many(uid_t uid, int *fds, int n, bool freeze)
{
	int sock = uid == (uid_t)-1 ? lg_connect(true) : lg_connect_as(uid);

	lg_send(sock, LG_CDB, fds, n, freeze);
	itest_expect_closed(sock);
	close(sock);
}

/* n new pipes: their read ends in rd, their write ends in wr. */
static void
lg_pipes(int *rd, int *wr, int n)
{
	int p[2];

	for (int i = 0; i < n; i++) {
		cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
		rd[i] = p[0];
		wr[i] = p[1];
	}
}

/* Make every closer thread wait: LG_CLOSERS / LG_PER_CLIENT clients
 * (uids) send LG_PER_CLIENT lingering sockets each on a CDB, all while
 * the helper is stopped (a signal would end a linger already waiting). */
static void
lg_clients_linger(void)
{
	enum {
		CLIENTS = LG_CLOSERS / LG_PER_CLIENT
	};
	int socks[CLIENTS], fds[CLIENTS][LG_PER_CLIENT];
	uint8_t cdb[PRH_CDB_LEN];

	for (int k = 0; k < CLIENTS; k++) {
		socks[k] = lg_connect_as(LG_UID - (uid_t)k);
		for (int i = 0; i < LG_PER_CLIENT; i++)
			fds[k][i] = lg_tcp();
	}
	client_cdb_pr_in(cdb, 0, 8192);
	lg_freeze();
	for (int k = 0; k < CLIENTS; k++) {
		cr_assert_eq(th_send_fds(socks[k], cdb, sizeof(cdb), fds[k],
				 LG_PER_CLIENT),
		    0);
		for (int i = 0; i < LG_PER_CLIENT; i++)
			close(fds[k][i]);
	}
	lg_thaw();
	for (int k = 0; k < CLIENTS; k++) {
		itest_expect_closed(socks[k]);
		close(socks[k]);
	}
}

/* Start a helper with the low fd limit; make all LG_CLOSERS closer
 * threads wait in lingering closes (four clients, each of which may hold
 * LG_PER_CLIENT), and LG_QUEUED pipe write ends wait behind them (their
 * read ends in rd); check that another client is served meanwhile; then
 * send FDPASS_MAX_FDS more (from a fifth client: the test's own is below
 * its bound, and waits for the budget only), which pass the fd budget:
 * the other client's next request then waits.  Returns that
 * client's socket, the request sent, and in *base the helper's fds
 * before. */
static int
lg_all_closers_busy(int rd[LG_QUEUED], int *base)
{
	static const char *const args[] = { "--threads=2", NULL };
	uint8_t cdb[PRH_CDB_LEN];
	int fds[FDPASS_MAX_FDS], other, p[2], dev, rc;
	bool loop;

	lg_need_threads();
	itest_prepare(TH_OURS);
	itest_env.pre_exec = lg_low_limit;
	rc = th_start(&itest_env, args);
	cr_assert_eq(rc, 0, "start: %s", strerror(-rc));
	cr_assert_eq(th_shim_set(&itest_env, LG_RULE), 0);
	other = itest_conn();
	*base = th_fd_count(itest_env.pid);
	lg_expect_served(other);
	/* The device fds it sent go to the closer, maybe after the reply. */
	*base = itest_fds_settle(*base);
	lg_clients_linger();
	lg_wait_closing(LG_CLOSERS);
	/* More wait behind them, open (their read ends see no hang-up),
	 * and the loop serves on. */
	lg_pipes(rd, fds, LG_QUEUED);
	lg_send_many((uid_t)-1, fds, LG_QUEUED, false);
	lg_expect_served(other);
	for (int i = 0; i < LG_QUEUED; i++)
		cr_expect(!th_readable(rd[i], 0), "pipe %d closed", i);
	/* A whole message more: the queue passes the budget. */
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	for (int i = 0; i < FDPASS_MAX_FDS; i++) {
		fds[i] = i == 0 ? p[1] : dup(p[1]);
		cr_assert_geq(fds[i], 0, "dup: %s", strerror(errno));
	}
	lg_send_many(LG_UID - LG_CLOSERS / LG_PER_CLIENT, fds, FDPASS_MAX_FDS,
	    false);
	/* Connections wait now: the request stays in its socket, and the
	 * fd table does not grow. */
	dev = itest_dev("lun", O_RDWR);
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_send_request(other, cdb, dev, NULL, 0), 0);
	close(dev);
	/* An answer withheld has no event: watch for one for 300 ms (a
	 * slow helper makes the check weaker, never fail). */
	cr_expect(!th_readable(other, 300), "answered over the fd budget");
	rc = th_fd_count(itest_env.pid);
	cr_log_info("helper fds: %d before, %d with the queue (limit %d)",
	    *base, rc, LG_NOFILE);
	cr_expect_lt(rc, LG_NOFILE);
	/* Sixteen threads, no more. */
	cr_expect_eq(lg_closing(&loop), LG_CLOSERS, "threads in close()");
	return other;
}

Test(ours, every_closer_thread_waiting_the_queue_takes_the_budget)
{
	int rd[LG_QUEUED], other, base;

	other = lg_all_closers_busy(rd, &base);
	lg_expect_sigterm_exit();
	for (int i = 0; i < LG_QUEUED; i++)
		close(rd[i]);
	close(other);
}

Test(ours, every_closer_thread_waiting_until_the_closes_return)
{
	int rd[LG_QUEUED], other, base;
	struct client_reply r;
	bool loop;

	other = lg_all_closers_busy(rd, &base);
	/* The lingers end (the listener goes: its connections are reset),
	 * every close returns, the queue is closed, and the request that
	 * waited is answered. */
	close(lg.listener);
	lg.listener = -1;
	cr_assert_eq(client_read_reply(other, &r), 0);
	cr_expect_eq(r.status, PRH_STATUS_GOOD, "status 0x%02x", r.status);
	for (int i = 0; i < LG_QUEUED; i++) {
		cr_expect(th_readable(rd[i], TH_TIMEOUT_MS), "pipe %d open", i);
		close(rd[i]);
	}
	lg_expect_served(other);
	cr_expect_eq(itest_fds_settle(base), base);
	cr_expect_eq(lg_closing(&loop), 0, "threads in close()");
	close(other);
	lg_expect_sigterm_exit();
}

/* --- one client's closes that never return --------------------------- */

/* Whether the n read ends of rd all see their write ends closed within
 * ms each. */
static bool
lg_all_closed(const int *rd, int n, int ms)
{
	for (int i = 0; i < n; i++)
		if (!th_readable(rd[i], ms))
			return false;
	return true;
}

/* A request of the test's own client (B) with a pipe: answered at once
 * as a refusal, the pipe closed by the helper. */
static void
lg_expect_pipe_refused(int sock)
{
	uint8_t cdb[PRH_CDB_LEN];
	struct client_reply r;
	int rd, wr;
	long long t0 = th_now_ms(), ms;

	lg_pipes(&rd, &wr, 1);
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_command(sock, cdb, wr, NULL, 0, &r), 0);
	ms = th_now_ms() - t0;
	close(wr);
	itest_expect_ioerr(&r);
	cr_assert_lt(ms, lg_bound_ms(false), "refusal after %lld ms", ms);
	cr_expect(lg_all_closed(&rd, 1, TH_TIMEOUT_MS), "B's pipe open");
	close(rd);
}

Test(ours, one_client_whose_closes_never_return_stops_alone)
{
	enum {
		STUCK = LG_CLOSERS + 4,	    /* A's lingering sockets */
		A_PIPES = LG_CLIENT_MAX,    /* A's pipes behind them */
		B_PIPES = 2 * LG_CLIENT_MAX /* B's, in one message */
	};
	int fds[FDPASS_MAX_FDS], a_rd[A_PIPES], b_rd[B_PIPES], b, a2, dev;
	uint8_t cdb[PRH_CDB_LEN];
	struct client_reply r;
	bool loop;

	lg_start(NULL);
	b = itest_conn(); /* B: the test's own uid */
	lg_expect_served(b);
	/* A (uid 65534): sockets whose closes wait, all in one message;
	 * A holds LG_PER_CLIENT closer threads, no more. */
	for (int i = 0; i < STUCK; i++)
		fds[i] = lg_tcp();
	lg_send_many(LG_UID, fds, STUCK, true);
	lg_wait_closing(LG_PER_CLIENT);
	lg_expect_served(b);
	lg_expect_pipe_refused(b);
	cr_expect_eq(lg_closing(&loop), LG_PER_CLIENT, "threads in close()");
	/* Then pipes, which would not wait: they queue behind A's own
	 * closes, and A passes its bound. */
	lg_pipes(a_rd, fds, A_PIPES);
	lg_send_many(LG_UID, fds, A_PIPES, false);
	/* A's next connection is not read: its request and fd stay in its
	 * socket. */
	a2 = lg_connect_as(LG_UID);
	dev = itest_dev("lun", O_RDWR);
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_send_request(a2, cdb, dev, NULL, 0), 0);
	close(dev);
	/* B is served throughout, its fds closed past A's queue: one by one
	 * with its requests, and many at once (B passes the bound for a
	 * moment too, and reads on once they are closed). */
	lg_expect_served(b);
	lg_expect_pipe_refused(b);
	lg_pipes(b_rd, fds, B_PIPES);
	lg_send_many((uid_t)-1, fds, B_PIPES, false);
	cr_expect(lg_all_closed(b_rd, B_PIPES, TH_TIMEOUT_MS),
	    "B's pipes open");
	lg_expect_served(b);
	lg_expect_pipe_refused(b);
	/* Withheld, as above: watched for 300 ms. */
	cr_expect(!th_readable(a2, 300), "A answered past its bound");
	for (int i = 0; i < A_PIPES; i++)
		cr_expect(!th_readable(a_rd[i], 0), "A's pipe %d closed", i);
	cr_expect_eq(lg_closing(&loop), LG_PER_CLIENT, "threads in close()");
	/* The lingers end (the listener goes): A's closes return, its queue
	 * is closed, and its waiting request is read and answered. */
	close(lg.listener);
	lg.listener = -1;
	cr_expect(lg_all_closed(a_rd, A_PIPES, TH_TIMEOUT_MS),
	    "A's pipes open");
	cr_assert_eq(client_read_reply(a2, &r), 0);
	cr_expect_eq(r.status, PRH_STATUS_GOOD, "status 0x%02x", r.status);
	lg_expect_served(b);
	for (int i = 0; i < A_PIPES; i++)
		close(a_rd[i]);
	for (int i = 0; i < B_PIPES; i++)
		close(b_rd[i]);
	close(a2);
	close(b);
	lg_expect_sigterm_exit();
}
