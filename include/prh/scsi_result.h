/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The result of one PR command as it goes back to the client, and the
 * mapping from SG_IO outcomes to SCSI status + sense (QEMU 10.2's mapping,
 * except that sense is always 96 defined bytes and a host status QEMU does
 * not map is BUSY or ABORTED COMMAND, never GOOD).  Pure functions, safe
 * on any thread.
 */
#ifndef PRH_SCSI_RESULT_H
#define PRH_SCSI_RESULT_H

#include <stdbool.h>
#include <stdint.h>

#include "prh/protocol.h"

/* Status, payload size and sense of one command. */
struct scsi_result {
	uint32_t status; /* SCSI status byte value */
	uint32_t size;	 /* payload bytes to send (PR IN, GOOD only) */
	uint8_t sense[PRH_SENSE_LEN]; /* always 96 defined bytes */
	/* The SG_IO outcome behind the status, for tracing; never sent on
	 * the wire.  scsi_result_from_sgio() records the device's values;
	 * every other scsi_result_* function sets them to 0. */
	uint16_t host_status;	/* sg_io_hdr host_status */
	uint16_t driver_status; /* sg_io_hdr driver_status */
};

/* Fill r as CHECK CONDITION with 18-byte fixed-format sense (key/asc/ascq),
 * the remaining sense bytes zero, size 0. */
void scsi_result_check(struct scsi_result *r, uint8_t key, uint8_t asc,
    uint8_t ascq);

/* Fill r with a status and no sense (all 96 bytes zero), size 0. */
void scsi_result_status(struct scsi_result *r, uint8_t status);

/* Map a failed SG_IO ioctl's errno (positive) into r (section 2.7). */
void scsi_result_from_errno(struct scsi_result *r, int err);

/*
 * Map a completed SG_IO into r (sections 2.6, 2.8, 2.9 and decision 2).
 * On entry r->sense holds the sense bytes the kernel wrote (zero-filled
 * beyond them); it is kept verbatim unless the mapping builds its own.
 * is_in: PR IN. dxfer_len/resid: as in the sg_io_hdr. alloc_len: the CDB's
 * allocation length, which caps the PR IN payload.
 */
void scsi_result_from_sgio(struct scsi_result *r, unsigned host_status,
    unsigned driver_status, unsigned status, int is_in, uint32_t dxfer_len,
    int32_t resid, uint32_t alloc_len);

/*
 * Whether r is the device's own CHECK CONDITION (host status DID_OK, so
 * not the UNIT ATTENTION 29/00 this mapping makes of DID_RESET) with
 * current sense, fixed (70h) or descriptor (72h) format, of key UNIT
 * ATTENTION; *asc and *ascq get its codes.  Such a command was not
 * executed: the device reported the unit attention instead.
 */
bool scsi_result_unit_attention(const struct scsi_result *r, uint8_t *asc,
    uint8_t *ascq);

#endif
