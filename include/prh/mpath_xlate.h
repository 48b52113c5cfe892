/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Translation between the helper protocol's PERSISTENT RESERVE IN/OUT
 * commands and libmpathpersist's calls: CDB and parameter list to the
 * library's arguments, the library's answer and result code back to SCSI
 * status, sense and PR IN parameter data.  Pure functions over caller
 * buffers, safe on any thread; they never call the library.
 *
 * What they refuse, and how, follows QEMU's multipath mode, except that
 * sense is always 96 defined bytes and more than 32 transport IDs answer
 * ILLEGAL REQUEST 26/00 where QEMU aborts.
 */
#ifndef PRH_MPATH_XLATE_H
#define PRH_MPATH_XLATE_H

#include <stdint.h>

#include "prh/mpath_abi.h"
#include "prh/protocol.h"
#include "prh/scsi_result.h"

/* Bytes to allocate for mpath_prout.param: the structure and room for
 * MPATH_ABI_TIDS_MAX pointers after it. */
#define MPATH_PROUT_PARAM_SIZE                  \
	(sizeof(struct mpath_abi_prout_param) + \
	    MPATH_ABI_TIDS_MAX * sizeof(struct mpath_abi_tid *))

/* The arguments of one mpath_persistent_reserve_out() call. */
struct mpath_prout {
	int sa;	       /* service action, 0..6 */
	int scope;     /* CDB byte 2, bits 7-4 */
	unsigned type; /* CDB byte 2, bits 3-0 */
	/* MPATH_PROUT_PARAM_SIZE bytes provided by the caller; param->tids
	 * point into tid[]. */
	struct mpath_abi_prout_param *param;
	struct mpath_abi_tid tid[MPATH_ABI_TIDS_MAX];
};

/* PR IN: the service action to ask the library for (READ KEYS, READ
 * RESERVATION or REPORT CAPABILITIES), or -1 with res answered (ILLEGAL
 * REQUEST 24/00 for every other one, READ FULL STATUS included). */
int mpath_xlate_in(const uint8_t cdb[PRH_CDB_LEN], struct scsi_result *res);

/* PR IN answered: rebuild service action sa's SCSI parameter data from
 * resp into data (PRH_DATA_MAX bytes, zero past the data) and set res GOOD
 * with size alloc_len (at most PRH_DATA_MAX). */
void mpath_xlate_in_data(int sa, const struct mpath_abi_prin_resp *resp,
    uint32_t alloc_len, uint8_t *data, struct scsi_result *res);

/* PR OUT: fill out (out->param must point to MPATH_PROUT_PARAM_SIZE
 * bytes) from the CDB and the len-byte parameter list; 0, or -1 with res
 * answered (ILLEGAL REQUEST 1A/00, 24/00 or 26/00). */
int mpath_xlate_out(const uint8_t cdb[PRH_CDB_LEN], const uint8_t *param,
    uint32_t len, struct mpath_prout *out, struct scsi_result *res);

/* Map a library result code into res.  Returns 1 for the codes that name
 * a sense key class (NOT READY, MEDIUM ERROR, HARDWARE ERROR, ABORTED
 * COMMAND): res then holds the generic sense for it, and the caller may
 * replace it with a TEST UNIT READY's own failure; 0 otherwise. */
int mpath_xlate_result(int code, struct scsi_result *res);

/* Name of a library result code, for messages. */
const char *mpath_xlate_result_name(int code);

#endif
