/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Closing fds whose close may wait for another process (see closer.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "prh/closer.h"
#include "prh/thread.h"

#define CLOSER_THREADS	  16	      /* threads at the most */
#define CLOSER_IDLE_S	  10	      /* an idle thread exits after this */
#define CLOSER_STACK_SIZE (64 * 1024) /* a close needs little */
#define CLOSER_FREE_MS	  200	      /* closer_free() waits for a close */

/* One fd waiting for a thread. */
struct closer_fd {
	int fd;
	struct closer_fd *next;
};

/* The closer.  Everything below lock is under it. */
struct closer {
	pthread_mutex_t lock;
	pthread_cond_t work;   /* an fd was queued, or stopping */
	pthread_cond_t change; /* a thread went idle, into close(), or out */
	struct closer_fd *head, **tail;
	atomic_uint *count; /* NULL once freed */
	struct event *ev;   /* the loop's freed() event; NULL once freed */
	bool wake;	    /* ev is active and has not run yet */
	bool stopping;	    /* closer_free() was called */
	bool abandoned;	    /* it returned: the last thread frees */
	unsigned queued;    /* fds on the queue */
	unsigned threads;   /* running */
	unsigned idle;	    /* of them waiting for work */
	unsigned closing;   /* of them inside close() */
	void (*freed)(void *arg);
	void *arg;
};

/* Free c (its lock not held, no thread left). */
static void
closer_destroy(struct closer *c)
{
	pthread_cond_destroy(&c->work);
	pthread_cond_destroy(&c->change);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* The loop: counted fds went; tell the owner. */
static void
closer_freed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct closer *c = arg;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&c->lock);
	c->wake = false;
	pthread_mutex_unlock(&c->lock);
	c->freed(c->arg);
}

/* Take the next fd off the queue, waiting for one: true and *fd, or
 * false when the thread is to exit (idle too long, or stopping with
 * nothing left).  Lock held. */
static bool
closer_next(struct closer *c, int *fd)
{
	struct closer_fd *e;
	struct timespec until;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += CLOSER_IDLE_S;
	while (c->head == NULL && !c->stopping && r != ETIMEDOUT) {
		c->idle++;
		r = pthread_cond_timedwait(&c->work, &c->lock, &until);
		c->idle--;
	}
	e = c->head;
	if (e == NULL)
		return false;
	c->head = e->next;
	if (c->head == NULL)
		c->tail = &c->head;
	c->queued--;
	*fd = e->fd;
	free(e);
	/* Its slot in the fd table goes with the close(), about to start. */
	if (c->count != NULL) {
		atomic_fetch_sub(c->count, 1);
		if (c->ev != NULL && !c->wake) {
			c->wake = true;
			event_active(c->ev, EV_READ, 0);
		}
	}
	return true;
}

/* A closer thread: close queued fds until idle too long or stopped; the
 * last one out of a freed closer frees it. */
static void *
closer_main(void *arg)
{
	struct closer *c = arg;
	bool last;
	int fd;

	pthread_mutex_lock(&c->lock);
	while (closer_next(c, &fd)) {
		c->closing++;
		pthread_mutex_unlock(&c->lock);
		(void)close(fd);
		pthread_mutex_lock(&c->lock);
		c->closing--;
	}
	c->threads--;
	last = c->abandoned && c->threads == 0;
	pthread_cond_broadcast(&c->change);
	pthread_mutex_unlock(&c->lock);
	if (last)
		closer_destroy(c);
	return NULL;
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
	if (c->ev == NULL) {
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
	c->freed = freed;
	c->arg = arg;
	*out = c;
	return 0;
}

/* Queue fd for a thread, starting one if no idle thread is left for
 * it. */
void
closer_close(struct closer *c, int fd)
{
	struct closer_fd *e = malloc(sizeof(*e));
	bool start;

	if (e == NULL) {
		(void)close(fd); /* out of memory: nothing better to do */
		return;
	}
	e->fd = fd;
	e->next = NULL;
	pthread_mutex_lock(&c->lock);
	/* An idle thread that was signalled may not have woken yet: each
	 * queued fd needs one. */
	start = c->queued >= c->idle && c->threads < CLOSER_THREADS;
	if (start)
		c->threads++;
	if (start && thread_start(closer_main, c, CLOSER_STACK_SIZE) < 0) {
		c->threads--;
		start = false;
		if (c->threads == 0) {
			/* No thread at all: the loop closes it after all. */
			pthread_mutex_unlock(&c->lock);
			free(e);
			(void)close(fd);
			return;
		}
	}
	*c->tail = e;
	c->tail = &e->next;
	c->queued++;
	atomic_fetch_add(c->count, 1);
	if (!start)
		pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->lock);
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
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	c->count = NULL;
	ev = c->ev;
	c->ev = NULL;
	pthread_cond_broadcast(&c->work);
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
