/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Connections: the protocol state machine of one client.
 *
 * A connection reads its client's handshake and requests (request.h:
 * frame by frame with their fds, within the fd budget), answers
 * what it can decide itself, hands the rest to the worker pool through
 * dispatch.h, and sends every reply on the loop thread once the command
 * is back and counted (output.h).  At most one request per connection is
 * read, run and answered at a time.
 *
 * Every connection of a server shares one struct conn_env: what it needs
 * from the server (set by the server before conn_env_init) and the state
 * all connections share.  The ways back to the server are the gone
 * callback and the budget's room callback.  Loop thread only; see
 * doc/threads.md.
 */
#ifndef PRH_CONN_H
#define PRH_CONN_H

#include <stdbool.h>
#include <sys/queue.h>

#include "prh/config.h"
#include "prh/fdbudget.h"
#include "prh/peer.h"
#include "prh/stats.h"

struct event_base;
struct dispatch;
struct device_registry;
struct latency_table;
struct audit;
struct closer;
struct conn;

/* What connections need from the server, and what they share. */
struct conn_env {
	/* Set by the server; read-only here. */
	struct event_base *base;
	const struct prh_config *cfg;
	struct dispatch *dispatch;
	struct device_registry *devices;
	struct latency_table *latency; /* histograms (metrics), or NULL */
	struct prh_stats *stats;
	struct audit *audit; /* the audit trail, or NULL for none */
	/* Each client's share of the log (peerlog.h), or NULL: no limit. */
	struct peerlog *peerlog;
	/* Closes every fd a client sent that a connection drops, and the
	 * sockets that may still hold some (closer.h): never NULL. */
	struct closer *closer;
	/* Called after a connection was freed, with its peer. */
	void (*gone)(void *arg, const struct peer *peer);
	void *arg;
	/* The fds connections use (fdbudget.h): the server sets budget,
	 * room and arg; conn.c the rest. */
	struct fdbudget fds;
	/* --protect-keys (keyguard.h), or NULL; freed after dispatch, whose
	 * orphaned commands settle their claims in it. */
	struct keyguard *keyguard;
	/* Kept by conn.c. */
	TAILQ_HEAD(, conn) conns; /* every open connection */
	bool draining;		  /* shutdown: read what was sent, to EOF */
};

/* Set up the shared state once the server's fields are filled in: 0 or
 * -ENOMEM. */
int conn_env_init(struct conn_env *env);

/* Close every connection and free the shared state. */
void conn_env_fini(struct conn_env *env);

/* Serve a freshly accepted socket from peer: send the hello and start
 * reading.  0, or a negative errno (the socket is closed either way on
 * error, and gone is not called). */
int conn_new(struct conn_env *env, int fd, const struct peer *peer);

/* Shutdown: every connection's socket is shut for reading; what its
 * client sent before is read, run and answered, and the EOF then closes
 * it (a PR OUT waiting for its turn in the log is answered at once, not
 * run).  Only a connection that waits for fd room while no command is out
 * closes unread. */
void conn_drain_all(struct conn_env *env);

/* Shutdown, and the last command outstanding came back: connections
 * waiting for fd room close (no command will free any). */
void conn_drain_idle(struct conn_env *env);

/* The helper stops at once: each command still out (waiting for a worker
 * or running) is answered ABORTED COMMAND 00/06 and abandoned, each
 * request still in a socket is read and answered the same, not run, and
 * every connection closes (one whose answers are not all out is left to
 * conn_env_fini()). */
void conn_abort_all(struct conn_env *env);

#endif
