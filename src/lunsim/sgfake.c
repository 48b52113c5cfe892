/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The part every SG_IO fake shares; see sgfake.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <scsi/sg.h>

#include "sgfake.h"

SGFAKE_EXPORT int ioctl(int fd, unsigned long request, ...);
SGFAKE_EXPORT int open(const char *path, int flags, ...);
SGFAKE_EXPORT int open64(const char *path, int flags, ...);
SGFAKE_EXPORT int openat(int dfd, const char *path, int flags, ...);
SGFAKE_EXPORT int openat64(int dfd, const char *path, int flags, ...);
SGFAKE_EXPORT int __open_2(const char *path, int flags);
SGFAKE_EXPORT int __open64_2(const char *path, int flags);

/* A fake without an ioctl of its own passes every request on. */
__attribute__((weak)) int
sgfake_ioctl(int fd, unsigned long request, void *arg)
{
	(void)fd, (void)request, (void)arg;
	return SGFAKE_PASS;
}

/* A fake without an open of its own passes every path on. */
__attribute__((weak)) int
sgfake_open(int dfd, const char *path, int flags, mode_t mode)
{
	(void)dfd, (void)path, (void)flags, (void)mode;
	return SGFAKE_PASS;
}

/* The next definition of name, looked up once into *cache. */
void *
sgfake_next(void **cache, const char *name)
{
	void *p = __atomic_load_n(cache, __ATOMIC_ACQUIRE);

	if (p == NULL) {
		p = dlsym(RTLD_NEXT, name);
		__atomic_store_n(cache, p, __ATOMIC_RELEASE);
	}
	return p;
}

/* Set errno from a negative result and return -1, or pass r. */
int
sgfake_ret(int r)
{
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return r;
}

/* The interposed ioctl(): the fake's requests answered, the rest to
 * libc. */
int
ioctl(int fd, unsigned long request, ...)
{
	static void *next;
	int (*real)(int, unsigned long, ...);
	va_list ap;
	void *arg;
	int rc;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	rc = sgfake_ioctl(fd, request, arg);
	if (rc != SGFAKE_PASS)
		return sgfake_ret(rc);
	*(void **)&real = sgfake_next(&next, "ioctl");
	return real != NULL ? real(fd, request, arg) : sgfake_ret(-ENOSYS);
}

/* libc's openat(): an fd, or -errno. */
int
sgfake_open_next(int dfd, const char *path, int flags, mode_t mode)
{
	static void *next;
	int (*real)(int, const char *, int, ...);
	int fd;

	*(void **)&real = sgfake_next(&next, "openat");
	if (real == NULL)
		return -ENOSYS;
	fd = real(dfd, path, flags, mode);
	return fd < 0 ? -errno : fd;
}

/* open() and friends: the fake's paths answered, the rest to libc. */
static int
sgfake_open_any(int dfd, const char *path, int flags, mode_t mode)
{
	int rc = sgfake_open(dfd, path, flags, mode);

	if (rc == SGFAKE_PASS)
		rc = sgfake_open_next(dfd, path, flags, mode);
	return sgfake_ret(rc);
}

/* The mode argument of an open() that takes one. */
#define SGFAKE_MODE(flags, last)                 \
	mode_t mode = 0;                         \
	if ((flags) & (O_CREAT | __O_TMPFILE)) { \
		va_list ap;                      \
		va_start(ap, last);              \
		mode = (mode_t)va_arg(ap, int);  \
		va_end(ap);                      \
	}

/* The interposed open(). */
int
open(const char *path, int flags, ...)
{
	SGFAKE_MODE(flags, flags)
	return sgfake_open_any(AT_FDCWD, path, flags, mode);
}

/* The interposed open64(). */
int
open64(const char *path, int flags, ...)
{
	SGFAKE_MODE(flags, flags)
	return sgfake_open_any(AT_FDCWD, path, flags | O_LARGEFILE, mode);
}

/* The interposed openat(). */
int
openat(int dfd, const char *path, int flags, ...)
{
	SGFAKE_MODE(flags, flags)
	return sgfake_open_any(dfd, path, flags, mode);
}

/* The interposed openat64(). */
int
openat64(int dfd, const char *path, int flags, ...)
{
	SGFAKE_MODE(flags, flags)
	return sgfake_open_any(dfd, path, flags | O_LARGEFILE, mode);
}

/* The interposed fortified open(). */
int
__open_2(const char *path, int flags)
{
	return sgfake_open_any(AT_FDCWD, path, flags, 0);
}

/* The interposed fortified open64(). */
int
__open64_2(const char *path, int flags)
{
	return sgfake_open_any(AT_FDCWD, path, flags | O_LARGEFILE, 0);
}

/* Whether path names the file of dev and ino (a raw statx: no wrapper
 * of ours or of fakesys answers it). */
static bool
sgfake_same_file(const char *path, const struct statx *f)
{
	struct statx p;

	return syscall(SYS_statx, AT_FDCWD, path, 0, STATX_INO, &p) == 0 &&
	    p.stx_dev_major == f->stx_dev_major &&
	    p.stx_dev_minor == f->stx_dev_minor && p.stx_ino == f->stx_ino;
}

/* The path fd was opened as, "" if none.  The kernel gives an fd whose
 * mount this process's root cannot reach (opened in another mount
 * namespace inside a chroot) a path from its file system's root, which
 * starts with the chroot's directory: then the longest tail of it that
 * names the same file from here. */
void
sgfake_fd_path(int fd, char *buf, size_t len)
{
	char link[64];
	struct statx f;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
	if (buf[0] != '/' ||
	    syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_INO, &f) != 0 ||
	    sgfake_same_file(buf, &f))
		return;
	for (char *p = strchr(buf + 1, '/'); p != NULL; p = strchr(p + 1, '/'))
		if (sgfake_same_file(p, &f)) {
			memmove(buf, p, strlen(p) + 1);
			return;
		}
}

/* The CDB of h, zero-padded. */
void
sgfake_cdb(const struct sg_io_hdr *h, uint8_t cdb[SGFAKE_CDB_MAX])
{
	memset(cdb, 0, SGFAKE_CDB_MAX);
	if (h->cmdp != NULL)
		memcpy(cdb, h->cmdp,
		    h->cmd_len < SGFAKE_CDB_MAX ? h->cmd_len : SGFAKE_CDB_MAX);
}

/* Copy between flat and the caller's data (buffer or iovec). */
int
sgfake_xfer(struct sg_io_hdr *h, uint8_t *flat, size_t len, int to_user)
{
	const sg_iovec_t *iov = h->dxferp;
	size_t off = 0, n;

	if (h->iovec_count == 0) {
		if (len > 0 && to_user)
			memcpy(h->dxferp, flat, len);
		else if (len > 0)
			memcpy(flat, h->dxferp, len);
		return 0;
	}
	for (unsigned i = 0; i < h->iovec_count && off < len; i++) {
		n = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;
		if (to_user)
			memcpy(iov[i].iov_base, flat + off, n);
		else
			memcpy(flat + off, iov[i].iov_base, n);
		off += n;
	}
	return off == len ? 0 : -EINVAL;
}

/* Write an answer into h's status fields and sense buffer. */
void
sgfake_reply(struct sg_io_hdr *h, const struct sgfake_answer *a)
{
	size_t sl = a->sense_len < h->mx_sb_len ? a->sense_len : h->mx_sb_len;
	unsigned driver = a->driver;

	if (sl > 0 && h->sbp != NULL && a->sense != NULL) {
		memcpy(h->sbp, a->sense, sl);
		if (a->driver_sense)
			driver |= SGFAKE_DRIVER_SENSE;
	} else {
		sl = 0;
	}
	h->status = (unsigned char)a->status;
	h->masked_status = (unsigned char)((a->status >> 1) & 0x7f);
	h->msg_status = 0;
	h->sb_len_wr = (unsigned char)sl;
	h->host_status = (unsigned short)a->host;
	h->driver_status = (unsigned short)driver;
	h->resid = a->resid;
	h->duration = a->duration_ms;
	h->info = (h->masked_status || a->host || driver) ? SG_INFO_CHECK
							  : SG_INFO_OK;
}
