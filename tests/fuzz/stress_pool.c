/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Stress driver for the worker pool, written to run under ThreadSanitizer
 * (where Criterion cannot start) as well as in make check.
 *
 * A fixed set of jobs cycles through the pool from the loop thread: each
 * completion resubmits its job under another device key, jobs refused by
 * the queue bounds retry later, and some queued jobs are cancelled.  The
 * work function writes into its job and checks the per-device cap.
 * Reported as TAP: every submitted job is delivered exactly once unless
 * cancelled, a cancelled job never runs, the cap holds, the bounds were
 * reached, and nothing is lost at shutdown.
 * Usage: stress_pool [completions [defer]]   (defaults 20000 and 1: the
 * daemon's deferred wake-up; 0 wakes workers from pool_submit itself)
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "prh/pool.h"

#define SP_JOBS	      64 /* jobs cycling through the pool */
#define SP_KEYS	      5	 /* device keys */
#define SP_THREADS    4
#define SP_PER_DEV    2
#define SP_DEADLINE_S 120 /* a run taking longer is a hang */

/* Where a job is; loop thread only. */
enum sp_state {
	SP_IDLE,
	SP_SUBMITTED
};

/* One job: the pool's handle, then what the test tracks. */
struct sp_job {
	struct pool_job pj;  /* first */
	enum sp_state state; /* loop thread */
	unsigned key;
	unsigned seq;		/* submissions of this job */
	unsigned cancelled_seq; /* seq when last cancelled */
	unsigned out;		/* written by the worker */
	atomic_uint ran_seq;	/* seq the worker last ran */
};

static struct sp_job jobs[SP_JOBS];
static struct pool *pool;
static struct event_base *base;
static atomic_int running[SP_KEYS]; /* jobs on workers, per key */
static atomic_int cap_broken;	    /* per-device cap exceeded */
static bool cancelled_ran;	    /* a cancelled job ran */
static unsigned target, completed, cancelled, refused, twice;
static unsigned submitted, rng = 12345;
static bool timed_out;

/* Small deterministic generator (loop thread). */
static unsigned
sp_rand(void)
{
	rng = rng * 1103515245u + 12345u;
	return rng >> 16;
}

/* Worker: check the cap, do a little work, write the result. */
static void
sp_work(struct pool_job *pj)
{
	struct sp_job *j = (struct sp_job *)pj;
	int n;

	atomic_store(&j->ran_seq, j->seq);
	n = atomic_fetch_add(&running[j->key], 1) + 1;
	if (n > SP_PER_DEV)
		atomic_store(&cap_broken, 1);
	for (int i = 0; i < (int)(j->seq % 4); i++)
		sched_yield();
	j->out = j->seq * 2 + 1;
	atomic_fetch_sub(&running[j->key], 1);
}

/* Submit a job under a fresh key; an idle job that is refused stays idle. */
static void
sp_submit(struct sp_job *j)
{
	int r;

	if (j->seq > 0 && j->cancelled_seq == j->seq &&
	    atomic_load(&j->ran_seq) == j->seq)
		cancelled_ran = true;
	j->key = sp_rand() % SP_KEYS;
	j->pj.devkey = j->key;
	j->pj.work = sp_work;
	j->seq++;
	j->state = SP_SUBMITTED;
	r = pool_submit(pool, &j->pj);
	if (r == -EAGAIN) {
		j->state = SP_IDLE;
		refused++;
		return;
	}
	if (r < 0) {
		fprintf(stderr, "pool_submit: %s\n", strerror(-r));
		j->state = SP_IDLE;
		event_base_loopbreak(base);
		return;
	}
	submitted++;
}

/* Submit every idle job while work remains. */
static void
sp_fill(void)
{
	for (int i = 0; i < SP_JOBS && completed + cancelled < target; i++)
		if (jobs[i].state == SP_IDLE)
			sp_submit(&jobs[i]);
}

/* Whether any job is still with the pool. */
static bool
sp_busy(void)
{
	for (int i = 0; i < SP_JOBS; i++)
		if (jobs[i].state == SP_SUBMITTED)
			return true;
	return false;
}

/* Completion: check and recycle the job; sometimes cancel another. */
static void
sp_done(struct pool_job *pj, void *arg)
{
	struct sp_job *j = (struct sp_job *)pj, *v;

	(void)arg;
	if (j->state != SP_SUBMITTED || j->out != j->seq * 2 + 1)
		twice++;
	j->state = SP_IDLE;
	completed++;
	if (sp_rand() % 4 == 0) {
		v = &jobs[sp_rand() % SP_JOBS];
		if (v->state == SP_SUBMITTED &&
		    pool_cancel(pool, &v->pj) == 0) {
			v->cancelled_seq = v->seq;
			cancelled++;
			v->state = SP_IDLE;
		}
	}
	sp_fill();
	if (completed + cancelled >= target && !sp_busy())
		event_base_loopbreak(base);
}

/* The whole run took too long. */
static void
sp_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	timed_out = true;
	event_base_loopbreak(base);
}

/* Print one TAP line; count failures. */
static void
sp_tap(int *n, int *failed, bool ok, const char *what)
{
	printf("%s %d - %s\n", ok ? "ok" : "not ok", ++*n, what);
	if (!ok)
		(*failed)++;
}

/* Run the stress loop and report. */
int
main(int argc, char **argv)
{
	struct pool_limits lim = {
		.threads = SP_THREADS,
		.max_per_device = SP_PER_DEV,
		.queue_max = 16,
		.dev_queue_max = 4,
	};
	struct timeval tv = { SP_DEADLINE_S, 0 };
	struct pool_stats st;
	struct event *deadline;
	int n = 0, failed = 0, r;

	target = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 20000;
	lim.defer_wake = argc > 2 ? atoi(argv[2]) != 0 : 1;
	if (evthread_use_pthreads() < 0 || (base = event_base_new()) == NULL)
		return 1;
	r = pool_new(base, &lim, sp_done, NULL, &pool);
	if (r < 0) {
		printf("Bail out! pool_new: %s\n", strerror(-r));
		return 1;
	}
	deadline = evtimer_new(base, sp_deadline, NULL);
	event_add(deadline, &tv);
	sp_fill();
	event_base_dispatch(base);

	pool_get_stats(pool, &st);
	for (int i = 0; i < SP_JOBS; i++)
		if (jobs[i].seq > 0 && jobs[i].cancelled_seq == jobs[i].seq &&
		    atomic_load(&jobs[i].ran_seq) == jobs[i].seq)
			cancelled_ran = true;
	sp_tap(&n, &failed, !timed_out, "finished before the deadline");
	sp_tap(&n, &failed, completed + cancelled >= target,
	    "every job accounted for");
	sp_tap(&n, &failed, twice == 0,
	    "each submission delivered once, "
	    "after its work");
	sp_tap(&n, &failed, submitted == completed + cancelled,
	    "submitted = delivered + cancelled");
	sp_tap(&n, &failed, !cancelled_ran, "a cancelled job never runs");
	sp_tap(&n, &failed, !atomic_load(&cap_broken), "per-device cap held");
	sp_tap(&n, &failed, refused > 0, "queue bounds were reached");
	sp_tap(&n, &failed, st.running == 0 && st.queued == 0,
	    "pool empty at the end");
	printf("# %u completed, %u cancelled, %u refused, %s wake-up\n",
	    completed, cancelled, refused,
	    lim.defer_wake ? "deferred" : "immediate");
	pool_shutdown(pool);
	pool_free(pool);
	event_free(deadline);
	event_base_free(base);
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
