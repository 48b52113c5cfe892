/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lunsim.so: the fstat family reports a simulated LUN as a block device
 * (major 240, a minor of its own: fakesys_minor()), and sysfs answers for
 * it as for a whole SCSI disk (fakesys.c), so that QEMU's host_device
 * driver and the helper's device policy accept it; LUNSIM_FAKE_BLK=0
 * turns this off.  Stat by path is left alone: QEMU only uses it to
 * tell /dev/sg* character devices apart.  glibc 2.33+ exports fstat and
 * fstat64 as functions; __fxstat and __fxstat64 remain for binaries linked
 * against older glibc; statx and fstatat cover AT_EMPTY_PATH callers.
 * lseek(SEEK_END) answers the data area size, as on a block device.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lunsim.h"
#include "fakesys.h"
#include "preload.h"
#include "sgfake.h"

LUNSIM_EXPORT int fstat(int fd, struct stat *st);
LUNSIM_EXPORT int fstat64(int fd, struct stat64 *st);
LUNSIM_EXPORT int __fxstat(int ver, int fd, struct stat *st);
LUNSIM_EXPORT int __fxstat64(int ver, int fd, struct stat64 *st);
LUNSIM_EXPORT int
fstatat(int dfd, const char *path, struct stat *st, int flags);
LUNSIM_EXPORT int
fstatat64(int dfd, const char *path, struct stat64 *st, int flags);
LUNSIM_EXPORT off_t lseek(int fd, off_t off, int whence);
LUNSIM_EXPORT off64_t lseek64(int fd, off64_t off, int whence);
LUNSIM_EXPORT int statx(int dfd, const char *path, int flags, unsigned int mask,
    struct statx *stx);

/* Whether the stat of fd (the file's device dev and inode ino) should
 * be turned into a block device's. */
static int
fakeblk_applies(int fd, mode_t mode, long long size, dev_t dev, ino_t ino)
{
	return lunsim_fake_blk() && S_ISREG(mode) && size >= LUNSIM_HDR_SIZE &&
	    lunsim_is_lun_id(fd, dev, ino);
}

/* Tell fakesys the name of the LUN file behind fd (its device name),
 * and map the LUN, so that its sysfs "diskseq" answers from now on, as
 * a disk's does as soon as it exists. */
static void
fakeblk_note(int fd, unsigned minor)
{
	char path[PATH_MAX];
	struct lunsim_shm *m;
	int w, cw;

	if (fakesys_known(minor))
		return; /* once per file is enough */
	(void)lunsim_lun_get(fd, NULL, &m, &w, &cw);
	sgfake_fd_path(fd, path, sizeof(path));
	if (path[0] != '\0')
		fakesys_note(minor, path);
}

/* Rewrite a stat64 of fd if it is a LUN in fake-block mode. */
static void
fakeblk_stat64(int fd, struct stat64 *st)
{
	if (!fakeblk_applies(fd, st->st_mode, (long long)st->st_size,
		st->st_dev, st->st_ino))
		return;
	st->st_mode = (st->st_mode & ~(mode_t)S_IFMT) | S_IFBLK;
	st->st_rdev = makedev(FAKESYS_MAJOR,
	    fakesys_minor((uint64_t)st->st_dev, (uint64_t)st->st_ino));
	fakeblk_note(fd, minor(st->st_rdev));
}

/* Rewrite a stat of fd if it is a LUN in fake-block mode. */
static void
fakeblk_stat(int fd, struct stat *st)
{
	if (!fakeblk_applies(fd, st->st_mode, (long long)st->st_size,
		st->st_dev, st->st_ino))
		return;
	st->st_mode = (st->st_mode & ~(mode_t)S_IFMT) | S_IFBLK;
	st->st_rdev = makedev(FAKESYS_MAJOR,
	    fakesys_minor((uint64_t)st->st_dev, (uint64_t)st->st_ino));
	fakeblk_note(fd, minor(st->st_rdev));
}

/* Whether an *at() call names dfd itself. */
static int
fakeblk_is_fd_call(const char *path, int flags)
{
	return (flags & AT_EMPTY_PATH) && path != NULL && path[0] == '\0';
}

/* The interposed fstat. */
int
fstat(int fd, struct stat *st)
{
	static int (*real)(int, struct stat *);
	int rc;

	if (real == NULL &&
	    (real = (int (*)(int, struct stat *))lunsim_next("fstat")) == NULL)
		return errno = ENOSYS, -1;
	rc = real(fd, st);
	if (rc == 0)
		fakeblk_stat(fd, st);
	return rc;
}

/* The interposed fstat64. */
int
fstat64(int fd, struct stat64 *st)
{
	static int (*real)(int, struct stat64 *);
	int rc;

	if (real == NULL &&
	    (real = (int (*)(int, struct stat64 *))lunsim_next("fstat64")) ==
		NULL)
		return errno = ENOSYS, -1;
	rc = real(fd, st);
	if (rc == 0)
		fakeblk_stat64(fd, st);
	return rc;
}

/* The old glibc entry point of fstat (struct stat is the kernel's). */
int
__fxstat(int ver, int fd, struct stat *st)
{
	(void)ver;
	return fstat(fd, st);
}

/* The old glibc entry point of fstat64. */
int
__fxstat64(int ver, int fd, struct stat64 *st)
{
	(void)ver;
	return fstat64(fd, st);
}

/* The interposed fstatat. */
int
fstatat(int dfd, const char *path, struct stat *st, int flags)
{
	static int (*real)(int, const char *, struct stat *, int);
	int rc;

	if (real == NULL &&
	    (real = (int (*)(int, const char *, struct stat *, int))lunsim_next(
		 "fstatat")) == NULL)
		return errno = ENOSYS, -1;
	rc = real(dfd, path, st, flags);
	if (rc == 0 && fakeblk_is_fd_call(path, flags))
		fakeblk_stat(dfd, st);
	return rc;
}

/* The interposed fstatat64. */
int
fstatat64(int dfd, const char *path, struct stat64 *st, int flags)
{
	static int (*real)(int, const char *, struct stat64 *, int);
	int rc;

	if (real == NULL &&
	    (real = (int (*)(int, const char *, struct stat64 *,
		 int))lunsim_next("fstatat64")) == NULL)
		return errno = ENOSYS, -1;
	rc = real(dfd, path, st, flags);
	if (rc == 0 && fakeblk_is_fd_call(path, flags))
		fakeblk_stat64(dfd, st);
	return rc;
}

/* The interposed statx. */
int
statx(int dfd, const char *path, int flags, unsigned int mask,
    struct statx *stx)
{
	static int (
	    *real)(int, const char *, int, unsigned int, struct statx *);
	int rc;

	if (real == NULL &&
	    (real = (int (*)(int, const char *, int, unsigned int,
		 struct statx *))lunsim_next("statx")) == NULL)
		return errno = ENOSYS, -1;
	rc = real(dfd, path, flags, mask, stx);
	/* The size pre-check only when statx was asked for it: the LUN
	 * magic decides anyway. */
	if (rc == 0 && fakeblk_is_fd_call(path, flags) &&
	    fakeblk_applies(dfd, stx->stx_mode,
		(stx->stx_mask & STATX_SIZE) ? (long long)stx->stx_size
					     : LUNSIM_HDR_SIZE,
		makedev(stx->stx_dev_major, stx->stx_dev_minor),
		(ino_t)stx->stx_ino)) {
		fakesys_statx(stx);
		fakeblk_note(dfd, stx->stx_rdev_minor);
	}
	return rc;
}

/* lseek64 of the next library; SEEK_END on a LUN answers its data size. */
off64_t
lseek64(int fd, off64_t off, int whence)
{
	static off64_t (*real)(int, off64_t, int);

	if (real == NULL &&
	    (real = (off64_t(*)(int, off64_t, int))lunsim_next("lseek64")) ==
		NULL)
		return errno = ENOSYS, -1;
	if (whence == SEEK_END && lunsim_fake_blk() && lunsim_is_lun(fd))
		return real(fd, (off64_t)lunsim_size(fd) + off, SEEK_SET);
	return real(fd, off, whence);
}

/* The interposed lseek (the same function as lseek64 on LP64). */
off_t
lseek(int fd, off_t off, int whence)
{
	return (off_t)lseek64(fd, (off64_t)off, whence);
}
