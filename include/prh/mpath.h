/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The multipath backend: PERSISTENT RESERVE IN/OUT on a device-mapper
 * multipath map through libmpathpersist, which sends each command to the
 * right paths (a REGISTER to every path, so that the key belongs to every
 * I_T nexus of the map) and tells multipathd the key, so that paths that
 * come back or are added later are registered too.  Plain SG_IO on a map
 * reaches one path only.
 *
 * The kernel mode (mpath_kernel.h) serves a map without the library;
 * mpath_choose() tells which of the two serves a command.
 *
 * The library is loaded with dlopen() when the first multipath map is
 * seen, so the helper builds and runs without it.  Its calls are not
 * thread-safe and run one at a time (see doc/threads.md); every function
 * here is safe on any thread.  Blocking functions run on workers only.
 */
#ifndef PRH_MPATH_H
#define PRH_MPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "prh/protocol.h"
#include "prh/scsi_result.h"

/* --multipath: how multipath maps are served. */
enum mpath_mode {
	MPATH_MODE_AUTO = 0, /* the library where multipathd answers, else
				the kernel's PR ioctls */
	MPATH_MODE_ON,	     /* the library, and start-up fails without it */
	MPATH_MODE_OFF,	     /* neither: every fd gets plain SG_IO */
	MPATH_MODE_KERNEL,   /* the kernel's PR ioctls (mpath_kernel.h) */
};

/* Which backend serves a multipath map's command. */
enum mpath_backend {
	MPATH_BACKEND_NONE = 0, /* not decided (not a map, or not yet) */
	MPATH_BACKEND_LIBRARY,	/* libmpathpersist */
	MPATH_BACKEND_KERNEL,	/* the kernel's PR ioctls */
	MPATH_BACKENDS
};

/* The sense every multipath command gets when multipath cannot be served
 * (no library, no multipathd, no device-mapper access): NOT READY,
 * LOGICAL UNIT NOT READY, MANUAL INTERVENTION REQUIRED. */
#define MPATH_UNAVAILABLE_KEY  PRH_SK_NOT_READY
#define MPATH_UNAVAILABLE_ASC  0x04
#define MPATH_UNAVAILABLE_ASCQ 0x03

/* Room for mpath_choose()'s reason. */
#define MPATH_CHOICE_LEN 320

/* multipathd's sockets, tried in this order: the pathname socket of
 * multipath-tools 0.12 and later (KubeVirt links it into the helper's
 * container), then the abstract socket of every release. */
#define MPATH_MULTIPATHD_SOCKETS \
	"/run/multipathd.socket", "@/org/kernel/linux/storage/multipathd"

/* Start-up settings. */
struct mpath_opts {
	enum mpath_mode mode;
	unsigned max_workers; /* workers multipath commands may hold at
				 once, the one in the library included */
};

/* Start-up, after privileges are dropped and before any worker exists:
 * remember opts and open /dev/mapper/control.  MPATH_MODE_ON also loads
 * the library and checks device-mapper access: a negative errno (logged)
 * if either fails, and the caller exits.  0 otherwise. */
int mpath_init(const struct mpath_opts *opts);

/* Whether privileges should keep CAP_SYS_ADMIN for mode: always with
 * on, with auto and kernel when device-mapper is there
 * (/dev/mapper/control exists), never with off.  Start-up, before
 * mpath_init(). */
bool mpath_wants_admin(enum mpath_mode mode);

/* The mode set by mpath_init (MPATH_MODE_AUTO before). */
enum mpath_mode mpath_mode(void);

/* Whether block device rdev is a device-mapper map whose one target is
 * "multipath" and whose uuid starts with "mpath-" (DM_TABLE_STATUS on
 * /dev/mapper/control): 1, 0 if not (not a map, another target), or a
 * negative errno when that cannot be told (no /dev/mapper/control for a
 * device-mapper device, EACCES without CAP_SYS_ADMIN, other DM errors).
 * Devices of another major than device-mapper's (/proc/devices) are not
 * asked about; when device-mapper cannot be asked, a map whose sysfs uuid
 * (/sys/dev/block/M:m/dm/uuid) does not start with "mpath-" is 0.
 * Blocking; called on a worker thread. */
int mpath_probe(dev_t rdev);

/* Whether sysfs names block device rdev a multipath map (its
 * /sys/dev/block/M:m/dm/uuid starts with "mpath-", readable without any
 * privilege): 1 yes, 0 no, -1 sysfs does not know the device.  Enough for
 * the kernel mode, whose ioctls need no device-mapper query.  Blocking. */
int mpath_probe_sysfs(dev_t rdev);

/* mpath_probe() for the device behind fd: 0 when the mode is off or fd is
 * not a block device. */
int mpath_probe_fd(int fd);

/* Run one command on a multipath map: the contract of sgio_execute()
 * (include/prh/sgio.h), through libmpathpersist.  Never fails: a missing
 * library or multipathd, a busy library, and every library result become
 * status + sense.  Blocking; called on a worker thread. */
void mpath_execute(int fd, const uint8_t cdb[PRH_CDB_LEN], uint8_t *data,
    uint32_t len, unsigned timeout_ms, struct scsi_result *res);

/* The backend for a command on a multipath map under the configured
 * mode, probe being mpath_probe()'s answer for the map (1, or a negative
 * errno when device-mapper cannot be asked): on, the library; kernel,
 * the kernel; auto, the library when the helper runs as uid 0,
 * multipathd accepts a connection, device-mapper answered and the
 * library loads, else the kernel.  Under auto, why (n bytes) gets the
 * reason in words ("multipathd does not answer", ...); "" otherwise.
 * May load the library (blocking): called on a worker thread. */
enum mpath_backend mpath_choose(int probe, char *why, size_t n);

/* Name of a backend, for messages and metrics ("libmpathpersist",
 * "kernel"). */
const char *mpath_backend_name(enum mpath_backend b);

/* Replace res by a TEST UNIT READY's outcome on fd if that fails (the
 * real sense behind an answer that came without it).  Blocking. */
void mpath_tur(int fd, unsigned timeout_ms, struct scsi_result *res);

/* Answer a command whose device mpath_probe() could not tell (err < 0):
 * the unavailable sense above, and one log line per distinct cause. */
void mpath_unavailable(int err, struct scsi_result *res);

/* What the library token is doing, for summaries and tests. */
struct mpath_stats {
	bool loaded;		    /* the library is loaded and initialised */
	bool in_library;	    /* a command is in a library call */
	unsigned waiting;	    /* commands waiting for their turn */
	unsigned long calls;	    /* library calls made */
	unsigned long busy_answers; /* commands answered BUSY, not sent */
};

/* Copy the current counts into st. */
void mpath_get_stats(struct mpath_stats *st);

/* Shutdown begins: commands waiting for the library answer BUSY at once
 * (they were not sent anywhere); the one in the library finishes. */
void mpath_drain(void);

/* Exit: release the library if no call is running in it; close
 * /dev/mapper/control. */
void mpath_shutdown(void);

/* Whether one of the sockets names[0..n) accepts a connection ("@name":
 * an abstract socket).  1 yes, 0 no.  Never blocks. */
int mpath_multipathd_reachable(const char *const names[], size_t n);

#endif
