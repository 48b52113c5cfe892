/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The part every SG_IO fake shares: ioctl() and the open() family
 * interposed once, the libc functions behind them, and the sg_io_hdr
 * read and answered once.
 *
 * Four fakes link sgfake.c, and differ only in what they answer:
 *
 *	lunsim.so (preload.c)		the device model of a simulated LUN
 *					file, and its sysfs (fakesys.c)
 *	tests/shim/sgio_shim.c		the answer a test wrote in a control
 *					file, for helpers in other processes
 *					(ours and QEMU's); fakesys.c too
 *	tests/unit/test_sgio.c		raw sg_io_hdr fields a test scripts
 *					in its own process, for sgio.c
 *	tests/unit/test_mpath.c		device-mapper's DM_TABLE_STATUS, a
 *					TEST UNIT READY, and the files mpath.c
 *					opens, in its own process
 *
 * Loaded with LD_PRELOAD or linked into a test program, sgfake.c's
 * ioctl() asks sgfake_ioctl(), and its open(), open64(), openat(),
 * openat64(), __open_2() and __open64_2() ask sgfake_open(); a fake
 * defines the ones it needs (the others pass everything on).
 */
#ifndef SGFAKE_H
#define SGFAKE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SGFAKE_PASS	    (-0x10000) /* a hook's "not mine": libc answers */
#define SGFAKE_CDB_MAX	    16
#define SGFAKE_EXPORT	    __attribute__((visibility("default")))
#define SGFAKE_DRIVER_SENSE 0x08 /* driver_status: sense was returned */

struct sg_io_hdr;

/* The fake's ioctl: its result (>= 0), -errno, or SGFAKE_PASS. */
int sgfake_ioctl(int fd, unsigned long request, void *arg);

/* The fake's open() of path (relative to dfd): an fd, -errno, or
 * SGFAKE_PASS. */
int sgfake_open(int dfd, const char *path, int flags, mode_t mode);

/* The next definition of a libc function, looked up once into *cache
 * (these run on every ioctl() and open() of the process). */
void *sgfake_next(void **cache, const char *name);

/* A libc-style result of r: -1 with errno -r when r < 0, else r. */
int sgfake_ret(int r);

/* libc's openat(): an fd, or -errno. */
int sgfake_open_next(int dfd, const char *path, int flags, mode_t mode);

/* The path fd was opened as (/proc/self/fd/N) into buf, "" if none. */
void sgfake_fd_path(int fd, char *buf, size_t len);

/* The CDB of h into cdb, zero-padded to SGFAKE_CDB_MAX bytes. */
void sgfake_cdb(const struct sg_io_hdr *h, uint8_t cdb[SGFAKE_CDB_MAX]);

/* Copy len bytes between flat and the caller's data (a buffer, or an
 * iovec when iovec_count is set): to_user 1 copies flat into it.  0, or
 * -EINVAL if its iovecs hold fewer than len bytes. */
int sgfake_xfer(struct sg_io_hdr *h, uint8_t *flat, size_t len, int to_user);

/* What a device answers to one SG_IO. */
struct sgfake_answer {
	unsigned status, host, driver;
	const uint8_t *sense;
	size_t sense_len;
	int driver_sense; /* add SGFAKE_DRIVER_SENSE when sense goes back */
	int resid;
	unsigned duration_ms;
};

/* Write a's answer into h's status fields and sense buffer (at most
 * mx_sb_len bytes); the data is the caller's (sgfake_xfer). */
void sgfake_reply(struct sg_io_hdr *h, const struct sgfake_answer *a);

#endif
