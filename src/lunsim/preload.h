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

/* Whether fd, on the file with device dev and inode ino (from a stat the
 * caller made), is a simulated LUN: 1, else 0.  No system call for a LUN
 * this process has mapped. */
int lunsim_is_lun_id(int fd, dev_t dev, ino_t ino);

struct stat;

/* The disk sequence number of the LUN behind fd (st its fstat, or NULL)
 * for BLKGETDISKSEQ, or 0. */
uint64_t lunsim_diskseq(int fd, const struct stat *st);

/* The disk sequence number of the LUN this process mapped whose fake
 * minor is minor (its sysfs "diskseq"), or 0 (lunfd.c). */
uint64_t lunsim_diskseq_of_minor(unsigned minor);

/* Whether fstat on a LUN reports a block device (not LUNSIM_FAKE_BLK=0). */
int lunsim_fake_blk(void);

/* The process's initiator name (LUNSIM_INITIATOR or the host name). */
const char *lunsim_initiator(void);

/* LUNSIM_PORTS ("PATH=NAME" lines), or NULL when unset. */
const char *lunsim_ports(void);

/* How one command reaches the LUN behind the caller's fd (lunfd.c). */
struct lunsim_path {
	int data; /* READ and WRITE go through this one; -1 if none */
	int own;  /* data is a reopen of ours, closed after the command */
	char initiator[LUNSIM_NAME_MAX]; /* the I_T nexus of the command */
};

/* Read len (<= 4096) bytes at offset 0, O_DIRECT fds too: the
 * count, or -1 and errno. */
ssize_t lunsim_pread0(int fd, void *buf, size_t len);

/* Whether the file st describes is a LUN this process has mapped. */
int lunsim_lun_known(const struct stat *st);

/* The mapping of the LUN behind fd (st its fstat, or NULL to take it),
 * mapped on first use: 0, *m, *writable (whether *m is: its mutex can be
 * taken) and *can_write (whether a command on fd may change the state; *m
 * is then writable), or -EINVAL (no LUN), -EPROTO (another format
 * version), or -errno. */
int lunsim_lun_get(int fd, const struct stat *st, struct lunsim_shm **m,
    int *writable, int *can_write);

/* Set up p for a command on the caller's fd (with data: READ or WRITE):
 * 0 or -errno.  Release it with lunsim_path_close(). */
int lunsim_path_open(int fd, int data, struct lunsim_path *p);

/* Release what lunsim_path_open() took. */
void lunsim_path_close(struct lunsim_path *p);

#endif
