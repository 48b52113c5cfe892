/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The fd budget of the connections (see fdbudget.h). */
#include "config.h"

#include <errno.h>

#include <event2/event.h>

#include "prh/closer.h"
#include "prh/fdbudget.h"
#include "prh/trace.h"

static void fdbudget_held_cb(evutil_socket_t fd, short what, void *arg);

/* Set up the lists and the timer. */
int
fdbudget_init(struct fdbudget *b)
{
	TAILQ_INIT(&b->throttled);
	TAILQ_INIT(&b->stalled);
	TAILQ_INIT(&b->held_list);
	b->stalled_eased = 0;
	b->sockets = 0;
	atomic_store(&b->held, 0);
	b->held_timer = evtimer_new(b->base, fdbudget_held_cb, b);
	return b->held_timer != NULL ? 0 : -ENOMEM;
}

/* Free the timer. */
void
fdbudget_fini(struct fdbudget *b)
{
	if (b->held_timer != NULL)
		event_free(b->held_timer);
	b->held_timer = NULL;
}

/* Fds the connections use now. */
unsigned
fdbudget_used(const struct fdbudget *b)
{
	return b->sockets + atomic_load(&b->held);
}

/* Put fc on list (or on none: NULL), fresh ones last. */
static void
fdbudget_wait_on(struct fdbudget_conn *fc, struct fdbudget_list *list,
    bool fresh)
{
	if (fc->waits_on == list)
		return;
	if (fc->waits_on != NULL)
		TAILQ_REMOVE(fc->waits_on, fc, wait);
	fc->waits_on = list;
	if (list != NULL && fresh)
		TAILQ_INSERT_TAIL(list, fc, wait);
	else if (list != NULL)
		TAILQ_INSERT_HEAD(list, fc, wait);
}

/* Whether fc must wait before it reads.  A read that starts a request
 * waits at the budget (its fd would pass it); any other read only above
 * it.  Fresh ones go last: fdbudget_freed() stops at the first that must
 * wait on. */
bool
fdbudget_must_wait(struct fdbudget *b, struct fdbudget_conn *fc, bool fresh)
{
	unsigned used = fdbudget_used(b);

	if (closer_client_pending(b->closer, fc->client) >=
	    CLOSER_CLIENT_QUEUE_MAX)
		fdbudget_wait_on(fc, &b->stalled, fresh);
	else if (fresh ? used >= b->budget : used > b->budget)
		fdbudget_wait_on(fc, &b->throttled, fresh);
	else
		fdbudget_wait_on(fc, NULL, fresh);
	return fc->waits_on != NULL;
}

/* A client's fds with the closer fell below CLOSER_CLIENT_QUEUE_MAX
 * since the last look: let its connections read. */
static void
fdbudget_stalled_wake(struct fdbudget *b)
{
	unsigned eased = closer_clients_eased(b->closer);
	struct fdbudget_conn *fc, *next;

	if (eased == b->stalled_eased)
		return;
	b->stalled_eased = eased;
	for (fc = TAILQ_FIRST(&b->stalled); fc != NULL; fc = next) {
		next = TAILQ_NEXT(fc, wait);
		if (closer_client_pending(b->closer, fc->client) <
		    CLOSER_CLIENT_QUEUE_MAX) {
			fdbudget_wait_on(fc, NULL, false);
			b->resume(fc);
		}
	}
}

/* Fds were freed: let connections whose client's fds with the closer
 * went down read; if there is room under the budget again, let waiting
 * connections read (those in the middle of a frame, then new requests
 * oldest first, while the room lasts) and call room. */
void
fdbudget_freed(struct fdbudget *b)
{
	struct fdbudget_conn *fc;

	fdbudget_stalled_wake(b);
	if (fdbudget_used(b) > b->budget)
		return;
	while ((fc = TAILQ_FIRST(&b->throttled)) != NULL) {
		fdbudget_wait_on(fc, NULL, false);
		b->resume(fc);
		if (fc->waits_on == &b->throttled)
			break; /* full again: so are the ones behind it */
	}
	if (b->room != NULL)
		b->room(b->arg);
}

/* A counted fd was given up. */
void
fdbudget_give(struct fdbudget *b)
{
	atomic_fetch_sub(&b->held, 1);
}

/* Arm the held timer for the oldest deadline, if any. */
static void
fdbudget_held_arm(struct fdbudget *b, uint64_t now)
{
	struct fdbudget_conn *fc = TAILQ_FIRST(&b->held_list);
	uint64_t left;
	struct timeval tv;

	if (fc == NULL)
		return;
	left = fc->held_until_ns > now ? fc->held_until_ns - now : 0;
	tv.tv_sec = (time_t)(left / 1000000000ull);
	tv.tv_usec = (suseconds_t)(left % 1000000000ull / 1000);
	evtimer_add(b->held_timer, &tv);
}

/* Timer: every connection that held an fd too long expires; rearm for
 * the next one.  One that waits for fd room is not the one that holds
 * the request up (its client may have sent it all; QEMU sends a request
 * back to back): its time starts again instead, and it is answered once
 * it can read. */
static void
fdbudget_held_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fdbudget *b = arg;
	uint64_t now = trace_now_ns();
	struct fdbudget_conn *fc;

	(void)fd;
	(void)what;
	while ((fc = TAILQ_FIRST(&b->held_list)) != NULL &&
	    fc->held_until_ns <= now) {
		if (fc->waits_on == NULL) {
			b->expired(fc); /* takes it off the list */
			continue;
		}
		TAILQ_REMOVE(&b->held_list, fc, hold);
		fc->held_until_ns = now + (uint64_t)b->hold_s * 1000000000ull;
		TAILQ_INSERT_TAIL(&b->held_list, fc, hold);
	}
	fdbudget_held_arm(b, now);
}

/* A device fd came with a request. */
void
fdbudget_take(struct fdbudget *b, struct fdbudget_conn *fc)
{
	uint64_t now;

	atomic_fetch_add(&b->held, 1);
	if (b->hold_s == 0 || fc->held_until_ns != 0)
		return;
	now = trace_now_ns();
	fc->held_until_ns = now + (uint64_t)b->hold_s * 1000000000ull;
	TAILQ_INSERT_TAIL(&b->held_list, fc, hold);
	if (!evtimer_pending(b->held_timer, NULL))
		fdbudget_held_arm(b, now);
}

/* The request is complete. */
void
fdbudget_complete(struct fdbudget *b, struct fdbudget_conn *fc)
{
	if (fc->held_until_ns != 0) {
		TAILQ_REMOVE(&b->held_list, fc, hold);
		fc->held_until_ns = 0;
	}
}

/* Take fc off every list. */
void
fdbudget_leave(struct fdbudget *b, struct fdbudget_conn *fc)
{
	fdbudget_complete(b, fc);
	fdbudget_wait_on(fc, NULL, false);
}
