/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Bounded worker thread pool with per-device isolation.
 *
 * Waiting jobs sit in per-key queues (struct pool_dev), found through a
 * small hash table on the device key.  A key with waiting jobs and spare
 * running capacity is on the "ready" list; a worker takes the oldest job of
 * the key at the head of that list, so picking costs O(1) however many jobs
 * wait.  A key that still has room after the pick goes to the tail, so keys
 * with runnable jobs are served round-robin and jobs of one key start in
 * submission order.  A saturated key is off the ready list: its jobs stay
 * queued while other keys' jobs are picked.
 *
 * Wake-ups: a worker sleeps, on a semaphore of its own, only when nothing
 * is runnable; sleeping workers queue up.  One is woken only when runnable
 * work exists and no wake-up is already on its way (nwake == 0); it picks a
 * job and, if more remain runnable, passes the wake-up on.  The worker that
 * went to sleep last is woken first: its stack and thread state are still
 * in the cache, and at low load one worker does all the work (rotating
 * through every worker cost 12% of throughput with one client).  The post
 * happens after the queue lock is released, so the woken worker does not
 * run only to block on that lock.  With defer_wake, pool_submit() wakes
 * nobody itself: it activates the kick event, which runs after the
 * callbacks already queued in the loop's current iteration and wakes one
 * worker for the whole batch (pool_kick_cb).  A worker that finishes a job
 * accounts for it and takes the next one in one hold of the queue lock, so
 * a burst of fast jobs is drained without any futex call, while slow jobs
 * still fan out one wake-up per job taken.
 *
 * Threads: min_threads workers start with the pool.  When a job is
 * runnable, no worker sleeps and no wake-up is on its way, a new worker is
 * started (by whoever found it so: the loop in the kick callback, or a
 * worker passing its wake-up on), up to lim.threads; it counts as the
 * wake-up on its way.  A worker beyond min_threads that sleeps idle_ms
 * leaves the idle list and exits.  Workers are detached; each posts the
 * exited semaphore as the last thing it does, so pool_free() can wait for
 * every one that was started without touching a freed thread.
 *
 * Finished jobs go on a completion list under a second lock; the worker
 * activates one pre-created event only when it found that list empty (an
 * activation is pending otherwise).  The callback, on the loop thread, takes
 * the whole list and calls done() for each job.  See doc/threads.md.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "prh/pool.h"
#include "prh/thread.h"

/* Stack of a worker thread: the work is an ioctl and some formatting. */
#define POOL_STACK_SIZE (256 * 1024)

/* Job states (pool_job.state); changed under pool.lock, read there too. */
enum {
	POOL_JOB_IDLE = 0, /* not in the pool: new, cancelled or delivered */
	POOL_JOB_QUEUED,   /* on its key's waiting queue */
	POOL_JOB_RUNNING,  /* on a worker */
	POOL_JOB_DONE,	   /* on the completion list, not yet delivered */
};

/* Per-key state: exists while the key has running or waiting jobs.
 * Owned by the pool; every field is protected by pool.lock. */
struct pool_dev {
	uint64_t key;
	unsigned running;		/* jobs of this key on workers */
	unsigned nwait;			/* length of waiting */
	bool on_ready;			/* linked on pool.ready */
	TAILQ_HEAD(, pool_job) waiting; /* oldest first */
	TAILQ_ENTRY(pool_dev) ready_entry;
	struct pool_dev *hnext; /* hash chain */
};

TAILQ_HEAD(pool_job_list, pool_job);

/* One worker thread's slot.  sem is posted once per wake-up; used,
 * asleep and idle_entry are protected by pool.lock. */
struct pool_worker {
	struct pool *pool;
	sem_t sem;
	bool used;			      /* a thread runs in this slot */
	bool asleep;			      /* on pool.idle */
	STAILQ_ENTRY(pool_worker) idle_entry; /* on pool.idle */
};

/* What a caller must do once it has released pool.lock. */
struct pool_act {
	struct pool_worker *post;  /* post this worker's semaphore */
	struct pool_worker *spawn; /* start a thread in this slot */
};

/* The pool.  Immutable after pool_new: base, ev, kick, done, done_arg,
 * lim, workers (the slots), nbuckets.  pool.lock protects the job queue,
 * the per-key table, the worker slots, the idle workers, kicking and the
 * counters beside them; pool.dlock protects only the completion list.
 * Lock order: never hold both (workers take them one after the other).
 * Invariant, whenever pool.lock is free: if the ready list is not empty and
 * a worker sleeps (idle is not empty), a wake-up is on its way (nwake > 0)
 * or the kick event is pending (kicking). */
struct pool {
	struct event_base *base;
	struct event *ev;   /* completion event */
	struct event *kick; /* deferred wake-up (defer_wake) */
	bool kicking;	    /* kick is active (loop sets it) */
	pool_done_fn done;
	void *done_arg;
	struct pool_limits lim;
	struct pool_worker *workers; /* lim.threads slots */
	sem_t exited;		     /* posted by each thread as it ends */
	bool exited_init;	     /* exited was initialised */
	bool lock_init, dlock_init;  /* the mutexes were initialised */

	pthread_mutex_t lock;
	struct pool_dev **buckets;
	unsigned nbuckets; /* power of two */
	TAILQ_HEAD(, pool_dev) ready;
	unsigned waiting;		 /* queued jobs, all keys */
	unsigned running;		 /* jobs on workers */
	unsigned ndevs;			 /* live pool_dev structs */
	STAILQ_HEAD(, pool_worker) idle; /* sleeping, last asleep first */
	unsigned nidle;			 /* length of idle */
	unsigned nwake;			 /* woken, not yet back on lock */
	unsigned nthreads;		 /* threads in slots now */
	uint64_t started;		 /* threads ever started */
	bool shut;			 /* pool_shutdown() was called */
	bool quit;			 /* workers must exit */

	pthread_mutex_t dlock;
	struct pool_job_list done_list; /* finished, not delivered */
	uint64_t completed; /* jobs put on done_list so far (dlock) */
};

/* Mix a 64-bit key into a bucket index (splitmix64 finaliser). */
static unsigned
pool_hash(const struct pool *p, uint64_t key)
{
	key ^= key >> 30;
	key *= 0xbf58476d1ce4e5b9ULL;
	key ^= key >> 27;
	key *= 0x94d049bb133111ebULL;
	key ^= key >> 31;
	return (unsigned)key & (p->nbuckets - 1);
}

/* Find the per-key state of key, or NULL.  Called with p->lock held. */
static struct pool_dev *
pool_dev_find(struct pool *p, uint64_t key)
{
	struct pool_dev *d;

	for (d = p->buckets[pool_hash(p, key)]; d != NULL; d = d->hnext)
		if (d->key == key)
			return d;
	return NULL;
}

/* Create and link per-key state for key, or NULL when out of memory.
 * Called with p->lock held. */
static struct pool_dev *
pool_dev_add(struct pool *p, uint64_t key)
{
	struct pool_dev *d;
	unsigned h;

	if ((d = calloc(1, sizeof *d)) == NULL)
		return NULL;
	d->key = key;
	TAILQ_INIT(&d->waiting);
	h = pool_hash(p, key);
	d->hnext = p->buckets[h];
	p->buckets[h] = d;
	p->ndevs++;
	return d;
}

/* Unlink and free per-key state that has no running and no waiting jobs.
 * Called with p->lock held. */
static void
pool_dev_drop(struct pool *p, struct pool_dev *d)
{
	struct pool_dev **dp;

	for (dp = &p->buckets[pool_hash(p, d->key)]; *dp != NULL;
	     dp = &(*dp)->hnext) {
		if (*dp == d) {
			*dp = d->hnext;
			break;
		}
	}
	if (d->on_ready)
		TAILQ_REMOVE(&p->ready, d, ready_entry);
	p->ndevs--;
	free(d);
}

/* Put d on the ready list if it has waiting jobs and spare capacity, or
 * take it off.  Called with p->lock held; wakes nobody (see pool_wake). */
static void
pool_dev_update_ready(struct pool *p, struct pool_dev *d)
{
	bool runnable = d->nwait > 0 && d->running < p->lim.max_per_device;

	if (runnable && !d->on_ready) {
		TAILQ_INSERT_TAIL(&p->ready, d, ready_entry);
		d->on_ready = true;
	} else if (!runnable && d->on_ready) {
		TAILQ_REMOVE(&p->ready, d, ready_entry);
		d->on_ready = false;
	}
}

/* Whether a worker must be woken or started: work is runnable, no
 * wake-up is on its way, and a worker sleeps or a slot is free.  Called
 * with p->lock held. */
static bool
pool_wake_needed(const struct pool *p)
{
	return !TAILQ_EMPTY(&p->ready) && p->nwake == 0 && !p->quit &&
	    (!STAILQ_EMPTY(&p->idle) || p->nthreads < p->lim.threads);
}

/* Choose how to get a worker onto runnable work, if one must be
 * (pool_wake_needed): the sleeping worker that went to sleep last, or a
 * free slot for a new thread.  Either counts as the wake-up on its way.
 * Called with p->lock held after the ready list may have grown
 * (pool_submit without defer_wake, the kick callback), and by a worker
 * after it took a job; the caller carries the action out with
 * pool_act_run() once it has released p->lock, so that the woken worker
 * does not run only to block on that lock. */
static struct pool_act
pool_wake(struct pool *p)
{
	struct pool_act act = { NULL, NULL };
	struct pool_worker *w;
	unsigned i;

	if (!pool_wake_needed(p))
		return act;
	if ((w = STAILQ_FIRST(&p->idle)) != NULL) {
		STAILQ_REMOVE_HEAD(&p->idle, idle_entry);
		w->asleep = false;
		p->nidle--;
		act.post = w;
	} else {
		for (i = 0; i < p->lim.threads && p->workers[i].used; i++)
			;
		w = &p->workers[i]; /* nthreads < threads: a slot is free */
		w->used = true;
		p->nthreads++;
		p->started++;
		act.spawn = w;
	}
	p->nwake++;
	return act;
}

static void *pool_worker(void *arg);

/* Start a worker thread in slot w with every signal but SIGSYS blocked (a
 * seccomp trap must reach its handler) and a small stack: 0 or a negative
 * errno.  The caller's mask is put back. */
static int
pool_start(struct pool_worker *w)
{
	return thread_start(pool_worker, w, POOL_STACK_SIZE);
}

/* Carry out what pool_wake() chose.  No lock held.  A thread that cannot
 * be started gives its slot and its wake-up back; the work stays queued
 * for the workers that exist (pool_new keeps at least one). */
static void
pool_act_run(struct pool *p, struct pool_act act)
{
	if (act.post != NULL)
		sem_post(&act.post->sem);
	if (act.spawn != NULL) {
		if (pool_start(act.spawn) < 0) {
			pthread_mutex_lock(&p->lock);
			act.spawn->used = false;
			p->nthreads--;
			p->nwake--;
			p->started--;
			pthread_mutex_unlock(&p->lock);
		}
	}
}

/* Sleep until woken, for work or to quit: true; or false when the worker
 * slept idle_ms beyond min_threads and must exit (its slot is then
 * already free).  Called with p->lock held and nothing runnable; returns
 * with it held. */
static bool
pool_wait(struct pool *p, struct pool_worker *w)
{
	bool timed = p->lim.idle_ms > 0 && p->nthreads > p->lim.min_threads;
	struct timespec ts;
	int r = 0;

	STAILQ_INSERT_HEAD(&p->idle, w, idle_entry);
	w->asleep = true;
	p->nidle++;
	pthread_mutex_unlock(&p->lock);
	if (timed) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += p->lim.idle_ms / 1000;
		ts.tv_nsec += (long)(p->lim.idle_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while ((r = sem_timedwait(&w->sem, &ts)) != 0 && errno == EINTR)
			;
	} else {
		while (sem_wait(&w->sem) != 0)
			; /* EINTR: signals are blocked anyway */
	}
	pthread_mutex_lock(&p->lock);
	if (r != 0 && w->asleep) {
		/* Timed out, and nobody chose it meanwhile. */
		STAILQ_REMOVE(&p->idle, w, pool_worker, idle_entry);
		w->asleep = false;
		p->nidle--;
		if (p->quit || p->nthreads <= p->lim.min_threads)
			return true; /* the caller quits or sleeps again */
		w->used = false;
		p->nthreads--;
		return false;
	}
	if (r != 0) {
		/* Chosen meanwhile: its post is on its way. */
		pthread_mutex_unlock(&p->lock);
		while (sem_wait(&w->sem) != 0)
			;
		pthread_mutex_lock(&p->lock);
	}
	if (!p->quit)
		p->nwake--; /* pool_join() posts without one */
	return true;
}

/* Take the next runnable job, or NULL when none is (or the pool quits);
 * pass a wake-up on if more work stays runnable (*act: see pool_wake).
 * Called with p->lock held; never waits. */
static struct pool_job *
pool_take(struct pool *p, struct pool_act *act)
{
	struct pool_dev *d;
	struct pool_job *job;

	if (p->quit || (d = TAILQ_FIRST(&p->ready)) == NULL)
		return NULL;
	TAILQ_REMOVE(&p->ready, d, ready_entry);
	d->on_ready = false;
	job = TAILQ_FIRST(&d->waiting);
	TAILQ_REMOVE(&d->waiting, job, entry);
	d->nwait--;
	p->waiting--;
	d->running++;
	p->running++;
	job->state = POOL_JOB_RUNNING;
	/* Round robin: back to the tail if it can take another job. */
	pool_dev_update_ready(p, d);
	*act = pool_wake(p);
	return job;
}

/* Account for a job whose work has returned.  Called with p->lock held. */
static void
pool_finish(struct pool *p, struct pool_job *job)
{
	struct pool_dev *d = job->dq;

	job->state = POOL_JOB_DONE;
	job->dq = NULL;
	d->running--;
	p->running--;
	if (d->running == 0 && d->nwait == 0)
		pool_dev_drop(p, d);
	else
		pool_dev_update_ready(p, d);
}

/* Hand a finished job to the loop thread: append it to the completion
 * list and activate the completion event only when the list was empty
 * (one wake-up per batch: the callback, which takes the whole list, has
 * not run since the first of them was appended). */
static void
pool_complete(struct pool *p, struct pool_job *job)
{
	bool act;

	pthread_mutex_lock(&p->dlock);
	act = TAILQ_EMPTY(&p->done_list);
	TAILQ_INSERT_TAIL(&p->done_list, job, entry);
	p->completed++; /* counted once the loop can take it */
	pthread_mutex_unlock(&p->dlock);
	/* From here on the job belongs to the loop thread. */
	if (act)
		event_active(p->ev, EV_READ, 0);
}

/* Worker thread: run jobs until told to quit, or until it sat idle long
 * enough to retire.  Accounting for the job just run and taking the next
 * one share one hold of the queue lock; a worker sleeps only after it
 * handed its last job over and found nothing to do.  The last thing the
 * thread does is post p->exited. */
static void *
pool_worker(void *arg)
{
	struct pool_worker *self = arg;
	struct pool *p = self->pool;
	struct pool_job *job = NULL, *prev;
	struct pool_act act;

	pthread_mutex_lock(&p->lock);
	p->nwake--; /* started as the wake-up on its way */
	for (;;) {
		prev = job;
		if (prev != NULL)
			pool_finish(p, prev);
		act = (struct pool_act){ NULL, NULL };
		job = pool_take(p, &act);
		if (job == NULL && prev == NULL) {
			if (p->quit) {
				self->used = false;
				p->nthreads--;
				break;
			}
			if (!pool_wait(p, self))
				break; /* retired: the slot is free */
			continue;
		}
		pthread_mutex_unlock(&p->lock);
		if (prev != NULL)
			pool_complete(p, prev);
		pool_act_run(p, act);
		if (job != NULL)
			job->work(job);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	sem_post(&p->exited);
	return NULL;
}

/* Deliver every finished job on the loop thread.  Activations coalesce,
 * so take the whole list each time. */
void
pool_reap(struct pool *p)
{
	struct pool_job_list list = TAILQ_HEAD_INITIALIZER(list);
	struct pool_job *job;

	pthread_mutex_lock(&p->dlock);
	TAILQ_CONCAT(&list, &p->done_list, entry);
	/* The next job appended finds the list empty and activates. */
	pthread_mutex_unlock(&p->dlock);

	while ((job = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, job, entry);
		/* Plain store: cancel runs on this thread and workers no
		 * longer reference a delivered job. */
		job->state = POOL_JOB_IDLE;
		p->done(job, p->done_arg);
	}
}

/* Completion event callback: deliver every finished job. */
static void
pool_done_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pool_reap(arg);
}

/* Kick event callback (defer_wake): the loop has run the callbacks queued
 * before the kick, every socket this iteration found readable, so the jobs
 * they submitted are all queued; wake (or start) one worker for them, who
 * passes the wake-up on while more stay runnable. */
static void
pool_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool *p = arg;
	struct pool_act act;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&p->lock);
	p->kicking = false;
	act = pool_wake(p);
	pthread_mutex_unlock(&p->lock);
	pool_act_run(p, act);
}

/* Stop every worker and wait until each thread has ended: every sleeping
 * one is posted, and a busy one sees quit before it would sleep. */
static void
pool_join(struct pool *p)
{
	struct pool_worker *w;
	uint64_t n;

	pthread_mutex_lock(&p->lock);
	p->quit = true;
	while ((w = STAILQ_FIRST(&p->idle)) != NULL) {
		STAILQ_REMOVE_HEAD(&p->idle, idle_entry);
		w->asleep = false;
		p->nidle--;
		sem_post(&w->sem);
	}
	n = p->started;
	pthread_mutex_unlock(&p->lock);
	/* One post per thread ever started, retired ones included. */
	for (uint64_t i = 0; i < n; i++)
		while (sem_wait(&p->exited) != 0)
			;
}

/* Bucket count for the per-key table: about one per two possible keys. */
static unsigned
pool_nbuckets(const struct pool_limits *lim)
{
	unsigned long want = ((unsigned long)lim->threads + lim->queue_max) / 2;
	unsigned n = 16;

	while (n < want && n < 4096)
		n <<= 1;
	return n;
}

/* Free the pool's memory, locks and event (no threads may be running). */
static void
pool_destroy(struct pool *p)
{
	unsigned i;

	if (p->ev != NULL)
		event_free(p->ev);
	if (p->kick != NULL)
		event_free(p->kick);
	for (i = 0; p->workers != NULL && i < p->lim.threads; i++)
		sem_destroy(&p->workers[i].sem);
	if (p->exited_init)
		sem_destroy(&p->exited);
	if (p->dlock_init)
		pthread_mutex_destroy(&p->dlock);
	if (p->lock_init)
		pthread_mutex_destroy(&p->lock);
	free(p->buckets);
	free(p->workers);
	free(p);
}

/* Start the first min_threads workers: 0 or a negative errno (workers
 * started are stopped). */
static int
pool_start_min(struct pool *p)
{
	int r;

	for (unsigned i = 0; i < p->lim.min_threads; i++) {
		pthread_mutex_lock(&p->lock);
		p->workers[i].used = true;
		p->nthreads++;
		p->nwake++;
		p->started++;
		pthread_mutex_unlock(&p->lock);
		if ((r = pool_start(&p->workers[i])) < 0) {
			pthread_mutex_lock(&p->lock);
			p->workers[i].used = false;
			p->nthreads--;
			p->nwake--;
			p->started--;
			pthread_mutex_unlock(&p->lock);
			pool_join(p);
			return r;
		}
	}
	return 0;
}

/* Create a pool and start its first threads: 0 and *out, or a negative
 * errno. */
int
pool_new(struct event_base *base, const struct pool_limits *lim,
    pool_done_fn done, void *done_arg, struct pool **out)
{
	struct pool *p;
	unsigned i;
	int r;

	*out = NULL;
	if (base == NULL || lim == NULL || done == NULL || lim->threads == 0 ||
	    lim->max_per_device == 0 || lim->queue_max == 0 ||
	    lim->dev_queue_max == 0 || lim->min_threads > lim->threads)
		return -EINVAL;
	if ((p = calloc(1, sizeof *p)) == NULL)
		return -ENOMEM;
	p->base = base;
	p->done = done;
	p->done_arg = done_arg;
	p->lim = *lim;
	if (p->lim.min_threads == 0)
		p->lim.min_threads = p->lim.threads;
	p->nbuckets = pool_nbuckets(lim);
	TAILQ_INIT(&p->ready);
	TAILQ_INIT(&p->done_list);
	STAILQ_INIT(&p->idle);
	if ((r = pthread_mutex_init(&p->lock, NULL)) != 0 ||
	    !(p->lock_init = true) ||
	    (r = pthread_mutex_init(&p->dlock, NULL)) != 0 ||
	    !(p->dlock_init = true)) {
		pool_destroy(p);
		return -r;
	}
	if (sem_init(&p->exited, 0, 0) < 0) {
		pool_destroy(p);
		return -errno;
	}
	p->exited_init = true;
	p->buckets = calloc(p->nbuckets, sizeof *p->buckets);
	p->workers = calloc(lim->threads, sizeof *p->workers);
	if (p->buckets == NULL || p->workers == NULL) {
		pool_destroy(p);
		return -ENOMEM;
	}
	for (i = 0; i < lim->threads; i++) {
		p->workers[i].pool = p;
		if (sem_init(&p->workers[i].sem, 0, 0) < 0) {
			r = -errno;
			/* Only the first i were initialised. */
			for (unsigned k = 0; k < i; k++)
				sem_destroy(&p->workers[k].sem);
			free(p->workers);
			p->workers = NULL;
			pool_destroy(p);
			return r;
		}
	}
	p->ev = event_new(base, -1, 0, pool_done_cb, p);
	if (lim->defer_wake)
		p->kick = event_new(base, -1, 0, pool_kick_cb, p);
	if (p->ev == NULL || (lim->defer_wake && p->kick == NULL)) {
		pool_destroy(p);
		return -ENOMEM;
	}
	if ((r = pool_start_min(p)) < 0) {
		pool_destroy(p);
		return r;
	}
	*out = p;
	return 0;
}

/* Queue a job: 0, -EAGAIN when a queue bound is reached, -ESHUTDOWN after
 * pool_shutdown(), -ENOMEM, or -EINVAL without a work function.  The job
 * must not be in the pool already (its pool fields need no set-up). */
int
pool_submit(struct pool *p, struct pool_job *job)
{
	struct pool_act act = { NULL, NULL };
	struct pool_dev *d;
	bool kick = false;
	int r = 0;

	if (job->work == NULL)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	if (p->shut) {
		r = -ESHUTDOWN;
		goto out;
	}
	if (p->waiting >= p->lim.queue_max) {
		r = -EAGAIN;
		goto out;
	}
	if ((d = pool_dev_find(p, job->devkey)) == NULL) {
		if ((d = pool_dev_add(p, job->devkey)) == NULL) {
			r = -ENOMEM;
			goto out;
		}
	} else if (d->nwait >= p->lim.dev_queue_max) {
		r = -EAGAIN;
		goto out;
	}
	job->state = POOL_JOB_QUEUED;
	job->dq = d;
	TAILQ_INSERT_TAIL(&d->waiting, job, entry);
	d->nwait++;
	p->waiting++;
	pool_dev_update_ready(p, d);
	if (!p->lim.defer_wake)
		act = pool_wake(p);
	else if (!p->kicking && pool_wake_needed(p))
		kick = p->kicking = true;
out:
	pthread_mutex_unlock(&p->lock);
	pool_act_run(p, act);
	if (kick)
		event_active(p->kick, EV_READ, 0);
	return r;
}

/* Remove a job that has not started: 0, or -EBUSY if it is running or
 * finished (its completion will come).  A job not in the pool: -ENOENT. */
int
pool_cancel(struct pool *p, struct pool_job *job)
{
	struct pool_dev *d;
	int r = 0;

	pthread_mutex_lock(&p->lock);
	switch (job->state) {
	case POOL_JOB_QUEUED:
		d = job->dq;
		TAILQ_REMOVE(&d->waiting, job, entry);
		d->nwait--;
		p->waiting--;
		job->state = POOL_JOB_IDLE;
		job->dq = NULL;
		if (d->running == 0 && d->nwait == 0)
			pool_dev_drop(p, d);
		else
			pool_dev_update_ready(p, d);
		break;
	case POOL_JOB_RUNNING:
	case POOL_JOB_DONE:
		r = -EBUSY;
		break;
	default:
		r = -ENOENT;
		break;
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

/* Fill counters. Loop thread only. */
void
pool_get_stats(struct pool *p, struct pool_stats *st)
{
	memset(st, 0, sizeof *st);
	pthread_mutex_lock(&p->lock);
	st->running = p->running;
	st->queued = p->waiting;
	st->devices = p->ndevs;
	st->workers = p->nthreads;
	st->idle = p->nidle;
	st->started = p->started;
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_lock(&p->dlock);
	st->completed = p->completed;
	pthread_mutex_unlock(&p->dlock);
}

/* Whether a is busier than b: more running + queued, ties by smaller key. */
static bool
pool_busier(const struct pool_dev_stats *a, const struct pool_dev_stats *b)
{
	unsigned la = a->running + a->queued, lb = b->running + b->queued;

	return la != lb ? la > lb : a->devkey < b->devkey;
}

/* Fill out with up to n of the busiest keys, busiest first: the number
 * filled.  Insertion into the sorted array, under the queue lock. */
unsigned
pool_get_busiest(struct pool *p, struct pool_dev_stats *out, unsigned n)
{
	struct pool_dev_stats e;
	struct pool_dev *d;
	unsigned i, j, cnt = 0;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->nbuckets && n > 0; i++) {
		for (d = p->buckets[i]; d != NULL; d = d->hnext) {
			e.devkey = d->key;
			e.running = d->running;
			e.queued = d->nwait;
			if (cnt == n && !pool_busier(&e, &out[n - 1]))
				continue;
			j = cnt < n ? cnt++ : n - 1;
			for (; j > 0 && pool_busier(&e, &out[j - 1]); j--)
				out[j] = out[j - 1];
			out[j] = e;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return cnt;
}

/* Stop accepting jobs; queued and running jobs still complete. */
void
pool_shutdown(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->shut = true;
	pthread_mutex_unlock(&p->lock);
}

/* Stop the workers and free the pool.  Queued jobs and finished jobs not
 * yet delivered are dropped without completion (their state is reset, the
 * memory is the caller's).  Call on the loop thread, never from done(),
 * and only when no job is running: a running job would be waited for. */
void
pool_free(struct pool *p)
{
	struct pool_dev *d;
	struct pool_job *job;
	unsigned i;

	if (p == NULL)
		return;
	pool_join(p);
	for (i = 0; i < p->nbuckets; i++) {
		while ((d = p->buckets[i]) != NULL) {
			p->buckets[i] = d->hnext;
			while ((job = TAILQ_FIRST(&d->waiting)) != NULL) {
				TAILQ_REMOVE(&d->waiting, job, entry);
				job->state = POOL_JOB_IDLE;
				job->dq = NULL;
			}
			free(d);
		}
	}
	while ((job = TAILQ_FIRST(&p->done_list)) != NULL) {
		TAILQ_REMOVE(&p->done_list, job, entry);
		job->state = POOL_JOB_IDLE;
	}
	pool_destroy(p);
}
