/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for proto: feature word, CDB validation, reply encoding. */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "prh/proto.h"

/* One CDB validation case. */
struct cdb_case {
	const char *name;
	uint8_t cdb[PRH_CDB_LEN];
	int ret;	/* expected return value */
	uint8_t opcode; /* expected fields when ret == 0 */
	uint8_t sa;
	bool is_out;
	uint32_t len;
};

/* Expected outcome: accepted with these fields, or refused with err. */
#define OK(op, sa, out, len) 0, (op), (sa), (out), (len)
#define ERR(err)	     (err), 0, 0, false, 0

static const struct cdb_case cdb_cases[] = {
	{ "pr in read keys, len 0", { 0x5e, 0x00 }, OK(0x5e, 0x00, false, 0) },
	{ "pr in read reservation, len 8192",
	    { 0x5e, 0x01, 0, 0, 0, 0, 0, 0x20, 0x00 },
	    OK(0x5e, 0x01, false, 8192) },
	{ "pr in, len 8193", { 0x5e, 0x00, 0, 0, 0, 0, 0, 0x20, 0x01 },
	    ERR(-EMSGSIZE) },
	{ "pr in, len 65535", { 0x5e, 0x00, 0, 0, 0, 0, 0, 0xff, 0xff },
	    ERR(-EMSGSIZE) },
	{ "pr in, len 1024", { 0x5e, 0x00, 0, 0, 0, 0, 0, 0x04, 0x00 },
	    OK(0x5e, 0x00, false, 1024) },
	{ "pr out register, len 24", { 0x5f, 0x00, 0, 0, 0, 0, 0, 0x00, 0x18 },
	    OK(0x5f, 0x00, true, 24) },
	{ "pr out, len 0", { 0x5f, 0x01 }, OK(0x5f, 0x01, true, 0) },
	{ "pr out, len 8192", { 0x5f, 0x06, 0, 0, 0, 0, 0, 0x20, 0x00 },
	    OK(0x5f, 0x06, true, 8192) },
	{ "pr out, len 8193", { 0x5f, 0x00, 0, 0, 0, 0, 0, 0x20, 0x01 },
	    ERR(-EMSGSIZE) },
	{ "pr out, len 65535", { 0x5f, 0x00, 0, 0, 0, 0, 0, 0xff, 0xff },
	    ERR(-EMSGSIZE) },
	{ "pr out, bytes 5-6 ignored (00 01 00 18 is 24)",
	    { 0x5f, 0x00, 0, 0, 0, 0x00, 0x01, 0x00, 0x18 },
	    OK(0x5f, 0x00, true, 24) },
	{ "pr out, bytes 5-6 ff ff ignored",
	    { 0x5f, 0x00, 0, 0, 0, 0xff, 0xff, 0x00, 0x00 },
	    OK(0x5f, 0x00, true, 0) },
	{ "pr in, bytes 5-6 ignored",
	    { 0x5e, 0x00, 0, 0, 0, 0x12, 0x34, 0x01, 0x00 },
	    OK(0x5e, 0x00, false, 256) },
	{ "service action masked to 5 bits",
	    { 0x5f, 0xe7, 0, 0, 0, 0, 0, 0x00, 0x18 },
	    OK(0x5f, 0x07, true, 24) },
	{ "service action 0x1f kept", { 0x5e, 0xff, 0, 0, 0, 0, 0, 0x00, 0x08 },
	    OK(0x5e, 0x1f, false, 8) },
	{ "bytes 2-4 and 9-15 ignored",
	    { 0x5e, 0x03, 0xaa, 0xbb, 0xcc, 0, 0, 0x00, 0x10, 0xdd, 0xee, 0xff,
		0x11, 0x22, 0x33, 0x44 },
	    OK(0x5e, 0x03, false, 16) },
	{ "opcode 0x00 (test unit ready)", { 0x00 }, ERR(-EPROTO) },
	{ "opcode 0x12 (inquiry)", { 0x12, 0, 0, 0, 0x60 }, ERR(-EPROTO) },
	{ "opcode 0x5d", { 0x5d }, ERR(-EPROTO) },
	{ "opcode 0x60", { 0x60 }, ERR(-EPROTO) },
	{ "opcode 0xde (0x5e | 0x80)", { 0xde }, ERR(-EPROTO) },
	{ "opcode 0xff", { 0xff }, ERR(-EPROTO) },
	{ "opcode 0x2a (write)", { 0x2a, 0, 0, 0, 0, 0, 0, 0x00, 0x01 },
	    ERR(-EPROTO) },
	{ "bad opcode wins over bad length",
	    { 0x12, 0, 0, 0, 0, 0, 0, 0xff, 0xff }, ERR(-EPROTO) },
};

Test(proto, parse_cdb_table)
{
	size_t i;

	for (i = 0; i < sizeof(cdb_cases) / sizeof(cdb_cases[0]); i++) {
		const struct cdb_case *c = &cdb_cases[i];
		struct proto_req req;
		int r;

		memset(&req, 0xa5, sizeof(req));
		r = proto_parse_cdb(c->cdb, &req);
		cr_expect_eq(r, c->ret, "%s: ret %d, expected %d", c->name, r,
		    c->ret);
		if (r != 0 || c->ret != 0)
			continue;
		cr_expect_eq(req.opcode, c->opcode, "%s: opcode", c->name);
		cr_expect_eq(req.service_action, c->sa,
		    "%s: service action "
		    "%#x, expected %#x",
		    c->name, req.service_action, c->sa);
		cr_expect_eq(req.is_out, c->is_out, "%s: is_out", c->name);
		cr_expect_eq(req.len, c->len, "%s: len %u, expected %u",
		    c->name, req.len, c->len);
	}
}

Test(proto, parse_cdb_every_opcode)
{
	uint8_t cdb[PRH_CDB_LEN] = { 0 };
	struct proto_req req;
	unsigned op;
	int r;

	for (op = 0; op < 256; op++) {
		cdb[0] = (uint8_t)op;
		r = proto_parse_cdb(cdb, &req);
		if (op == 0x5e || op == 0x5f)
			cr_expect_eq(r, 0, "opcode %#x refused", op);
		else
			cr_expect_eq(r, -EPROTO, "opcode %#x: %d", op, r);
	}
}

Test(proto, parse_cdb_every_length)
{
	uint8_t cdb[PRH_CDB_LEN] = { PRH_OP_PR_OUT };
	struct proto_req req;
	uint32_t len;
	int r;

	for (len = 0; len <= 0xffff; len++) {
		cdb[7] = len >> 8;
		cdb[8] = len & 0xff;
		r = proto_parse_cdb(cdb, &req);
		if (len <= PRH_DATA_MAX) {
			cr_assert_eq(r, 0, "len %u refused", len);
			cr_assert_eq(req.len, len);
		} else {
			cr_assert_eq(r, -EMSGSIZE, "len %u: %d", len, r);
		}
	}
}

Test(proto, parse_cdb_leaves_req_on_error)
{
	uint8_t cdb[PRH_CDB_LEN] = { 0x5e, 0, 0, 0, 0, 0, 0, 0x20, 0x01 };
	struct proto_req req, orig;

	memset(&req, 0x5a, sizeof(req));
	orig = req;
	cr_assert_eq(proto_parse_cdb(cdb, &req), -EMSGSIZE);
	cr_expect_eq(memcmp(&req, &orig, sizeof(req)), 0);
}

/* One feature-word case. */
struct hello_case {
	uint8_t word[PRH_HELLO_LEN];
	int ret;
};

static const struct hello_case hello_cases[] = {
	{ { 0x00, 0x00, 0x00, 0x00 }, 0 },
	{ { 0x00, 0x00, 0x00, 0x01 }, -EPROTO },
	{ { 0x80, 0x00, 0x00, 0x00 }, -EPROTO },
	{ { 0x00, 0x00, 0x01, 0x00 }, -EPROTO },
	{ { 0x00, 0x01, 0x00, 0x00 }, -EPROTO },
	{ { 0xff, 0xff, 0xff, 0xff }, -EPROTO },
};

Test(proto, check_hello_table)
{
	size_t i;

	for (i = 0; i < sizeof(hello_cases) / sizeof(hello_cases[0]); i++) {
		const struct hello_case *c = &hello_cases[i];

		cr_expect_eq(proto_check_hello(c->word), c->ret,
		    "word %02x%02x%02x%02x", c->word[0], c->word[1], c->word[2],
		    c->word[3]);
	}
}

Test(proto, check_hello_each_bit)
{
	uint8_t w[PRH_HELLO_LEN];
	unsigned bit;

	for (bit = 0; bit < 32; bit++) {
		proto_put_be32(w, 1u << bit);
		cr_expect_eq(proto_check_hello(w), -EPROTO, "bit %u", bit);
	}
}

Test(proto, encode_hello_is_zero)
{
	uint8_t w[PRH_HELLO_LEN] = { 0xff, 0xff, 0xff, 0xff };
	static const uint8_t zero[PRH_HELLO_LEN];

	proto_encode_hello(w);
	cr_expect_eq(memcmp(w, zero, sizeof(w)), 0);
	cr_expect_eq(proto_check_hello(w), 0);
}

Test(proto, encode_reply_layout)
{
	uint8_t hdr[PRH_REPLY_HDR_LEN + 1];
	uint8_t sense[PRH_SENSE_LEN];
	size_t i;

	cr_assert_eq(PRH_REPLY_HDR_LEN, 104);
	for (i = 0; i < sizeof(sense); i++)
		sense[i] = (uint8_t)(i * 7 + 1);
	memset(hdr, 0xee, sizeof(hdr));
	proto_encode_reply(hdr, 0x02, 0x01020304, sense);
	cr_expect_eq(hdr[0], 0x00);
	cr_expect_eq(hdr[1], 0x00);
	cr_expect_eq(hdr[2], 0x00);
	cr_expect_eq(hdr[3], 0x02);
	cr_expect_eq(hdr[4], 0x01);
	cr_expect_eq(hdr[5], 0x02);
	cr_expect_eq(hdr[6], 0x03);
	cr_expect_eq(hdr[7], 0x04);
	cr_expect_eq(memcmp(hdr + 8, sense, PRH_SENSE_LEN), 0);
	cr_expect_eq(hdr[PRH_REPLY_HDR_LEN], 0xee, "wrote past the header");
}

Test(proto, encode_reply_good_and_raw_status)
{
	static const uint8_t zero[PRH_SENSE_LEN];
	static const uint8_t good_8192[8] = { 0, 0, 0, 0, 0, 0, 0x20, 0x00 };
	static const uint8_t raw[8] = { 0, 0, 0, 0x30, 0, 0, 0, 0 };
	static const uint8_t big[8] = { 0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0 };
	uint8_t hdr[PRH_REPLY_HDR_LEN];

	proto_encode_reply(hdr, 0x00, 8192, zero);
	cr_expect_eq(memcmp(hdr, good_8192, 8), 0);
	cr_expect_eq(memcmp(hdr + 8, zero, PRH_SENSE_LEN), 0);
	proto_encode_reply(hdr, 0x30, 0, zero);
	cr_expect_eq(memcmp(hdr, raw, 8), 0);
	proto_encode_reply(hdr, 0xffffffff, 0x80000000, zero);
	cr_expect_eq(memcmp(hdr, big, 8), 0);
}

Test(proto, be_helpers)
{
	static const uint8_t b[4] = { 0x12, 0x34, 0x56, 0x78 };
	uint8_t out[4];

	cr_expect_eq(proto_get_be16(b), 0x1234);
	cr_expect_eq(proto_get_be32(b), 0x12345678);
	proto_put_be32(out, 0x12345678);
	cr_expect_eq(memcmp(out, b, 4), 0);
	proto_put_be32(out, 0xfedcba98);
	cr_expect_eq(proto_get_be32(out), 0xfedcba98);
}
