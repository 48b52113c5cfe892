/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test harness: helper processes in private temp dirs, and the observation
 * helpers the integration tests use.  See harness.h for the contract.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "prh/client.h"
#include "harness.h"
#include "harness_int.h"

#define TH_QEMU_HELPER	   "/usr/bin/qemu-pr-helper"
/* Where contrib/qemu10.sh and contrib/trixie-root.sh keep what they fetch
 * when run as root (see th_cache_dir()). */
#define TH_CACHE_ROOT_DIR  "/var/cache/qemu-pr-helper"
/* QEMU 11.1's helper, and the dynamic loader and library directory of its
 * root that run it (the root's glibc is newer than the system's). */
#define TH_QEMU11_HELPER   "usr/bin/qemu-pr-helper"
#define TH_QEMU11_LOADER   "usr/lib64/ld-linux-x86-64.so.2"
#define TH_QEMU11_LIBDIR   "usr/lib/x86_64-linux-gnu"
#define TH_QEMU11_PATH_MAX (PATH_MAX + 64)
#define TH_MAX_ENV	   256 /* environment entries passed to a helper */
#define TH_MAX_ARGS	   64  /* argv entries passed to a helper */

extern char **environ;

/* The build tree root from the environment, "." if unset. */
static const char *
th_builddir(void)
{
	const char *d = getenv("PRH_TOP_BUILDDIR");

	return d != NULL && d[0] != '\0' ? d : ".";
}

/* A cache directory of the fetch scripts: $env if set, else
 * /var/cache/qemu-pr-helper/NAME as root, else under $XDG_CACHE_HOME or
 * ~/.cache (the rule of contrib/qemu10.sh and contrib/trixie-root.sh);
 * into out (PATH_MAX bytes). */
static const char *
th_cache_dir(char *out, const char *env, const char *name)
{
	const char *d = getenv(env);
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");

	if (d != NULL && d[0] != '\0')
		snprintf(out, PATH_MAX, "%s", d);
	else if (geteuid() == 0)
		snprintf(out, PATH_MAX, "%s/%s", TH_CACHE_ROOT_DIR, name);
	else if (xdg != NULL && xdg[0] != '\0')
		snprintf(out, PATH_MAX, "%s/qemu-pr-helper/%s", xdg, name);
	else
		snprintf(out, PATH_MAX, "%s/.cache/qemu-pr-helper/%s",
		    home != NULL ? home : "", name);
	return out;
}

/* File rel of the root QEMU 11.1 is in (contrib/trixie-root.sh dir qemu),
 * into out (TH_QEMU11_PATH_MAX bytes). */
static const char *
th_qemu11_path(char *out, const char *rel)
{
	char dir[PATH_MAX];

	th_cache_dir(dir, "PRH_TRIXIE_DIR_qemu", "trixie-qemu");
	snprintf(out, TH_QEMU11_PATH_MAX, "%s/root/%s", dir, rel);
	return out;
}

/* Path of the helper binary of this kind. */
const char *
th_helper_path(enum th_kind kind)
{
	static char ours[PATH_MAX], qemu10[PATH_MAX + 32];
	static char qemu11[TH_QEMU11_PATH_MAX], dir[PATH_MAX];
	static char floor_bin[PATH_MAX];

	const char *bin = getenv("PRH_HELPER_BIN");

	if (kind == TH_QEMU)
		return TH_QEMU_HELPER;
	if (kind == TH_QEMU10) {
		snprintf(qemu10, sizeof(qemu10),
		    "%s/root/usr/bin/qemu-pr-helper",
		    th_cache_dir(dir, "PRH_QEMU10_DIR", "qemu-10.0"));
		return qemu10;
	}
	if (kind == TH_QEMU11)
		return th_qemu11_path(qemu11, TH_QEMU11_HELPER);
	if (kind == TH_FLOOR) {
		snprintf(floor_bin, sizeof(floor_bin), "%s/src/bench/floor",
		    th_builddir());
		return floor_bin;
	}
	if (bin != NULL && bin[0] != '\0')
		return bin; /* e.g. a ThreadSanitizer build of the helper */
	snprintf(ours, sizeof(ours), "%s/qemu-pr-helper", th_builddir());
	return ours;
}

/* The words that run the helper of kind (see harness.h). */
const char *const *
th_helper_cmd(enum th_kind kind)
{
	static char loader[TH_QEMU11_PATH_MAX], libdir[TH_QEMU11_PATH_MAX];
	static const char *cmd[TH_HELPER_CMD_MAX];
	int n = 0;

	if (kind == TH_QEMU11) {
		cmd[n++] = th_qemu11_path(loader, TH_QEMU11_LOADER);
		cmd[n++] = "--library-path";
		cmd[n++] = th_qemu11_path(libdir, TH_QEMU11_LIBDIR);
	}
	cmd[n++] = th_helper_path(kind);
	cmd[n] = NULL;
	return cmd;
}

/* "ours", "qemu" (the system's), "qemu10", "qemu11" or "floor". */
const char *
th_kind_name(enum th_kind kind)
{
	return kind == TH_QEMU	? "qemu"
	    : kind == TH_QEMU10 ? "qemu10"
	    : kind == TH_QEMU11 ? "qemu11"
	    : kind == TH_FLOOR	? "floor"
				: "ours";
}

/* Path of the SG_IO shim (under $PRH_TOP_BUILDDIR). */
const char *
th_shim_path(void)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/tests/shim/.libs/sgio_shim.so",
	    th_builddir());
	return path;
}

/* Whether this kind can run here: 0, or -errno with *why set. */
int
th_helper_usable(enum th_kind kind, const char **why)
{
	char loader[TH_QEMU11_PATH_MAX];

	*why = NULL;
	if (access(th_shim_path(), R_OK) != 0) {
		*why = "the SG_IO shim is not built";
		return -ENOENT;
	}
	if (access(th_helper_path(kind), X_OK) != 0) {
		*why = kind == TH_QEMU
		    ? "QEMU's qemu-pr-helper is not installed"
		    : kind == TH_QEMU10
		    ? "QEMU 10.0 is not fetched (contrib/qemu10.sh fetch)"
		    : kind == TH_QEMU11
		    ? "QEMU 11.1 is not in a Debian 13 root "
		      "(contrib/trixie-root.sh fetch qemu)"
		    : kind == TH_FLOOR ? "src/bench/floor is not built"
				       : "our qemu-pr-helper is not built";
		return -ENOENT;
	}
	if (kind == TH_QEMU11 &&
	    access(th_qemu11_path(loader, TH_QEMU11_LOADER), X_OK) != 0) {
		*why = "the Debian 13 root has no dynamic loader "
		       "(usr/lib64/ld-linux-x86-64.so.2)";
		return -ENOENT;
	}
	if (TH_IS_QEMU(kind) && geteuid() != 0) {
		*why = "QEMU's qemu-pr-helper drops privileges: needs root";
		return -EPERM;
	}
	return 0;
}

/* Join dir and name into out (PATH_MAX bytes): 0 or -ENAMETOOLONG. */
int
th_path(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Create an empty file with mode if it does not exist: 0 or -errno. */
int
th_touch(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, mode);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* A mount namespace of its own, / and below private: 0 or -errno. */
int
th_private_ns(void)
{
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	return 0;
}

/* Try th_private_ns() in a child: NULL, or why it failed. */
const char *
th_private_ns_why(void)
{
	static char why[128];
	pid_t pid = fork();
	int st = 0;

	if (pid < 0)
		return "fork failed";
	if (pid == 0)
		_exit(-th_private_ns());
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return "the mount namespace probe did not exit";
	if (WEXITSTATUS(st) == 0)
		return NULL;
	if (WEXITSTATUS(st) == EINVAL)
		return "/ is not a mount point (a chroot?): no private mount "
		       "namespace to mount in";
	snprintf(why, sizeof(why), "no private mount namespace: %s",
	    strerror(WEXITSTATUS(st)));
	return why;
}

/*
 * In a child about to run a helper: a new mount namespace whose /dev
 * holds only null and log, log being the socket at sock.  /dev/log may be
 * missing (as on the development machines), a socket, or a symlink into
 * /run/systemd/journal; a tmpfs over /dev handles the three alike and
 * never changes the host's /dev.  The original /dev/null is reached
 * through an fd on the /dev directory opened before the tmpfs hides it.
 * 0 or -errno.
 */
int
th_private_dev_log(const char *sock)
{
	char src[64];
	int old;

	int rc = th_private_ns();

	if (rc < 0)
		return rc;
	old = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (old < 0 ||
	    mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC,
		"mode=0755") < 0)
		return -errno;
	if (th_touch("/dev/null", 0666) < 0 || th_touch("/dev/log", 0666) < 0)
		return -errno;
	snprintf(src, sizeof(src), "/proc/self/fd/%d/null", old);
	if (mount(src, "/dev/null", NULL, MS_BIND, NULL) < 0 ||
	    mount(sock, "/dev/log", NULL, MS_BIND, NULL) < 0)
		return -errno;
	close(old);
	return 0;
}

/* Make the temp dir and name its files: 0 or -errno. */
int
th_env_init(struct th_env *e, enum th_kind kind)
{
	const char *tmp = getenv("TMPDIR");

	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->pidfd = e->notify_fd = e->ino_fd = -1;
	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	snprintf(e->dir, sizeof(e->dir), "%s/prh-test-XXXXXX", tmp);
	if (mkdtemp(e->dir) == NULL)
		return -errno;
	e->created = true;
	if (th_path(e->sock, e->dir, "sock") < 0 ||
	    th_path(e->ctl, e->dir, "shim.ctl") < 0 ||
	    th_path(e->log, e->dir, "shim.log") < 0 ||
	    th_path(e->out, e->dir, "stdout") < 0 ||
	    th_path(e->err, e->dir, "stderr") < 0 ||
	    th_path(e->notify, e->dir, "notify") < 0)
		return -ENAMETOOLONG;
	if (th_touch(e->ctl, 0600) < 0 || th_touch(e->log, 0600) < 0 ||
	    th_touch(e->out, 0600) < 0 || th_touch(e->err, 0600) < 0)
		return -errno;
	return 0;
}

/* nftw callback removing one entry. */
static int
th_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Remove dir and everything below it, never following a symbolic link;
 * what cannot be removed stays. */
void
th_rmtree(const char *dir)
{
	nftw(dir, th_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Close *fd if open and mark it closed. */
static void
th_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Kill a running helper, reap it, remove the temp dir. Idempotent. */
void
th_env_fini(struct th_env *e)
{
	const char *w = getenv("PRH_HELPER_WRAPPER");
	int st;

	/* Under a checking wrapper (valgrind) our helper gets SIGTERM first,
	 * so that its exit-time checks (leaks) run. */
	if (e->pid > 0 && e->kind == TH_OURS && w != NULL && w[0] != '\0')
		(void)th_stop(e, SIGTERM, 5000, &st);
	if (e->pid > 0) {
		kill(e->pid, SIGKILL);
		while (waitpid(e->pid, &st, 0) < 0 && errno == EINTR)
			;
		e->pid = 0;
	}
	th_close(&e->pidfd);
	th_close(&e->notify_fd);
	th_close(&e->ino_fd);
	if (e->created)
		th_rmtree(e->dir);
	e->created = false;
}

/* Whether env entry s sets one of the variables the harness controls. */
static bool
th_env_overridden(const char *s)
{
	static const char *const keys[] = {
		"LD_PRELOAD=",
		"PRH_SHIM_CTL=",
		"PRH_SHIM_LOG=",
		"PRH_SHIM_DEVICES=",
		"NOTIFY_SOCKET=",
		"LISTEN_FDS=",
		"LISTEN_PID=",
		"LISTEN_FDNAMES=",
		"ASAN_OPTIONS=",
		NULL,
	};
	int i;

	for (i = 0; keys[i] != NULL; i++)
		if (strncmp(s, keys[i], strlen(keys[i])) == 0)
			return true;
	return false;
}

/* Build the helper's environment into envp (strings in store). */
static int
th_build_env(struct th_env *e, unsigned flags, char **envp,
    char store[][PATH_MAX + 32])
{
	int n = 0, k = 0, i;

	for (i = 0; environ[i] != NULL && n < TH_MAX_ENV - 16; i++)
		if (!th_env_overridden(environ[i]))
			envp[n++] = environ[i];
	if (!(flags & TH_NO_SHIM)) {
		snprintf(store[k], sizeof(store[k]), "LD_PRELOAD=%s",
		    th_shim_path());
		envp[n++] = store[k++];
		snprintf(store[k], sizeof(store[k]), "PRH_SHIM_CTL=%s", e->ctl);
		envp[n++] = store[k++];
		snprintf(store[k], sizeof(store[k]), "PRH_SHIM_LOG=%s", e->log);
		envp[n++] = store[k++];
		/* The files of the test's directory (not of subdirectories)
		 * look like whole SCSI disks to the helper. */
		snprintf(store[k], sizeof(store[k]), "PRH_SHIM_DEVICES=%s/*",
		    e->dir);
		envp[n++] = store[k++];
		/* An instrumented helper must accept a preload before ASan. */
		envp[n++] = (char *)"ASAN_OPTIONS=verify_asan_link_order=0";
	}
	if (e->kind == TH_OURS) {
		snprintf(store[k], sizeof(store[k]), "NOTIFY_SOCKET=%s",
		    e->notify);
		envp[n++] = store[k++];
	}
	for (i = 0; e->extra_env != NULL && e->extra_env[i] != NULL &&
	     n < TH_MAX_ENV - 1;
	     i++)
		envp[n++] = (char *)e->extra_env[i];
	envp[n] = NULL;
	return 0;
}

/* SIGKILL a daemon a test left running, and forget it. */
void
th_kill_daemon(pid_t *pid)
{
	if (*pid > 0)
		kill(*pid, SIGKILL);
	*pid = 0;
}

/* A Unix socket of type (close-on-exec) bound at path: fd or -errno. */
int
th_unix_bound(const char *path, int type)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

/* Create the datagram socket our helper notifies readiness on. */
static int
th_notify_open(struct th_env *e)
{
	int fd;

	if (e->notify_fd >= 0)
		return 0;
	unlink(e->notify);
	fd = th_unix_bound(e->notify, SOCK_DGRAM | SOCK_NONBLOCK);
	if (fd < 0)
		return fd;
	e->notify_fd = fd;
	return 0;
}

/* Watch the socket's directory for the socket's creation. */
static int
th_watch_sock_dir(struct th_env *e)
{
	char dir[PATH_MAX];

	th_close(&e->ino_fd);
	e->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (e->ino_fd < 0)
		return -errno;
	snprintf(dir, sizeof(dir), "%s", e->sock);
	if (inotify_add_watch(e->ino_fd, dirname(dir),
		IN_CREATE | IN_MOVED_TO) < 0)
		return -errno;
	return 0;
}

/* In the child: close fds lo..hi (hi ~0U: all from lo on). */
static void
th_close_range(unsigned lo, unsigned hi)
{
	unsigned fd;

	if (lo > hi || syscall(SYS_close_range, lo, hi, 0U) == 0)
		return;
	for (fd = lo; fd <= hi && fd < 1024; fd++)
		close((int)fd);
}

/* In the child: close fds 3 and up except those of e->inherit, which lose
 * FD_CLOEXEC so that the helper gets them at the same numbers. */
static void
th_child_fds(const struct th_env *e)
{
	int keep[TH_MAX_INHERIT], n = 0, i, j, k, fl;
	unsigned lo = 3;

	for (i = 0;
	     e->inherit != NULL && e->inherit[i] >= 0 && n < TH_MAX_INHERIT;
	     i++) {
		if (e->inherit[i] < 3)
			continue;
		for (j = n++; j > 0 && keep[j - 1] > e->inherit[i]; j--)
			keep[j] = keep[j - 1];
		keep[j] = e->inherit[i];
	}
	for (i = 0; i < n; i++) {
		k = keep[i];
		if ((unsigned)k < lo)
			continue; /* listed twice */
		th_close_range(lo, (unsigned)k - 1);
		fl = fcntl(k, F_GETFD);
		if (fl >= 0)
			fcntl(k, F_SETFD, fl & ~FD_CLOEXEC);
		lo = (unsigned)k + 1;
	}
	th_close_range(lo, ~0U);
}

/* In the child: set up stdio, signals and fds, then exec. Never returns. */
static void
th_child_exec(struct th_env *e, pid_t parent, char **argv, char **envp)
{
	sigset_t all;
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0 && fd != 0) {
		dup2(fd, 0);
		close(fd);
	}
	fd = open(e->out, O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (fd >= 0 && fd != 1) {
		dup2(fd, 1);
		close(fd);
	}
	fd = open(e->err, O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (fd >= 0 && fd != 2) {
		dup2(fd, 2);
		close(fd);
	}
	th_child_fds(e);
	if (e->pre_exec != NULL)
		e->pre_exec(e);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	execve(argv[0], argv, envp);
	_exit(127);
}

/* Put the words of $PRH_HELPER_WRAPPER (an absolute path and its
 * options, e.g. "/usr/bin/valgrind --error-exitcode=99") in front of our
 * helper's argv: the number of words, at most max. */
static int
th_wrapper_args(char **argv, int max)
{
	static char buf[4096];
	const char *w = getenv("PRH_HELPER_WRAPPER");
	char *save = NULL, *tok;
	int n = 0;

	if (w == NULL || w[0] == '\0')
		return 0;
	snprintf(buf, sizeof(buf), "%s", w);
	for (tok = strtok_r(buf, " \t", &save); tok != NULL && n < max;
	     tok = strtok_r(NULL, " \t", &save))
		argv[n++] = tok;
	return n;
}

/* Start the helper with args; adds "-k <sock>" unless TH_NO_SOCKET_ARG. */
int
th_spawn(struct th_env *e, const char *const *args, unsigned flags)
{
	static char store[8][PATH_MAX + 32];
	const char *const *cmd = th_helper_cmd(e->kind);
	char *argv[TH_MAX_ARGS], *envp[TH_MAX_ENV];
	struct stat st;
	pid_t parent = getpid();
	int n = 0, i, rc;

	if (e->pid > 0)
		return -EBUSY;
	if (e->kind == TH_OURS)
		n = th_wrapper_args(argv, TH_MAX_ARGS / 2);
	for (i = 0; cmd[i] != NULL; i++)
		argv[n++] = (char *)cmd[i];
	if (!(flags & TH_NO_SOCKET_ARG)) {
		argv[n++] = (char *)"-k";
		argv[n++] = e->sock;
	}
	for (i = 0; args != NULL && args[i] != NULL && n < TH_MAX_ARGS - 1; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	th_build_env(e, flags, envp, store);
	if (e->kind == TH_OURS && (rc = th_notify_open(e)) < 0)
		return rc;
	if ((rc = th_watch_sock_dir(e)) < 0)
		return rc;
	e->sock_existed = lstat(e->sock, &st) == 0;
	e->pid = fork();
	if (e->pid < 0) {
		e->pid = 0;
		return -errno;
	}
	if (e->pid == 0)
		th_child_exec(e, parent, argv, envp);
	e->pidfd = (int)syscall(SYS_pidfd_open, e->pid, 0);
	if (e->pidfd < 0)
		return -errno;
	return 0;
}

/* Whether a datagram waiting on the notify socket has the line msg. */
static bool
th_notify_has(int fd, const char *msg)
{
	char buf[4096], *line, *save = NULL;
	bool found = false;
	ssize_t n;

	while (!found && (n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		for (line = strtok_r(buf, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save))
			if (strcmp(line, msg) == 0)
				found = true;
	}
	return found;
}

/* Wait for the line msg on the notify socket: 0, -ECHILD if the helper
 * exited first, -ETIMEDOUT. */
int
th_wait_notify(struct th_env *e, const char *msg, int timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;
	struct pollfd pfd[2];

	if (e->notify_fd < 0)
		return -ENOTCONN;
	for (;;) {
		pfd[0].fd = e->notify_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = e->pidfd;
		pfd[1].events = POLLIN;
		if (poll(pfd, e->pidfd >= 0 ? 2 : 1, th_left(deadline)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if ((pfd[0].revents & POLLIN) &&
		    th_notify_has(e->notify_fd, msg))
			return 0;
		if (e->pidfd >= 0 && (pfd[1].revents & POLLIN) &&
		    !(pfd[0].revents & POLLIN))
			return -ECHILD;
		if (th_left(deadline) == 0)
			return -ETIMEDOUT;
	}
}

/* Drain inotify events; true if one names the socket file. */
static bool
th_saw_sock_event(struct th_env *e)
{
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	char tmp[PATH_MAX];
	const char *base;
	bool seen = false;
	ssize_t n;
	char *p;

	snprintf(tmp, sizeof(tmp), "%s", e->sock);
	base = basename(tmp);
	while ((n = read(e->ino_fd, buf, sizeof(buf))) > 0) {
		for (p = buf; p < buf + n;
		     p += sizeof(struct inotify_event) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->len > 0 && strcmp(ev->name, base) == 0)
				seen = true;
		}
	}
	return seen;
}

/* Read the helper's feature word on a fresh connection, then close it.
 * The word is written from the helper's main loop, so once it arrives the
 * helper also handles signals (QEMU's loses a SIGTERM sent earlier). */
static int
th_probe_hello(int fd, long long deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t hello[PRH_HELLO_LEN];
	size_t got = 0;
	ssize_t n;
	int rc = 0;

	while (got < sizeof(hello)) {
		rc = poll(&pfd, 1, th_left(deadline));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0) {
			rc = rc == 0 ? -ETIMEDOUT : -errno;
			break;
		}
		n = read(fd, hello + got, sizeof(hello) - got);
		if (n <= 0) {
			rc = n == 0 ? -ECONNRESET : -errno;
			break;
		}
		got += (size_t)n;
		rc = 0;
	}
	close(fd);
	return rc;
}

/* Wait for the socket to be created and to accept a connection. */
static int
th_wait_socket(struct th_env *e, long long deadline)
{
	bool created = !e->sock_existed;
	struct pollfd pfd[2];
	int fd;

	for (;;) {
		if (th_saw_sock_event(e))
			created = true;
		if (created) {
			fd = client_connect_raw(e->sock);
			if (fd >= 0)
				return th_probe_hello(fd, deadline);
			if (fd != -ENOENT && fd != -ECONNREFUSED)
				return fd;
		}
		pfd[0].fd = e->ino_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = e->pidfd;
		pfd[1].events = POLLIN;
		/* bind() and listen() are two steps: retry in short waits. */
		if (poll(pfd, 2,
			created && th_left(deadline) > TH_POLL_STEP_MS
			    ? TH_POLL_STEP_MS
			    : th_left(deadline)) < 0 &&
		    errno != EINTR)
			return -errno;
		if (pfd[1].revents & POLLIN)
			return -ECHILD;
		if (th_left(deadline) == 0)
			return -ETIMEDOUT;
	}
}

/* Wait until the spawned helper serves. */
int
th_wait_ready(struct th_env *e, int timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;

	if (e->pid <= 0)
		return -ECHILD;
	if (e->kind == TH_OURS)
		return th_wait_notify(e, "READY=1", timeout_ms);
	return th_wait_socket(e, deadline);
}

/* th_spawn() (shim preloaded, -k added) and th_wait_ready(). */
int
th_start(struct th_env *e, const char *const *args)
{
	int rc = th_spawn(e, args, 0);

	if (rc == 0)
		rc = th_wait_ready(e, TH_TIMEOUT_MS);
	return rc;
}

/* Wait for the helper to exit: 0 and *wstatus, or -ETIMEDOUT. */
int
th_wait_exit(struct th_env *e, int timeout_ms, int *wstatus)
{
	long long deadline = th_now_ms() + timeout_ms;
	struct pollfd pfd;
	int st, rc;

	if (e->pid <= 0)
		return -ECHILD;
	pfd.fd = e->pidfd;
	pfd.events = POLLIN;
	for (;;) {
		rc = poll(&pfd, 1, th_left(deadline));
		if (rc > 0)
			break;
		if (rc < 0 && errno != EINTR)
			return -errno;
		if (th_left(deadline) == 0)
			return -ETIMEDOUT;
	}
	while (waitpid(e->pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	e->pid = 0;
	th_close(&e->pidfd);
	if (wstatus != NULL)
		*wstatus = st;
	return 0;
}

/* Send sig and wait; SIGKILL and -ETIMEDOUT after the deadline. */
int
th_stop(struct th_env *e, int sig, int timeout_ms, int *wstatus)
{
	int rc;

	if (e->pid <= 0)
		return -ECHILD;
	if (kill(e->pid, sig) < 0)
		return -errno;
	rc = th_wait_exit(e, timeout_ms, wstatus);
	if (rc == -ETIMEDOUT) {
		kill(e->pid, SIGKILL);
		th_wait_exit(e, TH_TIMEOUT_MS, NULL);
	}
	return rc;
}

/* Spawn with flags, wait for exit. */
int
th_run(struct th_env *e, const char *const *args, unsigned flags,
    int timeout_ms, int *wstatus)
{
	int rc = th_spawn(e, args, flags);

	if (rc == 0) {
		rc = th_wait_exit(e, timeout_ms, wstatus);
		if (rc == -ETIMEDOUT)
			th_stop(e, SIGKILL, TH_TIMEOUT_MS, NULL);
	}
	return rc;
}
