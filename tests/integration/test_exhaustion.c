/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Integration: resource exhaustion.  The helper keeps serving the
 * connections it has and recovers when the fd limit is reached, when a
 * client never reads its answers or stalls half-way through a request,
 * when a hung device fills the queue, and it refuses peers outside
 * --allow-uid / --allow-gid.  Our helper only.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prh/fdpass.h"
#include "itest.h"

TestSuite(exh, .fini = itest_fini, .timeout = 60);

#define DATA_LEN 8192 /* GOOD PR IN payload the shim returns */

/* The unsigned number right after the last occurrence of key in the
 * helper's stderr, or -1. */
static long
stderr_number_after(const char *key)
{
	char *err = th_stderr(&itest_env), *p, *last = NULL;
	long v = -1;

	cr_assert_not_null(err);
	for (p = err; (p = strstr(p, key)) != NULL; p += strlen(key))
		last = p;
	if (last != NULL)
		v = strtol(last + strlen(key), NULL, 10);
	free(err);
	return v;
}

/* The unsigned number just before the first occurrence of key. */
static long
stderr_number_before(const char *key)
{
	char *err = th_stderr(&itest_env), *p;
	long v = -1;

	cr_assert_not_null(err);
	p = strstr(err, key);
	if (p != NULL) {
		while (p > err && p[-1] >= '0' && p[-1] <= '9')
			p--;
		v = strtol(p, NULL, 10);
	}
	free(err);
	return v;
}

/* CPU time (user + system, clock ticks) of pid. */
static long
cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL)
		return -1;
	/* Fields after the command: state is 3, utime 14, stime 15. */
	if (sscanf(p + 2,
		"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
		"%lu %lu",
		&ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

/* Set this process's fd limit (soft and hard) to n; children inherit it. */
static void
limit_self(rlim_t n)
{
	struct rlimit rl = { .rlim_cur = n, .rlim_max = n };

	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit: %s",
	    strerror(errno));
}

/* Shim control text: every device answers GOOD with DATA_LEN bytes, the
 * byte at offset i being (i & 0xff). */
static void
shim_good_data(void)
{
	static char hex[2 * DATA_LEN + 1];
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < DATA_LEN; i++) {
		hex[2 * i] = digits[(i & 0xff) >> 4];
		hex[2 * i + 1] = digits[i & 0xf];
	}
	hex[2 * DATA_LEN] = '\0';
	cr_assert_eq(th_shim_set(&itest_env, "* status=0 data=%s\n", hex), 0);
}

/* Send one PR IN (allocation length alloc, devfd attached) without
 * blocking: 0, or -EAGAIN if the socket buffer is full. */
static int
send_pr_in_nb(int sock, int devfd, uint16_t alloc)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	uint8_t cdb[PRH_CDB_LEN];
	struct iovec iov = { .iov_base = cdb, .iov_len = sizeof(cdb) };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *cm;
	ssize_t n;

	client_cdb_pr_in(cdb, 0, alloc);
	memset(&ctl, 0, sizeof(ctl));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &devfd, sizeof(int));
	n = sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	cr_assert_eq(n, (ssize_t)sizeof(cdb), "sendmsg: %s", strerror(errno));
	return 0;
}

/* Pipeline up to max PR INs with allocation lengths DATA_LEN - i until
 * the socket takes no more: the number sent. */
static int
pipeline(int sock, int devfd, int max)
{
	int bufsz = 4 << 20, i;

	/* As root, a send buffer beyond wmem_max. */
	if (setsockopt(sock, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz,
		sizeof(bufsz)) < 0)
		setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	for (i = 0; i < max; i++)
		if (send_pr_in_nb(sock, devfd, (uint16_t)(DATA_LEN - i)) < 0)
			break;
	return i;
}

/* Poll the shim log until its call count stays the same for a few
 * steps: the helper has stopped issuing commands, an absence that no
 * event announces.  Returns the count. */
static int
calls_settle(void)
{
	struct th_sgio_call *calls;
	int last = -1, same = 0, n;

	for (int step = 0; step < 200 && same < 5; step++) {
		(void)poll(NULL, 0, 50);
		n = th_shim_calls(&itest_env, &calls);
		cr_assert_geq(n, 0);
		free(calls);
		same = n == last ? same + 1 : 0;
		last = n;
	}
	return last;
}

/* Read reply i of a pipeline and check it: GOOD, DATA_LEN - i bytes,
 * payload intact. */
static void
expect_pipelined_reply(int sock, int i, struct client_reply *r)
{
	int rc = client_read_reply(sock, r);

	cr_assert_eq(rc, 0, "reply %d: %s", i, strerror(-rc));
	cr_assert_eq(r->status, PRH_STATUS_GOOD, "reply %d status", i);
	cr_assert_eq(r->size, (uint32_t)(DATA_LEN - i),
	    "reply %d out of "
	    "order: size %u",
	    i, r->size);
	for (uint32_t k = 0; k < r->size; k += 511)
		cr_assert_eq(r->data[k], (uint8_t)(k & 0xff));
}

/* --- the fd limit -------------------------------------------------------- */

Test(exh, fd_limit_full_table_keeps_serving)
{
	static const char *const args[] = { "--threads=2", NULL };
	enum {
		NCLI = 40
	};
	struct client_reply r;
	int keep, dev, cli[NCLI], greeted = 0, first_waiting = -1, i, base;
	long cap, t0, t1;

	/* The helper inherits this limit; it raises its soft limit only as
	 * far as the hard one.  It keeps room beyond its budget for the fds
	 * one message can carry. */
	limit_self(96 + FDPASS_MAX_FDS);
	itest_start(TH_OURS, args);
	dev = itest_dev("lun", O_RDWR);
	keep = itest_conn();
	base = th_fd_count(itest_env.pid);
	itest_pr_in(keep, dev, 0, 8192, &r);
	itest_expect_ioerr(&r);
	/* Its device fd goes to the closer, which may be after the reply:
	 * the count before the request is the one to come back to. */
	base = itest_fds_settle(base);
	for (i = 0; i < NCLI; i++) {
		cli[i] = th_connect_raw(&itest_env);
		cr_assert_geq(cli[i], 0, "connect %d: %s", i,
		    strerror(-cli[i]));
	}
	itest_expect_stderr("accepting paused until one closes");
	cap = stderr_number_before(" connections: the fd limit");
	cr_assert_gt(cap, 1);
	cr_assert_lt(cap, NCLI, "limit %ld too high for this test", cap);
	/* Greetings are sent before the pause is logged. */
	for (i = 0; i < NCLI; i++) {
		if (th_readable(cli[i], 0))
			greeted++;
		else if (first_waiting < 0)
			first_waiting = i;
	}
	cr_expect_eq(greeted, cap - 1, "%d greeted, limit %ld", greeted, cap);
	cr_assert_geq(first_waiting, 0);
	/* The connection that was there still gets answers, without the
	 * listener waking the loop. */
	t0 = cpu_ticks(itest_env.pid);
	for (i = 0; i < 50; i++) {
		itest_pr_in(keep, dev, 0, 8192, &r);
		itest_expect_ioerr(&r);
	}
	t1 = cpu_ticks(itest_env.pid);
	cr_log_info("cap %ld, CPU ticks over 50 probes at the limit: %ld", cap,
	    t1 - t0);
	cr_expect_eq(itest_stderr_count("accepting paused"), 1);
	cr_expect_eq(itest_stderr_count("pausing accept"), 0,
	    "accept failed "
	    "although the helper stopped at its own limit");
	/* Free one slot: the first waiting client is served. */
	for (i = 0; i < NCLI && !th_readable(cli[i], 0); i++)
		;
	close(cli[i]);
	cli[i] = -1;
	cr_assert(th_readable(cli[first_waiting], TH_TIMEOUT_MS),
	    "waiting client not greeted after a close");
	itest_handshake(cli[first_waiting]);
	itest_pr_in(cli[first_waiting], dev, 0, 8192, &r);
	itest_expect_ioerr(&r);
	/* Close everyone: a new client is served at once. */
	for (i = 0; i < NCLI; i++)
		if (cli[i] >= 0)
			close(cli[i]);
	itest_fds_settle(base);
	itest_expect_served(dev);
	close(keep);
}

Test(exh, emfile_pauses_accept_and_a_lost_fd_answers_busy)
{
	static const char *const args[] = { "--threads=2", NULL };
	enum {
		NCLI = 8
	};
	struct client_reply r;
	struct rlimit old, low;
	int a, b, dev, cli[NCLI], i, n;
	long pauses, t0, t1;

	itest_start(TH_OURS, args);
	dev = itest_dev("lun", O_RDWR);
	a = itest_conn();
	b = itest_conn();
	n = th_fd_count(itest_env.pid);
	itest_pr_in(a, dev, 0, 8192, &r);
	itest_expect_ioerr(&r);
	/* Lower the limit under the running helper: it does not know, so
	 * accept() itself fails with EMFILE. */
	n = itest_fds_settle(n);
	cr_assert_gt(n, 0);
	cr_assert_eq(prlimit(itest_env.pid, RLIMIT_NOFILE, NULL, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)n + 2;
	cr_assert_eq(prlimit(itest_env.pid, RLIMIT_NOFILE, &low, NULL), 0,
	    "prlimit: %s", strerror(errno));
	for (i = 0; i < NCLI; i++) {
		cli[i] = th_connect_raw(&itest_env);
		cr_assert_geq(cli[i], 0);
	}
	itest_expect_stderr("pausing accept");
	t0 = cpu_ticks(itest_env.pid);
	/* No room for the fd that comes with a request: MSG_CTRUNC.  The
	 * helper, not the client, is short of fds: the request is answered
	 * BUSY (QEMU would fail a migration on a closed connection), and
	 * the connection stays. */
	itest_pr_in(a, dev, 0, 8192, &r);
	itest_expect(&r, PRH_STATUS_BUSY, -1, 0, 0);
	itest_expect_stderr("file descriptor lost");
	/* A PR OUT's parameter list is read all the same. */
	itest_pr_out(a, dev, &r);
	itest_expect(&r, PRH_STATUS_BUSY, -1, 0, 0);
	/* Give the fds back: the waiting clients are accepted and a and b
	 * are served again. */
	cr_assert_eq(prlimit(itest_env.pid, RLIMIT_NOFILE, &old, NULL), 0);
	for (i = 0; i < NCLI; i++)
		cr_assert(th_readable(cli[i], TH_TIMEOUT_MS),
		    "client %d never greeted", i);
	itest_pr_in(a, dev, 0, 8192, &r);
	itest_expect_ioerr(&r);
	close(a);
	itest_pr_in(b, dev, 0, 8192, &r);
	itest_expect_ioerr(&r);
	itest_expect_stderr("accepting again after");
	t1 = cpu_ticks(itest_env.pid);
	pauses = stderr_number_after("accepting again after ");
	cr_log_info("%ld accept pauses, %ld CPU ticks while paused", pauses,
	    t1 - t0);
	/* One retry per 200 ms timer, not one per loop iteration. */
	cr_expect(pauses >= 1 && pauses < 100, "%ld accept pauses", pauses);
	cr_expect_eq(itest_stderr_count("pausing accept"), 1);
	for (i = 0; i < NCLI; i++)
		close(cli[i]);
	itest_expect_served(dev);
	close(b);
}

/* --- clients that do not read -------------------------------------------- */

Test(exh, unread_replies_stop_reading_then_arrive_in_order)
{
	static const char *const args[] = { "--threads=2", NULL };
	struct client_reply *r = malloc(sizeof(*r));
	int sock, dev, sent, calls, i;
	long before, after;

	cr_assert_not_null(r);
	itest_start(TH_OURS, args);
	shim_good_data();
	dev = itest_dev("lun", O_RDWR);
	sock = itest_conn();
	for (i = 0; i < 4; i++) {
		itest_pr_in(sock, dev, 0, DATA_LEN, r);
		cr_assert_eq(r->size, DATA_LEN);
	}
	before = th_vmrss_kb(itest_env.pid);
	sent = pipeline(sock, dev, 2000);
	cr_assert_geq(sent, 200, "only %d requests fit in the socket", sent);
	calls = calls_settle() - 4;
	after = th_vmrss_kb(itest_env.pid);
	cr_log_info("%d requests sent, %d run, RSS %ld -> %ld KiB", sent, calls,
	    before, after);
	/* Only what the socket buffers hold was run; the rest waits. */
	cr_expect_lt(calls, sent / 2,
	    "%d of %d requests run while the "
	    "client read nothing",
	    calls, sent);
	/* Unbounded, it would grow by 8 KiB per request sent. */
	cr_expect_lt(after - before, th_sanitized(itest_env.pid) ? 8192 : 2048,
	    "RSS grew by %ld KiB", after - before);
	for (i = 0; i < sent; i++)
		expect_pipelined_reply(sock, i, r);
	cr_expect_eq(th_wait_shim_calls(&itest_env, sent + 4, TH_TIMEOUT_MS),
	    sent + 4);
	itest_pr_in(sock, dev, 0, 16, r);
	cr_expect_eq(r->size, 16);
	close(sock);
	free(r);
}

Test(exh, write_timeout_drops_non_reader)
{
	static const char *const args[] = {
		"--threads=2",
		"--write-timeout=1",
		NULL,
	};
	struct client_reply *r = malloc(sizeof(*r));
	int sock, other, dev, sent, base, i, rc;

	cr_assert_not_null(r);
	itest_start(TH_OURS, args);
	shim_good_data();
	dev = itest_dev("lun", O_RDWR);
	other = itest_conn();
	base = th_fd_count(itest_env.pid);
	itest_pr_in(other, dev, 0, DATA_LEN, r);
	base = itest_fds_settle(base);
	sock = itest_conn();
	sent = pipeline(sock, dev, 400);
	cr_assert_geq(sent, 100);
	itest_expect_stderr("client took no reply for 1 s");
	/* Its socket and the device fds of its unread requests are gone. */
	cr_expect_eq(itest_fds_settle(base), base, "fds not released");
	/* What was sent before the drop arrives in order, then EOF. */
	for (i = 0; i < sent; i++) {
		rc = client_read_reply(sock, r);
		if (rc != 0)
			break;
		cr_assert_eq(r->size, (uint32_t)(DATA_LEN - i));
	}
	cr_expect_eq(rc, -ECONNRESET, "no EOF after %d replies", i);
	cr_expect_lt(i, sent);
	/* A client that reads is not affected. */
	itest_pr_in(other, dev, 0, 100, r);
	cr_expect_eq(r->size, 100);
	close(sock);
	close(other);
	free(r);
}

/* --- clients that stall -------------------------------------------------- */

/* Assert the helper closes sock (what: which client), showing its log
 * otherwise. */
static void
expect_closed(int sock, const char *what)
{
	int rc = th_wait_closed(sock, TH_TIMEOUT_MS);
	char *err;

	if (rc == 0)
		return;
	err = th_stderr(&itest_env);
	cr_assert_fail("%s: not closed (%s); stderr: %s", what,
	    rc == -EPROTO ? "bytes received" : strerror(-rc), err);
}

Test(exh, idle_timeout_closes_partial_requests_only)
{
	static const char *const args[] = { "--idle-timeout=1", NULL };
	struct client_reply r;
	uint8_t cdb[PRH_CDB_LEN], param[24] = { 0 };
	int idle, busy, half_cdb, half_param, mute, dev, hung, base;

	itest_start(TH_OURS, args);
	dev = itest_dev("lun", O_RDWR);
	hung = itest_dev("hung", O_RDWR);
	itest_hang("hung");
	idle = itest_conn();
	base = th_fd_count(itest_env.pid);
	itest_pr_in(idle, dev, 0, 8192, &r);
	base = itest_fds_settle(base);
	/* A complete request on a hung device: waiting for the answer is
	 * not idling. */
	busy = itest_conn();
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_send_request(busy, cdb, hung, NULL, 0), 0);
	cr_assert_eq(th_wait_shim_calls(&itest_env, 2, TH_TIMEOUT_MS), 2);
	/* Half a CDB (with its fd). */
	half_cdb = itest_conn();
	cr_assert_eq(th_send_fds(half_cdb, cdb, 8, &dev, 1), 0);
	/* A PR OUT CDB and 10 of its 24 parameter bytes. */
	half_param = itest_conn();
	client_cdb_pr_out(cdb, 0, 0, sizeof(param));
	cr_assert_eq(th_send_fds(half_param, cdb, sizeof(cdb), &dev, 1), 0);
	cr_assert_eq(client_write_all(half_param, param, 10), 0);
	/* No handshake at all. */
	mute = th_connect_raw(&itest_env);
	cr_assert_geq(mute, 0);

	expect_closed(half_cdb, "half a CDB");
	expect_closed(half_param, "half a parameter list");
	cr_assert(th_readable(mute, TH_TIMEOUT_MS));
	{
		uint8_t hello[PRH_HELLO_LEN];

		cr_assert_eq(client_read_all(mute, hello, sizeof(hello)), 0);
	}
	expect_closed(mute, "no handshake");
	itest_expect_stderr("in the middle of a request");
	itest_expect_stderr("in the middle of a handshake");
	/* idle has sat between requests longer than the timeout. */
	itest_pr_in(idle, dev, 0, 8192, &r);
	itest_expect_ioerr(&r);
	/* busy kept waiting; release the device and it gets its answer. */
	cr_assert_eq(th_shim_set(&itest_env, "%s status=0x18\n",
			 itest_dev_path("hung")),
	    0);
	cr_assert_eq(client_read_reply(busy, &r), 0, "busy client dropped");
	itest_expect(&r, PRH_STATUS_RESERVATION_CONFLICT, -1, 0, 0);
	cr_expect_eq(itest_stderr_count("in the middle of a"), 3);
	close(half_cdb);
	close(half_param);
	close(mute);
	close(busy);
	cr_expect_eq(itest_fds_settle(base), base, "fd leak");
	close(idle);
}

/* --- hung devices -------------------------------------------------------- */

/* Wait until needle occurs n times in the helper's stderr, woken by
 * inotify when the file is written. */
static void
wait_stderr_count(const char *needle, int n)
{
	int ino = inotify_init1(IN_CLOEXEC);
	struct pollfd pfd = { .fd = ino, .events = POLLIN };
	char buf[4096];

	cr_assert_geq(ino, 0);
	cr_assert_geq(inotify_add_watch(ino, itest_env.err, IN_MODIFY), 0);
	while (itest_stderr_count(needle) < n) {
		cr_assert_eq(poll(&pfd, 1, TH_TIMEOUT_MS), 1,
		    "stderr: %d x \"%s\" not reached", n, needle);
		(void)!read(ino, buf, sizeof(buf)); /* drain the events */
	}
	close(ino);
}

/* Ask for the nth SIGUSR1 summary and return the value of "key=" in
 * it. */
static long
summary_value(const char *key, int nth)
{
	char needle[32];

	cr_assert_eq(kill(itest_env.pid, SIGUSR1), 0);
	wait_stderr_count("summary:", nth);
	snprintf(needle, sizeof(needle), " %s=", key);
	return stderr_number_after(needle);
}

Test(exh, hung_device_fills_its_queue_other_device_served)
{
	static const char *const args[] = {
		"--threads=2",
		"--max-per-device=1",
		"--queue-max=8",
		NULL,
	};
	enum {
		NA = 10
	};
	struct client_reply r;
	uint8_t cdb[PRH_CDB_LEN];
	int a, b, socks[NA], sock, base, i, nth = 0;
	long parked = -1;

	itest_start(TH_OURS, args);
	a = itest_dev("a", O_RDWR);
	b = itest_dev("b", O_RDWR);
	sock = itest_conn();
	base = th_fd_count(itest_env.pid);
	cr_assert_eq(th_shim_set(&itest_env, "%s/a hang=1\n%s/b status=0\n",
			 itest_env.dir, itest_env.dir),
	    0);
	client_cdb_pr_in(cdb, 0, 8192);
	for (i = 0; i < NA; i++) {
		socks[i] = itest_conn();
		cr_assert_eq(client_send_request(socks[i], cdb, a, NULL, 0), 0);
		/* Let the first one reach a worker: read together with the
		 * next two, it would still be queued when the third came. */
		if (i == 0)
			cr_assert_geq(th_wait_shim_calls(&itest_env, 1,
					  TH_TIMEOUT_MS),
			    1);
	}
	/* One runs, two wait in a's queue (queue-max / 4), seven wait for
	 * room with their connections parked. */
	while (parked != NA - 3 && nth < 50)
		parked = summary_value("parked", ++nth);
	cr_assert_eq(parked, NA - 3, "parked=%ld", parked);
	cr_expect_eq(stderr_number_after(" queued="), 2);
	/* The other device is still served, repeatedly. */
	for (i = 0; i < 5; i++) {
		itest_pr_in(sock, b, 0, 8192, &r);
		itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
	}
	cr_expect_eq(itest_calls_on("a"), 1);
	/* Release a: everything drains, in full. */
	cr_assert_eq(th_shim_set(&itest_env, "* status=0\n"), 0);
	for (i = 0; i < NA; i++) {
		cr_assert_eq(client_read_reply(socks[i], &r), 0,
		    "connection %d dropped", i);
		itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
	}
	cr_expect_eq(itest_calls_on("a"), NA);
	cr_expect_eq(summary_value("parked", ++nth), 0);
	cr_expect_eq(stderr_number_after(" queued="), 0);
	for (i = 0; i < NA; i++)
		close(socks[i]);
	cr_expect_eq(itest_fds_settle(base), base, "fd leak");
	close(sock);
}

/* --- --allow-uid / --allow-gid ------------------------------------------- */

/* In a child with the given ids (and supplementary group sup unless
 * (gid_t)-1), connect and report: 0 if greeted, 1 if closed without a
 * greeting, 2+ on errors. */
static int
connect_as(uid_t uid, gid_t gid, gid_t sup)
{
	pid_t pid;
	int st;

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		uint8_t hello[PRH_HELLO_LEN];
		int fd, rc;

		if (setgroups(sup == (gid_t)-1 ? 0 : 1, &sup) < 0 ||
		    setgid(gid) < 0 || setuid(uid) < 0)
			_exit(2);
		fd = th_connect_raw(&itest_env);
		if (fd < 0)
			_exit(3);
		rc = client_read_all(fd, hello, sizeof(hello));
		_exit(rc == 0 ? 0 : rc == -ECONNRESET ? 1 : 4);
	}
	while (waitpid(pid, &st, 0) < 0)
		cr_assert_eq(errno, EINTR);
	cr_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Start the helper with args and let anyone reach its socket. */
static void
start_open_to_all(const char *const *args)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to connect as another user");
	itest_start(TH_OURS, args);
	cr_assert_eq(chmod(itest_env.dir, 0755), 0);
	cr_assert_eq(chmod(itest_env.sock, 0666), 0);
}

Test(exh, allow_uid_refuses_other_users)
{
	static const char *const args[] = {
		"--allow-uid=root",
		"--allow-gid=4242,4243",
		NULL,
	};
	int dev;

	start_open_to_all(args);
	cr_expect_eq(connect_as(65534, 65534, (gid_t)-1), 1,
	    "nobody was served");
	itest_expect_stderr("uid 65534] gid 65534: not in --allow-uid");
	/* A supplementary group on the list is enough. */
	cr_expect_eq(connect_as(65534, 65534, 4243), 0,
	    "member of an allowed group refused");
	/* root is on the list. */
	dev = itest_dev("lun", O_RDWR);
	itest_expect_served(dev);
}

Test(exh, allow_gid_by_number)
{
	static const char *const args[] = {
		"--allow-uid=1",
		"--allow-uid=2",
		"--allow-gid=65534",
		NULL,
	};

	start_open_to_all(args);
	cr_expect_eq(connect_as(65534, 65534, (gid_t)-1), 0,
	    "primary group on the list refused");
	cr_expect_eq(connect_as(4000, 4000, (gid_t)-1), 1,
	    "uid 4000 was served");
	cr_expect_eq(connect_as(2, 4000, (gid_t)-1), 0,
	    "second --allow-uid ignored");
	itest_expect_stderr("uid 4000] gid 4000: not in");
}

Test(exh, allow_lists_reject_bad_values)
{
	static const char *const bad[][2] = {
		{ "--allow-uid=no-such-user-xyz", NULL },
		{ "--allow-gid=", NULL },
		{ "--allow-uid=1,,2", NULL },
		{ "--idle-timeout=-1", NULL },
		{ "--write-timeout=x", NULL },
	};

	itest_prepare(TH_OURS);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(itest_run_exit(TH_OURS, bad[i]), 1, "%s accepted",
		    bad[i][0]);
}
