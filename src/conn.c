/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One client connection, in the order a request lives in it:
 *
 *  1. set-up	conn_new(): the socket set up for fds, the hello;
 *  2. read	conn_read_cb(): each frame (hello, CDB, parameter list)
 *		with its fds (frame.h), within the fd budget (fdbudget.h);
 *  3. validate	conn_request_ready(): what is answered without the device
 *		(access mode, not a device node); a PR OUT's wait for its
 *		client's share of the log;
 *  4. submit	conn_submit(): the command goes to a worker (dispatch.h);
 *  5. reply	conn_complete(), on the loop thread once the command is
 *		back: the audit trail, then conn_send_reply(), the one
 *		function that counts and sends a reply (output.h);
 *  6. tear-down conn_close(), conn_free() and the timeouts.
 *
 * One request per connection at a time, and the next one is read only
 * while at most one reply waits for the client (OUTPUT_MAX).  The state
 * changes only in conn_set_state(), which also arms what the state needs.
 * Every fd a client sent that the connection drops goes to the closer
 * (closer.h); the request's device fd in conn_drop_devfd() alone.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "prh/audit.h"
#include "prh/closer.h"
#include "prh/cmd.h"
#include "prh/conn.h"
#include "prh/device.h"
#include "prh/dispatch.h"
#include "prh/escape.h"
#include "prh/frame.h"
#include "prh/log.h"
#include "prh/output.h"
#include "prh/peerlog.h"
#include "prh/trace.h"

/* Where a connection is in its protocol; the first three read. */
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
	TAILQ_ENTRY(conn) entry; /* env->conns */
	struct conn_env *env;
	int fd;			 /* the client socket */
	struct peer peer;	 /* SO_PEERCRED at accept */
	struct fdbudget_conn fc; /* its fds and its client for the closer */
	struct output out;	 /* the hello and the replies */
	struct event *rd;	 /* read readiness */
	bool reading;		 /* rd is armed */
	unsigned rd_secs;	 /* timeout rd is armed with, 0 for none */
	enum conn_state state;
	uint32_t off; /* bytes of the current frame read */
	uint8_t hello[PRH_HELLO_LEN];
	uint8_t cdb[PRH_CDB_LEN];
	struct frame_fd ff;	   /* the fd of the current request */
	struct cmd *cmd;	   /* command being read or in flight */
	struct peerlog_conn share; /* its share of the log */
	bool logged_refusal;	   /* a policy refusal was logged */
	const char *close_reason;  /* for the close trace point */
};

static void conn_read_cb(evutil_socket_t fd, short what, void *arg);
static bool conn_request_ready(struct conn *c);
static bool conn_submit(struct conn *c);
static bool
conn_answer(struct conn *c, const struct scsi_result *res, const char *why);
static bool conn_complete(struct conn *c, struct cmd *cmd);
static void conn_cmd_done(struct cmd *cmd);
static void conn_drained(void *arg);
static void conn_failed(void *arg, bool timed_out);
static bool conn_close(struct conn *c);
static void conn_free(struct conn *c);

/* The connection whose budget entry is fc. */
#define conn_of(fc) ((struct conn *)((char *)(fc)-offsetof(struct conn, fc)))

/* Log a per-connection warning of kind k naming the peer ("[pid P uid
 * U] msg"), out of its client's share of the log (peerlog.h). */
#define conn_log(c, k, ...)                                           \
	peerlog_warn((c)->env->peerlog, &(c)->share, &(c)->peer, (k), \
	    __VA_ARGS__)

/* --- the state ------------------------------------------------------------ */

/* A timeout ends the connection: count it, for that reason. */
static void
conn_timed_out(struct conn *c, const char *reason)
{
	c->close_reason = reason;
	STATS_INC(c->env->stats->timed_out);
}

/* Whether the client is in the middle of the handshake or a request. */
static bool
conn_partial(const struct conn *c)
{
	return c->state == CONN_HELLO || c->state == CONN_READ_PARAM ||
	    (c->state == CONN_READ_CDB && c->off > 0);
}

/* Whether the next read would start a request (and may bring its fd). */
static bool
conn_fresh(const struct conn *c)
{
	return c->state == CONN_READ_CDB && c->off == 0 && !c->ff.have;
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
 * output is not piling up, the fd budget allows and no shutdown is under
 * way; while busy it stays armed until the client sends before its
 * answer (conn_read_cb() then disarms it: nothing is read until the
 * command is back).  The idle timeout rides on the read event exactly
 * while the client is in the middle of something.  0, or -ENOMEM when
 * the event could not be armed (libevent allocates on first use of an fd
 * number). */
static int
conn_sync(struct conn *c)
{
	struct conn_env *env = c->env;
	struct timeval tv = { 0, 0 };
	unsigned secs;
	bool want;

	if (c->state == CONN_BUSY)
		want = c->reading && !env->draining;
	else
		want = c->state <= CONN_READ_PARAM && !env->draining &&
		    output_len(&c->out) <= OUTPUT_MAX &&
		    !fdbudget_must_wait(&env->fds, &c->fc, conn_fresh(c));
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

/* --- 1. set-up ------------------------------------------------------------ */

/* Serve a freshly accepted socket: the hello, then reading. */
int
conn_new(struct conn_env *env, int fd, const struct peer *peer)
{
	const char *why = "out of memory";
	struct peer peer_copy;
	struct conn *c = NULL;

	if (frame_socket_init(fd, &why) < 0 ||
	    (c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->env = env;
	c->fd = fd;
	c->peer = *peer;
	c->ff.fd = -1;
	c->state = CONN_HELLO;
	c->close_reason = "eof";
	output_init(&c->out, env->base, fd, env->cfg->write_timeout,
	    conn_drained, conn_failed, c);
	peerlog_conn_init(&c->share);
	TRACE(TP_ACCEPT, "conn=%p fd=%d peer_pid=%d peer_uid=%d", (void *)c, fd,
	    (int)peer->pid, (int)peer->uid);
	c->rd = event_new(env->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	if (c->rd == NULL)
		goto fail;
	/* Who the peer is (its client for the closer) is read from /proc
	 * now, before the hello: a client that has its hello finds none of
	 * those files open in the helper. */
	c->fc.client = peer_client_key(&c->peer);
	if (output_hello(&c->out) < 0) {
		why = "hello not sent";
		goto fail;
	}
	if (conn_sync(c) < 0)
		goto fail;
	TAILQ_INSERT_TAIL(&env->conns, c, entry);
	env->fds.sockets++;
	STATS_INC(env->stats->connections);
	STATS_INC(env->stats->accepted);
	return 0;
fail:
	peer_copy = *peer;
	peerlog_warn(env->peerlog, NULL, &peer_copy, PEERLOG_SETUP,
	    "cannot set up connection: %s", why);
	if (c != NULL) {
		fdbudget_leave(&env->fds, &c->fc);
		if (c->rd != NULL)
			event_free(c->rd);
		output_fini(&c->out);
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

/* Give up the current request's device fd, if it holds one: the closer
 * closes it (and counts it until its close starts).  The one place the
 * connection lets a device fd go; a submitted one travels with its
 * command (cmd_close_devfd()). */
static void
conn_drop_devfd(struct conn *c)
{
	if (c->ff.fd < 0)
		return;
	closer_close(c->env->closer, c->ff.fd, c->fc.client);
	c->ff.fd = -1;
	fdbudget_give(&c->env->fds);
}

/* Read more of the current frame (len bytes in all) into buf, unless
 * the fd budget makes the read wait: with its fd (fd_ok: the CDB's) or
 * dropping any.  eof: what an EOF here is, as a protocol error, or NULL
 * (a plain close).  1 when the frame is complete, 0 when more is to come,
 * -1 when there is nothing to read now or the connection is gone or
 * going. */
static int
conn_read_frame(struct conn *c, uint8_t *buf, uint32_t len, bool fd_ok,
    const char *eof)
{
	struct conn_env *env = c->env;
	int fd = -1, r = 0;
	ssize_t n;

	/* The read event may have been armed before the budget was used. */
	if (fdbudget_must_wait(&env->fds, &c->fc, conn_fresh(c)))
		return conn_sync(c), -1;
	n = frame_recv(c->fd, buf + c->off, len - c->off, fd_ok ? &fd : NULL,
	    env->closer, c->fc.client);
	/* Made to wait earlier in this callback and free to read again by
	 * now: the read event, disarmed then, is armed again. */
	if (n == -EAGAIN)
		return (c->reading ? 0 : conn_sync(c)), -1;
	if (n == -EMSGSIZE)
		conn_log(c, PEERLOG_PROTOCOL,
		    "file descriptor lost (limit reached?): closing "
		    "connection");
	if (fd >= 0) /* the opcode came with it or before */
		r = frame_fd_take(&c->ff, fd, buf[0], env->closer,
		    c->fc.client);
	if (n == -EMSGSIZE || n == -EPROTO || r < 0)
		return conn_reject(c, NULL), -1;
	if (n <= 0)
		return (eof != NULL ? conn_reject(c, eof) : conn_close(c)), -1;
	if (r > 0)
		fdbudget_take(&env->fds, &c->fc);
	c->off += (uint32_t)n;
	if (c->off == len)
		return 1;
	return conn_sync(c) == 0 ? 0 : (conn_close(c), -1);
}

/* Read part of the hello (fds with it are dropped).  Returns whether to
 * keep reading. */
static bool
conn_read_hello(struct conn *c)
{
	int r = conn_read_frame(c, c->hello, PRH_HELLO_LEN, false, NULL);

	if (r <= 0)
		return r == 0;
	if (proto_check_hello(c->hello) < 0)
		return conn_reject(c, NULL);
	TRACE(TP_HANDSHAKE, "conn=%p peer_pid=%d", (void *)c, (int)c->peer.pid);
	c->off = 0;
	return conn_set_state(c, CONN_READ_CDB) == 0 || conn_close(c);
}

/* Read part of the CDB and its fd (one per request, kept only if it is
 * a device node); once complete, validate it and get a command buffer.
 * Returns whether to keep reading. */
static bool
conn_read_cdb(struct conn *c)
{
	int r = conn_read_frame(c, c->cdb, PRH_CDB_LEN, true, NULL);
	struct proto_req req;

	if (r <= 0)
		return r == 0;
	if (!c->ff.have)
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
	    req.service_action, req.len, c->ff.fd);
	c->cmd = dispatch_cmd_new(c->env->dispatch);
	if (c->cmd == NULL) {
		conn_log(c, PEERLOG_SETUP,
		    "cannot allocate a command: closing connection");
		return conn_close(c);
	}
	c->cmd->req = req;
	c->cmd->client = c->fc.client;
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
	int r = conn_read_frame(c, c->cmd->data, c->cmd->req.len, false,
	    "Unexpected end-of-file before all data were read");

	return r <= 0 ? r == 0 : conn_request_ready(c);
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
		    "nothing received for %u s in the middle of a %s: closing "
		    "connection",
		    c->env->cfg->idle_timeout,
		    c->state == CONN_HELLO ? "handshake" : "request");
		conn_timed_out(c, "idle-timeout");
		(void)conn_close(c);
		return;
	}
	while (more) {
		if (c->state == CONN_HELLO) {
			more = conn_read_hello(c);
		} else if (c->state == CONN_READ_CDB) {
			more = conn_read_cdb(c);
		} else if (c->state == CONN_READ_PARAM) {
			more = conn_read_param(c);
		} else { /* busy: the client sent before its answer */
			conn_read_stop(c);
			more = false;
		}
	}
}

/* --- 3. validate ---------------------------------------------------------- */

/* peerlog's callback: the PR OUT that waited for its turn in its
 * client's share goes now. */
static void
conn_turn(void *arg)
{
	(void)conn_submit(arg);
}

/* A whole request is in: answer what needs no device, submit the rest.
 * The order is QEMU's: PR OUT on an fd opened read-only is refused first
 * (CAP_SYS_RAWIO bypasses the kernel's own check of it), whatever the
 * fd is.  Returns whether to keep reading. */
static bool
conn_request_ready(struct conn *c)
{
	const char *what = device_node_what(&c->ff.node);
	struct scsi_result res;

	fdbudget_complete(&c->env->fds, &c->fc);
	audit_request(c->env->audit, &c->peer);
	if (c->cmd->req.is_out && c->ff.accmode == O_RDONLY) {
		scsi_result_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x20, 0x00);
		return conn_answer(c, &res, "PR OUT on a read-only descriptor");
	}
	if (c->ff.node.type == DEVICE_OTHER) {
		/* As SG_IO failing with ENOTTY is answered. */
		STATS_INC(c->env->stats->refused_fds);
		audit_refused(c->env->audit, &c->share, &c->peer, &c->ff.node,
		    what, NULL, &c->logged_refusal);
		scsi_result_from_errno(&res, ENOTTY);
		return conn_answer(c, &res, what);
	}
	/* A PR OUT's line is logged in full, so when its client has used up
	 * its commands' share of the log the command waits for its turn
	 * instead. */
	if (c->cmd->req.is_out &&
	    peerlog_wait(c->env->peerlog, &c->share, &c->peer, conn_turn, c)) {
		(void)conn_set_state(c, CONN_DEFER);
		return false;
	}
	return conn_submit(c);
}

/* --- 4. submit ------------------------------------------------------------ */

/* Hand the command, with the device fd and its count, to a worker.  The
 * read event stays armed: a client that waits for its answer sends
 * nothing, so it costs nothing, and saves two epoll_ctl calls per
 * command.  Returns whether to keep reading. */
static bool
conn_submit(struct conn *c)
{
	struct conn_env *env = c->env;
	struct cmd *cmd = c->cmd;
	struct scsi_result res;
	char esc[ESCAPE_TEXT_SIZE(DEVICE_NAME_MAX)]; /* the trace's */

	cmd->dev = devreg_get(env->devices, &c->ff.node);
	if (cmd->dev == NULL)
		goto refused;
	cmd->devfd = c->ff.fd;
	cmd->fd_count = &env->fds.held;
	c->ff.fd = -1;
	cmd->timeout_ms = env->cfg->sg_timeout * 1000u;
	cmd->stats = env->stats;
	cmd->latency = latency_get(env->latency, cmd->dev);
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

/* --- 5. reply ------------------------------------------------------------- */

/* Count the reply to the current request, trace it and send it: the one
 * place a reply is counted and sent.  0 or a negative errno. */
static int
conn_send_reply(struct conn *c, const struct scsi_result *res,
    const uint8_t *data)
{
	stats_count_reply(c->env->stats, c->cdb[0], c->cdb[1] & 0x1f,
	    res->status);
	TRACE(TP_REPLY, "conn=%p peer_pid=%d status=0x%02x size=%u", (void *)c,
	    (int)c->peer.pid, res->status, res->size);
	return output_reply(&c->out, res, data);
}

/* Answer the current request without the device (for the reason why),
 * then go on.  Returns false: the next request is read when the socket is
 * readable again. */
static bool
conn_answer(struct conn *c, const struct scsi_result *res, const char *why)
{
	if (c->cmd != NULL) {
		audit_answered(c->env->audit, &c->share, &c->peer, &c->ff.node,
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
			audit_refused(env->audit, &c->share, &c->peer,
			    &c->ff.node, cmd->verdict.why, cmd->dev->name,
			    &c->logged_refusal);
		audit_command(env->audit, &c->share, &c->peer, cmd);
		r = conn_send_reply(c, &cmd->res, cmd->data);
		dispatch_cmd_free(env->dispatch, cmd);
		if (r < 0) {
			c->close_reason = "write-error";
			conn_free(c);
			return false;
		}
	}
	conn_drop_devfd(c); /* answered without the device */
	c->off = 0;
	c->ff.have = false;
	fdbudget_freed(&env->fds);
	if (env->draining)
		return conn_close(c);
	return conn_set_state(c, CONN_READ_CDB) == 0 || conn_close(c);
}

/* dispatch's callback: the command is back. */
static void
conn_cmd_done(struct cmd *cmd)
{
	(void)conn_complete(cmd->owner, cmd);
}

/* --- 6. tear-down --------------------------------------------------------- */

/* Give up the current request: its command (abandoned to dispatch, which
 * logs it when it is back, if it runs), its device fd, its timers. */
static void
conn_drop_request(struct conn *c)
{
	if (c->cmd != NULL && c->state != CONN_BUSY)
		dispatch_cmd_free(c->env->dispatch, c->cmd);
	else if (c->cmd != NULL && dispatch_abandon(c->env->dispatch, c->cmd))
		audit_orphan(c->env->audit, &c->peer, c->cmd);
	c->cmd = NULL;
	conn_drop_devfd(c);
	fdbudget_complete(&c->env->fds, &c->fc);
	peerlog_wait_cancel(&c->share);
}

/* Close a connection now. */
static void
conn_free(struct conn *c)
{
	struct conn_env *env = c->env;
	struct peer peer = c->peer;

	TRACE(TP_CLOSE, "conn=%p peer_pid=%d reason=%s", (void *)c,
	    (int)c->peer.pid, env->draining ? "shutdown" : c->close_reason);
	conn_drop_request(c);
	fdbudget_leave(&env->fds, &c->fc);
	peerlog_conn_fini(env->peerlog, &c->share);
	event_free(c->rd);
	output_fini(&c->out);
	closer_close_socket(env->closer, c->fd, c->fc.client);
	TAILQ_REMOVE(&env->conns, c, entry);
	env->fds.sockets--;
	STATS_DEC(env->stats->connections);
	STATS_INC(env->stats->closed);
	free(c);
	if (env->gone == NULL)
		return; /* everything is being freed */
	env->gone(env->arg, &peer);
	fdbudget_freed(&env->fds);
}

/* Close once queued replies are flushed; returns false (gone or going). */
static bool
conn_close(struct conn *c)
{
	conn_drop_request(c);
	if (output_len(&c->out) == 0)
		conn_free(c);
	else
		(void)conn_set_state(c, CONN_CLOSING); /* conn_drained frees */
	return false;
}

/* Output drained: close a closing connection, or read again. */
static void
conn_drained(void *arg)
{
	struct conn *c = arg;

	if (c->state == CONN_CLOSING)
		conn_free(c);
	else if (conn_sync(c) < 0)
		(void)conn_close(c);
}

/* Write error, peer reset or write timeout: close now. */
static void
conn_failed(void *arg, bool timed_out)
{
	struct conn *c = arg;

	c->close_reason = "write-error";
	if (timed_out) {
		conn_log(c, PEERLOG_TIMEOUT,
		    "client took no reply for %u s: closing connection",
		    c->env->cfg->write_timeout);
		conn_timed_out(c, "write-timeout");
	}
	conn_free(c);
}

/* fdbudget's callback: the connection held a device fd for
 * --request-timeout without completing its request. */
static void
conn_expired(struct fdbudget_conn *fc)
{
	struct conn *c = conn_of(fc);

	conn_log(c, PEERLOG_TIMEOUT,
	    "held a file descriptor for %u s without completing its "
	    "request: closing connection",
	    c->env->cfg->request_timeout);
	conn_timed_out(c, "request-timeout");
	conn_free(c);
}

/* fdbudget's callback: the connection may read again. */
static void
conn_resume(struct fdbudget_conn *fc)
{
	(void)conn_sync(conn_of(fc));
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
			peerlog_wait_cancel(&c->share);
			scsi_result_check(&res, PRH_SK_ABORTED_COMMAND, 0x00,
			    0x06);
			(void)conn_answer(c, &res, "not run: shutting down");
		} else if (c->state == CONN_BUSY || c->state == CONN_CLOSING) {
			(void)conn_sync(c); /* the answer, then the close */
		} else {
			(void)conn_close(c);
		}
	}
}

/* Set up the shared state. */
int
conn_env_init(struct conn_env *env)
{
	TAILQ_INIT(&env->conns);
	env->draining = false;
	env->fds.base = env->base;
	env->fds.closer = env->closer;
	env->fds.hold_s = env->cfg->request_timeout;
	env->fds.resume = conn_resume;
	env->fds.expired = conn_expired;
	return fdbudget_init(&env->fds);
}

/* Close every connection and free the shared state. */
void
conn_env_fini(struct conn_env *env)
{
	env->gone = NULL; /* the server is going away too */
	while (!TAILQ_EMPTY(&env->conns))
		conn_free(TAILQ_FIRST(&env->conns));
	fdbudget_fini(&env->fds);
}
