/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Starting the helper's threads (the pool's workers, the closer's
 * threads): detached, with a small stack, and with every signal blocked
 * but SIGSYS, which a seccomp trap must be able to deliver to its
 * handler on the thread that made the call.  See doc/threads.md.
 */
#ifndef PRH_THREAD_H
#define PRH_THREAD_H

#include <stddef.h>

/* Start fn(arg) on a new detached thread with a stack of stack bytes (at
 * least PTHREAD_STACK_MIN) and every signal but SIGSYS blocked; the
 * caller's signal mask is put back.  0 or a negative errno. */
int thread_start(void *(*fn)(void *), void *arg, size_t stack);

#endif
