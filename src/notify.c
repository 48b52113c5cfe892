/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Service manager notification through NOTIFY_SOCKET (sd_notify(3)).
 *
 * The datagram is sent here rather than through sd_notify(): sd_notify()
 * blocks when the receiver's queue is full, and a helper serving a whole
 * host must never stall its event loop on a slow service manager.  A
 * notification that does not fit is dropped; the next STATUS= replaces it.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "prh/notify.h"

/* Send one datagram to $NOTIFY_SOCKET, as sd_notify does, never blocking. */
static void
notify_raw(const char *text)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t sl;
	size_t plen;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	plen = strlen(path);
	if (plen >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	sl = offsetof(struct sockaddr_un, sun_path) + plen;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT,
	    (struct sockaddr *)&sun, sl);
	close(fd);
}

/* Format and send one notification; silently a no-op without a manager. */
void
notify_send(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (getenv("NOTIFY_SOCKET") == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	notify_raw(buf);
}

/* Watchdog interval the service manager asked for: 1 and *usec, 0 if none
 * (or meant for another process), a negative errno if malformed. */
int
notify_watchdog_usec(uint64_t *usec)
{
#ifdef HAVE_LIBSYSTEMD
	return sd_watchdog_enabled(0, usec);
#else
	const char *s = getenv("WATCHDOG_USEC"), *p = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	if (s == NULL)
		return 0;
	if (p != NULL && strtoul(p, NULL, 10) != (unsigned long)getpid())
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v == 0)
		return -EINVAL;
	*usec = v;
	return 1;
#endif
}
