/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Dispatch: commands to the worker pool and back.
 *
 * The one module that knows how a command travels: it owns the pool, the
 * command buffers, the commands waiting for room in the pool's queue
 * (parked), each device's commands in flight (for the metrics), and the
 * way a finished command comes back to the loop thread:
 * the pool's completion event, whose callback takes every finished
 * command at once.  Connections see three calls: submit a command,
 * abandon it when they close, and the command's done callback, which
 * runs on the loop thread exactly once per command not abandoned, after
 * the command was taken off the counts of commands in flight.
 *
 * Loop thread only.  See doc/threads.md for the whole picture.
 */
#ifndef PRH_DISPATCH_H
#define PRH_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "prh/cmd.h"
#include "prh/pool.h"

struct event_base;
struct device;
struct device_registry;
struct closer;
struct dispatch;

/* Commands dispatch knows of, for status reports. */
struct dispatch_stats {
	struct pool_stats pool;
	unsigned outstanding; /* submitted, not yet back (parked too) */
	unsigned parked;      /* waiting for room in the pool's queue */
};

/* Create the dispatcher and its pool: 0 and *out, or a negative errno.
 * Commands' device references are put back to devices; the device fds of
 * commands that did not run, and the sockets of abandoned ones, go to
 * closer (the loop thread closes none itself). */
int dispatch_new(struct event_base *base, const struct pool_limits *lim,
    struct device_registry *devices, struct closer *closer,
    struct dispatch **out);

/* Stop the pool and free what is not in use.  Commands still running on
 * a hung device are left to the process's exit. */
void dispatch_free(struct dispatch *d);

/* A command buffer with its fds at -1 and nothing else set that matters,
 * or NULL when out of memory. */
struct cmd *dispatch_cmd_new(struct dispatch *d);

/* Give back a command that is not in flight: hands its device fd to the
 * closer and puts its device reference. */
void dispatch_cmd_free(struct dispatch *d, struct cmd *cmd);

/* Run cmd on a worker (during a drain too); cmd->done is called when it
 * is back (see above).  0, or a negative errno (out of memory) and the
 * caller keeps cmd. */
int dispatch_submit(struct dispatch *d, struct cmd *cmd);

/* The owner goes away.  A command not yet running is freed at once
 * (false); a running or finished one is freed when it comes back, done
 * not called (true: the owner may then set cmd->orphaned and cmd->owner,
 * and orphaned(cmd) is called just before it is freed). */
bool dispatch_abandon(struct dispatch *d, struct cmd *cmd);

/* Shutdown: idle(arg) is called whenever the last outstanding command
 * comes back (not when none is outstanding already: the caller checks
 * dispatch_outstanding()), before that command's done.  Commands are
 * still taken: those a client sent before the shutdown. */
void dispatch_drain(struct dispatch *d, void (*idle)(void *), void *arg);

/* Fill counters. */
void dispatch_get_stats(struct dispatch *d, struct dispatch_stats *st);

/* Commands submitted and not back yet (parked ones too). */
unsigned dispatch_outstanding(const struct dispatch *d);

/* Commands submitted to dev and not back yet (parked ones too). */
unsigned dispatch_inflight(const struct dispatch *d, const struct device *dev);

/* When the oldest of them was submitted (monotonic ns, trace_now_ns()),
 * or 0 when there is none. */
uint64_t dispatch_oldest_ns(const struct dispatch *d, const struct device *dev);

/* The busiest device keys (see pool_get_busiest). */
unsigned
dispatch_busiest(struct dispatch *d, struct pool_dev_stats *out, unsigned n);

#endif
