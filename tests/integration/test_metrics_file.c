/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Integration: --metrics-file of our helper.  The file is there when the
 * helper serves, promtool accepts it, its numbers move as commands are
 * sent (SIGUSR1 rewrites it: once the summary line it also logs is on
 * stderr, the new file is in place), the oldest command in flight of a
 * hung device ages, a link at PATH.tmp is never followed, the file goes
 * at exit, and start-up fails when the file cannot be written.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "prh/client.h"
#include "prh/protocol.h"
#include "harness.h"

#define MF_TIMEOUT_MS TH_TIMEOUT_MS
#define PROMTOOL      "/usr/bin/promtool"

static struct th_env mf_env;
static char mf_opt[PATH_MAX + 64];  /* --metrics-file=... */
static char mf_path[PATH_MAX + 32]; /* the file */

/* Suite teardown. */
static void
mf_fini(void)
{
	th_env_fini(&mf_env);
}

TestSuite(metrics, .fini = mf_fini, .timeout = 60);

/* Make the env and name the metrics file in a directory of its own. */
static void
mf_prepare(void)
{
	char dir[PATH_MAX + 16];
	const char *why;

	if (th_helper_usable(TH_OURS, &why) < 0)
		cr_skip_test("%s", why);
	cr_assert_eq(th_env_init(&mf_env, TH_OURS), 0);
	snprintf(dir, sizeof(dir), "%s/textfile", mf_env.dir);
	cr_assert_eq(mkdir(dir, 0755), 0);
	snprintf(mf_path, sizeof(mf_path), "%s/prh.prom", dir);
	snprintf(mf_opt, sizeof(mf_opt), "--metrics-file=%s", mf_path);
}

/* Start the helper with --metrics-file and more args. */
static void
mf_start(const char *extra)
{
	const char *args[] = { mf_opt, extra, NULL };
	int rc = th_start(&mf_env, args);

	cr_assert_eq(rc, 0, "helper did not start: %s\nstderr: %s",
	    strerror(-rc), th_stderr(&mf_env));
}

/* SIGUSR1, and the file as it is once the summary is logged (the file
 * is rewritten first, in the same callback).  malloc'ed. */
static char *
mf_refresh(void)
{
	char *text;

	cr_assert_eq(truncate(mf_env.err, 0), 0);
	cr_assert_eq(kill(mf_env.pid, SIGUSR1), 0);
	cr_assert_eq(th_wait_stderr(&mf_env, "summary:", MF_TIMEOUT_MS), 0);
	text = th_read_file(mf_path, NULL);
	cr_assert_not_null(text);
	return text;
}

/* A device of the env whose SG_IO the shim answers as rule says (its
 * only rule): its fd, its path in path. */
static int
mf_dev(const char *name, const char *rule, char *path, size_t len)
{
	int fd = th_make_dev(&mf_env, name, O_RDWR, path, len);

	cr_assert_geq(fd, 0);
	cr_assert_eq(th_shim_set(&mf_env, "%s %s\n", path, rule), 0);
	return fd;
}

/* The value of the sample whose line starts with series (name and
 * labels) in text, or -1. */
static double
mf_value(const char *text, const char *series)
{
	const char *p = th_line_with(text, series, ' ');

	return p != NULL ? strtod(p + strlen(series) + 1, NULL) : -1;
}

/* mf_refresh() until the sample series reads want, or MF_TIMEOUT_MS
 * passed: the last file read.  malloc'ed. */
static char *
mf_refresh_until(const char *series, double want)
{
	long long end = th_now_ms() + MF_TIMEOUT_MS;
	char *text = mf_refresh();

	while (mf_value(text, series) != want && th_now_ms() < end) {
		free(text);
		text = mf_refresh();
	}
	return text;
}

/* The labels of device name (its wwid read from the file). */
static const char *
mf_dev_labels(const char *text, const char *name)
{
	static char lab[256];
	char want[64];
	const char *p;

	snprintf(want, sizeof(want), "{device=\"%s\",wwid=\"", name);
	p = strstr(text, want);
	cr_assert_not_null(p, "no device %s in %s", name, text);
	/* up to the wwid's closing quote */
	snprintf(lab, sizeof(lab), "%.*s",
	    (int)(strlen(want) + strcspn(p + strlen(want), "\"") + 1), p);
	return lab;
}

/* Series name + labels + extra (inside the braces) into a buffer. */
static const char *
mf_series(const char *name, const char *lab, const char *extra)
{
	static char s[512];

	snprintf(s, sizeof(s), "%s%s%s}", name, lab, extra);
	return s;
}

/* One PR OUT REGISTER or PR IN READ KEYS on dev; the status. */
static uint32_t
mf_command(int sock, int dev, bool out)
{
	uint8_t cdb[PRH_CDB_LEN], param[24];
	struct client_reply r;

	if (out) {
		client_cdb_pr_out(cdb, 0, 0, sizeof(param));
		client_param_basic(param, 0, 0xa, 0);
	} else {
		client_cdb_pr_in(cdb, 0, 1024);
	}
	cr_assert_eq(client_command(sock, cdb, dev, out ? param : NULL,
			 out ? sizeof(param) : 0, &r),
	    0);
	return r.status;
}

/* promtool's check of the file (the test is skipped without promtool). */
static void
mf_promtool(void)
{
	char cmd[PATH_MAX + 128];
	int rc;

	if (access(PROMTOOL, X_OK) != 0)
		cr_skip_test(
		    PROMTOOL " is not installed (Debian's prometheus)");
	snprintf(cmd, sizeof(cmd), PROMTOOL " check metrics < '%s'", mf_path);
	rc = system(cmd);
	cr_expect(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "promtool: 0x%x", rc);
}

Test(metrics, written_at_start_and_promtool_accepts_it)
{
	struct stat st;

	mf_prepare();
	mf_start(NULL);
	/* Written before READY=1. */
	cr_assert_eq(lstat(mf_path, &st), 0, "%s", th_stderr(&mf_env));
	cr_expect(S_ISREG(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0644);
	cr_expect_eq(st.st_uid, geteuid());
	mf_promtool();
}

Test(metrics, numbers_move_with_commands)
{
	char path[PATH_MAX], *t;
	const char *lab;
	int s, dev;

	mf_prepare();
	mf_start(NULL);
	t = th_read_file(mf_path, NULL);
	cr_assert_not_null(t);
	cr_expect_eq(mf_value(t,
			 "prh_commands_total{opcode=\"pr_out\","
			 "service_action=\"register\",outcome=\"good\"}"),
	    0, "%s", t);
	cr_expect_eq(mf_value(t, "prh_connections_accepted_total"), 0);
	cr_expect_null(strstr(t, "{device=\""));
	free(t);
	dev = mf_dev("lunm", "status=0", path, sizeof(path));
	s = th_connect(&mf_env);
	cr_assert_geq(s, 0);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(mf_command(s, dev, true), PRH_STATUS_GOOD);
	cr_expect_eq(mf_command(s, dev, false), PRH_STATUS_GOOD);
	t = mf_refresh();
	cr_expect_eq(mf_value(t,
			 "prh_commands_total{opcode=\"pr_out\","
			 "service_action=\"register\",outcome=\"good\"}"),
	    3, "%s", t);
	cr_expect_eq(mf_value(t,
			 "prh_commands_total{opcode=\"pr_in\","
			 "service_action=\"read_keys\",outcome=\"good\"}"),
	    1);
	cr_expect_eq(mf_value(t, "prh_connections_accepted_total"), 1);
	cr_expect_eq(mf_value(t, "prh_connections"), 1);
	cr_expect_geq(mf_value(t, "prh_workers"), 1);
	cr_expect_eq(mf_value(t, "prh_workers_max"), 256);
	cr_expect_eq(mf_value(t, "prh_audit_lines_total"), 3);
	lab = mf_dev_labels(t, "lunm");
	cr_expect_eq(mf_value(t,
			 mf_series("prh_device_latency_seconds_count", lab,
			     "")),
	    4, "%s", t);
	cr_expect_eq(mf_value(t,
			 mf_series("prh_device_latency_seconds_bucket", lab,
			     ",le=\"+Inf\"")),
	    4);
	cr_expect_gt(mf_value(t,
			 mf_series("prh_device_latency_seconds_sum", lab, "")),
	    0);
	free(t);
	close(s);
	/* The helper sees the EOF when its loop next reads the socket,
	 * which may come after the SIGUSR1 of a refresh. */
	t = mf_refresh_until("prh_connections_closed_total", 1);
	cr_expect_eq(mf_value(t, "prh_connections_closed_total"), 1, "%s", t);
	free(t);
	if (access(PROMTOOL, X_OK) == 0)
		mf_promtool();
	close(dev);
}

Test(metrics, a_malformed_device_name_is_escaped)
{
	char path[PATH_MAX], *t;
	int s, dev;

	mf_prepare();
	mf_start(NULL);
	/* ESC, a byte that is no UTF-8, DEL, a C1 control (CSI). */
	dev = mf_dev("lun\x1b[1m\xff\x7f\xc2\x9b", "status=0", path,
	    sizeof(path));
	s = th_connect(&mf_env);
	cr_assert_geq(s, 0);
	cr_expect_eq(mf_command(s, dev, true), PRH_STATUS_GOOD);
	t = mf_refresh();
	/* The value reads as the audit trail writes the name. */
	cr_expect_eq(mf_value(t,
			 mf_series("prh_device_latency_seconds_count",
			     mf_dev_labels(t,
				 "lun\\\\x1b[1m\\\\xff\\\\x7f\\\\xc2\\\\x9b"),
			     "")),
	    1, "%s", t);
	cr_expect_null(strchr(t, '\x1b'), "%s", t);
	cr_expect_null(strchr(t, '\xff'));
	free(t);
	mf_promtool();
	close(s);
	close(dev);
}

Test(metrics, oldest_command_of_a_hung_device_ages)
{
	char path[PATH_MAX], *t;
	struct client_reply r;
	uint8_t cdb[PRH_CDB_LEN];
	const char *lab;
	double age1, age2 = -1;
	int s, dev;

	mf_prepare();
	mf_start(NULL);
	dev = mf_dev("lunh", "hang=1", path, sizeof(path));
	s = th_connect(&mf_env);
	cr_assert_geq(s, 0);
	client_cdb_pr_in(cdb, 0, 1024);
	cr_assert_eq(client_send_request(s, cdb, dev, NULL, 0), 0);
	/* The command reaches its device (the shim logs it first). */
	cr_assert_geq(th_wait_shim_calls(&mf_env, 1, MF_TIMEOUT_MS), 1);
	t = mf_refresh();
	lab = mf_dev_labels(t, "lunh");
	cr_expect_eq(mf_value(t,
			 mf_series("prh_device_commands_in_flight", lab, "")),
	    1, "%s", t);
	age1 = mf_value(t,
	    mf_series("prh_device_oldest_command_age_seconds", lab, ""));
	cr_expect_gt(age1, 0, "%s", t);
	cr_expect_eq(mf_value(t, "prh_commands_running"), 1);
	free(t);
	/* It grows while the device does not answer. */
	for (int i = 0; i < 1000 && age2 <= age1; i++) {
		t = mf_refresh();
		age2 = mf_value(t,
		    mf_series("prh_device_oldest_command_age_seconds", lab,
			""));
		free(t);
	}
	cr_expect_gt(age2, age1);
	cr_assert_eq(th_shim_set(&mf_env, "%s status=0\n", path), 0);
	cr_assert_eq(client_read_reply(s, &r), 0);
	cr_expect_eq(r.status, PRH_STATUS_GOOD);
	/* The command is back with the loop within the sweep (20 ms). */
	for (int i = 0; i < 1000; i++) {
		t = mf_refresh();
		age2 = mf_value(t,
		    mf_series("prh_device_oldest_command_age_seconds", lab,
			""));
		if (age2 == 0)
			break;
		free(t);
		t = NULL;
	}
	cr_assert_not_null(t);
	cr_expect_eq(mf_value(t,
			 mf_series("prh_device_commands_in_flight", lab, "")),
	    0);
	free(t);
	close(s);
	close(dev);
}

Test(metrics, link_at_tmp_is_not_followed)
{
	char tmp[PATH_MAX + 64], target[PATH_MAX + 32];
	struct stat st;

	mf_prepare();
	snprintf(tmp, sizeof(tmp), "%s.tmp", mf_path);
	snprintf(target, sizeof(target), "%s/target", mf_env.dir);
	cr_assert_eq(symlink(target, tmp), 0);
	mf_start(NULL);
	cr_expect_eq(lstat(target, &st), -1, "the link was followed");
	cr_assert_eq(lstat(mf_path, &st), 0);
	cr_expect(S_ISREG(st.st_mode));
	cr_expect_eq(lstat(tmp, &st), -1); /* renamed away */
}

Test(metrics, removed_at_exit)
{
	struct stat st;
	int wst = -1;

	mf_prepare();
	mf_start(NULL);
	cr_assert_eq(lstat(mf_path, &st), 0);
	cr_assert_eq(th_stop(&mf_env, SIGTERM, MF_TIMEOUT_MS, &wst), 0);
	cr_expect(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
	cr_expect_eq(lstat(mf_path, &st), -1);
	cr_expect_eq(errno, ENOENT);
}

/* Run the helper with args to its exit: the exit status. */
static int
mf_run(const char *const *args)
{
	int st = -1;

	cr_assert_eq(th_run(&mf_env, args, TH_NO_SHIM, MF_TIMEOUT_MS, &st), 0);
	cr_assert(WIFEXITED(st), "0x%x", st);
	return WEXITSTATUS(st);
}

Test(metrics, start_fails_when_it_cannot_be_written)
{
	const char *missing[] = { "--metrics-file=/nonexistent-prh/x.prom",
		NULL };
	const char *relative[] = { "--metrics-file=x.prom", NULL };
	char dir[PATH_MAX + 16], opt[PATH_MAX + 48];
	const char *unwritable[] = { "-u", "65534", "-g", "65534", opt, NULL };

	mf_prepare();
	cr_expect_eq(mf_run(missing), 1);
	cr_expect_eq(
	    th_wait_stderr(&mf_env,
		"cannot write the metrics file /nonexistent-prh/x.prom: "
		"No such file or directory",
		0),
	    0, "%s", th_stderr(&mf_env));
	cr_expect_eq(mf_run(relative), 1);
	cr_expect_eq(th_wait_stderr(&mf_env,
			 "--metrics-file must be an absolute path", 0),
	    0);
	if (geteuid() != 0)
		return;
	/* A directory the user the helper runs as may not write to. */
	snprintf(dir, sizeof(dir), "%s/rootonly", mf_env.dir);
	cr_assert_eq(mkdir(dir, 0755), 0);
	snprintf(opt, sizeof(opt), "--metrics-file=%s/x.prom", dir);
	cr_expect_eq(mf_run(unwritable), 1);
	cr_expect_eq(th_wait_stderr(&mf_env, "Permission denied", 0), 0, "%s",
	    th_stderr(&mf_env));
}
