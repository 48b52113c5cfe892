/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Dispatch: commands to the worker pool and back (see dispatch.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>

#include "prh/closer.h"
#include "prh/device.h"
#include "prh/dispatch.h"
#include "prh/trace.h"

/* Parked commands retried per command that comes back. */
#define RESUME_BATCH 8
/* Command buffers kept for reuse beyond those in flight. */
#define FREE_KEEP    64
/* Buckets of the table of devices with commands in flight. */
#define DEV_BUCKETS  64

/* A device with commands in flight: those, in submit order, so the
 * first is the oldest (a hung LUN's command stays there). */
struct dispatch_dev {
	const struct device *dev;
	struct dispatch_dev *next; /* hash chain */
	TAILQ_HEAD(, cmd) cmds;
	unsigned n;
};

/* The dispatcher.  Loop thread only. */
struct dispatch {
	struct pool *pool;
	struct device_registry *devices;
	struct closer *closer;	  /* closes client fds for the loop */
	TAILQ_HEAD(, cmd) parked; /* waiting for queue room, oldest first */
	unsigned nparked;
	unsigned outstanding; /* submitted, not yet back */
	void (*idle)(
	    void *); /* set at shutdown: nothing outstanding any more */
	void *idle_arg;
	struct cmd *free_cmds; /* recycled buffers */
	unsigned nfree;
	struct dispatch_dev *devs[DEV_BUCKETS]; /* with commands in flight */
};

/* A command buffer, recycled if possible. */
struct cmd *
dispatch_cmd_new(struct dispatch *d)
{
	struct cmd *cmd = d->free_cmds;

	if (cmd != NULL) {
		d->free_cmds = cmd->next_free;
		d->nfree--;
	} else if ((cmd = malloc(sizeof(*cmd))) == NULL) {
		return NULL;
	}
	/* The data buffer is left as it is: PR OUT overwrites what it
	 * sends and sgio clears what a PR IN reply can carry. */
	memset(cmd, 0, offsetof(struct cmd, data));
	cmd->devfd = -1;
	return cmd;
}

/* The table entry of dev, through the link that points to it. */
static struct dispatch_dev **
dispatch_dev_link(const struct dispatch *d, const struct device *dev)
{
	uint64_t x = (uint64_t)(uintptr_t)dev * 0x9e3779b97f4a7c15ull;
	struct dispatch_dev *const *p = &d->devs[(x >> 58) % DEV_BUCKETS];

	while (*p != NULL && (*p)->dev != dev)
		p = &(*p)->next;
	return (struct dispatch_dev **)p;
}

/* Put a command on its device's list of those in flight: 0 or
 * -ENOMEM. */
static int
dispatch_track(struct dispatch *d, struct cmd *cmd)
{
	struct dispatch_dev **p = dispatch_dev_link(d, cmd->dev), *e = *p;

	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return -ENOMEM;
		e->dev = cmd->dev;
		TAILQ_INIT(&e->cmds);
		*p = e;
	}
	cmd->submit_ns = trace_now_ns();
	TAILQ_INSERT_TAIL(&e->cmds, cmd, dev_link);
	e->n++;
	cmd->on_dev = true;
	return 0;
}

/* Take a command off its device's list of those in flight. */
static void
dispatch_untrack(struct dispatch *d, struct cmd *cmd)
{
	struct dispatch_dev **p, *e;

	if (!cmd->on_dev)
		return;
	p = dispatch_dev_link(d, cmd->dev);
	e = *p;
	TAILQ_REMOVE(&e->cmds, cmd, dev_link);
	cmd->on_dev = false;
	if (--e->n == 0) {
		*p = e->next;
		free(e);
	}
}

/* Commands of dev in flight. */
unsigned
dispatch_inflight(const struct dispatch *d, const struct device *dev)
{
	const struct dispatch_dev *e = *dispatch_dev_link(d, dev);

	return e != NULL ? e->n : 0;
}

/* When the oldest command of dev in flight was submitted, or 0. */
uint64_t
dispatch_oldest_ns(const struct dispatch *d, const struct device *dev)
{
	const struct dispatch_dev *e = *dispatch_dev_link(d, dev);

	return e != NULL ? TAILQ_FIRST(&e->cmds)->submit_ns : 0;
}

/* Give back a command that is not in flight. */
void
dispatch_cmd_free(struct dispatch *d, struct cmd *cmd)
{
	dispatch_untrack(d, cmd);
	cmd_close_devfd(cmd, d->closer);
	if (cmd->dev != NULL)
		devreg_put(d->devices, cmd->dev);
	if (d->nfree >= FREE_KEEP) {
		free(cmd);
		return;
	}
	cmd->next_free = d->free_cmds;
	d->free_cmds = cmd;
	d->nfree++;
}

/* A command is back from the pool (or never reached it): one fewer
 * outstanding and in flight, and off its device's list; tell a drain
 * when it was the last. */
static void
dispatch_back(struct dispatch *d, struct cmd *cmd)
{
	STATS_DEC(cmd->stats->inflight);
	dispatch_untrack(d, cmd);
	if (--d->outstanding == 0 && d->idle != NULL)
		d->idle(d->idle_arg);
}

/* Hand a command to the pool, or park it when the queue is full: 0, or
 * a negative errno other than -EAGAIN. */
static int
dispatch_queue(struct dispatch *d, struct cmd *cmd)
{
	int r = pool_submit(d->pool, &cmd->job);

	if (r == -EAGAIN) {
		TAILQ_INSERT_TAIL(&d->parked, cmd, link);
		cmd->parked = true;
		d->nparked++;
		STATS_INC(cmd->stats->parked);
		return 0;
	}
	return r;
}

/* Take a command off the parked list. */
static void
dispatch_unpark(struct dispatch *d, struct cmd *cmd)
{
	TAILQ_REMOVE(&d->parked, cmd, link);
	cmd->parked = false;
	d->nparked--;
	STATS_DEC(cmd->stats->parked);
}

static void dispatch_return(struct dispatch *d, struct cmd *cmd);

/* Give parked commands another chance at the pool queue. */
static void
dispatch_resume(struct dispatch *d)
{
	struct cmd *cmd;
	int r;

	for (int i = 0; i < RESUME_BATCH && !TAILQ_EMPTY(&d->parked); i++) {
		cmd = TAILQ_FIRST(&d->parked);
		r = pool_submit(d->pool, &cmd->job);
		if (r == -EAGAIN)
			break; /* the oldest still does not fit */
		dispatch_unpark(d, cmd);
		if (r < 0) {
			/* Shutting down: answer it as the worker would have
			 * after a failed SG_IO. */
			scsi_result_check(&cmd->res, PRH_SK_ABORTED_COMMAND,
			    0x00, 0x06);
			dispatch_return(d, cmd);
		}
	}
}

/* A command is back: its owner completes it, or an abandoned one has its
 * last word and is freed.  Then parked commands may go. */
static void
dispatch_return(struct dispatch *d, struct cmd *cmd)
{
	dispatch_back(d, cmd);
	if (cmd->done != NULL) {
		cmd->done(cmd);
	} else {
		if (cmd->orphaned != NULL)
			cmd->orphaned(cmd);
		dispatch_cmd_free(d, cmd);
	}
}

/* The pool's completion callback, once per finished command. */
static void
dispatch_done_cb(struct pool_job *job, void *arg)
{
	struct dispatch *d = arg;

	dispatch_return(d, (struct cmd *)job);
	if (d->nparked > 0)
		dispatch_resume(d);
}

/* Create the dispatcher and its pool. */
int
dispatch_new(struct event_base *base, const struct pool_limits *lim,
    struct device_registry *devices, struct closer *closer,
    struct dispatch **out)
{
	struct dispatch *d = calloc(1, sizeof(*d));
	int r;

	*out = NULL;
	if (d == NULL)
		return -ENOMEM;
	d->devices = devices;
	d->closer = closer;
	TAILQ_INIT(&d->parked);
	r = pool_new(base, lim, dispatch_done_cb, d, &d->pool);
	if (r < 0) {
		free(d);
		return r;
	}
	*out = d;
	return 0;
}

/* Stop the pool and free what is not in use. */
void
dispatch_free(struct dispatch *d)
{
	struct dispatch_dev *e;
	struct pool_stats ps;
	struct cmd *cmd;

	if (d == NULL)
		return;
	pool_shutdown(d->pool);
	pool_reap(d->pool); /* finished commands: free them */
	d->idle = NULL;	    /* no callbacks into a server being freed */
	while ((cmd = TAILQ_FIRST(&d->parked)) != NULL) {
		dispatch_unpark(d, cmd);
		dispatch_cmd_free(d, cmd);
	}
	pool_get_stats(d->pool, &ps);
	/* A worker stuck in a hung device cannot be stopped; the process is
	 * about to exit and takes it along. */
	if (ps.running == 0 && ps.queued == 0)
		pool_free(d->pool);
	while ((cmd = d->free_cmds) != NULL) {
		d->free_cmds = cmd->next_free;
		free(cmd);
	}
	for (unsigned i = 0; i < DEV_BUCKETS; i++)
		while ((e = d->devs[i]) != NULL) { /* commands left running */
			d->devs[i] = e->next;
			free(e);
		}
	free(d);
}

/* Run a command on a worker. */
int
dispatch_submit(struct dispatch *d, struct cmd *cmd)
{
	int r;

	cmd->job.work = cmd_run;
	cmd->job.devkey = cmd->dev->key;
	if ((r = dispatch_track(d, cmd)) < 0)
		return r;
	STATS_INC(cmd->stats->inflight);
	r = dispatch_queue(d, cmd);
	if (r < 0) {
		STATS_DEC(cmd->stats->inflight);
		dispatch_untrack(d, cmd);
		return r;
	}
	d->outstanding++;
	return 0;
}

/* The owner goes away. */
bool
dispatch_abandon(struct dispatch *d, struct cmd *cmd)
{
	cmd->done = NULL;
	cmd->owner = NULL;
	if (cmd->parked) /* never reached the pool */
		dispatch_unpark(d, cmd);
	else if (pool_cancel(d->pool, &cmd->job) < 0)
		return true; /* running or finished: freed when it is back */
	dispatch_back(d, cmd);
	dispatch_cmd_free(d, cmd);
	return false;
}

/* Shutdown: call idle whenever nothing is outstanding any more. */
void
dispatch_drain(struct dispatch *d, void (*idle)(void *), void *arg)
{
	d->idle = idle;
	d->idle_arg = arg;
}

/* Fill counters. */
void
dispatch_get_stats(struct dispatch *d, struct dispatch_stats *st)
{
	pool_get_stats(d->pool, &st->pool);
	st->outstanding = d->outstanding;
	st->parked = d->nparked;
}

/* Commands submitted, not yet back. */
unsigned
dispatch_outstanding(const struct dispatch *d)
{
	return d->outstanding;
}

/* The busiest device keys. */
unsigned
dispatch_busiest(struct dispatch *d, struct pool_dev_stats *out, unsigned n)
{
	return pool_get_busiest(d->pool, out, n);
}
