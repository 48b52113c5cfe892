/* SPDX-License-Identifier: GPL-2.0-or-later */
/* SCSI in words (see scsi_text.h). */
#include "config.h"

#include <stdio.h>

#include "prh/protocol.h"
#include "prh/scsi_text.h"

#ifndef nitems
#define nitems(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* Name of a SCSI status byte, or NULL. */
const char *
scsi_status_name(uint32_t status)
{
	switch (status) {
	case PRH_STATUS_GOOD:
		return "GOOD";
	case PRH_STATUS_CHECK_CONDITION:
		return "CHECK CONDITION";
	case 0x04:
		return "CONDITION MET";
	case PRH_STATUS_BUSY:
		return "BUSY";
	case PRH_STATUS_RESERVATION_CONFLICT:
		return "RESERVATION CONFLICT";
	case PRH_STATUS_TASK_SET_FULL:
		return "TASK SET FULL";
	case 0x30:
		return "ACA ACTIVE";
	case 0x40:
		return "TASK ABORTED";
	default:
		return NULL;
	}
}

/* Name of a sense key. */
const char *
scsi_sense_key_name(uint8_t key)
{
	static const char *const names[16] = {
		"NO SENSE",
		"RECOVERED ERROR",
		"NOT READY",
		"MEDIUM ERROR",
		"HARDWARE ERROR",
		"ILLEGAL REQUEST",
		"UNIT ATTENTION",
		"DATA PROTECT",
		"BLANK CHECK",
		"VENDOR SPECIFIC",
		"COPY ABORTED",
		"ABORTED COMMAND",
		"RESERVED 0xc",
		"VOLUME OVERFLOW",
		"MISCOMPARE",
		"COMPLETED",
	};
	return names[key & 0xf];
}

/* Words for the additional sense codes a PR command meets. */
const char *
scsi_asc_name(uint8_t asc, uint8_t ascq)
{
	static const struct {
		uint8_t asc, ascq;
		const char *what;
	} t[] = {
		{ 0x00, 0x06, "I/O process terminated" },
		{ 0x04, 0x00, "logical unit not ready" },
		{ 0x04, 0x03,
		    "logical unit not ready, manual intervention required" },
		{ 0x05, 0x00, "logical unit does not respond" },
		{ 0x08, 0x00, "logical unit communication failure" },
		{ 0x1a, 0x00, "parameter list length error" },
		{ 0x20, 0x00, "invalid command operation code" },
		{ 0x24, 0x00, "invalid field in CDB" },
		{ 0x26, 0x00, "invalid field in parameter list" },
		{ 0x26, 0x04, "invalid release of persistent reservation" },
		{ 0x27, 0x07, "space allocation failed write protect" },
		{ 0x29, 0x00, "power on, reset, or bus device reset" },
		{ 0x29, 0x07, "I_T nexus loss occurred" },
		{ 0x2a, 0x03, "reservations preempted" },
		{ 0x2a, 0x04, "reservations released" },
		{ 0x2a, 0x05, "registrations preempted" },
		{ 0x2e, 0x02, "command timeout" },
		{ 0x2f, 0x02, "commands cleared by device server" },
		{ 0x3a, 0x00, "medium not present" },
		{ 0x44, 0x00, "internal target failure" },
		{ 0x11, 0x00, "unrecovered read error" },
		{ 0x55, 0x04, "insufficient registration resources" },
	};
	for (size_t i = 0; i < nitems(t); i++)
		if (t[i].asc == asc && t[i].ascq == ascq)
			return t[i].what;
	return "";
}

/* The sense key, ASC and ASCQ of fixed or descriptor format sense. */
void
scsi_sense_codes(const uint8_t *sense, uint8_t *key, uint8_t *asc,
    uint8_t *ascq)
{
	if ((sense[0] & 0x7f) >= 0x72) { /* descriptor format */
		*key = sense[1] & 0xf;
		*asc = sense[2];
		*ascq = sense[3];
	} else {
		*key = sense[2] & 0xf;
		*asc = sense[12];
		*ascq = sense[13];
	}
}

/* A status, and the sense of a CHECK CONDITION, in words. */
void
scsi_status_words(uint32_t status, const uint8_t *sense, char *buf, size_t len)
{
	const char *name = scsi_status_name(status);
	uint8_t key, asc, ascq;

	if (name == NULL) {
		snprintf(buf, len, "status 0x%02x", (unsigned)status);
		return;
	}
	if (status != PRH_STATUS_CHECK_CONDITION) {
		snprintf(buf, len, "%s", name);
		return;
	}
	scsi_sense_codes(sense, &key, &asc, &ascq);
	snprintf(buf, len, "%s: %s, %s (%02X/%02X)", name,
	    scsi_sense_key_name(key), scsi_asc_name(asc, ascq), asc, ascq);
}

/* Name of a PR IN or PR OUT service action, or NULL. */
const char *
scsi_pr_action_name(bool out, uint8_t sa)
{
	static const char *const in[] = {
		"READ KEYS",
		"READ RESERVATION",
		"REPORT CAPABILITIES",
		"READ FULL STATUS",
	};
	static const char *const outs[] = {
		"REGISTER",
		"RESERVE",
		"RELEASE",
		"CLEAR",
		"PREEMPT",
		"PREEMPT AND ABORT",
		"REGISTER AND IGNORE EXISTING KEY",
		"REGISTER AND MOVE",
		"REPLACE LOST RESERVATION",
	};

	if (out)
		return sa < nitems(outs) ? outs[sa] : NULL;
	return sa < nitems(in) ? in[sa] : NULL;
}

/* Short name of a reservation type, or NULL. */
const char *
scsi_pr_type_name(unsigned type)
{
	static const char *const types[] = {
		[1] = "we",
		[3] = "ea",
		[5] = "we-ro",
		[6] = "ea-ro",
		[7] = "we-ar",
		[8] = "ea-ar",
	};

	return type < nitems(types) ? types[type] : NULL;
}
