/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target: request framing and validation, reply encoding (proto.c).
 *
 * Input: 16 CDB bytes, 4 hello bytes, then status, size and sense for a
 * reply header (missing bytes read as zero).  Every result is checked
 * against the wire rules of prh/protocol.h recomputed here.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "prh/proto.h"
#include "fuzz.h"

/* proto_parse_cdb(): accept exactly PR IN/OUT with a length <= 8192. */
static void
fuzz_cdb(const uint8_t cdb[PRH_CDB_LEN])
{
	struct proto_req req;
	uint32_t len = ((uint32_t)cdb[7] << 8) | cdb[8];
	int r;

	memset(&req, 0xa5, sizeof(req));
	r = proto_parse_cdb(cdb, &req);
	if (cdb[0] != PRH_OP_PR_IN && cdb[0] != PRH_OP_PR_OUT) {
		FUZZ_CHECK(r == -EPROTO, "opcode 0x%02x gave %d", cdb[0], r);
		return;
	}
	if (len > PRH_DATA_MAX) {
		FUZZ_CHECK(r == -EMSGSIZE, "len %u gave %d", len, r);
		return;
	}
	FUZZ_CHECK(r == 0, "valid CDB refused: %d", r);
	FUZZ_CHECK(req.opcode == cdb[0], "opcode 0x%02x", req.opcode);
	FUZZ_CHECK(req.service_action == (cdb[1] & 0x1f), "sa %u",
	    req.service_action);
	FUZZ_CHECK(req.is_out == (cdb[0] == PRH_OP_PR_OUT), "is_out %d",
	    (int)req.is_out);
	FUZZ_CHECK(req.len == len && req.len <= PRH_DATA_MAX, "len %u",
	    req.len);
}

/* proto_check_hello(): only the all-zero feature word is accepted; the
 * helper's own hello is. */
static void
fuzz_hello(const uint8_t hello[PRH_HELLO_LEN])
{
	uint8_t ours[PRH_HELLO_LEN];
	int zero = !(hello[0] | hello[1] | hello[2] | hello[3]);
	int r;

	r = proto_check_hello(hello);
	FUZZ_CHECK(zero ? r == 0 : r == -EPROTO,
	    "hello %02x%02x%02x%02x "
	    "gave %d",
	    hello[0], hello[1], hello[2], hello[3], r);
	memset(ours, 0xff, sizeof(ours));
	proto_encode_hello(ours);
	FUZZ_CHECK(proto_check_hello(ours) == 0, "own hello refused");
}

/* proto_encode_reply(): BE32 status, BE32 size, sense verbatim. */
static void
fuzz_reply(uint32_t status, uint32_t size, const uint8_t sense[PRH_SENSE_LEN])
{
	uint8_t hdr[PRH_REPLY_HDR_LEN + 1];

	hdr[PRH_REPLY_HDR_LEN] = 0x5a; /* must stay untouched */
	proto_encode_reply(hdr, status, size, sense);
	FUZZ_CHECK(proto_get_be32(hdr) == status, "status");
	FUZZ_CHECK(hdr[0] == (uint8_t)(status >> 24) &&
		hdr[3] == (uint8_t)status,
	    "status byte order");
	FUZZ_CHECK(proto_get_be32(hdr + 4) == size, "size");
	FUZZ_CHECK(hdr[4] == (uint8_t)(size >> 24) && hdr[7] == (uint8_t)size,
	    "size byte order");
	FUZZ_CHECK(memcmp(hdr + 8, sense, PRH_SENSE_LEN) == 0, "sense");
	FUZZ_CHECK(hdr[PRH_REPLY_HDR_LEN] == 0x5a, "wrote past the header");
}

/* One input: a CDB, a hello, a reply header. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t cdb[PRH_CDB_LEN], hello[PRH_HELLO_LEN];
	uint8_t sense[PRH_SENSE_LEN];
	uint32_t status, len;

	fuzz_bytes(&in, cdb, sizeof(cdb));
	fuzz_bytes(&in, hello, sizeof(hello));
	status = fuzz_u32(&in);
	len = fuzz_u32(&in);
	fuzz_bytes(&in, sense, sizeof(sense));
	fuzz_cdb(cdb);
	fuzz_hello(hello);
	fuzz_reply(status, len, sense);
	return 0;
}
