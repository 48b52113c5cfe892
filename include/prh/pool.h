/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Bounded worker thread pool.
 *
 * The loop thread submits jobs; worker threads run the job's blocking work
 * (SG_IO) and queue it for completion; one pre-created libevent event,
 * activated by a worker when it appends a finished job to an empty
 * completion list, runs the completion callback for every finished job on
 * the loop thread: one wake-up per batch of completions, as Tor's
 * workqueue reply queue does.  Workers touch no libevent object other
 * than event_active() on that event.  See doc/threads.md for the full
 * rules.
 *
 * Isolation: jobs carry a device key; at most max_per_device jobs with the
 * same key run at once.  Further jobs for that key wait in the queue while
 * jobs for other keys are picked.
 *
 * Threads: min_threads workers start with the pool; more are started on
 * demand, up to threads, when a job is runnable and no worker is idle, and
 * those beyond min_threads exit after idle_ms asleep.  So a pool sized for
 * many slow devices costs little while they are fast or idle.
 *
 * Wake-ups: pool_submit() wakes a sleeping worker at once, or, with
 * defer_wake (the daemon's mode), from an event it activates on the loop.
 * That event runs after the callbacks the loop had already queued when it
 * was activated, i.e. after every socket of the current iteration was
 * read: a batch of requests then costs one wake-up, and the woken worker
 * does not preempt the loop in the middle of the batch.  So with
 * defer_wake, a job submitted while every worker sleeps starts only once
 * the loop runs again.  Without it, submitting needs no running loop,
 * which suits tests; it is not the tuned mode.
 *
 * Bounds: at most queue_max jobs wait (not running) in total, and at most
 * dev_queue_max for any one key; pool_submit() returns -EAGAIN beyond that.
 */
#ifndef PRH_POOL_H
#define PRH_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

struct event_base;
struct pool;
struct pool_job;

/* Work run on a worker thread; must not touch libevent or the submitter. */
typedef void (*pool_work_fn)(struct pool_job *job);
/* Completion, run on the loop thread, exactly once per submitted job that
 * was not cancelled. */
typedef void (*pool_done_fn)(struct pool_job *job, void *arg);

/* Pool-owned bookkeeping of a job; embed in the caller's job struct. */
struct pool_job {
	uint64_t devkey;   /* isolation key (device) */
	pool_work_fn work; /* run on a worker */
	/* private to pool.c */
	TAILQ_ENTRY(pool_job) entry;
	int state;
	void *dq;
};

/* Pool limits. */
struct pool_limits {
	unsigned threads;	 /* most worker threads (>= 1) */
	unsigned max_per_device; /* running jobs per key (>= 1) */
	unsigned queue_max;	 /* waiting jobs in total */
	unsigned dev_queue_max;	 /* waiting jobs per key */
	bool defer_wake;	 /* wake from the loop (see above) */
	/* Workers started by pool_new() and never retired; 0 means
	 * threads (a fixed pool).  Between min_threads and threads, a
	 * worker is started when a job is runnable and none is idle. */
	unsigned min_threads;
	/* A worker beyond min_threads that sleeps this long exits; 0:
	 * never. */
	unsigned idle_ms;
};

/* Pool counters for status reports (loop thread). */
struct pool_stats {
	unsigned running;   /* jobs on a worker now */
	unsigned queued;    /* jobs waiting */
	unsigned devices;   /* keys with running or queued jobs */
	unsigned workers;   /* worker threads now */
	unsigned idle;	    /* workers asleep, none woken for them */
	uint64_t completed; /* jobs finished and handed to the loop */
	uint64_t started;   /* worker threads started so far */
};

/* Load of one device key, for status reports. */
struct pool_dev_stats {
	uint64_t devkey;
	unsigned running; /* jobs of this key on workers */
	unsigned queued;  /* jobs of this key waiting */
};

/* Largest number of keys a status report lists. */
#define POOL_BUSIEST_MAX 8

/* Create a pool and start its threads: 0 and *out, or a negative errno.
 * Call from the loop thread after evthread_use_pthreads(). */
int pool_new(struct event_base *base, const struct pool_limits *lim,
    pool_done_fn done, void *done_arg, struct pool **out);

/* Queue a job: 0, or -EAGAIN when the queue bound (total or per key) is
 * reached, or -ESHUTDOWN after pool_shutdown(). Loop thread only.  With
 * defer_wake the loop must run for the job to start (unless a worker is
 * awake already). */
int pool_submit(struct pool *p, struct pool_job *job);

/* Remove a job that has not started: 0 (the job will never complete), or
 * -EBUSY if it is running or finished (its completion will come). */
int pool_cancel(struct pool *p, struct pool_job *job);

/* Run every finished job's completion now, on the loop thread (never
 * from done()): what the completion event does, for a caller about to
 * free the pool. */
void pool_reap(struct pool *p);

/* Fill counters. Loop thread only. */
void pool_get_stats(struct pool *p, struct pool_stats *st);

/* Fill out with up to n of the keys that have running or queued jobs,
 * taken under the queue lock, the busiest first (running + queued, ties
 * by smaller key): the number filled.  Loop thread only. */
unsigned
pool_get_busiest(struct pool *p, struct pool_dev_stats *out, unsigned n);

/* Stop accepting jobs; queued and running jobs still complete. */
void pool_shutdown(struct pool *p);

/* Join the workers and free the pool.  Jobs still queued are dropped
 * without completion; call only when nothing is running. */
void pool_free(struct pool *p);

#endif
