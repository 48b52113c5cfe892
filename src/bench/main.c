/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qemu-pr-bench: load a persistent-reservation helper (ours or QEMU's)
 * through its Unix socket with N clients that speak the real protocol,
 * one command in flight each, and report throughput, latency percentiles,
 * statuses, errors and what the helper's procfs entry says.
 *
 * Exit status: 0 when the report was written, 1 when the run could not be
 * made (nothing connected, no memory), 2 on a usage error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

enum {
	OPT_ALLOC_LEN = 0x100,
	OPT_KEY,
	OPT_TIMEOUT,
	OPT_CONNECT_TIMEOUT,
	OPT_BATCH,
	OPT_IDLE,
	OPT_HOLD,
	OPT_JSON,
	OPT_PROGRESS,
	OPT_HIST,
	OPT_LABEL,
};

static const struct option bench_longopts[] = {
	{ "socket", required_argument, NULL, 'k' },
	{ "connections", required_argument, NULL, 'c' },
	{ "threads", required_argument, NULL, 'T' },
	{ "duration", required_argument, NULL, 'd' },
	{ "count", required_argument, NULL, 'n' },
	{ "rate", required_argument, NULL, 'r' },
	{ "warmup", required_argument, NULL, 'w' },
	{ "mix", required_argument, NULL, 'm' },
	{ "device", required_argument, NULL, 'f' },
	{ "pid", required_argument, NULL, 'p' },
	{ "alloc-len", required_argument, NULL, OPT_ALLOC_LEN },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "idle", required_argument, NULL, OPT_IDLE },
	{ "hold", required_argument, NULL, OPT_HOLD },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "hist", required_argument, NULL, OPT_HIST },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static volatile sig_atomic_t bench_interrupted;

/* Print the usage text to f. */
static void
bench_usage(FILE *f, const char *argv0)
{
	fprintf(f,
	    "Usage: %s -k SOCKET [OPTIONS]\n"
	    "Load a qemu-pr-helper with clients speaking its protocol.\n\n"
	    "  -k, --socket=PATH        helper socket (required)\n"
	    "  -c, --connections=N      clients, 1 to %u (default 1)\n"
	    "  -T, --threads=N          load threads (default 1)\n"
	    "  -d, --duration=SECONDS   measured time (default 3)\n"
	    "  -n, --count=N            send N commands in all instead\n"
	    "  -r, --rate=N             open loop: N commands/s in all "
	    "(default: closed loop)\n"
	    "  -w, --warmup=SECONDS     run unmeasured first (default 0)\n"
	    "  -m, --mix=SPEC           NAME[=WEIGHT],...  of read-keys, "
	    "read-reservation,\n"
	    "                           register, reserve-release "
	    "(default read-keys)\n"
	    "  -f, --device=PATH        fd sent with each command; repeat "
	    "for more devices,\n"
	    "                           connection i uses device i mod count "
	    "(default: an\n"
	    "                           unlinked temporary regular file)\n"
	    "  -p, --pid=PID            report the helper's CPU time and "
	    "memory\n"
	    "      --alloc-len=N        PR IN allocation length (default "
	    "1024)\n"
	    "      --key=N              reservation key (default 0x1234)\n"
	    "      --timeout=SECONDS    wait for answers at the end "
	    "(default 5)\n"
	    "      --connect-timeout=S  give up connecting after S s without "
	    "progress (10)\n"
	    "      --batch=N            connections awaiting their hello at "
	    "once (256)\n"
	    "      --idle=N             hold N idle connections, report RSS "
	    "per connection\n"
	    "      --hold=SECONDS       idle mode: hold them this long "
	    "(default 0)\n"
	    "      --json               JSON report on stdout\n"
	    "      --progress           progress on stderr even if not a "
	    "terminal\n"
	    "      --hist=FILE          write the latency histogram\n"
	    "      --label=TEXT         name of the run in the report\n"
	    "  -h, --help  -V, --version\n",
	    argv0, BENCH_MAX_CONNS);
}

/* Parse an unsigned number in [lo, hi]: 0 or -EINVAL. */
static int
bench_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || *s == '-' || v < lo ||
	    v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parse a non-negative number of seconds (or a rate): 0 or -EINVAL. */
static int
bench_parse_double(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0) || isinf(v))
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parse a mix "NAME[=WEIGHT],...": 0 or -EINVAL. */
static int
bench_parse_mix(const char *spec, unsigned w[BENCH_OP_COUNT])
{
	char buf[256], *tok, *save = NULL, *eq;
	uint64_t v;
	unsigned i, total = 0;

	if (strlen(spec) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, spec);
	memset(w, 0, BENCH_OP_COUNT * sizeof(w[0]));
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		v = 1;
		eq = strchr(tok, '=');
		if (eq != NULL) {
			*eq++ = '\0';
			if (bench_parse_u64(eq, 0, 1000000, &v) < 0)
				return -EINVAL;
		}
		for (i = 0; i < BENCH_OP_COUNT; i++)
			if (strcmp(tok, bench_op_name(i)) == 0)
				break;
		if (i == BENCH_OP_COUNT)
			return -EINVAL;
		w[i] += (unsigned)v;
		total += (unsigned)v;
	}
	return total > 0 ? 0 : -EINVAL;
}

/* Apply one option to o: 0, or -EINVAL for a bad value. */
static int
bench_option(struct bench_opts *o, int ch, const char *arg)
{
	uint64_t v = 0;
	int rc = 0;

	switch (ch) {
	case 'k':
		o->socket = arg;
		break;
	case 'c':
		rc = bench_parse_u64(arg, 1, BENCH_MAX_CONNS, &v);
		o->conns = (unsigned)v;
		break;
	case 'T':
		rc = bench_parse_u64(arg, 1, BENCH_MAX_THREADS, &v);
		o->threads = (unsigned)v;
		break;
	case 'd':
		rc = bench_parse_double(arg, &o->duration);
		break;
	case 'n':
		rc = bench_parse_u64(arg, 1, UINT64_MAX / 2, &o->count);
		break;
	case 'r':
		rc = bench_parse_double(arg, &o->rate);
		break;
	case 'w':
		rc = bench_parse_double(arg, &o->warmup);
		break;
	case 'm':
		rc = bench_parse_mix(arg, o->weights);
		break;
	case 'f':
		if (o->ndev == BENCH_MAX_DEVS)
			return -EINVAL;
		o->devpaths[o->ndev++] = arg;
		break;
	case 'p':
		rc = bench_parse_u64(arg, 1, 0x7fffffff, &v);
		o->pid = (pid_t)v;
		break;
	case OPT_ALLOC_LEN:
		rc = bench_parse_u64(arg, 0, 0xffff, &v);
		o->alloc_len = (uint16_t)v;
		break;
	case OPT_KEY:
		rc = bench_parse_u64(arg, 0, UINT64_MAX, &o->key);
		break;
	case OPT_TIMEOUT:
		rc = bench_parse_double(arg, &o->timeout);
		break;
	case OPT_CONNECT_TIMEOUT:
		rc = bench_parse_double(arg, &o->connect_timeout);
		break;
	case OPT_BATCH:
		rc = bench_parse_u64(arg, 1, BENCH_MAX_CONNS, &v);
		o->batch = (unsigned)v;
		break;
	case OPT_IDLE:
		rc = bench_parse_u64(arg, 1, BENCH_MAX_CONNS, &v);
		o->idle = (unsigned)v;
		break;
	case OPT_HOLD:
		rc = bench_parse_double(arg, &o->hold);
		break;
	case OPT_JSON:
		o->json = 1;
		break;
	case OPT_PROGRESS:
		o->progress = 1;
		break;
	case OPT_HIST:
		o->hist_path = arg;
		break;
	case OPT_LABEL:
		o->label = arg;
		break;
	default:
		return -EINVAL;
	}
	return rc;
}

/* Parse the command line into o: 0, 1 (help/version printed) or -EINVAL. */
static int
bench_parse_args(struct bench_opts *o, int argc, char **argv)
{
	int ch;

	memset(o, 0, sizeof(*o));
	o->conns = 1;
	o->threads = 1;
	o->duration = 3.0;
	o->timeout = 5.0;
	o->connect_timeout = 10.0;
	o->batch = 256;
	o->alloc_len = 1024;
	o->key = 0x1234;
	o->weights[BENCH_OP_READ_KEYS] = 1;
	while ((ch = getopt_long(argc, argv, "k:c:T:d:n:r:w:m:f:p:hV",
		    bench_longopts, NULL)) != -1) {
		if (ch == 'h') {
			bench_usage(stdout, argv[0]);
			return 1;
		}
		if (ch == 'V') {
			printf("qemu-pr-bench %s\n", PACKAGE_VERSION);
			return 1;
		}
		if (bench_option(o, ch, optarg) < 0) {
			if (ch != '?')
				fprintf(stderr,
				    "%s: bad value for option "
				    "-%s: %s\n",
				    argv[0],
				    ch < 0x100 ? (char[]){ (char)ch, 0 } : "-",
				    optarg);
			return -EINVAL;
		}
	}
	if (optind != argc || o->socket == NULL) {
		fprintf(stderr, "%s: %s\n", argv[0],
		    o->socket == NULL ? "the helper socket (-k) is required"
				      : "extra arguments");
		return -EINVAL;
	}
	if (o->idle != 0)
		o->conns = o->idle;
	if (o->threads > o->conns)
		o->threads = o->conns;
	if (o->count != 0)
		o->duration = 0;
	if (o->progress == 0 && isatty(STDERR_FILENO))
		o->progress = 1;
	return 0;
}

/* SIGINT/SIGTERM: end the run early, still reporting. */
static void
bench_on_signal(int sig)
{
	(void)sig;
	bench_interrupted = 1;
}

/* Open the devices, or make an unlinked temporary file: 0 or -errno. */
static int
bench_open_devices(struct bench_opts *o, const char *argv0)
{
	char tmpl[] = "/tmp/qemu-pr-bench.XXXXXX";
	unsigned i;
	int fd;

	if (o->ndev == 0) {
		fd = mkostemp(tmpl, O_CLOEXEC);
		if (fd < 0)
			return -errno;
		unlink(tmpl);
		o->devfds[0] = fd;
		o->ndev = 1;
		return 0;
	}
	for (i = 0; i < o->ndev; i++) {
		fd = open(o->devpaths[i], O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "%s: %s: %s\n", argv0, o->devpaths[i],
			    strerror(errno));
			return -errno;
		}
		o->devfds[i] = fd;
	}
	return 0;
}

/* Sleep until the monotonic time t (ns), or until interrupted or the
 * run has ended. */
static void
bench_sleep_until(const struct bench_run *r, uint64_t t)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	uint64_t now;

	while ((now = bench_now()) < t && !bench_interrupted &&
	    (r == NULL || !bench_run_done(r))) {
		if (t - now < (uint64_t)ts.tv_nsec)
			ts.tv_nsec = (long)(t - now);
		nanosleep(&ts, NULL);
	}
}

/* Print the progress line on stderr. */
static void
bench_progress(const struct bench_run *r, uint64_t t0, uint64_t *last_n,
    uint64_t *last_t)
{
	uint64_t n, inflight, errors, now = bench_now();

	bench_run_progress(r, &n, &inflight, &errors);
	fprintf(stderr,
	    "\r%7.1f s  %12llu answered  %10.0f/s  %6llu in "
	    "flight  %llu lost   ",
	    (double)(now - t0) / 1e9, (unsigned long long)n,
	    (double)(n - *last_n) * 1e9 / (double)(now - *last_t + 1),
	    (unsigned long long)inflight, (unsigned long long)errors);
	*last_n = n;
	*last_t = now;
}

/* Watch the running load: progress once a second, the helper at the
 * start and end of the measured window. */
static void
bench_watch(const struct bench_opts *o, struct bench_run *r, uint64_t t0,
    struct bench_result *res)
{
	uint64_t t_meas = t0 + (uint64_t)(o->warmup * BENCH_NSEC);
	uint64_t t_end = o->count
	    ? 0
	    : t_meas + (uint64_t)(o->duration * BENCH_NSEC);
	uint64_t next = t0 + BENCH_NSEC, last_n = 0, last_t = t0, wake;
	int have_before = 0, have_after = 0;

	while (!bench_run_done(r)) {
		if (bench_interrupted) {
			bench_run_stop(r);
			break;
		}
		wake = next;
		if (o->pid && !have_before && t_meas < wake)
			wake = t_meas;
		if (o->pid && !have_after && t_end != 0 && t_end < wake)
			wake = t_end;
		bench_sleep_until(r, wake);
		if (o->pid && !have_before && bench_now() >= t_meas)
			have_before = bench_proc_read(o->pid, &res->before) ==
			    0;
		if (o->pid && !have_after && t_end != 0 && bench_now() >= t_end)
			have_after = bench_proc_read(o->pid, &res->after) == 0;
		if (bench_now() >= next) {
			if (o->progress)
				bench_progress(r, t0, &last_n, &last_t);
			next += BENCH_NSEC;
		}
	}
	bench_run_wait(r);
	if (o->progress)
		fputc('\n', stderr);
	if (o->pid && !have_after)
		bench_proc_read(o->pid, &res->after);
}

/* Write the merged histogram to o->hist_path: 0 or -errno. */
static int
bench_write_hist(const struct bench_opts *o, const struct hist *h)
{
	FILE *f;
	int rc;

	f = fopen(o->hist_path, "we");
	if (f == NULL)
		return -errno;
	rc = hist_write(h, f);
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* Wait until the helper's RSS stops changing (it finishes reading the
 * handshakes after we are done), at most 3 s; fill p. */
static void
bench_settle(pid_t pid, struct bench_proc *p)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	uint64_t last = 0;
	int same = 0, i;

	for (i = 0; i < 30 && same < 3 && !bench_interrupted; i++) {
		nanosleep(&ts, NULL);
		if (bench_proc_read(pid, p) < 0)
			return;
		same = p->rss_kib == last ? same + 1 : 0;
		last = p->rss_kib;
	}
}

/* Idle mode: connect, hold, measure the helper. */
static int
bench_idle(const struct bench_opts *o, struct bench_run *r,
    struct bench_result *res)
{
	if (o->pid)
		bench_proc_read(o->pid, &res->before);
	bench_run_connect(r);
	res->connect_s = (double)(bench_now()) / 1e9 - res->connect_s;
	bench_run_stats(r, res->st);
	if (o->pid)
		bench_settle(o->pid, &res->settled);
	if (o->hold > 0)
		bench_sleep_until(NULL,
		    bench_now() + (uint64_t)(o->hold * BENCH_NSEC));
	if (o->json)
		bench_report_idle_json(res, stdout);
	else
		bench_report_idle_table(res, stdout);
	return res->st->connected > 0 ? 0 : -ENOTCONN;
}

/* Load mode: connect, run, report. */
static int
bench_load(const struct bench_opts *o, struct bench_run *r,
    struct bench_result *res)
{
	uint64_t t0, t_meas;
	unsigned i;
	int rc;

	bench_run_connect(r);
	t0 = bench_now();
	res->connect_s = (double)t0 / 1e9 - res->connect_s;
	if (o->count != 0 && o->pid)
		bench_proc_read(o->pid, &res->before);
	rc = bench_run_load(r, t0);
	if (rc < 0)
		return rc;
	bench_watch(o, r, t0, res);
	bench_run_stats(r, res->st);
	t_meas = t0 + (uint64_t)(o->warmup * BENCH_NSEC);
	res->elapsed = res->st->t_last > t_meas
	    ? (double)(res->st->t_last - t_meas) / 1e9
	    : o->duration;
	hist_init(&res->all);
	for (i = 0; i < o->ndev; i++)
		hist_merge(&res->all, &res->st->dev[i].hist);
	if (o->hist_path != NULL && bench_write_hist(o, &res->all) < 0)
		fprintf(stderr, "qemu-pr-bench: cannot write %s\n",
		    o->hist_path);
	if (o->json)
		bench_report_json(res, stdout);
	else
		bench_report_table(res, stdout);
	return res->st->connected > 0 ? 0 : -ENOTCONN;
}

/* Entry point. */
int
main(int argc, char **argv)
{
	static struct bench_opts o;
	struct bench_result res;
	struct sigaction sa;
	struct bench_run *r;
	int rc;

	rc = bench_parse_args(&o, argc, argv);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (bench_open_devices(&o, argv[0]) < 0)
		return 1;
	if (bench_raise_nofile(o.conns + o.ndev + 64) < 0)
		fprintf(stderr,
		    "%s: warning: cannot raise RLIMIT_NOFILE to "
		    "%u\n",
		    argv[0], o.conns + o.ndev + 64);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = bench_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	memset(&res, 0, sizeof(res));
	res.opts = &o;
	res.st = calloc(1, sizeof(*res.st));
	rc = res.st == NULL ? -ENOMEM : bench_run_new(&o, &r);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", argv[0], strerror(-rc));
		free(res.st);
		return 1;
	}
	res.connect_s = (double)bench_now() / 1e9;
	rc = o.idle ? bench_idle(&o, r, &res) : bench_load(&o, r, &res);
	if (rc < 0)
		fprintf(stderr, "%s: %s\n", argv[0], strerror(-rc));
	bench_run_free(r);
	free(res.st);
	return rc < 0 ? 1 : 0;
}
