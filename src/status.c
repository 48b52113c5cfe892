/* STATUS=, WATCHDOG=1 and the SIGUSR1 summary. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include <event2/event.h>

#include "prh/log.h"
#include "prh/notify.h"
#include "prh/pool.h"
#include "prh/protocol.h"
#include "prh/server.h"
#include "prh/status.h"
#include "prh/trace.h"

#define STATUS_INTERVAL_MS 2000 /* STATUS= is refreshed if it changed */
#define STATUS_TEXT_MAX	   160

/* SCSI status classes counted per opcode. */
enum status_class {
	SC_GOOD,
	SC_CHECK,
	SC_CONFLICT,
	SC_BUSY,
	SC_OTHER,
	SC_COUNT
};

static const char *const status_class_names[SC_COUNT] = {
	"good",
	"check",
	"conflict",
	"busy",
	"other",
};

/* Everything this module keeps.  Loop thread, except busy_ns. */
static struct {
	struct server *srv;
	struct event *status_ev;       /* periodic STATUS= */
	struct event *watchdog_ev;     /* periodic WATCHDOG=1 */
	char last[STATUS_TEXT_MAX];    /* last STATUS= sent */
	uint64_t replies[2][SC_COUNT]; /* [PR OUT][class] */
	uint64_t started_ns;
} sts;

static _Atomic uint64_t status_busy_ns;

/* Class of a SCSI status value. */
static enum status_class
status_classify(uint32_t status)
{
	switch (status) {
	case PRH_STATUS_GOOD:
		return SC_GOOD;
	case PRH_STATUS_CHECK_CONDITION:
		return SC_CHECK;
	case PRH_STATUS_RESERVATION_CONFLICT:
		return SC_CONFLICT;
	case PRH_STATUS_BUSY:
		return SC_BUSY;
	default:
		return SC_OTHER;
	}
}

/* Count one reply. */
void
status_count_reply(uint8_t opcode, uint32_t status)
{
	sts.replies[opcode == PRH_OP_PR_OUT][status_classify(status)]++;
}

/* Add worker busy time. */
void
status_worker_busy(uint64_t ns)
{
	atomic_fetch_add_explicit(&status_busy_ns, ns, memory_order_relaxed);
}

/* Format the STATUS= text. */
void
status_format(const struct server *srv, char *buf, unsigned len)
{
	const struct server_stats *s = &srv->stats;

	snprintf(buf, len,
	    "%s: %u connection%s, %u command%s in flight, "
	    "%llu answered",
	    srv->draining ? "Stopping" : "Serving", s->connections,
	    s->connections == 1 ? "" : "s", s->inflight,
	    s->inflight == 1 ? "" : "s", (unsigned long long)s->commands);
}

/* Send STATUS= if the text changed since the last one. */
void
status_refresh(void)
{
	char text[STATUS_TEXT_MAX];

	if (sts.srv->pool != NULL)
		pool_reap(sts.srv->pool); /* count finished commands */
	status_format(sts.srv, text, sizeof(text));
	if (strcmp(text, sts.last) == 0)
		return;
	memcpy(sts.last, text, sizeof(text));
	notify_send("STATUS=%s", text);
}

/* Periodic timer: refresh STATUS=. */
static void
status_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	status_refresh();
}

/* Periodic timer: pet the watchdog. */
static void
status_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	notify_send("WATCHDOG=1");
}

/* Append the per-class counts of one opcode to buf. */
static void
status_fmt_replies(char *buf, size_t len, const char *name, const uint64_t *c)
{
	size_t off = strlen(buf);

	snprintf(buf + off, len - off, " %s", name);
	for (int i = 0; i < SC_COUNT; i++) {
		off = strlen(buf);
		snprintf(buf + off, len - off, " %s=%llu",
		    status_class_names[i], (unsigned long long)c[i]);
	}
	off = strlen(buf);
	snprintf(buf + off, len - off, ";");
}

/* Append the busiest device keys of the pool to buf, each as
 * " [dev MAJ:MIN run=N wait=N]" (a block or character device) or
 * " [file 0xKEY run=N wait=N]" (any other file: the key has the top bit
 * set, see conn_device_key). */
static void
status_fmt_devices(char *buf, size_t len, struct pool *pool)
{
	struct pool_dev_stats ds[POOL_BUSIEST_MAX];
	unsigned n = pool_get_busiest(pool, ds, POOL_BUSIEST_MAX);
	size_t off;

	for (unsigned i = 0; i < n; i++) {
		off = strlen(buf);
		if (ds[i].devkey >> 63)
			snprintf(buf + off, len - off, " [file 0x%llx",
			    (unsigned long long)ds[i].devkey);
		else
			snprintf(buf + off, len - off, " [dev %u:%u",
			    major((dev_t)ds[i].devkey),
			    minor((dev_t)ds[i].devkey));
		off = strlen(buf);
		snprintf(buf + off, len - off, " run=%u wait=%u]",
		    ds[i].running, ds[i].queued);
	}
}

/* Log the summary line. */
void
status_log_summary(struct server *srv)
{
	const struct server_stats *s = &srv->stats;
	struct pool_stats ps = { 0 };
	char rep[256] = "", devs[512] = "";
	uint64_t up = trace_now_ns() - sts.started_ns;
	uint64_t busy = atomic_load_explicit(&status_busy_ns,
	    memory_order_relaxed);
	double util;

	if (srv->pool != NULL) {
		pool_reap(srv->pool); /* count finished commands */
		pool_get_stats(srv->pool, &ps);
		status_fmt_devices(devs, sizeof(devs), srv->pool);
	}
	util = up > 0 ? 100.0 * (double)busy / ((double)up * srv->cfg->threads)
		      : 0.0;
	status_fmt_replies(rep, sizeof(rep), "PR_IN", sts.replies[0]);
	status_fmt_replies(rep, sizeof(rep), "PR_OUT", sts.replies[1]);
	log_msg(LOG_NOTICE,
	    "summary: connections open=%u accepted=%llu "
	    "closed_protocol=%llu; commands answered=%llu in_flight=%u "
	    "parked=%u;%s pool running=%u queued=%u devices=%u%s "
	    "completed=%llu; workers=%u idle=%u utilisation=%.1f%%",
	    s->connections, (unsigned long long)s->accepted,
	    (unsigned long long)s->closed_protocol,
	    (unsigned long long)s->commands, s->inflight, s->parked, rep,
	    ps.running, ps.queued, ps.devices, devs,
	    (unsigned long long)ps.completed, srv->cfg->threads, ps.idle, util);
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
status_start(struct server *srv)
{
	uint64_t wd_usec;

	sts.srv = srv;
	sts.started_ns = trace_now_ns();
	sts.status_ev = status_timer(srv->base, STATUS_INTERVAL_MS,
	    status_timer_cb);
	if (sts.status_ev == NULL)
		goto fail;
	if (notify_watchdog_usec(&wd_usec) > 0) {
		unsigned ms = (unsigned)(wd_usec / 2000);

		sts.watchdog_ev = status_timer(srv->base, ms ? ms : 1,
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
}
