/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Mapping of SG_IO outcomes to the SCSI status, sense and payload size that
 * go back to the client.  This follows QEMU 10.2's helper (errno table,
 * host_status table, driver_status bit test, raw device status) with two
 * deliberate differences: every sense buffer is 96 defined bytes, and a
 * host status QEMU does not map is an error instead of GOOD.
 *
 * Hard invariant kept here for every path: size is 0 unless the status is
 * GOOD, 0 for PR OUT, and never above the allocation length for PR IN
 * (QEMU aborts on a larger size).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "prh/scsi_result.h"

/* Linux host_status (DID_*) values the mapping names. */
#define DID_OK			0x00
#define DID_NO_CONNECT		0x01
#define DID_BUS_BUSY		0x02
#define DID_TIME_OUT		0x03
#define DID_BAD_TARGET		0x04
#define DID_ABORT		0x05
#define DID_RESET		0x08
#define DID_SOFT_ERROR		0x0b
#define DID_IMM_RETRY		0x0c
#define DID_REQUEUE		0x0d
#define DID_TRANSPORT_DISRUPTED 0x0e
#define DID_TARGET_FAILURE	0x10
#define DID_NEXUS_FAILURE	0x11
#define DID_ALLOC_FAILURE	0x12
#define DID_MEDIUM_ERROR	0x13

/* driver_status bits that mean "retry later" (bit test, not equality). */
#define DRIVER_BUSY_MASK 0x06

#ifndef nitems
#define nitems(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* Length and additional length of the fixed-format sense we build. */
#define FIXED_SENSE_LEN 18

/*
 * One row of a mapping table.  status is the SCSI status to answer; for
 * CHECK CONDITION key/asc/ascq give the sense the helper builds.  For any
 * other status the sense is not built (errno rows: all zero; host rows: the
 * kernel's bytes are kept).
 */
struct scsi_map {
	int code; /* errno or host_status */
	uint8_t status;
	uint8_t key;
	uint8_t asc;
	uint8_t ascq;
};

/* Row helpers: CHECK CONDITION with built sense, or a bare status. */
#define CHK(key, asc, ascq) PRH_STATUS_CHECK_CONDITION, (key), (asc), (ascq)
#define ST(status)	    (status), 0, 0, 0

/* Section 2.7, QEMU 10.2 column (ENODEV is HARDWARE ERROR since 10.1). */
static const struct scsi_map errno_map[] = {
	{ EDOM, ST(PRH_STATUS_TASK_SET_FULL) },
	{ EBADE, ST(PRH_STATUS_RESERVATION_CONFLICT) },
	{ EREMOTEIO, CHK(PRH_SK_HARDWARE_ERROR, 0x44, 0x00) },
	{ ENODEV, CHK(PRH_SK_HARDWARE_ERROR, 0x44, 0x00) },
	{ ENOMEM, CHK(PRH_SK_HARDWARE_ERROR, 0x44, 0x00) },
	{ ENODATA, CHK(PRH_SK_MEDIUM_ERROR, 0x11, 0x00) },
	{ ENOMEDIUM, CHK(PRH_SK_NOT_READY, 0x3a, 0x00) },
	{ EINVAL, CHK(PRH_SK_ILLEGAL_REQUEST, 0x24, 0x00) },
	{ ENOSPC, CHK(PRH_SK_DATA_PROTECT, 0x27, 0x07) },
};

/* Section 2.8 plus decision 2 (the retryable DID_* codes answer BUSY). */
static const struct scsi_map host_map[] = {
	{ DID_NO_CONNECT, CHK(PRH_SK_ABORTED_COMMAND, 0x05, 0x00) },
	{ DID_BUS_BUSY, ST(PRH_STATUS_BUSY) },
	{ DID_TIME_OUT, CHK(PRH_SK_ABORTED_COMMAND, 0x2e, 0x02) },
	{ DID_BAD_TARGET, CHK(PRH_SK_ABORTED_COMMAND, 0x08, 0x00) },
	{ DID_ABORT, CHK(PRH_SK_ABORTED_COMMAND, 0x2f, 0x02) },
	{ DID_RESET, CHK(PRH_SK_UNIT_ATTENTION, 0x29, 0x00) },
	{ DID_SOFT_ERROR, ST(PRH_STATUS_BUSY) },
	{ DID_IMM_RETRY, ST(PRH_STATUS_BUSY) },
	{ DID_REQUEUE, ST(PRH_STATUS_BUSY) },
	{ DID_TRANSPORT_DISRUPTED, CHK(PRH_SK_ABORTED_COMMAND, 0x29, 0x07) },
	{ DID_TARGET_FAILURE, CHK(PRH_SK_HARDWARE_ERROR, 0x44, 0x00) },
	{ DID_NEXUS_FAILURE, ST(PRH_STATUS_RESERVATION_CONFLICT) },
	{ DID_ALLOC_FAILURE, CHK(PRH_SK_DATA_PROTECT, 0x27, 0x07) },
	{ DID_MEDIUM_ERROR, CHK(PRH_SK_MEDIUM_ERROR, 0x11, 0x00) },
};

/* What every unmapped errno or host status answers: ABORTED COMMAND 00/06. */
static const struct scsi_map map_default = { 0,
	CHK(PRH_SK_ABORTED_COMMAND, 0x00, 0x06) };

/* Find code in a table, or the ABORTED COMMAND default. */
static const struct scsi_map *
scsi_map_find(const struct scsi_map *map, size_t n, int code)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (map[i].code == code)
			return &map[i];
	}
	return &map_default;
}

/* Fill r as CHECK CONDITION with 18-byte fixed-format sense, rest zero. */
void
scsi_result_check(struct scsi_result *r, uint8_t key, uint8_t asc, uint8_t ascq)
{
	r->status = PRH_STATUS_CHECK_CONDITION;
	r->size = 0;
	r->host_status = 0;
	r->driver_status = 0;
	memset(r->sense, 0, sizeof(r->sense));
	r->sense[0] = 0x70; /* current error, fixed format */
	r->sense[2] = key & 0x0f;
	r->sense[7] = FIXED_SENSE_LEN - 8; /* additional length */
	r->sense[12] = asc;
	r->sense[13] = ascq;
}

/* Fill r with a status and all-zero sense, size 0. */
void
scsi_result_status(struct scsi_result *r, uint8_t status)
{
	r->status = status;
	r->size = 0;
	r->host_status = 0;
	r->driver_status = 0;
	memset(r->sense, 0, sizeof(r->sense));
}

/* Map a failed SG_IO ioctl's errno (positive) into r (section 2.7). */
void
scsi_result_from_errno(struct scsi_result *r, int err)
{
	const struct scsi_map *m;

	m = scsi_map_find(errno_map, nitems(errno_map), err);
	if (m->status == PRH_STATUS_CHECK_CONDITION)
		scsi_result_check(r, m->key, m->asc, m->ascq);
	else
		scsi_result_status(r, m->status);
}

/*
 * Bytes the device really transferred: dxfer_len - resid, with a negative
 * resid taken as 0 and a resid above dxfer_len as "nothing transferred", so
 * the result never exceeds dxfer_len.
 */
static uint32_t
scsi_result_transferred(uint32_t dxfer_len, int32_t resid)
{
	if (resid <= 0)
		return dxfer_len;
	if ((uint32_t)resid >= dxfer_len)
		return 0;
	return dxfer_len - (uint32_t)resid;
}

/* Record the device's host and driver status for tracing. */
static void
scsi_result_record(struct scsi_result *r, unsigned host_status,
    unsigned driver_status)
{
	r->host_status = (uint16_t)host_status;
	r->driver_status = (uint16_t)driver_status;
}

/* Map a completed SG_IO into r (sections 2.6, 2.8, 2.9 and decision 2). */
void
scsi_result_from_sgio(struct scsi_result *r, unsigned host_status,
    unsigned driver_status, unsigned status, int is_in, uint32_t dxfer_len,
    int32_t resid, uint32_t alloc_len)
{
	const struct scsi_map *m;
	uint32_t n;

	r->size = 0;
	if (host_status != DID_OK) {
		m = scsi_map_find(host_map, nitems(host_map), (int)host_status);
		if (m->status == PRH_STATUS_CHECK_CONDITION)
			scsi_result_check(r, m->key, m->asc, m->ascq);
		else
			r->status = m->status; /* kernel sense kept */
		scsi_result_record(r, host_status, driver_status);
		return;
	}
	scsi_result_record(r, host_status, driver_status);
	if (driver_status & DRIVER_BUSY_MASK) {
		r->status = PRH_STATUS_BUSY; /* kernel sense kept */
		return;
	}
	r->status = status & 0xff;
	if (r->status != PRH_STATUS_GOOD || !is_in)
		return;
	n = scsi_result_transferred(dxfer_len, resid);
	if (n > alloc_len)
		n = alloc_len;
	r->size = n < PRH_DATA_MAX ? n : PRH_DATA_MAX;
}

/* Whether r is a unit attention the device itself reported. */
bool
scsi_result_unit_attention(const struct scsi_result *r, uint8_t *asc,
    uint8_t *ascq)
{
	const uint8_t *s = r->sense;

	if (r->status != PRH_STATUS_CHECK_CONDITION || r->host_status != DID_OK)
		return false;
	if ((s[0] & 0x7f) == 0x70 && (s[2] & 0x0f) == PRH_SK_UNIT_ATTENTION) {
		*asc = s[12];
		*ascq = s[13];
		return true;
	}
	if ((s[0] & 0x7f) == 0x72 && (s[1] & 0x0f) == PRH_SK_UNIT_ATTENTION) {
		*asc = s[2];
		*ascq = s[3];
		return true;
	}
	return false;
}
