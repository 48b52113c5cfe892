/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The fd budget of the connections: the fds they use (their sockets, the
 * device fds of their requests, the fds queued for the closer), which of
 * them wait for room before they read, and which hold a device fd too
 * long without completing the request.
 *
 * At the budget no connection starts reading a new request (its fd waits
 * in the socket buffer, outside the helper's fd table); above it, none
 * reads at all, until fds are freed.  A connection whose client has
 * CLOSER_CLIENT_QUEUE_MAX fds with the closer (closer.h) reads nothing
 * until they are fewer: a client whose closes never return must not fill
 * the budget.  Beyond the budget the fd table must hold what one message
 * can bring (FDPASS_MAX_FDS; the server's margin).
 *
 * Each connection embeds a struct fdbudget_conn.  The ways back to the
 * connections are callbacks: one may read again (resume), one held its
 * device fd past --request-timeout (expired: never while it waits for
 * room, when its time starts again), and the owner's: the fds in use
 * dropped below the budget (room).  Loop thread only, but for held,
 * which the closer's threads and the workers lower too.
 */
#ifndef PRH_FDBUDGET_H
#define PRH_FDBUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

struct closer;
struct event;
struct event_base;

/* A connection as the budget knows it. */
struct fdbudget_conn {
	uint64_t client;		 /* its client for the closer */
	struct fdbudget_list *waits_on;	 /* throttled, stalled or NULL */
	TAILQ_ENTRY(fdbudget_conn) wait; /* on waits_on */
	uint64_t held_until_ns;		 /* on the held list while not 0 */
	TAILQ_ENTRY(fdbudget_conn) hold;
};

TAILQ_HEAD(fdbudget_list, fdbudget_conn);

/* The budget and who waits for it. */
struct fdbudget {
	/* Set by the owners before fdbudget_init(). */
	unsigned budget; /* fds connections may use */
	unsigned hold_s; /* --request-timeout, 0: none */
	struct event_base *base;
	struct closer *closer;
	void (*resume)(struct fdbudget_conn *fc);  /* may read again */
	void (*expired)(struct fdbudget_conn *fc); /* held an fd too long */
	void (*room)(void *arg);		   /* below the budget */
	void *arg;
	/* Kept here. */
	unsigned sockets;		/* connection sockets open */
	atomic_uint held;		/* device fds of requests (workers
					* too), fds queued for the closer */
	struct fdbudget_list throttled; /* waiting for fd room */
	struct fdbudget_list stalled;	/* waiting for their client's fds
					 * with the closer to drop */
	unsigned stalled_eased;		/* the closer's count of drops */
	TAILQ_HEAD(, fdbudget_conn) held_list; /* oldest deadline first */
	struct event *held_timer;
};

/* Set up the lists and the --request-timeout timer: 0 or -ENOMEM. */
int fdbudget_init(struct fdbudget *b);

/* Free the timer (also after a failed fdbudget_init()); no connection
 * may be on a list. */
void fdbudget_fini(struct fdbudget *b);

/* Fds the connections use now. */
unsigned fdbudget_used(const struct fdbudget *b);

/* Whether fc must wait before it reads (fresh: the read would start a
 * request, whose fd would pass the budget); if so it is on a list
 * (fresh ones last), and resume is called when it may read. */
bool
fdbudget_must_wait(struct fdbudget *b, struct fdbudget_conn *fc, bool fresh);

/* A device fd came with a request: count it, and start its
 * --request-timeout. */
void fdbudget_take(struct fdbudget *b, struct fdbudget_conn *fc);

/* The request is complete: stop its --request-timeout. */
void fdbudget_complete(struct fdbudget *b, struct fdbudget_conn *fc);

/* A counted fd was given up (to the closer, which counts it again):
 * uncount it.  The caller calls fdbudget_freed() once it is done. */
void fdbudget_give(struct fdbudget *b);

/* Fds were freed elsewhere (counted in held): let connections waiting
 * for room read, then call room. */
void fdbudget_freed(struct fdbudget *b);

/* Take fc off every list (its connection goes). */
void fdbudget_leave(struct fdbudget *b, struct fdbudget_conn *fc);

#endif
