/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Chaos soak: hundreds of clients send random valid and invalid requests
 * and hang up mid-request, while LUN faults and latencies change under
 * them (lunsim fault) and the helper is stopped with SIGHUP or SIGTERM
 * and started again on a listening socket this program owns (socket
 * activation: LISTEN_FDS), so clients queue in its backlog meanwhile.
 *
 * At the end: every valid request got exactly one correct answer or a
 * clean close, the helper's fd count is back at a fresh instance's and its
 * RSS did not grow over the last instance's life, every instance exited 0,
 * and the helper's stderr has no sanitizer report.  TAP on stdout.
 *
 * Environment: SOAK_SECONDS (default 120), SOAK_CLIENTS (default 200),
 * PRH_TOP_BUILDDIR (the build tree).  The seed is printed first.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "prh/client.h"
#include "prh/fdpass.h"
#include "prh/protocol.h"
#include "harness.h"

#define NLUN		4
#define RESTART_MS	4000 /* between stop/start cycles */
#define TICK_MS		100  /* controller step */
#define REPLY_TIMEOUT_S 20   /* beyond --sg-timeout and any latency */

/* Counters shared by the client threads. */
static struct {
	atomic_long valid;    /* valid requests sent */
	atomic_long answered; /* ... answered once, correctly */
	atomic_long closed;   /* ... ended by a clean close */
	atomic_long invalid;  /* invalid requests, closed as they must */
	atomic_long aborted;  /* requests abandoned mid-way */
	atomic_long stalled;  /* partial requests closed by idle timeout */
	atomic_long connects;
	atomic_long errors; /* anything wrong */
	atomic_bool stop;
} st;

/* Paths of this run. */
static struct {
	char dir[256];
	char sock[PATH_MAX];
	char notify[PATH_MAX];
	char err[PATH_MAX];
	char lun[NLUN][PATH_MAX];
	char helper[PATH_MAX];
	char lunsim[PATH_MAX];
	int listen_fd;
	int notify_fd;
} run;

/* Log one failure (stops at a few lines). */
static void __attribute__((format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&st.errors, 1) >= 20)
		return;
	va_start(ap, fmt);
	fputs("# ERROR: ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	va_end(ap);
}

/* Milliseconds on the monotonic clock. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Run argv (NULL-terminated) and wait: its exit status, or -1. */
static int
run_cmd(char *const argv[])
{
	pid_t pid = fork();
	int stt;

	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &stt, 0) < 0)
		return -1;
	return WIFEXITED(stt) ? WEXITSTATUS(stt) : -1;
}

/* lunsim fault LUN WORD... */
static void
lun_fault(int lun, const char *w1, const char *w2)
{
	char *argv[] = { run.lunsim, (char *)"fault", run.lun[lun], (char *)w1,
		(char *)w2, NULL };

	if (run_cmd(argv) != 0)
		fail("lunsim fault %s %s failed", w1, w2 ? w2 : "");
}

/* --- the helper --------------------------------------------------------- */

/* Start a helper instance under lunsim on the listening socket. */
static pid_t
helper_start(void)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		char lp[32];
		int fd;

		fd = open(run.err, O_WRONLY | O_APPEND | O_CREAT, 0600);
		dup2(fd, 2);
		fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		if (run.listen_fd == 3)
			fcntl(3, F_SETFD, 0); /* dup2 would keep CLOEXEC */
		else
			dup2(run.listen_fd, 3);
		syscall(SYS_close_range, 4U, ~0U, 0U);
		snprintf(lp, sizeof(lp), "%d", (int)getpid());
		setenv("LISTEN_PID", lp, 1);
		setenv("LISTEN_FDS", "1", 1);
		unsetenv("LISTEN_FDNAMES");
		setenv("NOTIFY_SOCKET", run.notify, 1);
		execl(run.lunsim, run.lunsim, "--initiator", "soak", "--",
		    run.helper, "--threads=8", "--max-per-device=2",
		    "--queue-max=64", "--sg-timeout=3", "--idle-timeout=1",
		    "--write-timeout=5", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Wait for READY=1 from the instance: 0 or -1. */
static int
helper_wait_ready(void)
{
	struct pollfd pfd = { .fd = run.notify_fd, .events = POLLIN };
	long long end = now_ms() + 20000;
	char buf[512];
	ssize_t n;

	while (now_ms() < end) {
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		n = recv(run.notify_fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, "READY=1") != NULL)
			return 0;
	}
	return -1;
}

/* Read and drop what the helper sent on NOTIFY_SOCKET (STATUS=...), as
 * the service manager would: the helper's sd_notify() blocks once the
 * datagram queue (net.unix.max_dgram_qlen) is full. */
static void
notify_drain(void)
{
	char buf[512];

	while (recv(run.notify_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* Stop an instance with sig: its wait status, or -1 after SIGKILL. */
static int
helper_stop(pid_t pid, int sig)
{
	struct pollfd pfd = { .events = POLLIN };
	int stt, r = 0;

	pfd.fd = (int)syscall(SYS_pidfd_open, pid, 0);
	kill(pid, sig);
	if (pfd.fd >= 0) {
		r = poll(&pfd, 1, 30000);
		close(pfd.fd);
	}
	if (r == 0)
		kill(pid, SIGKILL);
	waitpid(pid, &stt, 0);
	return r == 0 ? -1 : stt;
}

/* --- clients -------------------------------------------------------------- */

/* Per-thread state. */
struct client {
	unsigned seed;
	int fd_rw[NLUN];
	int fd_ro[NLUN];
	pthread_t th;
};

/* Connect and handshake: fd, or -1 (the helper closed: not an error). */
static int
cl_connect(void)
{
	struct timeval tv = { .tv_sec = REPLY_TIMEOUT_S };
	uint8_t hello[PRH_HELLO_LEN];
	int fd = client_connect_raw(run.sock);

	if (fd < 0) {
		fail("connect: %s", strerror(-fd));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	atomic_fetch_add(&st.connects, 1);
	if (client_read_all(fd, hello, sizeof(hello)) < 0 ||
	    client_write_all(fd, "\0\0\0\0", 4) < 0) {
		close(fd); /* closed during a restart */
		return -1;
	}
	return fd;
}

/* Whether a reply is well formed for a command with allocation length
 * alloc (0 for PR OUT). */
static bool
cl_reply_ok(const struct client_reply *r, unsigned alloc)
{
	static const uint8_t zero[PRH_SENSE_LEN];

	switch (r->status) {
	case PRH_STATUS_GOOD:
		return r->size <= alloc &&
		    memcmp(r->sense, zero, sizeof(zero)) == 0;
	case PRH_STATUS_CHECK_CONDITION:
		return r->size == 0 &&
		    ((r->sense[0] & 0x7e) == 0x70 ||
			(r->sense[0] & 0x7e) == 0x72);
	case PRH_STATUS_RESERVATION_CONFLICT:
	case PRH_STATUS_BUSY:
		return r->size == 0;
	default:
		return false;
	}
}

/* One valid request; returns whether the connection is still usable. */
static bool
cl_valid(struct client *c, int sock)
{
	struct client_reply r;
	uint8_t cdb[PRH_CDB_LEN], param[24];
	int lun = rand_r(&c->seed) % NLUN, rc;
	unsigned alloc = 0;
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	bool ro = false;

	/* Nothing may be waiting: that would be a second answer. */
	if (poll(&pfd, 1, 0) == 1) {
		char b;

		if (recv(sock, &b, 1, MSG_DONTWAIT) == 1)
			fail("unsolicited bytes before a request");
		return false; /* closed by a restart */
	}
	if (rand_r(&c->seed) % 3 != 0) {
		alloc = 8 + rand_r(&c->seed) % (PRH_DATA_MAX - 7);
		client_cdb_pr_in(cdb, rand_r(&c->seed) % 3, (uint16_t)alloc);
		rc = client_send_request(sock, cdb, c->fd_rw[lun], NULL, 0);
	} else {
		uint64_t key = 1 + rand_r(&c->seed) % 16;

		ro = rand_r(&c->seed) % 8 == 0;
		client_cdb_pr_out(cdb, 0x06, 0, sizeof(param));
		client_param_basic(param, 0, key, 0);
		rc = client_send_request(sock, cdb,
		    ro ? c->fd_ro[lun] : c->fd_rw[lun], param, sizeof(param));
	}
	atomic_fetch_add(&st.valid, 1);
	if (rc == 0)
		rc = client_read_reply(sock, &r);
	if (rc == -ECONNRESET || rc == -EPIPE) {
		atomic_fetch_add(&st.closed, 1);
		return false;
	}
	if (rc < 0) {
		fail("valid request: %s", strerror(-rc));
		return false;
	}
	/* PR OUT on a read-only fd: refused, whatever the LUN's faults. */
	if (ro &&
	    (r.status != PRH_STATUS_CHECK_CONDITION ||
		(r.sense[2] & 0x0f) != 0x05 || r.sense[12] != 0x20)) {
		fail("PR OUT on a read-only fd: status 0x%02x", r.status);
		return false;
	}
	if (!cl_reply_ok(&r, alloc)) {
		fail("bad reply: status 0x%02x size %u alloc %u sense %02x",
		    r.status, r.size, alloc, r.sense[0]);
		return false;
	}
	atomic_fetch_add(&st.answered, 1);
	return true;
}

/* An invalid request: the helper must close without answering. */
static void
cl_invalid(struct client *c, int sock)
{
	uint8_t cdb[PRH_CDB_LEN], b;
	int lun = rand_r(&c->seed) % NLUN, rc;
	ssize_t n;

	switch (rand_r(&c->seed) % 3) {
	case 0: /* unknown opcode */
		memset(cdb, 0, sizeof(cdb));
		cdb[0] = 0x12;
		rc = client_send_request(sock, cdb, c->fd_rw[lun], NULL, 0);
		break;
	case 1: /* no fd */
		client_cdb_pr_in(cdb, 0, 100);
		rc = client_send_request(sock, cdb, -1, NULL, 0);
		break;
	default: /* allocation length beyond the buffer */
		client_cdb_pr_in(cdb, 0, PRH_DATA_MAX + 1);
		rc = client_send_request(sock, cdb, c->fd_rw[lun], NULL, 0);
		break;
	}
	if (rc == 0) {
		n = recv(sock, &b, 1, 0);
		if (n > 0)
			fail("invalid request answered");
		else if (n < 0 && errno != ECONNRESET)
			fail("invalid request: %s", strerror(errno));
	}
	atomic_fetch_add(&st.invalid, 1);
}

/* Hang up in the middle of a request, or stall there until the idle
 * timeout closes the connection. */
static void
cl_partial(struct client *c, int sock, bool stall)
{
	uint8_t cdb[PRH_CDB_LEN], param[24] = { 0 }, b;
	int lun = rand_r(&c->seed) % NLUN;

	if (rand_r(&c->seed) % 2) {
		client_cdb_pr_in(cdb, 0, 100);
		(void)fdpass_send(sock, cdb, 1 + rand_r(&c->seed) % 15,
		    c->fd_rw[lun]);
	} else {
		client_cdb_pr_out(cdb, 0, 0, sizeof(param));
		(void)fdpass_send(sock, cdb, sizeof(cdb), c->fd_rw[lun]);
		(void)client_write_all(sock, param, rand_r(&c->seed) % 24);
	}
	if (!stall) {
		atomic_fetch_add(&st.aborted, 1);
		return;
	}
	if (recv(sock, &b, 1, 0) > 0)
		fail("partial request answered");
	atomic_fetch_add(&st.stalled, 1);
}

/* Client thread: connections of random length with random requests. */
static void *
cl_run(void *arg)
{
	struct client *c = arg;
	int sock = -1, ops = 0, dice;

	while (!atomic_load(&st.stop)) {
		if (sock < 0) {
			sock = cl_connect();
			ops = 1 + rand_r(&c->seed) % 30;
			if (sock < 0)
				continue;
		}
		dice = rand_r(&c->seed) % 100;
		if (dice < 88 && ops-- > 0) {
			if (cl_valid(c, sock))
				continue;
		} else if (dice < 92) {
			cl_invalid(c, sock);
		} else if (dice < 97) {
			cl_partial(c, sock, false);
		} else if (dice < 98) {
			cl_partial(c, sock, true);
		}
		close(sock);
		sock = -1;
	}
	if (sock >= 0)
		close(sock);
	return NULL;
}

/* --- controller -------------------------------------------------------- */

/* One random fault change on a random LUN. */
static void
chaos_fault(unsigned *seed)
{
	int lun = rand_r(seed) % NLUN;
	char w[64];

	switch (rand_r(seed) % 8) {
	case 0:
		snprintf(w, sizeof(w), "latency=%d:%d", rand_r(seed) % 20,
		    rand_r(seed) % 10);
		lun_fault(lun, "clear", w);
		break;
	case 1:
		lun_fault(lun, "count=3", "status=0x08");
		break;
	case 2:
		lun_fault(lun, "count=2", "errno=EIO");
		break;
	case 3:
		lun_fault(lun, "count=2", "host=0x07");
		break;
	case 4:
		lun_fault(lun, "hang", NULL);
		break;
	case 5:
		lun_fault(lun, "hang=0", NULL);
		break;
	default:
		lun_fault(lun, "clear", NULL);
		break;
	}
}

/* Whether the helper's stderr shows a sanitizer report. */
static bool
sanitizer_report(void)
{
	static const char *const marks[] = {
		"ERROR: AddressSanitizer",
		"ERROR: LeakSanitizer",
		"runtime error:",
		"WARNING: ThreadSanitizer",
		NULL,
	};
	char *err = th_read_file(run.err, NULL);
	bool found = false;

	for (int i = 0; err != NULL && marks[i] != NULL; i++)
		if (strstr(err, marks[i]) != NULL)
			found = true;
	free(err);
	return found;
}

/* Make the temp dir, the LUNs and the sockets. */
static int
setup(void)
{
	const char *b = getenv("PRH_TOP_BUILDDIR");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *tmp = getenv("TMPDIR");

	b = b != NULL ? b : ".";
	snprintf(run.helper, sizeof(run.helper), "%s/qemu-pr-helper", b);
	snprintf(run.lunsim, sizeof(run.lunsim), "%s/lunsim", b);
	snprintf(run.dir, sizeof(run.dir), "%s/prh-soak-XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(run.dir) == NULL)
		return -1;
	snprintf(run.sock, sizeof(run.sock), "%s/sock", run.dir);
	snprintf(run.notify, sizeof(run.notify), "%s/notify", run.dir);
	snprintf(run.err, sizeof(run.err), "%s/stderr", run.dir);
	for (int i = 0; i < NLUN; i++) {
		char *argv[] = { run.lunsim, (char *)"create", run.lun[i],
			(char *)"--size", (char *)"1M", NULL };

		snprintf(run.lun[i], sizeof(run.lun[i]), "%s/lun%d", run.dir,
		    i);
		if (run_cmd(argv) != 0)
			return -1;
	}
	run.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	strcpy(sun.sun_path, run.sock);
	if (bind(run.listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(run.listen_fd, SOMAXCONN) < 0)
		return -1;
	/* The helper expects a non-blocking socket (as systemd passes). */
	fcntl(run.listen_fd, F_SETFL, O_NONBLOCK);
	run.notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strcpy(sun.sun_path, run.notify);
	if (bind(run.notify_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return -1;
	return 0;
}

/* Remove what setup() made. */
static void
cleanup(void)
{
	char cmd[PATH_MAX + 16];

	close(run.listen_fd);
	close(run.notify_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", run.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", run.dir);
}

/* Print one TAP line. */
static void
tap(int n, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void
tap(int n, bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", ok ? "ok" : "not ok", n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* The controller's view of the run. */
struct soak {
	long secs;
	int nclients;
	struct client *cl;
	unsigned seed;
	pid_t pid; /* the running instance */
	int restarts;
	int bad_exits; /* instances that did not exit 0 */
	int base_fds;  /* fds of an instance with no client */
	int end_fds;
	long rss_warm; /* last instance, first half, highest */
	long rss_end;
	bool sanitized;
};

/* Start the client threads. */
static void
clients_start(struct soak *k)
{
	k->cl = calloc(k->nclients, sizeof(*k->cl));
	for (int i = 0; k->cl != NULL && i < k->nclients; i++) {
		k->cl[i].seed = k->seed + i;
		for (int l = 0; l < NLUN; l++) {
			k->cl[i].fd_rw[l] = open(run.lun[l],
			    O_RDWR | O_CLOEXEC);
			k->cl[i].fd_ro[l] = open(run.lun[l],
			    O_RDONLY | O_CLOEXEC);
		}
		pthread_create(&k->cl[i].th, NULL, cl_run, &k->cl[i]);
	}
}

/* Stop and join the client threads (hangs lifted first). */
static void
clients_stop(struct soak *k)
{
	atomic_store(&st.stop, true);
	for (int l = 0; l < NLUN; l++)
		lun_fault(l, "clear", NULL);
	for (int i = 0; k->cl != NULL && i < k->nclients; i++) {
		pthread_join(k->cl[i].th, NULL);
		for (int l = 0; l < NLUN; l++) {
			close(k->cl[i].fd_rw[l]);
			close(k->cl[i].fd_ro[l]);
		}
	}
	free(k->cl);
}

/* Stop the running instance with sig and check its exit status. */
static void
soak_stop_instance(struct soak *k, int sig)
{
	int stt = helper_stop(k->pid, sig);

	if (stt < 0 || !WIFEXITED(stt) || WEXITSTATUS(stt) != 0) {
		k->bad_exits++;
		fail("instance %d: wait status 0x%x after signal %d",
		    k->restarts, stt, sig);
	}
}

/* Faults every tick, a SIGHUP/SIGTERM restart every RESTART_MS; the last
 * instance lives through the final 40 % of the run.  False if a restart
 * failed. */
static bool
soak_chaos(struct soak *k)
{
	long long start = now_ms(), end = start + k->secs * 1000;
	long long final_at = start + k->secs * 600, next = start + RESTART_MS;
	long long last_start = start;
	bool final = false;
	long rss;

	while (now_ms() < end) {
		/* The chaos's own pace (a fault per tick), not a wait. */
		(void)poll(NULL, 0, TICK_MS);
		notify_drain();
		chaos_fault(&k->seed);
		if (!final && (now_ms() >= next || now_ms() >= final_at)) {
			for (int l = 0; l < NLUN; l++)
				lun_fault(l, "hang=0", NULL);
			soak_stop_instance(k,
			    k->restarts % 2 ? SIGTERM : SIGHUP);
			k->restarts++;
			final = now_ms() >= final_at;
			k->pid = helper_start();
			if (k->pid < 0 || helper_wait_ready() < 0) {
				fail("restart %d: not ready", k->restarts);
				return false;
			}
			last_start = now_ms();
			next = last_start + RESTART_MS;
			if (final)
				k->sanitized = th_sanitized(k->pid);
		}
		if (final && now_ms() < last_start + (end - last_start) / 2) {
			rss = th_vmrss_kb(k->pid);
			if (rss > k->rss_warm)
				k->rss_warm = rss;
		}
	}
	return true;
}

/* Print the numbers and the TAP results. */
static void
soak_report(const struct soak *k)
{
	long valid = atomic_load(&st.valid);

	printf("# %ld valid requests: %ld answered, %ld closed cleanly; "
	       "%ld invalid closed; %ld hung up mid-request; %ld stalled and "
	       "timed out; %ld connections; %d restarts\n",
	    valid, atomic_load(&st.answered), atomic_load(&st.closed),
	    atomic_load(&st.invalid), atomic_load(&st.aborted),
	    atomic_load(&st.stalled), atomic_load(&st.connects), k->restarts);
	printf("# helper fds: %d with no connection, %d at the end; RSS %ld "
	       "KiB warm, %ld KiB at the end%s\n",
	    k->base_fds, k->end_fds, k->rss_warm, k->rss_end,
	    k->sanitized ? " (sanitizer build)" : "");
	tap(1, k->restarts >= 1 && k->bad_exits == 0,
	    "%d SIGHUP/SIGTERM "
	    "restarts, every instance exited 0",
	    k->restarts);
	tap(2,
	    valid > 0 &&
		valid == atomic_load(&st.answered) + atomic_load(&st.closed),
	    "every valid request answered once or "
	    "closed cleanly");
	tap(3, atomic_load(&st.errors) == 0,
	    "no wrong answer, timeout or "
	    "protocol error (%ld)",
	    atomic_load(&st.errors));
	tap(4, k->base_fds > 0 && k->end_fds >= 0 && k->end_fds <= k->base_fds,
	    "helper fd count back to %d (%d)", k->base_fds, k->end_fds);
	tap(5,
	    k->sanitized ||
		(k->rss_warm > 0 && k->rss_end <= k->rss_warm + 2048),
	    "RSS did not grow in the "
	    "second half (%ld -> %ld KiB)%s",
	    k->rss_warm, k->rss_end,
	    k->sanitized ? " # SKIP sanitizer build" : "");
	tap(6, !sanitizer_report(),
	    "no sanitizer report in the helper's "
	    "stderr");
}

int
main(void)
{
	const char *e = getenv("SOAK_SECONDS"), *n = getenv("SOAK_CLIENTS");
	struct soak k = {
		.secs = e != NULL ? atol(e) : 120,
		.nclients = n != NULL ? atoi(n) : 200,
		.seed = (unsigned)time(NULL),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	printf("1..6\n# seed %u, %ld s, %d clients\n", k.seed, k.secs,
	    k.nclients);
	if (setup() < 0) {
		printf("Bail out! setup: %s\n", strerror(errno));
		cleanup();
		return 1;
	}
	k.pid = helper_start();
	if (k.pid < 0 || helper_wait_ready() < 0) {
		printf("Bail out! the helper did not start\n");
		cleanup();
		return 1;
	}
	/* Every instance has the same fds when it has no connection. */
	k.base_fds = th_fd_count(k.pid);
	clients_start(&k);
	if (!soak_chaos(&k)) {
		clients_stop(&k);
		printf("Bail out! a restart failed\n");
		cleanup();
		return 1;
	}
	clients_stop(&k);
	notify_drain();
	k.end_fds = th_wait_fd_count(k.pid, k.base_fds, 10000);
	k.rss_end = th_vmrss_kb(k.pid);
	soak_stop_instance(&k, SIGTERM);
	soak_report(&k);
	cleanup();
	return 0;
}
