/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Closing fds whose close may wait for another process (see closer.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "prh/closer.h"
#include "prh/thread.h"

#define CLOSER_THREADS	   16	       /* threads at the most */
#define CLOSER_IDLE_S	   10	       /* an idle thread exits after this */
#define CLOSER_STACK_SIZE  (64 * 1024) /* a close needs little */
#define CLOSER_FREE_MS	   200	       /* closer_free() waits for a close */
#define CLOSER_BATCH	   (CLOSER_CLIENT_QUEUE_MAX / 2) /* wake a thread */
#define CLOSER_TICK_MS	   1   /* else the loop's tick wakes one */
#define CLOSER_TICK_MAX_MS 100 /* the tick's period when stuck */
#define CLOSER_BUCKETS	   64  /* of the clients' table */
#define CLOSER_SPARE	   16  /* client entries kept for reuse */
#define CLOSER_SPARE_FDS   256 /* queue entries kept for reuse */

/* A client with fds queued or being closed (no entry otherwise). */
struct closer_client {
	uint64_t key;
	unsigned queued;	    /* its fds on the queue */
	unsigned closing;	    /* its fds in close() now */
	struct closer_client *next; /* its bucket's chain */
};

/* One fd waiting for a thread. */
struct closer_fd {
	int fd;
	struct closer_client *client;
	struct closer_fd *next;
};

/* The closer.  Everything below lock is under it. */
struct closer {
	pthread_mutex_t lock;
	pthread_cond_t work;   /* an fd was queued, or stopping */
	pthread_cond_t change; /* a thread went idle, into close(), or out */
	struct closer_fd *head, **tail;
	atomic_uint *count;  /* NULL once freed */
	struct event *ev;    /* the loop's freed() event; NULL once freed */
	struct event *tick;  /* the loop's timer while fds are queued */
	unsigned tick_ms;    /* its period now */
	bool wake;	     /* ev is active and has not run yet */
	bool owed;	     /* counted fds went since freed() last ran */
	bool stopping;	     /* closer_free() was called */
	bool abandoned;	     /* it returned: the last thread frees */
	unsigned queued;     /* fds on the queue */
	unsigned ready;	     /* of them a thread may take now */
	unsigned threads;    /* running */
	unsigned idle;	     /* of them waiting for work */
	unsigned signalled;  /* of them signalled, not yet up */
	unsigned closing;    /* of them inside close() */
	unsigned eased;	     /* times a client fell below the queue max */
	unsigned long taken; /* fds taken by threads so far */
	unsigned long seen;  /* taken at the last tick */
	void (*freed)(void *arg);
	void *arg;
	struct closer_client *clients[CLOSER_BUCKETS];
	/* Entries of clients gone, for the next ones (so a client whose fds
	 * come one at a time does not allocate for each). */
	struct closer_client *spare;
	unsigned nspare;
	/* Queue entries taken off it, for the next fds (allocated on the
	 * loop, taken off by a thread: each fd would cost a malloc() and a
	 * free() on two threads). */
	struct closer_fd *spare_fds;
	unsigned nspare_fds;
};

/* --- the clients' table (lock held) ---------------------------------- */

/* The bucket of client key. */
static struct closer_client **
closer_bucket(struct closer *c, uint64_t key)
{
	return &c->clients[(key ^ key >> 32) % CLOSER_BUCKETS];
}

/* Client key's entry, or NULL. */
static struct closer_client *
closer_client_find(struct closer *c, uint64_t key)
{
	struct closer_client *cl = *closer_bucket(c, key);

	while (cl != NULL && cl->key != key)
		cl = cl->next;
	return cl;
}

/* Client key's entry, made if missing: NULL when out of memory. */
static struct closer_client *
closer_client_get(struct closer *c, uint64_t key)
{
	struct closer_client **b = closer_bucket(c, key);
	struct closer_client *cl = closer_client_find(c, key);

	if (cl != NULL)
		return cl;
	if (c->spare != NULL) {
		cl = c->spare;
		c->spare = cl->next;
		c->nspare--;
		memset(cl, 0, sizeof(*cl));
	} else if ((cl = calloc(1, sizeof(*cl))) == NULL) {
		return NULL;
	}
	cl->key = key;
	cl->next = *b;
	*b = cl;
	return cl;
}

/* Of client cl's queued fds, how many a thread may take now. */
static unsigned
closer_client_ready(const struct closer_client *cl)
{
	unsigned room = cl->closing < CLOSER_PER_CLIENT
	    ? CLOSER_PER_CLIENT - cl->closing
	    : 0;

	return cl->queued < room ? cl->queued : room;
}

/* Change client cl's counts by dq queued and dk closing, keeping the
 * closer's count of takeable fds; forget it when nothing is left (its
 * entry kept for reuse, up to CLOSER_SPARE). */
static void
closer_client_add(struct closer *c, struct closer_client *cl, int dq, int dk)
{
	struct closer_client **pp;

	c->ready -= closer_client_ready(cl);
	cl->queued = (unsigned)((int)cl->queued + dq);
	cl->closing = (unsigned)((int)cl->closing + dk);
	c->ready += closer_client_ready(cl);
	if (cl->queued > 0 || cl->closing > 0)
		return;
	for (pp = closer_bucket(c, cl->key); *pp != cl; pp = &(*pp)->next)
		;
	*pp = cl->next;
	if (c->nspare >= CLOSER_SPARE) {
		free(cl);
		return;
	}
	cl->next = c->spare;
	c->spare = cl;
	c->nspare++;
}

/* A queue entry, reused or allocated: NULL when out of memory.  Lock
 * held. */
static struct closer_fd *
closer_fd_get(struct closer *c)
{
	struct closer_fd *e = c->spare_fds;

	if (e == NULL)
		return malloc(sizeof(*e));
	c->spare_fds = e->next;
	c->nspare_fds--;
	return e;
}

/* Give back queue entry e (NULL: nothing), kept for reuse up to
 * CLOSER_SPARE_FDS.  Lock held. */
static void
closer_fd_put(struct closer *c, struct closer_fd *e)
{
	if (e == NULL)
		return;
	if (c->nspare_fds >= CLOSER_SPARE_FDS) {
		free(e);
		return;
	}
	e->next = c->spare_fds;
	c->spare_fds = e;
	c->nspare_fds++;
}

/* Tell the loop now (once until it ran) that it may have room again. */
static void
closer_wake(struct closer *c)
{
	if (c->count != NULL && c->ev != NULL && !c->wake) {
		c->wake = true;
		event_active(c->ev, EV_READ, 0);
	}
}

/* Free c (its lock not held, no thread left).  Fds still queued (no
 * thread could ever be started) are left to the process's exit. */
static void
closer_destroy(struct closer *c)
{
	struct closer_client *cl;
	struct closer_fd *e;

	while ((e = c->head) != NULL) {
		c->head = e->next;
		free(e);
	}
	while ((e = c->spare_fds) != NULL) {
		c->spare_fds = e->next;
		free(e);
	}
	for (size_t i = 0; i < CLOSER_BUCKETS; i++)
		while ((cl = c->clients[i]) != NULL) {
			c->clients[i] = cl->next;
			free(cl);
		}
	while ((cl = c->spare) != NULL) {
		c->spare = cl->next;
		free(cl);
	}
	pthread_cond_destroy(&c->work);
	pthread_cond_destroy(&c->change);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* The loop: a client fell below the queue max; tell the owner. */
static void
closer_freed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct closer *c = arg;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&c->lock);
	c->wake = false;
	c->owed = false;
	pthread_mutex_unlock(&c->lock);
	c->freed(c->arg);
}

/* Take the first queued fd whose client has fewer than
 * CLOSER_PER_CLIENT closes under way, waiting for one: true, *fd and
 * *cl (its closing count taken), or false when the thread is to exit
 * (idle too long, or stopping with nothing it may take).  Lock held. */
static bool
closer_next(struct closer *c, int *fd, struct closer_client **cl)
{
	struct closer_fd *e, **pp;
	struct timespec until;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += CLOSER_IDLE_S;
	while (c->ready == 0 && !c->stopping && r != ETIMEDOUT) {
		c->idle++;
		r = pthread_cond_timedwait(&c->work, &c->lock, &until);
		c->idle--;
		if (c->signalled > 0)
			c->signalled--;
	}
	if (c->ready == 0)
		return false;
	for (pp = &c->head; (*pp)->client->closing >= CLOSER_PER_CLIENT;
	     pp = &(*pp)->next)
		; /* ready > 0: one is there */
	e = *pp;
	*pp = e->next;
	if (*pp == NULL)
		c->tail = pp;
	c->queued--;
	c->taken++;
	*fd = e->fd;
	*cl = e->client;
	closer_fd_put(c, e);
	closer_client_add(c, *cl, -1, 1);
	/* Its slot in the fd table goes with the close(), about to start;
	 * the loop hears of it at its next tick. */
	if (c->count != NULL) {
		atomic_fetch_sub(c->count, 1);
		c->owed = true;
	}
	return true;
}

/* A closer thread: close queued fds until idle too long or stopped; the
 * last one out of a freed closer frees it. */
static void *
closer_main(void *arg)
{
	struct closer *c = arg;
	struct closer_client *cl;
	bool last;
	int fd;

	pthread_mutex_lock(&c->lock);
	while (closer_next(c, &fd, &cl)) {
		c->closing++;
		/* closer_free() waits for the threads outside a close(). */
		if (c->stopping)
			pthread_cond_broadcast(&c->change);
		pthread_mutex_unlock(&c->lock);
		(void)close(fd);
		pthread_mutex_lock(&c->lock);
		c->closing--;
		/* Its connections read again below the bound (closer.h): the
		 * loop hears of it now. */
		if (cl->queued + cl->closing == CLOSER_CLIENT_QUEUE_MAX) {
			c->eased++;
			closer_wake(c);
		}
		closer_client_add(c, cl, 0, -1);
	}
	c->threads--;
	last = c->abandoned && c->threads == 0;
	pthread_cond_broadcast(&c->change);
	pthread_mutex_unlock(&c->lock);
	if (last)
		closer_destroy(c);
	return NULL;
}

/* Have one more thread take fds: an idle one not signalled yet (true:
 * the caller signals work once it has let go of the lock, so that the
 * thread, which may run at once, does not find it held), else a new
 * one, up to the bound (one that cannot start is tried again at the next
 * tick).  Lock held; loop thread. */
static bool
closer_add_thread(struct closer *c)
{
	if (c->idle > c->signalled) {
		c->signalled++;
		return true;
	}
	if (c->threads < CLOSER_THREADS) {
		c->threads++;
		if (thread_start(closer_main, c, CLOSER_STACK_SIZE) < 0)
			c->threads--;
	}
	return false;
}

/* Whether a thread is up (or signalled to get up), not inside a
 * close(), that will look at the queue before it waits again.  Lock
 * held. */
static bool
closer_awake(const struct closer *c)
{
	return c->threads - c->idle - c->closing + c->signalled > 0;
}

/* The loop's timer while fds are queued: wake a thread for the fds it
 * may take if none is up, and one more if none was taken since the last
 * tick (the threads up wait in close()), backing off while that does not
 * help; tell the owner when counted fds went. */
static void
closer_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct closer *c = arg;
	struct timeval tv;
	bool owed, again, signal = false;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&c->lock);
	if (c->ready > 0 && (c->taken == c->seen || !closer_awake(c)))
		signal = closer_add_thread(c);
	if (c->taken != c->seen)
		c->tick_ms = CLOSER_TICK_MS;
	else if (c->tick_ms < CLOSER_TICK_MAX_MS)
		c->tick_ms *= 2;
	c->seen = c->taken;
	owed = c->owed;
	c->owed = false;
	again = c->queued > 0;
	tv.tv_sec = 0;
	tv.tv_usec = (suseconds_t)c->tick_ms * 1000;
	pthread_mutex_unlock(&c->lock);
	if (signal)
		pthread_cond_signal(&c->work);
	/* Once nothing is queued nothing more can be taken: owed is all. */
	if (again)
		evtimer_add(c->tick, &tv);
	if (owed)
		c->freed(c->arg);
}

/* Create a closer. */
int
closer_new(struct event_base *base, atomic_uint *count,
    void (*freed)(void *arg), void *arg, struct closer **out)
{
	pthread_condattr_t ca;
	struct closer *c;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->ev = event_new(base, -1, 0, closer_freed_cb, c);
	c->tick = evtimer_new(base, closer_tick_cb, c);
	if (c->ev == NULL || c->tick == NULL) {
		if (c->ev != NULL)
			event_free(c->ev);
		if (c->tick != NULL)
			event_free(c->tick);
		free(c);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->work, &ca);
	pthread_cond_init(&c->change, &ca);
	pthread_condattr_destroy(&ca);
	c->tail = &c->head;
	c->count = count;
	c->tick_ms = CLOSER_TICK_MS;
	c->freed = freed;
	c->arg = arg;
	*out = c;
	return 0;
}

/* Queue fd of client for a thread: one is woken when CLOSER_BATCH fds
 * are queued and none is up, else by the loop's tick, armed here; an fd
 * waits, counted, until a thread takes it. */
void
closer_close(struct closer *c, int fd, uint64_t client)
{
	struct timeval tv = { 0, CLOSER_TICK_MS * 1000 };
	struct closer_client *cl = NULL;
	struct closer_fd *e;
	bool arm, signal = false;
	unsigned ready;

	pthread_mutex_lock(&c->lock);
	e = closer_fd_get(c);
	if (e != NULL)
		cl = closer_client_get(c, client);
	if (cl == NULL) {
		closer_fd_put(c, e);
		pthread_mutex_unlock(&c->lock);
		(void)close(fd); /* out of memory: nothing better to do */
		return;
	}
	e->fd = fd;
	e->client = cl;
	e->next = NULL;
	*c->tail = e;
	c->tail = &e->next;
	c->queued++;
	ready = c->ready;
	closer_client_add(c, e->client, 1, 0);
	atomic_fetch_add(c->count, 1);
	if (c->queued >= CLOSER_BATCH && c->ready > 0 && !closer_awake(c))
		signal = closer_add_thread(c);
	/* A tick backed off behind closes that do not return comes back for
	 * an fd a thread may take. */
	arm = !evtimer_pending(c->tick, NULL) ||
	    (c->tick_ms > CLOSER_TICK_MS && c->ready > ready);
	if (arm)
		c->tick_ms = CLOSER_TICK_MS;
	pthread_mutex_unlock(&c->lock);
	if (signal)
		pthread_cond_signal(&c->work);
	if (arm)
		evtimer_add(c->tick, &tv);
}

/* Fds of client queued or being closed. */
unsigned
closer_client_pending(struct closer *c, uint64_t client)
{
	struct closer_client *cl;
	unsigned n;

	pthread_mutex_lock(&c->lock);
	cl = closer_client_find(c, client);
	n = cl != NULL ? cl->queued + cl->closing : 0;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* How many times a client's pending fds fell below the queue max. */
unsigned
closer_clients_eased(struct closer *c)
{
	unsigned n;

	pthread_mutex_lock(&c->lock);
	n = c->eased;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* Close a connection socket of client: here if nothing is left unread
 * in it, else on a closer thread. */
void
closer_close_socket(struct closer *c, int fd, uint64_t client)
{
	int one = 1;
	char byte;

	/* Closing a Unix socket frees the messages still queued in it, fds
	 * and all, on the closing thread.  After shutdown(SHUT_RD) the peer
	 * can queue nothing more (its sendmsg checks for it under the lock
	 * it queues under, and fails with EPIPE), so a socket found empty
	 * stays empty, and its close frees nothing; a message with fds
	 * carries at least one byte.  Peeking at a byte reads nothing (the
	 * fds of a message peeked at stay with it); a byte sent out of band
	 * is seen only in line.  Reading what is left instead would bring
	 * its fds into the table, unbounded. */
	if (setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one)) == 0 &&
	    shutdown(fd, SHUT_RD) == 0 &&
	    recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
		(void)close(fd);
	else
		closer_close(c, fd, client);
}

/* Free the closer; a thread stuck in close() keeps it. */
void
closer_free(struct closer *c)
{
	struct timespec until;
	struct event *ev;
	bool gone;

	if (c == NULL)
		return;
	event_free(c->tick);
	pthread_mutex_lock(&c->lock);
	c->tick = NULL;
	c->stopping = true;
	c->count = NULL;
	ev = c->ev;
	c->ev = NULL;
	pthread_cond_broadcast(&c->work);
	/* Threads for what is queued: each fd its own, as far as the bound
	 * goes, so that one close that waits holds up no other. */
	while (
	    c->ready > c->threads - c->closing && c->threads < CLOSER_THREADS) {
		c->threads++;
		if (thread_start(closer_main, c, CLOSER_STACK_SIZE) < 0) {
			c->threads--;
			break;
		}
	}
	/* Wait for every thread that is not inside a close(): it closes
	 * what is queued and exits.  Those inside one get a moment more (a
	 * close that waits for a server may never return). */
	while (c->threads > c->closing)
		pthread_cond_wait(&c->change, &c->lock);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += CLOSER_FREE_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (c->threads > 0 &&
	    pthread_cond_timedwait(&c->change, &c->lock, &until) != ETIMEDOUT)
		;
	gone = c->threads == 0;
	c->abandoned = !gone;
	pthread_mutex_unlock(&c->lock);
	event_free(ev);
	if (gone)
		closer_destroy(c);
}
