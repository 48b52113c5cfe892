/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The journal's native protocol (see journal.h). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "prh/journal.h"

/* Start an empty entry. */
void
journal_entry_init(struct journal_entry *e)
{
	e->len = 0;
	e->overflow = false;
}

/* Append n bytes to the entry (the caller checked the room). */
static void
journal_put(struct journal_entry *e, const void *p, size_t n)
{
	memcpy(e->buf + e->len, p, n);
	e->len += n;
}

/* Add one field: plain, or in the binary form when value has a newline. */
int
journal_add(struct journal_entry *e, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	bool binary = memchr(value, '\n', vl) != NULL;
	size_t need = nl + 1 + (binary ? 8 : 0) + vl + 1;
	uint8_t le[8];

	if (e->overflow || need > sizeof(e->buf) - e->len) {
		e->overflow = true;
		return -ENOSPC;
	}
	journal_put(e, name, nl);
	if (binary) {
		for (int i = 0; i < 8; i++)
			le[i] = (uint8_t)((uint64_t)vl >> (8 * i));
		journal_put(e, "\n", 1);
		journal_put(e, le, sizeof(le));
	} else {
		journal_put(e, "=", 1);
	}
	journal_put(e, value, vl);
	journal_put(e, "\n", 1);
	return 0;
}

/* Add a printf-formatted field. */
int
journal_addf(struct journal_entry *e, const char *name, const char *fmt, ...)
{
	char value[JOURNAL_ENTRY_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(value)) {
		e->overflow = true;
		return -ENOSPC;
	}
	return journal_add(e, name, value);
}

/* A non-blocking datagram socket for the journal. */
int
journal_open(void)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	return fd < 0 ? -errno : fd;
}

/* Send the entry to the journal's socket without blocking. */
int
journal_send(int fd, const struct journal_entry *e)
{
	static const struct sockaddr_un sun = { .sun_family = AF_UNIX,
		.sun_path = JOURNAL_SOCKET };

	if (e->overflow)
		return -EMSGSIZE;
	if (sendto(fd, e->buf, e->len, MSG_DONTWAIT | MSG_NOSIGNAL,
		(const struct sockaddr *)&sun,
		offsetof(struct sockaddr_un, sun_path) +
		    sizeof(JOURNAL_SOCKET)) < 0)
		return -errno;
	return 0;
}
