/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Starting the helper's threads (see thread.h). */
#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>

#include "prh/thread.h"

/* Start a detached thread with a small stack and signals blocked. */
int
thread_start(void *(*fn)(void *), void *arg, size_t stack)
{
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;
	int r;

	if ((r = pthread_attr_init(&attr)) != 0)
		return -r;
	if (stack < (size_t)PTHREAD_STACK_MIN)
		stack = PTHREAD_STACK_MIN;
	/* A refusal only leaves the default size. */
	(void)pthread_attr_setstacksize(&attr, stack);
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	sigdelset(&all, SIGSYS);
	r = pthread_sigmask(SIG_SETMASK, &all, &old);
	if (r == 0) {
		r = pthread_create(&tid, &attr, fn, arg);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	pthread_attr_destroy(&attr);
	return -r;
}
