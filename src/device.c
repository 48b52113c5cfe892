/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Devices: the fd's inode type, the SG_IO policy from sysfs, and the
 * registry of devices (see device.h; the rules are in doc/security.md). */
#include "config.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "prh/device.h"
#include "prh/hash.h"

/* Nested device-mapper maps followed at the most (dm over dm over ...). */
#define DEVICE_DM_DEPTH 4
/* Devices the registry keeps when no command holds them. */
#define DEVREG_KEEP	1024
/* Age after which an unused entry is read from sysfs again. */
#define DEVREG_TTL_NS	(60ull * 1000000000ull)
/* Hash buckets of the registry (a power of two). */
#define DEVREG_BUCKETS	256
#ifndef BLKGETDISKSEQ /* Linux 5.15; older headers */
#define BLKGETDISKSEQ _IOR(0x12, 128, __u64)
#endif

static const char *device_sysfs = "/sys";

/* Use another sysfs root (unit tests); NULL restores "/sys". */
void
device_set_sysfs_root(const char *root)
{
	device_sysfs = root != NULL ? root : "/sys";
}

/* Read what fd refers to from the inode's cached attributes. */
int
device_node_of_fd(int fd, struct device_node *n)
{
	struct statx stx;

	memset(n, 0, sizeof(*n));
	/* DONT_SYNC: a network or FUSE file system answers from its cache
	 * instead of asking its server, so this never waits on a client's
	 * FUSE daemon.  The file type of an inode never changes. */
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC,
		STATX_TYPE | STATX_INO, &stx) < 0)
		return -errno;
	n->mode_fmt = stx.stx_mode & S_IFMT;
	if (S_ISBLK(stx.stx_mode) || S_ISCHR(stx.stx_mode)) {
		n->type = S_ISBLK(stx.stx_mode) ? DEVICE_BLOCK : DEVICE_CHAR;
		n->major = stx.stx_rdev_major;
		n->minor = stx.stx_rdev_minor;
	} else {
		n->type = DEVICE_OTHER;
		n->major = stx.stx_dev_major;
		n->minor = stx.stx_dev_minor;
		n->ino = stx.stx_ino;
	}
	return 0;
}

/* Whether fd is open for writing.  See device.h. */
bool
device_fd_writable(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return false;
	return (fl & O_ACCMODE) == O_WRONLY || (fl & O_ACCMODE) == O_RDWR;
}

/* What a node is, in words. */
const char *
device_node_what(const struct device_node *n)
{
	switch (n->mode_fmt) {
	case S_IFREG:
		return "regular file";
	case S_IFDIR:
		return "directory";
	case S_IFIFO:
		return "pipe";
	case S_IFSOCK:
		return "socket";
	case S_IFLNK:
		return "symbolic link";
	case S_IFBLK:
		return "block device";
	case S_IFCHR:
		return "character device";
	default:
		return "file of unknown type";
	}
}

/* Format root-relative sysfs path fmt into buf: 0, or -ENAMETOOLONG. */
static int __attribute__((format(printf, 3, 4)))
device_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n, m;

	n = snprintf(buf, len, "%s", device_sysfs);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	va_start(ap, fmt);
	m = vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	return m < 0 || (size_t)m >= len - (size_t)n ? -ENAMETOOLONG : 0;
}

/* Whether base/name exists. */
static bool
device_has(const char *base, const char *name)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", base, name) >=
	    (int)sizeof(path))
		return false;
	return access(path, F_OK) == 0;
}

/* Read the whole (short) file base/name into buf, NUL-terminated: 0 or
 * a negative errno. */
static int
device_read_all(const char *base, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", base, name) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	return 0;
}

/* Read the first line of base/name into buf (newline dropped): 0 or a
 * negative errno. */
static int
device_read(const char *base, const char *name, char *buf, size_t len)
{
	int r = device_read_all(base, name, buf, len);

	if (r == 0)
		buf[strcspn(buf, "\n")] = '\0';
	return r;
}

/* Read a decimal base/name: 0 and *v, or a negative errno. */
static int
device_read_u64(const char *base, const char *name, unsigned long long *v)
{
	char buf[32], *end;
	int r = device_read(base, name, buf, sizeof(buf));

	if (r < 0)
		return r;
	errno = 0;
	*v = strtoull(buf, &end, 10);
	return buf[0] == '\0' || *end != '\0' || errno != 0 ? -EINVAL : 0;
}

/* The last component of the link base/name ("" for name "" reads base
 * itself) into buf: 0 or a negative errno. */
static int
device_link_base(const char *base, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *slash;
	ssize_t n;

	if (snprintf(path, sizeof(path), "%s%s%s", base, name[0] ? "/" : "",
		name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	slash = strrchr(target, '/');
	slash = slash != NULL ? slash + 1 : target;
	if (strlen(slash) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, slash);
	return 0;
}

/* Refuse, saying what the node is. */
static void
device_refuse(struct device_verdict *v, const char *why)
{
	v->kind = DEVICE_REFUSED;
	v->why = why;
	v->unit[0] = '\0';
}

static void device_check_block(unsigned major, unsigned minor, int depth,
    struct device_verdict *v);

/* A device-mapper map (sysfs dir base) passes SG_IO through for an
 * unprivileged caller only to one whole device behind it: allowed when
 * it has at least one underlying device, each as large as the map and
 * itself allowed.  (One target over a whole device; a multipath map's
 * paths are such devices.  A map that covers part of a device, or joins
 * several, has a slave smaller than itself.) */
static void
device_check_dm(const char *base, int depth, struct device_verdict *v)
{
	unsigned long long size, ssize;
	char slaves[PATH_MAX], sbase[PATH_MAX], dev[32];
	struct device_verdict sv;
	struct dirent *de;
	unsigned major, minor, n = 0;
	bool ok = true;
	DIR *d;

	if (depth >= DEVICE_DM_DEPTH)
		return device_refuse(v, "device-mapper map nested too deep");
	if (device_read_u64(base, "size", &size) < 0 || size == 0)
		return device_refuse(v, "empty device-mapper map");
	if (snprintf(slaves, sizeof(slaves), "%s/slaves", base) >=
		(int)sizeof(slaves) ||
	    (d = opendir(slaves)) == NULL)
		return device_refuse(v, "device-mapper map without devices");
	while (ok && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		ok = device_path(sbase, sizeof(sbase), "/class/block/%s",
			 de->d_name) == 0 &&
		    device_read(sbase, "dev", dev, sizeof(dev)) == 0 &&
		    sscanf(dev, "%u:%u", &major, &minor) == 2 &&
		    device_read_u64(sbase, "size", &ssize) == 0 &&
		    ssize == size;
		if (ok) {
			device_check_block(major, minor, depth + 1, &sv);
			ok = sv.kind != DEVICE_REFUSED;
		}
	}
	closedir(d);
	if (!ok || n == 0)
		return device_refuse(v,
		    "device-mapper map that is not one "
		    "whole SCSI disk");
	v->kind = DEVICE_DM;
	v->why = NULL;
	if (device_link_base(base, "", v->unit, sizeof(v->unit)) < 0)
		v->unit[0] = '\0';
}

/* The policy for a block device. */
static void
device_check_block(unsigned major, unsigned minor, int depth,
    struct device_verdict *v)
{
	char base[PATH_MAX];

	if (device_path(base, sizeof(base), "/dev/block/%u:%u", major, minor) <
	    0)
		return device_refuse(v, "block device");
	if (device_has(base, "partition"))
		return device_refuse(v, "partition");
	if (device_has(base, "device/scsi_disk")) {
		v->kind = DEVICE_SCSI_DISK;
		v->why = NULL;
		if (device_link_base(base, "device", v->unit, sizeof(v->unit)) <
		    0)
			v->unit[0] = '\0';
		return;
	}
	if (device_has(base, "dm"))
		return device_check_dm(base, depth, v);
	device_refuse(v, "block device that is not a SCSI disk");
}

/* The policy for a character device: SCSI generic only. */
static void
device_check_char(unsigned major, unsigned minor, struct device_verdict *v)
{
	char base[PATH_MAX], sub[64];

	if (device_path(base, sizeof(base), "/dev/char/%u:%u", major, minor) <
		0 ||
	    device_link_base(base, "subsystem", sub, sizeof(sub)) < 0 ||
	    strcmp(sub, "scsi_generic") != 0)
		return device_refuse(v,
		    "character device that is not a SCSI "
		    "generic (sg) device");
	v->kind = DEVICE_SG;
	v->why = NULL;
	if (device_link_base(base, "device", v->unit, sizeof(v->unit)) < 0)
		v->unit[0] = '\0';
}

/* The disk sequence number of the disk fd is open on.  See device.h. */
uint64_t
device_diskseq_of_fd(int fd)
{
	uint64_t seq = 0;

	if (ioctl(fd, BLKGETDISKSEQ, &seq) < 0)
		return 0;
	return seq;
}

/* Decide whether SG_IO may go to the node. */
void
device_check(const struct device_node *n, struct device_verdict *v)
{
	switch (n->type) {
	case DEVICE_BLOCK:
		device_check_block(n->major, n->minor, 0, v);
		break;
	case DEVICE_CHAR:
		device_check_char(n->major, n->minor, v);
		break;
	default:
		device_refuse(v, device_node_what(n));
		break;
	}
}

/* Whether the disk sysfs shows at block node n's number is the one with
 * sequence number seq (0: never). */
static bool
device_sysfs_has_seq(const struct device_node *n, uint64_t seq)
{
	unsigned long long now;
	char base[PATH_MAX];

	return seq != 0 &&
	    device_path(base, sizeof(base), "/dev/block/%u:%u", n->major,
		n->minor) == 0 &&
	    device_read_u64(base, "diskseq", &now) == 0 && now == seq;
}

/* The policy's verdict for registry device d.  See device.h. */
void
device_check_held(struct device *d, uint64_t seq, struct device_verdict *v)
{
	/* disk_seq is set only below, for a whole SCSI disk (a block
	 * device): a match needs no check of the node's type */
	if (seq != 0 &&
	    atomic_load_explicit(&d->disk_seq, memory_order_relaxed) == seq) {
		v->kind = DEVICE_SCSI_DISK;
		v->why = NULL;
		memcpy(v->unit, d->unit, sizeof(v->unit));
		return;
	}
	device_check(&d->node, v);
	/* Kept only when sysfs, read after the verdict, shows the fd's disk
	 * at the number: that disk existed when the fd was opened and keeps
	 * its number for its life, so every read above was of it.  And only
	 * when the unit is the registry's, which a hit hands out. */
	if (v->kind == DEVICE_SCSI_DISK && strcmp(v->unit, d->unit) == 0 &&
	    device_sysfs_has_seq(&d->node, seq))
		atomic_store_explicit(&d->disk_seq, seq, memory_order_relaxed);
}

/* --- the registry (loop thread) ----------------------------------------- */

/* Every device known, by node; unused ones also on an LRU list. */
struct device_registry {
	struct device *buckets[DEVREG_BUCKETS];
	TAILQ_HEAD(, device) lru; /* refs == 0, oldest first */
	unsigned n_unused;
	void (*on_drop)(const struct device *d, void *arg);
	void *on_drop_arg;
};

/* Monotonic clock in nanoseconds. */
static uint64_t
devreg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Bucket of a node. */
static unsigned
devreg_bucket(const struct device_node *n)
{
	uint64_t h = ((uint64_t)n->type << 56) ^ ((uint64_t)n->major << 28) ^
	    n->minor;

	h *= 0x9e3779b97f4a7c15ull;
	return (unsigned)(h >> 56) & (DEVREG_BUCKETS - 1);
}

/* Read name, unit, wwid and key of d from sysfs. */
static void
devreg_load(struct device *d)
{
	const struct device_node *n = &d->node;
	char base[PATH_MAX], uevent[512];
	const char *p;
	bool dm;

	snprintf(d->name, sizeof(d->name), "%u:%u", n->major, n->minor);
	d->unit[0] = d->wwid[0] = '\0';
	d->has_diskseq = false;
	if (device_path(base, sizeof(base), "/dev/%s/%u:%u",
		n->type == DEVICE_BLOCK ? "block" : "char", n->major,
		n->minor) == 0) {
		/* uevent is several lines: read it whole. */
		if (device_read_all(base, "uevent", uevent, sizeof(uevent)) ==
			0 &&
		    (p = strstr(uevent, "DEVNAME=")) != NULL)
			(void)sscanf(p + 8, "%31[^\n]", d->name);
		dm = n->type == DEVICE_BLOCK && device_has(base, "dm");
		d->has_diskseq = n->type == DEVICE_BLOCK && !dm &&
		    device_has(base, "diskseq");
		if (dm) {
			(void)device_link_base(base, "", d->unit,
			    sizeof(d->unit));
			(void)device_read(base, "dm/uuid", d->wwid,
			    sizeof(d->wwid));
		} else if (device_link_base(base, "device", d->unit,
			       sizeof(d->unit)) == 0) {
			(void)device_read(base, "device/wwid", d->wwid,
			    sizeof(d->wwid));
		}
	}
	/* One key per SCSI unit: its sd and sg nodes share the cap. */
	if (d->unit[0] != '\0')
		d->key = prh_fnv1a(PRH_FNV_OFFSET, d->unit);
	else
		d->key = prh_fnv1a(PRH_FNV_OFFSET ^ ((uint64_t)n->type << 60),
		    d->name);
	d->loaded_ns = devreg_now_ns();
	atomic_store(&d->disk_seq, 0);
	atomic_store(&d->stale, false);
}

/* Create an empty registry. */
int
devreg_new(struct device_registry **out)
{
	struct device_registry *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -ENOMEM;
	TAILQ_INIT(&r->lru);
	*out = r;
	return 0;
}

/* Call fn for every device freed. */
void
devreg_on_drop(struct device_registry *r,
    void (*fn)(const struct device *d, void *arg), void *arg)
{
	r->on_drop = fn;
	r->on_drop_arg = arg;
}

/* Free a device that was unlinked, telling the on_drop callback. */
static void
devreg_release(struct device_registry *r, struct device *d)
{
	if (r->on_drop != NULL)
		r->on_drop(d, r->on_drop_arg);
	free(d);
}

/* Unlink d from its bucket and free it (it is unused and off the LRU). */
static void
devreg_drop(struct device_registry *r, struct device *d)
{
	struct device **dp = &r->buckets[devreg_bucket(&d->node)];

	while (*dp != d)
		dp = &(*dp)->hnext;
	*dp = d->hnext;
	devreg_release(r, d);
}

/* Free the registry and every device in it. */
void
devreg_free(struct device_registry *r)
{
	struct device *d;

	if (r == NULL)
		return;
	for (unsigned i = 0; i < DEVREG_BUCKETS; i++) {
		while ((d = r->buckets[i]) != NULL) {
			r->buckets[i] = d->hnext;
			devreg_release(r, d);
		}
	}
	free(r);
}

/* Find or create the device of a node, with a reference. */
struct device *
devreg_get(struct device_registry *r, const struct device_node *n)
{
	unsigned b = devreg_bucket(n);
	struct device *d;

	for (d = r->buckets[b]; d != NULL; d = d->hnext)
		if (d->node.type == n->type && d->node.major == n->major &&
		    d->node.minor == n->minor)
			break;
	if (d == NULL) {
		d = calloc(1, sizeof(*d));
		if (d == NULL)
			return NULL;
		d->node = *n;
		devreg_load(d);
		d->hnext = r->buckets[b];
		r->buckets[b] = d;
	} else if (d->refs == 0) {
		TAILQ_REMOVE(&r->lru, d, lru);
		r->n_unused--;
		/* Reread what may have changed: the node may name another
		 * device since (hot-plug), or a worker saw it so. */
		if (atomic_load(&d->stale) ||
		    devreg_now_ns() - d->loaded_ns > DEVREG_TTL_NS)
			devreg_load(d);
	}
	d->refs++;
	return d;
}

/* Drop a reference; keep the device for reuse, within a bound. */
void
devreg_put(struct device_registry *r, struct device *d)
{
	struct device *old;

	if (--d->refs > 0)
		return;
	TAILQ_INSERT_TAIL(&r->lru, d, lru);
	r->n_unused++;
	while (r->n_unused > DEVREG_KEEP) {
		old = TAILQ_FIRST(&r->lru);
		TAILQ_REMOVE(&r->lru, old, lru);
		r->n_unused--;
		devreg_drop(r, old);
	}
}

/* Call fn for every device. */
void
devreg_foreach(const struct device_registry *r,
    void (*fn)(const struct device *d, void *arg), void *arg)
{
	const struct device *d;

	for (unsigned i = 0; i < DEVREG_BUCKETS; i++)
		for (d = r->buckets[i]; d != NULL; d = d->hnext)
			fn(d, arg);
}

/* A device in use with isolation key key, or NULL. */
const struct device *
devreg_by_key(const struct device_registry *r, uint64_t key)
{
	const struct device *d, *any = NULL;

	for (unsigned i = 0; i < DEVREG_BUCKETS; i++)
		for (d = r->buckets[i]; d != NULL; d = d->hnext)
			if (d->key == key) {
				if (d->refs > 0)
					return d;
				any = d;
			}
	return any;
}
