/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lunsim-cost: the CPU one SG_IO costs the process that issues it on a
 * simulated LUN.
 *
 *   lunsim [--latency MS] -- lunsim-cost [--cpu N] [--count N]
 *	[--sleep-ms MS] DEVICE
 *
 * Pins itself to one CPU (default 0), issues PERSISTENT RESERVE IN READ
 * KEYS on DEVICE COUNT times (default 20000) in a loop and prints one line:
 *   "commands N cpu_us_per_cmd X wall_us_per_cmd Y sleep_cpu_us S
 *    sim_cpu_us_per_cmd X-S"
 * where X is the user + system time getrusage() reports for the process
 * divided by N, and Y the elapsed time divided by N.  S is what one bare
 * nanosleep() of MS milliseconds (the LUN's latency; default 0: none)
 * costs the same process, measured the same way: the floor any blocking
 * wait puts on a command (a thread put to sleep and woken), which a real
 * device's wait costs too.  X-S is then what the simulator itself costs.
 * Exit 1 if a command fails.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
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

/* CPU microseconds one nanosleep() of ms milliseconds costs (0 if ms 0),
 * averaged over n sleeps. */
static double
cost_sleep_us(long ms, long n)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	double cpu0;
	long i;

	if (ms <= 0)
		return 0;
	cpu0 = cost_cpu_us();
	for (i = 0; i < n; i++)
		nanosleep(&ts, NULL);
	return (cost_cpu_us() - cpu0) / (double)n;
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

/* Parse the command line into cpu, count and the device path. */
static int
cost_args(int argc, char **argv, int *cpu, long *count, long *sleep_ms,
    const char **dev)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--cpu") == 0 && i + 1 < argc)
			*cpu = atoi(argv[++i]);
		else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			*count = atol(argv[++i]);
		else if (strcmp(argv[i], "--sleep-ms") == 0 && i + 1 < argc)
			*sleep_ms = atol(argv[++i]);
		else if (*dev == NULL && argv[i][0] != '-')
			*dev = argv[i];
		else
			return -1;
	}
	return *dev != NULL && *count > 0 && *cpu >= 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	const char *dev = NULL;
	long count = 20000, sleep_ms = 0, i;
	int cpu = 0, fd;
	double cpu0, wall0, per_cmd, per_sleep;
	cpu_set_t set;

	if (cost_args(argc, argv, &cpu, &count, &sleep_ms, &dev) < 0) {
		fprintf(stderr,
		    "usage: lunsim-cost [--cpu N] [--count N] [--sleep-ms MS] "
		    "DEVICE\n");
		return 2;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		fprintf(stderr, "lunsim-cost: not pinned to CPU %d: %s\n", cpu,
		    strerror(errno));
	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "lunsim-cost: %s: %s\n", dev, strerror(errno));
		return 1;
	}
	/* One command first, so that one-time setup is not counted. */
	if (cost_read_keys(fd) < 0)
		return 1;
	cpu0 = cost_cpu_us();
	wall0 = cost_wall_us();
	for (i = 0; i < count; i++)
		if (cost_read_keys(fd) < 0)
			return 1;
	per_cmd = (cost_cpu_us() - cpu0) / (double)count;
	wall0 = (cost_wall_us() - wall0) / (double)count;
	per_sleep = cost_sleep_us(sleep_ms, count);
	printf("commands %ld cpu_us_per_cmd %.2f wall_us_per_cmd %.2f "
	       "sleep_cpu_us %.2f sim_cpu_us_per_cmd %.2f\n",
	    count, per_cmd, wall0, per_sleep, per_cmd - per_sleep);
	close(fd);
	return 0;
}
