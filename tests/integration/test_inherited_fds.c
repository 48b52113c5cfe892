/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Integration: the helper never closes or touches the fds it inherited.
 *
 * libvirt starts its managed helper with the pid file's POSIX lock held
 * on an fd it leaves open across exec, and at VM stop kills the helper
 * only if that lock is still held: a helper that closed it would never be
 * stopped.  Here the helper gets, as libvirt's pre-exec hook leaves them,
 * a locked pid file, plus a pipe, an O_APPEND file and a socket; while it
 * runs (before and after serving a command) and after -d, /proc shows
 * each at its number, on the same file, with the same flags, and nothing
 * was written to any of them.  Cases run against our helper and both
 * references.
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

static pid_t inh_daemon; /* a -d daemon to kill at the end */

/* Suite teardown: kill a daemon left running, then the shared teardown. */
static void
inh_fini(void)
{
	th_kill_daemon(&inh_daemon);
	itest_fini();
}

TestSuite(ours, .fini = inh_fini, .timeout = 30);
TestSuite(qemu, .fini = inh_fini, .timeout = 30);
TestSuite(qemu10, .fini = inh_fini, .timeout = 30);
TestSuite(qemu11, .fini = inh_fini, .timeout = 30);

#define INH_N 4 /* pipe, file, socket, pid file */

/* What the test passes and keeps. */
static struct {
	int pipe_r;	    /* read end of the helper's pipe */
	int file;	    /* the O_APPEND file, 5 bytes */
	int sock;	    /* peer of the helper's socket */
	int fds[INH_N + 1]; /* the inherited fds, -1 ended */
	char link[INH_N][PATH_MAX];
	long flags[INH_N];	      /* fdinfo flags the helper must show */
	char lockfile[PATH_MAX + 32]; /* the pid file libvirt locks */
} inh;

/* Octal "flags:" of fd in process pid, or -1. */
static long
inh_fdinfo_flags(pid_t pid, int fd)
{
	char path[64], *text, *p;
	long v = -1;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	text = th_read_file(path, NULL);
	if (text != NULL && (p = strstr(text, "flags:")) != NULL)
		v = strtol(p + 6, NULL, 8);
	free(text);
	return v;
}

/* readlink of /proc/pid/fd/fd into out (PATH_MAX), "" if none. */
static void
inh_link(pid_t pid, int fd, char *out)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(path, out, PATH_MAX - 1);
	out[n > 0 ? n : 0] = '\0';
}

/* libvirt's pre-exec hook: the pid file, write-locked (POSIX) on an fd
 * that stays open across exec, holding the pid. */
static void
inh_lock_pidfile(struct th_env *e)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd = open(inh.lockfile, O_RDWR | O_CREAT | O_TRUNC, 0644);

	(void)e;
	if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0 ||
	    dprintf(fd, "%d\n", (int)getpid()) < 0)
		_exit(126);
}

/* Make the env and the fds (close-on-exec here; the harness passes them
 * at the same numbers); the pid file's fd is the one the hook opens. */
static void
inh_prepare(enum th_kind kind)
{
	int p[2], s[2], i;

	itest_prepare(kind);
	snprintf(inh.lockfile, sizeof(inh.lockfile), "%s/pr-helper0.pid",
	    itest_env.dir);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	inh.pipe_r = p[0];
	inh.sock = s[0];
	inh.file = open(itest_dev_path("inherited.log"),
	    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	cr_assert_geq(inh.file, 0);
	cr_assert_eq(write(inh.file, "12345", 5), 5);
	inh.fds[0] = p[1];
	inh.fds[1] = inh.file;
	inh.fds[2] = s[1];
	inh.fds[3] = -1;
	for (i = 0; i < INH_N - 1; i++) {
		inh_link(getpid(), inh.fds[i], inh.link[i]);
		/* as the helper gets it: without O_CLOEXEC */
		inh.flags[i] = inh_fdinfo_flags(getpid(), inh.fds[i]) &
		    ~(long)O_CLOEXEC;
	}
	itest_env.inherit = inh.fds;
	itest_env.pre_exec = inh_lock_pidfile;
}

/* The fd of process pid on the pid file, or -1. */
static int
inh_lock_fd(pid_t pid)
{
	char link[PATH_MAX];
	int fd;

	for (fd = 3; fd < 256; fd++) {
		inh_link(pid, fd, link);
		if (strcmp(link, inh.lockfile) == 0)
			return fd;
	}
	return -1;
}

/* The pid holding a POSIX write lock on the pid file, 0 if none (what
 * libvirt asks before it kills the helper). */
static pid_t
inh_lock_holder(void)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd = open(inh.lockfile, O_RDONLY | O_CLOEXEC);
	pid_t who = 0;

	cr_assert_geq(fd, 0, "%s: %s", inh.lockfile, strerror(errno));
	cr_assert_eq(fcntl(fd, F_GETLK, &fl), 0);
	if (fl.l_type == F_WRLCK)
		who = fl.l_pid;
	close(fd);
	return who;
}

/* Expect pid to hold every inherited fd as it came, and nothing written
 * to the pipe, the file or the socket. */
static void
inh_expect_untouched(pid_t pid, const char *when)
{
	struct pollfd pfd = { .fd = inh.pipe_r, .events = POLLIN };
	char link[PATH_MAX], c;
	struct stat st;
	int i;

	for (i = 0; i < INH_N - 1; i++) {
		inh_link(pid, inh.fds[i], link);
		cr_expect_str_eq(link, inh.link[i], "%s: fd %d", when,
		    inh.fds[i]);
		cr_expect_eq(inh_fdinfo_flags(pid, inh.fds[i]), inh.flags[i],
		    "%s: flags of fd %d: 0%lo, were 0%lo", when, inh.fds[i],
		    inh_fdinfo_flags(pid, inh.fds[i]), inh.flags[i]);
	}
	cr_expect_geq(inh_lock_fd(pid), 0, "%s: the pid file's fd is gone",
	    when);
	cr_expect_eq(poll(&pfd, 1, 0), 0, "%s: the pipe was written or closed",
	    when);
	cr_assert_eq(fstat(inh.file, &st), 0);
	cr_expect_eq(st.st_size, 5, "%s: the file was written", when);
	cr_expect_eq(lseek(inh.file, 0, SEEK_CUR), 5, "%s: the file moved",
	    when);
	cr_expect_eq(recv(inh.sock, &c, 1, MSG_DONTWAIT), -1,
	    "%s: the socket was written or closed", when);
}

/* Expect the pipe to report EOF at once: every holder of its write end
 * is gone. */
static void
inh_expect_pipe_eof(void)
{
	struct pollfd pfd = { .fd = inh.pipe_r, .events = POLLIN };
	char c;

	close(inh.fds[0]);
	cr_assert_eq(poll(&pfd, 1, TH_TIMEOUT_MS), 1);
	cr_expect_eq(read(inh.pipe_r, &c, 1), 0, "the pipe is still open");
}

ITEST_BOTH(inherited_fds_kept_as_libvirt_leaves_them)
{
	struct client_reply r;
	int rc, st = -1, sock, dev;

	inh_prepare(kind);
	rc = th_start(&itest_env, NULL);
	cr_assert_eq(rc, 0, "helper did not start: %s", strerror(-rc));
	cr_expect_eq(inh_lock_holder(), itest_env.pid,
	    "the pid file lock is not the helper's");
	inh_expect_untouched(itest_env.pid, "serving");
	sock = itest_conn();
	dev = itest_dev("lun", O_RDWR);
	itest_pr_in(sock, dev, 0, 8192, &r);
	itest_expect_ioerr(&r);
	close(sock);
	inh_expect_untouched(itest_env.pid, "after a command");
	cr_expect_eq(inh_lock_holder(), itest_env.pid,
	    "the pid file lock is lost");
	rc = th_stop(&itest_env, SIGTERM, TH_TIMEOUT_MS, &st);
	cr_assert_eq(rc, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
	/* Only the helper's exit released them. */
	cr_expect_eq(inh_lock_holder(), 0, "the lock outlived the helper");
	inh_expect_pipe_eof();
}

/* The pid in pid file path once it holds one (QEMU's daemon may write it
 * after its parent has exited), or 0 after the timeout. */
static int
inh_wait_pidfile(const char *path)
{
	struct pollfd pfd = { .events = POLLIN };
	char buf[4096], *text;
	int pid = 0, n = 0;

	pfd.fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	cr_assert_geq(pfd.fd, 0);
	/* Watch first, then look: no write can slip in between. */
	cr_assert_geq(inotify_add_watch(pfd.fd, itest_env.dir,
			  IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO),
	    0);
	for (;;) {
		text = th_read_file(path, NULL);
		if (text != NULL && strchr(text, '\n') != NULL)
			sscanf(text, "%d", &pid);
		free(text);
		/* each wait is bounded; a few writes make the file */
		if (pid > 0 || n++ == 16 || poll(&pfd, 1, TH_TIMEOUT_MS) <= 0)
			break;
		while (read(pfd.fd, buf, sizeof(buf)) > 0)
			;
	}
	close(pfd.fd);
	return pid;
}

ITEST_BOTH(inherited_fds_kept_after_daemonizing)
{
	struct pollfd pfd = { .events = POLLIN };
	char pidfile[PATH_MAX + 16];
	const char *args[] = { "-d", "-f", pidfile, NULL };
	int rc, st = -1, daemon = 0;

	inh_prepare(kind);
	snprintf(pidfile, sizeof(pidfile), "%s/daemon.pid", itest_env.dir);
	rc = th_run(&itest_env, args, 0, TH_TIMEOUT_MS, &st);
	cr_assert_eq(rc, 0, "run: %s", strerror(-rc));
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
	inh_daemon = daemon = inh_wait_pidfile(pidfile);
	cr_assert_gt(daemon, 0, "no pid in %s", pidfile);
	pfd.fd = (int)syscall(SYS_pidfd_open, daemon, 0);
	cr_assert_geq(pfd.fd, 0);
	/* It serves: its loop runs (QEMU's loses a SIGTERM sent earlier). */
	close(itest_conn());
	inh_expect_untouched(daemon, "after -d");
	/* A POSIX lock is the process's: the parent's ended with it. */
	cr_expect_eq(inh_lock_holder(), 0, "a lock survived the fork");
	cr_assert_eq(kill(daemon, SIGTERM), 0);
	cr_assert_eq(poll(&pfd, 1, TH_TIMEOUT_MS), 1, "the daemon still runs");
	inh_daemon = 0;
	close(pfd.fd);
	inh_expect_pipe_eof();
}
