/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Request framing and validation, and reply encoding for the helper
 * protocol (wire layout in prh/protocol.h).  Pure functions over byte
 * buffers: no I/O, no allocation, safe on any thread.
 *
 * Only what the wire format itself decides is checked here: the feature
 * word, the opcode and the transfer length.  Access-mode rules (PR OUT on
 * an O_RDONLY fd) need the fd and are the caller's business.
 */
#include <errno.h>
#include <string.h>

#include "prh/proto.h"

/* Encode the helper's feature word (always 0) into buf. */
void
proto_encode_hello(uint8_t buf[PRH_HELLO_LEN])
{
	proto_put_be32(buf, 0);
}

/* Check the client's feature word: any non-zero value is refused. */
int
proto_check_hello(const uint8_t buf[PRH_HELLO_LEN])
{
	if (proto_get_be32(buf) != 0)
		return -EPROTO;
	return 0;
}

/*
 * Parse and validate a CDB.  The length is the BE16 at bytes 7..8 for both
 * PR IN (allocation length) and PR OUT (parameter list length); bytes 5..6
 * of a PR OUT are ignored, as QEMU's helper and client do.
 */
int
proto_parse_cdb(const uint8_t cdb[PRH_CDB_LEN], struct proto_req *req)
{
	uint32_t len;

	if (cdb[0] != PRH_OP_PR_IN && cdb[0] != PRH_OP_PR_OUT)
		return -EPROTO;
	len = proto_get_be16(cdb + 7);
	if (len > PRH_DATA_MAX)
		return -EMSGSIZE;
	req->opcode = cdb[0];
	req->service_action = cdb[1] & 0x1f;
	req->is_out = cdb[0] == PRH_OP_PR_OUT;
	req->len = len;
	return 0;
}

/* Encode a reply header: BE32 status, BE32 size, then the 96 sense bytes. */
void
proto_encode_reply(uint8_t hdr[PRH_REPLY_HDR_LEN], uint32_t status,
    uint32_t size, const uint8_t sense[PRH_SENSE_LEN])
{
	proto_put_be32(hdr, status);
	proto_put_be32(hdr + 4, size);
	memcpy(hdr + 8, sense, PRH_SENSE_LEN);
}
