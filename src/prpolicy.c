/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The guest PR policy (see prpolicy.h): which PR OUT a client may not
 * send and what it gets instead; REPORT CAPABILITIES made to match. */
#include "config.h"

#include "prh/prpolicy.h"

/* Whether a PR OUT service action carries SPEC_I_PT and ALL_TG_PT in
 * byte 20 of its parameter list (REGISTER AND MOVE's list has another
 * layout: byte 20 is not those bits there). */
static bool
prpolicy_has_flags(uint8_t sa)
{
	return sa == PRPOLICY_SA_REGISTER || sa == PRPOLICY_SA_REGISTER_IGNORE;
}

/* The verdict on one request. */
enum prpolicy_verdict
prpolicy_check(const struct proto_req *req, const uint8_t *param)
{
	uint8_t flags;

	if (!req->is_out)
		return PRPOLICY_ALLOW;
	if (req->service_action == PRPOLICY_SA_REGISTER_MOVE)
		return PRPOLICY_REGISTER_MOVE;
	/* A list too short to hold the flags is the device's to refuse
	 * (PARAMETER LIST LENGTH ERROR): it asks for nothing. */
	if (!prpolicy_has_flags(req->service_action) ||
	    req->len <= PRPOLICY_PARAM_FLAGS)
		return PRPOLICY_ALLOW;
	flags = param[PRPOLICY_PARAM_FLAGS];
	if (flags & PRPOLICY_BIT_SPEC_I_PT)
		return PRPOLICY_SPEC_I_PT;
	if (flags & PRPOLICY_BIT_ALL_TG_PT)
		return PRPOLICY_ALL_TG_PT;
	return PRPOLICY_ALLOW;
}

/* The answer to a refused request: the field is in the CDB for REGISTER
 * AND MOVE (its service action), in the parameter list otherwise. */
void
prpolicy_answer(enum prpolicy_verdict v, struct scsi_result *r)
{
	uint8_t asc = v == PRPOLICY_REGISTER_MOVE ? 0x24 : 0x26;

	scsi_result_check(r, PRH_SK_ILLEGAL_REQUEST, asc, 0x00);
}

/* The audit trail's words for a verdict. */
const char *
prpolicy_why(enum prpolicy_verdict v)
{
	switch (v) {
	case PRPOLICY_SPEC_I_PT:
		return "guest PR policy: SPEC_I_PT";
	case PRPOLICY_ALL_TG_PT:
		return "guest PR policy: ALL_TG_PT";
	case PRPOLICY_REGISTER_MOVE:
		return "guest PR policy: REGISTER AND MOVE";
	case PRPOLICY_ALLOW:
		break;
	}
	return "guest PR policy";
}

/* Clear SIP_C and ATP_C in a GOOD REPORT CAPABILITIES answer. */
bool
prpolicy_mask_caps(const struct proto_req *req, uint8_t *data,
    const struct scsi_result *r)
{
	const uint8_t bits = PRPOLICY_SIP_C | PRPOLICY_ATP_C;

	if (req->is_out || req->service_action != PRPOLICY_SA_REPORT_CAPS ||
	    r->status != PRH_STATUS_GOOD || r->size <= PRPOLICY_CAPS_FLAGS ||
	    !(data[PRPOLICY_CAPS_FLAGS] & bits))
		return false;
	data[PRPOLICY_CAPS_FLAGS] &= (uint8_t)~bits;
	return true;
}
