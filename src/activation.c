/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Socket activation: take the listening socket the service manager passed. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "prh/activation.h"
#include "prh/log.h"

/* Parse a decimal environment value: 0 and *out, or -EINVAL. */
static int
activation_env_ulong(const char *name, unsigned long *out)
{
	const char *s = getenv(name);
	char *end;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return *end != '\0' || errno != 0 ? -EINVAL : 0;
}

/* Count fds passed by the environment protocol; see activation.h. */
int
activation_count_env(void)
{
	unsigned long pid, n;
	int r = 0;

	if (activation_env_ulong("LISTEN_PID", &pid) < 0 ||
	    pid != (unsigned long)getpid())
		goto out;
	if (activation_env_ulong("LISTEN_FDS", &n) < 0)
		goto out;
	if (n > 64) {
		r = -E2BIG;
		goto out;
	}
	for (unsigned long i = 0; i < n; i++) {
		int fd = ACTIVATION_FD_START + (int)i;
		int fl = fcntl(fd, F_GETFD);

		if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) {
			r = -errno;
			goto out;
		}
	}
	r = (int)n;
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return r;
}

/* Whether fd is a listening AF_UNIX stream socket. */
static bool
activation_is_unix_listener(int fd)
{
#ifdef HAVE_LIBSYSTEMD
	return sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0;
#else
	int type = 0, domain = 0, acc = 0;
	socklen_t l = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 ||
	    type != SOCK_STREAM)
		return false;
	l = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0 ||
	    domain != AF_UNIX)
		return false;
	l = sizeof(int);
	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) == 0 &&
	    acc != 0;
#endif
}

/* Take the activated socket if there is one; see activation.h. */
int
activation_listen_fd(int *fd)
{
	int n, fl;

#ifdef HAVE_LIBSYSTEMD
	n = sd_listen_fds(1);
#else
	n = activation_count_env();
#endif
	if (n < 0) {
		log_err("Socket activation failed: %s", strerror(-n));
		return n;
	}
	if (n == 0)
		return 0;
	if (n > 1) {
		log_err("qemu-pr-helper does not support socket activation "
			"with LISTEN_FDS > 1");
		return -E2BIG;
	}
	if (!activation_is_unix_listener(ACTIVATION_FD_START)) {
		log_err("Socket activation failed: fd %d is not a listening "
			"Unix stream socket",
		    ACTIVATION_FD_START);
		return -ENOTSOCK;
	}
	fl = fcntl(ACTIVATION_FD_START, F_GETFL);
	if (fl < 0 ||
	    fcntl(ACTIVATION_FD_START, F_SETFL, fl | O_NONBLOCK) < 0) {
		n = -errno;
		log_err("Socket activation failed: %s", strerror(-n));
		return n;
	}
	*fd = ACTIVATION_FD_START;
	return 1;
}
