/* SPDX-License-Identifier: GPL-2.0-or-later */
/* STATUS=, WATCHDOG=1 and the SIGUSR1 summary (see status.h). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "prh/escape.h"
#include "prh/log.h"
#include "prh/notify.h"
#include "prh/protocol.h"
#include "prh/sandbox.h"
#include "prh/status.h"
#include "prh/trace.h"

#define STATUS_INTERVAL_MS 2000 /* STATUS= is refreshed if it changed */
#define STATUS_TEXT_MAX	   160

/* Everything this module keeps.  Loop thread. */
static struct {
	status_view_fn view;
	void *arg;
	struct event *status_ev;    /* periodic STATUS= */
	struct event *watchdog_ev;  /* periodic WATCHDOG=1 */
	char last[STATUS_TEXT_MAX]; /* last STATUS= sent */
	uint64_t started_ns;
} sts;

/* Format the STATUS= text. */
void
status_format(const struct status_view *v, char *buf, unsigned len)
{
	unsigned conns = STATS_GET(v->stats->connections);
	int inflight = STATS_GET(v->stats->inflight);

	if (inflight < 0)
		inflight = 0;
	snprintf(buf, len,
	    "%s: %u connection%s, %d command%s in flight, %llu answered",
	    v->draining ? "Stopping" : "Serving", conns, conns == 1 ? "" : "s",
	    inflight, inflight == 1 ? "" : "s",
	    (unsigned long long)STATS_GET(v->stats->answered));
}

/* Send STATUS= if the text changed since the last one. */
void
status_refresh(void)
{
	struct status_view v;
	char text[STATUS_TEXT_MAX];

	if (sts.view == NULL)
		return;
	sts.view(sts.arg, &v);
	status_format(&v, text, sizeof(text));
	if (strcmp(text, sts.last) == 0)
		return;
	memcpy(sts.last, text, sizeof(text));
	notify_send("STATUS=%s", text);
}

/* Periodic timer: refresh STATUS=. */
static void
status_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sandbox_report();
	status_refresh();
}

/* Periodic timer: pet the watchdog. */
static void
status_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notify_send("WATCHDOG=1");
}

/* Append printf output to the string in buf (cut between characters). */
static void __attribute__((format(printf, 3, 4)))
status_cat(char *buf, size_t len, const char *fmt, ...)
{
	size_t off = strlen(buf);
	va_list ap;
	int n;

	if (off + 1 >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + off, len - off, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n >= len - off)
		buf[off + escape_cut(buf + off, (size_t)n, len - off - 1)] =
		    '\0';
}

/* Append the per-class reply counts of one opcode (all service actions)
 * to buf. */
static void
status_fmt_replies(char *buf, size_t len, const char *name,
    const struct prh_stats *s, int out)
{
	status_cat(buf, len, " %s", name);
	for (int c = 0; c < STATS_CLASSES; c++) {
		uint64_t n = 0;

		for (int sa = 0; sa < STATS_SA; sa++)
			n += STATS_GET(s->replies[out][sa][c]);
		status_cat(buf, len, " %s=%llu", stats_class_name(c),
		    (unsigned long long)n);
	}
	status_cat(buf, len, ";");
}

/* Log the summary line. */
void
status_log_summary(void)
{
	struct status_view v;
	const struct prh_stats *s;
	const struct pool_stats *ps;
	char rep[256] = "", devs[768] = "";
	char name[ESCAPE_TEXT_SIZE(DEVICE_NAME_MAX)];
	uint64_t up = trace_now_ns() - sts.started_ns, busy;
	double util;
	int inflight;

	if (sts.view == NULL)
		return;
	sandbox_report();
	sts.view(sts.arg, &v);
	s = v.stats;
	ps = &v.ds.pool;
	busy = STATS_GET(s->busy_ns);
	util = up > 0 ? 100.0 * (double)busy / ((double)up * v.threads_max)
		      : 0.0;
	inflight = STATS_GET(s->inflight);
	status_fmt_replies(rep, sizeof(rep), "PR_IN", s, 0);
	status_fmt_replies(rep, sizeof(rep), "PR_OUT", s, 1);
	for (unsigned i = 0; i < v.ndevices; i++)
		status_cat(devs, sizeof(devs), " [%s %u:%u run=%u wait=%u]",
		    escape_str(name, sizeof(name), v.devices[i].name,
			ESCAPE_TEXT),
		    v.devices[i].major, v.devices[i].minor,
		    v.devices[i].running, v.devices[i].queued);
	log_msg(LOG_NOTICE,
	    "summary: connections open=%u accepted=%llu "
	    "closed_protocol=%llu refused_peers=%llu refused_uid_limit=%llu "
	    "timed_out=%llu; commands answered=%llu in_flight=%d parked=%u "
	    "refused_fds=%llu;%s pool running=%u queued=%u devices=%u%s "
	    "completed=%llu; workers=%u idle=%u max=%u "
	    "utilisation=%.1f%%",
	    (unsigned)STATS_GET(s->connections),
	    (unsigned long long)STATS_GET(s->accepted),
	    (unsigned long long)STATS_GET(s->closed_protocol),
	    (unsigned long long)STATS_GET(s->refused_peers),
	    (unsigned long long)STATS_GET(s->refused_uid_limit),
	    (unsigned long long)STATS_GET(s->timed_out),
	    (unsigned long long)STATS_GET(s->answered),
	    inflight > 0 ? inflight : 0, v.ds.parked,
	    (unsigned long long)STATS_GET(s->refused_fds), rep, ps->running,
	    ps->queued, ps->devices, devs, (unsigned long long)ps->completed,
	    ps->workers, ps->idle, v.threads_max, util);
}

/* Add a persistent timer firing every ms milliseconds. */
static struct event *
status_timer(struct event_base *base, unsigned ms, event_callback_fn cb)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event *ev = event_new(base, -1, EV_PERSIST, cb, NULL);

	if (ev != NULL && event_add(ev, &tv) < 0) {
		event_free(ev);
		ev = NULL;
	}
	return ev;
}

/* Register the timers (SIGUSR1 arrives through the server's signalfd). */
int
status_start(struct event_base *base, status_view_fn view, void *arg)
{
	uint64_t wd_usec;

	sts.view = view;
	sts.arg = arg;
	sts.started_ns = trace_now_ns();
	sts.last[0] = '\0';
	sts.status_ev = status_timer(base, STATUS_INTERVAL_MS, status_timer_cb);
	if (sts.status_ev == NULL)
		goto fail;
	if (notify_watchdog_usec(&wd_usec) > 0) {
		unsigned ms = (unsigned)(wd_usec / 2000);

		sts.watchdog_ev = status_timer(base, ms ? ms : 1,
		    status_watchdog_cb);
		if (sts.watchdog_ev == NULL)
			goto fail;
		notify_send("WATCHDOG=1");
	}
	return 0;
fail:
	status_stop();
	return -ENOMEM;
}

/* Free the events. */
void
status_stop(void)
{
	if (sts.status_ev != NULL)
		event_free(sts.status_ev);
	if (sts.watchdog_ev != NULL)
		event_free(sts.watchdog_ev);
	sts.status_ev = sts.watchdog_ev = NULL;
	sts.view = NULL;
}
