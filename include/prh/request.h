/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A request being read: the client's hello, then each request's CDB
 * with its fd and, for a PR OUT, its parameter list, frame by frame
 * (frame.h) within the fd budget (fdbudget.h), and the socket's read
 * event that says when to read on (with the idle timeout).
 *
 * request_read() reads once and says what came of it (the connection
 * calls it again while it says REQUEST_MORE); a whole request is its
 * parsed CDB, the device fd kept in ff and a command buffer (cmd.h)
 * holding the CDB and parameter list, or none when there was no memory
 * for one (the request is read all the same, to be answered).  The
 * connection (conn.c) decides what happens next; the request's device fd,
 * until a command takes it, is dropped in request_drop_fd() alone.
 * Loop thread only.
 */
#ifndef PRH_REQUEST_H
#define PRH_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "prh/frame.h"
#include "prh/proto.h"
#include "prh/protocol.h"

struct cmd;
struct dispatch;
struct event;
struct event_base;
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
	REQUEST_READY, /* a whole request is in: req, ff, and cmd unless
			* there was no memory for one */
	REQUEST_EOF,   /* the client closed where it may */
	REQUEST_BAD,   /* a protocol violation; why says it, or NULL */
};

/* A connection's request. */
struct request {
	/* Set by the owner before request_init(); read-only here. */
	int sock;
	void *owner;		   /* the connection: readable's argument */
	const struct peer *peer;   /* the client, for the trace points */
	struct fdbudget *fds;	   /* the budget, and the closer */
	struct fdbudget_conn *fc;  /* the connection's part, its client */
	struct dispatch *dispatch; /* the command buffers */
	/* The socket is readable, or the idle timeout came (timed_out). */
	void (*readable)(void *owner, bool timed_out);
	/* The read event. */
	struct event *rd;
	bool watching;	  /* rd is armed */
	unsigned rd_secs; /* the timeout rd is armed with, 0 for none */
	/* The request. */
	enum request_phase phase;
	uint32_t off; /* bytes of the current frame read */
	uint8_t hello[PRH_HELLO_LEN];
	uint8_t cdb[PRH_CDB_LEN];
	struct frame_fd ff;   /* the fd of the request */
	struct proto_req req; /* its CDB, parsed */
	struct cmd *cmd;      /* command being read or in flight, or NULL */
	const char *why;      /* REQUEST_BAD: the message, or NULL */
};

/* Start at the hello; make the read event (not armed): 0 or -ENOMEM. */
int request_init(struct request *rq, struct event_base *base);

/* Free the read event (also after a failed request_init()). */
void request_fini(struct request *rq);

/* Arm the read event (want), with idle_s as its timeout while the client
 * is in the middle of the handshake or a request (0: none), or disarm
 * it.  0, or -ENOMEM when it could not be armed (libevent allocates on
 * first use of an fd number). */
int request_watch(struct request *rq, bool want, unsigned idle_s);

/* Read more of the current frame, and take it in once complete. */
enum request_step request_read(struct request *rq);

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
