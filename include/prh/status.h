/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Status reporting: the service manager's STATUS= line and watchdog, and
 * the SIGUSR1 summary line.
 *
 * The module knows nothing of the server: it asks a view callback for
 * what to show (counters, pool state, the busiest devices by name), and
 * never delivers completions or touches connections.  Loop thread only.
 */
#ifndef PRH_STATUS_H
#define PRH_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "prh/device.h"
#include "prh/dispatch.h"
#include "prh/pool.h"
#include "prh/stats.h"

struct event_base;

/* One busy device in a report. */
struct status_device {
	char name[DEVICE_NAME_MAX]; /* kernel name */
	unsigned major, minor;	    /* its node */
	unsigned running, queued;
};

/* What a report shows. */
struct status_view {
	bool draining;
	const struct prh_stats *stats;
	struct dispatch_stats ds;
	unsigned threads_max; /* --threads */
	unsigned ndevices;    /* entries in devices */
	struct status_device devices[POOL_BUSIEST_MAX];
};

/* Fill a view (the server's). */
typedef void (*status_view_fn)(void *arg, struct status_view *v);

/* Register the STATUS= timer and the watchdog timer (when the service
 * manager asks for one) on base: 0 or a negative errno.  Nothing is sent
 * before status_refresh(). */
int status_start(struct event_base *base, status_view_fn view, void *arg);

/* Send STATUS= now if it changed since the last one (first: always). */
void status_refresh(void);

/* Free the events; call before the event base is freed. */
void status_stop(void);

/* Log the summary line (what SIGUSR1 does). */
void status_log_summary(void);

/* Format the STATUS= text of v into buf. */
void status_format(const struct status_view *v, char *buf, unsigned len);

#endif
