/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target: the guest PR policy (prpolicy.c).
 *
 * Input: a selector byte (bit 0: PR OUT, else PR IN; bit 1: the PR IN
 * answer is CHECK CONDITION, else GOOD), CDB byte 1 (service action),
 * the CDB's length (BE16, taken modulo PRH_DATA_MAX + 1 as proto.c
 * allows no more), then the PR OUT parameter list (that many bytes,
 * zero-filled past the input) or the device's PR IN answer (the rest of
 * the input, at most the allocation length).  Each buffer is allocated
 * at its exact size, so AddressSanitizer catches a read or write past
 * the list or the answer.  Checked for every input:
 *  - the verdict is exactly what prpolicy.h documents: REGISTER AND MOVE
 *    whatever its list, SPEC_I_PT then ALL_TG_PT from byte 20 of a
 *    REGISTER or REGISTER AND IGNORE EXISTING KEY list that holds it,
 *    nothing for any other request;
 *  - a refusal's answer is CHECK CONDITION, ILLEGAL REQUEST 24/00 (for
 *    REGISTER AND MOVE) or 26/00 in 18-byte fixed format, then zeros,
 *    size 0, whatever the result held before;
 *  - REPORT CAPABILITIES loses SIP_C and ATP_C and nothing else; every
 *    other answer, and every byte but byte 2, stays as it was.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "prh/prpolicy.h"

/* The verdict prpolicy.h documents for req and its list p. */
static enum prpolicy_verdict
fuzz_want_verdict(const struct proto_req *req, const uint8_t *p)
{
	if (!req->is_out)
		return PRPOLICY_ALLOW;
	if (req->service_action == 0x07)
		return PRPOLICY_REGISTER_MOVE;
	if ((req->service_action != 0x00 && req->service_action != 0x06) ||
	    req->len < 21)
		return PRPOLICY_ALLOW;
	if (p[20] & 0x08)
		return PRPOLICY_SPEC_I_PT;
	if (p[20] & 0x04)
		return PRPOLICY_ALL_TG_PT;
	return PRPOLICY_ALLOW;
}

/* The answer to v, built over two kinds of garbage. */
static void
fuzz_answer(enum prpolicy_verdict v, uint8_t garbage)
{
	static const uint8_t zero[PRH_SENSE_LEN];
	struct scsi_result a, b;
	uint8_t asc = v == PRPOLICY_REGISTER_MOVE ? 0x24 : 0x26;

	memset(&a, garbage, sizeof(a));
	memset(&b, ~garbage, sizeof(b));
	prpolicy_answer(v, &a);
	prpolicy_answer(v, &b);
	FUZZ_CHECK(memcmp(a.sense, b.sense, PRH_SENSE_LEN) == 0 &&
		a.status == b.status && a.size == b.size,
	    "answer depends on prior contents");
	FUZZ_CHECK(a.status == PRH_STATUS_CHECK_CONDITION && a.size == 0,
	    "status 0x%02x size %u", a.status, a.size);
	FUZZ_CHECK(a.sense[0] == 0x70 && a.sense[2] == PRH_SK_ILLEGAL_REQUEST &&
		a.sense[7] == 10 && a.sense[12] == asc && a.sense[13] == 0,
	    "sense %02x/%02x/%02x", a.sense[2], a.sense[12], a.sense[13]);
	FUZZ_CHECK(a.sense[1] == 0 && memcmp(a.sense + 3, zero, 4) == 0 &&
		memcmp(a.sense + 8, zero, 4) == 0 &&
		memcmp(a.sense + 14, zero, PRH_SENSE_LEN - 14) == 0,
	    "stray sense bytes");
	FUZZ_CHECK(prpolicy_why(v) != NULL &&
		strncmp(prpolicy_why(v), "guest PR policy: ", 17) == 0,
	    "words");
}

/* A PR OUT: the verdict on a list of exactly req->len bytes. */
static void
fuzz_out(const struct proto_req *req, struct fuzz_in *in, uint8_t garbage)
{
	uint8_t *p = malloc(req->len ? req->len : 1);
	enum prpolicy_verdict v;

	FUZZ_CHECK(p != NULL, "out of memory");
	fuzz_bytes(in, p, req->len);
	v = prpolicy_check(req, p);
	FUZZ_CHECK(v == fuzz_want_verdict(req, p), "verdict %d, want %d",
	    (int)v, (int)fuzz_want_verdict(req, p));
	if (v != PRPOLICY_ALLOW)
		fuzz_answer(v, garbage);
	free(p);
}

/* A PR IN: the device's answer, masked or not. */
static void
fuzz_in(const struct proto_req *req, struct fuzz_in *in, uint8_t sel)
{
	struct scsi_result r;
	uint32_t size = in->left < req->len ? (uint32_t)in->left : req->len;
	uint8_t *d = malloc(size ? size : 1), *was = malloc(size ? size : 1);
	bool masked, want;

	FUZZ_CHECK(d != NULL && was != NULL, "out of memory");
	fuzz_bytes(in, d, size);
	memcpy(was, d, size);
	scsi_result_status(&r,
	    (sel & 0x02) ? PRH_STATUS_CHECK_CONDITION : PRH_STATUS_GOOD);
	r.size = size;
	FUZZ_CHECK(prpolicy_check(req, d) == PRPOLICY_ALLOW, "PR IN refused");
	masked = prpolicy_mask_caps(req, d, &r);
	want = req->service_action == 0x02 && r.status == PRH_STATUS_GOOD &&
	    size > 2 && (was[2] & 0x0c);
	FUZZ_CHECK(masked == want, "masked %d, want %d", masked, want);
	for (uint32_t i = 0; i < size; i++)
		FUZZ_CHECK(d[i] == (i == 2 && want ? (was[i] & 0xf3) : was[i]),
		    "byte %u: 0x%02x was 0x%02x", i, d[i], was[i]);
	FUZZ_CHECK(r.size == size, "size changed");
	free(d);
	free(was);
}

/* One input: selector, service action, length, then the bytes. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct proto_req req;
	uint8_t sel = fuzz_u8(&in);
	uint8_t garbage = (uint8_t)(sel >> 2);
	uint8_t b1 = fuzz_u8(&in);
	uint32_t len = (uint32_t)fuzz_u8(&in) << 8;

	len |= fuzz_u8(&in);
	req.is_out = sel & 0x01;
	req.opcode = req.is_out ? PRH_OP_PR_OUT : PRH_OP_PR_IN;
	req.service_action = b1 & 0x1f;
	req.len = len % (PRH_DATA_MAX + 1);
	if (req.is_out)
		fuzz_out(&req, &in, garbage);
	else
		fuzz_in(&req, &in, sel);
	return 0;
}
