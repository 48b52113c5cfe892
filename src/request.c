/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A request being read, frame by frame (see request.h). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <event2/event.h>

#include "prh/closer.h"
#include "prh/cmd.h"
#include "prh/dispatch.h"
#include "prh/fdbudget.h"
#include "prh/peer.h"
#include "prh/proto.h"
#include "prh/request.h"
#include "prh/trace.h"

/* Where the parameter list of a request that got no command buffer goes:
 * read, then forgotten (loop thread only). */
static uint8_t request_discard[PRH_DATA_MAX];

/* Read event: tell the owner. */
static void
request_cb(evutil_socket_t fd, short what, void *arg)
{
	struct request *rq = arg;

	(void)fd;
	rq->readable(rq->owner, (what & EV_TIMEOUT) != 0);
}

/* Start at the hello. */
int
request_init(struct request *rq, struct event_base *base)
{
	rq->phase = REQUEST_HELLO;
	rq->off = 0;
	rq->ff.have = false;
	rq->ff.lost = false;
	rq->ff.fd = -1;
	rq->cmd = NULL;
	rq->watching = false;
	rq->rd_secs = 0;
	rq->rd = event_new(base, rq->sock, EV_READ | EV_PERSIST, request_cb,
	    rq);
	return rq->rd != NULL ? 0 : -ENOMEM;
}

/* Free the read event. */
void
request_fini(struct request *rq)
{
	if (rq->rd != NULL)
		event_free(rq->rd);
	rq->rd = NULL;
	rq->watching = false;
}

/* In the middle of the handshake or a request. */
static bool
request_partial(const struct request *rq)
{
	return rq->phase != REQUEST_CDB || rq->off > 0;
}

/* Arm or disarm the read event. */
int
request_watch(struct request *rq, bool want, unsigned idle_s)
{
	struct timeval tv = { 0, 0 };
	unsigned secs = want && request_partial(rq) ? idle_s : 0;

	if (!want) {
		if (rq->watching)
			event_del(rq->rd);
		rq->watching = false;
		rq->rd_secs = 0;
		return 0;
	}
	if (rq->watching && secs == rq->rd_secs)
		return 0;
	if (rq->watching && secs == 0) {
		event_remove_timer(rq->rd);
	} else {
		tv.tv_sec = secs;
		if (event_add(rq->rd, secs > 0 ? &tv : NULL) < 0)
			return rq->watching ? 0 : -ENOMEM;
	}
	rq->watching = true;
	rq->rd_secs = secs;
	return 0;
}

/* At the start of a request. */
bool
request_fresh(const struct request *rq)
{
	return rq->phase == REQUEST_CDB && rq->off == 0 && !rq->ff.have;
}

/* Say why the request breaks the protocol (msg, or NULL). */
static enum request_step
request_bad(struct request *rq, const char *msg)
{
	rq->why = msg;
	return REQUEST_BAD;
}

/* The fd the request holds goes to the closer. */
void
request_drop_fd(struct request *rq)
{
	if (rq->ff.fd < 0)
		return;
	closer_close(rq->fds->closer, rq->ff.fd, rq->fc->client);
	rq->ff.fd = -1;
	fdbudget_give(rq->fds);
}

/* On to the next request. */
void
request_next(struct request *rq)
{
	request_drop_fd(rq); /* answered without the device */
	rq->phase = REQUEST_CDB;
	rq->off = 0;
	rq->ff.have = false;
	rq->ff.lost = false;
}

/* Read more of the current frame (len bytes in all) into buf, unless
 * the fd budget makes the read wait: with its fd (fd_ok: the CDB's) or
 * dropping any.  eof: what an EOF here is, as a protocol error, or NULL
 * (a plain close).  REQUEST_READY when the frame is complete. */
static enum request_step
request_frame(struct request *rq, uint8_t *buf, uint32_t len, bool fd_ok,
    const char *eof)
{
	int fd = -1, r = 0;
	ssize_t n;

	/* The read event may have been armed before the budget was used. */
	if (fdbudget_must_wait(rq->fds, rq->fc, request_fresh(rq)))
		return REQUEST_WAIT;
	n = frame_recv(rq->sock, buf + rq->off, len - rq->off,
	    fd_ok ? &fd : NULL, rq->fds->closer, rq->fc->client);
	if (n == -EAGAIN)
		return REQUEST_WAIT;
	if (fd != -1) /* the opcode came with it or before */
		r = frame_fd_take(&rq->ff, fd, buf[0], rq->fds->closer,
		    rq->fc->client);
	if (n == -EPROTO || r < 0)
		return request_bad(rq, NULL);
	if (n <= 0)
		return eof != NULL ? request_bad(rq, eof) : REQUEST_EOF;
	if (r > 0)
		fdbudget_take(rq->fds, rq->fc);
	rq->off += (uint32_t)n;
	return rq->off == len ? REQUEST_READY : REQUEST_MORE;
}

/* The hello is in: check it, then read the first request. */
static enum request_step
request_hello(struct request *rq)
{
	if (proto_check_hello(rq->hello) < 0)
		return request_bad(rq, NULL);
	TRACE(TP_HANDSHAKE, "conn=%p peer_pid=%d", rq->owner,
	    (int)rq->peer->pid);
	rq->phase = REQUEST_CDB;
	rq->off = 0;
	return REQUEST_MORE;
}

/* The CDB is in, with its fd (one per request, kept only if it is a
 * device node): validate it and get a command buffer (if there is memory
 * for one), then read the parameter list if there is one. */
static enum request_step
request_cdb(struct request *rq)
{
	struct proto_req req;
	int r;

	if (!rq->ff.have)
		return request_bad(rq, "No file descriptor in request.");
	r = proto_parse_cdb(rq->cdb, &req);
	if (r == -EPROTO)
		return request_bad(rq, "Invalid CDB, closing socket.");
	if (r < 0)
		return request_bad(rq, NULL);
	TRACE(TP_REQUEST,
	    "conn=%p peer_pid=%d peer_uid=%d opcode=0x%02x "
	    "sa=%u len=%u devfd=%d",
	    rq->owner, (int)rq->peer->pid, (int)rq->peer->uid, req.opcode,
	    req.service_action, req.len, rq->ff.fd);
	rq->req = req;
	/* Without a command buffer the request is still read (its parameter
	 * list into request_discard) and answered. */
	rq->cmd = dispatch_cmd_new(rq->dispatch);
	if (rq->cmd != NULL) {
		rq->cmd->req = req;
		rq->cmd->client = rq->fc->client;
		memcpy(rq->cmd->cdb, rq->cdb, PRH_CDB_LEN);
	}
	rq->off = 0;
	if (!req.is_out || req.len == 0)
		return REQUEST_READY;
	rq->phase = REQUEST_PARAM;
	return REQUEST_MORE;
}

/* Read the current frame; once it is complete, take it in. */
enum request_step
request_read(struct request *rq)
{
	enum request_step st;

	switch (rq->phase) {
	case REQUEST_HELLO: /* fds with it are dropped */
		st = request_frame(rq, rq->hello, PRH_HELLO_LEN, false, NULL);
		return st == REQUEST_READY ? request_hello(rq) : st;
	case REQUEST_CDB:
		st = request_frame(rq, rq->cdb, PRH_CDB_LEN, true, NULL);
		return st == REQUEST_READY ? request_cdb(rq) : st;
	default: /* the parameter list: fds with it are dropped */
		return request_frame(rq,
		    rq->cmd != NULL ? rq->cmd->data : request_discard,
		    rq->req.len, false,
		    "Unexpected end-of-file before all data were read");
	}
}
