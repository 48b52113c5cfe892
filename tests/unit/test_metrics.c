/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the metrics text: the families and their samples from a
 * view and a registry made here, label escaping, the histogram's
 * cumulative buckets, the oldest command in flight, and promtool's check
 * of the whole text when promtool is installed (Debian's prometheus).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "prh/closer.h"
#include "prh/cmd.h"
#include "prh/device.h"
#include "prh/dispatch.h"
#include "prh/latency.h"
#include "prh/metrics.h"
#include "prh/mpath.h"
#include "prh/stats.h"

#define PROMTOOL "/usr/bin/promtool"

static struct {
	struct device_registry *reg;
	struct device *dev;
	struct latency_table *lat;
	struct latency_hist *hist; /* dev's */
	struct event_base *base;
	struct closer *closer;
	atomic_uint fds;
	struct dispatch *dispatch;
	struct metrics_devices devices;
	struct prh_stats stats;
	struct status_view view;
	struct metrics_text text;
} mt;

/* The device of the fixture. */
static const struct device_node mt_node = { .type = DEVICE_BLOCK,
	.major = 8,
	.minor = 32 };

/* A registry (sysfs at an empty place) with one device, its histogram,
 * a dispatcher whose workers are never woken (the loop never runs), a
 * view of some counters. */
static void
mt_setup(void)
{
	struct pool_limits lim = { .threads = 1,
		.max_per_device = 1,
		.queue_max = 4,
		.dev_queue_max = 4,
		.defer_wake = true };

	device_set_sysfs_root("/nonexistent-prh-sysfs");
	cr_assert_eq(devreg_new(&mt.reg), 0);
	mt.dev = devreg_get(mt.reg, &mt_node);
	cr_assert_not_null(mt.dev);
	cr_assert_eq(latency_table_new(&mt.lat), 0);
	mt.hist = latency_get(mt.lat, mt.dev);
	cr_assert_not_null(mt.hist);
	cr_assert_eq(evthread_use_pthreads(), 0);
	mt.base = event_base_new();
	cr_assert_not_null(mt.base);
	cr_assert_eq(closer_new(mt.base, &mt.fds, NULL, NULL, &mt.closer), 0);
	cr_assert_eq(dispatch_new(mt.base, &lim, mt.reg, mt.closer,
			 &mt.dispatch),
	    0);
	mt.devices.registry = mt.reg;
	mt.devices.latency = mt.lat;
	mt.devices.dispatch = mt.dispatch;
	memset(&mt.stats, 0, sizeof(mt.stats));
	memset(&mt.view, 0, sizeof(mt.view));
	memset(&mt.text, 0, sizeof(mt.text));
	mt.view.stats = &mt.stats;
	mt.view.threads_max = 8;
}

/* Free it all. */
static void
mt_teardown(void)
{
	metrics_text_free(&mt.text);
	dispatch_free(mt.dispatch);
	closer_free(mt.closer);
	event_base_free(mt.base);
	devreg_put(mt.reg, mt.dev);
	devreg_free(mt.reg);
	latency_table_free(mt.lat);
	device_set_sysfs_root(NULL);
}

TestSuite(metrics, .init = mt_setup, .fini = mt_teardown);

/* Format with now_ns and an uptime of 10 s; the text. */
static const char *
mt_format(uint64_t now_ns)
{
	mt.text.len = 0;
	cr_assert_eq(metrics_format(&mt.text, &mt.view, &mt.devices, now_ns,
			 10000000000ull, 1700000000.5),
	    0);
	return mt.text.buf;
}

/* Whether the text has the whole line. */
static bool
mt_has(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
		p += n;
	}
	return false;
}

Test(metrics, counters_and_pool)
{
	const char *t;

	atomic_store(&mt.stats.connections, 3);
	atomic_store(&mt.stats.accepted, 5);
	atomic_store(&mt.stats.closed, 2);
	atomic_store(&mt.stats.refused_peers, 1);
	atomic_store(&mt.stats.replies[1][4][STATS_GOOD], 7);
	atomic_store(&mt.stats.replies[1][4][STATS_CONFLICT], 2);
	atomic_store(&mt.stats.replies[0][0][STATS_CHECK], 1);
	atomic_store(&mt.stats.replies[1][0x1c][STATS_GOOD], 4);
	atomic_store(&mt.stats.busy_ns, 2500000000ull);
	atomic_store(&mt.stats.audit_dropped, 9);
	atomic_store(&mt.stats.refused_guest_pr, 3);
	mt.view.ds.pool.workers = 4;
	mt.view.ds.pool.idle = 3;
	mt.view.ds.pool.queued = 6;
	t = mt_format(1);
	cr_expect(mt_has(t, "# TYPE prh_connections gauge"), "%s", t);
	cr_expect(mt_has(t, "prh_connections 3"));
	cr_expect(mt_has(t, "prh_connections_accepted_total 5"));
	cr_expect(mt_has(t, "prh_connections_closed_total 2"));
	cr_expect(mt_has(t,
	    "prh_connections_refused_total{reason=\"allow_list\"} 1"));
	cr_expect(mt_has(t,
	    "prh_commands_total{opcode=\"pr_out\",service_action=\"preempt\","
	    "outcome=\"good\"} 7"));
	cr_expect(mt_has(t,
	    "prh_commands_total{opcode=\"pr_out\",service_action=\"preempt\","
	    "outcome=\"conflict\"} 2"));
	cr_expect(mt_has(t,
	    "prh_commands_total{opcode=\"pr_in\",service_action=\"read_keys\","
	    "outcome=\"check\"} 1"));
	/* an undefined service action only once answered */
	cr_expect(mt_has(t,
	    "prh_commands_total{opcode=\"pr_out\",service_action=\"0x1c\","
	    "outcome=\"good\"} 4"));
	cr_expect_null(strstr(t, "service_action=\"0x1d\""));
	cr_expect(mt_has(t,
	    "prh_commands_total{opcode=\"pr_out\",service_action=\"register_"
	    "and_ignore_existing_key\",outcome=\"busy\"} 0"));
	cr_expect(mt_has(t, "# TYPE prh_refused_guest_pr_total counter"));
	cr_expect(mt_has(t, "prh_refused_guest_pr_total 3"));
	cr_expect(mt_has(t, "prh_workers 4"));
	cr_expect(mt_has(t, "prh_workers_idle 3"));
	cr_expect(mt_has(t, "prh_workers_max 8"));
	cr_expect(mt_has(t, "prh_queue_depth 6"));
	cr_expect(mt_has(t, "prh_worker_busy_seconds_total 2.500000000"));
	/* 2.5 s busy over 10 s times 8 workers */
	cr_expect(mt_has(t, "prh_worker_utilisation_ratio 0.031250"));
	cr_expect(mt_has(t, "prh_audit_lines_dropped_total 9"));
	cr_expect(mt_has(t, "prh_start_time_seconds 1700000000.500"));
}

Test(metrics, multipath_backends)
{
	const char *t;

	t = mt_format(1);
	cr_expect(mt_has(t, "# TYPE prh_multipath_commands_total counter"),
	    "%s", t);
	cr_expect(mt_has(t,
	    "prh_multipath_commands_total{backend=\"libmpathpersist\"} 0"));
	cr_expect(
	    mt_has(t, "prh_multipath_commands_total{backend=\"kernel\"} 0"));
	cr_expect(mt_has(t, "# TYPE prh_device_multipath_backend gauge"));
	/* not a map (no command through a backend): no sample */
	cr_expect_null(strstr(t, "prh_device_multipath_backend{"));
	atomic_store(&mt.stats.mpath_cmds[MPATH_BACKEND_KERNEL], 5);
	atomic_store(&mt.stats.mpath_cmds[MPATH_BACKEND_LIBRARY], 2);
	atomic_store(&mt.dev->mpath_backend, MPATH_BACKEND_KERNEL);
	t = mt_format(1);
	cr_expect(mt_has(t,
	    "prh_multipath_commands_total{backend=\"libmpathpersist\"} 2"));
	cr_expect(
	    mt_has(t, "prh_multipath_commands_total{backend=\"kernel\"} 5"));
	cr_expect(mt_has(t,
		      "prh_device_multipath_backend{device=\"8:32\",wwid=\"\","
		      "backend=\"kernel\"} 1"),
	    "%s", t);
}

Test(metrics, device_histogram_is_cumulative)
{
	const char *t;
	const char *lab = "device=\"8:32\",wwid=\"\"";
	char line[256];

	latency_observe(mt.hist, 10000);       /* 10 us */
	latency_observe(mt.hist, 300000);      /* 300 us */
	latency_observe(mt.hist, 300000);      /* 300 us */
	latency_observe(mt.hist, 60000000000); /* 60 s */
	t = mt_format(1);
	cr_expect(mt_has(t, "# TYPE prh_device_latency_seconds histogram"));
	snprintf(line, sizeof(line),
	    "prh_device_latency_seconds_bucket{%s,le=\"5e-05\"} 1", lab);
	cr_expect(mt_has(t, line), "%s\n%s", line, t);
	snprintf(line, sizeof(line),
	    "prh_device_latency_seconds_bucket{%s,le=\"0.00025\"} 1", lab);
	cr_expect(mt_has(t, line), "%s", line);
	snprintf(line, sizeof(line),
	    "prh_device_latency_seconds_bucket{%s,le=\"0.0005\"} 3", lab);
	cr_expect(mt_has(t, line), "%s", line);
	snprintf(line, sizeof(line),
	    "prh_device_latency_seconds_bucket{%s,le=\"30\"} 3", lab);
	cr_expect(mt_has(t, line), "%s", line);
	snprintf(line, sizeof(line),
	    "prh_device_latency_seconds_bucket{%s,le=\"+Inf\"} 4", lab);
	cr_expect(mt_has(t, line), "%s", line);
	snprintf(line, sizeof(line), "prh_device_latency_seconds_count{%s} 4",
	    lab);
	cr_expect(mt_has(t, line), "%s", line);
	snprintf(line, sizeof(line),
	    "prh_device_latency_seconds_sum{%s} 60.000610000", lab);
	cr_expect(mt_has(t, line), "%s", line);
}

/* A command to the fixture's device, submitted: it waits in the pool's
 * queue while no worker is woken. */
static struct cmd *
mt_submit(void)
{
	struct cmd *cmd = dispatch_cmd_new(mt.dispatch);

	cr_assert_not_null(cmd);
	cmd->dev = devreg_get(mt.reg, &mt_node);
	cmd->stats = &mt.stats;
	cr_assert_eq(dispatch_submit(mt.dispatch, cmd), 0);
	return cmd;
}

Test(metrics, oldest_command_in_flight)
{
	struct timespec end, now;
	struct dispatch_stats ds;
	struct cmd *cmd[2];
	uint64_t first;
	const char *t;

	/* The pool's one worker has gone to sleep: with the wake-up
	 * deferred to the loop, which never runs, it sleeps on. */
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += 10;
	do {
		dispatch_get_stats(mt.dispatch, &ds);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (ds.pool.idle < 1 && now.tv_sec < end.tv_sec);
	cr_assert_eq(ds.pool.idle, 1);
	cmd[0] = mt_submit();
	cmd[1] = mt_submit();
	first = dispatch_oldest_ns(mt.dispatch, mt.dev);
	cr_assert_gt(first, 0);
	t = mt_format(first + 3250000000ull);
	cr_expect(
	    mt_has(t,
		"prh_device_commands_in_flight{device=\"8:32\",wwid=\"\"} "
		"2"),
	    "%s", t);
	cr_expect(mt_has(t,
	    "prh_device_oldest_command_age_seconds{device=\"8:32\",wwid=\"\"} "
	    "3.250000000"));
	for (int i = 0; i < 2; i++) /* not started: freed at once */
		cr_assert_not(dispatch_abandon(mt.dispatch, cmd[i]));
	cr_expect_eq(dispatch_oldest_ns(mt.dispatch, mt.dev), 0);
	t = mt_format(first + 3250000000ull);
	cr_expect(mt_has(t,
	    "prh_device_oldest_command_age_seconds{device=\"8:32\",wwid=\"\"} "
	    "0.000000000"));
	cr_expect(mt_has(t,
	    "prh_device_commands_in_flight{device=\"8:32\",wwid=\"\"} 0"));
}

Test(metrics, label_values_escaped)
{
	const char *t;

	strcpy(mt.dev->wwid, "t10.ATA \"Q\\EMU\" x");
	t = mt_format(1);
	cr_expect(
	    mt_has(t,
		"prh_device_commands_in_flight{device=\"8:32\",wwid=\"t10."
		"ATA \\\"Q\\\\\\\\EMU\\\" x\"} 0"),
	    "%s", t);
}

/* promtool's check of text (skipped when promtool is not installed). */
static void
mt_promtool(const char *t)
{
	char path[] = "/tmp/prh-metrics-XXXXXX", cmd[256];
	FILE *f;
	int fd, st;

	if (access(PROMTOOL, X_OK) != 0)
		cr_skip_test(
		    PROMTOOL " is not installed (Debian's prometheus)");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	fputs(t, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), PROMTOOL " check metrics < %s 2>&1", path);
	st = system(cmd);
	unlink(path);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "promtool: %d\n%s", st,
	    t);
}

Test(metrics, promtool_accepts_the_text)
{
	latency_observe(mt.hist, 123456);
	strcpy(mt.dev->wwid, "naa.6001405\"x");
	atomic_store(&mt.stats.replies[1][0x1c][STATS_OTHER], 1);
	mt_promtool(mt_format(1));
}

Test(metrics, malformed_names_are_escaped_and_promtool_accepts_them)
{
	const char *t;

	/* Control characters, bytes that are no UTF-8, a C1 control and
	 * a bidirectional override: the value reads as the audit trail
	 * writes the name ("\xHH"). */
	strcpy(mt.dev->name, "sd\x1b[31m\xff");
	strcpy(mt.dev->wwid,
	    "naa.\xc0\xaf\"\\\n\t\xc2\x85\xe2\x80\xae\xc3\xa9");
	latency_observe(mt.hist, 123456);
	t = mt_format(1);
	cr_expect(
	    mt_has(t,
		"prh_device_commands_in_flight{device=\"sd\\\\x1b[31m"
		"\\\\xff\",wwid=\"naa.\\\\xc0\\\\xaf\\\"\\\\\\\\\\\\x0a"
		"\\\\x09\\\\xc2\\\\x85\\\\xe2\\\\x80\\\\xae\xc3\xa9\"} 0"),
	    "%s", t);
	mt_promtool(t);
}

Test(metrics, unit_attentions_retried_by_code)
{
	const char *t;
	int i;

	t = mt_format(1);
	cr_expect(mt_has(t, "# TYPE prh_unit_attentions_retried_total counter"),
	    "%s", t);
	cr_expect_null(strstr(t, "prh_unit_attentions_retried_total{"));
	stats_count_ua(&mt.stats, 0x2a05);
	stats_count_ua(&mt.stats, 0x2a05);
	stats_count_ua(&mt.stats, 0x2903);
	t = mt_format(1);
	cr_expect(mt_has(t,
		      "prh_unit_attentions_retried_total{asc=\"2a\","
		      "ascq=\"05\"} 2"),
	    "%s", t);
	cr_expect(mt_has(t,
	    "prh_unit_attentions_retried_total{asc=\"29\",ascq=\"03\"} 1"));
	cr_expect_null(strstr(t, "asc=\"other\""));
	/* past STATS_UA_CODES distinct codes: counted together */
	for (i = 0; i < STATS_UA_CODES + 3; i++)
		stats_count_ua(&mt.stats, (uint16_t)(0x3f00 + i));
	stats_count_ua(&mt.stats, 0x2a05);
	t = mt_format(1);
	cr_expect(mt_has(t,
	    "prh_unit_attentions_retried_total{asc=\"2a\",ascq=\"05\"} 3"));
	cr_expect(mt_has(t,
	    "prh_unit_attentions_retried_total{asc=\"3f\",ascq=\"00\"} 1"));
	cr_expect(mt_has(t,
		      "prh_unit_attentions_retried_total{asc=\"other\","
		      "ascq=\"other\"} 5"),
	    "%s", t);
	mt_promtool(t);
}
