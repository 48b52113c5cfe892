/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Integration: the loop thread sends every reply, after the command is
 * counted.  Under strace, every send on a client socket comes from the
 * helper's main thread (the loop's tid is the pid); and a client that
 * asks for a metrics refresh (SIGUSR1, which rewrites --metrics-file on
 * the loop) right after each of 10,000 replies always finds that reply
 * counted and nothing in flight.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "prh/client.h"
#include "prh/protocol.h"
#include "harness.h"

#define STRACE	    "/usr/bin/strace"
#define RP_REQUESTS 300	  /* requests served under strace */
#define RP_ROUNDS   10000 /* replies each followed by a refresh */

static struct th_env rp_env;

/* Suite teardown. */
static void
rp_fini(void)
{
	th_env_fini(&rp_env);
}

TestSuite(reply, .fini = rp_fini, .timeout = 120);

/* Make the env for our helper, or skip. */
static void
rp_prepare(void)
{
	const char *why;

	if (th_helper_usable(TH_OURS, &why) < 0)
		cr_skip_test("%s", why);
	cr_assert_eq(th_env_init(&rp_env, TH_OURS), 0);
}

/* Start the helper with args, a device "lun" the shim answers GOOD, and
 * a connection: the socket, the device fd in *dev. */
static int
rp_start(const char *const *args, int *dev)
{
	char path[PATH_MAX];
	int rc = th_start(&rp_env, args), s;

	cr_assert_eq(rc, 0, "helper did not start: %s\nstderr: %s",
	    strerror(-rc), th_stderr(&rp_env));
	*dev = th_make_dev(&rp_env, "lun", O_RDWR, path, sizeof(path));
	cr_assert_geq(*dev, 0);
	cr_assert_eq(th_shim_set(&rp_env, "%s status=0\n", path), 0);
	s = th_connect(&rp_env);
	cr_assert_geq(s, 0);
	return s;
}

/* One PR IN READ KEYS on dev, asserting GOOD. */
static void
rp_pr_in(int s, int dev)
{
	uint8_t cdb[PRH_CDB_LEN];
	struct client_reply r;

	client_cdb_pr_in(cdb, 0, 1024);
	cr_assert_eq(client_command(s, cdb, dev, NULL, 0, &r), 0);
	cr_assert_eq(r.status, PRH_STATUS_GOOD);
}

/* The pid of the helper at the other end of s. */
static pid_t
rp_peer_pid(int s)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	cr_assert_eq(getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len), 0);
	return cred.pid;
}

/* Count, in strace's output at path (-f -yy), the sends on a Unix stream
 * socket made by thread pid (*main) and by any other (*other, the first
 * such line in bad). */
static void
rp_count_sends(const char *path, pid_t pid, int *main, int *other, char *bad,
    size_t badlen)
{
	static const char *const calls[] = { "sendmsg(", "sendto(", "write(",
		"writev(" };
	char line[4096];
	FILE *f = fopen(path, "r");
	long tid;
	int off;

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	*main = *other = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%ld %n", &tid, &off) != 1)
			continue;
		for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
			size_t n = strlen(calls[i]);

			if (strncmp(line + off, calls[i], n) != 0 ||
			    strstr(line + off + n, "<UNIX-STREAM:") == NULL)
				continue;
			if (tid == pid) {
				(*main)++;
			} else if ((*other)++ == 0) {
				snprintf(bad, badlen, "%s", line);
			}
		}
	}
	fclose(f);
}

Test(reply, every_send_on_a_client_socket_is_made_by_the_loop_thread)
{
	char wrapper[PATH_MAX + 128], trace[PATH_MAX + 16], bad[4096] = "";
	int s, dev, st, main_sends, other_sends;
	pid_t helper;

	if (getenv("PRH_HELPER_WRAPPER") != NULL)
		cr_skip_test("the helper already runs under a wrapper");
	if (access(STRACE, X_OK) != 0)
		cr_skip_test(STRACE " is not installed");
	rp_prepare();
	snprintf(trace, sizeof(trace), "%s/strace.out", rp_env.dir);
	snprintf(wrapper, sizeof(wrapper),
	    STRACE " -f -yy -e trace=sendmsg,sendto,write,writev -o %s", trace);
	cr_assert_eq(setenv("PRH_HELPER_WRAPPER", wrapper, 1), 0);
	s = rp_start(NULL, &dev);
	cr_assert_eq(unsetenv("PRH_HELPER_WRAPPER"), 0);
	helper = rp_peer_pid(s);
	for (int i = 0; i < RP_REQUESTS; i++)
		rp_pr_in(s, dev);
	close(s);
	/* strace ends with the helper, its output complete. */
	cr_assert_eq(kill(helper, SIGTERM), 0);
	cr_assert_eq(th_wait_exit(&rp_env, TH_TIMEOUT_MS, &st), 0);
	rp_count_sends(trace, helper, &main_sends, &other_sends, bad,
	    sizeof(bad));
	/* The hello and every reply, at least one send each. */
	cr_expect_geq(main_sends, RP_REQUESTS + 1, "%d sends by the loop",
	    main_sends);
	cr_expect_eq(other_sends, 0,
	    "%d sends on a client socket by another thread, first: %s",
	    other_sends, bad);
	close(dev);
}

/* The value of the first sample in the metrics text whose line starts
 * with series (a name and its labels, or the start of them), or -1. */
static double
rp_value(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while ((p = strstr(p, series)) != NULL) {
		if (p == text || p[-1] == '\n') {
			p += n + strcspn(p + n, " \n");
			return *p == ' ' ? strtod(p + 1, NULL) : -1;
		}
		p += n;
	}
	return -1;
}

/* Throw away the inotify events queued on fd. */
static void
rp_drain(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* SIGUSR1 and wait until the metrics file is renamed into place. */
static void
rp_refresh(int ino, pid_t pid)
{
	struct pollfd pfd = { .fd = ino, .events = POLLIN };

	rp_drain(ino);
	cr_assert_eq(kill(pid, SIGUSR1), 0);
	cr_assert_eq(poll(&pfd, 1, TH_TIMEOUT_MS), 1,
	    "metrics file not rewritten after SIGUSR1");
}

Test(reply, a_refresh_after_each_reply_finds_it_counted)
{
	static const char *const series =
	    "prh_commands_total{opcode=\"pr_in\",service_action=\"read_keys\","
	    "outcome=\"good\"}";
	char dir[PATH_MAX + 16], file[PATH_MAX + 32], opt[PATH_MAX + 64];
	const char *args[] = { opt, NULL };
	int s, dev, ino;
	double total, inflight, on_dev;
	char *t;

	rp_prepare();
	snprintf(dir, sizeof(dir), "%s/textfile", rp_env.dir);
	cr_assert_eq(mkdir(dir, 0755), 0);
	snprintf(file, sizeof(file), "%s/prh.prom", dir);
	snprintf(opt, sizeof(opt), "--metrics-file=%s", file);
	ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	cr_assert_geq(ino, 0);
	cr_assert_geq(inotify_add_watch(ino, dir, IN_MOVED_TO), 0);
	s = rp_start(args, &dev);
	for (int i = 1; i <= RP_ROUNDS; i++) {
		rp_pr_in(s, dev);
		rp_refresh(ino, rp_env.pid);
		t = th_read_file(file, NULL);
		cr_assert_not_null(t);
		total = rp_value(t, series);
		inflight = rp_value(t, "prh_commands_in_flight");
		on_dev = rp_value(t, "prh_device_commands_in_flight{");
		free(t);
		cr_assert_eq(total, i, "reply %d read, %.0f counted", i, total);
		cr_assert_eq(inflight, 0, "reply %d read, %.0f in flight", i,
		    inflight);
		cr_assert_eq(on_dev, 0, "reply %d read, %.0f on the device", i,
		    on_dev);
	}
	close(s);
	close(dev);
	close(ino);
}
