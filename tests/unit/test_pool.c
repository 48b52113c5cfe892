/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tests of the worker pool: real threads, a real event base, and work
 * functions that block on a gate the test opens, so nothing depends on
 * timing.  Every wait is bounded and fails the test when it runs out. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "prh/pool.h"

#define WAIT_SECS 30 /* safety bound on every wait */
#define NKEYS	  97

/* A test job; the pool sees only the embedded pool_job. */
struct tjob {
	struct pool_job pj;
	unsigned id;
	int block;	  /* wait on the gate in work() */
	int track;	  /* count in the key-A concurrency gauge */
	atomic_int ran;	  /* work() calls */
	int delivered;	  /* done() calls (loop thread) */
	int sigs_blocked; /* work() saw SIGTERM etc. blocked */
	size_t stack;	  /* work()'s thread stack size */
	pid_t tid;	  /* thread that ran work() */
};

/* The gate blocking jobs wait on, and a count of jobs that started. */
static pthread_mutex_t gate_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;
static unsigned gate_started;

static atomic_int a_now, a_max; /* key-A jobs running / peak */
static atomic_int key_now[NKEYS], key_max[NKEYS];

static struct event_base *base;
static struct pool *pool;
static unsigned ndelivered; /* loop thread */
static int timed_out;
static int defer_wake;	      /* make_pool's defer_wake */
static unsigned pool_threads; /* make_pool's threads */
static void (*done_hook)(struct tjob *);

/* Get the test job around a pool job. */
static struct tjob *
tjob_of(struct pool_job *pj)
{
	return (struct tjob *)((char *)pj - offsetof(struct tjob, pj));
}

/* Raise *peak to at least v. */
static void
peak_update(atomic_int *peak, int v)
{
	int old = atomic_load(peak);

	while (v > old && !atomic_compare_exchange_weak(peak, &old, v))
		;
}

/* Absolute CLOCK_REALTIME deadline WAIT_SECS from now. */
static struct timespec
deadline(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_SECS;
	return ts;
}

/* Stack size of the calling thread, or 0 if unknown. */
static size_t
thread_stack_size(void)
{
	pthread_attr_t attr;
	size_t size = 0;

	if (pthread_getattr_np(pthread_self(), &attr) != 0)
		return 0;
	pthread_attr_getstacksize(&attr, &size);
	pthread_attr_destroy(&attr);
	return size;
}

/* Work function: record the signal mask, optionally block on the gate. */
static void
test_work(struct pool_job *pj)
{
	struct tjob *j = tjob_of(pj);
	sigset_t cur;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	j->tid = (pid_t)syscall(SYS_gettid);
	j->stack = thread_stack_size();
	j->sigs_blocked = sigismember(&cur, SIGTERM) == 1 &&
	    sigismember(&cur, SIGHUP) == 1 && sigismember(&cur, SIGINT) == 1 &&
	    sigismember(&cur, SIGUSR1) == 1;
	atomic_fetch_add(&j->ran, 1);
	if (j->track)
		peak_update(&a_max, atomic_fetch_add(&a_now, 1) + 1);
	if (j->block) {
		pthread_mutex_lock(&gate_mtx);
		gate_started++;
		pthread_cond_broadcast(&gate_cv);
		while (!gate_open)
			pthread_cond_wait(&gate_cv, &gate_mtx);
		pthread_mutex_unlock(&gate_mtx);
	}
	if (j->track)
		atomic_fetch_sub(&a_now, 1);
}

/* Work function of the bulk test: per-key concurrency gauge only. */
static void
bulk_work(struct pool_job *pj)
{
	struct tjob *j = tjob_of(pj);
	unsigned k = (unsigned)pj->devkey;

	atomic_fetch_add(&j->ran, 1);
	peak_update(&key_max[k], atomic_fetch_add(&key_now[k], 1) + 1);
	atomic_fetch_sub(&key_now[k], 1);
}

/* Wait (bounded) until n blocking jobs have started in total. */
static void
wait_started(unsigned n)
{
	struct timespec ts = deadline();
	int r = 0;

	pthread_mutex_lock(&gate_mtx);
	while (gate_started < n && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&gate_cv, &gate_mtx, &ts);
	pthread_mutex_unlock(&gate_mtx);
	cr_assert_geq(gate_started, n, "only %u of %u jobs started",
	    gate_started, n);
}

/* Let every blocked job finish. */
static void
open_gate(void)
{
	pthread_mutex_lock(&gate_mtx);
	gate_open = 1;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mtx);
}

/* Completion callback: count deliveries. */
static void
test_done(struct pool_job *pj, void *arg)
{
	struct tjob *j = tjob_of(pj);

	cr_assert_eq(arg, &ndelivered);
	j->delivered++;
	ndelivered++;
	if (done_hook != NULL)
		done_hook(j);
}

/* Safety timer: stop the loop and mark the test failed. */
static void
timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	timed_out = 1;
}

/* Run the loop until n completions in total were delivered (bounded). */
static void
run_until(unsigned n)
{
	struct timeval tv = { WAIT_SECS, 0 };
	struct event *to;

	to = evtimer_new(base, timeout_cb, NULL);
	cr_assert_not_null(to);
	evtimer_add(to, &tv);
	while (ndelivered < n && !timed_out)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(to);
	cr_assert_not(timed_out, "timed out with %u of %u completions",
	    ndelivered, n);
}

/* Run any callbacks that are ready now, without waiting. */
static void
run_pending(void)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
}

/* Fixture: threads on, then the event base. */
static void
setup(void)
{
	defer_wake = 0;
	cr_assert_eq(evthread_use_pthreads(), 0);
	base = event_base_new();
	cr_assert_not_null(base);
}

/* Fixture: free the pool (if any) and the base. */
static void
teardown(void)
{
	open_gate();
	pool_free(pool);
	pool = NULL;
	event_base_free(base);
}

/* Create the test pool with the given limits. */
static void
make_pool(unsigned threads, unsigned per_dev, unsigned qmax, unsigned dqmax)
{
	struct pool_limits lim = { threads, per_dev, qmax, dqmax, defer_wake, 0,
		0 };

	pool_threads = threads;
	cr_assert_eq(pool_new(base, &lim, test_done, &ndelivered, &pool), 0);
	cr_assert_not_null(pool);
}

/* Allocate n zeroed jobs with ids and the given key. */
static struct tjob *
jobs_new(unsigned n, uint64_t key, int block)
{
	struct tjob *j = calloc(n, sizeof *j);
	unsigned i;

	cr_assert_not_null(j);
	for (i = 0; i < n; i++) {
		j[i].id = i;
		j[i].block = block;
		j[i].pj.devkey = key;
		j[i].pj.work = test_work;
	}
	return j;
}

/* Check the pool's counters. */
static void
expect_stats(unsigned running, unsigned queued, unsigned devices,
    uint64_t completed)
{
	struct pool_stats st;

	pool_get_stats(pool, &st);
	cr_expect_eq(st.running, running, "running %u, want %u", st.running,
	    running);
	cr_expect_eq(st.queued, queued, "queued %u, want %u", st.queued,
	    queued);
	cr_expect_eq(st.devices, devices, "devices %u, want %u", st.devices,
	    devices);
	cr_expect_eq(st.completed, completed, "completed %llu, want %llu",
	    (unsigned long long)st.completed, (unsigned long long)completed);
}

TestSuite(pool, .init = setup, .fini = teardown, .timeout = 120);

/* Bulk test state: jobs submitted so far, refilled from done(). */
#define BULK_N	 10000
#define BULK_BIG 100000
static struct tjob *bulk;
static unsigned bulk_n;
static unsigned bulk_next;

/* Submit bulk jobs until the pool pushes back. */
static void
bulk_fill(struct tjob *unused)
{
	int r;

	(void)unused;
	while (bulk_next < bulk_n) {
		r = pool_submit(pool, &bulk[bulk_next].pj);
		if (r == -EAGAIN)
			break;
		cr_assert_eq(r, 0, "submit: %d", r);
		bulk_next++;
	}
}

/* Run n bulk jobs over NKEYS keys through a pool of the given size, the
 * queue refilled from done(), and check each ran and was delivered once. */
static void
bulk_run(unsigned threads, unsigned per_dev, unsigned n)
{
	unsigned i, k;

	make_pool(threads, per_dev, 256, 8);
	bulk = calloc(n, sizeof *bulk);
	cr_assert_not_null(bulk);
	bulk_n = n;
	for (i = 0; i < n; i++) {
		bulk[i].id = i;
		bulk[i].pj.devkey = i % NKEYS;
		bulk[i].pj.work = bulk_work;
	}
	done_hook = bulk_fill;
	bulk_fill(NULL);
	cr_assert_gt(bulk_next, 0);
	run_until(n);
	run_pending();

	cr_assert_eq(ndelivered, n);
	for (i = 0; i < n; i++) {
		cr_assert_eq(atomic_load(&bulk[i].ran), 1, "job %u ran %d", i,
		    atomic_load(&bulk[i].ran));
		cr_assert_eq(bulk[i].delivered, 1, "job %u delivered %d", i,
		    bulk[i].delivered);
	}
	for (k = 0; k < NKEYS; k++)
		cr_assert_leq(atomic_load(&key_max[k]), (int)per_dev,
		    "key %u had %d jobs running at once", k,
		    atomic_load(&key_max[k]));
	expect_stats(0, 0, 0, n);
	done_hook = NULL;
	pool_free(pool);
	pool = NULL;
	free(bulk);
}

Test(pool, every_job_completes_exactly_once)
{
	bulk_run(4, 2, BULK_N);
}

Test(pool, every_job_completes_exactly_once_one_worker)
{
	bulk_run(1, 1, BULK_BIG);
}

Test(pool, every_job_completes_exactly_once_many_workers)
{
	bulk_run(64, 4, BULK_BIG);
}

/* Ids of this process's threads, into tids (at most max); the count. */
static unsigned
task_list(pid_t *tids, unsigned max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	unsigned n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && n < max)
			tids[n++] = (pid_t)atoi(e->d_name);
	closedir(d);
	return n;
}

/* Scheduler state letter of thread tid ('S' sleeping, 'R' running...). */
static char
task_state(pid_t tid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	cr_assert_not_null(p);
	return p[2];
}

/* Wait (bounded, polling: no event tells that a thread went to sleep)
 * until every worker of the pool is on its idle list, none woken (the
 * pool's idle count), and every thread in tids sleeps in the kernel. */
static void
wait_asleep(const pid_t *tids, unsigned n)
{
	struct timespec pause = { 0, 1000000 };
	struct pool_stats st;
	unsigned i = 0, tries;

	for (tries = 0; tries < WAIT_SECS * 1000; tries++) {
		pool_get_stats(pool, &st);
		if (st.idle == pool_threads) {
			for (i = 0; i < n; i++)
				if (task_state(tids[i]) != 'S')
					break;
			if (i == n)
				return;
		}
		nanosleep(&pause, NULL);
	}
	cr_assert_fail("workers never all went to sleep (idle %u of %u, "
		       "thread %d)",
	    st.idle, pool_threads, i < n ? (int)tids[i] : 0);
}

/* Start a pool of `threads` workers and find their thread ids (the
 * threads that appeared meanwhile). */
static unsigned
make_pool_find_workers(unsigned threads, pid_t *workers, unsigned max)
{
	pid_t before[256], after[256];
	unsigned nb, na, i, j, n = 0;

	nb = task_list(before, 256);
	make_pool(threads, 1, 64, 64);
	na = task_list(after, 256);
	for (i = 0; i < na; i++) {
		for (j = 0; j < nb && before[j] != after[i]; j++)
			;
		if (j == nb && n < max)
			workers[n++] = after[i];
	}
	/* More when a sanitizer runtime starts a thread of its own. */
	cr_assert_geq(n, threads, "found %u new threads for %u workers", n,
	    threads);
	return n;
}

/* Submit a job while every worker is asleep, several times over. */
static void
wake_sleeping(unsigned threads)
{
	struct tjob *j = jobs_new(8, 3, 0);
	pid_t workers[80];
	unsigned n, i;

	n = make_pool_find_workers(threads, workers, 80);
	for (i = 0; i < 8; i++) {
		wait_asleep(workers, n);
		expect_stats(0, 0, 0, i);
		j[i].pj.devkey = i % 3;
		cr_assert_eq(pool_submit(pool, &j[i].pj), 0);
		run_until(i + 1);
		cr_assert_eq(j[i].delivered, 1);
	}
	free(j);
}

Test(pool, job_submitted_while_all_workers_sleep_runs_one_worker)
{
	wake_sleeping(1);
}

Test(pool, job_submitted_while_all_workers_sleep_runs_many_workers)
{
	wake_sleeping(16);
}

/* One job at a time, each submitted as the workers go idle: a lost
 * wake-up at that boundary would leave a job waiting for ever. */
static void
one_at_a_time(void)
{
	struct tjob *j = jobs_new(1, 5, 0);
	unsigned i;

	make_pool(4, 1, 8, 8);
	for (i = 0; i < 20000; i++) {
		j[0].delivered = 0;
		cr_assert_eq(pool_submit(pool, &j[0].pj), 0);
		run_until(i + 1);
		cr_assert_eq(j[0].delivered, 1);
	}
	cr_assert_eq(atomic_load(&j[0].ran), 20000);
	free(j);
}

Test(pool, one_at_a_time_never_loses_a_wakeup)
{
	one_at_a_time();
}

Test(pool, one_at_a_time_never_loses_a_deferred_wakeup)
{
	defer_wake = 1;
	one_at_a_time();
}

/* With defer_wake, jobs submitted while every worker sleeps wait for the
 * loop: the kick event wakes a worker, which passes the wake-up on until
 * each blocking job has a worker of its own. */
Test(pool, deferred_wake_comes_from_the_loop)
{
	struct tjob *j = jobs_new(3, 0, 1);
	pid_t workers[32];
	unsigned n, i;

	defer_wake = 1;
	n = make_pool_find_workers(4, workers, 32);
	wait_asleep(workers, n);
	for (i = 0; i < 3; i++) {
		j[i].pj.devkey = 10 + i;
		cr_assert_eq(pool_submit(pool, &j[i].pj), 0);
	}
	/* Every worker sleeps and nothing woke one: all three wait. */
	expect_stats(0, 3, 3, 0);
	cr_assert_eq(atomic_load(&j[0].ran), 0);
	run_pending(); /* the kick */
	wait_started(3);
	expect_stats(3, 0, 3, 0);
	open_gate();
	run_until(3);
	for (i = 0; i < 3; i++)
		cr_assert_eq(j[i].delivered, 1);
	free(j);
}

/* The worker that went to sleep last is woken first, so one worker serves
 * a client that sends one command at a time. */
static void
last_asleep_first(void)
{
	struct tjob *j = jobs_new(6, 7, 0);
	pid_t workers[32];
	unsigned n, i;

	n = make_pool_find_workers(4, workers, 32);
	for (i = 0; i < 6; i++) {
		wait_asleep(workers, n);
		cr_assert_eq(pool_submit(pool, &j[i].pj), 0);
		run_until(i + 1);
		cr_assert_eq(j[i].tid, j[0].tid,
		    "job %u ran on thread %d, "
		    "job 0 on %d",
		    i, (int)j[i].tid, (int)j[0].tid);
	}
	free(j);
}

Test(pool, worker_asleep_last_is_woken_first)
{
	last_asleep_first();
}

Test(pool, worker_asleep_last_is_woken_first_deferred)
{
	defer_wake = 1;
	last_asleep_first();
}

/* Blocking jobs on distinct keys, submitted in a burst while every worker
 * sleeps, all start at once: the one wake-up the burst sends is passed from
 * worker to worker while runnable work remains.  Several rounds, since the
 * first worker may wake before the burst is all queued. */
Test(pool, blocking_jobs_fan_out_to_every_worker)
{
	struct tjob *j = jobs_new(4 * 16, 0, 1);
	pid_t workers[32];
	unsigned n, i, r;

	n = make_pool_find_workers(16, workers, 32);
	for (r = 0; r < 4; r++) {
		pthread_mutex_lock(&gate_mtx);
		gate_open = 0;
		pthread_mutex_unlock(&gate_mtx);
		wait_asleep(workers, n);
		for (i = r * 16; i < (r + 1) * 16; i++) {
			j[i].pj.devkey = 100 + i;
			cr_assert_eq(pool_submit(pool, &j[i].pj), 0);
		}
		wait_started((r + 1) * 16);
		expect_stats(16, 0, 16, r * 16);
		open_gate();
		run_until((r + 1) * 16);
	}
	for (i = 0; i < 4 * 16; i++)
		cr_assert_eq(j[i].delivered, 1);
	free(j);
}

Test(pool, per_device_cap_does_not_starve_other_devices)
{
	struct tjob *a = jobs_new(8, 0xA, 1);
	struct tjob *b = jobs_new(1, 0xB, 0);
	unsigned i;

	make_pool(4, 2, 64, 16);
	for (i = 0; i < 8; i++) {
		a[i].track = 1;
		cr_assert_eq(pool_submit(pool, &a[i].pj), 0);
	}
	wait_started(2);
	cr_assert_eq(pool_submit(pool, &b[0].pj), 0);
	run_until(1);
	cr_assert_eq(b[0].delivered, 1, "key B waited behind key A");

	/* Two workers are idle yet A's other six jobs still wait. */
	cr_assert_eq(gate_started, 2);
	cr_assert_leq(atomic_load(&a_max), 2);
	expect_stats(2, 6, 1, 1);

	open_gate();
	run_until(9);
	cr_assert_eq(atomic_load(&a_max), 2, "peak of A jobs: %d",
	    atomic_load(&a_max));
	for (i = 0; i < 8; i++)
		cr_assert_eq(a[i].delivered, 1);
	expect_stats(0, 0, 0, 9);
	free(a);
	free(b);
}

Test(pool, cancel_waiting_and_running_jobs)
{
	struct tjob *j = jobs_new(3, 1, 0);

	make_pool(1, 1, 8, 8);
	j[0].block = 1;
	cr_assert_eq(pool_submit(pool, &j[0].pj), 0);
	wait_started(1);
	cr_assert_eq(pool_submit(pool, &j[1].pj), 0);
	cr_assert_eq(pool_submit(pool, &j[2].pj), 0);
	expect_stats(1, 2, 1, 0);

	cr_assert_eq(pool_cancel(pool, &j[1].pj), 0);
	cr_assert_eq(pool_cancel(pool, &j[0].pj), -EBUSY);
	expect_stats(1, 1, 1, 0);

	/* One worker, FIFO per key: j[1] would have run before j[2]. */
	open_gate();
	run_until(2);
	run_pending();
	cr_assert_eq(j[0].delivered, 1);
	cr_assert_eq(j[2].delivered, 1);
	cr_assert_eq(j[1].delivered, 0, "a cancelled job completed");
	cr_assert_eq(atomic_load(&j[1].ran), 0, "a cancelled job ran");
	expect_stats(0, 0, 0, 2);

	/* A cancelled job can be submitted again and then completes. */
	cr_assert_eq(pool_submit(pool, &j[1].pj), 0);
	run_until(3);
	cr_assert_eq(j[1].delivered, 1);
	free(j);
}

Test(pool, cancel_finished_undelivered_job_is_busy)
{
	struct tjob *j = jobs_new(2, 1, 0);

	make_pool(1, 1, 8, 8);
	j[1].block = 1;
	cr_assert_eq(pool_submit(pool, &j[0].pj), 0);
	cr_assert_eq(pool_submit(pool, &j[1].pj), 0);
	/* The single worker started j[1], so j[0] is finished; the loop has
	 * not run, so it is not delivered yet. */
	wait_started(1);
	cr_assert_eq(atomic_load(&j[0].ran), 1);
	cr_assert_eq(j[0].delivered, 0);
	cr_assert_eq(pool_cancel(pool, &j[0].pj), -EBUSY);
	open_gate();
	run_until(2);
	run_pending();
	cr_assert_eq(j[0].delivered, 1);
	cr_assert_eq(j[1].delivered, 1);
	free(j);
}

/* Wait until n jobs' work returned, without running the loop. */
static void
wait_completed(uint64_t n)
{
	struct timespec end = deadline(), now;
	struct pool_stats st;

	do {
		pool_get_stats(pool, &st);
		clock_gettime(CLOCK_REALTIME, &now);
	} while (st.completed < n && now.tv_sec < end.tv_sec);
	cr_assert_geq(st.completed, n, "only %llu of %llu jobs completed",
	    (unsigned long long)st.completed, (unsigned long long)n);
}

/* Jobs that finish while the loop is away wait on the completion list,
 * and one pass of the loop delivers them all (the first one's activation
 * brings the whole list). */
Test(pool, completions_while_the_loop_is_away_come_back_in_one_pass)
{
	struct tjob *j = jobs_new(3, 0, 1);

	make_pool(3, 1, 8, 8);
	for (unsigned i = 0; i < 3; i++) {
		j[i].pj.devkey = 0x10 + i;
		cr_assert_eq(pool_submit(pool, &j[i].pj), 0);
	}
	wait_started(3);
	open_gate();
	wait_completed(3);
	cr_assert_eq(ndelivered, 0);
	run_pending();
	cr_assert_eq(ndelivered, 3);
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(j[i].delivered, 1);
	free(j);
}

/* pool_reap() delivers the finished jobs once: the activation still
 * pending finds nothing more. */
Test(pool, reap_delivers_finished_jobs_once)
{
	struct tjob *j = jobs_new(1, 1, 0);

	make_pool(1, 1, 8, 8);
	cr_assert_eq(pool_submit(pool, &j[0].pj), 0);
	wait_completed(1);
	pool_reap(pool);
	cr_assert_eq(j[0].delivered, 1);
	pool_reap(pool);
	run_pending();
	cr_assert_eq(j[0].delivered, 1);
	expect_stats(0, 0, 0, 1);
	free(j);
}

Test(pool, queue_bounds_give_eagain_until_jobs_complete)
{
	struct tjob *a = jobs_new(4, 0xA, 0);
	struct tjob *o = jobs_new(3, 0, 0);

	make_pool(1, 1, 4, 2);
	o[0].pj.devkey = 0xB;
	o[1].pj.devkey = 0xC;
	o[2].pj.devkey = 0xD;
	a[0].block = 1;
	cr_assert_eq(pool_submit(pool, &a[0].pj), 0);
	wait_started(1);
	cr_assert_eq(pool_submit(pool, &a[1].pj), 0);
	cr_assert_eq(pool_submit(pool, &a[2].pj), 0);
	cr_assert_eq(pool_submit(pool, &a[3].pj), -EAGAIN, "per-key bound");
	cr_assert_eq(pool_submit(pool, &o[0].pj), 0);
	cr_assert_eq(pool_submit(pool, &o[1].pj), 0);
	cr_assert_eq(pool_submit(pool, &o[2].pj), -EAGAIN, "total bound");
	expect_stats(1, 4, 3, 0);

	open_gate();
	run_until(5);
	cr_assert_eq(pool_submit(pool, &a[3].pj), 0);
	cr_assert_eq(pool_submit(pool, &o[2].pj), 0);
	run_until(7);
	run_pending();
	cr_assert_eq(a[3].delivered, 1);
	cr_assert_eq(o[2].delivered, 1);
	expect_stats(0, 0, 0, 7);
	free(a);
	free(o);
}

Test(pool, shutdown_refuses_new_jobs_and_completes_queued)
{
	struct tjob *j = jobs_new(4, 7, 0);

	make_pool(1, 1, 8, 8);
	j[0].block = 1;
	cr_assert_eq(pool_submit(pool, &j[0].pj), 0);
	wait_started(1);
	cr_assert_eq(pool_submit(pool, &j[1].pj), 0);
	cr_assert_eq(pool_submit(pool, &j[2].pj), 0);
	pool_shutdown(pool);
	cr_assert_eq(pool_submit(pool, &j[3].pj), -ESHUTDOWN);
	open_gate();
	run_until(3);
	run_pending();
	cr_assert_eq(j[1].delivered, 1);
	cr_assert_eq(j[2].delivered, 1);
	cr_assert_eq(j[3].delivered, 0);
	cr_assert_eq(atomic_load(&j[3].ran), 0);
	expect_stats(0, 0, 0, 3);
	cr_assert_eq(pool_submit(pool, &j[3].pj), -ESHUTDOWN);
	free(j);
}

Test(pool, free_with_idle_workers_returns)
{
	struct tjob *j = jobs_new(1, 1, 0);

	make_pool(8, 1, 8, 8);
	pool_free(pool); /* never used: workers all wait */
	pool = NULL;

	make_pool(8, 1, 8, 8);
	cr_assert_eq(pool_submit(pool, &j[0].pj), 0);
	run_until(1);
	pool_free(pool); /* used once, then idle */
	pool = NULL;
	free(j);
}

Test(pool, stats_count_running_queued_devices_completed)
{
	struct tjob *a = jobs_new(3, 1, 1);
	struct tjob *b = jobs_new(1, 2, 1);
	unsigned i;

	make_pool(2, 1, 8, 8);
	expect_stats(0, 0, 0, 0);
	for (i = 0; i < 3; i++)
		cr_assert_eq(pool_submit(pool, &a[i].pj), 0);
	cr_assert_eq(pool_submit(pool, &b[0].pj), 0);
	wait_started(2);
	expect_stats(2, 2, 2, 0);
	open_gate();
	run_until(4);
	expect_stats(0, 0, 0, 4);
	free(a);
	free(b);
}

/* Check one entry of a pool_get_busiest() answer. */
static void
expect_dev(const struct pool_dev_stats *d, uint64_t key, unsigned running,
    unsigned queued)
{
	cr_expect_eq(d->devkey, key, "key %llu, want %llu",
	    (unsigned long long)d->devkey, (unsigned long long)key);
	cr_expect_eq(d->running, running, "key %llu: running %u, want %u",
	    (unsigned long long)key, d->running, running);
	cr_expect_eq(d->queued, queued, "key %llu: queued %u, want %u",
	    (unsigned long long)key, d->queued, queued);
}

Test(pool, busiest_lists_keys_by_load)
{
	struct tjob *a = jobs_new(4, 5, 1);
	struct tjob *b = jobs_new(2, 9, 1);
	struct tjob *c = jobs_new(1, 2, 1);
	struct tjob *d = jobs_new(2, 7, 1);
	struct pool_dev_stats ds[POOL_BUSIEST_MAX + 1];
	unsigned i;

	make_pool(3, 1, 16, 8);
	cr_expect_eq(pool_get_busiest(pool, ds, POOL_BUSIEST_MAX), 0);
	for (i = 0; i < 4; i++)
		cr_assert_eq(pool_submit(pool, &a[i].pj), 0);
	for (i = 0; i < 2; i++)
		cr_assert_eq(pool_submit(pool, &b[i].pj), 0);
	cr_assert_eq(pool_submit(pool, &c[0].pj), 0);
	/* Every worker blocks on one job of keys 5, 9 and 2. */
	wait_started(3);
	for (i = 0; i < 2; i++)
		cr_assert_eq(pool_submit(pool, &d[i].pj), 0);
	/* Load 5: 4, 7: 2 (ties with 9, smaller key first), 9: 2, 2: 1. */
	memset(ds, 0xee, sizeof(ds));
	cr_assert_eq(pool_get_busiest(pool, ds, POOL_BUSIEST_MAX), 4);
	expect_dev(&ds[0], 5, 1, 3);
	expect_dev(&ds[1], 7, 0, 2);
	expect_dev(&ds[2], 9, 1, 1);
	expect_dev(&ds[3], 2, 1, 0);
	cr_expect_eq(ds[4].devkey, 0xeeeeeeeeeeeeeeeeULL, "wrote past 4");
	/* Fewer slots than keys: the busiest, nothing written beyond. */
	memset(ds, 0xee, sizeof(ds));
	cr_assert_eq(pool_get_busiest(pool, ds, 2), 2);
	expect_dev(&ds[0], 5, 1, 3);
	expect_dev(&ds[1], 7, 0, 2);
	cr_expect_eq(ds[2].devkey, 0xeeeeeeeeeeeeeeeeULL, "wrote past 2");
	cr_expect_eq(pool_get_busiest(pool, ds, 0), 0);
	open_gate();
	run_until(9);
	cr_expect_eq(pool_get_busiest(pool, ds, POOL_BUSIEST_MAX), 0);
	free(a);
	free(b);
	free(c);
	free(d);
}

Test(pool, workers_block_signals_have_small_stacks_caller_mask_kept)
{
	struct tjob *j = jobs_new(4, 0, 0);
	sigset_t before, after;
	unsigned i;
	int sig;

	sigemptyset(&before);
	sigemptyset(&after);
	pthread_sigmask(SIG_BLOCK, NULL, &before);
	cr_assert_eq(sigismember(&before, SIGTERM), 0);
	make_pool(4, 4, 8, 8);
	pthread_sigmask(SIG_BLOCK, NULL, &after);
	for (sig = 1; sig < SIGRTMIN; sig++)
		cr_assert_eq(sigismember(&before, sig),
		    sigismember(&after, sig),
		    "pool_new changed the caller's mask of signal %d", sig);
	for (i = 0; i < 4; i++) {
		j[i].pj.devkey = i;
		cr_assert_eq(pool_submit(pool, &j[i].pj), 0);
	}
	run_until(4);
	for (i = 0; i < 4; i++) {
		cr_assert(j[i].sigs_blocked, "job %u ran with signals open", i);
		/* Small stacks, so that many workers cost little. */
		cr_assert_leq(j[i].stack, 256 * 1024, "job %u: %zu-byte stack",
		    i, j[i].stack);
		cr_assert_geq(j[i].stack, 64 * 1024);
	}
	free(j);
}

Test(pool, bad_limits_are_refused)
{
	struct pool_limits lim = { 0, 1, 1, 1, 0, 0, 0 };
	struct pool *p = (struct pool *)&lim;

	cr_assert_eq(pool_new(base, &lim, test_done, NULL, &p), -EINVAL);
	cr_assert_null(p);
	lim.threads = 1;
	lim.max_per_device = 0;
	cr_assert_eq(pool_new(base, &lim, test_done, NULL, &p), -EINVAL);
}
