/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A request being read: the client's hello, then each request's CDB
 * with its fd and, for a PR OUT, its parameter list, frame by frame
 * (frame.h) within the fd budget (fdbudget.h).
 *
 * request_read() reads once and says what came of it (the connection
 * calls it again while it says REQUEST_MORE); a whole request is a command buffer (cmd.h) holding the
 * parsed CDB and parameter list, and the device fd kept in ff.  The
 * connection (conn.c) decides what happens next; the request's device fd,
 * until a command takes it, is dropped in request_drop_fd() alone.
 * Loop thread only.
 */
#ifndef PRH_REQUEST_H
#define PRH_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "prh/frame.h"
#include "prh/protocol.h"

struct cmd;
struct dispatch;
struct fdbudget;
struct fdbudget_conn;
struct peer;

/* Which frame is being read. */
enum request_phase {
	REQUEST_HELLO, /* the client's feature word */
	REQUEST_CDB,   /* the 16-byte CDB (and its fd) */
	REQUEST_PARAM, /* the PR OUT parameter list */
};

/* What request_read() came to. */
enum request_step {
	REQUEST_WAIT,  /* nothing to read now, or the fd budget is full */
	REQUEST_MORE,  /* part read (the phase may have moved): read on */
	REQUEST_READY, /* a whole request is in: cmd and ff */
	REQUEST_EOF,   /* the client closed where it may */
	REQUEST_BAD,   /* a protocol violation; why says it, or NULL */
	REQUEST_NOMEM, /* no command buffer for it */
};

/* A connection's request. */
struct request {
	/* Set by request_init(); read-only here. */
	int sock;
	const void *owner;	   /* the connection, for the trace points */
	const struct peer *peer;   /* the client, for the trace points */
	struct fdbudget *fds;	   /* the budget, and the closer */
	struct fdbudget_conn *fc;  /* the connection's part, its client */
	struct dispatch *dispatch; /* the command buffers */
	/* The request. */
	enum request_phase phase;
	uint32_t off; /* bytes of the current frame read */
	uint8_t hello[PRH_HELLO_LEN];
	uint8_t cdb[PRH_CDB_LEN];
	struct frame_fd ff; /* the fd of the request */
	struct cmd *cmd;    /* command being read or in flight, or NULL */
	const char *why;    /* REQUEST_BAD: the message, or NULL */
};

/* Start reading the hello on sock. */
void request_init(struct request *rq, int sock, const void *owner,
    const struct peer *peer, struct fdbudget *fds, struct fdbudget_conn *fc,
    struct dispatch *dispatch);

/* Read more of the current frame, and take it in once complete. */
enum request_step request_read(struct request *rq);

/* Whether the client is in the middle of the handshake or a request. */
bool request_partial(const struct request *rq);

/* Whether the next read would start a request (and may bring its fd). */
bool request_fresh(const struct request *rq);

/* Give up the request's device fd, if it holds one: the closer closes it
 * (and counts it until its close starts).  A submitted one travels with
 * its command (cmd_close_devfd()). */
void request_drop_fd(struct request *rq);

/* The request was answered: drop its fd if still held, and read the next
 * one.  The command, if any, was taken already. */
void request_next(struct request *rq);

#endif
