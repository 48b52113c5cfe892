/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Read what is left of a file descriptor into memory.  Compiled into the
 * test library and into the SG_IO shim (a preload library, which links
 * nothing of the test library), so it depends on libc only. */
#ifndef PRH_TESTS_SLURP_H
#define PRH_TESTS_SLURP_H

#include <stddef.h>

/* Read fd to its end, or to max bytes, into a NUL-terminated malloc'ed
 * buffer (what was read before an allocation failed, or NULL when none
 * could be made); its length goes to *lenp unless NULL. */
char *slurp_fd(int fd, size_t max, size_t *lenp);

#endif
