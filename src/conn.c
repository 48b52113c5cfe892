/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One client connection, in the order a request lives in it:
 *
 *  1. set-up	conn_new(): the socket set up for fds, the hello;
 *  2. read	conn_readable(): the hello, then each request, read by
 *		request.h frame by frame with its fd, within the fd budget
 *		(fdbudget.h), until it is whole;
 *  3. validate	conn_request_ready(): what is answered without the device
 *		(access mode, not a device node); a PR OUT's wait for its
 *		client's turn in the log (peerlog_wait());
 *  4. submit	conn_submit(): the command goes to a worker (dispatch.h);
 *  5. reply	conn_complete(), on the loop thread once the command is
 *		back: the audit trail (audit.h), then conn_send_reply(), the
 *		one function that counts and sends a reply (output.h);
 *  6. tear-down conn_close(), conn_free() and the timeouts.
 *
 * One request per connection at a time, and the next one is read only
 * while at most one reply waits for the client (OUTPUT_MAX).  The state
 * changes only in conn_set_state(), which also arms what the state needs.
 * Every fd a client sent that the connection drops goes to the closer
 * (closer.h); the request's device fd in request_drop_fd() alone.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "prh/audit.h"
#include "prh/closer.h"
#include "prh/cmd.h"
#include "prh/conn.h"
#include "prh/device.h"
#include "prh/dispatch.h"
#include "prh/escape.h"
#include "prh/frame.h"
#include "prh/keyguard.h"
#include "prh/log.h"
#include "prh/output.h"
#include "prh/peerlog.h"
#include "prh/prpolicy.h"
#include "prh/request.h"
#include "prh/trace.h"

/* Where a connection is in its protocol. */
enum conn_state {
	CONN_READ,    /* reading the hello or a request (request.h) */
	CONN_DEFER,   /* PR OUT waiting for its client's share of the log */
	CONN_BUSY,    /* command with dispatch */
	CONN_CLOSING, /* flushing output, then close */
};

/* A client connection.  Loop thread only. */
struct conn {
	TAILQ_ENTRY(conn) entry; /* env->conns */
	struct conn_env *env;
	int fd;			 /* the client socket */
	struct peer peer;	 /* SO_PEERCRED at accept */
	struct fdbudget_conn fc; /* its fds and its client for the closer */
	struct output out;	 /* the hello and the replies */
	enum conn_state state;
	struct request rq;	   /* the hello or request being read, or run */
	struct peerlog_conn share; /* its share of the log */
	bool logged_refusal;	   /* a policy refusal was logged */
	struct keyguard_vm *vm;	   /* its VM for the key guard, once known */
	struct keyguard_op kg_op;  /* the running PR OUT's, to settle */
	const char *close_reason;  /* for the close trace point */
};

static void conn_readable(void *arg, bool timed_out);
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

/* Arm or disarm the read event as the state asks: reading a frame while
 * output is not piling up and the fd budget allows (during a shutdown
 * too: what the client sent before it is read and answered, then the
 * EOF); while busy it stays armed until the client sends before its
 * answer (conn_readable() then disarms it: nothing is read until the
 * command is back).  The idle timeout rides on the read event exactly
 * while the client is in the middle of something (request_watch()).
 * 0 or -ENOMEM. */
static int
conn_sync(struct conn *c)
{
	struct conn_env *env = c->env;
	bool want;

	if (c->state == CONN_BUSY)
		want = c->rq.watching && !env->draining;
	else
		want = c->state == CONN_READ &&
		    output_len(&c->out) <= OUTPUT_MAX &&
		    !fdbudget_must_wait(&env->fds, &c->fc,
			request_fresh(&c->rq));
	return request_watch(&c->rq, want, env->cfg->idle_timeout);
}

/* During a shutdown, a connection that waits for fd room while no
 * command is out closes: no command will free any, and the helper is
 * leaving.  Its requests stay unread.  Returns false if it closed (c is
 * gone or going). */
static bool
conn_drain_check(struct conn *c)
{
	struct conn_env *env = c->env;

	if (!env->draining || c->fc.waits_on == NULL ||
	    dispatch_outstanding(env->dispatch) > 0)
		return true;
	conn_log(c, PEERLOG_SETUP,
	    "shutting down with no fd room to read its requests: closing "
	    "connection");
	return conn_close(c);
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
	c->state = CONN_READ;
	c->close_reason = "eof";
	output_init(&c->out, env->base, fd, env->cfg->write_timeout,
	    conn_drained, conn_failed, c);
	peerlog_conn_init(&c->share);
	TRACE(TP_ACCEPT, "conn=%p fd=%d peer_pid=%d peer_uid=%d", (void *)c, fd,
	    (int)peer->pid, (int)peer->uid);
	c->rq = (struct request){ .sock = fd,
		.owner = c,
		.peer = &c->peer,
		.fds = &env->fds,
		.fc = &c->fc,
		.dispatch = env->dispatch,
		.readable = conn_readable };
	if (request_init(&c->rq, env->base) < 0)
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
		request_fini(&c->rq);
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

/* Read the request as far as the data goes; once it is whole, go on
 * with it.  Returns whether to keep reading. */
static bool
conn_read(struct conn *c)
{
	switch (request_read(&c->rq)) {
	case REQUEST_WAIT:
		(void)conn_sync(c); /* disarmed, or armed again */
		(void)conn_drain_check(c);
		return false;
	case REQUEST_MORE:
		return conn_sync(c) == 0 || conn_close(c);
	case REQUEST_READY:
		return conn_request_ready(c);
	case REQUEST_EOF:
		return conn_close(c);
	default: /* REQUEST_BAD */
		return conn_reject(c, c->rq.why);
	}
}

/* request's callback: the socket is readable (read on as far as the data
 * goes), or the client was idle in the middle of something too long. */
static void
conn_readable(void *arg, bool timed_out)
{
	struct conn *c = arg;

	if (timed_out) {
		conn_log(c, PEERLOG_TIMEOUT,
		    "nothing received for %u s in the middle of a %s: closing "
		    "connection",
		    c->env->cfg->idle_timeout,
		    c->rq.phase == REQUEST_HELLO ? "handshake" : "request");
		conn_timed_out(c, "idle-timeout");
		(void)conn_close(c);
		return;
	}
	if (c->state != CONN_READ) { /* the client sent before its answer */
		(void)request_watch(&c->rq, false, 0);
		return;
	}
	while (conn_read(c))
		;
}

/* --- 3. validate ---------------------------------------------------------- */

/* peerlog's callback: the PR OUT that waited for its turn in its
 * client's share goes now. */
static void
conn_turn(void *arg)
{
	(void)conn_submit(arg);
}

/* Answer the current request as not run, for the reason why: CHECK
 * CONDITION, ABORTED COMMAND 00/06, as a failed SG_IO.  Returns false. */
static bool
conn_answer_not_run(struct conn *c, const char *why)
{
	struct scsi_result res;

	scsi_result_check(&res, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
	return conn_answer(c, &res, why);
}

/* A whole request is in: answer what needs no device, submit the rest.
 * The order is QEMU's: PR OUT on an fd not open for writing (read-only,
 * or access mode 3, "ioctl only") is refused first (CAP_SYS_RAWIO
 * bypasses the kernel's own check of it), whatever the fd is.  What the
 * guest PR policy refuses (prpolicy.h) is answered here too, for every
 * backend, once the parameter list is in.  Whatever the helper cannot
 * run is answered too, never closed: a request whose fd the kernel
 * dropped (the fd table was full) answers BUSY, one that got no command
 * buffer ABORTED COMMAND.  Returns whether to keep reading. */
static bool
conn_request_ready(struct conn *c)
{
	const char *what = device_node_what(&c->rq.ff.node);
	enum prpolicy_verdict v;
	struct scsi_result res;

	fdbudget_complete(&c->env->fds, &c->fc);
	audit_request(c->env->audit, &c->peer);
	if (c->rq.ff.lost) {
		conn_log(c, PEERLOG_SETUP,
		    "file descriptor lost (fd limit reached?): answered BUSY");
		scsi_result_status(&res, PRH_STATUS_BUSY);
		return conn_answer(c, &res, "file descriptor lost");
	}
	if (c->rq.req.is_out && !c->rq.ff.writable) {
		scsi_result_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x20, 0x00);
		return conn_answer(c, &res,
		    "PR OUT on a descriptor not open for writing");
	}
	if (c->rq.ff.node.type == DEVICE_OTHER) {
		/* As SG_IO failing with ENOTTY is answered. */
		STATS_INC(c->env->stats->refused_fds);
		audit_refused(c->env->audit, &c->share, &c->peer,
		    &c->rq.ff.node, what, NULL, &c->logged_refusal);
		scsi_result_from_errno(&res, ENOTTY);
		return conn_answer(c, &res, what);
	}
	if (c->rq.cmd == NULL) {
		conn_log(c, PEERLOG_SETUP,
		    "cannot allocate a command: answered ABORTED COMMAND");
		return conn_answer_not_run(c, "not run: out of memory");
	}
	v = c->env->cfg->guest_pr_off
	    ? PRPOLICY_ALLOW
	    : prpolicy_check(&c->rq.req, c->rq.cmd->data);
	if (v != PRPOLICY_ALLOW) {
		STATS_INC(c->env->stats->refused_guest_pr);
		prpolicy_answer(v, &res);
		return conn_answer(c, &res, prpolicy_why(v));
	}
	/* A PR OUT's line is logged in full, so when its client has used up
	 * its commands' share of the log the command waits for its turn
	 * instead, unless the helper is shutting down. */
	if (c->rq.req.is_out &&
	    peerlog_wait(c->env->peerlog, &c->share, &c->peer, conn_turn, c)) {
		if (c->env->draining) {
			peerlog_wait_cancel(&c->share);
			return conn_answer_not_run(c, "not run: shutting down");
		}
		(void)conn_set_state(c, CONN_DEFER);
		return false;
	}
	return conn_submit(c);
}

/* --- 4. submit ------------------------------------------------------------ */

/* The key guard (keyguard.h) on a PR OUT about to be submitted: 0 to run
 * it, -EACCES when it was answered RESERVATION CONFLICT because it would
 * change a key another VM registered on its device, -ENOMEM. */
static int
conn_guard_keys(struct conn *c, struct cmd *cmd)
{
	struct conn_env *env = c->env;
	const struct keyguard_vm *holder = NULL;
	char esc[ESCAPE_TEXT_SIZE(PEER_NAME_MAX + 32)];
	char why[sizeof(esc) + 64];
	struct scsi_result res;
	int r;

	if (env->keyguard == NULL || !cmd->req.is_out)
		return 0;
	if (c->vm == NULL &&
	    (c->vm = keyguard_vm_get(env->keyguard, &c->peer)) == NULL)
		return -ENOMEM;
	r = keyguard_check(env->keyguard, c->vm, cmd->dev->key, &cmd->req,
	    cmd->data, cmd->req.len, &c->kg_op, &holder);
	if (r != -EACCES)
		return r;
	STATS_INC(env->stats->keys_protected);
	escape_str(esc, sizeof(esc), keyguard_vm_name(holder), ESCAPE_TEXT);
	snprintf(why, sizeof(why), "would change the key %s registered", esc);
	scsi_result_status(&res, PRH_STATUS_RESERVATION_CONFLICT);
	(void)conn_answer(c, &res, why);
	return -EACCES;
}

/* Hand the command, with the device fd and its count, to a worker.  The
 * read event stays armed: a client that waits for its answer sends
 * nothing, so it costs nothing, and saves two epoll_ctl calls per
 * command.  Returns whether to keep reading. */
static bool
conn_submit(struct conn *c)
{
	struct conn_env *env = c->env;
	struct cmd *cmd = c->rq.cmd;
	char esc[ESCAPE_TEXT_SIZE(DEVICE_NAME_MAX)]; /* the trace's */

	cmd->dev = devreg_get(env->devices, &c->rq.ff.node);
	if (cmd->dev == NULL)
		goto refused;
	cmd->devfd = c->rq.ff.fd;
	cmd->fd_count = &env->fds.held;
	c->rq.ff.fd = -1;
	cmd->timeout_ms = env->cfg->sg_timeout * 1000u;
	cmd->ua_retries = env->cfg->pr_ua_retries;
	cmd->guest_pr_off = env->cfg->guest_pr_off;
	cmd->stats = env->stats;
	cmd->latency = latency_get(env->latency, cmd->dev);
	cmd->done = conn_cmd_done;
	cmd->owner = c;
	switch (conn_guard_keys(c, cmd)) {
	case 0:
		break;
	case -EACCES:
		return false; /* answered */
	default:
		goto refused;
	}
	if (dispatch_submit(env->dispatch, cmd) < 0) {
		keyguard_done(env->keyguard, &c->kg_op, PRH_STATUS_BUSY);
		goto refused; /* out of memory: answer */
	}
	TRACE(TP_SUBMIT, "conn=%p cmd=%p peer_pid=%d device=%s devno=%u:%u",
	    (void *)c, (void *)cmd, (int)c->peer.pid,
	    escape_str(esc, sizeof(esc), cmd->dev->name, ESCAPE_WORD),
	    cmd->dev->node.major, cmd->dev->node.minor);
	(void)conn_set_state(c, CONN_BUSY);
	return false;
refused:
	return conn_answer_not_run(c, "not run: out of memory");
}

/* --- 5. reply ------------------------------------------------------------- */

/* Count the reply to the current request, trace it and send it: the one
 * place a reply is counted and sent.  0 or a negative errno. */
static int
conn_send_reply(struct conn *c, const struct scsi_result *res,
    const uint8_t *data)
{
	stats_count_reply(c->env->stats, c->rq.cdb[0], c->rq.cdb[1] & 0x1f,
	    res->status);
	TRACE(TP_REPLY, "conn=%p peer_pid=%d status=0x%02x size=%u", (void *)c,
	    (int)c->peer.pid, res->status, res->size);
	return output_reply(&c->out, res, data);
}

/* Send the answer res to the current request, which no worker has (for
 * the reason why): its audit line, its command freed.  0 or a negative
 * errno. */
static int
conn_reply_direct(struct conn *c, const struct scsi_result *res,
    const char *why)
{
	if (c->rq.cmd != NULL) {
		audit_answered(c->env->audit, &c->share, &c->peer,
		    &c->rq.ff.node, c->rq.cmd, res, why);
		dispatch_cmd_free(c->env->dispatch, c->rq.cmd);
		c->rq.cmd = NULL;
	}
	return conn_send_reply(c, res, NULL);
}

/* Answer the current request without the device (for the reason why),
 * then go on.  Returns false: the next request is read when the socket is
 * readable again. */
static bool
conn_answer(struct conn *c, const struct scsi_result *res, const char *why)
{
	if (conn_reply_direct(c, res, why) < 0)
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
 * send the reply, and read the next request.  Returns false if the
 * connection closed. */
static bool
conn_complete(struct conn *c, struct cmd *cmd)
{
	struct conn_env *env = c->env;
	int r = 0;

	if (cmd != NULL) {
		c->rq.cmd = NULL;
		keyguard_done(env->keyguard, &c->kg_op, cmd->res.status);
		if (cmd->verdict.kind == DEVICE_REFUSED)
			audit_refused(env->audit, &c->share, &c->peer,
			    &c->rq.ff.node, cmd->verdict.why, cmd->dev->name,
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
	request_next(&c->rq);
	fdbudget_freed(&env->fds);
	/* During a shutdown too: the socket holds what the client sent
	 * before it, then the EOF (conn_drain_all()). */
	if (conn_set_state(c, CONN_READ) < 0)
		return conn_close(c);
	return conn_drain_check(c);
}

/* dispatch's callback: the command is back. */
static void
conn_cmd_done(struct cmd *cmd)
{
	(void)conn_complete(cmd->owner, cmd);
}

/* --- 6. tear-down --------------------------------------------------------- */

/* What a command whose connection went still owes the key guard: its
 * claim settled when it is back, before the audit trail's last word. */
struct conn_orphan {
	struct keyguard *keyguard;
	struct keyguard_op op; /* with a reference of its own to the VM */
	cmd_done_fn next;      /* the audit trail's last word, or NULL */
	void *next_owner;
};

/* dispatch's last word on an orphaned command with a claim: settle it. */
static void
conn_orphan_done(struct cmd *cmd)
{
	struct conn_orphan *o = cmd->owner;
	struct keyguard_vm *vm = o->op.vm;

	keyguard_done(o->keyguard, &o->op, cmd->res.status);
	keyguard_vm_put(o->keyguard, vm);
	cmd->owner = o->next_owner;
	if (o->next != NULL)
		o->next(cmd);
	free(o);
}

/* The connection of cmd goes while cmd runs: hand its claim to settle to
 * the command (without memory the claim stays as made: the guard then
 * refuses more, never less, until the VM's last connection closes). */
static void
conn_orphan_claim(struct conn *c, struct cmd *cmd)
{
	struct conn_orphan *o;

	if (c->kg_op.vm == NULL || (o = malloc(sizeof(*o))) == NULL)
		return;
	o->keyguard = c->env->keyguard;
	o->op = c->kg_op;
	keyguard_vm_hold(o->op.vm);
	o->next = cmd->orphaned;
	o->next_owner = cmd->owner;
	cmd->orphaned = conn_orphan_done;
	cmd->owner = o;
	keyguard_forget(&c->kg_op);
}

/* Give up the current request: its command (abandoned to dispatch, which
 * logs it and settles its claim when it is back, if it runs), its device
 * fd, its timers. */
static void
conn_drop_request(struct conn *c)
{
	if (c->rq.cmd != NULL && c->state != CONN_BUSY) {
		dispatch_cmd_free(c->env->dispatch, c->rq.cmd);
	} else if (c->rq.cmd != NULL &&
	    dispatch_abandon(c->env->dispatch, c->rq.cmd)) {
		audit_orphan(c->env->audit, &c->peer, c->rq.cmd);
		conn_orphan_claim(c, c->rq.cmd);
	}
	c->rq.cmd = NULL;
	request_drop_fd(&c->rq);
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
	keyguard_forget(&c->kg_op);
	keyguard_vm_put(env->keyguard, c->vm);
	fdbudget_leave(&env->fds, &c->fc);
	peerlog_conn_fini(env->peerlog, &c->share);
	request_fini(&c->rq);
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
	else
		(void)conn_drain_check(c);
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
	struct conn *c = conn_of(fc);

	(void)conn_sync(c);
	(void)conn_drain_check(c);
}

/* Shutdown.  Every connection's socket is shut for reading, so its
 * client can queue nothing more (its next send fails with EPIPE, and
 * QEMU's reconnects, to the socket a service manager holds, or fails the
 * command); what it sent before is read, run and answered, then the EOF
 * closes it.  A PR OUT waiting for its client's turn in the log is
 * answered ABORTED COMMAND, not run.  So no request a client has sent is
 * left without an answer, but one the helper cannot read for want of fd
 * room (conn_drain_check()). */
void
conn_drain_all(struct conn_env *env)
{
	struct conn *c, *next;

	env->draining = true;
	for (c = TAILQ_FIRST(&env->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		(void)shutdown(c->fd, SHUT_RD);
		if (c->state == CONN_DEFER) {
			/* Not run: answered (and logged) rather than lost. */
			peerlog_wait_cancel(&c->share);
			(void)conn_answer_not_run(c, "not run: shutting down");
		} else if (conn_sync(c) < 0) {
			(void)conn_close(c);
		}
	}
	conn_drain_idle(env);
}

/* Shutdown, nothing outstanding: connections waiting for fd room close
 * (conn_drain_check()). */
void
conn_drain_idle(struct conn_env *env)
{
	struct conn *c, *next;

	for (c = TAILQ_FIRST(&env->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		(void)conn_drain_check(c);
	}
}

/* The helper stops now: answer res to each request c's client sent
 * before the shutdown that is still in its socket (shut for reading
 * since, so there is an end), without running it, then close c. */
static void
conn_abort_unread(struct conn *c, const struct scsi_result *res)
{
	enum request_step st;

	while ((st = request_read(&c->rq)) == REQUEST_MORE ||
	    st == REQUEST_READY) {
		if (st == REQUEST_MORE)
			continue;
		fdbudget_complete(&c->env->fds, &c->fc);
		if (conn_reply_direct(c, res, "not run: shutting down") < 0)
			break;
		request_next(&c->rq);
	}
	(void)conn_close(c);
}

/* The helper stops now (the drain took too long, or a second signal):
 * each command still out is answered ABORTED COMMAND 00/06, whether it
 * is waiting for a worker or running on a device that does not answer,
 * and abandoned (dispatch frees it, or the exit ends its worker), and so
 * is each request still in a socket, not run, rather than leave its
 * client with a closed connection.  Answers that do not fit in a socket
 * are lost with the exit. */
void
conn_abort_all(struct conn_env *env)
{
	struct scsi_result res;
	struct conn *c, *next;

	scsi_result_check(&res, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
	for (c = TAILQ_FIRST(&env->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state == CONN_BUSY || c->state == CONN_DEFER) {
			audit_answered(env->audit, &c->share, &c->peer,
			    &c->rq.ff.node, c->rq.cmd, &res,
			    "not finished: shutting down");
			conn_drop_request(c);
			if (conn_send_reply(c, &res, NULL) < 0) {
				conn_free(c);
				continue;
			}
			request_next(&c->rq);
			c->state = CONN_READ;
		}
		if (c->state == CONN_READ)
			conn_abort_unread(c, &res);
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
