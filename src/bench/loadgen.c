/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The load threads: each owns a slice of the connections, one epoll set
 * and its own counters, and speaks the helper protocol with one command in
 * flight per connection, as QEMU does.
 *
 * Per command a thread makes one sendmsg (the CDB with the device fd as
 * SCM_RIGHTS, and for PR OUT the parameter list in the same call), one
 * readv when the reply arrives, and its share of an epoll_pwait2.  The
 * socket stays registered for EPOLLIN for its whole life; EPOLLOUT is only
 * armed after a short send.  Nothing is allocated after the start.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "prh/client.h"
#include "bench.h"
#include "lg.h"

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * BENCH_NSEC + (uint64_t)ts.tv_nsec;
}

/* Allocate the run and its threads; no connection is made yet. */
int
bench_run_new(const struct bench_opts *o, struct bench_run **out)
{
	struct bench_run *r;
	unsigned i, j, sum = 0, first;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->o = o;
	r->sun.sun_family = AF_UNIX;
	if (strlen(o->socket) >= sizeof(r->sun.sun_path)) {
		free(r);
		return -ENAMETOOLONG;
	}
	strcpy(r->sun.sun_path, o->socket);
	r->single = -1;
	for (i = 0; i < BENCH_OP_COUNT; i++) {
		sum += o->weights[i];
		r->cum[i] = sum;
		if (o->weights[i] == sum && sum != 0)
			r->single = (int)i;
		else if (o->weights[i] != 0)
			r->single = -1;
	}
	r->nth = o->threads;
	r->th = calloc(r->nth, sizeof(*r->th));
	if (r->th == NULL) {
		free(r);
		return -ENOMEM;
	}
	for (i = 0; i < r->nth; i++) {
		struct lg_thread *t = &r->th[i];

		t->run = r;
		t->index = i;
		t->ep = -1;
		t->rng = 0x9e3779b97f4a7c15ULL * (i + 1);
		first = (unsigned)((uint64_t)o->conns * i / r->nth);
		t->nconns = (unsigned)((uint64_t)o->conns * (i + 1) / r->nth) -
		    first;
		t->conns = calloc(t->nconns, sizeof(*t->conns));
		t->idle = calloc(t->nconns, sizeof(*t->idle));
		if (t->conns == NULL || t->idle == NULL)
			goto fail;
		for (j = 0; j < t->nconns; j++) {
			t->conns[j].fd = -1;
			t->conns[j].dev = (uint8_t)((first + j) % o->ndev);
		}
		for (j = 0; j < o->ndev; j++)
			hist_init(&t->st.dev[j].hist);
		t->ep = epoll_create1(EPOLL_CLOEXEC);
		if (t->ep < 0)
			goto fail;
	}
	*out = r;
	return 0;
fail:
	bench_run_free(r);
	return -ENOMEM;
}

/* Close every socket and free the run. */
void
bench_run_free(struct bench_run *r)
{
	unsigned i, j;

	if (r == NULL)
		return;
	for (i = 0; i < r->nth; i++) {
		struct lg_thread *t = &r->th[i];

		for (j = 0; t->conns != NULL && j < t->nconns; j++)
			if (t->conns[j].fd >= 0)
				close(t->conns[j].fd);
		if (t->ep >= 0)
			close(t->ep);
		free(t->conns);
		free(t->idle);
	}
	free(r->th);
	free(r);
}

/* Wait for events until deadline (absolute ns, 0: no wait). */
int
lg_wait(struct lg_thread *t, struct epoll_event *ev, uint64_t deadline)
{
	struct timespec ts;
	uint64_t now, d = 0;
	int n;

	if (deadline != 0) {
		now = bench_now();
		d = deadline > now ? deadline - now : 0;
		if (d > LG_SLICE_NS)
			d = LG_SLICE_NS;
	}
	ts.tv_sec = (time_t)(d / BENCH_NSEC);
	ts.tv_nsec = (long)(d % BENCH_NSEC);
	n = epoll_pwait2(t->ep, ev, LG_EVENTS, &ts, NULL);
	if (n < 0 && errno == ENOSYS)
		n = epoll_wait(t->ep, ev, LG_EVENTS,
		    (int)((d + 999999) / 1000000));
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return n;
}

/* Mark c dead and close it; count why (transport error kind). */
void
lg_lose(struct lg_thread *t, struct lg_conn *c, enum bench_err why)
{
	if (c->state == LG_WAITING || c->state == LG_SENDING)
		t->inflight--;
	t->st.errors[why]++;
	t->st.conn_lost++;
	t->live--;
	atomic_store_explicit(&t->prog_errors, t->st.conn_lost,
	    memory_order_relaxed);
	close(c->fd);
	c->fd = -1;
	c->state = LG_DEAD;
}

/* Classify a failed send or read errno. */
enum bench_err
lg_err_kind(int err, enum bench_err dflt)
{
	if (err == ECONNRESET || err == EPIPE)
		return BENCH_ERR_RESET;
	return dflt;
}

/* Thread entry of the connect phase. */
static void *
lg_connect_main(void *arg)
{
	struct lg_thread *t = arg;

	lg_connect_phase(t);
	return NULL;
}

/* Connect every connection (each thread its slice, in parallel) and do
 * the handshakes.  Failures are counted, not returned: 0 or -errno when a
 * thread cannot be started. */
int
bench_run_connect(struct bench_run *r)
{
	unsigned i;
	int rc;

	if (r->nth == 1) {
		lg_connect_phase(&r->th[0]);
		return 0;
	}
	for (i = 0; i < r->nth; i++) {
		rc = pthread_create(&r->th[i].tid, NULL, lg_connect_main,
		    &r->th[i]);
		if (rc != 0) {
			while (i-- > 0)
				pthread_join(r->th[i].tid, NULL);
			return -rc;
		}
	}
	for (i = 0; i < r->nth; i++)
		pthread_join(r->th[i].tid, NULL);
	return 0;
}

/* Start the load threads at t0 (ns): 0 or -errno. */
int
bench_run_load(struct bench_run *r, uint64_t t0)
{
	const struct bench_opts *o = r->o;
	unsigned i;
	int rc;

	for (i = 0; i < r->nth; i++) {
		struct lg_thread *t = &r->th[i];

		t->t0 = t0;
		t->t_meas = t0 + (uint64_t)(o->warmup * BENCH_NSEC);
		t->t_end = o->count != 0
		    ? 0
		    : t->t_meas + (uint64_t)(o->duration * BENCH_NSEC);
		t->to_issue = o->count / r->nth +
		    (i < o->count % r->nth ? 1 : 0);
		if (o->rate > 0)
			t->interval = (uint64_t)((double)BENCH_NSEC * r->nth /
			    o->rate);
		if (t->interval == 0 && o->rate > 0)
			t->interval = 1;
		rc = pthread_create(&t->tid, NULL, lg_load_main, t);
		if (rc != 0) {
			while (i-- > 0) {
				atomic_store(&r->th[i].stop_now, 1);
				pthread_join(r->th[i].tid, NULL);
			}
			return -rc;
		}
	}
	return 0;
}

/* Totals for the progress line, read while the threads run. */
void
bench_run_progress(const struct bench_run *r, uint64_t *answered,
    uint64_t *inflight, uint64_t *errors)
{
	unsigned i;

	*answered = *inflight = *errors = 0;
	for (i = 0; i < r->nth; i++) {
		*answered += atomic_load_explicit(&r->th[i].prog_answered,
		    memory_order_relaxed);
		*inflight += atomic_load_explicit(&r->th[i].prog_inflight,
		    memory_order_relaxed);
		*errors += atomic_load_explicit(&r->th[i].prog_errors,
		    memory_order_relaxed);
	}
}

/* Whether every load thread has finished. */
int
bench_run_done(const struct bench_run *r)
{
	unsigned i;

	for (i = 0; i < r->nth; i++)
		if (!atomic_load(&r->th[i].done))
			return 0;
	return 1;
}

/* Join the load threads. */
void
bench_run_wait(struct bench_run *r)
{
	unsigned i;

	for (i = 0; i < r->nth; i++)
		pthread_join(r->th[i].tid, NULL);
}

/* Add one thread's counters to st. */
static void
lg_stats_add(struct bench_stats *st, const struct bench_stats *s, unsigned ndev)
{
	unsigned i, j;

	st->sent += s->sent;
	st->answered += s->answered;
	st->recorded += s->recorded;
	st->unanswered += s->unanswered;
	st->dropped += s->dropped;
	if (s->backlog_max > st->backlog_max)
		st->backlog_max = s->backlog_max;
	st->connected += s->connected;
	st->conn_lost += s->conn_lost;
	for (i = 0; i < BENCH_ERR_COUNT; i++)
		st->errors[i] += s->errors[i];
	for (i = 0; i < BENCH_CONN_REASONS; i++)
		st->conn_fail[i] += s->conn_fail[i];
	for (i = 0; i < 256; i++)
		for (j = 0; j < BENCH_SK_SLOTS; j++)
			st->status[i][j] += s->status[i][j];
	if (s->t_last > st->t_last)
		st->t_last = s->t_last;
	for (i = 0; i < ndev; i++) {
		st->dev[i].answered += s->dev[i].answered;
		hist_merge(&st->dev[i].hist, &s->dev[i].hist);
	}
}

/* Merge the counters of every thread into st. */
void
bench_run_stats(const struct bench_run *r, struct bench_stats *st)
{
	unsigned i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < r->o->ndev; i++)
		hist_init(&st->dev[i].hist);
	for (i = 0; i < r->nth; i++)
		lg_stats_add(st, &r->th[i].st, r->o->ndev);
}

/* Ask every thread to abandon the run (on SIGINT). */
void
bench_run_stop(struct bench_run *r)
{
	unsigned i;

	for (i = 0; i < r->nth; i++)
		atomic_store(&r->th[i].stop_now, 1);
}
