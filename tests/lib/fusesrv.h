/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A minimal FUSE file system for the tests, served on /dev/fuse by a
 * thread of the test (the kernel's protocol, no libfuse): one directory
 * (the root) holding one 4 KiB regular file, "file".  It answers INIT,
 * LOOKUP, GETATTR, OPEN, READ, FLUSH, RELEASE, IOCTL (ENOTTY) and FORGET,
 * and ENOSYS to anything else; attributes and entries are valid for an
 * hour, so the kernel needs no GETATTR to stat the file.
 *
 * Every request is counted by opcode.  fusesrv_stall() makes the server
 * stop answering anything: it goes on reading (and counting) requests,
 * and every process that waits for an answer waits until
 * fusesrv_stop() aborts the connection (then every waiting request fails
 * with ENOTCONN).  That is what a hostile client's own FUSE daemon can do
 * to whoever touches one of its files.
 *
 * Needs root (mount(2) of type "fuse").  One server per test; the thread
 * is the only one that reads the device.
 */
#ifndef PRH_TESTS_FUSESRV_H
#define PRH_TESTS_FUSESRV_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define FUSESRV_OPS 64 /* opcodes counted (FUSE_IOCTL is 39) */

/* One server.  Zero it before use. */
struct fusesrv {
	char mnt[PATH_MAX];  /* mount point */
	char file[PATH_MAX]; /* mnt/file */
	int devfd;	     /* /dev/fuse, if have_dev */
	int stopfd;	     /* eventfd ending the thread, if have_stop */
	bool have_dev;
	bool have_stop;
	bool mounted;			       /* mnt is mounted */
	bool running;			       /* the thread runs */
	pthread_t thread;		       /* serves the device */
	atomic_bool stalled;		       /* answer nothing from now on */
	atomic_bool inited;		       /* INIT answered */
	atomic_uint seen[FUSESRV_OPS];	       /* requests, by opcode */
	atomic_uint stalled_seen[FUSESRV_OPS]; /* those after the stall */
};

/* Mount the file system on the existing directory mnt and serve it: 0,
 * or a negative errno (-ENOENT without /dev/fuse, -EPERM unprivileged);
 * fusesrv_stop() undoes what was done either way. */
int fusesrv_start(struct fusesrv *s, const char *mnt);

/* fusesrv_start() on dir/fuse (made here) in a mount namespace of this
 * process's own: 0 or a negative errno; *why says why when the machine
 * cannot (not root, no /dev/fuse, no FUSE, no private mount namespace as
 * in a chroot whose / is no mount point): a test then skips. */
int fusesrv_start_private(struct fusesrv *s, const char *dir, const char **why);

/* Answer nothing from now on. */
void fusesrv_stall(struct fusesrv *s);

/* Requests with opcode op seen so far (after_stall: only those that came
 * after fusesrv_stall()). */
unsigned fusesrv_seen(struct fusesrv *s, unsigned op, bool after_stall);

/* Abort the connection (waiting requests fail), end the thread, detach
 * the mount.  Idempotent; safe on a zeroed or half-started server. */
void fusesrv_stop(struct fusesrv *s);

#endif
