/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qemu-pr-bench itself: a few hundred commands against our helper (its
 * SG_IO answered by the test shim), checked through the JSON report:
 * every command sent is answered, statuses are counted apart from
 * transport errors, idle mode reports RSS, and connect failures are
 * counted by errno.  And the matrix's floor server (src/bench/floor):
 * qemu-pr-bench's commands all answered with the helper's reply for a
 * regular file, requests that come in pieces, no fd kept, exit 0 at
 * SIGTERM.  No timing is asserted.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "prh/client.h"
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

/* Run all four commands on 4 connections against the server at env.sock,
 * n in all, and check the report: n sent, answered and recorded, each a
 * CHECK CONDITION / ABORTED COMMAND (the answer for a regular file), no
 * transport or connect error.  The JSON, to free. */
static char *
run_mix_on_file(int n)
{
	char pid[16], count[16], want[160], *j;
	const char *args[] = { "-c", "4", "-n", count, "-f", devpath, "-m",
		"read-keys,read-reservation,register,reserve-release", "-p",
		pid, NULL };

	snprintf(pid, sizeof(pid), "%ld", (long)env.pid);
	snprintf(count, sizeof(count), "%d", n);
	cr_assert_eq(run_bench(env.sock, args, &j), 0, "%s", j);
	cr_expect_eq(jnum(j, "connected"), 4);
	cr_expect_eq(jnum(j, "sent"), n);
	cr_expect_eq(jnum(j, "answered"), n);
	cr_expect_eq(jnum(j, "recorded"), n);
	cr_expect_eq(jnum(j, "unanswered"), 0);
	cr_expect_eq(jnum_from(j, strstr(j, "\"latency_us\""), "count"), n);
	cr_expect_eq(status_total(j), n);
	snprintf(want, sizeof(want),
	    "\"status\": 2, \"name\": \"CHECK CONDITION\", \"sense_key\": 11, "
	    "\"sense_name\": \"ABORTED COMMAND\", \"count\": %d",
	    n);
	cr_expect_neq(strstr(j, want), NULL, "%s", j);
	cr_expect_eq(jnum(j, "total"), 0); /* transport_errors.total */
	cr_expect_eq(jnum_from(j, strstr(j, "connect_failures"), "total"), 0);
	cr_expect_eq(jnum_from(j, strstr(j, "\"helper\""), "pid"), env.pid);
	return j;
}

/* A mix of all four commands on 4 connections: 300 sent, 300 answered,
 * each a CHECK CONDITION (SG_IO on a regular file), no transport error. */
Test(bench, every_command_answered)
{
	char *j = run_mix_on_file(300);

	cr_expect_eq(jnum(j, "read-keys"), 1);
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

/* The floor server's fds when it has no connection: stdin, stdout and
 * stderr, its epoll set, its signalfd and its listener. */
#define FLOOR_BASE_FDS 6

/* Start the floor server (it never calls SG_IO: no shim) and make a
 * device file. */
static void
floor_setup(void)
{
	int fd;

	cr_assert_eq(th_env_init(&env, TH_FLOOR), 0);
	cr_assert_eq(th_spawn(&env, NULL, TH_NO_SHIM), 0);
	cr_assert_eq(th_wait_ready(&env, TH_TIMEOUT_MS), 0,
	    "the floor server did not start");
	fd = th_make_dev(&env, "dev.img", O_RDWR, devpath, sizeof(devpath));
	cr_assert_geq(fd, 0);
	close(fd);
}

TestSuite(floor, .init = floor_setup, .fini = teardown, .timeout = 60);

/* Stop the floor server with SIGTERM: exit status 0, socket removed. */
static void
floor_stop(void)
{
	int st = 0;

	cr_assert_eq(th_stop(&env, SIGTERM, TH_TIMEOUT_MS, &st), 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
	cr_expect_eq(access(env.sock, F_OK), -1, "socket left behind");
}

/* Read one reply on sock and check it is the helper's for a regular
 * file: CHECK CONDITION, no payload, ABORTED COMMAND 00/06. */
static void
expect_file_reply(int sock)
{
	uint8_t want[PRH_SENSE_LEN];
	struct client_reply r;

	th_sense_fixed(want, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
	cr_assert_eq(client_read_reply(sock, &r), 0);
	cr_expect_eq(r.status, PRH_STATUS_CHECK_CONDITION);
	cr_expect_eq(r.size, 0);
	cr_expect_arr_eq(r.sense, want, sizeof(want));
}

/* qemu-pr-bench's four commands on 4 connections: 400 sent, 400
 * answered, all CHECK CONDITION / ABORTED COMMAND, no transport error, by
 * one thread; afterwards the server holds no fd beyond its own, and
 * SIGTERM ends it with status 0. */
Test(floor, every_command_answered)
{
	char *j;

	cr_assert_eq(th_wait_fd_count(env.pid, FLOOR_BASE_FDS, TH_TIMEOUT_MS),
	    FLOOR_BASE_FDS);
	j = run_mix_on_file(400);
	cr_expect_eq(jnum_from(j, strstr(j, "\"helper\""), "threads"), 1);
	free(j);
	/* qemu-pr-bench has exited: every connection and device fd goes. */
	cr_expect_eq(th_wait_fd_count(env.pid, FLOOR_BASE_FDS, TH_TIMEOUT_MS),
	    FLOOR_BASE_FDS);
	floor_stop();
}

/* A CDB in two pieces (its fd on the second), a PR OUT parameter list in
 * its own send, and a PR IN with an fd on each half: the first two are
 * answered, in order, the third closes the connection. */
Test(floor, requests_in_pieces)
{
	uint8_t cdb[PRH_CDB_LEN], param[24];
	int sock, dev;

	dev = open(devpath, O_RDWR | O_CLOEXEC);
	cr_assert_geq(dev, 0);
	sock = th_connect(&env);
	cr_assert_geq(sock, 0);
	client_cdb_pr_in(cdb, 0, 1024);
	cr_assert_eq(th_send_fds(sock, cdb, 8, NULL, 0), 0);
	cr_assert_eq(th_send_fds(sock, cdb + 8, 8, &dev, 1), 0);
	expect_file_reply(sock);
	client_cdb_pr_out(cdb, 0x06, 0, sizeof(param));
	client_param_basic(param, 0, 0x1234, 0);
	cr_assert_eq(th_send_fds(sock, cdb, sizeof(cdb), &dev, 1), 0);
	cr_assert_eq(th_send_fds(sock, param, sizeof(param), NULL, 0), 0);
	expect_file_reply(sock);
	client_cdb_pr_in(cdb, 0, 1024);
	cr_assert_eq(th_send_fds(sock, cdb, 8, &dev, 1), 0);
	cr_assert_eq(th_send_fds(sock, cdb + 8, 8, &dev, 1), 0);
	cr_expect_eq(th_wait_closed(sock, TH_TIMEOUT_MS), 0);
	close(sock);
	close(dev);
	cr_expect_eq(th_wait_fd_count(env.pid, FLOOR_BASE_FDS, TH_TIMEOUT_MS),
	    FLOOR_BASE_FDS);
	floor_stop();
}
