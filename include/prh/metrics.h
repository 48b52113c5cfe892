/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The metrics file (--metrics-file): the helper's counters, its worker
 * pool, and per-device latency histograms and oldest commands, in the
 * Prometheus text exposition format, which node_exporter's textfile
 * collector reads as it is (a PATH ending in .prom in its directory).
 *
 * The file is written at start-up (start-up fails if it cannot be), then
 * every METRICS_INTERVAL_MS and on SIGUSR1: to PATH.tmp, created afresh
 * (O_EXCL, so never through a link), mode 0644, then renamed over PATH,
 * so a reader always sees a whole file.  The directory must be writable
 * by the user the helper runs as (-u).  The file is removed at exit.  A
 * failed rewrite is logged once, until one succeeds again.
 *
 * Loop thread only: the module reads the counters (atomics), the view the
 * server gives (status_view_fn), and for each device in the registry its
 * commands in flight (dispatch.h) and its latency histogram
 * (latency.h).
 */
#ifndef PRH_METRICS_H
#define PRH_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prh/status.h"

#define METRICS_INTERVAL_MS 5000

struct device_registry;
struct dispatch;
struct event_base;
struct latency_table;
struct metrics;

/* Where the per-device families come from. */
struct metrics_devices {
	const struct device_registry *registry; /* the devices listed */
	const struct dispatch *dispatch;	/* their commands in flight */
	const struct latency_table *latency;	/* their histograms */
};

/* A growable text buffer the exposition is formatted into. */
struct metrics_text {
	char *buf;
	size_t len, cap;
	bool oom; /* an append did not fit and could not grow */
};

/* Start writing path: the first write is done here.  0 and *out, or a
 * negative errno (logged). */
int metrics_new(struct event_base *base, const char *path, status_view_fn view,
    void *arg, const struct metrics_devices *devices, struct metrics **out);

/* Rewrite the file now: 0 or a negative errno. */
int metrics_write(struct metrics *m);

/* Stop, remove the file and free. */
void metrics_free(struct metrics *m);

/* Format the exposition of a view and the devices into t (appended; the
 * clock readings given): 0, or -ENOMEM. */
int metrics_format(struct metrics_text *t, const struct status_view *v,
    const struct metrics_devices *devices, uint64_t now_ns, uint64_t uptime_ns,
    double start_time);

/* Free the buffer of t. */
void metrics_text_free(struct metrics_text *t);

#endif
