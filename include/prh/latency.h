/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Latency histograms with fixed buckets, for the metrics file: one per
 * device, added to by the workers with relaxed atomics and read by the
 * loop thread at any time (a reader may see a command in its bucket
 * before its time is in the sum; nothing else is out of step).
 *
 * The table of them belongs to the loop thread: it hands a command the
 * histogram of its device (latency_get(), kept in struct cmd for the
 * worker), finds it for the metrics (latency_find()) and drops it when
 * the device registry drops the device (latency_forget()), which is
 * never while a command holds the device.  Devices are keys only: the
 * table never looks at them.
 */
#ifndef PRH_LATENCY_H
#define PRH_LATENCY_H

#include <stdatomic.h>
#include <stdint.h>

/* Buckets: LATENCY_BOUNDS finite upper bounds, then +Inf. */
#define LATENCY_BOUNDS	18
#define LATENCY_BUCKETS (LATENCY_BOUNDS + 1)

/* Upper bounds of the finite buckets, in nanoseconds, ascending. */
extern const uint64_t latency_bound_ns[LATENCY_BOUNDS];

/* One histogram.  count[i] is the commands that took at most
 * latency_bound_ns[i] and more than the bound before (not cumulative);
 * count[LATENCY_BOUNDS] those above the last bound. */
struct latency_hist {
	atomic_uint_fast64_t count[LATENCY_BUCKETS];
	atomic_uint_fast64_t sum_ns;
};

/* Count one command that took ns nanoseconds (any thread). */
void latency_observe(struct latency_hist *h, uint64_t ns);

struct latency_table;

/* An empty table: 0 and *out, or -ENOMEM. */
int latency_table_new(struct latency_table **out);

/* Free the table and its histograms (NULL: nothing). */
void latency_table_free(struct latency_table *t);

/* The histogram of device dev, made on first use; NULL when t is NULL
 * (no metrics) or out of memory (the command is not counted). */
struct latency_hist *latency_get(struct latency_table *t, const void *dev);

/* The histogram of dev, or NULL if it has none. */
const struct latency_hist *
latency_find(const struct latency_table *t, const void *dev);

/* Drop the histogram of dev, if any (t may be NULL). */
void latency_forget(struct latency_table *t, const void *dev);

#endif
