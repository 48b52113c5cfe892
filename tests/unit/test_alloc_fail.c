/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Allocation-failure injection: an in-process server (server.c, conn.c,
 * pool.c on a real event base) runs a scripted client session once for
 * every N, with the Nth allocation failing.  Every run must end without a
 * crash or a hang, with each request answered correctly or its
 * connection closed, and with every allocation freed again.
 *
 * The binary is linked with --wrap for malloc, calloc, realloc and free,
 * which catches the project's own calls; libevent's allocations are routed
 * through the same functions with event_set_mem_functions().  Live blocks
 * are kept in a table, so a leak shows in every build, not only under
 * LeakSanitizer.
 */
#include "config.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "prh/client.h"
#include "prh/cmd.h"
#include "prh/config.h"
#include "prh/fdpass.h"
#include "prh/log.h"
#include "prh/protocol.h"
#include "prh/server.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void __real_free(void *p);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void __wrap_free(void *p);

#define LIVE_SLOTS	 (1 << 16) /* open-addressed set of live blocks */
#define CLIENT_TIMEOUT_S 5	   /* a reply later than this is a hang */

/* Injection state, shared by the loop, worker and client threads. */
static struct {
	pthread_mutex_t lock; /* protects live[] and nlive */
	void *live[LIVE_SLOTS];
	unsigned nlive;
	atomic_bool tracking;	 /* record blocks in live[] */
	atomic_long count;	 /* allocations since arming */
	atomic_long fail_at;	 /* this one fails (1-based), 0: none */
	atomic_bool failed;	 /* the failure was injected */
	atomic_size_t fail_size; /* every malloc of this size fails, 0: none */
	atomic_long size_failed; /* mallocs failed for their size */
} inj = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Slot of p in the live set, or of the free slot where it would go. */
static unsigned
live_slot(void *p)
{
	unsigned h = (unsigned)(((uintptr_t)p >> 4) * 2654435761u) &
	    (LIVE_SLOTS - 1);

	while (inj.live[h] != NULL && inj.live[h] != p)
		h = (h + 1) & (LIVE_SLOTS - 1);
	return h;
}

/* Record a new block. */
static void
live_add(void *p)
{
	if (p == NULL || !atomic_load(&inj.tracking))
		return;
	pthread_mutex_lock(&inj.lock);
	if (inj.nlive < LIVE_SLOTS / 2) {
		inj.live[live_slot(p)] = p;
		inj.nlive++;
	}
	pthread_mutex_unlock(&inj.lock);
}

/* Forget a block (re-inserting the cluster after it). */
static void
live_del(void *p)
{
	unsigned h, j;
	void *q;

	if (p == NULL)
		return;
	pthread_mutex_lock(&inj.lock);
	h = live_slot(p);
	if (inj.live[h] == p) {
		inj.live[h] = NULL;
		inj.nlive--;
		for (j = (h + 1) & (LIVE_SLOTS - 1); inj.live[j] != NULL;
		     j = (j + 1) & (LIVE_SLOTS - 1)) {
			q = inj.live[j];
			inj.live[j] = NULL;
			inj.live[live_slot(q)] = q;
		}
	}
	pthread_mutex_unlock(&inj.lock);
}

/* Whether this allocation is the one to fail. */
static bool
inj_should_fail(void)
{
	long n = atomic_fetch_add(&inj.count, 1) + 1;

	if (n == atomic_load(&inj.fail_at)) {
		atomic_store(&inj.failed, true);
		if (getenv("PRH_ALLOC_FAIL_TRACE") != NULL) {
			void *bt[16];

			backtrace_symbols_fd(bt, backtrace(bt, 16), 2);
		}
		return true;
	}
	return false;
}

/* malloc with injection. */
void *
__wrap_malloc(size_t size)
{
	void *p;

	if (size == atomic_load(&inj.fail_size)) {
		atomic_fetch_add(&inj.size_failed, 1);
		return NULL;
	}
	if (inj_should_fail())
		return NULL;
	p = __real_malloc(size);
	live_add(p);
	return p;
}

/* calloc with injection. */
void *
__wrap_calloc(size_t n, size_t size)
{
	void *p;

	if (inj_should_fail())
		return NULL;
	p = __real_calloc(n, size);
	live_add(p);
	return p;
}

/* realloc with injection. */
void *
__wrap_realloc(void *p, size_t size)
{
	void *q;

	if (inj_should_fail())
		return NULL;
	q = __real_realloc(p, size);
	if (q != NULL) {
		live_del(p);
		live_add(q);
	}
	return q;
}

/* free, forgetting the block. */
void
__wrap_free(void *p)
{
	live_del(p);
	__real_free(p);
}

/* What the scripted client saw. */
struct session {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int rw_fd;	 /* "device" opened O_RDWR */
	int ro_fd;	 /* the same, O_RDONLY */
	int done_fd;	 /* written when the script ends */
	int answered;	 /* replies checked and correct */
	int closed;	 /* connections closed by the server */
	char error[256]; /* first wrong thing seen, or "" */
};

/* Record the first error of a session. */
static void
sess_error(struct session *s, const char *what, int rc)
{
	if (s->error[0] == '\0')
		snprintf(s->error, sizeof(s->error), "%s: %s", what,
		    rc < 0 ? strerror(-rc) : "unexpected bytes");
}

/* Connect with short timeouts: fd or -errno. */
static int
sess_connect(struct session *s)
{
	struct timeval tv = { .tv_sec = CLIENT_TIMEOUT_S };
	int fd = client_connect_raw(s->path);

	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	return fd;
}

/* Whether a failed read or write means the server closed the
 * connection (counted), rather than a hang or error (recorded). */
static bool
sess_closed(struct session *s, const char *what, int rc)
{
	if (rc == -ECONNRESET || rc == -EPIPE) {
		s->closed++;
		return true;
	}
	sess_error(s, what, rc);
	return false;
}

/* One command and its check: the reply must carry want_status and sense
 * key want_key; a close is accepted.  Returns whether to go on. */
static bool
sess_command(struct session *s, int sock, const uint8_t *cdb, int devfd,
    const uint8_t *param, size_t plen, uint8_t want_key)
{
	struct client_reply r;
	int rc;

	rc = client_send_request(sock, cdb, devfd, param, plen);
	if (rc == 0)
		rc = client_read_reply(sock, &r);
	if (rc < 0) {
		(void)sess_closed(s, "command", rc);
		return false;
	}
	if (r.status != PRH_STATUS_CHECK_CONDITION || r.size != 0 ||
	    r.sense[0] != 0x70 || (r.sense[2] & 0x0f) != want_key) {
		sess_error(s, "wrong reply", 1);
		return false;
	}
	s->answered++;
	return true;
}

/* Pipeline n PR OUTs on the read-only fd (answered without the device),
 * sending while the socket takes them and reading only when it does not,
 * so that replies pile up in the server (its output buffer, then it stops
 * reading).  Returns whether to go on. */
static bool
sess_pipeline(struct session *s, int sock, int n)
{
	struct pollfd pfd = { .fd = sock };
	struct client_reply r;
	uint8_t req[PRH_CDB_LEN + 24];
	int sent = 0, got = 0, rc, fl = fcntl(sock, F_GETFL);
	ssize_t w;

	client_cdb_pr_out(req, 0, 0, 24);
	client_param_basic(req + PRH_CDB_LEN, 0, 0x1234, 0);
	bool filling = true; /* read nothing until sending stalls */

	while (got < n) {
		pfd.events = (filling ? 0 : POLLIN) | (sent < n ? POLLOUT : 0);
		rc = poll(&pfd, 1, filling ? 50 : CLIENT_TIMEOUT_S * 1000);
		if (rc == 0 && filling) {
			filling = false;
			continue;
		}
		if (rc <= 0) {
			sess_error(s, "pipeline", -ETIMEDOUT);
			return false;
		}
		if (sent < n && (pfd.revents & POLLOUT)) {
			fcntl(sock, F_SETFL, fl | O_NONBLOCK);
			w = fdpass_send(sock, req, sizeof(req), s->ro_fd);
			fcntl(sock, F_SETFL, fl);
			if (w < 0 && w != -EAGAIN)
				return sess_closed(s, "pipeline", (int)w) &&
				    false;
			sent += w == (ssize_t)sizeof(req);
			continue;
		}
		rc = client_read_reply(sock, &r);
		if (rc < 0)
			return sess_closed(s, "pipeline", rc) && false;
		if (r.status != PRH_STATUS_CHECK_CONDITION ||
		    (r.sense[2] & 0x0f) != PRH_SK_ILLEGAL_REQUEST) {
			sess_error(s, "pipelined reply", 1);
			return false;
		}
		got++;
	}
	s->answered++;
	return true;
}

/* The scripted session, on its own thread. */
static void *
sess_run(void *arg)
{
	struct session *s = arg;
	uint8_t hello[PRH_HELLO_LEN] = { 0 }, cdb[PRH_CDB_LEN], param[24];
	int sock, bad, rc;

	sock = sess_connect(s);
	bad = sess_connect(s);
	if (sock < 0 || bad < 0) {
		sess_error(s, "connect", sock < 0 ? sock : bad);
		goto out;
	}
	rc = client_read_all(sock, hello, sizeof(hello));
	if (rc == 0)
		rc = client_write_all(sock, hello, sizeof(hello));
	if (rc < 0 && !sess_closed(s, "hello", rc))
		goto out;
	if (rc == 0) {
		/* A regular file: SG_IO fails, ABORTED COMMAND. */
		client_cdb_pr_in(cdb, 0, 8192);
		if (!sess_command(s, sock, cdb, s->rw_fd, NULL, 0,
			PRH_SK_ABORTED_COMMAND))
			goto bad;
		client_cdb_pr_out(cdb, 0, 0, sizeof(param));
		client_param_basic(param, 0, 0x1234, 0);
		if (!sess_command(s, sock, cdb, s->rw_fd, param, sizeof(param),
			PRH_SK_ABORTED_COMMAND))
			goto bad;
		/* PR OUT on a read-only fd: refused without the device. */
		if (!sess_command(s, sock, cdb, s->ro_fd, param, sizeof(param),
			PRH_SK_ILLEGAL_REQUEST))
			goto bad;
		(void)sess_pipeline(s, sock, 1000);
	}
bad:
	/* A protocol violation: the server must close, not answer. */
	rc = client_read_all(bad, hello, sizeof(hello));
	if (rc == 0)
		rc = client_write_all(bad, hello, sizeof(hello));
	if (rc == 0) {
		memset(cdb, 0, sizeof(cdb));
		cdb[0] = 0x12;
		rc = client_send_request(bad, cdb, s->rw_fd, NULL, 0);
		if (rc == 0)
			rc = client_read_all(bad, hello, 1);
		if (rc == 0)
			sess_error(s, "invalid request answered", 1);
	}
	if (rc < 0)
		(void)sess_closed(s, "invalid request", rc);
out:
	if (sock >= 0)
		close(sock);
	if (bad >= 0)
		close(bad);
	(void)!write(s->done_fd, "x", 1);
	return NULL;
}

/* The session ended: stop the loop. */
static void
sess_done_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* Listening socket at path: fd. */
static int
listen_at(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	strcpy(sun.sun_path, path);
	unlink(path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(listen(fd, 16), 0);
	return fd;
}

/* One run with the fail_at-th allocation failing (0: none).  Returns
 * whether the failure was injected; checks the session and leaks. */
static bool
run_once(const struct prh_config *cfg, struct session *s, long fail_at,
    long *allocs, bool check_leaks)
{
	struct event_base *base;
	struct event *done;
	struct server *srv = NULL;
	pthread_t th;
	int pfd[2], lfd, r;
	unsigned nlive;

	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	base = event_base_new();
	cr_assert_not_null(base);
	done = event_new(base, pfd[0], EV_READ, sess_done_cb, base);
	cr_assert_not_null(done);
	event_add(done, NULL);
	lfd = listen_at(s->path);
	s->answered = s->closed = 0;
	s->error[0] = '\0';
	s->done_fd = pfd[1];

	pthread_mutex_lock(&inj.lock);
	memset(inj.live, 0, sizeof(inj.live));
	inj.nlive = 0;
	pthread_mutex_unlock(&inj.lock);
	atomic_store(&inj.count, 0);
	atomic_store(&inj.failed, false);
	atomic_store(&inj.fail_at, fail_at);
	atomic_store(&inj.tracking, true);

	r = server_new(base, cfg, lfd, NULL, &srv);
	if (r < 0) {
		close(lfd); /* still ours on failure */
	} else {
		cr_assert_eq(pthread_create(&th, NULL, sess_run, s), 0);
		event_base_dispatch(base);
		cr_assert_eq(pthread_join(th, NULL), 0);
		server_free(srv);
	}
	atomic_store(&inj.fail_at, 0);
	*allocs = atomic_load(&inj.count);
	/* The base keeps some of what the server made it allocate. */
	event_free(done);
	event_base_free(base);
	atomic_store(&inj.tracking, false);
	pthread_mutex_lock(&inj.lock);
	nlive = inj.nlive;
	pthread_mutex_unlock(&inj.lock);

	if (check_leaks)
		cr_expect_eq(nlive, 0,
		    "allocation %ld failed: %u block(s) leaked", fail_at,
		    nlive);
	cr_expect_str_empty(s->error, "allocation %ld failed: %s", fail_at,
	    s->error);
	if (r < 0)
		cr_expect(atomic_load(&inj.failed),
		    "server_new failed "
		    "without an injected failure: %s",
		    strerror(-r));
	/* Without a failure, everything is answered and only the bad
	 * connection is closed. */
	if (!atomic_load(&inj.failed)) {
		cr_expect_eq(s->answered, 4);
		cr_expect_eq(s->closed, 1);
	}
	close(pfd[0]);
	close(pfd[1]);
	unlink(s->path);
	return atomic_load(&inj.failed);
}

/* Drop libevent's messages (each failed allocation warns). */
static void
ev_log_quiet(int severity, const char *msg)
{
	(void)severity;
	(void)msg;
}

/* Route libevent's allocations through the wrappers. */
static void *
ev_malloc(size_t n)
{
	return __wrap_malloc(n);
}
static void *
ev_realloc(void *p, size_t n)
{
	return __wrap_realloc(p, n);
}
static void
ev_free(void *p)
{
	__wrap_free(p);
}

/* What both tests set up: libevent's allocations through the wrappers,
 * no log, the configuration, and in a new directory the session's socket
 * path and "device" (a file, opened read-write and read-only). */
static void
af_setup(struct prh_config *cfg, struct session *s, char *dir, char *dev,
    size_t devlen)
{
	static char *argv[] = {
		"qemu-pr-helper",
		"--threads=2",
		"--queue-max=4",
		NULL,
	};

	event_set_mem_functions(ev_malloc, ev_realloc, ev_free);
	event_set_log_callback(ev_log_quiet);
	cr_assert_eq(evthread_use_pthreads(), 0);
	log_set_verbosity(0);
	cr_assert_eq(config_parse(cfg, 3, argv), CONFIG_RUN);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(s->path, sizeof(s->path), "%s/sock", dir);
	snprintf(dev, devlen, "%s/dev", dir);
	s->rw_fd = open(dev, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	s->ro_fd = open(dev, O_RDONLY | O_CLOEXEC);
	cr_assert(s->rw_fd >= 0 && s->ro_fd >= 0);
}

/* Close and remove what af_setup() made. */
static void
af_teardown(struct session *s, const char *dir, const char *dev)
{
	close(s->rw_fd);
	close(s->ro_fd);
	unlink(dev);
	rmdir(dir);
}

Test(alloc_fail, every_allocation_of_a_session, .timeout = 240)
{
	struct prh_config cfg;
	struct session s = { 0 };
	char dir[] = "/tmp/prh-allocfail-XXXXXX", dev[64];
	long n, allocs = 0, total = 0, injected = 0, misses;

	af_setup(&cfg, &s, dir, dev, sizeof(dev));
	/* Clean runs first: the first makes libevent's lazily allocated
	 * globals, the second gives the count. */
	cr_assert(!run_once(&cfg, &s, 0, &total, false));
	for (int i = 0; i < 5; i++) {
		/* The fewest a session needs: every run reaches that many. */
		cr_assert(!run_once(&cfg, &s, 0, &allocs, true));
		if (i == 0 || allocs < total)
			total = allocs;
	}
	cr_assert_gt(total, 5);
	/* A session's allocation count varies a little with timing (whether
	 * a reply had to be buffered, or the closer had given back its queue
	 * entry, for two): each failure point gets up to 3 runs to reach it,
	 * and the search goes on until several points in a row are never
	 * reached. */
	for (n = 1, misses = 0; n <= 10 * total && misses < 5; n++) {
		int tries = 0;

		while (tries < 3 && !run_once(&cfg, &s, n, &allocs, true))
			tries++;
		if (tries < 3) {
			injected++;
			misses = 0;
		} else {
			misses++;
		}
	}
	cr_log_info("%ld allocations in a clean run; %ld runs with one "
		    "failing",
	    total, injected);
	cr_expect_geq(injected, total - 1,
	    "only %ld runs reached their "
	    "failure (a clean run needs at least %ld allocations)",
	    injected, total);
	af_teardown(&s, dir, dev);
}

/* No memory for any command buffer: every request is still read in full
 * and answered (ABORTED COMMAND, or what needs no command: ILLEGAL
 * REQUEST for PR OUT on a read-only fd), and no connection is closed but
 * the one that breaks the protocol. */
Test(alloc_fail, no_command_buffer_is_answered_not_closed, .timeout = 60)
{
	struct prh_config cfg;
	struct session s = { 0 };
	char dir[] = "/tmp/prh-allocfail-XXXXXX", dev[64];
	long allocs;

	/* Only the command buffers fail: libevent's buffers are powers of
	 * two, and nothing else is as large. */
	cr_assert_neq(sizeof(struct cmd) & (sizeof(struct cmd) - 1), 0);
	af_setup(&cfg, &s, dir, dev, sizeof(dev));
	atomic_store(&inj.fail_size, sizeof(struct cmd));
	/* run_once() checks: 4 answered, only the bad connection closed,
	 * nothing leaked. */
	cr_assert(!run_once(&cfg, &s, 0, &allocs, true));
	atomic_store(&inj.fail_size, 0);
	cr_expect_gt(atomic_load(&inj.size_failed), 1000,
	    "%ld command buffers refused", atomic_load(&inj.size_failed));
	af_teardown(&s, dir, dev);
}
