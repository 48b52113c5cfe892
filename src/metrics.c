/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The metrics file (see metrics.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "prh/device.h"
#include "prh/dispatch.h"
#include "prh/escape.h"
#include "prh/latency.h"
#include "prh/log.h"
#include "prh/metrics.h"
#include "prh/mpath.h"
#include "prh/protocol.h"
#include "prh/scsi_text.h"
#include "prh/stats.h"
#include "prh/trace.h"

#define NS_PER_SEC 1000000000ull

/* The metrics writer.  Loop thread only. */
struct metrics {
	char *path; /* the file */
	char *tmp;  /* path.tmp, renamed over it */
	status_view_fn view;
	void *arg;
	struct metrics_devices devices;
	struct event *timer; /* every METRICS_INTERVAL_MS */
	struct metrics_text text;
	uint64_t started_ns;
	double start_time; /* wall clock at start, seconds */
	int failing;	   /* errno of the failure logged, or 0 */
	bool written;	   /* the file is ours to remove at exit */
};

/* --- the text ------------------------------------------------------------- */

/* Append printf output to t, growing it. */
static void __attribute__((format(printf, 2, 3)))
mt_printf(struct metrics_text *t, const char *fmt, ...)
{
	va_list ap;
	size_t cap;
	char *p;
	int n;

	for (;;) {
		if (t->oom)
			return;
		va_start(ap, fmt);
		n = vsnprintf(t->buf != NULL ? t->buf + t->len : NULL,
		    t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = true;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		cap = t->cap > 0 ? t->cap * 2 : 16384;
		while (cap - t->len <= (size_t)n)
			cap *= 2;
		p = realloc(t->buf, cap);
		if (p == NULL) {
			t->oom = true;
			return;
		}
		t->buf = p;
		t->cap = cap;
	}
}

/* Free the buffer of t. */
void
metrics_text_free(struct metrics_text *t)
{
	free(t->buf);
	t->buf = NULL;
	t->len = t->cap = 0;
	t->oom = false;
}

/* The HELP and TYPE lines of a family. */
static void
mt_family(struct metrics_text *t, const char *name, const char *type,
    const char *help)
{
	mt_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family with one unlabelled sample. */
static void
mt_single(struct metrics_text *t, const char *name, const char *type,
    const char *help, unsigned long long value)
{
	mt_family(t, name, type, help);
	mt_printf(t, "%s %llu\n", name, value);
}

/* Nanoseconds as seconds, exactly ("12.000345678"). */
static void
mt_seconds(struct metrics_text *t, uint64_t ns)
{
	mt_printf(t, "%llu.%09llu", (unsigned long long)(ns / NS_PER_SEC),
	    (unsigned long long)(ns % NS_PER_SEC));
}

/* A service action as a label value ("read_keys", or "0x1c"). */
static const char *
mt_action(bool out, unsigned sa, char *buf, size_t len)
{
	const char *name = scsi_pr_action_name(out, (uint8_t)sa);
	size_t i;

	if (name == NULL) {
		snprintf(buf, len, "0x%02x", sa);
		return buf;
	}
	for (i = 0; name[i] != '\0' && i + 1 < len; i++)
		buf[i] = name[i] == ' ' ? '_' : (char)(name[i] | 0x20);
	buf[i] = '\0';
	return buf;
}

/* prh_commands_total: every defined service action and outcome, and any
 * other service action that was answered. */
static void
mt_commands(struct metrics_text *t, const struct prh_stats *s)
{
	char sa_buf[48];
	uint64_t n;

	mt_family(t, "prh_commands_total", "counter",
	    "Commands answered, by opcode, service action and outcome.");
	for (int out = 0; out < 2; out++)
		for (unsigned sa = 0; sa < STATS_SA; sa++) {
			bool named = scsi_pr_action_name(out, (uint8_t)sa);

			for (int c = 0; c < STATS_CLASSES; c++) {
				n = STATS_GET(s->replies[out][sa][c]);
				if (!named && n == 0)
					continue;
				mt_printf(t,
				    "prh_commands_total{opcode=\"%s\","
				    "service_action=\"%s\",outcome=\"%s\"} "
				    "%llu\n",
				    out ? "pr_out" : "pr_in",
				    mt_action(out, sa, sa_buf, sizeof(sa_buf)),
				    stats_class_name(c), (unsigned long long)n);
			}
		}
}

/* prh_unit_attentions_retried_total: by each ASC/ASCQ seen so far, and
 * the codes past the table's room together. */
static void
mt_unit_attentions(struct metrics_text *t, const struct prh_stats *s)
{
	uint64_t other = STATS_GET(s->ua_other);
	unsigned code;

	mt_family(t, "prh_unit_attentions_retried_total", "counter",
	    "Unit attentions that answered a PR command which the helper then "
	    "sent again (--pr-ua-retries), by ASC and ASCQ.");
	for (size_t i = 0; i < STATS_UA_CODES; i++) {
		code = STATS_GET(s->ua[i].code);
		if (code == 0)
			continue;
		mt_printf(t,
		    "prh_unit_attentions_retried_total{asc=\"%02x\","
		    "ascq=\"%02x\"} %llu\n",
		    (code >> 8) & 0xff, code & 0xff,
		    (unsigned long long)STATS_GET(s->ua[i].n));
	}
	if (other > 0)
		mt_printf(t,
		    "prh_unit_attentions_retried_total{asc=\"other\","
		    "ascq=\"other\"} %llu\n",
		    (unsigned long long)other);
}

/* The counters and the pool's state. */
static void
mt_server(struct metrics_text *t, const struct status_view *v,
    uint64_t uptime_ns, double start_time)
{
	const struct prh_stats *s = v->stats;
	const struct pool_stats *ps = &v->ds.pool;
	uint64_t busy = STATS_GET(s->busy_ns);
	int inflight = STATS_GET(s->inflight);
	double util = uptime_ns > 0 && v->threads_max > 0
	    ? (double)busy / ((double)uptime_ns * v->threads_max)
	    : 0.0;

	mt_family(t, "prh_build_info", "gauge", "The helper's version.");
	mt_printf(t, "prh_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	mt_family(t, "prh_start_time_seconds", "gauge",
	    "When the helper started, in seconds since the epoch.");
	mt_printf(t, "prh_start_time_seconds %.3f\n", start_time);
	mt_single(t, "prh_connections", "gauge", "Connections open now.",
	    STATS_GET(s->connections));
	mt_single(t, "prh_connections_accepted_total", "counter",
	    "Connections accepted and served.", STATS_GET(s->accepted));
	mt_single(t, "prh_connections_closed_total", "counter",
	    "Connections closed, for any reason.", STATS_GET(s->closed));
	mt_family(t, "prh_connections_refused_total", "counter",
	    "Connections refused when accepted, by reason.");
	mt_printf(t,
	    "prh_connections_refused_total{reason=\"allow_list\"} %llu\n"
	    "prh_connections_refused_total{reason=\"uid_limit\"} %llu\n",
	    (unsigned long long)STATS_GET(s->refused_peers),
	    (unsigned long long)STATS_GET(s->refused_uid_limit));
	mt_family(t, "prh_connections_dropped_total", "counter",
	    "Connections the helper closed, by reason.");
	mt_printf(t,
	    "prh_connections_dropped_total{reason=\"protocol\"} %llu\n"
	    "prh_connections_dropped_total{reason=\"timeout\"} %llu\n",
	    (unsigned long long)STATS_GET(s->closed_protocol),
	    (unsigned long long)STATS_GET(s->timed_out));
	mt_commands(t, s);
	mt_unit_attentions(t, s);
	mt_single(t, "prh_commands_in_flight", "gauge",
	    "Commands submitted to workers and not answered yet.",
	    inflight > 0 ? (unsigned)inflight : 0);
	mt_single(t, "prh_commands_parked", "gauge",
	    "Commands waiting for room in the worker queue.", v->ds.parked);
	mt_single(t, "prh_refused_fds_total", "counter",
	    "Descriptors the device policy refused.",
	    STATS_GET(s->refused_fds));
	mt_single(t, "prh_keys_protected_total", "counter",
	    "Registration changes refused because they would change the key "
	    "another VM registered on the device (--protect-keys).",
	    STATS_GET(s->keys_protected));
	mt_family(t, "prh_multipath_commands_total", "counter",
	    "Commands on multipath maps, by the backend that served them.");
	for (int b = MPATH_BACKEND_LIBRARY; b < MPATH_BACKENDS; b++)
		mt_printf(t,
		    "prh_multipath_commands_total{backend=\"%s\"} %llu\n",
		    mpath_backend_name((enum mpath_backend)b),
		    (unsigned long long)STATS_GET(s->mpath_cmds[b]));
	mt_single(t, "prh_refused_guest_pr_total", "counter",
	    "PR OUT commands the guest PR policy refused.",
	    STATS_GET(s->refused_guest_pr));
	mt_single(t, "prh_workers", "gauge", "Worker threads now.",
	    ps->workers);
	mt_single(t, "prh_workers_idle", "gauge", "Worker threads asleep.",
	    ps->idle);
	mt_single(t, "prh_workers_max", "gauge",
	    "Most worker threads (--threads).", v->threads_max);
	mt_single(t, "prh_workers_started_total", "counter",
	    "Worker threads started.", ps->started);
	mt_single(t, "prh_queue_depth", "gauge",
	    "Commands waiting for a worker.", ps->queued);
	mt_single(t, "prh_commands_running", "gauge",
	    "Commands on a worker now.", ps->running);
	mt_family(t, "prh_worker_busy_seconds_total", "counter",
	    "Time workers spent on commands.");
	mt_printf(t, "prh_worker_busy_seconds_total ");
	mt_seconds(t, busy);
	mt_printf(t, "\n");
	mt_family(t, "prh_worker_utilisation_ratio", "gauge",
	    "Worker time spent on commands over uptime times --threads, "
	    "since start.");
	mt_printf(t, "prh_worker_utilisation_ratio %.6f\n", util);
	mt_single(t, "prh_pr_out_deferred_total", "counter",
	    "PR OUT that waited for their turn in their client's share of "
	    "the log.",
	    STATS_GET(s->deferred));
	mt_single(t, "prh_audit_lines_total", "counter",
	    "Audit trail lines logged.", STATS_GET(s->audit_lines));
	mt_single(t, "prh_audit_lines_dropped_total", "counter",
	    "Audit trail lines and per-client warnings that were counted "
	    "instead of logged (each client's share of the log; the journal "
	    "behind).",
	    STATS_GET(s->audit_dropped));
}

/* What the per-device families are being written with. */
struct mt_devices {
	struct metrics_text *t;
	const struct metrics_devices *src;
	uint64_t now_ns;
	int family; /* 0 latency, 1 in flight, 2 oldest age, 3 backend */
};

/* One device's samples of the family being written. */
static void
mt_device(const struct device *d, void *arg)
{
	struct mt_devices *md = arg;
	struct metrics_text *t = md->t;
	char name[ESCAPE_LABEL_SIZE(DEVICE_NAME_MAX)];
	char wwid[ESCAPE_LABEL_SIZE(DEVICE_WWID_MAX)];
	char lab[sizeof(name) + sizeof(wwid) + 32];
	const struct latency_hist *h = latency_find(md->src->latency, d);
	uint64_t cum = 0, age = 0, oldest;
	int b;

	/* Names from the kernel and the storage: any bytes (escape.h). */
	snprintf(lab, sizeof(lab), "device=\"%s\",wwid=\"%s\"",
	    escape_str(name, sizeof(name), d->name, ESCAPE_LABEL),
	    escape_str(wwid, sizeof(wwid), d->wwid, ESCAPE_LABEL));
	switch (md->family) {
	case 0:
		for (int i = 0; i < LATENCY_BUCKETS; i++) {
			cum += h == NULL ? 0
					 : atomic_load_explicit(&h->count[i],
					       memory_order_relaxed);
			mt_printf(t,
			    "prh_device_latency_seconds_bucket{%s,le=", lab);
			if (i < LATENCY_BOUNDS)
				mt_printf(t, "\"%.6g\"} %llu\n",
				    (double)latency_bound_ns[i] / NS_PER_SEC,
				    (unsigned long long)cum);
			else
				mt_printf(t, "\"+Inf\"} %llu\n",
				    (unsigned long long)cum);
		}
		mt_printf(t, "prh_device_latency_seconds_sum{%s} ", lab);
		mt_seconds(t,
		    h == NULL ? 0
			      : atomic_load_explicit(&h->sum_ns,
				    memory_order_relaxed));
		mt_printf(t, "\nprh_device_latency_seconds_count{%s} %llu\n",
		    lab, (unsigned long long)cum);
		break;
	case 1:
		mt_printf(t, "prh_device_commands_in_flight{%s} %u\n", lab,
		    dispatch_inflight(md->src->dispatch, d));
		break;
	case 3:
		b = atomic_load(&d->mpath_backend);
		if (b != MPATH_BACKEND_NONE)
			mt_printf(t,
			    "prh_device_multipath_backend{%s,backend=\"%s\"} "
			    "1\n",
			    lab, mpath_backend_name((enum mpath_backend)b));
		break;
	default:
		oldest = dispatch_oldest_ns(md->src->dispatch, d);
		if (oldest != 0 && md->now_ns > oldest)
			age = md->now_ns - oldest;
		mt_printf(t, "prh_device_oldest_command_age_seconds{%s} ", lab);
		mt_seconds(t, age);
		mt_printf(t, "\n");
		break;
	}
}

/* Format the whole exposition. */
int
metrics_format(struct metrics_text *t, const struct status_view *v,
    const struct metrics_devices *devices, uint64_t now_ns, uint64_t uptime_ns,
    double start_time)
{
	const struct device_registry *reg = devices->registry;
	struct mt_devices md = { .t = t, .src = devices, .now_ns = now_ns };

	mt_server(t, v, uptime_ns, start_time);
	mt_family(t, "prh_device_latency_seconds", "histogram",
	    "Time commands took on each device, from the worker's start to "
	    "the device's answer.");
	md.family = 0;
	devreg_foreach(reg, mt_device, &md);
	mt_family(t, "prh_device_commands_in_flight", "gauge",
	    "Commands submitted to each device and not back yet.");
	md.family = 1;
	devreg_foreach(reg, mt_device, &md);
	mt_family(t, "prh_device_oldest_command_age_seconds", "gauge",
	    "Age of the oldest command in flight on each device (0: none).");
	md.family = 2;
	devreg_foreach(reg, mt_device, &md);
	mt_family(t, "prh_device_multipath_backend", "gauge",
	    "The backend that served the last command on each multipath "
	    "map (1; maps only).");
	md.family = 3;
	devreg_foreach(reg, mt_device, &md);
	return t->oom ? -ENOMEM : 0;
}

/* --- the file ------------------------------------------------------------- */

/* Write all of buf to fd: 0 or a negative errno. */
static int
metrics_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write the text to a fresh path.tmp and rename it over path. */
static int
metrics_replace(struct metrics *m)
{
	int fd, r;

	if (unlink(m->tmp) < 0 && errno != ENOENT)
		return -errno;
	fd = open(m->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd < 0)
		return -errno;
	r = fchmod(fd, 0644) < 0 ? -errno : 0; /* whatever the umask */
	if (r == 0)
		r = metrics_write_all(fd, m->text.buf, m->text.len);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(m->tmp, m->path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(m->tmp);
	return r;
}

/* Rewrite the file now. */
int
metrics_write(struct metrics *m)
{
	struct status_view v;
	uint64_t now = trace_now_ns();
	int r;

	m->view(m->arg, &v);
	m->text.len = 0;
	m->text.oom = false;
	r = metrics_format(&m->text, &v, &m->devices, now, now - m->started_ns,
	    m->start_time);
	if (r == 0)
		r = metrics_replace(m);
	if (r == 0)
		m->written = true;
	if (r < 0 && m->failing != -r) {
		log_warn("cannot write the metrics file %s: %s", m->path,
		    strerror(-r));
		m->failing = -r;
	} else if (r == 0 && m->failing != 0) {
		log_msg(LOG_NOTICE, "metrics file %s written again", m->path);
		m->failing = 0;
	}
	return r;
}

/* Timer: rewrite the file. */
static void
metrics_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)metrics_write(arg);
}

/* Stop, remove the file and free. */
void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	if (m->timer != NULL)
		event_free(m->timer);
	if (m->written && unlink(m->path) < 0 && errno != ENOENT)
		log_warn("cannot remove the metrics file %s: %s", m->path,
		    strerror(errno));
	metrics_text_free(&m->text);
	free(m->path);
	free(m->tmp);
	free(m);
}

/* Start writing path. */
int
metrics_new(struct event_base *base, const char *path, status_view_fn view,
    void *arg, const struct metrics_devices *devices, struct metrics **out)
{
	struct timeval tv = { METRICS_INTERVAL_MS / 1000,
		(METRICS_INTERVAL_MS % 1000) * 1000 };
	struct timespec now;
	struct metrics *m;
	int r = -ENOMEM;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->path = strdup(path);
	if (m->path == NULL || asprintf(&m->tmp, "%s.tmp", path) < 0) {
		m->tmp = NULL;
		goto fail;
	}
	m->view = view;
	m->arg = arg;
	m->devices = *devices;
	m->started_ns = trace_now_ns();
	clock_gettime(CLOCK_REALTIME, &now);
	m->start_time = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	m->timer = event_new(base, -1, EV_PERSIST, metrics_timer_cb, m);
	if (m->timer == NULL || event_add(m->timer, &tv) < 0)
		goto fail;
	r = metrics_write(m);
	if (r < 0)
		goto fail;
	*out = m;
	return 0;
fail:
	if (r == -ENOMEM)
		log_err("cannot set up the metrics file: out of memory");
	metrics_free(m);
	return r;
}
