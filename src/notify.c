/* Service manager notification through NOTIFY_SOCKET (sd_notify(3)). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#else
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#endif

#include "prh/notify.h"

#ifndef HAVE_LIBSYSTEMD
/* Send one datagram to $NOTIFY_SOCKET, as sd_notify does. */
static void notify_raw(const char *text)
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
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, text, strlen(text), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, sl);
	close(fd);
}
#endif

/* Format and send one notification; silently a no-op without a manager. */
void notify_send(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (getenv("NOTIFY_SOCKET") == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
#ifdef HAVE_LIBSYSTEMD
	(void)sd_notify(0, buf);
#else
	notify_raw(buf);
#endif
}
