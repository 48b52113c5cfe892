/* SPDX-License-Identifier: GPL-2.0-or-later */
/* -d: detach, with the parent waiting for the child's readiness. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prh/daemonize.h"
#include "prh/log.h"

#define DAEMONIZE_READY '\0' /* last byte on the pipe: child serves */

static int daemonize_fd = -1; /* child: write end of the pipe */

/* Parent: copy the child's messages to stderr, then exit with its fate. */
static void __attribute__((noreturn)) daemonize_wait(int rfd, pid_t child)
{
	char buf[512];
	bool ready = false;
	ssize_t n;
	int st;

	for (;;) {
		n = read(rfd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		ready = buf[n - 1] == DAEMONIZE_READY;
		(void)!write(STDERR_FILENO, buf, (size_t)(ready ? n - 1 : n));
	}
	if (ready)
		_exit(0);
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	_exit(WIFEXITED(st) && WEXITSTATUS(st) != 0 ? WEXITSTATUS(st) : 1);
}

/* Child: new session, cwd "/", stdio on /dev/null. */
static void
daemonize_detach(void)
{
	int fd;

	(void)setsid();
	if (chdir("/") < 0)
		log_warn("chdir /: %s", strerror(errno));
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

/* Fork; returns in the child only (or on failure). */
int
daemonize_start(void)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		log_err("cannot daemonize: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		int err = errno;

		log_err("cannot daemonize: %s", strerror(err));
		close(p[0]);
		close(p[1]);
		return -err;
	}
	if (pid > 0) {
		close(p[1]);
		daemonize_wait(p[0], pid);
	}
	close(p[0]);
	daemonize_fd = p[1];
	log_set_copy_fd(daemonize_fd);
	daemonize_detach();
	log_use_syslog();
	return 0;
}

/* Tell the parent the child serves, and stop copying messages to it. */
void
daemonize_ready(void)
{
	char c = DAEMONIZE_READY;

	if (daemonize_fd < 0)
		return;
	log_set_copy_fd(-1);
	(void)!write(daemonize_fd, &c, 1);
	close(daemonize_fd);
	daemonize_fd = -1;
}
