/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lunsim-cost: the CPU one SG_IO costs the process that issues it on a
 * simulated LUN, and what a LUN's latency adds to it.
 *
 *   lunsim -- lunsim-cost [--cpu N] [--count N] [--threads T]
 *	[--rounds R] [--block-ms B] ZERO_LUN [SLOW_LUN MS]
 *
 * ZERO_LUN is a LUN without faults; SLOW_LUN, if given, one with the
 * fault latency=MS and nothing else ("lunsim fault SLOW_LUN latency=MS").
 * Run it without --latency: the process-wide latency would delay ZERO_LUN
 * too (it takes the same path in lunsim.so as the fault).  The process
 * pins itself and its threads to one CPU (default 0).  Each command is a
 * PERSISTENT RESERVE IN READ KEYS.
 *
 * Zero latency: one thread issues COUNT commands (default 20000; 0 skips
 * this) on ZERO_LUN in a loop and prints
 *   "commands N cpu_us_per_cmd X wall_us_per_cmd Y"
 * where X is the user + system time getrusage() reports for the process
 * divided by N, and Y the elapsed time divided by N.
 *
 * Latency (with SLOW_LUN): T threads (default 64) run blocks of B ms
 * (default 50 * MS) in which every thread does either
 *   lun:   commands on SLOW_LUN (lunsim sleeps MS in each), or
 *   sleep: commands on ZERO_LUN, each followed by a bare nanosleep(MS),
 * the two alternating (lun-sleep, then sleep-lun) for R rounds (default
 * 41) after one warm-up round.  Both wait MS per command the same way, so
 * the difference is what lunsim's latency path costs beyond the wait a
 * device imposes.  Many threads keep the CPU busy: a thread that sleeps
 * alone on an idle CPU pays tens of microseconds to wake it on a VM, which
 * varies more between runs than the difference measured.  Short blocks
 * and many rounds let what the machine does meanwhile (other processes)
 * hit both modes alike.  The modes take turns rather than run side by
 * side, so that what a mode does to the whole process (its allocator, its
 * caches) is charged to it.  A block's cost per command is the CPU time
 * its threads used over it (CLOCK_THREAD_CPUTIME_ID, summed) divided by
 * the commands they issued.
 * Prints
 *   "latency_ms MS threads T rounds R lun_cpu_us A sleep_cpu_us S
 *    extra_cpu_us E"
 * where A and S are the medians over the rounds of each mode's cost per
 * command and E the median of the rounds' differences A - S.
 *
 * Exit 1 if a command fails, 2 on a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <scsi/sg.h>

#define COST_MAX_ROUNDS 101

/* The command line. */
struct cost_opts {
	int cpu;
	long count;
	int threads;
	int rounds;
	long block_ms;
	const char *zero;
	const char *slow;
	long ms;
};

/* What the latency measurement's threads share. */
struct cost_run {
	int zero_fd, slow_fd;
	long ms;
	pthread_barrier_t start, end;
	int mode; /* COST_LUN or COST_SLEEP, set before each block */
	int stop; /* the block is over */
	int quit; /* no more blocks */
	int failed;
	uint64_t cpu_ns; /* the block's CPU time, summed over threads */
	uint64_t cmds;	 /* the block's commands */
};

enum {
	COST_LUN,
	COST_SLEEP
};

/* Microseconds of user + system CPU the process has used. */
static double
cost_cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Microseconds on the monotonic clock. */
static double
cost_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Nanoseconds of CPU the calling thread has used. */
static uint64_t
cost_thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Sleep ms milliseconds (restarted on signals). */
static void
cost_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One PR IN READ KEYS on fd: 0, or -1 with a message. */
static int
cost_read_keys(int fd)
{
	uint8_t cdb[10] = { 0x5e, 0x00, 0, 0, 0, 0, 0, 0x02, 0x00, 0 };
	uint8_t data[512], sense[32];
	struct sg_io_hdr h;

	memset(&h, 0, sizeof(h));
	h.interface_id = 'S';
	h.cmdp = cdb;
	h.cmd_len = sizeof(cdb);
	h.dxfer_direction = SG_DXFER_FROM_DEV;
	h.dxferp = data;
	h.dxfer_len = sizeof(data);
	h.sbp = sense;
	h.mx_sb_len = sizeof(sense);
	h.timeout = 60000;
	if (ioctl(fd, SG_IO, &h) < 0) {
		fprintf(stderr, "lunsim-cost: SG_IO: %s\n", strerror(errno));
		return -1;
	}
	if (h.status != 0 || h.host_status != 0) {
		fprintf(stderr, "lunsim-cost: status 0x%02x host 0x%02x\n",
		    h.status, h.host_status);
		return -1;
	}
	return 0;
}

/* The numeric option value s into *v if it lies in lo..hi: 0, else -1. */
static int
cost_num(const char *s, long lo, long hi, long *v)
{
	char *end;

	errno = 0;
	*v = strtol(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && *v >= lo && *v <= hi
	    ? 0
	    : -1;
}

/* Apply the option name with the value val to o: 0, or -1 if it is no
 * option or val is out of its range. */
static int
cost_opt(const char *name, const char *val, struct cost_opts *o)
{
	long v;

	if (strcmp(name, "--cpu") == 0 &&
	    cost_num(val, 0, CPU_SETSIZE - 1, &v) == 0)
		o->cpu = (int)v;
	else if (strcmp(name, "--count") == 0 &&
	    cost_num(val, 0, 1L << 40, &v) == 0)
		o->count = v;
	else if (strcmp(name, "--threads") == 0 &&
	    cost_num(val, 1, 4096, &v) == 0)
		o->threads = (int)v;
	else if (strcmp(name, "--rounds") == 0 &&
	    cost_num(val, 1, COST_MAX_ROUNDS - 1, &v) == 0)
		o->rounds = (int)v;
	else if (strcmp(name, "--block-ms") == 0 &&
	    cost_num(val, 1, 3600000, &v) == 0)
		o->block_ms = v;
	else
		return -1;
	return 0;
}

/* Parse the command line into o: 0, or -1 on a usage error. */
static int
cost_args(int argc, char **argv, struct cost_opts *o)
{
	const char *pos[3] = { NULL, NULL, NULL };
	int i, npos = 0;

	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-') {
			if (i + 1 == argc || cost_opt(argv[i], argv[i + 1], o))
				return -1;
			i++;
		} else if (npos < 3) {
			pos[npos++] = argv[i];
		} else {
			return -1;
		}
	}
	if (npos != 1 && npos != 3)
		return -1;
	o->zero = pos[0];
	o->slow = pos[1];
	if (o->slow != NULL && cost_num(pos[2], 1, 3600000, &o->ms) < 0)
		return -1;
	if (o->block_ms == 0)
		o->block_ms = o->ms * 50;
	return 0;
}

/* Open path for commands: an fd, or -1 with a message. */
static int
cost_open(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		fprintf(stderr, "lunsim-cost: %s: %s\n", path, strerror(errno));
	return fd;
}

/* The zero-latency measurement: one thread, count commands on fd, one
 * line printed.  0, or -1 if a command failed. */
static int
cost_zero(int fd, long count)
{
	double cpu0, wall0, per_cmd;
	long i;

	/* One command first, so that one-time setup is not counted. */
	if (cost_read_keys(fd) < 0)
		return -1;
	cpu0 = cost_cpu_us();
	wall0 = cost_wall_us();
	for (i = 0; i < count; i++)
		if (cost_read_keys(fd) < 0)
			return -1;
	per_cmd = (cost_cpu_us() - cpu0) / (double)count;
	wall0 = (cost_wall_us() - wall0) / (double)count;
	printf("commands %ld cpu_us_per_cmd %.2f wall_us_per_cmd %.2f\n", count,
	    per_cmd, wall0);
	fflush(stdout);
	return 0;
}

/* One command of the current mode: 0 or -1. */
static int
cost_one(struct cost_run *r, int mode)
{
	if (mode == COST_LUN)
		return cost_read_keys(r->slow_fd);
	if (cost_read_keys(r->zero_fd) < 0)
		return -1;
	cost_sleep_ms(r->ms);
	return 0;
}

/* A latency thread: one block after another until told to quit. */
static void *
cost_worker(void *arg)
{
	struct cost_run *r = arg;
	uint64_t t0, n;
	int mode;

	for (;;) {
		pthread_barrier_wait(&r->start);
		if (__atomic_load_n(&r->quit, __ATOMIC_ACQUIRE))
			return NULL;
		mode = __atomic_load_n(&r->mode, __ATOMIC_ACQUIRE);
		t0 = cost_thread_ns();
		for (n = 0; !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE); n++)
			if (cost_one(r, mode) < 0) {
				__atomic_store_n(&r->failed, 1,
				    __ATOMIC_RELEASE);
				break;
			}
		__atomic_fetch_add(&r->cpu_ns, cost_thread_ns() - t0,
		    __ATOMIC_RELAXED);
		__atomic_fetch_add(&r->cmds, n, __ATOMIC_RELAXED);
		pthread_barrier_wait(&r->end);
	}
}

/* Run one block of mode for ms milliseconds: its CPU microseconds per
 * command, or -1 if a command failed or none ran. */
static double
cost_block(struct cost_run *r, int mode, long ms)
{
	__atomic_store_n(&r->mode, mode, __ATOMIC_RELEASE);
	__atomic_store_n(&r->stop, 0, __ATOMIC_RELEASE);
	r->cpu_ns = 0;
	r->cmds = 0;
	pthread_barrier_wait(&r->start);
	cost_sleep_ms(ms);
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	pthread_barrier_wait(&r->end);
	if (__atomic_load_n(&r->failed, __ATOMIC_ACQUIRE) || r->cmds == 0)
		return -1;
	return (double)r->cpu_ns / 1e3 / (double)r->cmds;
}

/* Order doubles for qsort. */
static int
cost_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of the n values v (sorted in place). */
static double
cost_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cost_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The rounds of the latency measurement, one line printed: 0 or -1. */
static int
cost_rounds(struct cost_run *r, const struct cost_opts *o)
{
	double lun[COST_MAX_ROUNDS], slp[COST_MAX_ROUNDS];
	double extra[COST_MAX_ROUNDS], a, b;
	int i, first;

	/* Round 0 warms up (stacks, caches, the LUNs' mappings). */
	for (i = 0; i <= o->rounds; i++) {
		first = i % 2 ? COST_SLEEP : COST_LUN;
		a = cost_block(r, first, o->block_ms);
		b = a < 0 ? -1 : cost_block(r, !first, o->block_ms);

		if (a < 0 || b < 0)
			return -1;
		lun[i] = first == COST_LUN ? a : b;
		slp[i] = first == COST_LUN ? b : a;
		extra[i] = lun[i] - slp[i];
	}
	printf("latency_ms %ld threads %d rounds %d lun_cpu_us %.2f "
	       "sleep_cpu_us %.2f extra_cpu_us %.2f\n",
	    o->ms, o->threads, o->rounds, cost_median(lun + 1, o->rounds),
	    cost_median(slp + 1, o->rounds), cost_median(extra + 1, o->rounds));
	return 0;
}

/* The latency measurement: threads started, rounds run, threads ended.
 * 0 or -1. */
static int
cost_latency(int zero_fd, int slow_fd, const struct cost_opts *o)
{
	struct cost_run r;
	pthread_t *tids;
	int i, n, rc;

	memset(&r, 0, sizeof(r));
	r.zero_fd = zero_fd;
	r.slow_fd = slow_fd;
	r.ms = o->ms;
	tids = calloc((size_t)o->threads, sizeof(*tids));
	if (tids == NULL)
		return -1;
	pthread_barrier_init(&r.start, NULL, (unsigned)o->threads + 1);
	pthread_barrier_init(&r.end, NULL, (unsigned)o->threads + 1);
	for (n = 0; n < o->threads; n++)
		if (pthread_create(&tids[n], NULL, cost_worker, &r) != 0)
			break;
	if (n < o->threads) {
		/* The barriers count every thread: no block can run. */
		fprintf(stderr, "lunsim-cost: %d threads started of %d\n", n,
		    o->threads);
		exit(1);
	}
	rc = cost_rounds(&r, o);
	__atomic_store_n(&r.quit, 1, __ATOMIC_RELEASE);
	pthread_barrier_wait(&r.start);
	for (i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
	pthread_barrier_destroy(&r.start);
	pthread_barrier_destroy(&r.end);
	free(tids);
	return rc;
}

int
main(int argc, char **argv)
{
	struct cost_opts o = { .count = 20000, .threads = 64, .rounds = 41 };
	int zero_fd, slow_fd = -1, rc = 0;
	cpu_set_t set;

	if (cost_args(argc, argv, &o) < 0) {
		fprintf(stderr,
		    "usage: lunsim-cost [--cpu N] [--count N] [--threads T] "
		    "[--rounds R] [--block-ms B] ZERO_LUN [SLOW_LUN MS]\n");
		return 2;
	}
	CPU_ZERO(&set);
	CPU_SET(o.cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		fprintf(stderr, "lunsim-cost: not pinned to CPU %d: %s\n",
		    o.cpu, strerror(errno));
	if ((zero_fd = cost_open(o.zero)) < 0)
		return 1;
	if (o.slow != NULL && (slow_fd = cost_open(o.slow)) < 0)
		return 1;
	if (o.count > 0 && cost_zero(zero_fd, o.count) < 0)
		rc = 1;
	if (rc == 0 && o.slow != NULL && cost_latency(zero_fd, slow_fd, &o) < 0)
		rc = 1;
	if (slow_fd >= 0)
		close(slow_fd);
	close(zero_fd);
	return rc;
}
