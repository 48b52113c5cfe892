/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Read what is left of a file descriptor into memory; see slurp.h. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "slurp.h"

/* Read fd to its end, or to max bytes, into a malloc'ed string. */
char *
slurp_fd(int fd, size_t max, size_t *lenp)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap + 1), *nb;
	ssize_t n;

	while (buf != NULL) {
		if (len == cap) {
			if (cap >= max)
				break;
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (nb == NULL)
				break;
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (buf != NULL)
		buf[len] = '\0';
	if (lenp != NULL)
		*lenp = buf != NULL ? len : 0;
	return buf;
}
