/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target: the PR OUT translation of the kernel multipath mode
 * (mpath_kernel_xlate in mpath_kernel.c).
 *
 * Input: CDB byte 1 (service action), CDB byte 2 (scope and type), then
 * the parameter list (the rest, at most PRH_DATA_MAX bytes), as for
 * fuzz_mpath.  Checked for every input:
 *  - a refusal is CHECK CONDITION, ILLEGAL REQUEST 1A/00, 24/00 or 26/00
 *    in 18-byte fixed format followed by zeros, size 0;
 *  - an accepted command has a service action 0..6, a list of exactly 24
 *    bytes (for REGISTER and REGISTER AND IGNORE EXISTING KEY without
 *    SPEC_I_PT or ALL_TG_PT, which the others ignore), the ioctl of its
 *    service action, the list's keys in host order, no flags but
 *    PR_FL_IGNORE_KEY for REGISTER AND IGNORE EXISTING KEY, and for the
 *    service actions with a type, LU_SCOPE and a kernel type 1..6 that
 *    maps back to the CDB's SCSI type, or for PREEMPT (AND ABORT) type 0
 *    from TYPE 0.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "prh/mpath_kernel.h"
#include "prh/proto.h"

/* The SCSI TYPE code of a kernel pr_type 1..6. */
static const uint8_t fuzz_scsi_type[] = { 0, 1, 3, 5, 6, 7, 8 };

/* Check a kernel type against the CDB's scope and type byte; type 0
 * (from TYPE 0) only when zero_ok. */
static void
fuzz_check_type(uint32_t type, uint8_t st, bool zero_ok)
{
	FUZZ_CHECK(st >> 4 == 0, "scope %u", st >> 4);
	FUZZ_CHECK((type >= 1 && type <= 6) || (zero_ok && type == 0),
	    "type %u", type);
	FUZZ_CHECK(fuzz_scsi_type[type] == (st & 15u), "type %u for %u", type,
	    st & 15u);
}

/* Check an accepted translation against the client's list. */
static void
fuzz_check_accepted(uint8_t sa, uint8_t st, const uint8_t *p, uint32_t len,
    const struct mpath_kernel_req *k)
{
	uint64_t key = proto_get_be64(p), sa_key = proto_get_be64(p + 8);

	FUZZ_CHECK(len == 24, "len %u", len);
	FUZZ_CHECK((sa != 0 && sa != 6) || (p[20] & 0x0c) == 0, "flags %02x",
	    p[20]);
	switch (sa) {
	case 0:
	case 6:
		FUZZ_CHECK(k->ioctl == IOC_PR_REGISTER, "sa %u", sa);
		FUZZ_CHECK(k->u.reg.old_key == key &&
			k->u.reg.new_key == sa_key,
		    "register keys");
		FUZZ_CHECK(k->u.reg.flags == (sa == 6 ? PR_FL_IGNORE_KEY : 0u),
		    "register flags");
		break;
	case 1:
	case 2:
		FUZZ_CHECK(k->ioctl ==
			(sa == 1 ? IOC_PR_RESERVE : IOC_PR_RELEASE),
		    "sa %u", sa);
		FUZZ_CHECK(k->u.rsv.key == key && k->u.rsv.flags == 0, "rsv");
		fuzz_check_type(k->u.rsv.type, st, false);
		break;
	case 3:
		FUZZ_CHECK(k->ioctl == IOC_PR_CLEAR, "sa %u", sa);
		FUZZ_CHECK(k->u.clr.key == key && k->u.clr.flags == 0, "clear");
		break;
	case 4:
	case 5:
		FUZZ_CHECK(k->ioctl ==
			(sa == 4 ? IOC_PR_PREEMPT : IOC_PR_PREEMPT_ABORT),
		    "sa %u", sa);
		FUZZ_CHECK(k->u.pre.old_key == key &&
			k->u.pre.new_key == sa_key && k->u.pre.flags == 0,
		    "preempt");
		fuzz_check_type(k->u.pre.type, st, true);
		break;
	default:
		FUZZ_CHECK(0, "accepted service action %u", sa);
	}
}

/* Run one input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t param[PRH_DATA_MAX];
	struct fuzz_in in = { data, size };
	struct mpath_kernel_req k;
	struct scsi_result res;
	uint8_t cdb[PRH_CDB_LEN];
	uint32_t len = fuzz_pr_out(&in, cdb, param);

	memset(&k, 0xa5, sizeof(k));
	memset(&res, 0xa5, sizeof(res));
	if (mpath_kernel_xlate(cdb, param, len, &k, &res) < 0)
		fuzz_check_pr_out_refusal(&res);
	else
		fuzz_check_accepted(cdb[1] & 0x1f, cdb[2], param, len, &k);
	return 0;
}
