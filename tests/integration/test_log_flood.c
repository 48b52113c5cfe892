/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Integration: what one hostile client can do to the log of our helper.
 * For two seconds one process abuses the helper in one way (PR commands
 * with fds the policy refuses, on as many device nodes as it likes;
 * connections of a uid --allow-uid refuses, or over
 * --max-clients-per-uid; connections closed before their hello;
 * protocol errors on fresh connections; PR OUT after PR OUT on a disk it
 * may use): the helper's stderr then holds
 * fewer than 500 lines, the first line of the kind among them, and a
 * line that counts what was not logged names the peer.  After the flood
 * of refusals, the client's PREEMPT AND ABORT is logged in full, and in
 * the PR OUT flood every command that ran has its line.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "prh/client.h"
#include "prh/protocol.h"
#include "harness.h"

#define LF_FLOOD_NS  (2ull * 1000000000ull) /* how long each abuse lasts */
#define LF_MAX_LINES 500 /* what one client may make the helper say */

static struct th_env lf_env;

/* Suite teardown: stop the helper, remove what was made. */
static void
lf_fini(void)
{
	th_env_fini(&lf_env);
}

TestSuite(flood, .fini = lf_fini, .timeout = 60);

/* Start our helper with args, skipping when it or the shim is not
 * built. */
static void
lf_start(const char *const *args)
{
	const char *why;
	int rc;

	if (th_helper_usable(TH_OURS, &why) < 0)
		cr_skip_test("%s", why);
	cr_assert_eq(th_env_init(&lf_env, TH_OURS), 0);
	rc = th_start(&lf_env, args);
	cr_assert_eq(rc, 0, "helper did not start: %s\nstderr: %s",
	    strerror(-rc), th_stderr(&lf_env));
}

/* Lines on the helper's stderr. */
static int
lf_lines(void)
{
	char *text = th_stderr(&lf_env);
	int n = 0;

	cr_assert_not_null(text);
	for (char *p = text; *p != '\0'; p++)
		n += *p == '\n';
	free(text);
	return n;
}

/* Occurrences of needle in the helper's stderr. */
static int
lf_count(const char *needle)
{
	int n = th_stderr_count(&lf_env, needle);

	cr_assert_geq(n, 0);
	return n;
}

/* Now, in nanoseconds of the monotonic clock. */
static uint64_t
lf_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Whether the flood that started at t0 is over. */
static bool
lf_over(uint64_t t0)
{
	return lf_now() - t0 >= LF_FLOOD_NS;
}

/* For two seconds, connections the helper closes at once: how many. */
static int
lf_refused_connections(void)
{
	uint64_t t0;
	int s, n = 0;

	for (t0 = lf_now(); !lf_over(t0); n++) {
		s = th_connect_raw(&lf_env);
		cr_assert_geq(s, 0);
		cr_assert_eq(th_wait_closed(s, TH_TIMEOUT_MS), 0);
		close(s);
	}
	return n;
}

/* The abuse of n requests or connections (over 100 in the two seconds)
 * added fewer than LF_MAX_LINES to the before lines of stderr. */
static void
lf_expect_few_lines(int before, int n)
{
	int lines = lf_lines() - before;

	cr_expect_gt(n, 100, "the abuse sent only %d", n);
	cr_expect_lt(lines, LF_MAX_LINES, "%d for %d: %s", lines, n,
	    th_stderr(&lf_env));
	cr_log_info("%d lines for %d requests or connections in 2 s", lines, n);
}

/* Lines of the client not logged, as the helper's stderr reports them:
 * in lines of their own that name the peer ("[pid P uid U ...] N lines
 * of this client not logged (rate limit)") and carried by later lines
 * (" (N earlier lines of this client not logged)"); *named: whether every
 * count line names this process. */
static long
lf_not_logged(bool *named)
{
	char *text = th_stderr(&lf_env), *line, *nl, *p, peer[64];
	long total = 0, n;

	cr_assert_not_null(text);
	snprintf(peer, sizeof(peer), "[pid %d uid %d", (int)getpid(),
	    (int)getuid());
	*named = true;
	for (line = text; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
		p = strstr(line, " (rate limit)");
		if (p != NULL && (p = strstr(line, "] ")) != NULL &&
		    sscanf(p, "] %ld line", &n) == 1) {
			total += n;
			*named = *named && strstr(line, peer) != NULL;
		}
		p = strstr(line, " earlier line");
		if (p != NULL) {
			while (p > line && p[-1] != '(')
				p--;
			if (sscanf(p, "%ld", &n) == 1)
				total += n;
		}
	}
	free(text);
	return total;
}

/* Every one of the total lines the client made the helper want to say,
 * logged lines among them, is logged or reported as not logged, in lines
 * that name this peer: wait for the count line when some are owed. */
static void
lf_expect_accounted(int logged, long total)
{
	bool named;

	if (logged + lf_not_logged(&named) < total)
		cr_assert_eq(th_wait_stderr(&lf_env,
				 " of this client not logged (rate limit)\n",
				 TH_TIMEOUT_MS),
		    0, "no count line: %s", th_stderr(&lf_env));
	cr_expect_eq(logged + lf_not_logged(&named), total, "%s",
	    th_stderr(&lf_env));
	cr_expect(named, "%s", th_stderr(&lf_env));
	cr_expect_lt(logged, total, "nothing was limited");
}

/* A shim disk answering GOOD: its fd (path in path). */
static int
lf_disk(const char *name, char *path, size_t len)
{
	int fd = th_make_dev(&lf_env, name, O_RDWR, path, len);

	cr_assert_geq(fd, 0);
	cr_assert_eq(th_shim_set(&lf_env, "%s status=0\n", path), 0);
	return fd;
}

/* A pty slave, another device node the policy refuses each time. */
static int
lf_pty(void)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), s;

	cr_assert_geq(m, 0, "posix_openpt: %s", strerror(errno));
	cr_assert_eq(grantpt(m), 0);
	cr_assert_eq(unlockpt(m), 0);
	s = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
	cr_assert_geq(s, 0, "%s: %s", ptsname(m), strerror(errno));
	close(m);
	return s;
}

Test(flood, refusals_do_not_hide_a_preempt_and_abort)
{
	char path[PATH_MAX], want[512];
	uint8_t cdb[PRH_CDB_LEN], param[24];
	struct client_reply r;
	uint64_t t0;
	int s, disk, fd, sent = 0, before;

	lf_start(NULL);
	disk = lf_disk("shared.lun", path, sizeof(path));
	s = th_connect(&lf_env);
	cr_assert_geq(s, 0);
	before = lf_lines();
	client_param_basic(param, 0xbad, 0, 0);
	/* PR IN and PR OUT with a new pty each time, on one connection. */
	for (t0 = lf_now(); !lf_over(t0); sent++) {
		fd = lf_pty();
		if (sent % 2 == 0)
			client_cdb_pr_in(cdb, 0, 1024);
		else
			client_cdb_pr_out(cdb, 0, 0, sizeof(param));
		cr_assert_eq(client_command(s, cdb, fd, sent % 2 ? param : NULL,
				 sent % 2 ? sizeof(param) : 0, &r),
		    0);
		cr_assert_eq(r.status, PRH_STATUS_CHECK_CONDITION);
		close(fd);
	}
	/* Then the fencing command. */
	client_cdb_pr_out(cdb, 5, 1, sizeof(param));
	client_param_basic(param, 0xb, 0xa, 0);
	cr_assert_eq(client_command(s, cdb, disk, param, sizeof(param), &r), 0);
	cr_expect_eq(r.status, PRH_STATUS_GOOD);
	snprintf(want, sizeof(want),
	    "] PR OUT PREEMPT AND ABORT shared.lun 240:");
	cr_assert_eq(th_wait_stderr(&lf_env, want, TH_TIMEOUT_MS), 0, "%s",
	    th_stderr(&lf_env));
	snprintf(want, sizeof(want),
	    "[pid %d uid %d comm %s] PR OUT PREEMPT AND ABORT shared.lun",
	    (int)getpid(), (int)getuid(), th_self_comm());
	cr_expect_eq(lf_count(want), 1, "%s in %s", want, th_stderr(&lf_env));
	cr_expect_eq(lf_count(": key 0xb, service action key 0xa, type we: "
			      "GOOD"),
	    1, "%s", th_stderr(&lf_env));
	lf_expect_few_lines(before, sent);
	/* The PR OUT with a pty were run (and refused by the device policy
	 * on the worker): logged in full.  The PR IN ones and the refusal
	 * line (once per connection) are of the warnings' share. */
	cr_expect_eq(lf_count("] PR OUT REGISTER 136:"), sent / 2);
	lf_expect_accounted(lf_count("] PR IN READ KEYS 136:") +
		lf_count("] refused 136:"),
	    (sent + 1) / 2 + 1);
	close(s);
	close(disk);
}

Test(flood, peers_the_allow_list_refuses)
{
	const char *const args[] = { "--allow-uid=12345", NULL };
	int n, before;

	if (getuid() == 12345)
		cr_skip_test("runs as uid 12345");
	lf_start(args);
	before = lf_lines();
	n = lf_refused_connections();
	lf_expect_few_lines(before, n);
	lf_expect_accounted(lf_count(": not in --allow-uid or --allow-gid"), n);
}

Test(flood, connections_over_the_per_uid_limit)
{
	const char *const args[] = { "--max-clients-per-uid=1", NULL };
	int held, n, before;

	lf_start(args);
	held = th_connect(&lf_env);
	cr_assert_geq(held, 0);
	before = lf_lines();
	n = lf_refused_connections();
	lf_expect_few_lines(before, n);
	lf_expect_accounted(lf_count(" connections (--max-clients-per-uid)"),
	    n);
	close(held);
}

Test(flood, connections_closed_before_their_hello)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int s, n = 0, before;
	uint64_t t0;

	lf_start(NULL);
	cr_assert_lt(strlen(lf_env.sock), sizeof(sun.sun_path));
	memcpy(sun.sun_path, lf_env.sock, strlen(lf_env.sock) + 1);
	before = lf_lines();
	for (t0 = lf_now(); !lf_over(t0); n++) {
		s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_geq(s, 0);
		if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0)
			cr_assert(errno == EAGAIN, "%s", strerror(errno));
		close(s);
	}
	/* The helper saw them all. */
	s = th_connect(&lf_env);
	cr_assert_geq(s, 0);
	close(s);
	lf_expect_few_lines(before, n);
}

Test(flood, protocol_errors_on_fresh_connections)
{
	uint8_t cdb[PRH_CDB_LEN];
	int s, n = 0, before;
	uint64_t t0;

	lf_start(NULL);
	client_cdb_pr_in(cdb, 0, 1024);
	before = lf_lines();
	for (t0 = lf_now(); !lf_over(t0); n++) {
		s = th_connect(&lf_env);
		cr_assert_geq(s, 0);
		/* A CDB without its fd: "No file descriptor in request." */
		cr_assert_eq(th_send_fds(s, cdb, sizeof(cdb), NULL, 0), 0);
		cr_assert_eq(th_wait_closed(s, TH_TIMEOUT_MS), 0);
		close(s);
	}
	lf_expect_few_lines(before, n);
	lf_expect_accounted(lf_count("] No file descriptor in request."), n);
}

Test(flood, pr_out_after_pr_out_is_slowed_not_hidden)
{
	char path[PATH_MAX];
	uint8_t cdb[PRH_CDB_LEN], param[24];
	struct client_reply r;
	int s, disk, n = 0, before;
	uint64_t t0;

	lf_start(NULL);
	disk = lf_disk("lun", path, sizeof(path));
	s = th_connect(&lf_env);
	cr_assert_geq(s, 0);
	client_cdb_pr_out(cdb, 0, 0, sizeof(param));
	client_param_basic(param, 0, 0xa, 0);
	before = lf_lines();
	for (t0 = lf_now(); !lf_over(t0); n++) {
		cr_assert_eq(client_command(s, cdb, disk, param, sizeof(param),
				 &r),
		    0);
		cr_assert_eq(r.status, PRH_STATUS_GOOD);
	}
	/* One more, whose line comes after all of theirs (a reply may reach
	 * the client before its line is written). */
	client_param_basic(param, 0, 0x1a57, 0);
	cr_assert_eq(client_command(s, cdb, disk, param, sizeof(param), &r), 0);
	cr_assert_eq(th_wait_stderr(&lf_env, "service action key 0x1a57",
			 TH_TIMEOUT_MS),
	    0);
	/* Every command that ran has its line, and they are few. */
	cr_expect_eq(lf_count("] PR OUT REGISTER lun 240:"), n + 1, "%d: %s", n,
	    th_stderr(&lf_env));
	lf_expect_few_lines(before, n);
	cr_expect_eq(lf_count("not logged"), 0, "%s", th_stderr(&lf_env));
	close(s);
	close(disk);
}
