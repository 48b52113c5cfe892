/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for activation: the environment side of socket activation
 * (LISTEN_PID, LISTEN_FDS) and the checks on the passed socket. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "prh/activation.h"

/* Set the activation variables. */
static void
set_listen(const char *pid, const char *fds)
{
	if (pid != NULL)
		setenv("LISTEN_PID", pid, 1);
	else
		unsetenv("LISTEN_PID");
	if (fds != NULL)
		setenv("LISTEN_FDS", fds, 1);
	else
		unsetenv("LISTEN_FDS");
	setenv("LISTEN_FDNAMES", "x", 1);
}

/* Set LISTEN_PID to our pid and LISTEN_FDS to fds. */
static void
set_listen_self(const char *fds)
{
	char pid[32];

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	set_listen(pid, fds);
}

/* Whether all three variables are gone. */
static bool
listen_env_gone(void)
{
	return getenv("LISTEN_PID") == NULL && getenv("LISTEN_FDS") == NULL &&
	    getenv("LISTEN_FDNAMES") == NULL;
}

/* Put fd at ACTIVATION_FD_START (+ off). */
static bool
at_fd(int fd, int off)
{
	return dup2(fd, ACTIVATION_FD_START + off) == ACTIVATION_FD_START + off;
}

/*
 * The passed fds start at 3, where the test runner keeps its own
 * channel: each case runs in a child process that may replace fd 3, and
 * reports through its exit status which check failed (0: none).
 */
static int
child_run(int (*fn)(void))
{
	int st = -1;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, STDERR_FILENO);
		_exit(fn());
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "child crashed");
	return WEXITSTATUS(st);
}

/* No variables: not activated. */
static int
case_not_activated(void)
{
	set_listen(NULL, NULL);
	if (activation_count_env() != 0)
		return 1;
	return listen_env_gone() ? 0 : 2;
}

/* A foreign LISTEN_PID is ignored, and the variables removed. */
static int
case_foreign_pid(void)
{
	char pid[32];

	snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
	set_listen(pid, "1");
	if (activation_count_env() != 0)
		return 1;
	return listen_env_gone() ? 0 : 2;
}

/* Values that do not parse mean "not activated". */
static int
case_garbage(void)
{
	set_listen_self("one");
	if (activation_count_env() != 0)
		return 1;
	set_listen("12x", "1");
	return activation_count_env() == 0 ? 0 : 2;
}

/* One passed fd: counted, made close-on-exec, variables removed. */
static int
case_one_fd(void)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || !at_fd(sv[0], 0))
		return 10;
	if (fcntl(ACTIVATION_FD_START, F_GETFD) & FD_CLOEXEC)
		return 11;
	set_listen_self("1");
	if (activation_count_env() != 1)
		return 1;
	if (!listen_env_gone())
		return 2;
	return fcntl(ACTIVATION_FD_START, F_GETFD) & FD_CLOEXEC ? 0 : 3;
}

/* A connected socket is not a listener: refused. */
static int
case_not_listener(void)
{
	int sv[2], fd = -1;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || !at_fd(sv[0], 0))
		return 10;
	set_listen_self("1");
	return activation_listen_fd(&fd) < 0 ? 0 : 1;
}

/* LISTEN_FDS=2: refused. */
static int
case_two_fds(void)
{
	int sv[2], fd = -1;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || !at_fd(sv[0], 0) ||
	    !at_fd(sv[1], 1))
		return 10;
	set_listen_self("2");
	return activation_listen_fd(&fd) == -E2BIG ? 0 : 1;
}

/* A listening Unix stream socket: taken, made non-blocking. */
static int
case_listener(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int s, fd = -1;

	s = socket(AF_UNIX, SOCK_STREAM, 0);
	/* Binding just the family autobinds an abstract name. */
	if (s < 0 ||
	    bind(s, (struct sockaddr *)&sun, sizeof(sa_family_t)) < 0 ||
	    listen(s, 1) < 0 || !at_fd(s, 0))
		return 10;
	set_listen_self("1");
	if (activation_listen_fd(&fd) != 1)
		return 1;
	if (fd != ACTIVATION_FD_START)
		return 2;
	return fcntl(fd, F_GETFL) & O_NONBLOCK ? 0 : 3;
}

/* A test that runs case_fn in a child process and expects it to exit 0. */
#define CHILD_TEST(name, case_fn)                    \
	Test(activation, name)                       \
	{                                            \
		cr_expect_eq(child_run(case_fn), 0); \
	}

CHILD_TEST(not_activated, case_not_activated)
CHILD_TEST(foreign_pid_ignored, case_foreign_pid)
CHILD_TEST(garbage_means_not_activated, case_garbage)
CHILD_TEST(one_fd_gets_cloexec, case_one_fd)
CHILD_TEST(connected_socket_refused, case_not_listener)
CHILD_TEST(two_fds_refused, case_two_fds)
CHILD_TEST(listener_taken_nonblocking, case_listener)
