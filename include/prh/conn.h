/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Connections: the protocol state machine of one client.
 *
 * A connection reads its client's handshake and requests with recvmsg
 * (bufferevents drop SCM_RIGHTS), answers what it can decide itself,
 * hands the rest to the worker pool through dispatch.c, and sends the
 * replies (straight to the socket; a write-only bufferevent only holds
 * what the socket did not take).  At most one request per connection is
 * read, run and answered at a time.
 *
 * Every connection of a server shares one struct conn_env: what it needs
 * from the server (set by the server before conn_env_init) and the state
 * all connections share (kept by conn.c).  The way back to the server is
 * the gone callback.  Loop thread only; see doc/threads.md.
 */
#ifndef PRH_CONN_H
#define PRH_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/queue.h>

#include "prh/config.h"
#include "prh/peer.h"
#include "prh/stats.h"

struct event;
struct event_base;
struct dispatch;
struct device_registry;
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
	struct prh_stats *stats;
	struct audit *audit; /* the audit trail, or NULL for none */
	/* Each client's share of the log (peerlog.h), or NULL: no limit. */
	struct peerlog *peerlog;
	/* Closes every fd a client sent that a connection drops, and the
	 * sockets that may still hold some (closer.h): never NULL. */
	struct closer *closer;
	/* Fds connections may use: their sockets plus the device fds of
	 * their requests and the fds queued for the closer
	 * (conn_fds_used()).  At the budget, no connection reads a new
	 * request (its fd waits in the socket buffer, outside the helper's
	 * fd table) until fds are freed; above it, no connection reads at
	 * all.  Beyond the budget the fd table must hold what one message
	 * can bring (FDPASS_MAX_FDS). */
	unsigned fd_budget;
	/* Called after a connection was freed, with its peer. */
	void (*gone)(void *arg, const struct peer *peer);
	/* Called when the fds in use drop below the budget again. */
	void (*room)(void *arg);
	void *arg;
	/* Kept by conn.c. */
	TAILQ_HEAD(, conn) conns; /* every open connection */
	TAILQ_HEAD(, conn) held;  /* holding an fd mid-request, oldest first */
	TAILQ_HEAD(conn_list, conn)
	throttled; /* waiting for fd room to read a request */
	/* Waiting for their client's fds with the closer to fall below
	 * CLOSER_CLIENT_QUEUE_MAX (closer.h), and the closer's count of
	 * such falls when they were last looked at. */
	struct conn_list stalled;
	unsigned stalled_eased;
	struct event *held_timer; /* drops the oldest when its time is up */
	unsigned count;		  /* open connections */
	atomic_uint fds_held;	  /* device fds of requests (workers too),
				   * fds queued for the closer */
	bool draining;		  /* shutdown: no new requests */
};

/* Fds the connections use now: one socket each, their requests' device
 * fds and the fds waiting for the closer. */
unsigned conn_fds_used(const struct conn_env *env);

/* Fds in use were freed (by another part of the helper, counted in
 * fds_held): let connections waiting for room read, tell the server. */
void conn_fds_freed(struct conn_env *env);

/* Set up the shared state once the server's fields are filled in: 0 or
 * -ENOMEM. */
int conn_env_init(struct conn_env *env);

/* Close every connection and free the shared state. */
void conn_env_fini(struct conn_env *env);

/* Serve a freshly accepted socket from peer: send the hello and start
 * reading.  0, or a negative errno (the socket is closed either way on
 * error, and gone is not called). */
int conn_new(struct conn_env *env, int fd, const struct peer *peer);

/* Shutdown: idle connections close now, busy ones once answered; no
 * connection reads another request. */
void conn_drain_all(struct conn_env *env);

#endif
