/* One client connection: read a request, hand it to the pool, answer it.
 *
 * Follow one request: conn_read_cb() reads exactly the bytes still missing
 * from the current frame (hello, CDB, parameter list) with recvmsg, so each
 * fd stays with its request; conn_request_ready() applies the checks that
 * answer without the device and submits the command; the worker runs
 * conn_cmd_work(): SG_IO, close the device fd and, when no earlier reply
 * is still queued, send the reply itself.  Such a command completes
 * lazily: conn_cmd_done() runs on the loop thread when the client's next
 * request makes the socket readable (conn_reap), or from the server's
 * sweep timer, and only then sends what the worker could not, counts the
 * reply and reads on.  So one command costs two thread wake-ups (loop,
 * worker) instead of four.
 *
 * Replies go straight to the socket with one sendmsg.  Only when the
 * client's socket buffer is full does the connection get a write-only
 * bufferevent, which holds the rest, applies the write timeout and frees
 * itself once drained.  An idle connection therefore costs its struct and
 * one read event, a few hundred bytes, instead of a bufferevent's ~1 KiB.
 *
 * Bounds: a connection reads its next request only while at most one
 * reply is waiting for the client (CONN_OUTPUT_MAX), so a client that
 * never reads costs at most a reply's worth of memory, and
 * --write-timeout drops it.  A request being read costs the struct and
 * one struct cmd; --idle-timeout, if set, drops a client that stops in
 * the middle of the handshake or of a request: the read event then
 * carries that timeout, and only then.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "prh/conn.h"
#include "prh/fdpass.h"
#include "prh/log.h"
#include "prh/mpath.h"
#include "prh/server.h"
#include "prh/sgio.h"
#include "prh/status.h"
#include "prh/trace.h"

/* Replies a client may leave unread before we stop reading its requests. */
#define CONN_OUTPUT_MAX (PRH_REPLY_HDR_LEN + PRH_DATA_MAX)

/* Where a connection is in its protocol. */
enum conn_state {
	CONN_HELLO,	 /* reading the client's feature word */
	CONN_READ_CDB,	 /* reading the 16-byte CDB (and its fd) */
	CONN_READ_PARAM, /* reading the PR OUT parameter list */
	CONN_SUBMITTED,	 /* command with the pool */
	CONN_PARKED,	 /* command waits for room in the pool queue */
	CONN_CLOSING,	 /* flushing output, then close */
};

/* A client connection.  Loop thread only. */
struct conn {
	TAILQ_ENTRY(conn) entry;      /* server->conns */
	TAILQ_ENTRY(conn) park_entry; /* server->parked, when parked */
	struct server *srv;
	int fd;			/* the client socket */
	struct event *rd;	/* read readiness */
	struct bufferevent *wr; /* unsent reply bytes, or NULL */
	enum conn_state state;
	bool reading; /* rd is armed */
	bool timed;   /* rd carries the idle timeout */
	uint32_t off; /* bytes of the current frame read */
	uint8_t hello[PRH_HELLO_LEN];
	uint8_t cdb[PRH_CDB_LEN];
	int devfd;	 /* fd that came with the CDB, or -1 */
	struct cmd *cmd; /* command being read or in flight */
	pid_t peer_pid;	 /* SO_PEERCRED at accept, or -1 */
	uid_t peer_uid;
	gid_t peer_gid;
	const char *close_reason; /* for the close trace point */
};

/* Log a per-connection message naming the peer ("[pid P uid U] msg"). */
static void __attribute__((format(printf, 3, 4)))
conn_log(const struct conn *c, int prio, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(prio, "[pid %d uid %d] %s", (int)c->peer_pid, (int)c->peer_uid,
	    msg);
}

/* Read the peer's pid and uid once, for messages and traces. */
static void
conn_peer_cred(struct conn *c)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	c->peer_pid = -1;
	c->peer_uid = (uid_t)-1;
	c->peer_gid = (gid_t)-1;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0) {
		c->peer_pid = uc.pid;
		c->peer_uid = uc.uid;
		c->peer_gid = uc.gid;
	}
}

/* Whether gid is one of the peer's supplementary groups (SO_PEERGROUPS,
 * as they were at connect time). */
static bool
conn_peer_in_group(const struct conn *c, gid_t gid)
{
	gid_t small[64], *gids = small;
	socklen_t len = sizeof(small);
	bool found = false;

	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, gids, &len) < 0) {
		if (errno != ERANGE || (gids = malloc(len)) == NULL)
			return false;
		if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, gids, &len) <
		    0)
			len = 0;
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (gids[i] == gid)
			found = true;
	if (gids != small)
		free(gids);
	return found;
}

/* Whether the peer passes --allow-uid / --allow-gid (true without them). */
static bool
conn_peer_allowed(const struct conn *c)
{
	const struct prh_config *cfg = c->srv->cfg;

	if (cfg->n_allow_uid == 0 && cfg->n_allow_gid == 0)
		return true;
	if (c->peer_pid == -1)
		return false; /* no credentials: cannot tell */
	for (unsigned i = 0; i < cfg->n_allow_uid; i++)
		if (cfg->allow_uid[i] == c->peer_uid)
			return true;
	for (unsigned i = 0; i < cfg->n_allow_gid; i++)
		if (cfg->allow_gid[i] == c->peer_gid ||
		    conn_peer_in_group(c, cfg->allow_gid[i]))
			return true;
	return false;
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

/* Whether the client is in the middle of the handshake or a request. */
static bool
conn_partial(const struct conn *c)
{
	return c->state == CONN_HELLO || c->state == CONN_READ_PARAM ||
	    (c->state == CONN_READ_CDB && c->off > 0);
}

/* Arm the read event if it is not armed; give it the idle timeout
 * exactly while the client is in the middle of something.  0, or -ENOMEM
 * if the event could not be armed (libevent allocates on first use of an
 * fd number); a missing timeout alone is not an error. */
static int
conn_read_on(struct conn *c)
{
	unsigned idle = c->srv->cfg->idle_timeout;
	bool timed = idle > 0 && conn_partial(c);
	struct timeval tv = { .tv_sec = idle };

	if (c->reading && timed == c->timed)
		return 0;
	if (c->reading && !timed) {
		event_remove_timer(c->rd);
	} else if (event_add(c->rd, timed ? &tv : NULL) < 0) {
		return c->reading ? 0 : -ENOMEM;
	}
	c->reading = true;
	c->timed = timed;
	return 0;
}

/* Add or drop the idle timeout after the state changed, if reading. */
static void
conn_timer_sync(struct conn *c)
{
	if (c->reading &&
	    c->timed != (c->srv->cfg->idle_timeout > 0 && conn_partial(c)))
		(void)conn_read_on(c); /* already reading: cannot fail */
}

/* Disarm the read event. */
static void
conn_read_off(struct conn *c)
{
	if (c->reading) {
		event_del(c->rd);
		c->reading = false;
		c->timed = false;
	}
}

/* Bytes of reply waiting for the client to read. */
static size_t
conn_out_len(const struct conn *c)
{
	return c->wr != NULL
	    ? evbuffer_get_length(bufferevent_get_output(c->wr))
	    : 0;
}

/* Queue bytes the socket did not take, creating the bufferevent that
 * sends them on.  0 or -ENOMEM. */
static int
conn_out_add(struct conn *c, const void *buf, size_t len)
{
	struct timeval wto = { .tv_sec = c->srv->cfg->write_timeout };

	if (len == 0)
		return 0;
	if (c->wr == NULL) {
		c->wr = bufferevent_socket_new(c->srv->base, c->fd, 0);
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
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = iovcnt };
	size_t sent = 0;
	ssize_t n;
	int r;

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

/* Accept a new connection: allocate, send the hello, start reading. */
int
conn_new(struct server *srv, int fd)
{
	uint8_t hello[PRH_HELLO_LEN];
	struct iovec iov = { .iov_base = hello, .iov_len = sizeof(hello) };
	const char *why = "out of memory";
	struct conn *c;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	c->srv = srv;
	c->fd = fd;
	c->devfd = -1;
	c->state = CONN_HELLO;
	c->close_reason = "eof";
	conn_peer_cred(c);
	TRACE(TP_ACCEPT, "conn=%p fd=%d peer_pid=%d peer_uid=%d", (void *)c, fd,
	    (int)c->peer_pid, (int)c->peer_uid);
	if (!conn_peer_allowed(c)) {
		conn_log(c, LOG_WARNING,
		    "gid %d: not in --allow-uid or "
		    "--allow-gid; closing connection",
		    (int)c->peer_gid);
		srv->stats.refused_peers++;
		free(c);
		close(fd);
		return -EACCES;
	}
	c->rd = event_new(srv->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	if (c->rd == NULL)
		goto fail;
	proto_encode_hello(hello);
	if (conn_send(c, &iov, 1) < 0) {
		why = "hello not sent";
		goto fail;
	}
	if (conn_read_on(c) < 0)
		goto fail;
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->stats.connections++;
	srv->stats.accepted++;
	return 0;
fail:
	log_warn("cannot set up connection: %s", why);
	if (c != NULL) {
		if (c->rd != NULL)
			event_free(c->rd);
		if (c->wr != NULL)
			bufferevent_free(c->wr);
		free(c);
	}
	close(fd);
	return -ENOMEM;
}

/* Close the fd received with the current request, if any. */
static void
conn_drop_devfd(struct conn *c)
{
	if (c->devfd >= 0) {
		close(c->devfd);
		c->devfd = -1;
	}
}

/* Close a connection now; orphan or discard its command. */
void
conn_free(struct conn *c)
{
	struct server *srv = c->srv;
	struct cmd *cmd = c->cmd;
	int fd = c->fd;

	TRACE(TP_CLOSE, "conn=%p peer_pid=%d reason=%s", (void *)c,
	    (int)c->peer_pid, srv->draining ? "shutdown" : c->close_reason);
	if (srv->reaping == c)
		srv->reaping = NULL;
	if (cmd != NULL) {
		if (c->state == CONN_SUBMITTED &&
		    pool_cancel(srv->pool, &cmd->job) != 0) {
			/* Running or finished: the completion frees it and,
			 * if a worker may write to it, closes the socket. */
			cmd->conn = NULL;
			if (cmd->sockfd >= 0)
				fd = -1;
			(void)pool_want(srv->pool, &cmd->job, POOL_WANT_KICK);
		} else {
			if (c->state == CONN_SUBMITTED)
				srv->stats.inflight--;
			cmd_discard(srv, cmd);
		}
	}
	if (c->state == CONN_PARKED) {
		TAILQ_REMOVE(&srv->parked, c, park_entry);
		srv->stats.parked--;
	}
	conn_drop_devfd(c);
	event_free(c->rd);
	if (c->wr != NULL)
		bufferevent_free(c->wr);
	if (fd >= 0)
		close(fd);
	TAILQ_REMOVE(&srv->conns, c, entry);
	srv->stats.connections--;
	free(c);
	server_conn_gone(srv);
}

/* Close after flushing any queued replies; returns false (gone or going). */
static bool
conn_close(struct conn *c)
{
	conn_drop_devfd(c);
	if (c->cmd != NULL) {
		cmd_discard(c->srv, c->cmd);
		c->cmd = NULL;
	}
	conn_read_off(c);
	if (conn_out_len(c) == 0) {
		conn_free(c);
		return false;
	}
	c->state = CONN_CLOSING; /* conn_write_cb frees it once flushed */
	return false;
}

/* Close for a protocol violation, with an optional message. */
static bool
conn_reject(struct conn *c, const char *msg)
{
	if (msg != NULL)
		conn_log(c, LOG_WARNING, "%s", msg);
	c->close_reason = "protocol";
	c->srv->stats.closed_protocol++;
	return conn_close(c);
}

/* Free a command that never reached (or was taken back from) a worker. */
void
cmd_discard(struct server *srv, struct cmd *cmd)
{
	if (cmd->devfd >= 0) {
		close(cmd->devfd);
		cmd->devfd = -1;
	}
	server_cmd_put(srv, cmd);
}

/* Worker thread: send the reply on cmd->sockfd without blocking, noting
 * how much went (the loop sends the rest) or the error. */
static void
conn_cmd_reply(struct cmd *cmd)
{
	uint8_t hdr[PRH_REPLY_HDR_LEN];
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = cmd->data, .iov_len = cmd->res.size },
	};
	struct msghdr msg = { .msg_iov = iov,
		.msg_iovlen = cmd->res.size > 0 ? 2 : 1 };
	ssize_t n;

	proto_encode_reply(hdr, cmd->res.status, cmd->res.size, cmd->res.sense);
	n = sendmsg(cmd->sockfd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		cmd->send_err = -errno;
	cmd->sent = n > 0 ? (uint32_t)n : 0;
}

/* Worker thread: run the command on the device, close the device fd and,
 * if the loop handed over the socket, send the reply. */
static void
conn_cmd_work(struct pool_job *job)
{
	struct cmd *cmd = (struct cmd *)job;
	uint64_t t0 = trace_now_ns(), dt;
	int mp = mpath_probe_fd(cmd->devfd);

	if (mp > 0) /* a multipath map: every path, through the library */
		mpath_execute(cmd->devfd, cmd->cdb, cmd->data, cmd->req.len,
		    cmd->timeout_ms, &cmd->res);
	else if (mp < 0)
		mpath_unavailable(mp, &cmd->res);
	else
		sgio_execute(cmd->devfd, cmd->cdb, cmd->data, cmd->req.len,
		    cmd->timeout_ms, &cmd->res);
	dt = trace_now_ns() - t0;
	status_worker_busy(dt);
	TRACE(TP_SGIO_DONE,
	    "cmd=%p fd=%d opcode=0x%02x sa=%u status=0x%02x "
	    "host=0x%02x driver=0x%02x "
	    "sense=%02x/%02x/%02x size=%u duration_us=%llu",
	    (void *)cmd, cmd->devfd, cmd->req.opcode, cmd->req.service_action,
	    cmd->res.status, cmd->res.host_status, cmd->res.driver_status,
	    cmd->res.sense[2] & 0x0f, cmd->res.sense[12], cmd->res.sense[13],
	    cmd->res.size, (unsigned long long)(dt / 1000));
	close(cmd->devfd);
	cmd->devfd = -1;
	if (cmd->sockfd >= 0)
		conn_cmd_reply(cmd);
}

/* Key that groups commands by device for the per-device worker cap. */
static uint64_t
conn_device_key(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return 0;
	if (S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode))
		return (uint64_t)st.st_rdev;
	/* Not a device: the file itself; the top bit keeps it apart. */
	return (1ull << 63) ^ ((uint64_t)st.st_dev << 40) ^ (uint64_t)st.st_ino;
}

/* Send the reply: header and PR IN payload in one sendmsg, less the
 * first skip bytes (which a worker already sent).  0 or a negative errno. */
static int
conn_send_reply(struct conn *c, const struct scsi_result *res,
    const uint8_t *data, size_t skip)
{
	uint8_t hdr[PRH_REPLY_HDR_LEN];
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)data, .iov_len = res->size },
	};
	int i = 0, n = res->size > 0 ? 2 : 1;

	proto_encode_reply(hdr, res->status, res->size, res->sense);
	c->srv->stats.commands++;
	status_count_reply(c->cdb[0], res->status);
	TRACE(TP_REPLY, "conn=%p peer_pid=%d status=0x%02x size=%u", (void *)c,
	    (int)c->peer_pid, res->status, res->size);
	for (; i < n && skip >= iov[i].iov_len; i++)
		skip -= iov[i].iov_len;
	if (i == n)
		return 0;
	iov[i].iov_base = (uint8_t *)iov[i].iov_base + skip;
	iov[i].iov_len -= skip;
	return conn_send(c, iov + i, n - i);
}

/* Whether the read loop should go on for this (live) connection. */
static bool
conn_wants_read(const struct conn *c)
{
	return c->reading &&
	    (c->state == CONN_HELLO || c->state == CONN_READ_CDB ||
		c->state == CONN_READ_PARAM);
}

/* Start reading the next request, unless replies are piling up.  Returns
 * whether the connection is still open. */
static bool
conn_next_request(struct conn *c)
{
	c->state = CONN_READ_CDB;
	c->off = 0;
	if (c->srv->draining)
		return conn_drain(c);
	if (conn_out_len(c) > CONN_OUTPUT_MAX)
		conn_read_off(c); /* conn_write_cb re-arms when drained */
	else if (conn_read_on(c) < 0)
		return conn_close(c);
	return true;
}

/* Answer the current request without the device (cmd already released). */
static bool
conn_answer_now(struct conn *c, const struct scsi_result *res)
{
	if (conn_send_reply(c, res, NULL, 0) < 0)
		return conn_close(c);
	return conn_next_request(c);
}

/* Hand the command to the pool, or park the connection if it is full.
 * Returns whether the connection is still open. */
static bool
conn_submit(struct conn *c)
{
	struct server *srv = c->srv;
	struct scsi_result res;
	int r;

	/* The worker sends the reply itself unless earlier replies still
	 * wait in c->wr (they go first).  Nothing else is written to the
	 * socket while the command runs. */
	c->cmd->sockfd = conn_out_len(c) == 0 ? c->fd : -1;
	c->cmd->job.lazy = c->cmd->sockfd >= 0;
	r = pool_submit(srv->pool, &c->cmd->job);
	if (r == 0) {
		TRACE(TP_SUBMIT, "conn=%p cmd=%p peer_pid=%d devkey=0x%llx",
		    (void *)c, (void *)c->cmd, (int)c->peer_pid,
		    (unsigned long long)c->cmd->job.devkey);
		c->state = CONN_SUBMITTED;
		srv->stats.inflight++;
		conn_timer_sync(c);
		if (c->cmd->job.lazy)
			server_sweep_arm(srv);
		return true;
	}
	c->cmd->sockfd = -1;
	if (r == -EAGAIN) {
		if (!srv->eager) { /* see server_cmd_done */
			pool_set_eager(srv->pool, 1);
			srv->eager = true;
		}
		c->state = CONN_PARKED;
		TAILQ_INSERT_TAIL(&srv->parked, c, park_entry);
		srv->stats.parked++;
		conn_timer_sync(c);
		return true;
	}
	/* Shutting down or out of memory: answer rather than hang. */
	cmd_discard(srv, c->cmd);
	c->cmd = NULL;
	scsi_result_check(&res, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
	return conn_answer_now(c, &res);
}

/* A whole request is in: answer locally or submit it.  Returns whether the
 * connection is still open. */
static bool
conn_request_ready(struct conn *c)
{
	struct cmd *cmd = c->cmd;

	/* The read event stays armed: a client that waits for its answer
	 * sends nothing, so it costs nothing, and saves two epoll_ctl calls
	 * per command.  conn_read_cb disarms it if pipelined bytes come. */
	cmd->devfd = c->devfd;
	c->devfd = -1;
	cmd->conn = c;
	cmd->timeout_ms = c->srv->cfg->sg_timeout * 1000u;
	memcpy(cmd->cdb, c->cdb, PRH_CDB_LEN);

	if (cmd->req.is_out &&
	    (fcntl(cmd->devfd, F_GETFL) & O_ACCMODE) == O_RDONLY) {
		/* CAP_SYS_RAWIO bypasses the kernel's write check: refuse. */
		struct scsi_result res;

		cmd_discard(c->srv, cmd);
		c->cmd = NULL;
		scsi_result_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x20, 0x00);
		return conn_answer_now(c, &res);
	}
	cmd->job.devkey = conn_device_key(cmd->devfd);
	cmd->job.work = conn_cmd_work;
	return conn_submit(c);
}

/* The CDB is complete: validate it and set up the command.  Returns
 * whether the connection is still open. */
static bool
conn_cdb_done(struct conn *c)
{
	struct proto_req req;
	int r;

	if (c->devfd < 0)
		return conn_reject(c, "No file descriptor in request.");
	r = proto_parse_cdb(c->cdb, &req);
	if (r == -EPROTO)
		return conn_reject(c, "Invalid CDB, closing socket.");
	if (r < 0)
		return conn_reject(c, NULL);
	TRACE(TP_REQUEST,
	    "conn=%p peer_pid=%d peer_uid=%d opcode=0x%02x "
	    "sa=%u len=%u devfd=%d",
	    (void *)c, (int)c->peer_pid, (int)c->peer_uid, req.opcode,
	    req.service_action, req.len, c->devfd);
	c->cmd = server_cmd_get(c->srv);
	if (c->cmd == NULL) {
		conn_log(c, LOG_WARNING,
		    "cannot allocate a command: closing "
		    "connection");
		return conn_close(c);
	}
	c->cmd->req = req;
	c->off = 0;
	if (req.is_out && req.len > 0) {
		c->state = CONN_READ_PARAM;
		conn_timer_sync(c);
		return true;
	}
	return conn_request_ready(c);
}

/* Read part of the hello.  Returns whether to keep reading. */
static bool
conn_read_hello(struct conn *c)
{
	ssize_t n;

	n = recv(c->fd, c->hello + c->off, PRH_HELLO_LEN - c->off,
	    MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	if (n <= 0)
		return conn_close(c);
	c->off += n;
	if (c->off < PRH_HELLO_LEN)
		return true;
	if (proto_check_hello(c->hello) < 0)
		return conn_reject(c, NULL);
	TRACE(TP_HANDSHAKE, "conn=%p peer_pid=%d", (void *)c, (int)c->peer_pid);
	c->state = CONN_READ_CDB;
	c->off = 0;
	conn_timer_sync(c);
	return true;
}

/* Read part of the CDB and its fd.  Returns whether to keep reading. */
static bool
conn_read_cdb(struct conn *c)
{
	int fds[FDPASS_MAX_FDS], nfds;
	ssize_t n;

	n = fdpass_recv(c->fd, c->cdb + c->off, PRH_CDB_LEN - c->off, fds,
	    &nfds);
	if (n == -EAGAIN || n == -EINTR)
		return false;
	if (n == -EMSGSIZE) {
		conn_log(c, LOG_WARNING,
		    "file descriptor lost (limit "
		    "reached?): closing connection");
		return conn_reject(c, NULL);
	}
	if (nfds > 1 || (nfds == 1 && c->devfd >= 0)) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return conn_reject(c, NULL);
	}
	if (nfds == 1)
		c->devfd = fds[0];
	if (n <= 0)
		return conn_close(c); /* EOF or error */
	c->off += n;
	if (c->off < PRH_CDB_LEN) {
		conn_timer_sync(c);
		return true;
	}
	return conn_cdb_done(c) && conn_wants_read(c);
}

/* Read part of the PR OUT parameter list; fds sent with it are dropped by
 * the kernel (no control buffer).  Returns whether to keep reading. */
static bool
conn_read_param(struct conn *c)
{
	struct cmd *cmd = c->cmd;
	ssize_t n;

	n = recv(c->fd, cmd->data + c->off, cmd->req.len - c->off,
	    MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	if (n <= 0)
		return conn_reject(c,
		    "Unexpected end-of-file before all data "
		    "were read");
	c->off += n;
	if (c->off < cmd->req.len)
		return true;
	return conn_request_ready(c) && conn_wants_read(c);
}

/* Readable while the command is with the pool (usually the client's next
 * request, after the worker sent the reply): if the command finished,
 * deliver the finished completions now and go on reading; if not, stop
 * reading until its completion, which the pool is asked to signal.
 * Returns whether to read on. */
static bool
conn_reap(struct conn *c)
{
	struct server *srv = c->srv;

	if (!pool_want(srv->pool, &c->cmd->job, POOL_WANT_PEEK)) {
		/* Most often the worker sent the reply and the client's
		 * answer preempted it on this CPU before it could hand the
		 * cmd over: let it finish before falling back to a signal. */
		sched_yield();
		if (!pool_want(srv->pool, &c->cmd->job, POOL_WANT_SIGNAL)) {
			conn_read_off(c);
			return false;
		}
	}
	srv->reaping = c; /* conn_free clears it */
	pool_reap(srv->pool);
	if (srv->reaping != c)
		return false;
	srv->reaping = NULL;
	return conn_wants_read(c);
}

/* Socket readable: advance the state machine as far as the data goes. */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	bool more = true;

	if (what & EV_TIMEOUT) {
		conn_log(c, LOG_WARNING,
		    "nothing received for %u s in the "
		    "middle of a %s: closing connection",
		    c->srv->cfg->idle_timeout,
		    c->state == CONN_HELLO ? "handshake" : "request");
		c->close_reason = "idle-timeout";
		c->srv->stats.timed_out++;
		(void)conn_close(c);
		return;
	}
	if (c->state == CONN_SUBMITTED)
		more = conn_reap(c);
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
		default:
			/* Pipelined bytes while a command is in flight: they
			 * wait in the socket until the answer is queued. */
			conn_read_off(c);
			more = false;
			break;
		}
	}
}

/* Output drained: close a closing connection, or drop the bufferevent
 * and resume reading. */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->state == CONN_CLOSING) {
		conn_free(c);
		return;
	}
	bufferevent_free(c->wr);
	c->wr = NULL;
	if (c->state == CONN_READ_CDB && !c->srv->draining &&
	    conn_read_on(c) < 0)
		(void)conn_close(c);
}

/* Write error, peer reset or write timeout: close now. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_TIMEOUT) {
		conn_log(c, LOG_WARNING,
		    "client took no reply for %u s: "
		    "closing connection",
		    c->srv->cfg->write_timeout);
		c->close_reason = "write-timeout";
		c->srv->stats.timed_out++;
	} else {
		c->close_reason = "write-error";
	}
	conn_free(c);
}

/* Completion on the loop thread: answer the client or drop the result. */
void
conn_cmd_done(struct pool_job *job, void *arg)
{
	struct cmd *cmd = (struct cmd *)job;
	struct server *srv = arg;
	struct conn *c = cmd->conn;
	int r;

	srv->stats.inflight--;
	if (c == NULL) { /* the client left meanwhile */
		if (cmd->sockfd >= 0)
			close(cmd->sockfd);
		server_cmd_put(srv, cmd);
		server_conn_gone(srv);
		return;
	}
	c->cmd = NULL;
	/* A worker that had the socket sent cmd->sent bytes: send the rest
	 * (none after its send failed, but count the reply all the same). */
	if (cmd->sockfd < 0)
		r = conn_send_reply(c, &cmd->res, cmd->data, 0);
	else if ((r = conn_send_reply(c, &cmd->res, cmd->data,
		      cmd->send_err < 0 ? SIZE_MAX : cmd->sent)) == 0)
		r = cmd->send_err;
	server_cmd_put(srv, cmd);
	if (r < 0)
		conn_free(c);
	else
		conn_next_request(c);
}

/* Retry the pool for a parked connection. */
int
conn_resume(struct conn *c)
{
	struct server *srv = c->srv;

	TAILQ_REMOVE(&srv->parked, c, park_entry);
	srv->stats.parked--;
	if (!conn_submit(c))
		return 0;
	return c->state == CONN_PARKED ? -EAGAIN : 0;
}

/* Shutdown: idle connections close now, busy ones after their answer.
 * Returns whether the connection is still open. */
bool
conn_drain(struct conn *c)
{
	conn_read_off(c);
	if (c->state == CONN_SUBMITTED || c->state == CONN_CLOSING)
		return true; /* the answer, then the close, will come */
	if (c->state == CONN_PARKED) {
		TAILQ_REMOVE(&c->srv->parked, c, park_entry);
		c->srv->stats.parked--;
		c->state = CONN_READ_CDB;
	}
	return conn_close(c);
}

/* Shutdown: drain every connection of the server. */
void
conn_drain_all(struct server *srv)
{
	struct conn *c, *next;

	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		(void)conn_drain(c);
	}
}
