/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel multipath mode: PERSISTENT RESERVE OUT on a device-mapper
 * multipath map through the block layer's persistent-reservation ioctls
 * (linux/pr.h) on the client's own fd.  device-mapper sends a REGISTER
 * down every path of the map and the other service actions down one
 * path, so the key belongs to every I_T nexus of the map without
 * multipathd or libmpathpersist.  When a path fails the REGISTER,
 * device-mapper stops and sends every path REGISTER(new key -> 0): the
 * paths that took the new key are unregistered and the others keep
 * their old one (for KA -> KB: some paths unregistered, the rest still
 * KA; a first registration: none), and a failed unregistration is not
 * undone.  PR IN goes to the map with plain SG_IO: the keys and the
 * reservation are the LU's, whichever path answers.
 *
 * Nothing here is shared between commands: commands on different maps
 * (and on one map, up to the per-device limit) run in parallel.  The
 * translation functions are pure and safe on any thread;
 * mpath_kernel_execute() blocks and runs on a worker.
 *
 * What the ioctls cannot express is answered ILLEGAL REQUEST without
 * touching the device: a parameter list other than 24 bytes (1A/00), the
 * SPEC_I_PT or ALL_TG_PT bit of a REGISTER (AND IGNORE EXISTING KEY)
 * (26/00; the other service actions ignore them), REGISTER AND MOVE and
 * unknown service actions, a scope other than LU_SCOPE, a type the
 * kernel has no name for (24/00; PREEMPT's TYPE 0 is sent as pr_type 0,
 * which the kernel passes on as 0).  The man page lists every answer.
 */
#ifndef PRH_MPATH_KERNEL_H
#define PRH_MPATH_KERNEL_H

#include <stdint.h>
#include <sys/ioctl.h> /* _IOW, for linux/pr.h's IOC_PR_* */

#include <linux/pr.h>

#include "prh/protocol.h"
#include "prh/scsi_result.h"
#include "prh/sgio.h"

/* One PR OUT as a persistent-reservation ioctl. */
struct mpath_kernel_req {
	unsigned long ioctl; /* IOC_PR_REGISTER, ... */
	union {
		struct pr_registration reg; /* REGISTER (AND IGNORE) */
		struct pr_reservation rsv;  /* RESERVE, RELEASE */
		struct pr_preempt pre;	    /* PREEMPT (AND ABORT) */
		struct pr_clear clr;	    /* CLEAR */
	} u;
};

/* What mpath_kernel_execute() calls, replaceable by tests: the ioctl
 * (its return value as ioctl(2) gives it, errno set when -1) and the TEST
 * UNIT READY that may give the real sense behind a CHECK CONDITION the
 * kernel reports without it (mpath_tur() in mpath.h). */
struct mpath_kernel_ops {
	int (*pr_ioctl)(int fd, unsigned long req, void *arg);
	void (*tur)(int fd, unsigned timeout_ms, struct scsi_result *res);
};

/* PR OUT: translate the CDB and its len-byte parameter list into k; 0,
 * or -1 with res answered (ILLEGAL REQUEST 1A/00, 24/00 or 26/00). */
int mpath_kernel_xlate(const uint8_t cdb[PRH_CDB_LEN], const uint8_t *param,
    uint32_t len, struct mpath_kernel_req *k, struct scsi_result *res);

/* Map an ioctl's outcome into res: r is ioctl(2)'s return value, err the
 * errno when r is -1.  Returns 1 when the kernel reported CHECK
 * CONDITION without its sense (res then holds ABORTED COMMAND 00/06, and
 * the caller may replace it by a TEST UNIT READY's failure), else 0. */
int mpath_kernel_result(int r, int err, struct scsi_result *res);

/* Run one command on a multipath map: PR IN by SG_IO with opts (ua gets
 * the unit attentions its resends consumed), PR OUT through the ioctls.
 * The contract of sgio_execute() (include/prh/sgio.h).  Blocking; called
 * on a worker thread. */
void mpath_kernel_execute(int fd, const uint8_t cdb[PRH_CDB_LEN], uint8_t *data,
    uint32_t len, const struct sgio_opts *opts, struct scsi_result *res,
    struct sgio_ua *ua);

/* Replace the ioctl and the TEST UNIT READY (tests); NULL restores the
 * real ones.  Call before any worker runs a command. */
void mpath_kernel_set_ops(const struct mpath_kernel_ops *ops);

#endif
