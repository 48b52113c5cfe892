/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Latency histograms (see latency.h). */
#include "config.h"

#include "prh/latency.h"

#define US 1000ull
#define MS (1000ull * US)
#define S  (1000ull * MS)

/* From a simulated or cached LUN (tens of microseconds) to a device that
 * takes the whole default SG_IO timeout (30 s). */
const uint64_t latency_bound_ns[LATENCY_BOUNDS] = {
	50 * US,
	100 * US,
	250 * US,
	500 * US,
	1 * MS,
	2500 * US,
	5 * MS,
	10 * MS,
	25 * MS,
	50 * MS,
	100 * MS,
	250 * MS,
	500 * MS,
	1 * S,
	2500 * MS,
	5 * S,
	10 * S,
	30 * S,
};

/* Count one command: its bucket and its time. */
void
latency_observe(struct latency_hist *h, uint64_t ns)
{
	unsigned i = 0;

	while (i < LATENCY_BOUNDS && ns > latency_bound_ns[i])
		i++;
	atomic_fetch_add_explicit(&h->count[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}
