/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the guest PR policy (prpolicy.c): which PR OUT it
 * refuses, the exact reply to each (all 96 sense bytes), the audit
 * trail's words, and REPORT CAPABILITIES with SIP_C and ATP_C cleared and
 * no other byte touched. */
#include "prh/prpolicy.h"

#include <string.h>

#include <criterion/criterion.h>

/* The 96 sense bytes of CHECK CONDITION, ILLEGAL REQUEST, asc/00: fixed
 * format (70h), additional length 10, no sense-key specific field. */
static void
want_sense(uint8_t s[PRH_SENSE_LEN], uint8_t asc)
{
	static const uint8_t head[18] = { 0x70, 0x00, 0x05, 0x00, 0x00, 0x00,
		0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x26, 0x00, 0x00, 0x00,
		0x00, 0x00 };

	memset(s, 0, PRH_SENSE_LEN);
	memcpy(s, head, sizeof(head));
	s[12] = asc;
}

/* A PR OUT request of service action sa with a len-byte list. */
static struct proto_req
out_req(uint8_t sa, uint32_t len)
{
	struct proto_req r = { PRH_OP_PR_OUT, sa, true, len };

	return r;
}

/* A 24-byte REGISTER-style parameter list with flags in byte 20. */
static void
param_with(uint8_t p[PRH_DATA_MAX], uint8_t flags)
{
	memset(p, 0, PRH_DATA_MAX);
	p[15] = 0x42; /* service action key */
	p[20] = flags;
}

/* The verdict v answers exactly status 02h and sense asc/00, size 0,
 * whatever r held before. */
static void
expect_answer(enum prpolicy_verdict v, uint8_t asc)
{
	struct scsi_result r;
	uint8_t want[PRH_SENSE_LEN];

	memset(&r, 0xa5, sizeof(r));
	prpolicy_answer(v, &r);
	want_sense(want, asc);
	cr_expect_eq(r.status, PRH_STATUS_CHECK_CONDITION);
	cr_expect_eq(r.size, 0);
	cr_expect_eq(r.host_status, 0);
	cr_expect_eq(r.driver_status, 0);
	cr_expect_arr_eq(r.sense, want, PRH_SENSE_LEN, "sense of verdict %d",
	    (int)v);
}

Test(prpolicy, spec_i_pt_refused)
{
	uint8_t p[PRH_DATA_MAX];
	struct proto_req reg = out_req(PRPOLICY_SA_REGISTER, 24);
	struct proto_req ign = out_req(PRPOLICY_SA_REGISTER_IGNORE, 24);

	/* With a TransportID list after the header, as a real one has. */
	param_with(p, PRPOLICY_BIT_SPEC_I_PT);
	p[27] = 24;
	reg.len = ign.len = 52;
	cr_expect_eq(prpolicy_check(&reg, p), PRPOLICY_SPEC_I_PT);
	cr_expect_eq(prpolicy_check(&ign, p), PRPOLICY_SPEC_I_PT);
	/* APTPL beside it changes nothing; both bits name SPEC_I_PT. */
	param_with(p, PRPOLICY_BIT_SPEC_I_PT | PRPOLICY_BIT_ALL_TG_PT | 0x01);
	cr_expect_eq(prpolicy_check(&reg, p), PRPOLICY_SPEC_I_PT);
	expect_answer(PRPOLICY_SPEC_I_PT, 0x26);
	cr_expect_str_eq(prpolicy_why(PRPOLICY_SPEC_I_PT),
	    "guest PR policy: SPEC_I_PT");
}

Test(prpolicy, all_tg_pt_refused)
{
	uint8_t p[PRH_DATA_MAX];
	struct proto_req reg = out_req(PRPOLICY_SA_REGISTER, 24);
	struct proto_req ign = out_req(PRPOLICY_SA_REGISTER_IGNORE, 24);

	param_with(p, PRPOLICY_BIT_ALL_TG_PT);
	cr_expect_eq(prpolicy_check(&reg, p), PRPOLICY_ALL_TG_PT);
	cr_expect_eq(prpolicy_check(&ign, p), PRPOLICY_ALL_TG_PT);
	param_with(p, 0xff & ~PRPOLICY_BIT_SPEC_I_PT);
	cr_expect_eq(prpolicy_check(&reg, p), PRPOLICY_ALL_TG_PT);
	expect_answer(PRPOLICY_ALL_TG_PT, 0x26);
	cr_expect_str_eq(prpolicy_why(PRPOLICY_ALL_TG_PT),
	    "guest PR policy: ALL_TG_PT");
}

/* REGISTER AND MOVE is refused for its service action, in the CDB,
 * whatever its list holds (byte 20 there is no flag byte). */
Test(prpolicy, register_and_move_refused)
{
	uint8_t p[PRH_DATA_MAX];
	struct proto_req move = out_req(PRPOLICY_SA_REGISTER_MOVE, 24);

	param_with(p, 0x00);
	cr_expect_eq(prpolicy_check(&move, p), PRPOLICY_REGISTER_MOVE);
	param_with(p, PRPOLICY_BIT_SPEC_I_PT);
	cr_expect_eq(prpolicy_check(&move, p), PRPOLICY_REGISTER_MOVE);
	move.len = 0;
	cr_expect_eq(prpolicy_check(&move, p), PRPOLICY_REGISTER_MOVE);
	expect_answer(PRPOLICY_REGISTER_MOVE, 0x24);
	cr_expect_str_eq(prpolicy_why(PRPOLICY_REGISTER_MOVE),
	    "guest PR policy: REGISTER AND MOVE");
}

/* What a guest may do is sent on: the plain registrations, APTPL, the
 * bits of byte 20 the policy does not name, the other service actions
 * whatever their byte 20 holds, and every PR IN. */
Test(prpolicy, the_rest_allowed)
{
	uint8_t p[PRH_DATA_MAX];
	struct proto_req reg = out_req(PRPOLICY_SA_REGISTER, 24);
	static const uint8_t others[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x08,
		0x1f };
	struct proto_req in = { PRH_OP_PR_IN, 0, false, 24 };

	param_with(p, 0x00);
	cr_expect_eq(prpolicy_check(&reg, p), PRPOLICY_ALLOW);
	param_with(p, 0xf3); /* APTPL and reserved bits */
	cr_expect_eq(prpolicy_check(&reg, p), PRPOLICY_ALLOW);
	param_with(p, PRPOLICY_BIT_SPEC_I_PT | PRPOLICY_BIT_ALL_TG_PT);
	for (size_t i = 0; i < sizeof(others); i++) {
		struct proto_req r = out_req(others[i], 24);

		cr_expect_eq(prpolicy_check(&r, p), PRPOLICY_ALLOW,
		    "service action 0x%02x", others[i]);
	}
	for (uint8_t sa = 0; sa < 0x20; sa++) {
		in.service_action = sa;
		cr_expect_eq(prpolicy_check(&in, p), PRPOLICY_ALLOW,
		    "PR IN 0x%02x", sa);
	}
}

/* Byte 20 is read only when the list holds it: a shorter list is the
 * device's to refuse, and the bytes after it are not looked at. */
Test(prpolicy, short_list)
{
	uint8_t p[PRH_DATA_MAX];
	struct proto_req reg = out_req(PRPOLICY_SA_REGISTER, 20);

	param_with(p, PRPOLICY_BIT_SPEC_I_PT);
	cr_expect_eq(prpolicy_check(&reg, p), PRPOLICY_ALLOW);
	reg.len = 0;
	cr_expect_eq(prpolicy_check(&reg, p), PRPOLICY_ALLOW);
	reg.len = 21;
	cr_expect_eq(prpolicy_check(&reg, p), PRPOLICY_SPEC_I_PT);
}

/* A GOOD REPORT CAPABILITIES answer of size bytes, byte i = base + i,
 * byte 2 = flags; the rest of the buffer 0xee. */
static void
caps(uint8_t d[PRH_DATA_MAX], struct scsi_result *r, uint32_t size,
    uint8_t flags)
{
	memset(d, 0xee, PRH_DATA_MAX);
	for (uint32_t i = 0; i < size; i++)
		d[i] = (uint8_t)(0x10 + i);
	if (size > 2)
		d[2] = flags;
	scsi_result_status(r, PRH_STATUS_GOOD);
	r->size = size;
}

Test(prpolicy, report_capabilities_masked)
{
	static const uint8_t want[8] = { 0x10, 0x11, 0xf3, 0x13, 0x14, 0x15,
		0x16, 0x17 };
	uint8_t d[PRH_DATA_MAX], rest[PRH_DATA_MAX];
	struct proto_req rc = { PRH_OP_PR_IN, PRPOLICY_SA_REPORT_CAPS, false,
		8 };
	struct scsi_result r;

	caps(d, &r, 8, 0xff);
	cr_expect(prpolicy_mask_caps(&rc, d, &r));
	cr_expect_arr_eq(d, want, sizeof(want));
	memset(rest, 0xee, sizeof(rest));
	cr_expect_arr_eq(d + 8, rest, PRH_DATA_MAX - 8, "past the answer");
	cr_expect_eq(r.status, PRH_STATUS_GOOD);
	cr_expect_eq(r.size, 8);
	/* Each bit alone; already clear: nothing to do. */
	caps(d, &r, 8, PRPOLICY_SIP_C | 0x01);
	cr_expect(prpolicy_mask_caps(&rc, d, &r));
	cr_expect_eq(d[2], 0x01);
	caps(d, &r, 8, PRPOLICY_ATP_C | 0x80);
	cr_expect(prpolicy_mask_caps(&rc, d, &r));
	cr_expect_eq(d[2], 0x80);
	caps(d, &r, 8, 0xf3);
	cr_expect_not(prpolicy_mask_caps(&rc, d, &r));
	cr_expect_eq(d[2], 0xf3);
	/* An allocation length of 3 still returns byte 2. */
	caps(d, &r, 3, 0x0c);
	cr_expect(prpolicy_mask_caps(&rc, d, &r));
	cr_expect_eq(d[2], 0x00);
}

/* Only bytes the device returned, of a GOOD REPORT CAPABILITIES, are
 * touched. */
Test(prpolicy, report_capabilities_untouched)
{
	uint8_t d[PRH_DATA_MAX];
	struct proto_req rc = { PRH_OP_PR_IN, PRPOLICY_SA_REPORT_CAPS, false,
		8 };
	struct proto_req keys = { PRH_OP_PR_IN, 0x00, false, 8 };
	struct proto_req out = out_req(PRPOLICY_SA_REPORT_CAPS, 24);
	struct scsi_result r;

	caps(d, &r, 2, 0);
	d[2] = 0x0c; /* beyond the answer */
	cr_expect_not(prpolicy_mask_caps(&rc, d, &r));
	cr_expect_eq(d[2], 0x0c);
	caps(d, &r, 0, 0);
	d[2] = 0x0c;
	cr_expect_not(prpolicy_mask_caps(&rc, d, &r));
	cr_expect_eq(d[2], 0x0c);
	caps(d, &r, 8, 0x0c);
	r.status = PRH_STATUS_CHECK_CONDITION;
	cr_expect_not(prpolicy_mask_caps(&rc, d, &r));
	cr_expect_eq(d[2], 0x0c);
	caps(d, &r, 8, 0x0c);
	cr_expect_not(prpolicy_mask_caps(&keys, d, &r));
	cr_expect_not(prpolicy_mask_caps(&out, d, &r));
	cr_expect_eq(d[2], 0x0c);
}
