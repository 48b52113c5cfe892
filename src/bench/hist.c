/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A log-linear latency histogram (HDR-like): constant memory, no
 * per-sample storage, relative error below 1/64 of the value.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define HIST_EXACT (1ULL << HIST_SUB_BITS)	 /* exact below this */
#define HIST_HALF  (1ULL << (HIST_SUB_BITS - 1)) /* buckets per octave */

/* Start h empty. */
void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

/* The bucket that holds value v. */
static unsigned
hist_index(uint64_t v)
{
	unsigned shift, idx;

	if (v < HIST_EXACT)
		return (unsigned)v;
	shift = (unsigned)(63 - __builtin_clzll(v)) - (HIST_SUB_BITS - 1);
	idx = (unsigned)(HIST_EXACT + (shift - 1) * HIST_HALF +
	    ((v >> shift) - HIST_HALF));
	if (idx >= HIST_BUCKETS)
		idx = HIST_BUCKETS - 1;
	return idx;
}

/* The largest value bucket idx holds. */
static uint64_t
hist_upper(unsigned idx)
{
	uint64_t k, m;
	unsigned shift;

	if (idx < HIST_EXACT)
		return idx;
	k = idx - HIST_EXACT;
	shift = (unsigned)(k / HIST_HALF) + 1;
	m = k % HIST_HALF + HIST_HALF;
	return ((m + 1) << shift) - 1;
}

/* Count one value of ns nanoseconds. */
void
hist_record(struct hist *h, uint64_t ns)
{
	h->buckets[hist_index(ns)]++;
	h->count++;
	h->sum += ns;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
}

/* Add the counts of src to dst. */
void
hist_merge(struct hist *dst, const struct hist *src)
{
	unsigned i;

	if (src->count == 0)
		return;
	for (i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

/* The value at percentile pct (0..100): the upper edge of the bucket that
 * holds it, never above the exact maximum.  0 when empty. */
uint64_t
hist_percentile(const struct hist *h, double pct)
{
	uint64_t rank, seen = 0, v;
	unsigned i;

	if (h->count == 0)
		return 0;
	rank = (uint64_t)(pct / 100.0 * (double)h->count + 0.5);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			v = hist_upper(i);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

/* Write the non-empty buckets as "upper_us count cumulative_fraction"
 * lines, for plotting: 0 or -errno. */
int
hist_write(const struct hist *h, FILE *f)
{
	uint64_t seen = 0;
	unsigned i;

	if (fprintf(f, "# latency_us count cumulative\n") < 0)
		return -EIO;
	for (i = 0; i < HIST_BUCKETS; i++) {
		if (h->buckets[i] == 0)
			continue;
		seen += h->buckets[i];
		if (fprintf(f, "%.3f %llu %.9f\n",
			(double)hist_upper(i) / 1000.0,
			(unsigned long long)h->buckets[i],
			(double)seen / (double)h->count) < 0)
			return -EIO;
	}
	return 0;
}
