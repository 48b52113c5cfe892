/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Dispatch: commands to the worker pool and back.
 *
 * The one module that knows how a command travels: it owns the pool, the
 * command buffers, the commands waiting for room in the pool's queue
 * (parked), and every way a finished command comes back to the loop
 * thread.  Connections see four calls: submit a command, collect it when
 * their client sends more, abandon it when they close, and the command's
 * done callback.
 *
 * A command submitted lazy is one whose reply the worker sends itself;
 * its return to the loop does not wake the loop.  It comes back in one of
 * these ways, all in this file:
 *  - dispatch_collect(), when its client's next request arrives (the
 *    usual case under load);
 *  - a sweep timer every 20 ms while commands are outstanding, so a
 *    client that sends nothing more still gets its buffer recycled and its
 *    connection read again;
 *  - at once, while commands are parked (a completion makes room for
 *    them) and from dispatch_drain() on (shutdown waits for every one).
 * A command that is not lazy (its reply must go behind bytes still
 * queued for the client) wakes the loop when it finishes.  Either way its
 * done callback runs on the loop thread, exactly once, unless
 * dispatch_collect() returned it or it was abandoned.
 *
 * Loop thread only.  See doc/threads.md for the whole picture.
 */
#ifndef PRH_DISPATCH_H
#define PRH_DISPATCH_H

#include <stdbool.h>

#include "prh/cmd.h"
#include "prh/pool.h"

struct event_base;
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

/* Run cmd on a worker; cmd->done is called when it is back (see above).
 * lazy: the worker sends the reply on cmd->sockfd.  0, or a negative
 * errno (shutting down, out of memory) and the caller keeps cmd. */
int dispatch_submit(struct dispatch *d, struct cmd *cmd, bool lazy);

/* The owner looks at its lazy command: 1 if it had finished (it is the
 * owner's again, and done will not be called), else 0 (done will be
 * called when it finishes). */
int dispatch_collect(struct dispatch *d, struct cmd *cmd);

/* The owner goes away.  A command not yet running is freed at once; a
 * running or finished one is freed when it comes back, done not called
 * (*pending says which: the owner may then set cmd->orphaned and
 * cmd->owner, and orphaned(cmd) is called just before it is freed).
 * Returns true when the command keeps cmd->sockfd (a worker may still
 * write to it) and will close it: the caller must not. */
bool dispatch_abandon(struct dispatch *d, struct cmd *cmd, bool *pending);

/* Shutdown: refuse new commands; from now on every finished command comes
 * back at once; idle(arg) is called when the last outstanding command
 * comes back (not when none is outstanding already: the caller checks
 * dispatch_get_stats). */
void dispatch_drain(struct dispatch *d, void (*idle)(void *), void *arg);

/* Fill counters. */
void dispatch_get_stats(struct dispatch *d, struct dispatch_stats *st);

/* The busiest device keys (see pool_get_busiest). */
unsigned
dispatch_busiest(struct dispatch *d, struct pool_dev_stats *out, unsigned n);

#endif
