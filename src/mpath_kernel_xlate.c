/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel multipath mode's translation (see mpath_kernel.h): a PR OUT
 * CDB and parameter list into a persistent-reservation ioctl, and the
 * ioctl's outcome into SCSI status and sense.  Pure functions, safe on
 * any thread.
 *
 * The ioctls take the keys in host order and name the reservation types
 * with enum pr_type, whose values differ from SCSI's TYPE codes.  They
 * return 0, a negative errno, or a positive SCSI-style result: the host
 * byte in bits 16-23 and the status in bits 0-7.  Linux 6.1 and earlier
 * return the SCSI result of the command as it is; 6.2 and later
 * (sd_scsi_to_pr_err) fold it into the PR_STS_* values, which are the
 * same encoding (PR_STS_RESERVATION_CONFLICT is status 0x18,
 * PR_STS_IOERR status 0x02, PR_STS_PATH_FAILED host byte DID_NO_CONNECT,
 * ...) but keep only the path failures and RESERVATION CONFLICT: BUSY,
 * TASK SET FULL and a timeout become PR_STS_IOERR, a CHECK CONDITION
 * here.  They return -EINVAL for a device's ILLEGAL REQUEST with ASC 24h
 * or 26h.  The sense itself never comes back.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "prh/mpath_kernel.h"
#include "prh/proto.h"

#define PR_OUT_REGISTER	       0x00
#define PR_OUT_RESERVE	       0x01
#define PR_OUT_RELEASE	       0x02
#define PR_OUT_CLEAR	       0x03
#define PR_OUT_PREEMPT	       0x04
#define PR_OUT_PREEMPT_ABORT   0x05
#define PR_OUT_REGISTER_IGNORE 0x06

#define PARAM_LEN      24   /* the basic parameter list, nothing after it */
#define PARAM_FLAGS    20   /* SPEC_I_PT, ALL_TG_PT, APTPL */
#define FLAG_SPEC_I_PT 0x08 /* keys for initiators named in the list */
#define FLAG_ALL_TG_PT 0x04 /* keys for every target port */
#define LU_SCOPE       0x0

/* enum pr_type for a SCSI TYPE code; 0 for codes the kernel has no name
 * for (0, 2, 4, obsolete and reserved values). */
static uint32_t
mpath_kernel_type(unsigned scsi_type)
{
	switch (scsi_type) {
	case 0x1:
		return PR_WRITE_EXCLUSIVE;
	case 0x3:
		return PR_EXCLUSIVE_ACCESS;
	case 0x5:
		return PR_WRITE_EXCLUSIVE_REG_ONLY;
	case 0x6:
		return PR_EXCLUSIVE_ACCESS_REG_ONLY;
	case 0x7:
		return PR_WRITE_EXCLUSIVE_ALL_REGS;
	case 0x8:
		return PR_EXCLUSIVE_ACCESS_ALL_REGS;
	default:
		return 0;
	}
}

/* The pr_type for the CDB's scope and type, of a service action that
 * carries them; 0 and *type, or -1 with res answered.  TYPE 0 passes as
 * pr_type 0 (which the kernel sends as TYPE 0) when zero_ok: PREEMPT
 * ignores the type unless the key preempted holds the reservation
 * (SPC-4), and sg_persist sends 0 when none is given. */
static int
mpath_kernel_scope_type(const uint8_t cdb[PRH_CDB_LEN], bool zero_ok,
    uint32_t *type, struct scsi_result *res)
{
	unsigned scsi_type = cdb[2] & 0x0f;

	*type = mpath_kernel_type(scsi_type);
	if (cdb[2] >> 4 != LU_SCOPE ||
	    (*type == 0 && !(zero_ok && scsi_type == 0))) {
		scsi_result_check(res, PRH_SK_ILLEGAL_REQUEST, 0x24, 0x00);
		return -1;
	}
	return 0;
}

/* Check the parameter list of service action sa: 0, or -1 with res
 * answered.  SPEC_I_PT and ALL_TG_PT mean something to REGISTER and
 * REGISTER AND IGNORE EXISTING KEY only; SPC-4 has the others ignore
 * them. */
static int
mpath_kernel_param(unsigned sa, const uint8_t *param, uint32_t len,
    struct scsi_result *res)
{
	if (len < PARAM_LEN) {
		scsi_result_check(res, PRH_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
		return -1;
	}
	/* No ioctl registers for other initiators or target ports. */
	if ((sa == PR_OUT_REGISTER || sa == PR_OUT_REGISTER_IGNORE) &&
	    (param[PARAM_FLAGS] & (FLAG_SPEC_I_PT | FLAG_ALL_TG_PT))) {
		scsi_result_check(res, PRH_SK_ILLEGAL_REQUEST, 0x26, 0x00);
		return -1;
	}
	/* Without SPEC_I_PT the list is exactly 24 bytes (SPC-4). */
	if (len != PARAM_LEN) {
		scsi_result_check(res, PRH_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
		return -1;
	}
	return 0;
}

/* PR OUT to ioctl.  See mpath_kernel.h. */
int
mpath_kernel_xlate(const uint8_t cdb[PRH_CDB_LEN], const uint8_t *param,
    uint32_t len, struct mpath_kernel_req *k, struct scsi_result *res)
{
	unsigned sa = cdb[1] & 0x1f;
	uint64_t key, sa_key;
	uint32_t type = 0;

	memset(k, 0, sizeof(*k));
	if (sa > PR_OUT_REGISTER_IGNORE) { /* REGISTER AND MOVE, ... */
		scsi_result_check(res, PRH_SK_ILLEGAL_REQUEST, 0x24, 0x00);
		return -1;
	}
	if (mpath_kernel_param(sa, param, len, res) < 0)
		return -1;
	if ((sa == PR_OUT_RESERVE || sa == PR_OUT_RELEASE) &&
	    mpath_kernel_scope_type(cdb, false, &type, res) < 0)
		return -1;
	if ((sa == PR_OUT_PREEMPT || sa == PR_OUT_PREEMPT_ABORT) &&
	    mpath_kernel_scope_type(cdb, true, &type, res) < 0)
		return -1;
	key = proto_get_be64(param);
	sa_key = proto_get_be64(param + 8);
	switch (sa) {
	case PR_OUT_REGISTER:
	case PR_OUT_REGISTER_IGNORE:
		/* APTPL: the kernel sets it on every REGISTER itself. */
		k->ioctl = IOC_PR_REGISTER;
		k->u.reg.old_key = key;
		k->u.reg.new_key = sa_key;
		k->u.reg.flags = sa == PR_OUT_REGISTER ? 0 : PR_FL_IGNORE_KEY;
		break;
	case PR_OUT_RESERVE:
	case PR_OUT_RELEASE:
		k->ioctl = sa == PR_OUT_RESERVE ? IOC_PR_RESERVE
						: IOC_PR_RELEASE;
		k->u.rsv.key = key;
		k->u.rsv.type = type;
		break;
	case PR_OUT_CLEAR:
		k->ioctl = IOC_PR_CLEAR;
		k->u.clr.key = key;
		break;
	default: /* PREEMPT, PREEMPT AND ABORT */
		k->ioctl = sa == PR_OUT_PREEMPT ? IOC_PR_PREEMPT
						: IOC_PR_PREEMPT_ABORT;
		k->u.pre.old_key = key;	   /* the caller's own key */
		k->u.pre.new_key = sa_key; /* the key preempted */
		k->u.pre.type = type;
		break;
	}
	return 0;
}

/* A negative errno from the ioctl into res. */
static void
mpath_kernel_errno(int err, struct scsi_result *res)
{
	switch (err) {
	case EPERM: /* read-only fd, or no CAP_SYS_ADMIN before 6.5 */
	case EACCES:
	case EOPNOTSUPP: /* no PR operations under the map */
	case ENOTTY:	 /* no table, or not one target */
		scsi_result_check(res, PRH_SK_ILLEGAL_REQUEST, 0x20, 0x00);
		break;
	case EAGAIN: /* the map is suspended */
	case EBUSY:
		scsi_result_status(res, PRH_STATUS_BUSY);
		break;
	default: /* EINVAL is the device's 24h/26h: 05/24/00 */
		scsi_result_from_errno(res, err);
		break;
	}
}

/* An ioctl's outcome into res.  See mpath_kernel.h. */
int
mpath_kernel_result(int r, int err, struct scsi_result *res)
{
	unsigned host = ((unsigned)r >> 16) & 0xff, status = r & 0xff;

	if (r == 0) {
		scsi_result_status(res, PRH_STATUS_GOOD);
		return 0;
	}
	if (r < 0) {
		mpath_kernel_errno(err, res);
		return 0;
	}
	if (host == 0 && status == PRH_STATUS_CHECK_CONDITION) {
		scsi_result_check(res, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
		return 1;
	}
	if (host == 0 && status == PRH_STATUS_GOOD) {
		/* not a result the kernel makes: never answer GOOD */
		scsi_result_check(res, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
		return 0;
	}
	/* a path failure, RESERVATION CONFLICT, BUSY, ...: as SG_IO's */
	memset(res->sense, 0, sizeof(res->sense));
	scsi_result_from_sgio(res, host, 0, status, 0, 0, 0, 0);
	return 0;
}
