/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The report of a run: a table for people, JSON for scripts.  Latencies
 * are printed in microseconds.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "prh/scsi_text.h"

#include "bench.h"

static const char *const bench_op_names[BENCH_OP_COUNT] = {
	[BENCH_OP_READ_KEYS] = "read-keys",
	[BENCH_OP_READ_RES] = "read-reservation",
	[BENCH_OP_REGISTER] = "register",
	[BENCH_OP_RESERVE_RELEASE] = "reserve-release",
};

static const char *const bench_err_names[BENCH_ERR_COUNT] = {
	[BENCH_ERR_EOF] = "eof",
	[BENCH_ERR_RESET] = "reset",
	[BENCH_ERR_SEND] = "send",
	[BENCH_ERR_RECV] = "recv",
	[BENCH_ERR_PROTO] = "protocol",
};

static const double bench_pcts[] = { 50.0, 90.0, 99.0, 99.9 };
static const char *const bench_pct_names[] = { "p50", "p90", "p99", "p99.9" };
#define BENCH_NPCT (sizeof(bench_pcts) / sizeof(bench_pcts[0]))

/* The name of a command of the mix. */
const char *
bench_op_name(enum bench_op op)
{
	return op < BENCH_OP_COUNT ? bench_op_names[op] : "?";
}

/* The name of a transport error kind. */
const char *
bench_err_name(enum bench_err e)
{
	return e < BENCH_ERR_COUNT ? bench_err_names[e] : "?";
}

/* The name of sense key slot k (BENCH_SK_NONE: no sense data). */
static const char *
bench_sk_name(unsigned k)
{
	return k == BENCH_SK_NONE ? "no sense data"
				  : scsi_sense_key_name((uint8_t)k);
}

/* The name of a SCSI status byte. */
static const char *
bench_status_name(unsigned s)
{
	const char *name = scsi_status_name(s);

	return name != NULL ? name : "other";
}

/* The name of connect failure reason i (an errno or a hello failure). */
static const char *
bench_conn_reason(unsigned i, char *buf, size_t len)
{
	const char *s;

	if (i == BENCH_CONN_HELLO_EOF)
		return "hello-eof";
	s = strerrorname_np((int)i);
	if (s != NULL)
		return s;
	snprintf(buf, len, "errno-%u", i);
	return buf;
}

/* A value in ns as microseconds. */
static double
us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

/* Write s as a JSON string. */
static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* Write a latency object (microseconds) for h. */
static void
json_latency(FILE *f, const struct hist *h)
{
	unsigned i;

	fprintf(f, "{\"count\": %llu", (unsigned long long)h->count);
	for (i = 0; i < BENCH_NPCT; i++)
		fprintf(f, ", \"%s\": %.3f", bench_pct_names[i],
		    us(hist_percentile(h, bench_pcts[i])));
	fprintf(f, ", \"min\": %.3f, \"max\": %.3f, \"mean\": %.3f}",
	    h->count ? us(h->min) : 0.0, us(h->max),
	    h->count ? us(h->sum / h->count) : 0.0);
}

/* Write the helper's procfs figures. */
static void
json_helper(FILE *f, const struct bench_result *res)
{
	const struct bench_proc *b = &res->before, *a = &res->after;
	uint64_t cpu = a->cpu_ns > b->cpu_ns ? a->cpu_ns - b->cpu_ns : 0;
	uint64_t n = res->st->recorded;

	fprintf(f, "\"helper\": ");
	if (!b->ok || !a->ok) {
		fprintf(f, "null");
		return;
	}
	fprintf(f,
	    "{\"pid\": %ld, \"cpu_s\": %.3f, \"cpu_us_per_command\": "
	    "%.3f, \"vmrss_kib\": %llu, \"vmhwm_kib\": %llu, "
	    "\"threads\": %u}",
	    (long)res->opts->pid, (double)cpu / 1e9,
	    n ? (double)cpu / 1e3 / (double)n : 0.0,
	    (unsigned long long)a->rss_kib, (unsigned long long)a->hwm_kib,
	    a->threads);
}

/* Write the statuses seen, one object per status and sense key. */
static void
json_statuses(FILE *f, const struct bench_stats *st)
{
	unsigned s, k;
	int first = 1;

	fprintf(f, "\"statuses\": [");
	for (s = 0; s < 256; s++)
		for (k = 0; k < BENCH_SK_SLOTS; k++) {
			if (st->status[s][k] == 0)
				continue;
			fprintf(f,
			    "%s{\"status\": %u, \"name\": \"%s\", "
			    "\"sense_key\": ",
			    first ? "" : ", ", s, bench_status_name(s));
			if (k == BENCH_SK_NONE)
				fprintf(f, "null");
			else
				fprintf(f, "%u", k);
			fprintf(f,
			    ", \"sense_name\": \"%s\", \"count\": "
			    "%llu}",
			    bench_sk_name(k),
			    (unsigned long long)st->status[s][k]);
			first = 0;
		}
	fprintf(f, "]");
}

/* Write transport errors and connect failures. */
static void
json_errors(FILE *f, const struct bench_stats *st)
{
	uint64_t total = 0;
	unsigned i;
	char buf[32];
	int first = 1;

	fprintf(f, "\"transport_errors\": {");
	for (i = 0; i < BENCH_ERR_COUNT; i++) {
		fprintf(f, "\"%s\": %llu, ", bench_err_names[i],
		    (unsigned long long)st->errors[i]);
		total += st->errors[i];
	}
	fprintf(f, "\"total\": %llu},\n  \"connect_failures\": {",
	    (unsigned long long)total);
	total = 0;
	for (i = 0; i < BENCH_CONN_REASONS; i++) {
		if (st->conn_fail[i] == 0)
			continue;
		fprintf(f, "%s\"%s\": %llu", first ? "" : ", ",
		    bench_conn_reason(i, buf, sizeof(buf)),
		    (unsigned long long)st->conn_fail[i]);
		total += st->conn_fail[i];
		first = 0;
	}
	fprintf(f, "%s\"total\": %llu}", first ? "" : ", ",
	    (unsigned long long)total);
}

/* Write the options that shaped the run. */
static void
json_setup(FILE *f, const struct bench_result *res)
{
	const struct bench_opts *o = res->opts;
	unsigned i;

	fprintf(f,
	    "{\n  \"tool\": \"qemu-pr-bench\", \"version\": \"%s\", "
	    "\"label\": ",
	    PACKAGE_VERSION);
	json_str(f, o->label != NULL ? o->label : "");
	fprintf(f, ",\n  \"socket\": ");
	json_str(f, o->socket);
	fprintf(f, ", \"devices\": [");
	for (i = 0; i < o->ndev; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_str(f,
		    o->devpaths[i] != NULL ? o->devpaths[i]
					   : "(temporary file)");
	}
	fprintf(f, "],\n");
}

/* The JSON report of a load run. */
void
bench_report_json(const struct bench_result *res, FILE *f)
{
	const struct bench_opts *o = res->opts;
	const struct bench_stats *st = res->st;
	double el = res->elapsed > 0 ? res->elapsed : 1e-9;
	unsigned i;

	json_setup(f, res);
	fprintf(f,
	    "  \"mode\": \"load\", \"connections\": %u, \"threads\": "
	    "%u, \"loop\": \"%s\", \"rate\": %.1f, \"duration_s\": %.3f, "
	    "\"count\": %llu, \"warmup_s\": %.3f,\n  \"mix\": {",
	    o->conns, o->threads, o->rate > 0 ? "open" : "closed", o->rate,
	    o->duration, (unsigned long long)o->count, o->warmup);
	for (i = 0; i < BENCH_OP_COUNT; i++)
		fprintf(f, "%s\"%s\": %u", i ? ", " : "", bench_op_names[i],
		    o->weights[i]);
	fprintf(f,
	    "},\n  \"connected\": %llu, \"connect_s\": %.3f, "
	    "\"elapsed_s\": %.3f,\n  \"sent\": %llu, \"answered\": %llu, "
	    "\"recorded\": %llu, \"unanswered\": %llu, \"dropped\": %llu, "
	    "\"backlog_max\": %llu, \"connections_lost\": %llu,\n"
	    "  \"throughput\": %.1f,\n  \"latency_us\": ",
	    (unsigned long long)st->connected, res->connect_s, res->elapsed,
	    (unsigned long long)st->sent, (unsigned long long)st->answered,
	    (unsigned long long)st->recorded,
	    (unsigned long long)st->unanswered, (unsigned long long)st->dropped,
	    (unsigned long long)st->backlog_max,
	    (unsigned long long)st->conn_lost, (double)st->recorded / el);
	json_latency(f, &res->all);
	fprintf(f, ",\n  ");
	json_statuses(f, st);
	fprintf(f, ",\n  ");
	json_errors(f, st);
	fprintf(f, ",\n  \"per_device\": [");
	for (i = 0; i < o->ndev; i++) {
		fprintf(f,
		    "%s\n    {\"device\": %u, \"commands\": %llu, "
		    "\"throughput\": %.1f, \"latency_us\": ",
		    i ? "," : "", i, (unsigned long long)st->dev[i].answered,
		    (double)st->dev[i].answered / el);
		json_latency(f, &st->dev[i].hist);
		fprintf(f, "}");
	}
	fprintf(f, "],\n  ");
	json_helper(f, res);
	fprintf(f, "\n}\n");
}

/* The JSON report of an idle run. */
void
bench_report_idle_json(const struct bench_result *res, FILE *f)
{
	const struct bench_stats *st = res->st;
	const struct bench_proc *b = &res->before, *a = &res->settled;
	double per = 0;

	if (b->ok && a->ok && st->connected > 0)
		per = ((double)a->rss_kib - (double)b->rss_kib) * 1024.0 /
		    (double)st->connected;
	json_setup(f, res);
	fprintf(f,
	    "  \"mode\": \"idle\", \"connections\": %u, "
	    "\"threads\": %u, \"connected\": %llu, \"connect_s\": %.3f,\n  ",
	    res->opts->idle, res->opts->threads,
	    (unsigned long long)st->connected, res->connect_s);
	json_errors(f, st);
	fprintf(f, ",\n  \"helper\": ");
	if (!b->ok || !a->ok) {
		fprintf(f, "null\n}\n");
		return;
	}
	fprintf(f,
	    "{\"pid\": %ld, \"rss_before_kib\": %llu, "
	    "\"rss_after_kib\": %llu, \"vmhwm_kib\": %llu, \"threads\": %u, "
	    "\"bytes_per_connection\": %.1f}\n}\n",
	    (long)res->opts->pid, (unsigned long long)b->rss_kib,
	    (unsigned long long)a->rss_kib, (unsigned long long)a->hwm_kib,
	    a->threads, per);
}

/* The table lines that load and idle runs share. */
static void
table_errors(FILE *f, const struct bench_stats *st)
{
	uint64_t total = 0;
	unsigned i;
	char buf[32];

	fprintf(f, "  transport errors ");
	for (i = 0; i < BENCH_ERR_COUNT; i++)
		if (st->errors[i] != 0) {
			fprintf(f, " %s %llu", bench_err_names[i],
			    (unsigned long long)st->errors[i]);
			total += st->errors[i];
		}
	fprintf(f, "%s\n  connect failures ", total ? "" : " none");
	total = 0;
	for (i = 0; i < BENCH_CONN_REASONS; i++)
		if (st->conn_fail[i] != 0) {
			fprintf(f, " %s %llu",
			    bench_conn_reason(i, buf, sizeof(buf)),
			    (unsigned long long)st->conn_fail[i]);
			total += st->conn_fail[i];
		}
	fprintf(f, "%s\n", total ? "" : " none");
}

/* One row of latencies (us) for h, after a label. */
static void
table_latency(FILE *f, const char *label, const struct hist *h)
{
	unsigned i;

	fprintf(f, "  %-16s", label);
	for (i = 0; i < BENCH_NPCT; i++)
		fprintf(f, " %9.1f", us(hist_percentile(h, bench_pcts[i])));
	fprintf(f, " %9.1f %9.1f\n", us(h->max),
	    h->count ? us(h->sum / h->count) : 0.0);
}

/* The header lines: what was measured and how. */
static void
table_setup(FILE *f, const struct bench_result *res)
{
	const struct bench_opts *o = res->opts;
	unsigned i;

	fprintf(f, "qemu-pr-bench %s%s%s\n  socket           %s\n",
	    PACKAGE_VERSION, o->label ? "  " : "", o->label ? o->label : "",
	    o->socket);
	for (i = 0; i < o->ndev; i++)
		fprintf(f, "  device %-9u %s\n", i,
		    o->devpaths[i] != NULL ? o->devpaths[i]
					   : "(temporary regular file)");
}

/* The helper line. */
static void
table_helper(FILE *f, const struct bench_result *res)
{
	const struct bench_proc *b = &res->before, *a = &res->after;
	uint64_t cpu = a->cpu_ns > b->cpu_ns ? a->cpu_ns - b->cpu_ns : 0;
	uint64_t n = res->st->recorded;

	if (!b->ok || !a->ok)
		return;
	fprintf(f,
	    "  helper           pid %ld: CPU %.3f s, %.2f us/command; "
	    "VmRSS %llu KiB, VmHWM %llu KiB, %u threads\n",
	    (long)res->opts->pid, (double)cpu / 1e9,
	    n ? (double)cpu / 1e3 / (double)n : 0.0,
	    (unsigned long long)a->rss_kib, (unsigned long long)a->hwm_kib,
	    a->threads);
}

/* The readable report of a load run. */
void
bench_report_table(const struct bench_result *res, FILE *f)
{
	const struct bench_opts *o = res->opts;
	const struct bench_stats *st = res->st;
	double el = res->elapsed > 0 ? res->elapsed : 1e-9;
	unsigned i, s, k;
	char label[32];

	table_setup(f, res);
	fprintf(f, "  load             %u connections, %u thread%s, ", o->conns,
	    o->threads, o->threads == 1 ? "" : "s");
	if (o->rate > 0)
		fprintf(f, "open loop at %.0f/s, ", o->rate);
	else
		fprintf(f, "closed loop, ");
	if (o->count)
		fprintf(f, "%llu commands\n", (unsigned long long)o->count);
	else
		fprintf(f, "%.2f s (+%.2f s warm-up)\n", o->duration,
		    o->warmup);
	fprintf(f, "  mix             ");
	for (i = 0; i < BENCH_OP_COUNT; i++)
		if (o->weights[i])
			fprintf(f, " %s=%u", bench_op_names[i], o->weights[i]);
	fprintf(f, "\n  connected        %llu of %u in %.3f s\n\n",
	    (unsigned long long)st->connected, o->conns, res->connect_s);
	fprintf(f,
	    "  commands         %llu answered of %llu sent, %llu "
	    "unanswered, %llu measured in %.3f s\n",
	    (unsigned long long)st->answered, (unsigned long long)st->sent,
	    (unsigned long long)st->unanswered,
	    (unsigned long long)st->recorded, res->elapsed);
	if (o->rate > 0)
		fprintf(f,
		    "  open loop        %llu due but not sent, worst "
		    "backlog %llu\n",
		    (unsigned long long)st->dropped,
		    (unsigned long long)st->backlog_max);
	fprintf(f, "  throughput       %.0f commands/s\n\n",
	    (double)st->recorded / el);
	fprintf(f, "  latency (us)    ");
	for (i = 0; i < BENCH_NPCT; i++)
		fprintf(f, " %9s", bench_pct_names[i]);
	fprintf(f, " %9s %9s\n", "max", "mean");
	table_latency(f, "all", &res->all);
	for (i = 0; o->ndev > 1 && i < o->ndev; i++) {
		snprintf(label, sizeof(label), "device %u", i);
		table_latency(f, label, &st->dev[i].hist);
		fprintf(f, "  %-16s %9.0f commands/s\n", "",
		    (double)st->dev[i].answered / el);
	}
	fprintf(f, "\n  statuses\n");
	for (s = 0; s < 256; s++)
		for (k = 0; k < BENCH_SK_SLOTS; k++)
			if (st->status[s][k] != 0)
				fprintf(f, "    0x%02x %-22s %-18s %llu\n", s,
				    bench_status_name(s),
				    k == BENCH_SK_NONE ? "" : bench_sk_name(k),
				    (unsigned long long)st->status[s][k]);
	table_errors(f, st);
	table_helper(f, res);
}

/* The readable report of an idle run. */
void
bench_report_idle_table(const struct bench_result *res, FILE *f)
{
	const struct bench_stats *st = res->st;
	const struct bench_proc *b = &res->before, *a = &res->settled;

	table_setup(f, res);
	fprintf(f,
	    "  idle             %u connections: %llu connected in "
	    "%.3f s\n",
	    res->opts->idle, (unsigned long long)st->connected, res->connect_s);
	table_errors(f, st);
	if (!b->ok || !a->ok)
		return;
	fprintf(f,
	    "  helper           pid %ld: VmRSS %llu KiB before, %llu "
	    "KiB after (VmHWM %llu KiB, %u threads)\n",
	    (long)res->opts->pid, (unsigned long long)b->rss_kib,
	    (unsigned long long)a->rss_kib, (unsigned long long)a->hwm_kib,
	    a->threads);
	if (st->connected > 0)
		fprintf(f, "  per connection   %.0f bytes\n",
		    ((double)a->rss_kib - (double)b->rss_kib) * 1024.0 /
			(double)st->connected);
}
