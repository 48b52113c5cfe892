/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lunsim.so internals shared by its files (preload.c, fakeblk.c, lunfd.c).
 * The library is built with hidden visibility; only the interposed libc
 * functions are exported.
 */
#ifndef LUNSIM_PRELOAD_H
#define LUNSIM_PRELOAD_H

#include <stdint.h>
#include <sys/types.h>

#include "lunsim.h"

#define LUNSIM_EXPORT __attribute__((visibility("default")))

/* The next definition of symbol name (the real libc function). */
void *lunsim_next(const char *name);

/* Whether fd is a simulated LUN: 1, else 0. */
int lunsim_is_lun(int fd);

/* Data area size of the LUN behind fd, or 0. */
uint64_t lunsim_size(int fd);

/* Whether fstat on a LUN reports a block device (not LUNSIM_FAKE_BLK=0). */
int lunsim_fake_blk(void);

/* The process's initiator name (LUNSIM_INITIATOR or the host name). */
const char *lunsim_initiator(void);

/* LUNSIM_PORTS ("PATH=NAME" lines), or NULL when unset. */
const char *lunsim_ports(void);

/* How one command reaches the LUN behind the caller's fd (lunfd.c). */
struct lunsim_path {
	int lock;   /* flock()ed for the command; the header is read here */
	int write;  /* header and data go through this one */
	int shared; /* lock is the caller's own description (mutex held) */
	char initiator[LUNSIM_NAME_MAX]; /* the I_T nexus of the command */
};

/* Read len (<= LUNSIM_HDR_SIZE) bytes at offset 0, O_DIRECT fds too: the
 * count, or -1 and errno. */
ssize_t lunsim_pread0(int fd, void *buf, size_t len);

/* Read the header of the LUN behind fd (O_DIRECT too): 0, -EINVAL if
 * none, -errno. */
int lunsim_hdr_load(int fd, struct lunsim_hdr *h);

/* Write the header through fd (O_DIRECT too): 0 or -errno. */
int lunsim_hdr_store(int fd, const struct lunsim_hdr *h);

/* Set up p for a command on the caller's fd: 0 or -errno.  Release it
 * with lunsim_path_close(). */
int lunsim_path_open(int fd, struct lunsim_path *p);

/* Release what lunsim_path_open() took. */
void lunsim_path_close(struct lunsim_path *p);

#endif
