/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Integration: the process model of our helper.  Capabilities and ids
 * (read back from /proc), -d and the pid file, socket activation (by hand
 * and under systemd-socket-activate), sd_notify, shutdown with a command
 * in flight, logging (syslog under -d in a private mount namespace), -T
 * tracing and SIGUSR1.
 *
 * Helpers are started through the harness where it fits; activation and
 * unprivileged starts need their own fork (fd 3, ids), after which the
 * harness's waits are pointed at that child (pid and pidfd of th_env).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "prh/client.h"
#include "prh/protocol.h"
#include "harness.h"

#define PM_TIMEOUT_MS	   TH_TIMEOUT_MS
#define PM_SOCKET_ACTIVATE "/usr/bin/systemd-socket-activate"
#define PM_CAP_RAWIO	   "0000000000020000"
#define PM_CAP_NONE	   "0000000000000000"
/* CAP_SYS_RAWIO and CAP_SYS_ADMIN: multipath may be used. */
#define PM_CAP_RAWIO_ADMIN "0000000000220000"

static struct th_env pm_env;  /* the test's helper */
static struct th_env pm_env2; /* a second helper, when needed */
static pid_t pm_daemon;	      /* a -d daemon to kill at the end */

extern char **environ;

/* Suite teardown: stop helpers and daemons, remove temp dirs. */
static void
pm_fini(void)
{
	th_kill_daemon(&pm_daemon);
	th_env_fini(&pm_env);
	th_env_fini(&pm_env2);
}

TestSuite(pm, .fini = pm_fini, .timeout = 30);

/* Make the env, skipping when our helper or the shim is not built. */
static void
pm_prepare(struct th_env *e)
{
	const char *why;

	if (th_helper_usable(TH_OURS, &why) < 0)
		cr_skip_test("%s", why);
	cr_assert_eq(th_env_init(e, TH_OURS), 0);
}

/* Skip unless root (ids and capabilities can only be changed as root). */
static void
pm_need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to change ids and capabilities");
}

/* Start the helper with args and wait until it serves. */
static void
pm_start(struct th_env *e, const char *const *args)
{
	int rc;

	pm_prepare(e);
	rc = th_start(e, args);
	cr_assert_eq(rc, 0, "helper did not start: %s\nstderr: %s",
	    strerror(-rc), th_stderr(e));
}

/* Value of key in /proc/pid/status (static buffer), "" if missing. */
static const char *
pm_proc_status(pid_t pid, const char *key)
{
	static char val[256];
	char path[64], *text, *p, *end;
	size_t klen = strlen(key);

	val[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	text = th_read_file(path, NULL);
	cr_assert_not_null(text);
	for (p = text; p != NULL && *p != '\0';
	     p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
			p += klen + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			end = strchr(p, '\n');
			snprintf(val, sizeof(val), "%.*s",
			    (int)(end != NULL ? end - p : (long)strlen(p)), p);
			break;
		}
	}
	free(text);
	return val;
}

/* Connect with the handshake, asserting success. */
static int
pm_conn(struct th_env *e)
{
	int s = th_connect(e);

	cr_assert_geq(s, 0, "connect: %s", strerror(-s));
	return s;
}

/* One PR IN READ KEYS on a fresh regular file; returns the reply status.
 * Without a shim rule the helper answers CHECK CONDITION (ENOTTY). */
static uint32_t
pm_command(int sock, struct th_env *e, const char *name)
{
	struct client_reply r;
	uint8_t cdb[PRH_CDB_LEN];
	int dev, rc;

	dev = th_make_dev(e, name, O_RDWR, NULL, 0);
	cr_assert_geq(dev, 0);
	client_cdb_pr_in(cdb, 0, 8192);
	rc = client_command(sock, cdb, dev, NULL, 0, &r);
	close(dev);
	cr_assert_eq(rc, 0, "command: %s", strerror(-rc));
	return r.status;
}

/* Connect, run one command, disconnect: the helper serves. */
static void
pm_expect_serves(struct th_env *e)
{
	int s = pm_conn(e);

	cr_expect_eq(pm_command(s, e, "lun"), PRH_STATUS_CHECK_CONDITION);
	close(s);
}

/* SIGTERM and expect exit status 0. */
static void
pm_expect_clean_exit(struct th_env *e)
{
	int st = -1, rc = th_stop(e, SIGTERM, PM_TIMEOUT_MS, &st);

	cr_assert_eq(rc, 0, "helper did not exit: %s", strerror(-rc));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "status 0x%x, "
	    "stderr: %s",
	    st, th_stderr(e));
}

/* Run the helper to completion; returns its exit code. */
static int
pm_run(struct th_env *e, const char *const *args, unsigned flags)
{
	int st = -1, rc;

	rc = th_run(e, args, flags | TH_NO_SHIM, PM_TIMEOUT_MS, &st);
	cr_assert_eq(rc, 0, "run: %s", strerror(-rc));
	cr_assert(WIFEXITED(st), "helper died: 0x%x", st);
	return WEXITSTATUS(st);
}

/* Wait for a STATUS= line on the env's notify socket (the harness has
 * opened it); the text after "STATUS=" goes into out. */
static int
pm_wait_status(struct th_env *e, char *out, size_t len)
{
	struct pollfd pfd = { .fd = e->notify_fd, .events = POLLIN };
	char buf[4096], *line, *save = NULL;
	ssize_t n;

	for (;;) {
		if (poll(&pfd, 1, PM_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
		while ((n = recv(e->notify_fd, buf, sizeof(buf) - 1, 0)) > 0) {
			buf[n] = '\0';
			for (line = strtok_r(buf, "\n", &save); line != NULL;
			     line = strtok_r(NULL, "\n", &save)) {
				if (strncmp(line, "STATUS=", 7) == 0) {
					snprintf(out, len, "%s", line + 7);
					return 0;
				}
			}
		}
	}
}

static void pm_notify_open(struct th_env *e);

/* --- capabilities and ids --------------------------------------------- */

/* --multipath=off: CAP_SYS_RAWIO alone, on any machine (with the default,
 * auto, a machine with /dev/mapper/control would also keep
 * CAP_SYS_ADMIN, as the next test shows). */
Test(pm, root_keeps_only_rawio)
{
	static const char *const args[] = { "--multipath=off", NULL };

	pm_need_root();
	pm_start(&pm_env, args);
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "CapEff"), PM_CAP_RAWIO);
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "CapPrm"), PM_CAP_RAWIO);
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "CapBnd"), PM_CAP_NONE);
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "CapInh"), PM_CAP_NONE);
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "CapAmb"), PM_CAP_NONE);
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "Groups"), "");
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "Uid"), "0\t0\t0\t0");
	pm_expect_serves(&pm_env);
	pm_expect_clean_exit(&pm_env);
}

static char pm_dm_log[PATH_MAX + 8]; /* a file to stand for /dev/log */

/* In the helper's child: a private /dev that has a device-mapper control
 * node (an empty file: the helper only looks whether it exists). */
static void
pm_dev_with_dm_control(struct th_env *e)
{
	(void)e;
	if (th_private_dev_log(pm_dm_log) < 0 ||
	    mkdir("/dev/mapper", 0755) < 0 ||
	    th_touch("/dev/mapper/control", 0600) < 0) {
		dprintf(2, "private /dev: %s\n", strerror(errno));
		_exit(125);
	}
}

/* --multipath=auto (the default) where /dev/mapper/control exists: the
 * device-mapper ioctls need CAP_SYS_ADMIN, so it is kept beside
 * CAP_SYS_RAWIO; nothing else is. */
Test(pm, root_keeps_admin_where_device_mapper_is)
{
	pm_need_root();
	TH_NEED_PRIVATE_NS();
	pm_prepare(&pm_env);
	snprintf(pm_dm_log, sizeof(pm_dm_log), "%s/devlog", pm_env.dir);
	cr_assert_eq(th_touch(pm_dm_log, 0644), 0);
	pm_env.pre_exec = pm_dev_with_dm_control;
	cr_assert_eq(th_start(&pm_env, NULL), 0, "stderr: %s",
	    th_stderr(&pm_env));
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "CapEff"),
	    PM_CAP_RAWIO_ADMIN);
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "CapPrm"),
	    PM_CAP_RAWIO_ADMIN);
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "CapBnd"), PM_CAP_NONE);
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "CapAmb"), PM_CAP_NONE);
	pm_expect_serves(&pm_env);
	pm_expect_clean_exit(&pm_env);
}

Test(pm, user_and_group_nobody)
{
	const char *args[] = { "-u", "nobody", "-g", "nogroup", NULL };
	int rc;

	pm_need_root();
	pm_prepare(&pm_env);
	/* After the drop the helper reaches the directory (x) and the notify
	 * socket (w), but may not remove entries. */
	cr_assert_eq(chmod(pm_env.dir, 0711), 0);
	pm_notify_open(&pm_env);
	/* The shim's files are root's: run without it (ENOTTY answers). */
	cr_assert_eq(th_spawn(&pm_env, args, TH_NO_SHIM), 0);
	rc = th_wait_ready(&pm_env, PM_TIMEOUT_MS);
	cr_assert_eq(rc, 0, "%s: %s", strerror(-rc), th_stderr(&pm_env));
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "Uid"),
	    "65534\t65534\t65534\t65534");
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "Gid"),
	    "65534\t65534\t65534\t65534");
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "CapEff"), PM_CAP_RAWIO);
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "CapBnd"), PM_CAP_NONE);
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "Groups"), "");
	pm_expect_serves(&pm_env);
	/* nobody may not remove the socket from root's 0700 directory: that
	 * is logged and the exit status stays 0. */
	pm_expect_clean_exit(&pm_env);
	cr_expect_eq(th_wait_stderr(&pm_env, "Failed to unlink socket", 0), 0,
	    "stderr: %s", th_stderr(&pm_env));
}

Test(pm, invalid_user_and_group)
{
	const char *u[] = { "-u", "no-such-user-prh", NULL };
	const char *g[] = { "-g", "no-such-group-prh", NULL };

	pm_prepare(&pm_env);
	cr_expect_eq(pm_run(&pm_env, u, 0), 1);
	cr_expect_eq(th_wait_stderr(&pm_env, "invalid user 'no-such-user-prh'",
			 0),
	    0);
	cr_expect_eq(pm_run(&pm_env, g, 0), 1);
	cr_expect_eq(th_wait_stderr(&pm_env,
			 "invalid group 'no-such-group-prh'", 0),
	    0);
}

/* --- own fork: fd 3, ids ------------------------------------------------ */

/* How pm_spawn starts a helper. */
struct pm_spawn_opts {
	const char *const *argv; /* full argv, argv[0] the program */
	int listen_fds[2];	 /* to pass as fds 3, 4 (-1: none) */
	bool set_listen_env;	 /* LISTEN_PID/LISTEN_FDS for the child */
	uid_t uid;		 /* run as this uid/gid if != 0 */
	const char *const *env;	 /* extra "K=V" (NULL-terminated) */
	const char *dev_log;	 /* socket to show as /dev/log, or NULL */
};

/* Create the datagram socket at e->notify, as the harness does. */
static void
pm_notify_open(struct th_env *e)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	cr_assert_lt(strlen(e->notify), sizeof(sun.sun_path));
	memcpy(sun.sun_path, e->notify, strlen(e->notify));
	unlink(e->notify);
	e->notify_fd = socket(AF_UNIX,
	    SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	cr_assert_geq(e->notify_fd, 0);
	cr_assert_eq(bind(e->notify_fd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	chmod(e->notify, 0666);
}

/*
 * In the child: become uid (its gid the same, no supplementary groups)
 * and exec argv.  The binary is opened while still root and run through
 * that fd: the build tree may lie in a directory uid cannot enter (a
 * package built by root inside mktemp -d), and exec by fd checks only
 * the file's own mode.  Never returns.
 */
static void
pm_exec_as(uid_t uid, const char *const *argv)
{
	int exe = open(argv[0], O_RDONLY | O_CLOEXEC);

	if (exe < 0 || setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		dprintf(2, "%s as uid %u: %s\n", argv[0], (unsigned)uid,
		    strerror(errno));
		_exit(126);
	}
	signal(SIGPIPE, SIG_DFL);
	fexecve(exe, (char *const *)argv, environ);
	dprintf(2, "fexecve %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* In the child: stdio, fds 3.., environment, ids; then exec. */
static void
pm_child(struct th_env *e, const struct pm_spawn_opts *o)
{
	char env[PATH_MAX + 32];
	int n = 0, fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fd = open(e->out, O_WRONLY | O_APPEND);
	dup2(fd, 1);
	fd = open(e->err, O_WRONLY | O_APPEND);
	dup2(fd, 2);
	/* Move the fds out of the way, then into place at 3, 4. */
	for (int i = 0; i < 2 && o->listen_fds[i] >= 0; i++, n++)
		if (dup2(o->listen_fds[i], 100 + i) < 0)
			_exit(126);
	for (int i = 0; i < n; i++)
		dup2(100 + i, 3 + i);
	syscall(SYS_close_range, 3U + n, ~0U, 0U);
	if (o->dev_log != NULL && th_private_dev_log(o->dev_log) < 0) {
		dprintf(2, "private /dev/log: %s\n", strerror(errno));
		_exit(125);
	}
	snprintf(env, sizeof(env), "NOTIFY_SOCKET=%s", e->notify);
	putenv(strdup(env));
	unsetenv("LD_PRELOAD");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	for (int i = 0; o->env != NULL && o->env[i] != NULL; i++)
		putenv(strdup(o->env[i]));
	if (o->set_listen_env) {
		snprintf(env, sizeof(env), "%d", n);
		setenv("LISTEN_FDS", env, 1);
		snprintf(env, sizeof(env), "%d", (int)getpid());
		setenv("LISTEN_PID", env, 1);
	}
	if (o->uid != 0)
		pm_exec_as(o->uid, o->argv);
	signal(SIGPIPE, SIG_DFL);
	execve(o->argv[0], (char *const *)o->argv, environ);
	_exit(127);
}

/* Fork a helper as o says; the harness's waits then apply to it. */
static void
pm_spawn(struct th_env *e, const struct pm_spawn_opts *o)
{
	pm_notify_open(e);
	e->pid = fork();
	cr_assert_geq(e->pid, 0);
	if (e->pid == 0)
		pm_child(e, o);
	e->pidfd = (int)syscall(SYS_pidfd_open, e->pid, 0);
	cr_assert_geq(e->pidfd, 0);
}

/* A listening socket bound at path. */
static int
pm_listen_at(const char *path)
{
	int fd = th_unix_bound(path, SOCK_STREAM);

	cr_assert_geq(fd, 0, "bind %s: %s", path, strerror(-fd));
	cr_assert_eq(listen(fd, 16), 0);
	return fd;
}

/* Wait for the helper to exit; returns its exit code. */
static int
pm_exit_code(struct th_env *e)
{
	int st = -1, rc = th_wait_exit(e, PM_TIMEOUT_MS, &st);

	cr_assert_eq(rc, 0, "helper did not exit: %s", strerror(-rc));
	cr_assert(WIFEXITED(st), "helper died: 0x%x", st);
	return WEXITSTATUS(st);
}

Test(pm, unprivileged_start_warns_and_serves)
{
	const char *argv[] = { th_helper_path(TH_OURS), "-k", NULL, NULL };
	struct pm_spawn_opts o = { .argv = argv,
		.listen_fds = { -1, -1 },
		.uid = 65534 };
	int rc;

	pm_need_root();
	pm_prepare(&pm_env);
	argv[2] = pm_env.sock;
	cr_assert_eq(chown(pm_env.dir, 65534, 65534), 0);
	pm_spawn(&pm_env, &o);
	rc = th_wait_ready(&pm_env, PM_TIMEOUT_MS);
	cr_assert_eq(rc, 0, "%s: %s", strerror(-rc), th_stderr(&pm_env));
	cr_expect_eq(th_wait_stderr(&pm_env, "CAP_SYS_RAWIO is not available",
			 0),
	    0, "stderr: %s", th_stderr(&pm_env));
	cr_expect_str_eq(pm_proc_status(pm_env.pid, "CapEff"), PM_CAP_NONE);
	pm_expect_serves(&pm_env);
	pm_expect_clean_exit(&pm_env);
	cr_expect_neq(access(pm_env.sock, F_OK), 0, "socket left behind");
}

Test(pm, unprivileged_user_change_refused)
{
	const char *argv[] = { th_helper_path(TH_OURS), "-k", NULL, "-u", "0",
		NULL };
	struct pm_spawn_opts o = { .argv = argv,
		.listen_fds = { -1, -1 },
		.uid = 65534 };

	pm_need_root();
	pm_prepare(&pm_env);
	argv[2] = pm_env.sock;
	cr_assert_eq(chown(pm_env.dir, 65534, 65534), 0);
	pm_spawn(&pm_env, &o);
	cr_expect_eq(pm_exit_code(&pm_env), 1);
	cr_expect_eq(th_wait_stderr(&pm_env, "Failed to drop privileges", 0), 0,
	    "stderr: %s", th_stderr(&pm_env));
	cr_expect_neq(access(pm_env.sock, F_OK), 0, "socket left behind");
}

/* --- -d and the pid file ------------------------------------------------ */

/* Read the pid in a pid file. */
static pid_t
pm_read_pidfile(const char *path)
{
	char *text = th_read_file(path, NULL);
	int pid = 0;

	cr_assert_not_null(text);
	cr_assert_eq(sscanf(text, "%d\n", &pid), 1, "pid file: '%s'", text);
	free(text);
	return pid;
}

/* Stop the -d daemon (pm_daemon) with SIGTERM, wait (bounded) for it to
 * exit, and check that it removed its pid file. */
static void
pm_stop_daemon(const char *pidfile)
{
	struct pollfd pfd = { .events = POLLIN };

	pfd.fd = (int)syscall(SYS_pidfd_open, pm_daemon, 0);
	cr_assert_geq(pfd.fd, 0);
	cr_assert_eq(kill(pm_daemon, SIGTERM), 0);
	cr_assert_eq(poll(&pfd, 1, PM_TIMEOUT_MS), 1, "daemon still runs");
	close(pfd.fd);
	pm_daemon = 0;
	cr_expect_neq(access(pidfile, F_OK), 0, "pid file left behind");
}

Test(pm, daemon_detaches_with_pidfile)
{
	char pidfile[PATH_MAX + 8], link[PATH_MAX], path[64];
	const char *args[] = { "-d", "-f", pidfile, NULL };
	struct stat st;
	ssize_t n;

	pm_prepare(&pm_env);
	snprintf(pidfile, sizeof(pidfile), "%s/pid", pm_env.dir);
	cr_assert_eq(pm_run(&pm_env, args, 0), 0, "stderr: %s",
	    th_stderr(&pm_env));
	/* The parent waited for the daemon: it serves now. */
	pm_daemon = pm_read_pidfile(pidfile);
	cr_assert_gt(pm_daemon, 0);
	cr_assert_eq(stat(pidfile, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0600);
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int)pm_daemon);
	n = readlink(path, link, sizeof(link) - 1);
	cr_assert_gt(n, 0);
	link[n] = '\0';
	cr_expect_str_eq(link, "/");
	snprintf(path, sizeof(path), "/proc/%d/fd/0", (int)pm_daemon);
	n = readlink(path, link, sizeof(link) - 1);
	cr_assert_gt(n, 0);
	link[n] = '\0';
	cr_expect_str_eq(link, "/dev/null");
	pm_expect_serves(&pm_env);

	pm_stop_daemon(pidfile);
	cr_expect_neq(access(pm_env.sock, F_OK), 0, "socket left behind");
}

Test(pm, daemon_error_after_fork_is_visible)
{
	const char *args[] = { "-d", "-f", "/nonexistent-prh-dir/x.pid", NULL };

	pm_prepare(&pm_env);
	cr_expect_eq(pm_run(&pm_env, args, 0), 1);
	cr_expect_eq(th_wait_stderr(&pm_env, "Cannot open pid file", 0), 0,
	    "stderr: %s", th_stderr(&pm_env));
	cr_expect_neq(access(pm_env.sock, F_OK), 0, "socket left behind");
}

Test(pm, pidfile_locked_second_instance_refused)
{
	char pidfile[PATH_MAX + 8];
	const char *args[] = { "-f", pidfile, NULL };

	pm_prepare(&pm_env2);
	snprintf(pidfile, sizeof(pidfile), "%s/pid", pm_env2.dir);
	pm_start(&pm_env, args);
	cr_expect_eq(pm_read_pidfile(pidfile), pm_env.pid);
	/* Another socket path, the same pid file. */
	cr_expect_eq(pm_run(&pm_env2, args, 0), 1);
	cr_expect_eq(th_wait_stderr(&pm_env2,
			 "Cannot lock pid file: "
			 "Resource temporarily unavailable",
			 0),
	    0, "stderr: %s", th_stderr(&pm_env2));
	cr_expect_neq(access(pm_env2.sock, F_OK), 0, "socket left behind");
	cr_expect_eq(pm_read_pidfile(pidfile), pm_env.pid);
	pm_expect_clean_exit(&pm_env);
	cr_expect_neq(access(pidfile, F_OK), 0, "pid file left behind");
}

/* --- socket activation -------------------------------------------------- */

Test(pm, activation_by_hand)
{
	const char *argv[] = { th_helper_path(TH_OURS), NULL };
	struct pm_spawn_opts o = { .argv = argv, .set_listen_env = true };
	int rc;

	pm_prepare(&pm_env);
	o.listen_fds[0] = pm_listen_at(pm_env.sock);
	o.listen_fds[1] = -1;
	pm_spawn(&pm_env, &o);
	close(o.listen_fds[0]);
	rc = th_wait_ready(&pm_env, PM_TIMEOUT_MS);
	cr_assert_eq(rc, 0, "%s: %s", strerror(-rc), th_stderr(&pm_env));
	pm_expect_serves(&pm_env);
	pm_expect_clean_exit(&pm_env);
	cr_expect_eq(access(pm_env.sock, F_OK), 0,
	    "the activated socket was removed");
}

Test(pm, activation_two_fds_refused)
{
	const char *argv[] = { th_helper_path(TH_OURS), NULL };
	struct pm_spawn_opts o = { .argv = argv, .set_listen_env = true };
	char second[PATH_MAX + 8];

	pm_prepare(&pm_env);
	snprintf(second, sizeof(second), "%s/sock2", pm_env.dir);
	o.listen_fds[0] = pm_listen_at(pm_env.sock);
	o.listen_fds[1] = pm_listen_at(second);
	pm_spawn(&pm_env, &o);
	cr_expect_eq(pm_exit_code(&pm_env), 1);
	cr_expect_eq(th_wait_stderr(&pm_env,
			 "does not support socket "
			 "activation with LISTEN_FDS > 1",
			 0),
	    0, "stderr: %s", th_stderr(&pm_env));
}

Test(pm, activation_with_socket_option_refused)
{
	const char *argv[] = { th_helper_path(TH_OURS), "-k", NULL, NULL };
	struct pm_spawn_opts o = { .argv = argv, .set_listen_env = true };
	char other[PATH_MAX + 8];

	pm_prepare(&pm_env);
	snprintf(other, sizeof(other), "%s/other", pm_env.dir);
	argv[2] = other;
	o.listen_fds[0] = pm_listen_at(pm_env.sock);
	o.listen_fds[1] = -1;
	pm_spawn(&pm_env, &o);
	cr_expect_eq(pm_exit_code(&pm_env), 1);
	cr_expect_eq(th_wait_stderr(&pm_env,
			 "Unix socket can't be set when "
			 "using socket activation",
			 0),
	    0, "stderr: %s", th_stderr(&pm_env));
	cr_expect_neq(access(other, F_OK), 0);
}

Test(pm, foreign_listen_pid_ignored)
{
	static const char *const env[] = { "LISTEN_PID=1", "LISTEN_FDS=1",
		NULL };

	pm_prepare(&pm_env);
	pm_env.extra_env = env;
	cr_assert_eq(th_start(&pm_env, NULL), 0, "stderr: %s",
	    th_stderr(&pm_env));
	pm_expect_serves(&pm_env);
	pm_expect_clean_exit(&pm_env);
}

/* Connect to path once it accepts; the first connection makes
 * systemd-socket-activate start the helper. */
static int
pm_connect_when_listening(struct th_env *e)
{
	struct pollfd pfd = { .fd = e->pidfd, .events = POLLIN };

	for (int i = 0; i < PM_TIMEOUT_MS / 10; i++) {
		int s = th_connect(e);

		if (s >= 0)
			return s;
		/* The socket appears and starts listening in two steps,
		 * with no event to wait for: retry in short steps, unless
		 * the process went away. */
		if (poll(&pfd, 1, 10) != 0)
			break;
	}
	cr_assert_fail("no listener at %s: %s", e->sock, th_stderr(e));
	return -1;
}

Test(pm, activation_under_systemd_socket_activate)
{
	char notify[PATH_MAX + 32];
	const char *argv[] = { PM_SOCKET_ACTIVATE, "-l", NULL, "-E", notify,
		th_helper_path(TH_OURS), NULL };
	struct pm_spawn_opts o = { .argv = argv, .listen_fds = { -1, -1 } };
	int s;

	if (access(PM_SOCKET_ACTIVATE, X_OK) != 0)
		cr_skip_test("systemd-socket-activate is not installed");
	pm_prepare(&pm_env);
	argv[2] = pm_env.sock;
	snprintf(notify, sizeof(notify), "NOTIFY_SOCKET=%s", pm_env.notify);
	pm_spawn(&pm_env, &o);
	s = pm_connect_when_listening(&pm_env);
	cr_expect_eq(th_wait_notify(&pm_env, "READY=1", PM_TIMEOUT_MS), 0);
	cr_expect_eq(pm_command(s, &pm_env, "lun"), PRH_STATUS_CHECK_CONDITION);
	close(s);
	pm_expect_serves(&pm_env);
	pm_expect_clean_exit(&pm_env);
	cr_expect_eq(access(pm_env.sock, F_OK), 0,
	    "the activated socket was removed");
}

/* --- sd_notify, shutdown ------------------------------------------------ */

Test(pm, notify_ready_status_stopping)
{
	char status[256];
	int st = -1;

	pm_start(&pm_env, NULL); /* waited for READY=1 */
	cr_assert_eq(pm_wait_status(&pm_env, status, sizeof(status)), 0);
	cr_expect_not_null(strstr(status, "Serving: 0 connections"),
	    "STATUS=%s", status);
	cr_assert_eq(kill(pm_env.pid, SIGTERM), 0);
	cr_expect_eq(th_wait_notify(&pm_env, "STOPPING=1", PM_TIMEOUT_MS), 0);
	cr_assert_eq(th_wait_exit(&pm_env, PM_TIMEOUT_MS, &st), 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

Test(pm, full_notify_queue_does_not_block)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fill, st = -1, sent = 0;

	pm_start(&pm_env, NULL); /* waited for READY=1 */
	/* Fill the service manager's queue: nobody reads it from now on. */
	memcpy(sun.sun_path, pm_env.notify, strlen(pm_env.notify));
	fill = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fill, 0);
	while (sendto(fill, "X=1", 3, MSG_DONTWAIT, (struct sockaddr *)&sun,
		   sizeof(sun)) == 3)
		sent++;
	cr_assert(errno == EAGAIN || errno == EWOULDBLOCK, "%s",
	    strerror(errno));
	cr_assert_gt(sent, 0);
	/* STOPPING=1 cannot be delivered; the helper must exit anyway. */
	pm_expect_serves(&pm_env);
	cr_assert_eq(kill(pm_env.pid, SIGTERM), 0);
	cr_assert_eq(th_wait_exit(&pm_env, PM_TIMEOUT_MS, &st), 0,
	    "helper blocked on its notification socket");
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(fill);
}

Test(pm, watchdog_pings)
{
	static const char *const env[] = { "WATCHDOG_USEC=200000", NULL };

	pm_prepare(&pm_env);
	pm_env.extra_env = env;
	cr_assert_eq(th_start(&pm_env, NULL), 0);
	cr_expect_eq(th_wait_notify(&pm_env, "WATCHDOG=1", PM_TIMEOUT_MS), 0);
	cr_expect_eq(th_wait_notify(&pm_env, "WATCHDOG=1", PM_TIMEOUT_MS), 0,
	    "no periodic ping");
	pm_expect_clean_exit(&pm_env);
}

/* A device "slow" that hangs (its path into path, PATH_MAX bytes) and a
 * READ KEYS on it in flight: the connection in *s, the device in *dev. */
static void
pm_hung_command(struct th_env *e, char *path, int *s, int *dev)
{
	uint8_t cdb[PRH_CDB_LEN];

	*dev = th_make_dev(e, "slow", O_RDWR, path, PATH_MAX);
	cr_assert_geq(*dev, 0);
	cr_assert_eq(th_shim_set(e, "%s hang=1\n", path), 0);
	*s = pm_conn(e);
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_send_request(*s, cdb, *dev, NULL, 0), 0);
	cr_assert_eq(th_wait_shim_calls(e, 1, PM_TIMEOUT_MS), 1);
}

/* A command that hangs in SG_IO for five times WATCHDOG_USEC does not stop
 * the pings (the event loop sends them, a worker waits on the device): a
 * unit's WatchdogSec never kills the helper for a slow device. */
Test(pm, watchdog_pings_while_a_command_hangs)
{
	static const char *const env[] = { "WATCHDOG_USEC=200000", NULL };
	char path[PATH_MAX];
	struct client_reply r;
	struct pollfd p;
	int s, dev;

	pm_prepare(&pm_env);
	pm_env.extra_env = env;
	cr_assert_eq(th_start(&pm_env, NULL), 0);
	pm_hung_command(&pm_env, path, &s, &dev);
	/* pings every 100 ms: ten take a second, whatever was queued */
	for (int i = 0; i < 10; i++)
		cr_assert_eq(th_wait_notify(&pm_env, "WATCHDOG=1",
				 PM_TIMEOUT_MS),
		    0, "ping %d with a command in flight", i);
	p.fd = s;
	p.events = POLLIN;
	cr_assert_eq(poll(&p, 1, 0), 0, "answered while the device hangs");
	cr_assert_eq(th_shim_set(&pm_env, "%s status=0\n", path), 0);
	cr_assert_eq(client_read_reply(s, &r), 0);
	cr_expect_eq(r.status, PRH_STATUS_GOOD);
	close(s);
	close(dev);
	pm_expect_clean_exit(&pm_env);
}

Test(pm, sigterm_answers_command_in_flight)
{
	char path[PATH_MAX];
	struct client_reply r;
	int s, dev, st = -1;

	pm_start(&pm_env, NULL);
	pm_hung_command(&pm_env, path, &s, &dev);
	cr_assert_eq(kill(pm_env.pid, SIGTERM), 0);
	cr_expect_eq(th_wait_notify(&pm_env, "STOPPING=1", PM_TIMEOUT_MS), 0);
	/* The device still hangs: the helper must still be there. */
	cr_expect_eq(th_wait_exit(&pm_env, 0, &st), -ETIMEDOUT,
	    "exited with a command in flight");
	cr_assert_eq(th_shim_set(&pm_env, "%s status=0\n", path), 0);
	cr_assert_eq(client_read_reply(s, &r), 0);
	cr_expect_eq(r.status, PRH_STATUS_GOOD);
	cr_assert_eq(th_wait_exit(&pm_env, PM_TIMEOUT_MS, &st), 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
	cr_expect_neq(access(pm_env.sock, F_OK), 0, "socket left behind");
	close(s);
	close(dev);
}

/* --- logging ------------------------------------------------------------ */

/* Send a CDB without an fd: the helper logs and closes. */
static void
pm_send_no_fd(struct th_env *e)
{
	uint8_t cdb[PRH_CDB_LEN];
	int s = pm_conn(e);

	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_write_all(s, cdb, sizeof(cdb)), 0);
	cr_expect_eq(th_wait_closed(s, PM_TIMEOUT_MS), 0);
	close(s);
}

Test(pm, connection_messages_name_the_peer)
{
	char want[128];

	pm_start(&pm_env, NULL);
	pm_send_no_fd(&pm_env);
	snprintf(want, sizeof(want),
	    "qemu-pr-helper: [pid %d uid %d] No file "
	    "descriptor in request.\n",
	    (int)getpid(), (int)geteuid());
	cr_expect_eq(th_wait_stderr(&pm_env, want, PM_TIMEOUT_MS), 0,
	    "stderr: %s", th_stderr(&pm_env));
}

Test(pm, journal_priority_prefixes)
{
	static char js[64];
	static const char *env[] = { js, NULL };
	const char *args[] = { "-v", NULL };
	char want[128];
	struct stat st;

	pm_prepare(&pm_env);
	cr_assert_eq(stat(pm_env.err, &st), 0);
	snprintf(js, sizeof(js), "JOURNAL_STREAM=%llu:%llu",
	    (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	pm_env.extra_env = env;
	cr_assert_eq(th_start(&pm_env, args), 0);
	cr_expect_eq(th_wait_stderr(&pm_env, "<6>listening on ", 0), 0,
	    "stderr: %s", th_stderr(&pm_env));
	pm_send_no_fd(&pm_env);
	snprintf(want, sizeof(want),
	    "<4>[pid %d uid %d] No file descriptor "
	    "in request.\n",
	    (int)getpid(), (int)geteuid());
	cr_expect_eq(th_wait_stderr(&pm_env, want, PM_TIMEOUT_MS), 0,
	    "stderr: %s", th_stderr(&pm_env));
	cr_expect_null(strstr(th_stderr(&pm_env), "qemu-pr-helper: "));
}

Test(pm, journal_stream_of_another_file_ignored)
{
	static const char *const env[] = { "JOURNAL_STREAM=1:1", NULL };
	const char *args[] = { "-v", NULL };

	pm_prepare(&pm_env);
	pm_env.extra_env = env;
	cr_assert_eq(th_start(&pm_env, args), 0);
	cr_expect_eq(th_wait_stderr(&pm_env, "qemu-pr-helper: listening on ",
			 0),
	    0, "stderr: %s", th_stderr(&pm_env));
}

/* Start from an empty stderr, ask for a summary and return its line
 * (malloc'ed), or NULL if none came. */
static char *
pm_summary(struct th_env *e)
{
	char *text, *line, *end;

	cr_assert_eq(truncate(e->err, 0), 0); /* the helper appends */
	cr_assert_eq(kill(e->pid, SIGUSR1), 0);
	/* The line is written with one write(2): it is whole once seen. */
	if (th_wait_stderr(e, "summary:", PM_TIMEOUT_MS) < 0)
		return NULL;
	text = th_stderr(e);
	cr_assert_not_null(text);
	line = strdup(strstr(text, "summary:"));
	free(text);
	cr_assert_not_null(line);
	if ((end = strchr(line, '\n')) != NULL)
		*end = '\0';
	return line;
}

/* Ask for summaries until the helper is settled: nothing in flight and
 * every worker back asleep.  The worker sends a reply before it hands the
 * command back to the loop, so a summary taken just after the reply can
 * still count it in flight.  The last line (malloc'ed). */
static char *
pm_summary_settled(struct th_env *e)
{
	char *line = NULL;
	const char *w;
	unsigned workers, idle;

	for (int i = 0; i < 200; i++) {
		free(line);
		line = pm_summary(e);
		cr_assert_not_null(line, "no summary: %s", th_stderr(e));
		w = strstr(line, "workers=");
		if (strstr(line, " in_flight=0 ") != NULL && w != NULL &&
		    sscanf(w, "workers=%u idle=%u", &workers, &idle) == 2 &&
		    idle == workers)
			break;
	}
	return line;
}

Test(pm, sigusr1_logs_summary)
{
	char *line;

	pm_start(&pm_env, NULL);
	pm_expect_serves(&pm_env);
	line = pm_summary_settled(&pm_env);
	cr_expect_not_null(strstr(line, "accepted=1"), "%s", line);
	cr_expect_not_null(strstr(line, "answered=1 in_flight=0 "), "%s", line);
	cr_expect_not_null(strstr(line, "PR_IN good=0 check=1"), "%s", line);
	cr_expect_not_null(strstr(line, " devices=0 completed=1;"), "%s", line);
	/* Workers start as needed up to --threads (256): all asleep now. */
	cr_expect_not_null(strstr(line, " max=256 "), "%s", line);
	cr_expect_not_null(strstr(line, " refused_fds=0;"), "%s", line);
	free(line);
	pm_expect_clean_exit(&pm_env);
}

/* Send a PR IN on dev over a new connection; the socket. */
static int
pm_send_pr_in(struct th_env *e, int dev)
{
	uint8_t cdb[PRH_CDB_LEN];
	int s = pm_conn(e);

	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_send_request(s, cdb, dev, NULL, 0), 0);
	return s;
}

/* The summary's entry " [NAME 240:MINOR run=R wait=W]" for the device
 * called name: 0 and the numbers, or -1 if it is not there. */
static int
pm_summary_device(const char *line, const char *name, unsigned *run,
    unsigned *wait)
{
	char want[64];
	const char *p;
	unsigned minor;

	snprintf(want, sizeof(want), " [%s 240:", name);
	p = strstr(line, want);
	if (p == NULL ||
	    sscanf(p + strlen(want), "%u run=%u wait=%u]", &minor, run, wait) !=
		3)
		return -1;
	return 0;
}

Test(pm, sigusr1_summary_lists_busy_devices)
{
	const char *args[] = { "--threads=2", "--max-per-device=1", NULL };
	char a[PATH_MAX], b[PATH_MAX], *line = NULL;
	struct client_reply r;
	unsigned run, wait;
	int da, db, s[3], i;

	pm_start(&pm_env, args);
	/* Two devices (the shim's whole SCSI disks, named as the files). */
	da = th_make_dev(&pm_env, "luna", O_RDWR, a, sizeof(a));
	db = th_make_dev(&pm_env, "lunb", O_RDWR, b, sizeof(b));
	cr_assert_geq(da, 0);
	cr_assert_geq(db, 0);
	cr_assert_eq(th_shim_set(&pm_env, "%s hang=1\n%s hang=1\n", a, b), 0);
	s[0] = pm_send_pr_in(&pm_env, da);
	s[1] = pm_send_pr_in(&pm_env, da);
	s[2] = pm_send_pr_in(&pm_env, db);
	/* The requests reach the pool in no set order; each summary is
	 * taken after the helper answered the previous signal. */
	for (i = 0; i < 50; i++) {
		free(line);
		line = pm_summary(&pm_env);
		cr_assert_not_null(line, "no summary: %s", th_stderr(&pm_env));
		if (strstr(line, " queued=1 devices=2 ") != NULL)
			break;
	}
	/* luna: one running, one waiting, so it is listed first. */
	cr_expect_not_null(strstr(line, " running=2 queued=1 devices=2"), "%s",
	    line);
	cr_expect_eq(pm_summary_device(line, "luna", &run, &wait), 0, "%s",
	    line);
	cr_expect(run == 1 && wait == 1, "luna run=%u wait=%u: %s", run, wait,
	    line);
	cr_expect_eq(pm_summary_device(line, "lunb", &run, &wait), 0, "%s",
	    line);
	cr_expect(run == 1 && wait == 0, "lunb run=%u wait=%u: %s", run, wait,
	    line);
	cr_expect_lt(strstr(line, " [luna "), strstr(line, " [lunb "),
	    "busiest first: %s", line);
	free(line);
	cr_assert_eq(th_shim_set(&pm_env, "* status=0\n"), 0);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(client_read_reply(s[i], &r), 0);
		cr_expect_eq(r.status, PRH_STATUS_GOOD);
		close(s[i]);
	}
	line = pm_summary_settled(&pm_env);
	cr_expect_not_null(strstr(line, " devices=0 completed=3;"), "%s", line);
	free(line);
	close(da);
	close(db);
	pm_expect_clean_exit(&pm_env);
}

/* Wait (bounded) for a datagram on fd containing needle; it goes into
 * buf.  0, or -ETIMEDOUT. */
static int
pm_wait_datagram(int fd, const char *needle, char *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	for (;;) {
		if (poll(&pfd, 1, PM_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
		while ((n = recv(fd, buf, len - 1, MSG_DONTWAIT)) >= 0) {
			buf[n] = '\0';
			if (strstr(buf, needle) != NULL)
				return 0;
			cr_log_info("other syslog datagram: %s", buf);
		}
	}
}

Test(pm, daemon_logs_to_syslog)
{
	char pidfile[PATH_MAX + 8], logsock[PATH_MAX + 8], msg[2048];
	char want[128], ident[64];
	const char *argv[] = { th_helper_path(TH_OURS), "-d", "-f", pidfile,
		"-k", NULL, NULL };
	struct pm_spawn_opts o = { .argv = argv,
		.listen_fds = { -1, -1 },
		.dev_log = logsock };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd;

	pm_need_root(); /* mount namespace */
	TH_NEED_PRIVATE_NS();
	pm_prepare(&pm_env);
	argv[5] = pm_env.sock;
	snprintf(pidfile, sizeof(pidfile), "%s/pid", pm_env.dir);
	snprintf(logsock, sizeof(logsock), "%s/devlog", pm_env.dir);
	cr_assert_lt(strlen(logsock), sizeof(sun.sun_path));
	memcpy(sun.sun_path, logsock, strlen(logsock));
	lfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(lfd, 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(chmod(logsock, 0666), 0);

	/* The parent helper exits 0 once the daemon serves. */
	pm_spawn(&pm_env, &o);
	cr_assert_eq(pm_exit_code(&pm_env), 0, "stderr: %s",
	    th_stderr(&pm_env));
	pm_daemon = pm_read_pidfile(pidfile);
	cr_assert_gt(pm_daemon, 0);

	pm_send_no_fd(&pm_env);
	snprintf(want, sizeof(want),
	    "[pid %d uid %d] No file descriptor in "
	    "request.",
	    (int)getpid(), (int)geteuid());
	cr_assert_eq(pm_wait_datagram(lfd, want, msg, sizeof(msg)), 0,
	    "no syslog datagram with \"%s\"", want);
	/* <PRI>: LOG_DAEMON | LOG_WARNING; then "TIMESTAMP ident[pid]: ". */
	snprintf(ident, sizeof(ident), " qemu-pr-helper[%d]: ", (int)pm_daemon);
	cr_expect_eq(strncmp(msg, "<28>", 4), 0, "%s", msg);
	cr_expect_not_null(strstr(msg, ident), "%s", msg);
	cr_expect_eq(strcmp(strstr(msg, ident) + strlen(ident), want), 0, "%s",
	    msg);

	pm_stop_daemon(pidfile);
	close(lfd);
}

/* --- tracing ------------------------------------------------------------ */

Test(pm, trace_enable_pattern_to_file)
{
	char opt[PATH_MAX + 16], file[PATH_MAX + 8];
	const char *args[] = { "-T", "enable=prh_re*", "-T", opt, NULL };
	char *text;

	pm_prepare(&pm_env);
	snprintf(file, sizeof(file), "%s/trace", pm_env.dir);
	snprintf(opt, sizeof(opt), "file=%s", file);
	cr_assert_eq(th_start(&pm_env, args), 0);
	pm_expect_serves(&pm_env);
	cr_assert_eq(th_wait_file_contains(file, " prh_reply ", PM_TIMEOUT_MS),
	    0);
	text = th_read_file(file, NULL);
	cr_assert_not_null(text);
	cr_expect_not_null(strstr(text, " prh_request "), "%s", text);
	cr_expect_not_null(strstr(text, "opcode=0x5e sa=0 len=8192"), "%s",
	    text);
	cr_expect_not_null(strstr(text, "status=0x02"), "%s", text);
	cr_expect_null(strstr(text, "prh_accept"), "%s", text);
	free(text);
	cr_expect_null(strstr(th_stderr(&pm_env), "prh_"));
}

Test(pm, trace_to_stderr)
{
	const char *args[] = { "-T", "prh_accept", "-T", "prh_close", NULL };
	char want[64];

	pm_start(&pm_env, args);
	pm_expect_serves(&pm_env);
	snprintf(want, sizeof(want), "peer_pid=%d", (int)getpid());
	cr_expect_eq(th_wait_stderr(&pm_env, " prh_close ", PM_TIMEOUT_MS), 0);
	cr_expect_not_null(strstr(th_stderr(&pm_env), " prh_accept "));
	cr_expect_not_null(strstr(th_stderr(&pm_env), want));
}

Test(pm, trace_help_lists_points)
{
	const char *args[] = { "-T", "help", NULL };
	char *out;

	pm_prepare(&pm_env);
	cr_expect_eq(pm_run(&pm_env, args, TH_NO_SOCKET_ARG), 0);
	out = th_read_file(pm_env.out, NULL);
	cr_assert_not_null(out);
	cr_expect_not_null(strstr(out, "prh_accept"), "%s", out);
	cr_expect_not_null(strstr(out, "prh_sgio_done"), "%s", out);
	cr_expect_not_null(strstr(out, "prh_close"), "%s", out);
	free(out);
}

Test(pm, trace_sgio_done_shows_host_and_driver_status)
{
	const char *args[] = { "-T", "prh_sgio_done", NULL };
	char path[PATH_MAX];
	struct client_reply r;
	uint8_t cdb[PRH_CDB_LEN];
	char *text, *line;
	int s, dev;

	pm_start(&pm_env, args);
	dev = th_make_dev(&pm_env, "lun", O_RDWR, path, sizeof(path));
	cr_assert_geq(dev, 0);
	/* DID_ERROR with DRIVER_SENSE: answered ABORTED COMMAND. */
	cr_assert_eq(th_shim_set(&pm_env,
			 "%s host=0x07 driver=0x08 "
			 "status=0x02\n",
			 path),
	    0);
	s = pm_conn(&pm_env);
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_command(s, cdb, dev, NULL, 0, &r), 0);
	cr_expect_eq(r.status, PRH_STATUS_CHECK_CONDITION);
	cr_assert_eq(th_wait_stderr(&pm_env, " prh_sgio_done ", PM_TIMEOUT_MS),
	    0);
	text = th_stderr(&pm_env);
	cr_assert_not_null(text);
	line = strstr(text, " prh_sgio_done ");
	cr_assert_not_null(line);
	cr_expect_not_null(strstr(line,
			       " status=0x02 host=0x07 driver=0x08 "
			       "sense=0b/00/06 size=0 duration_us="),
	    "%s", line);
	free(text);
	close(s);
	close(dev);
}
