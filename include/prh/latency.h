/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Latency histograms with fixed buckets, for the metrics file: one per
 * device, added to by the workers with relaxed atomics and read by the
 * loop thread at any time (a reader may see a command in its bucket
 * before its time is in the sum; nothing else is out of step).
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

#endif
