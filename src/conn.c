/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One client connection, in the order a request lives in it:
 *
 *  1. set-up	conn_new(): the hello, then reading;
 *  2. read	conn_read_cb() reads exactly the bytes still missing from
 *		the current frame (hello, CDB, parameter list) with recvmsg
 *		and room for every fd a message can bring, so each fd stays
 *		with its request and the kernel never drops one;
 *		conn_take_fd() looks at a received fd at once and drops any
 *		that is no device node;
 *  3. validate	conn_request_ready(): the checks answered without the
 *		device (access mode, not a device node);
 *  4. submit	conn_submit(): the command goes to a worker (dispatch.c,
 *		cmd.c);
 *  5. complete	conn_complete(): the command is back on the loop thread:
 *		the audit trail, the reply (conn_send_reply(), the one
 *		function that counts and sends a reply), the next request;
 *  6. tear-down conn_close(), conn_free() and the timeouts.
 *
 * Bounds: a connection reads its next request only while at most one
 * reply waits for the client (CONN_OUTPUT_MAX), so a client that never
 * reads costs at most a reply's worth of memory, and --write-timeout
 * drops it.  A request being read costs the struct and one command
 * buffer; --idle-timeout, if set, drops a client that stops in the middle
 * of the handshake or a request, and --request-timeout drops one that
 * holds a device fd without completing its request.  The state changes
 * in one place, conn_set_state(), which also arms what the state needs.
 *
 * Closing: the loop thread closes no fd a client sent, nor a socket that
 * may still hold fds it sent: the last close of a file can wait (closer.h),
 * so every such fd goes to the closer (conn_drop_fd(),
 * closer_close_socket()), with the connection's client (conn_client()):
 * a connection whose client has CLOSER_CLIENT_QUEUE_MAX fds with the
 * closer reads nothing until they are fewer (conn_throttle()).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "prh/audit.h"
#include "prh/closer.h"
#include "prh/cmd.h"
#include "prh/conn.h"
#include "prh/device.h"
#include "prh/dispatch.h"
#include "prh/escape.h"
#include "prh/fdpass.h"
#include "prh/log.h"
#include "prh/peerlog.h"
#include "prh/trace.h"

/* Replies a client may leave unread before we stop reading its requests. */
#define CONN_OUTPUT_MAX (PRH_REPLY_HDR_LEN + PRH_DATA_MAX)

/* Where a connection is in its protocol. */
enum conn_state {
	CONN_HELLO,	 /* reading the client's feature word */
	CONN_READ_CDB,	 /* reading the 16-byte CDB (and its fd) */
	CONN_READ_PARAM, /* reading the PR OUT parameter list */
	CONN_DEFER,	 /* PR OUT waiting for its client's share of the log */
	CONN_BUSY,	 /* command with dispatch */
	CONN_CLOSING,	 /* flushing output, then close */
};

/* A client connection.  Loop thread only. */
struct conn {
	TAILQ_ENTRY(conn) entry;	 /* env->conns */
	TAILQ_ENTRY(conn) held_link;	 /* env->held, while held */
	TAILQ_ENTRY(conn) throttle_link; /* on tlist */
	struct conn_env *env;
	int fd;			/* the client socket */
	struct peer peer;	/* SO_PEERCRED at accept */
	uint64_t client;	/* its client for the closer, or 0: not yet */
	struct event *rd;	/* read readiness */
	struct bufferevent *wr; /* unsent reply bytes, or NULL */
	enum conn_state state;
	bool reading;	  /* rd is armed */
	unsigned rd_secs; /* timeout rd is armed with, 0 for none */
	bool held;	  /* on env->held */
	/* env->throttled or env->stalled while waiting on it, else NULL */
	struct conn_list *tlist;
	bool holds_fd; /* devfd is counted in env->fds_held */
	uint64_t held_until_ns;
	uint32_t off; /* bytes of the current frame read */
	uint8_t hello[PRH_HELLO_LEN];
	uint8_t cdb[PRH_CDB_LEN];
	/* The fd that came with the current request, as conn_take_fd()
	 * found it. */
	bool have_fd;		   /* an fd came with this request */
	int devfd;		   /* kept (a device node), or -1 */
	int accmode;		   /* its O_ACCMODE */
	struct device_node node;   /* what it is */
	bool logged_refusal;	   /* a policy refusal was logged */
	struct peerlog_conn share; /* its share of the log */
	struct event *later;	   /* CONN_DEFER: when to submit again */
	struct cmd *cmd;	   /* command being read or in flight */
	const char *close_reason;  /* for the close trace point */
};

static void conn_read_cb(evutil_socket_t fd, short what, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_cmd_done(struct cmd *cmd);
static bool conn_close(struct conn *c);
static void conn_free(struct conn *c);
static void conn_hold_stop(struct conn *c);
static int conn_sync(struct conn *c);

/* --- state, events and output ------------------------------------------- */

/* Log a per-connection warning of kind k naming the peer ("[pid P uid
 * U] msg"), out of its client's share of the log (peerlog.h). */
#define conn_log(c, k, ...)                                           \
	peerlog_warn((c)->env->peerlog, &(c)->share, &(c)->peer, (k), \
	    __VA_ARGS__)

/* Bytes of reply waiting for the client to read. */
static size_t
conn_out_len(const struct conn *c)
{
	return c->wr != NULL
	    ? evbuffer_get_length(bufferevent_get_output(c->wr))
	    : 0;
}

/* Whether the client is in the middle of the handshake or a request. */
static bool
conn_partial(const struct conn *c)
{
	return c->state == CONN_HELLO || c->state == CONN_READ_PARAM ||
	    (c->state == CONN_READ_CDB && c->off > 0);
}

/* Fds the connections use now. */
unsigned
conn_fds_used(const struct conn_env *env)
{
	return env->count + atomic_load(&env->fds_held);
}

/* The client of c's peer for the closer (described the first time). */
static uint64_t
conn_client(struct conn *c)
{
	if (c->client == CLOSER_NEUTRAL)
		c->client = peer_client_key(&c->peer);
	return c->client;
}

/* Put c on list (or on none: NULL), fresh ones last. */
static void
conn_throttle_on(struct conn *c, struct conn_list *list, bool fresh)
{
	if (c->tlist == list)
		return;
	if (c->tlist != NULL)
		TAILQ_REMOVE(c->tlist, c, throttle_link);
	c->tlist = list;
	if (list != NULL && fresh)
		TAILQ_INSERT_TAIL(list, c, throttle_link);
	else if (list != NULL)
		TAILQ_INSERT_HEAD(list, c, throttle_link);
}

/* Whether c must wait before reading: because its client has
 * CLOSER_CLIENT_QUEUE_MAX fds with the closer (a client whose closes do
 * not return must not fill the budget: closer.h), or because the fd
 * budget is used up (what it would read then waits in the socket
 * buffer, fds and all); keeps env->stalled and env->throttled up to
 * date.  A read that starts a request waits at the budget (its fd would
 * pass it); any other read only above it.  One message may bring
 * FDPASS_MAX_FDS fds, which the margin beyond the budget holds
 * (server.c), so the fd table never fills and the kernel never drops an
 * fd on this thread. */
static bool
conn_throttle(struct conn *c)
{
	struct conn_env *env = c->env;
	bool fresh = c->state == CONN_READ_CDB && c->off == 0 && !c->have_fd;
	unsigned used = conn_fds_used(env);

	/* Fresh ones go last: conn_fds_freed() stops at the first that must
	 * wait on. */
	if (closer_client_pending(env->closer, conn_client(c)) >=
	    CLOSER_CLIENT_QUEUE_MAX)
		conn_throttle_on(c, &env->stalled, fresh);
	else if (fresh ? used >= env->fd_budget : used > env->fd_budget)
		conn_throttle_on(c, &env->throttled, fresh);
	else
		conn_throttle_on(c, NULL, fresh);
	return c->tlist != NULL;
}

/* A client's fds with the closer fell below CLOSER_CLIENT_QUEUE_MAX
 * since the last look: let its connections read. */
static void
conn_stalled_wake(struct conn_env *env)
{
	unsigned eased = closer_clients_eased(env->closer);
	struct conn *c, *next;

	if (eased == env->stalled_eased)
		return;
	env->stalled_eased = eased;
	for (c = TAILQ_FIRST(&env->stalled); c != NULL; c = next) {
		next = TAILQ_NEXT(c, throttle_link);
		if (closer_client_pending(env->closer, c->client) <
		    CLOSER_CLIENT_QUEUE_MAX) {
			conn_throttle_on(c, NULL, false);
			(void)conn_sync(c);
		}
	}
}

/* Fds were freed: let connections whose client's fds with the closer
 * went down read; if there is room under the budget again, let waiting
 * connections read (those in the middle of a frame, then new requests
 * oldest first, while the room lasts) and tell the server. */
void
conn_fds_freed(struct conn_env *env)
{
	struct conn *c;

	conn_stalled_wake(env);
	if (conn_fds_used(env) > env->fd_budget)
		return;
	while ((c = TAILQ_FIRST(&env->throttled)) != NULL) {
		conn_throttle_on(c, NULL, false);
		(void)conn_sync(c);
		if (c->tlist == &env->throttled)
			break; /* full again: so are the ones behind it */
	}
	if (env->room != NULL)
		env->room(env->arg);
}

/* The current request's device fd is no longer the connection's to count
 * (answered, or the connection is going). */
static void
conn_fd_release(struct conn *c)
{
	if (c->holds_fd) {
		c->holds_fd = false;
		atomic_fetch_sub(&c->env->fds_held, 1);
	}
	conn_fds_freed(c->env);
}

/* Disarm the read event. */
static void
conn_read_stop(struct conn *c)
{
	if (c->reading)
		event_del(c->rd);
	c->reading = false;
	c->rd_secs = 0;
}

/* Arm or disarm the read event as the state asks: reading a frame while
 * output is not piling up and no shutdown is under way; while busy it
 * stays armed until the client sends before its answer (conn_read_cb()
 * then disarms it: nothing is read until the command is back).  The idle timeout rides on the read event
 * exactly while the client is in the middle of something.  0, or -ENOMEM
 * when the event could not be armed (libevent allocates on first use of
 * an fd number). */
static int
conn_sync(struct conn *c)
{
	const struct conn_env *env = c->env;
	bool want;
	unsigned secs;
	struct timeval tv = { 0, 0 };

	switch (c->state) {
	case CONN_HELLO:
	case CONN_READ_CDB:
	case CONN_READ_PARAM:
		want = !env->draining && conn_out_len(c) <= CONN_OUTPUT_MAX;
		if (want && conn_throttle(c))
			want = false;
		break;
	case CONN_BUSY:
		want = c->reading && !env->draining;
		break;
	default:
		want = false;
		break;
	}
	secs = want && conn_partial(c) ? env->cfg->idle_timeout : 0;
	if (!want) {
		conn_read_stop(c);
		return 0;
	}
	if (c->reading && secs == c->rd_secs)
		return 0;
	if (c->reading && secs == 0) {
		event_remove_timer(c->rd);
	} else {
		tv.tv_sec = secs;
		if (event_add(c->rd, secs > 0 ? &tv : NULL) < 0)
			return c->reading ? 0 : -ENOMEM;
	}
	c->reading = true;
	c->rd_secs = secs;
	return 0;
}

/* Change state, then arm what the new state needs: 0 or -ENOMEM. */
static int
conn_set_state(struct conn *c, enum conn_state st)
{
	c->state = st;
	return conn_sync(c);
}

/* Queue bytes the socket did not take, creating the bufferevent that
 * sends them on.  0 or -ENOMEM. */
static int
conn_out_add(struct conn *c, const void *buf, size_t len)
{
	struct timeval wto = { .tv_sec = c->env->cfg->write_timeout };

	if (len == 0)
		return 0;
	if (c->wr == NULL) {
		c->wr = bufferevent_socket_new(c->env->base, c->fd, 0);
		if (c->wr == NULL)
			return -ENOMEM;
		bufferevent_disable(c->wr, EV_READ);
		bufferevent_setcb(c->wr, NULL, conn_write_cb, conn_event_cb, c);
		bufferevent_set_timeouts(c->wr, NULL,
		    wto.tv_sec > 0 ? &wto : NULL);
	}
	if (evbuffer_add(bufferevent_get_output(c->wr), buf, len) < 0)
		return -ENOMEM;
	/* Adding data arms the write event, but silently fails to if
	 * libevent runs out of memory: arm it again, checking. */
	return bufferevent_enable(c->wr, EV_WRITE) < 0 ? -ENOMEM : 0;
}

/* Send iov straight to the socket if nothing is queued, queue the rest.
 * 0 or a negative errno (the connection must then be closed). */
static int
conn_send(struct conn *c, struct iovec *iov, int iovcnt)
{
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
	size_t sent = 0;
	ssize_t n;
	int r;

	if (iovcnt == 0)
		return 0;
	if (conn_out_len(c) == 0) {
		n = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		sent = n > 0 ? (size_t)n : 0;
	}
	for (int i = 0; i < iovcnt; i++) {
		size_t skip = sent < iov[i].iov_len ? sent : iov[i].iov_len;

		sent -= skip;
		r = conn_out_add(c, (const uint8_t *)iov[i].iov_base + skip,
		    iov[i].iov_len - skip);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Count the reply to the current request and send it: the one place a
 * reply is counted and sent.  0 or -errno. */
static int
conn_send_reply(struct conn *c, const struct scsi_result *res,
    const uint8_t *data)
{
	uint8_t hdr[PRH_REPLY_HDR_LEN];
	struct iovec iov[2];
	int n = cmd_reply_iov(hdr, iov, res, data);

	stats_count_reply(c->env->stats, c->cdb[0], c->cdb[1] & 0x1f,
	    res->status);
	TRACE(TP_REPLY, "conn=%p peer_pid=%d status=0x%02x size=%u", (void *)c,
	    (int)c->peer.pid, res->status, res->size);
	return conn_send(c, iov, n);
}

/* --- 1. set-up ------------------------------------------------------------ */

#ifndef SO_PASSPIDFD
#if defined(__x86_64__) || defined(__aarch64__) || defined(__riscv) || \
    defined(__i386__) || defined(__arm__) || defined(__s390x__) ||     \
    defined(__powerpc64__)
#define SO_PASSPIDFD 76 /* asm-generic, Linux 6.5 */
#endif
#endif

/* Turn off what a socket inherits from a listening socket that passes
 * credentials (a socket unit's PassCredentials=, PassSecurity=,
 * PassPIDFD=): their control messages would take room from the fds'
 * (fdpass.h) and a pidfd would be one more fd per message.  0, or a
 * negative errno. */
static int
conn_no_ancillary(int fd)
{
	static const int opts[] = {
		SO_PASSCRED,
		SO_PASSSEC,
#ifdef SO_PASSPIDFD
		SO_PASSPIDFD,
#endif
	};
	int zero = 0;

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (setsockopt(fd, SOL_SOCKET, opts[i], &zero, sizeof(zero)) <
			0 &&
		    errno != ENOPROTOOPT)
			return -errno;
	return 0;
}

/* Serve a freshly accepted socket: the hello, then reading. */
int
conn_new(struct conn_env *env, int fd, const struct peer *peer)
{
	uint8_t hello[PRH_HELLO_LEN];
	struct iovec iov = { .iov_base = hello, .iov_len = sizeof(hello) };
	const char *why = "out of memory";
	struct peer peer_copy;
	struct conn *c = NULL;
	int one = 1;

	/* A byte sent out of band is read in line, with the fds it carries:
	 * a plain read skips it, and the kernel frees it, fds and all, on
	 * the reading thread. */
	if (setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one)) < 0) {
		why = "SO_OOBINLINE refused";
		goto fail;
	}
	if (conn_no_ancillary(fd) < 0) {
		why = "cannot turn off credentials passing";
		goto fail;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	c->env = env;
	c->fd = fd;
	c->peer = *peer;
	c->devfd = -1;
	c->state = CONN_HELLO;
	c->close_reason = "eof";
	peerlog_conn_init(&c->share);
	TRACE(TP_ACCEPT, "conn=%p fd=%d peer_pid=%d peer_uid=%d", (void *)c, fd,
	    (int)peer->pid, (int)peer->uid);
	c->rd = event_new(env->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	if (c->rd == NULL)
		goto fail;
	/* Who the peer is (its client for the closer) is read from /proc
	 * now, before the hello: a client that has its hello finds none of
	 * those files open in the helper. */
	(void)conn_client(c);
	proto_encode_hello(hello);
	if (conn_send(c, &iov, 1) < 0) {
		why = "hello not sent";
		goto fail;
	}
	if (conn_sync(c) < 0)
		goto fail;
	TAILQ_INSERT_TAIL(&env->conns, c, entry);
	env->count++;
	STATS_INC(env->stats->connections);
	STATS_INC(env->stats->accepted);
	return 0;
fail:
	peer_copy = *peer;
	peerlog_warn(env->peerlog, NULL, &peer_copy, PEERLOG_SETUP,
	    "cannot set up connection: %s", why);
	if (c != NULL) {
		if (c->rd != NULL)
			event_free(c->rd);
		if (c->wr != NULL)
			bufferevent_free(c->wr);
		free(c);
	}
	closer_close_socket(env->closer, fd, peer_client_key(&peer_copy));
	return -ENOMEM;
}

/* --- 2. read -------------------------------------------------------------- */

/* Close for a protocol violation, with an optional message.  Returns
 * false (the connection is gone or going). */
static bool
conn_reject(struct conn *c, const char *msg)
{
	if (msg != NULL)
		conn_log(c, PEERLOG_PROTOCOL, "%s", msg);
	c->close_reason = "protocol";
	STATS_INC(c->env->stats->closed_protocol);
	return conn_close(c);
}

/* Drop an fd c's client sent: the closer closes it (its close may wait:
 * closer.h). */
static void
conn_drop_fd(struct conn *c, int fd)
{
	closer_close(c->env->closer, fd, conn_client(c));
}

/* Drop the nfds fds of fds (see conn_drop_fd). */
static void
conn_drop_fds(struct conn *c, const int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		conn_drop_fd(c, fds[i]);
}

/* Read up to len bytes of the current frame into buf, with the fds that
 * come with them, unless the fd budget makes the read wait.  A frame that
 * brings no fd (fd NULL: the hello, the parameter list) has any dropped,
 * and is read on: QEMU's helper reads it without a control buffer, and
 * its kernel drops them.  A CDB brings one (*fd, or -1): a second closes
 * the connection.  Returns the byte count (0 at EOF); -EAGAIN when there
 * is nothing to read now; -ECANCELED when the connection was closed here
 * (fds lost, or a second one); or another negative errno. */
static ssize_t
conn_recv(struct conn *c, void *buf, size_t len, int *fd)
{
	int fds[FDPASS_MAX_FDS], nfds;
	ssize_t n;

	if (fd != NULL)
		*fd = -1;
	/* The read event may have been armed before the budget was used. */
	if (conn_throttle(c)) {
		(void)conn_sync(c);
		return -EAGAIN;
	}
	n = fdpass_recv(c->fd, buf, len, fds, &nfds);
	if (n == -EMSGSIZE) {
		conn_drop_fds(c, fds, nfds);
		conn_log(c, PEERLOG_PROTOCOL,
		    "file descriptor lost (limit "
		    "reached?): closing connection");
		(void)conn_reject(c, NULL);
		return -ECANCELED;
	}
	if (fd == NULL) {
		conn_drop_fds(c, fds, nfds);
	} else if (nfds > 1 || (nfds == 1 && c->have_fd)) {
		conn_drop_fds(c, fds, nfds);
		(void)conn_reject(c, NULL);
		return -ECANCELED;
	} else if (nfds == 1) {
		*fd = fds[0];
	}
	if (n == -EINTR)
		n = -EAGAIN;
	/* Made to wait earlier in this callback and free to read again by
	 * now: the read event, disarmed then, is armed again. */
	if (n == -EAGAIN && !c->reading)
		(void)conn_sync(c);
	return n;
}

/* Read part of the hello (fds with it are dropped).  Returns whether to
 * keep reading. */
static bool
conn_read_hello(struct conn *c)
{
	ssize_t n;

	n = conn_recv(c, c->hello + c->off, PRH_HELLO_LEN - c->off, NULL);
	if (n == -EAGAIN || n == -ECANCELED)
		return false;
	if (n <= 0)
		return conn_close(c);
	c->off += (uint32_t)n;
	if (c->off < PRH_HELLO_LEN)
		return true;
	if (proto_check_hello(c->hello) < 0)
		return conn_reject(c, NULL);
	TRACE(TP_HANDSHAKE, "conn=%p peer_pid=%d", (void *)c, (int)c->peer.pid);
	c->off = 0;
	return conn_set_state(c, CONN_READ_CDB) == 0 || conn_close(c);
}

/* Put the connection on the list of those holding an fd mid-request, so
 * that --request-timeout drops it if the request does not complete. */
static void
conn_hold_start(struct conn *c)
{
	struct conn_env *env = c->env;
	unsigned secs = env->cfg->request_timeout;
	struct timeval tv = { .tv_sec = secs };

	if (secs == 0 || c->held)
		return;
	c->held = true;
	c->held_until_ns = trace_now_ns() + (uint64_t)secs * 1000000000ull;
	TAILQ_INSERT_TAIL(&env->held, c, held_link);
	if (!evtimer_pending(env->held_timer, NULL))
		evtimer_add(env->held_timer, &tv);
}

/* Look at an fd that came with a CDB, at once: what it is and how it was
 * opened.  Only a device node is kept: anything else (a file, pipe or
 * socket, perhaps this very connection's other end) is dropped here, so
 * no client can make the helper hold a socket open; its request will be
 * answered as a refusal. */
static void
conn_take_fd(struct conn *c, int fd)
{
	int fl;

	/* The access mode matters to PR OUT only; the opcode, the CDB's
	 * first byte, came with the fd or before it. */
	c->have_fd = true;
	c->accmode = O_RDWR;
	if (c->cdb[0] == PRH_OP_PR_OUT) {
		fl = fcntl(fd, F_GETFL);
		c->accmode = fl < 0 ? O_RDONLY : fl & O_ACCMODE;
	}
	if (device_node_of_fd(fd, &c->node) < 0) {
		memset(&c->node, 0, sizeof(c->node));
		c->node.type = DEVICE_OTHER;
	}
	if (c->node.type == DEVICE_OTHER) {
		conn_drop_fd(c, fd);
		return;
	}
	c->devfd = fd;
	c->holds_fd = true;
	atomic_fetch_add(&c->env->fds_held, 1);
	conn_hold_start(c);
}

static bool conn_cdb_done(struct conn *c);

/* Read part of the CDB and its fd (one per request).  Returns whether to
 * keep reading. */
static bool
conn_read_cdb(struct conn *c)
{
	ssize_t n;
	int fd;

	n = conn_recv(c, c->cdb + c->off, PRH_CDB_LEN - c->off, &fd);
	if (n == -EAGAIN || n == -ECANCELED)
		return false;
	if (n <= 0)
		return conn_close(c); /* EOF or error */
	if (fd >= 0)
		conn_take_fd(c, fd);
	c->off += (uint32_t)n;
	if (c->off < PRH_CDB_LEN)
		return conn_sync(c) == 0 || conn_close(c);
	return conn_cdb_done(c);
}

static bool conn_request_ready(struct conn *c);

/* The CDB is complete: validate it and get a command buffer.  Returns
 * whether to keep reading. */
static bool
conn_cdb_done(struct conn *c)
{
	struct proto_req req;
	int r;

	if (!c->have_fd)
		return conn_reject(c, "No file descriptor in request.");
	r = proto_parse_cdb(c->cdb, &req);
	if (r == -EPROTO)
		return conn_reject(c, "Invalid CDB, closing socket.");
	if (r < 0)
		return conn_reject(c, NULL);
	TRACE(TP_REQUEST,
	    "conn=%p peer_pid=%d peer_uid=%d opcode=0x%02x "
	    "sa=%u len=%u devfd=%d",
	    (void *)c, (int)c->peer.pid, (int)c->peer.uid, req.opcode,
	    req.service_action, req.len, c->devfd);
	c->cmd = dispatch_cmd_new(c->env->dispatch);
	if (c->cmd == NULL) {
		conn_log(c, PEERLOG_SETUP,
		    "cannot allocate a command: closing "
		    "connection");
		return conn_close(c);
	}
	c->cmd->req = req;
	c->cmd->client = conn_client(c);
	memcpy(c->cmd->cdb, c->cdb, PRH_CDB_LEN);
	c->off = 0;
	if (req.is_out && req.len > 0)
		return conn_set_state(c, CONN_READ_PARAM) == 0 || conn_close(c);
	return conn_request_ready(c);
}

/* Read part of the PR OUT parameter list (fds with it are dropped).
 * Returns whether to keep reading. */
static bool
conn_read_param(struct conn *c)
{
	struct cmd *cmd = c->cmd;
	ssize_t n;

	n = conn_recv(c, cmd->data + c->off, cmd->req.len - c->off, NULL);
	if (n == -EAGAIN || n == -ECANCELED)
		return false;
	if (n <= 0)
		return conn_reject(c,
		    "Unexpected end-of-file before all data "
		    "were read");
	c->off += (uint32_t)n;
	if (c->off < cmd->req.len)
		return true;
	return conn_request_ready(c);
}

/* Socket readable: advance the state machine as far as the data goes. */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	bool more = true;

	(void)fd;
	if (what & EV_TIMEOUT) {
		conn_log(c, PEERLOG_TIMEOUT,
		    "nothing received for %u s in the "
		    "middle of a %s: closing connection",
		    c->env->cfg->idle_timeout,
		    c->state == CONN_HELLO ? "handshake" : "request");
		c->close_reason = "idle-timeout";
		STATS_INC(c->env->stats->timed_out);
		(void)conn_close(c);
		return;
	}
	while (more) {
		switch (c->state) {
		case CONN_HELLO:
			more = conn_read_hello(c);
			break;
		case CONN_READ_CDB:
			more = conn_read_cdb(c);
			break;
		case CONN_READ_PARAM:
			more = conn_read_param(c);
			break;
		case CONN_BUSY: /* the client sent before its answer */
			conn_read_stop(c);
			more = false;
			break;
		default:
			more = false;
			break;
		}
	}
}

/* --- 3. validate ---------------------------------------------------------- */

static bool conn_complete(struct conn *c, struct cmd *cmd);

/* Answer the current request without the device (for the reason why),
 * then go on. */
static bool
conn_answer(struct conn *c, const struct scsi_result *res, const char *why)
{
	if (c->cmd != NULL) {
		audit_answered(c->env->audit, &c->share, &c->peer, &c->node,
		    c->cmd, res, why);
		dispatch_cmd_free(c->env->dispatch, c->cmd);
		c->cmd = NULL;
	}
	if (conn_send_reply(c, res, NULL) < 0)
		return conn_close(c);
	/* A client waits for its answer, so the socket is empty now: do not
	 * read it again to find so (the read event is level-triggered and
	 * fires again if a client pipelined). */
	(void)conn_complete(c, NULL);
	return false;
}

/* Log, once per connection, that the device policy refused an fd (the
 * refusal itself is counted where it is made). */
static void
conn_log_refusal(struct conn *c, const char *what, const char *name)
{
	char esc[ESCAPE_TEXT_SIZE(DEVICE_NAME_MAX)];

	if (c->logged_refusal)
		return;
	c->logged_refusal = true;
	if (c->node.type == DEVICE_OTHER)
		conn_log(c, PEERLOG_POLICY,
		    "refused a %s (dev %u:%u inode %llu): not a SCSI "
		    "device; answered without SG_IO (ABORTED COMMAND)",
		    what, c->node.major, c->node.minor,
		    (unsigned long long)c->node.ino);
	else
		conn_log(c, PEERLOG_POLICY,
		    "refused %s (%u:%u): a %s; answered without SG_IO "
		    "(ABORTED COMMAND)",
		    escape_str(esc, sizeof(esc), name, ESCAPE_TEXT),
		    c->node.major, c->node.minor, what);
}

static bool conn_submit(struct conn *c);

/* Timer: the PR OUT that waited for its turn in its client's share goes
 * now. */
static void
conn_later_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)conn_submit(arg);
}

/* Whether a PR OUT must wait before it is run because its client has
 * used up its commands' share of the log (its line is logged in full,
 * so the command waits instead); if so, it waits in CONN_DEFER for the
 * turn peerlog_command() took for it. */
static bool
conn_defer(struct conn *c)
{
	uint64_t ns = peerlog_command(c->env->peerlog, &c->share, &c->peer);
	uint64_t us = ns / 1000 + 1; /* not before it is due */
	struct timeval tv = { .tv_sec = (time_t)(us / 1000000),
		.tv_usec = (suseconds_t)(us % 1000000) };

	if (ns == 0)
		return false;
	if (c->later == NULL)
		c->later = evtimer_new(c->env->base, conn_later_cb, c);
	if (c->later == NULL || evtimer_add(c->later, &tv) < 0)
		return false; /* cannot wait: run it (and log it) now */
	STATS_INC(c->env->stats->deferred);
	(void)conn_set_state(c, CONN_DEFER);
	return true;
}

/* A whole request is in: answer what needs no device, submit the rest.
 * The order is QEMU's: PR OUT on an fd opened read-only is refused first
 * (CAP_SYS_RAWIO bypasses the kernel's own check of it), whatever the
 * fd is.  Returns whether to keep reading. */
static bool
conn_request_ready(struct conn *c)
{
	struct scsi_result res;

	conn_hold_stop(c);
	audit_request(c->env->audit, &c->peer);
	if (c->cmd->req.is_out && c->accmode == O_RDONLY) {
		scsi_result_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x20, 0x00);
		return conn_answer(c, &res, "PR OUT on a read-only descriptor");
	}
	if (c->node.type == DEVICE_OTHER) {
		/* As SG_IO failing with ENOTTY is answered. */
		STATS_INC(c->env->stats->refused_fds);
		conn_log_refusal(c, device_node_what(&c->node), NULL);
		scsi_result_from_errno(&res, ENOTTY);
		return conn_answer(c, &res, device_node_what(&c->node));
	}
	if (c->cmd->req.is_out && conn_defer(c))
		return false;
	return conn_submit(c);
}

/* --- 4. submit ------------------------------------------------------------ */

/* Hand the command to a worker; the read event stays armed (a client that
 * waits for its answer sends nothing, so it costs nothing, and saves two
 * epoll_ctl calls per command).  Returns whether to keep reading. */
static bool
conn_submit(struct conn *c)
{
	struct conn_env *env = c->env;
	struct cmd *cmd = c->cmd;
	struct scsi_result res;
	char esc[ESCAPE_TEXT_SIZE(DEVICE_NAME_MAX)]; /* the trace's */

	cmd->dev = devreg_get(env->devices, &c->node);
	if (cmd->dev == NULL)
		goto refused;
	cmd->devfd = c->devfd;
	c->devfd = -1;
	if (c->holds_fd) { /* the count goes with the fd */
		cmd->fd_count = &env->fds_held;
		c->holds_fd = false;
	}
	cmd->timeout_ms = env->cfg->sg_timeout * 1000u;
	cmd->stats = env->stats;
	cmd->done = conn_cmd_done;
	cmd->owner = c;
	if (dispatch_submit(env->dispatch, cmd) < 0)
		goto refused; /* shutting down or out of memory: answer */
	TRACE(TP_SUBMIT, "conn=%p cmd=%p peer_pid=%d device=%s devno=%u:%u",
	    (void *)c, (void *)cmd, (int)c->peer.pid,
	    escape_str(esc, sizeof(esc), cmd->dev->name, ESCAPE_WORD),
	    cmd->dev->node.major, cmd->dev->node.minor);
	(void)conn_set_state(c, CONN_BUSY);
	return false;
refused:
	scsi_result_check(&res, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
	return conn_answer(c, &res, "not run: shutting down or out of memory");
}

/* --- 5. complete ---------------------------------------------------------- */

/* The command is back (cmd; dispatch took it off the counts of commands
 * in flight), or the request was answered without one (NULL): say once
 * if the policy refused the device, hand the command to the audit trail,
 * send the reply, and read the next request.  Returns whether to read
 * on. */
static bool
conn_complete(struct conn *c, struct cmd *cmd)
{
	struct conn_env *env = c->env;
	int r = 0;

	if (cmd != NULL) {
		c->cmd = NULL;
		if (cmd->verdict.kind == DEVICE_REFUSED)
			conn_log_refusal(c, cmd->verdict.why, cmd->dev->name);
		audit_command(env->audit, &c->share, &c->peer, cmd);
		r = conn_send_reply(c, &cmd->res, cmd->data);
		dispatch_cmd_free(env->dispatch, cmd);
		if (r < 0) {
			c->close_reason = "write-error";
			conn_free(c);
			return false;
		}
	}
	if (c->devfd >= 0) { /* answered without the device */
		conn_drop_fd(c, c->devfd);
		c->devfd = -1;
	}
	c->off = 0;
	c->have_fd = false;
	conn_fd_release(c);
	if (env->draining) {
		c->state = CONN_READ_CDB;
		return conn_close(c);
	}
	return conn_set_state(c, CONN_READ_CDB) == 0 || conn_close(c);
}

/* dispatch's callback: the command is back. */
static void
conn_cmd_done(struct cmd *cmd)
{
	(void)conn_complete(cmd->owner, cmd);
}

/* --- 6. tear-down --------------------------------------------------------- */

/* Take the connection off the held list. */
static void
conn_hold_stop(struct conn *c)
{
	if (c->held) {
		TAILQ_REMOVE(&c->env->held, c, held_link);
		c->held = false;
	}
}

/* Timer: drop every connection that held an fd too long; rearm for the
 * next one. */
static void
conn_held_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_env *env = arg;
	uint64_t now = trace_now_ns();
	struct conn *c;
	struct timeval tv;

	(void)fd;
	(void)what;
	while (
	    (c = TAILQ_FIRST(&env->held)) != NULL && c->held_until_ns <= now) {
		conn_log(c, PEERLOG_TIMEOUT,
		    "held a file descriptor for %u s without completing its "
		    "request: closing connection",
		    env->cfg->request_timeout);
		c->close_reason = "request-timeout";
		STATS_INC(env->stats->timed_out);
		conn_free(c);
	}
	if (c != NULL) {
		uint64_t left = c->held_until_ns - now;

		tv.tv_sec = (time_t)(left / 1000000000ull);
		tv.tv_usec = (suseconds_t)(left % 1000000000ull / 1000);
		evtimer_add(env->held_timer, &tv);
	}
}

/* What an orphaned command needs to be logged when it is back. */
struct conn_orphan {
	struct conn_env *env;
	struct peer peer;
};

/* dispatch's last word on a command whose connection went while it ran:
 * its line, as if the connection were there (every PR OUT that ran is
 * logged). */
static void
conn_orphan_done(struct cmd *cmd)
{
	struct conn_orphan *o = cmd->owner;

	audit_command(o->env->audit, NULL, &o->peer, cmd);
	free(o);
}

/* Give the command in flight up to dispatch, which logs it when it is
 * back. */
static void
conn_abandon(struct conn *c)
{
	struct cmd *cmd = c->cmd;
	struct conn_orphan *o = malloc(sizeof(*o));

	if (dispatch_abandon(c->env->dispatch, cmd) && o != NULL) {
		o->env = c->env;
		o->peer = c->peer;
		cmd->orphaned = conn_orphan_done;
		cmd->owner = o;
		o = NULL;
	}
	free(o);
}

/* Close a connection now; a command in flight is abandoned to dispatch. */
static void
conn_free(struct conn *c)
{
	struct conn_env *env = c->env;
	struct peer peer = c->peer;

	TRACE(TP_CLOSE, "conn=%p peer_pid=%d reason=%s", (void *)c,
	    (int)c->peer.pid, env->draining ? "shutdown" : c->close_reason);
	if (c->cmd != NULL) {
		if (c->state == CONN_BUSY)
			conn_abandon(c);
		else
			dispatch_cmd_free(env->dispatch, c->cmd);
	}
	conn_hold_stop(c);
	conn_throttle_on(c, NULL, false);
	if (c->later != NULL)
		event_free(c->later);
	peerlog_conn_fini(env->peerlog, &c->share);
	if (c->devfd >= 0)
		conn_drop_fd(c, c->devfd);
	if (c->holds_fd)
		atomic_fetch_sub(&env->fds_held, 1);
	event_free(c->rd);
	if (c->wr != NULL)
		bufferevent_free(c->wr);
	closer_close_socket(env->closer, c->fd, conn_client(c));
	TAILQ_REMOVE(&env->conns, c, entry);
	env->count--;
	STATS_DEC(env->stats->connections);
	STATS_INC(env->stats->closed);
	free(c);
	if (env->gone != NULL)
		env->gone(env->arg, &peer);
	if (env->gone != NULL) /* not when everything is being freed */
		conn_fds_freed(env);
}

/* Close once queued replies are flushed; returns false (gone or going). */
static bool
conn_close(struct conn *c)
{
	if (c->cmd != NULL && c->state != CONN_BUSY) {
		dispatch_cmd_free(c->env->dispatch, c->cmd);
		c->cmd = NULL;
	}
	conn_hold_stop(c);
	if (c->later != NULL)
		event_del(c->later);
	if (c->devfd >= 0) {
		conn_drop_fd(c, c->devfd);
		c->devfd = -1;
	}
	if (c->state == CONN_BUSY || conn_out_len(c) == 0) {
		conn_free(c);
		return false;
	}
	(void)conn_set_state(c, CONN_CLOSING); /* conn_write_cb frees it */
	return false;
}

/* Output drained: close a closing connection, or drop the bufferevent
 * and read again. */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->state == CONN_CLOSING) {
		conn_free(c);
		return;
	}
	bufferevent_free(c->wr);
	c->wr = NULL;
	if (conn_sync(c) < 0)
		(void)conn_close(c);
}

/* Write error, peer reset or write timeout: close now. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT) {
		conn_log(c, PEERLOG_TIMEOUT,
		    "client took no reply for %u s: "
		    "closing connection",
		    c->env->cfg->write_timeout);
		c->close_reason = "write-timeout";
		STATS_INC(c->env->stats->timed_out);
	} else {
		c->close_reason = "write-error";
	}
	conn_free(c);
}

/* Shutdown: idle connections close now, busy ones after their answer. */
void
conn_drain_all(struct conn_env *env)
{
	struct scsi_result res;
	struct conn *c, *next;

	env->draining = true;
	for (c = TAILQ_FIRST(&env->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state == CONN_DEFER) {
			/* Not run: answered (and logged) rather than lost. */
			event_del(c->later);
			scsi_result_check(&res, PRH_SK_ABORTED_COMMAND, 0x00,
			    0x06);
			(void)conn_answer(c, &res, "not run: shutting down");
		} else if (c->state == CONN_BUSY || c->state == CONN_CLOSING)
			(void)conn_sync(c); /* the answer, then the close */
		else
			(void)conn_close(c);
	}
}

/* Set up the shared state. */
int
conn_env_init(struct conn_env *env)
{
	TAILQ_INIT(&env->conns);
	TAILQ_INIT(&env->held);
	TAILQ_INIT(&env->throttled);
	TAILQ_INIT(&env->stalled);
	env->stalled_eased = 0;
	atomic_store(&env->fds_held, 0);
	env->count = 0;
	env->draining = false;
	env->held_timer = evtimer_new(env->base, conn_held_cb, env);
	return env->held_timer != NULL ? 0 : -ENOMEM;
}

/* Close every connection and free the shared state. */
void
conn_env_fini(struct conn_env *env)
{
	env->gone = NULL; /* the server is going away too */
	while (!TAILQ_EMPTY(&env->conns))
		conn_free(TAILQ_FIRST(&env->conns));
	if (env->held_timer != NULL)
		event_free(env->held_timer);
	env->held_timer = NULL;
}
