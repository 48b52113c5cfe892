/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The guest PR policy: what a client may not ask of a device even though
 * the device would do it (doc/security.md, "What a guest may ask of a
 * shared device"), and how the helper answers instead.  Pure functions
 * over a request's CDB and parameter list and a PR IN answer; safe on any
 * thread.
 *
 * Refused, without the device: PR OUT REGISTER and REGISTER AND IGNORE
 * EXISTING KEY with SPEC_I_PT or ALL_TG_PT set in the parameter list
 * (ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST 26/00), and REGISTER
 * AND MOVE (ILLEGAL REQUEST, INVALID FIELD IN CDB 24/00).  The device's
 * REPORT CAPABILITIES answer goes back with SIP_C and ATP_C cleared.
 * --guest-pr-policy=off passes all of it through.
 */
#ifndef PRH_PRPOLICY_H
#define PRH_PRPOLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "prh/proto.h"
#include "prh/scsi_result.h"

/* PR OUT service actions and parameter list bits the policy reads. */
#define PRPOLICY_SA_REGISTER	    0x00
#define PRPOLICY_SA_REGISTER_IGNORE 0x06
#define PRPOLICY_SA_REGISTER_MOVE   0x07
#define PRPOLICY_PARAM_FLAGS	    20	 /* byte of the flags */
#define PRPOLICY_BIT_SPEC_I_PT	    0x08 /* byte 20: SPEC_I_PT */
#define PRPOLICY_BIT_ALL_TG_PT	    0x04 /* byte 20: ALL_TG_PT */

/* PR IN REPORT CAPABILITIES and the bits of its byte 2 that go. */
#define PRPOLICY_SA_REPORT_CAPS 0x02
#define PRPOLICY_CAPS_FLAGS	2    /* byte of SIP_C and ATP_C */
#define PRPOLICY_SIP_C		0x08 /* SPEC_I_PT capable */
#define PRPOLICY_ATP_C		0x04 /* ALL_TG_PT capable */

/* What the policy says of one request. */
enum prpolicy_verdict {
	PRPOLICY_ALLOW = 0,	/* send it to the device */
	PRPOLICY_SPEC_I_PT,	/* a REGISTER for other initiator ports */
	PRPOLICY_ALL_TG_PT,	/* a REGISTER for every target port */
	PRPOLICY_REGISTER_MOVE, /* the reservation to another I_T nexus */
};

/* The verdict on the request req whose PR OUT parameter list is param
 * (req->len bytes; unread for PR IN). */
enum prpolicy_verdict
prpolicy_check(const struct proto_req *req, const uint8_t *param);

/* Fill r with the answer to a request refused with verdict v (not
 * PRPOLICY_ALLOW): CHECK CONDITION, ILLEGAL REQUEST, 26/00 or 24/00 in
 * the helper's fixed-format sense. */
void prpolicy_answer(enum prpolicy_verdict v, struct scsi_result *r);

/* The audit trail's words for a refusal ("guest PR policy: SPEC_I_PT"). */
const char *prpolicy_why(enum prpolicy_verdict v);

/* Clear SIP_C and ATP_C in the device's answer data to req, if req is
 * REPORT CAPABILITIES and r says the answer is GOOD and holds byte 2 (no
 * byte past r->size is touched).  Returns whether a bit was cleared. */
bool prpolicy_mask_caps(const struct proto_req *req, uint8_t *data,
    const struct scsi_result *r);

#endif
