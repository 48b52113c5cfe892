/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Request framing and validation, and reply encoding: pure functions over
 * byte buffers.  No I/O, no allocation, no libevent.  Safe on any thread.
 */
#ifndef PRH_PROTO_H
#define PRH_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prh/protocol.h"

/* What the helper needs to know about one CDB. */
struct proto_req {
	uint8_t opcode;		/* PRH_OP_PR_IN or PRH_OP_PR_OUT */
	uint8_t service_action; /* CDB[1] & 0x1f */
	bool is_out;		/* PR OUT: a parameter list follows */
	uint32_t len; /* BE16(CDB[7..8]): allocation or parameter length */
};

/* Read a big-endian 16-bit value. */
static inline uint32_t
proto_get_be16(const uint8_t *p)
{
	return ((uint32_t)p[0] << 8) | p[1];
}

/* Read a big-endian 32-bit value. */
static inline uint32_t
proto_get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | p[3];
}

/* Read a big-endian 64-bit value (a reservation key). */
static inline uint64_t
proto_get_be64(const uint8_t *p)
{
	return ((uint64_t)proto_get_be32(p) << 32) | proto_get_be32(p + 4);
}

/* Write a big-endian 32-bit value. */
static inline void
proto_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* Encode the helper's feature word (always 0) into buf. */
void proto_encode_hello(uint8_t buf[PRH_HELLO_LEN]);

/* Check the client's feature word: 0 if acceptable, -EPROTO otherwise. */
int proto_check_hello(const uint8_t buf[PRH_HELLO_LEN]);

/* Parse and validate a CDB: 0 and *req filled, -EPROTO for an opcode other
 * than PR IN/OUT, -EMSGSIZE for a length above PRH_DATA_MAX. */
int proto_parse_cdb(const uint8_t cdb[PRH_CDB_LEN], struct proto_req *req);

/* Encode a reply header: status, payload size and the 96 sense bytes. */
void proto_encode_reply(uint8_t hdr[PRH_REPLY_HDR_LEN], uint32_t status,
    uint32_t size, const uint8_t sense[PRH_SENSE_LEN]);

#endif
