/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What procfs says about the helper under test (CPU time, RSS, threads),
 * and the file-descriptor limit of the benchmark itself.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

/* utime + stime of pid in ns, from <procfs>/PID/stat: 0 or -errno. */
static int
bench_proc_cpu(pid_t pid, uint64_t *ns)
{
	unsigned long long ut, st;
	char path[64], buf[1024], *p;
	long tck;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces: fields count from its ')'. */
	p = strrchr(buf, ')');
	if (p == NULL ||
	    sscanf(p + 2,
		"%*c %*d %*d %*d %*d %*d %*u %*u %*u "
		"%*u %*u %llu %llu",
		&ut, &st) != 2)
		return -EINVAL;
	tck = sysconf(_SC_CLK_TCK);
	if (tck <= 0)
		tck = 100;
	*ns = (ut + st) * (BENCH_NSEC / (uint64_t)tck);
	return 0;
}

/* Fill p from <procfs>/PID/stat and status: 0 or -errno. */
int
bench_proc_read(pid_t pid, struct bench_proc *p)
{
	char path[64], line[256];
	unsigned long long v;
	FILE *f;
	int rc;

	memset(p, 0, sizeof(*p));
	rc = bench_proc_cpu(pid, &p->cpu_ns);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmRSS: %llu", &v) == 1)
			p->rss_kib = v;
		else if (sscanf(line, "VmHWM: %llu", &v) == 1)
			p->hwm_kib = v;
		else if (sscanf(line, "Threads: %llu", &v) == 1)
			p->threads = (unsigned)v;
	}
	fclose(f);
	p->ok = 1;
	return 0;
}

/* Make room for need descriptors: the soft limit goes to the hard limit,
 * and the hard one up too when allowed.  0 or -errno. */
int
bench_raise_nofile(unsigned need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		struct rlimit up = { .rlim_cur = need, .rlim_max = need };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return 0;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	return rl.rlim_cur >= need ? 0 : -EMFILE;
}
