/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Devices: what a client's fd is, whether the helper may send SG_IO to it,
 * and the registry of the devices commands went to.
 *
 * The helper holds CAP_SYS_RAWIO, so the kernel no longer refuses it
 * SG_IO on a partition or on a device-mapper map that covers part of a
 * disk, as it would the client (doc/security.md).  The policy here puts
 * that rule back: SG_IO goes only to a whole disk of the SCSI disk driver,
 * a SCSI generic (sg) device, or a device-mapper map whose every
 * underlying device is itself allowed and as large as the map.  It is
 * decided from the fd's inode (statx) and sysfs, never from a path name.
 *
 * device_node_of_fd() never blocks: it asks statx for cached attributes
 * only (AT_STATX_DONT_SYNC), so a FUSE or NFS file costs no round trip to
 * its server; it runs on the loop thread.  device_check_held() reads
 * sysfs (or the whole disk's verdict the registry's device holds for the
 * disk's sequence number) and runs on a worker, for every command, right
 * before the ioctl.  The
 * registry belongs to the loop thread; workers only read the immutable
 * fields of a struct device they were handed, and set its stale flag,
 * the multipath backend that served it and the disk sequence number its
 * verdict holds for.
 */
#ifndef PRH_DEVICE_H
#define PRH_DEVICE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

/* The file a client's fd refers to. */
enum device_type {
	DEVICE_OTHER = 0, /* not a device node: file, pipe, socket, ... */
	DEVICE_BLOCK,
	DEVICE_CHAR,
};

/* A node as statx saw it. */
struct device_node {
	enum device_type type;
	unsigned mode_fmt; /* S_IFMT bits */
	unsigned major;	   /* device number (block, char), else st_dev */
	unsigned minor;
	uint64_t ino; /* inode (other files), for messages */
};

/* What the policy found a node to be. */
enum device_kind {
	DEVICE_REFUSED = 0, /* no SG_IO: answered as ENOTTY */
	DEVICE_SCSI_DISK,   /* whole disk of the SCSI disk driver */
	DEVICE_SG,	    /* SCSI generic character device */
	DEVICE_DM,	    /* device-mapper map over whole allowed devices */
};

/* The policy's answer for one command. */
struct device_verdict {
	enum device_kind kind;
	const char *why; /* refusals: what the node is (static text) */
	char unit[40];	 /* SCSI device (H:C:T:L) or dm-N behind it, or "" */
};

/* Longest kernel device name kept (sdb, sg12, dm-3, ...). */
#define DEVICE_NAME_MAX 32
/* Longest LUN identity kept (sysfs wwid or dm uuid). */
#define DEVICE_WWID_MAX 128

/* One device as the registry knows it: its identity and the registry's
 * bookkeeping (other modules keep their own per-device state, keyed by
 * the device).  Loop thread, except: workers read node, unit, name and
 * has_diskseq (set before the device is handed to them, then immutable)
 * and may set
 * stale, disk_seq and mpath_backend. */
struct device {
	struct device_node node;
	uint64_t key;		    /* isolation key: one per SCSI unit */
	char name[DEVICE_NAME_MAX]; /* kernel name, or "M:m" */
	char unit[40];		    /* H:C:T:L, dm-N, or "" */
	char wwid[DEVICE_WWID_MAX]; /* LUN identity, or "" */
	atomic_bool stale;	    /* a worker saw another unit */
	/* the node had a sysfs diskseq when loaded, and is no map: the
	 * kernel (5.15 on) answers BLKGETDISKSEQ in its block layer, where
	 * before it passed the unknown ioctl to the driver */
	bool has_diskseq;
	/* sequence number of the disk allowed as a whole SCSI disk, or 0
	 * (workers set it: device_check_held(); a reload clears it) */
	_Atomic uint64_t disk_seq;
	atomic_int mpath_backend; /* enum mpath_backend last used (workers) */
	/* registry bookkeeping (loop thread) */
	unsigned refs;
	uint64_t loaded_ns;
	struct device *hnext;
	TAILQ_ENTRY(device) lru;
};

/* Read what fd refers to without blocking: 0 and *n, or a negative errno
 * (then the request is refused). */
int device_node_of_fd(int fd, struct device_node *n);

/* "regular file", "socket", "block device", ...: what a node is. */
const char *device_node_what(const struct device_node *n);

/* Whether fd is open for writing (O_WRONLY or O_RDWR): what the kernel
 * asks of an unprivileged caller's SG_IO writes and reservation ioctls.
 * Access mode 3 (O_ACCMODE, "ioctl only") reads and writes nothing and
 * is not; neither is an fd fcntl cannot read. */
bool device_fd_writable(int fd);

/* Decide whether SG_IO may go to the node, from sysfs (blocking).
 * Never fails: anything it cannot read is refused. */
void device_check(const struct device_node *n, struct device_verdict *v);

/* The disk sequence number (BLKGETDISKSEQ) of the disk block device fd
 * is open on, or 0 (an fd the ioctl refuses).  Asked only for a registry
 * device with has_diskseq: such a kernel answers it in the block layer,
 * never in a driver. */
uint64_t device_diskseq_of_fd(int fd);

/* The policy's verdict for registry device d, whose fd is on the disk
 * with sequence number seq (device_diskseq_of_fd(), or 0): a worker runs
 * it right before the ioctl, for every command.  A whole SCSI disk
 * allowed for a seq that sysfs confirms is remembered in d (disk_seq),
 * and the next command on d with that seq is answered without sysfs: the
 * kernel never gives a sequence number twice within a boot, so a device
 * number that names another disk comes with another seq.  Maps are read
 * every time (a table reload changes what a map covers and keeps both
 * numbers); sg nodes and partitions have no sequence number of their
 * own.  Any thread; d must be held (devreg_get()). */
void
device_check_held(struct device *d, uint64_t seq, struct device_verdict *v);

/* Use root instead of "/sys" (unit tests build a sysfs tree of their
 * own); NULL restores "/sys".  Call before any thread uses this module. */
void device_set_sysfs_root(const char *root);

struct device_registry;

/* Create an empty registry: 0 and *out, or -ENOMEM. */
int devreg_new(struct device_registry **out);

/* Free the registry; every device must have been put back. */
void devreg_free(struct device_registry *r);

/* The registry's device for a block or character node, created (its
 * name, unit, key and wwid read from sysfs) or refreshed as needed, with
 * a reference taken; NULL when out of memory. */
struct device *
devreg_get(struct device_registry *r, const struct device_node *n);

/* Drop a reference taken by devreg_get(). */
void devreg_put(struct device_registry *r, struct device *d);

/* Call fn(d, arg) for every device the registry frees, just before (no
 * command holds it then): for modules that keep state per device. */
void devreg_on_drop(struct device_registry *r,
    void (*fn)(const struct device *d, void *arg), void *arg);

/* Call fn(d, arg) for every device in the registry, in no set order;
 * fn must not add or drop devices. */
void devreg_foreach(const struct device_registry *r,
    void (*fn)(const struct device *d, void *arg), void *arg);

/* The device with isolation key key that commands hold now, or NULL
 * (for status reports). */
const struct device *
devreg_by_key(const struct device_registry *r, uint64_t key);

#endif
