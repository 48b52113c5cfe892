/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Latency histograms (see latency.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "prh/latency.h"

/* Buckets of the table: a power of two. */
#define LATENCY_TABLE_BUCKETS 256

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

/* One device's histogram in the table. */
struct latency_entry {
	const void *dev;
	struct latency_entry *next;
	struct latency_hist hist;
};

/* The table: histograms by device. */
struct latency_table {
	struct latency_entry *buckets[LATENCY_TABLE_BUCKETS];
};

/* The bucket of dev. */
static unsigned
latency_bucket(const void *dev)
{
	uint64_t x = (uint64_t)(uintptr_t)dev * 0x9e3779b97f4a7c15ull;

	return (unsigned)(x >> 56) & (LATENCY_TABLE_BUCKETS - 1);
}

/* An empty table. */
int
latency_table_new(struct latency_table **out)
{
	*out = calloc(1, sizeof(**out));
	return *out != NULL ? 0 : -ENOMEM;
}

/* Free the table. */
void
latency_table_free(struct latency_table *t)
{
	struct latency_entry *e;

	if (t == NULL)
		return;
	for (unsigned i = 0; i < LATENCY_TABLE_BUCKETS; i++)
		while ((e = t->buckets[i]) != NULL) {
			t->buckets[i] = e->next;
			free(e);
		}
	free(t);
}

/* The entry of dev, through the link that points to it. */
static struct latency_entry **
latency_link(const struct latency_table *t, const void *dev)
{
	struct latency_entry *const *p = &t->buckets[latency_bucket(dev)];

	while (*p != NULL && (*p)->dev != dev)
		p = &(*p)->next;
	return (struct latency_entry **)p;
}

/* The histogram of dev, made on first use. */
struct latency_hist *
latency_get(struct latency_table *t, const void *dev)
{
	struct latency_entry **p, *e;

	if (t == NULL)
		return NULL;
	p = latency_link(t, dev);
	if (*p == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return NULL;
		e->dev = dev;
		*p = e;
	}
	return &(*p)->hist;
}

/* The histogram of dev, or NULL. */
const struct latency_hist *
latency_find(const struct latency_table *t, const void *dev)
{
	struct latency_entry *e = t != NULL ? *latency_link(t, dev) : NULL;

	return e != NULL ? &e->hist : NULL;
}

/* Drop the histogram of dev. */
void
latency_forget(struct latency_table *t, const void *dev)
{
	struct latency_entry **p, *e;

	if (t == NULL)
		return;
	p = latency_link(t, dev);
	if ((e = *p) != NULL) {
		*p = e->next;
		free(e);
	}
}
