/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qemu-pr-bench itself: a few hundred commands against our helper (its
 * SG_IO answered by the test shim), checked through the JSON report:
 * every command sent is answered, statuses are counted apart from
 * transport errors, idle mode reports RSS, and connect failures are
 * counted by errno.  No timing is asserted.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

extern char **environ;

static struct th_env env;
static char devpath[PATH_MAX];

/* Start our helper with the shim preloaded, and make a device file. */
static void
setup(void)
{
	int fd;

	cr_assert_eq(th_env_init(&env, TH_OURS), 0);
	cr_assert_eq(th_start(&env, NULL), 0, "helper did not start");
	fd = th_make_dev(&env, "dev.img", O_RDWR, devpath, sizeof(devpath));
	cr_assert_geq(fd, 0);
	close(fd);
}

/* Stop the helper, remove the directory. */
static void
teardown(void)
{
	th_env_fini(&env);
}

TestSuite(bench, .init = setup, .fini = teardown, .timeout = 60);

/* Run qemu-pr-bench with args (after the socket), stdout into a file of
 * the test directory; return its exit status and the JSON (malloc'ed). */
static int
run_bench(const char *sock, const char *const *args, char **json)
{
	char bin[PATH_MAX], out[PATH_MAX + 32];
	const char *argv[40];
	posix_spawn_file_actions_t fa;
	int n = 0, st, rc;
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/qemu-pr-bench",
	    getenv("PRH_TOP_BUILDDIR"));
	snprintf(out, sizeof(out), "%s/bench.json", env.dir);
	argv[n++] = bin;
	argv[n++] = "-k";
	argv[n++] = sock;
	argv[n++] = "--json";
	while (*args != NULL && n < 38)
		argv[n++] = *args++;
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out,
	    O_WRONLY | O_CREAT | O_TRUNC, 0600);
	rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	cr_assert_eq(rc, 0, "cannot run %s: %s", bin, strerror(rc));
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	*json = th_read_file(out, NULL);
	cr_assert_not_null(*json);
	cr_assert(WIFEXITED(st), "qemu-pr-bench died: 0x%x", st);
	return WEXITSTATUS(st);
}

/* The number after "key": in json (first occurrence at or after from). */
static long long
jnum_from(const char *json, const char *from, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(from != NULL ? from : json, pat);
	cr_assert_not_null(p, "no %s in the report:\n%s", key, json);
	return strtoll(p + strlen(pat), NULL, 10);
}

/* The number after "key": in json. */
static long long
jnum(const char *json, const char *key)
{
	return jnum_from(json, NULL, key);
}

/* The sum of the "count" fields of the statuses array. */
static long long
status_total(const char *json)
{
	const char *p = strstr(json, "\"statuses\": [");
	const char *end;
	long long sum = 0;

	cr_assert_not_null(p);
	end = strchr(p, ']');
	cr_assert_not_null(end);
	while ((p = strstr(p, "\"count\":")) != NULL && p < end) {
		sum += strtoll(p + 8, NULL, 10);
		p += 8;
	}
	return sum;
}

/* A mix of all four commands on 4 connections: 300 sent, 300 answered,
 * each a CHECK CONDITION (SG_IO on a regular file), no transport error. */
Test(bench, every_command_answered)
{
	char pid[16], *j;
	const char *args[] = { "-c", "4", "-n", "300", "-f", devpath, "-m",
		"read-keys,read-reservation,register,reserve-release", "-p",
		pid, NULL };

	snprintf(pid, sizeof(pid), "%ld", (long)env.pid);
	cr_assert_eq(run_bench(env.sock, args, &j), 0, "%s", j);
	cr_expect_eq(jnum(j, "connected"), 4);
	cr_expect_eq(jnum(j, "sent"), 300);
	cr_expect_eq(jnum(j, "answered"), 300);
	cr_expect_eq(jnum(j, "recorded"), 300);
	cr_expect_eq(jnum(j, "unanswered"), 0);
	cr_expect_eq(jnum_from(j, strstr(j, "\"latency_us\""), "count"), 300);
	cr_expect_eq(status_total(j), 300);
	cr_expect_neq(strstr(j,
			  "\"status\": 2, \"name\": \"CHECK CONDITION\", "
			  "\"sense_key\": 11"),
	    NULL, "%s", j);
	cr_expect_eq(jnum(j, "total"), 0); /* transport_errors.total */
	cr_expect_eq(jnum_from(j, strstr(j, "connect_failures"), "total"), 0);
	cr_expect_eq(jnum(j, "read-keys"), 1);
	cr_expect_eq(jnum_from(j, strstr(j, "\"helper\""), "pid"), env.pid);
	cr_expect_neq(strstr(j, "\"p99.9\":"), NULL);
	free(j);
}

/* Two threads, 8 connections, the device answering GOOD: the statuses say
 * GOOD 400 and the device saw all 400 commands, each with its fd. */
Test(bench, good_status_and_threads)
{
	char *j;
	const char *args[] = { "-c", "8", "-T", "2", "-n", "400", "-f", devpath,
		"-m", "read-keys=3,register=1", NULL };

	cr_assert_eq(th_shim_set(&env, "%s status=0\n", devpath), 0);
	cr_assert_eq(run_bench(env.sock, args, &j), 0, "%s", j);
	cr_expect_eq(jnum(j, "threads"), 2);
	cr_expect_eq(jnum(j, "answered"), 400);
	cr_expect_eq(jnum(j, "unanswered"), 0);
	cr_expect_neq(strstr(j, "\"status\": 0, \"name\": \"GOOD\""), NULL,
	    "%s", j);
	cr_expect_eq(status_total(j), 400);
	cr_expect_eq(th_wait_shim_calls(&env, 400, TH_TIMEOUT_MS), 400);
	free(j);
}

/* Idle mode holds the connections and reports the helper's RSS. */
Test(bench, idle_reports_rss)
{
	char pid[16], *j;
	const char *args[] = { "--idle", "50", "-p", pid, NULL };

	snprintf(pid, sizeof(pid), "%ld", (long)env.pid);
	cr_assert_eq(run_bench(env.sock, args, &j), 0, "%s", j);
	cr_expect_neq(strstr(j, "\"mode\": \"idle\""), NULL);
	cr_expect_eq(jnum(j, "connected"), 50);
	cr_expect_gt(jnum(j, "rss_after_kib"), 0);
	cr_expect_neq(strstr(j, "\"bytes_per_connection\":"), NULL);
	free(j);
}

/* No helper behind the path: exit 1, three connect failures by errno. */
Test(bench, connect_failures_by_errno)
{
	char missing[PATH_MAX + 32], *j;
	const char *args[] = { "-c", "3", "-n", "10", NULL };

	snprintf(missing, sizeof(missing), "%s/nobody.sock", env.dir);
	cr_assert_eq(run_bench(missing, args, &j), 1, "%s", j);
	cr_expect_eq(jnum(j, "connected"), 0);
	cr_expect_eq(jnum(j, "ENOENT"), 3, "%s", j);
	cr_expect_eq(jnum(j, "answered"), 0);
	free(j);
}
