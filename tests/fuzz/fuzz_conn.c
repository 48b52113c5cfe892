/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target: byte streams with SCM_RIGHTS fds into a live connection.
 *
 * One in-process server (server_new() on an abstract listening socket,
 * two workers) lives across inputs.  Each input opens one connection and
 * is cut into chunks:
 *
 *	byte h: bits 0-1 fds to attach (0, 1, 2; 3 means 2), bits 2-4 the
 *	        kind of the first fd, bits 5-6 added for the second, bit 7
 *	        run the event loop once after this chunk
 *	byte n: payload length, then n payload bytes (fewer at the end)
 *
 * The fds are /dev/null, a regular (unnamed) temp file, a pipe, the
 * client socket itself and the listening socket, read-only or
 * read-write: SG_IO fails on all of them at once (ENOTTY), so nothing
 * touches a device.  After the last chunk the client half-closes and the
 * loop runs until the server has closed the connection and finished every
 * command.  Checked: the hello is 4 zero bytes; the reply stream is whole
 * 104-byte headers each followed by its size bytes; each reply answers
 * the matching request of the stream (size 0 for PR OUT, never above the
 * allocation length for PR IN, never above 8192) with CHECK CONDITION and
 * a well-formed sense; nothing hangs; the process has exactly the fds it
 * had before the input.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sched.h>
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "prh/config.h"
#include "prh/log.h"
#include "prh/proto.h"
#include "prh/server.h"
#include "prh/status.h"
#include "cmsg.h"
#include "fuzz.h"

#define FUZZ_KINDS	8  /* fd kinds a chunk can carry */
#define FUZZ_DEADLINE_S 10 /* an input taking longer is a hang */

/* The server and the fds shared by every input (one thread). */
static struct {
	struct event_base *base;
	struct server *srv;
	struct prh_config cfg;
	struct sockaddr_un addr;
	socklen_t addrlen;
	int kinds[FUZZ_KINDS]; /* -1: the client socket */
} fz;

/* One input's client side. */
struct fuzz_client {
	int fd;
	struct event *rd;
	uint8_t *rx; /* everything the server sent */
	size_t rx_len, rx_cap;
	bool eof;
	bool timed_out;
	uint8_t *tx; /* every payload byte sent */
	size_t tx_len;
	bool tx_closed; /* the server stopped taking bytes */
};

/* Count the open fds of this process. */
static int
fuzz_fd_count(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir("/proc/self/fd");
	FUZZ_CHECK(d != NULL, "opendir /proc/self/fd: %s", strerror(errno));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

/* The fd count once it is back to want, or after FUZZ_DEADLINE_S: the
 * server hands every fd a client sent to its closer threads, which close
 * them within a millisecond or so (woken by the closer's timer, on the
 * loop: run it without waiting, and yield to them). */
static int
fuzz_fds_settle(int want)
{
	struct timespec now, until;
	int n;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += FUZZ_DEADLINE_S;
	while ((n = fuzz_fd_count()) != want) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > until.tv_sec ||
		    (now.tv_sec == until.tv_sec &&
			now.tv_nsec >= until.tv_nsec))
			break;
		event_base_loop(fz.base, EVLOOP_NONBLOCK);
		sched_yield();
	}
	return n;
}

/* Open the fds chunks can carry; the temp file has no name. */
static int
fuzz_open_kinds(int listen_fd)
{
	char path[64];
	int p[2], tmp;

	fz.kinds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fz.kinds[1] = open("/dev/null", O_RDWR | O_CLOEXEC);
	tmp = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (tmp < 0)
		return -errno;
	if (write(tmp, "data", 4) != 4)
		return -EIO;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", tmp);
	fz.kinds[2] = open(path, O_RDONLY | O_CLOEXEC);
	fz.kinds[3] = tmp;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fz.kinds[4] = p[0];
	fz.kinds[5] = p[1];
	fz.kinds[6] = -1; /* the connection's own client socket */
	fz.kinds[7] = listen_fd;
	for (int i = 0; i < 6; i++)
		if (fz.kinds[i] < 0)
			return -EBADF;
	return 0;
}

/* Create the listening socket in the abstract namespace (no file). */
static int
fuzz_listen(void)
{
	int fd;

	fz.addr.sun_family = AF_UNIX;
	snprintf(fz.addr.sun_path + 1, sizeof(fz.addr.sun_path) - 1,
	    "prh-fuzz-conn-%d", (int)getpid());
	fz.addrlen = offsetof(struct sockaddr_un, sun_path) + 1 +
	    strlen(fz.addr.sun_path + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&fz.addr, fz.addrlen) < 0 ||
	    listen(fd, 64) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* Start the server once: event base, configuration, listener, pool. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *args[] = { (char *)"fuzz_conn", (char *)"-q",
		(char *)"--threads=2", (char *)"--sg-timeout=1", NULL };
	int fd;

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	if (config_parse(&fz.cfg, 4, args) != CONFIG_RUN)
		return -1;
	log_init();
	log_set_verbosity(fz.cfg.verbosity);
	log_route_libevent();
	if (evthread_use_pthreads() < 0 || (fz.base = event_base_new()) == NULL)
		return -1;
	if ((fd = fuzz_listen()) < 0)
		return -1;
	if (server_new(fz.base, &fz.cfg, fd, NULL, &fz.srv) < 0)
		return -1;
	/* Leave SIGINT and SIGTERM to the fuzzer: the server blocked them
	 * for its signalfd, which sees none once they are unblocked. */
	{
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGHUP);
		sigaddset(&set, SIGUSR1);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	if (fuzz_open_kinds(fd) < 0)
		return -1;
	event_base_loop(fz.base, EVLOOP_NONBLOCK);
	return 0;
}

/* Client socket readable: keep every byte; note EOF. */
static void
fuzz_client_read(evutil_socket_t fd, short what, void *arg)
{
	struct fuzz_client *cl = arg;
	ssize_t n;

	for (;;) {
		if (cl->rx_cap - cl->rx_len < 4096) {
			cl->rx_cap = cl->rx_cap * 2 + 8192;
			cl->rx = realloc(cl->rx, cl->rx_cap);
			FUZZ_CHECK(cl->rx != NULL, "out of memory");
		}
		n = recv(fd, cl->rx + cl->rx_len, cl->rx_cap - cl->rx_len,
		    MSG_DONTWAIT);
		if (n > 0) {
			cl->rx_len += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		cl->eof = true; /* EOF or reset */
		event_del(cl->rd);
		return;
	}
}

/* The input took too long. */
static void
fuzz_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct fuzz_client *cl = arg;

	cl->timed_out = true;
}

/* Send one chunk with nfds fds attached; retries while the socket is
 * full, running the loop so the server drains it. */
static void
fuzz_send(struct fuzz_client *cl, const uint8_t *buf, size_t len,
    const int *fds, int nfds)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > 0)
		th_attach_fds(&msg, ctl.buf, fds, (size_t)nfds);
	while (!cl->tx_closed && !cl->timed_out) {
		n = sendmsg(cl->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0) {
			/* The fds went with the first byte; the rest is
			 * sent plain. */
			memcpy(cl->tx + cl->tx_len, iov.iov_base, (size_t)n);
			cl->tx_len += (size_t)n;
			iov.iov_base = (uint8_t *)iov.iov_base + n;
			iov.iov_len -= (size_t)n;
			msg.msg_control = NULL;
			msg.msg_controllen = 0;
			if (iov.iov_len == 0)
				return;
			continue;
		}
		if (errno == EAGAIN)
			event_base_loop(fz.base, EVLOOP_ONCE);
		else if (errno != EINTR)
			cl->tx_closed = true; /* EPIPE, ECONNRESET */
	}
}

/* Play the input's chunks into the connection. */
static void
fuzz_play(struct fuzz_client *cl, const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	int fds[2], nfds;
	uint8_t h;
	size_t n;

	while (in.left > 0 && !cl->tx_closed && !cl->timed_out) {
		h = fuzz_u8(&in);
		n = fuzz_u8(&in);
		if (n > in.left)
			n = in.left;
		nfds = (h & 3) == 3 ? 2 : (h & 3);
		fds[0] = fz.kinds[(h >> 2) & 7];
		fds[1] = fz.kinds[(((h >> 2) & 7) + ((h >> 5) & 3) + 1) % 8];
		for (int i = 0; i < 2; i++)
			if (fds[i] < 0)
				fds[i] = cl->fd;
		if (n > 0)
			fuzz_send(cl, in.p, n, fds, nfds);
		in.p += n;
		in.left -= n;
		if (h & 0x80)
			event_base_loop(fz.base, EVLOOP_NONBLOCK);
	}
}

/* One request as the stream frames it: what its reply may carry. */
struct fuzz_req {
	bool is_out;
	uint32_t len;
};

/* Frame the bytes sent as the server must: the requests that can get a
 * reply, in order (up to the first one that closes the connection). */
static size_t
fuzz_frame(const uint8_t *tx, size_t len, struct fuzz_req *reqs, size_t max)
{
	size_t pos = PRH_HELLO_LEN, n = 0;
	struct proto_req req;

	if (len < PRH_HELLO_LEN || proto_check_hello(tx) < 0)
		return 0;
	while (n < max && pos + PRH_CDB_LEN <= len) {
		if (proto_parse_cdb(tx + pos, &req) < 0)
			break;
		pos += PRH_CDB_LEN;
		if (req.is_out) {
			if (pos + req.len > len)
				break;
			pos += req.len;
		}
		reqs[n].is_out = req.is_out;
		reqs[n].len = req.len;
		n++;
	}
	return n;
}

/* Check the whole reply stream against the requests sent. */
static void
fuzz_check_replies(const struct fuzz_client *cl)
{
	struct fuzz_req *reqs;
	size_t nreq, pos, k;
	uint32_t status, size;
	const uint8_t *h, *sense;

	reqs = calloc(cl->tx_len / PRH_CDB_LEN + 1, sizeof(*reqs));
	FUZZ_CHECK(reqs != NULL, "out of memory");
	nreq = fuzz_frame(cl->tx, cl->tx_len, reqs,
	    cl->tx_len / PRH_CDB_LEN + 1);
	FUZZ_CHECK(cl->rx_len >= PRH_HELLO_LEN, "no hello (%zu bytes)",
	    cl->rx_len);
	FUZZ_CHECK(proto_get_be32(cl->rx) == 0, "hello not zero");
	for (pos = PRH_HELLO_LEN, k = 0; pos < cl->rx_len; k++) {
		FUZZ_CHECK(cl->rx_len - pos >= PRH_REPLY_HDR_LEN,
		    "reply %zu: %zu-byte header", k, cl->rx_len - pos);
		h = cl->rx + pos;
		status = proto_get_be32(h);
		size = proto_get_be32(h + 4);
		sense = h + 8;
		FUZZ_CHECK(k < nreq, "reply %zu to %zu request(s)", k, nreq);
		FUZZ_CHECK(size <= PRH_DATA_MAX, "reply %zu: size %u", k, size);
		if (reqs[k].is_out)
			FUZZ_CHECK(size == 0, "reply %zu: PR OUT size %u", k,
			    size);
		else
			FUZZ_CHECK(size <= reqs[k].len,
			    "reply %zu: size %u > "
			    "allocation length %u",
			    k, size, reqs[k].len);
		/* No fd here is a SCSI device: every command fails. */
		FUZZ_CHECK(status == PRH_STATUS_CHECK_CONDITION,
		    "reply %zu: status 0x%x", k, status);
		FUZZ_CHECK(sense[0] == 0x70 && sense[7] == 10,
		    "reply %zu: sense %02x %02x", k, sense[0], sense[7]);
		for (int i = 18; i < PRH_SENSE_LEN; i++)
			FUZZ_CHECK(sense[i] == 0, "reply %zu: sense[%d]", k, i);
		pos += PRH_REPLY_HDR_LEN;
		FUZZ_CHECK(cl->rx_len - pos >= size,
		    "reply %zu: %zu of %u "
		    "payload bytes",
		    k, cl->rx_len - pos, size);
		pos += size;
	}
	if (getenv("PRH_FUZZ_VERBOSE") != NULL)
		fprintf(stderr,
		    "fuzz_conn: %zu bytes sent, %zu request(s) "
		    "framed, %zu repl%s\n",
		    cl->tx_len, nreq, k, k == 1 ? "y" : "ies");
	free(reqs);
}

/* Whether the server still has a connection or a command out. */
static bool
fuzz_server_busy(unsigned *conns, unsigned *out)
{
	struct status_view v;

	server_view(fz.srv, &v);
	*conns = STATS_GET(v.stats->connections);
	*out = v.ds.outstanding;
	return *conns > 0 || *out > 0;
}

/* Run the loop until the connection is closed and nothing is in flight. */
static void
fuzz_finish(struct fuzz_client *cl)
{
	unsigned conns = 0, out = 0;

	shutdown(cl->fd, SHUT_WR);
	while (!cl->timed_out && (!cl->eof || fuzz_server_busy(&conns, &out)))
		event_base_loop(fz.base, EVLOOP_ONCE);
	FUZZ_CHECK(!cl->timed_out,
	    "no progress for %d s: eof %d, %u "
	    "connection(s), %u command(s) outstanding",
	    FUZZ_DEADLINE_S, (int)cl->eof, conns, out);
}

/* One input: one connection, its chunks, its replies, its fds. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct timeval tv = { FUZZ_DEADLINE_S, 0 };
	struct fuzz_client cl = { .fd = -1 };
	struct event *deadline;
	int n, before;

	/* Counted per input: libFuzzer itself opens two pipes to its
	 * symbolizer the first time it prints a new function, between two
	 * inputs. */
	before = fuzz_fd_count();
	cl.tx = malloc(size + 1);
	FUZZ_CHECK(cl.tx != NULL, "out of memory");
	cl.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(cl.fd >= 0, "socket: %s", strerror(errno));
	FUZZ_CHECK(connect(cl.fd, (struct sockaddr *)&fz.addr, fz.addrlen) == 0,
	    "connect: %s", strerror(errno));
	cl.rd = event_new(fz.base, cl.fd, EV_READ | EV_PERSIST,
	    fuzz_client_read, &cl);
	deadline = evtimer_new(fz.base, fuzz_deadline, &cl);
	FUZZ_CHECK(cl.rd != NULL && deadline != NULL, "out of memory");
	event_add(cl.rd, NULL);
	event_add(deadline, &tv);

	fuzz_play(&cl, data, size);
	fuzz_finish(&cl);
	fuzz_check_replies(&cl);

	event_free(deadline);
	event_free(cl.rd);
	close(cl.fd);
	free(cl.rx);
	free(cl.tx);
	n = fuzz_fds_settle(before);
	FUZZ_CHECK(n == before, "%d fds open, %d before the input", n, before);
	return 0;
}
