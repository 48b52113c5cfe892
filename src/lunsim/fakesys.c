/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A make-believe sysfs for the preload libraries; see fakesys.h.  The
 * open() family is interposed by sgfake.c, which asks sgfake_open()
 * below. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fakesys.h"
#include "sgfake.h"

#define FAKESYS_EXPORT __attribute__((visibility("default")))
#define FAKESYS_PREFIX "/sys/dev/block/240:"
#define FAKESYS_SLOTS  256 /* files remembered (names only) */
#define FAKESYS_NAME   48

FAKESYS_EXPORT int access(const char *path, int mode);
FAKESYS_EXPORT int faccessat(int dfd, const char *path, int mode, int flags);
FAKESYS_EXPORT ssize_t readlink(const char *path, char *buf, size_t len);
FAKESYS_EXPORT ssize_t readlinkat(int dfd, const char *path, char *buf,
    size_t len);

/* Names of the files seen, by minor (the last one noted wins a slot). */
static struct {
	pthread_mutex_t lock;
	struct {
		unsigned minor;
		char name[FAKESYS_NAME];
	} slot[FAKESYS_SLOTS];
} fakesys = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The minor of a file: a 20-bit hash of its device and inode. */
unsigned
fakesys_minor(uint64_t dev, uint64_t ino)
{
	uint64_t h = (dev * 0x9e3779b97f4a7c15ull) ^
	    (ino + 0x632be59bd9b4e019ull);

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	return (unsigned)(h & 0xfffff) | 1; /* never 0: one LUN, one minor */
}

/* Where sysfs "diskseq" comes from (fakesys_set_diskseq()). */
static uint64_t (*_Atomic fakesys_diskseq)(unsigned minor);

/* Answer "diskseq" with fn.  See fakesys.h. */
void
fakesys_set_diskseq(uint64_t (*fn)(unsigned minor))
{
	fakesys_diskseq = fn;
}

/* Remember the file name behind minor. */
void
fakesys_note(unsigned minor, const char *path)
{
	const char *base = strrchr(path, '/');
	unsigned i = minor % FAKESYS_SLOTS;

	base = base != NULL ? base + 1 : path;
	pthread_mutex_lock(&fakesys.lock);
	fakesys.slot[i].minor = minor;
	snprintf(fakesys.slot[i].name, sizeof(fakesys.slot[i].name), "%s",
	    base[0] != '\0' ? base : "lun");
	pthread_mutex_unlock(&fakesys.lock);
}

/* Whether a name was noted for minor. */
int
fakesys_known(unsigned minor)
{
	unsigned i = minor % FAKESYS_SLOTS;
	int known;

	pthread_mutex_lock(&fakesys.lock);
	known = fakesys.slot[i].minor == minor;
	pthread_mutex_unlock(&fakesys.lock);
	return known;
}

/* Make a statx result that of a block device with the file's minor. */
void
fakesys_statx(struct statx *stx)
{
	unsigned minor =
	    fakesys_minor(makedev(stx->stx_dev_major, stx->stx_dev_minor),
		stx->stx_ino);

	stx->stx_mode = (uint16_t)((stx->stx_mode & ~S_IFMT) | S_IFBLK);
	stx->stx_rdev_major = FAKESYS_MAJOR;
	stx->stx_rdev_minor = minor;
}

/* The name noted for minor, or "fakeN". */
static void
fakesys_name(unsigned minor, char *buf, size_t len)
{
	unsigned i = minor % FAKESYS_SLOTS;

	pthread_mutex_lock(&fakesys.lock);
	if (fakesys.slot[i].minor == minor)
		snprintf(buf, len, "%s", fakesys.slot[i].name);
	else
		snprintf(buf, len, "fake%u", minor);
	pthread_mutex_unlock(&fakesys.lock);
}

/* If path is under one of our devices' sysfs directories: its minor and
 * what follows ("" or "/..."), and true. */
static int
fakesys_match(const char *path, unsigned *minor, const char **rest)
{
	const char *p;
	char *end;
	unsigned long v;

	if (path == NULL ||
	    strncmp(path, FAKESYS_PREFIX, sizeof(FAKESYS_PREFIX) - 1) != 0)
		return 0;
	p = path + sizeof(FAKESYS_PREFIX) - 1;
	if (*p < '0' || *p > '9')
		return 0;
	v = strtoul(p, &end, 10);
	if (v > 0xfffff || (*end != '\0' && *end != '/'))
		return 0;
	*minor = (unsigned)v;
	*rest = end;
	return 1;
}

/* The libc functions passed through, looked up once each. */
enum fakesys_fn {
	FN_ACCESS,
	FN_FACCESSAT,
	FN_READLINK,
	FN_READLINKAT,
	FN_COUNT
};

static const char *const fakesys_fn_names[FN_COUNT] = { "access", "faccessat",
	"readlink", "readlinkat" };

/* The next definition of a libc function. */
static void *
fakesys_next(enum fakesys_fn fn)
{
	static void *cache[FN_COUNT];

	return sgfake_next(&cache[fn], fakesys_fn_names[fn]);
}

/* The sequence number of minor's disk, or 0 (no "diskseq"). */
static uint64_t
fakesys_seq(unsigned minor)
{
	uint64_t (*fn)(unsigned) = fakesys_diskseq;

	return fn != NULL ? fn(minor) : 0;
}

/* Whether a faked path of minor exists: 0 or -ENOENT. */
static int
fakesys_exists(unsigned minor, const char *rest)
{
	static const char *const present[] = { "", "/device",
		"/device/scsi_disk", "/device/wwid", "/uevent", "/dev",
		"/subsystem", NULL };

	if (strcmp(rest, "/diskseq") == 0)
		return fakesys_seq(minor) != 0 ? 0 : -ENOENT;
	for (int i = 0; present[i] != NULL; i++)
		if (strcmp(rest, present[i]) == 0)
			return 0;
	return -ENOENT;
}

/* An fd open for reading on an unnamed file holding text, or -errno. */
static int
fakesys_text_fd(const char *text, int flags)
{
	static const char *const dirs[] = { "/dev/shm", "/tmp", NULL };
	size_t len = strlen(text);
	int fd = -ENOENT;

	for (int i = 0; dirs[i] != NULL && fd < 0; i++)
		fd = sgfake_open_next(AT_FDCWD, dirs[i],
		    O_TMPFILE | O_RDWR | (flags & O_CLOEXEC), 0600);
	if (fd < 0)
		return fd;
	if (write(fd, text, len) != (ssize_t)len ||
	    lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return -EIO;
	}
	return fd;
}

/* open() of a faked path: fd or -errno. */
static int
fakesys_open(unsigned minor, const char *rest, int flags)
{
	char text[256], name[FAKESYS_NAME];

	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	fakesys_name(minor, name, sizeof(name));
	if (strcmp(rest, "/uevent") == 0)
		snprintf(text, sizeof(text),
		    "MAJOR=%u\nMINOR=%u\nDEVNAME=%s\nDEVTYPE=disk\n",
		    FAKESYS_MAJOR, minor, name);
	else if (strcmp(rest, "/device/wwid") == 0)
		snprintf(text, sizeof(text), "fakesys.%05x\n", minor);
	else if (strcmp(rest, "/dev") == 0)
		snprintf(text, sizeof(text), "%u:%u\n", FAKESYS_MAJOR, minor);
	else if (strcmp(rest, "/diskseq") == 0) {
		uint64_t seq = fakesys_seq(minor);

		if (seq == 0)
			return -ENOENT;
		snprintf(text, sizeof(text), "%llu\n", (unsigned long long)seq);
	} else
		return fakesys_exists(minor, rest) == 0 ? -EISDIR : -ENOENT;
	return fakesys_text_fd(text, flags);
}

/* readlink() of a faked path: length or -errno. */
static ssize_t
fakesys_readlink(unsigned minor, const char *rest, char *buf, size_t len)
{
	char target[128], name[FAKESYS_NAME];
	size_t n;

	if (strcmp(rest, "/device") == 0) {
		snprintf(target, sizeof(target),
		    "../../../fakesys/host%u/target%u:0:0/%u:0:0:%u",
		    FAKESYS_MAJOR, FAKESYS_MAJOR, FAKESYS_MAJOR, minor);
	} else if (strcmp(rest, "/subsystem") == 0) {
		snprintf(target, sizeof(target), "../../../../class/block");
	} else if (rest[0] == '\0') {
		fakesys_name(minor, name, sizeof(name));
		snprintf(target, sizeof(target),
		    "../../devices/fakesys/%u:0:0:%u/block/%s", FAKESYS_MAJOR,
		    minor, name);
	} else {
		return fakesys_exists(minor, rest) == 0 ? -EINVAL : -ENOENT;
	}
	n = strlen(target) < len ? strlen(target) : len;
	memcpy(buf, target, n);
	return (ssize_t)n;
}

/* The interposed access(). */
int
access(const char *path, int mode)
{
	int (*real)(const char *, int) = fakesys_next(FN_ACCESS);
	unsigned minor;
	const char *rest;

	if (fakesys_match(path, &minor, &rest))
		return sgfake_ret(fakesys_exists(minor, rest));
	return real != NULL ? real(path, mode) : sgfake_ret(-ENOSYS);
}

/* The interposed faccessat(). */
int
faccessat(int dfd, const char *path, int mode, int flags)
{
	int (*real)(int, const char *, int, int) = fakesys_next(FN_FACCESSAT);
	unsigned minor;
	const char *rest;

	if (fakesys_match(path, &minor, &rest))
		return sgfake_ret(fakesys_exists(minor, rest));
	return real != NULL ? real(dfd, path, mode, flags)
			    : sgfake_ret(-ENOSYS);
}

/* The fake's open(): a faked path answered, the rest passed on. */
int
sgfake_open(int dfd, const char *path, int flags, mode_t mode)
{
	unsigned minor;
	const char *rest;

	(void)dfd, (void)mode;
	if (fakesys_match(path, &minor, &rest))
		return fakesys_open(minor, rest, flags);
	return SGFAKE_PASS;
}

/* The interposed readlink(). */
ssize_t
readlink(const char *path, char *buf, size_t len)
{
	ssize_t (*real)(const char *, char *, size_t) = fakesys_next(
	    FN_READLINK);
	unsigned minor;
	const char *rest;

	if (fakesys_match(path, &minor, &rest))
		return sgfake_ret((int)fakesys_readlink(minor, rest, buf, len));
	return real != NULL ? real(path, buf, len) : sgfake_ret(-ENOSYS);
}

/* The interposed readlinkat(). */
ssize_t
readlinkat(int dfd, const char *path, char *buf, size_t len)
{
	ssize_t (*real)(int, const char *, char *, size_t) = fakesys_next(
	    FN_READLINKAT);
	unsigned minor;
	const char *rest;

	if (fakesys_match(path, &minor, &rest))
		return sgfake_ret((int)fakesys_readlink(minor, rest, buf, len));
	return real != NULL ? real(dfd, path, buf, len) : sgfake_ret(-ENOSYS);
}
