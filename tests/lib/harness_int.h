/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Internals shared by the harness's source files (not for tests). */
#ifndef PRH_TESTS_HARNESS_INT_H
#define PRH_TESTS_HARNESS_INT_H

#include "harness.h"

#define TH_POLL_STEP_MS 10 /* step for conditions without an event */

/* Milliseconds left until deadline, never negative. */
static inline int
th_left(long long deadline)
{
	long long left = deadline - th_now_ms();

	return left > 0 ? (int)left : 0;
}

/* Join dir and name into out (PATH_MAX bytes): 0 or -ENAMETOOLONG. */
int th_path(char *out, const char *dir, const char *name);

#endif
