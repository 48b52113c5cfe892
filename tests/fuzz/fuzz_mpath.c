/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target: the PR OUT translation for libmpathpersist
 * (mpath_xlate_out in mpath_xlate.c).
 *
 * Input: CDB byte 1 (service action), CDB byte 2 (scope and type), then
 * the parameter list (the rest, at most PRH_DATA_MAX bytes).  Checked for
 * every input:
 *  - a refusal is CHECK CONDITION, ILLEGAL REQUEST 1A/00, 24/00 or 26/00
 *    in 18-byte fixed format followed by zeros, size 0;
 *  - an accepted list has a service action 0..6, at least 24 bytes, the
 *    key, service action key and flags of the list, zero in every other
 *    field the library sends, at most 32 transport IDs, each pointer
 *    into the caller's array and of a protocol the library encodes (FC,
 *    SAS, iSCSI with a NUL-terminated name of at most 252 bytes, a
 *    multiple of 4);
 *  - encoding the IDs back as the library does takes no more room than
 *    the client's list took, so it always fits the library's 8192-byte
 *    buffer, and gives the client's bytes back for every field that is
 *    not reserved.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "prh/mpath_xlate.h"
#include "prh/proto.h"

/* Encode t as the library does into b; its length. */
static uint32_t
fuzz_encode(const struct mpath_abi_tid *t, uint8_t *b)
{
	uint32_t n;

	b[0] = t->format_code | t->protocol_id;
	switch (t->protocol_id) {
	case MPATH_ABI_PROTO_FC:
		memcpy(b + 8, t->u.n_port_name, 8);
		return 24;
	case MPATH_ABI_PROTO_SAS:
		memcpy(b + 4, t->u.sas_address, 8);
		return 24;
	default:
		n = (uint32_t)t->u.iscsi_name[1] + 2;
		memcpy(b + 2, t->u.iscsi_name, n);
		return n + 2;
	}
}

/* Check an accepted translation against the client's list. */
static void
fuzz_check_accepted(uint8_t sa, uint8_t st, const uint8_t *p, uint32_t len,
    const struct mpath_prout *out)
{
	static uint8_t enc[MPATH_ABI_PARAM_MAX];
	const struct mpath_abi_prout_param *q = out->param;
	uint32_t off = 28, used = 0, n;

	FUZZ_CHECK(sa <= 6 && out->sa == sa, "sa %u", sa);
	FUZZ_CHECK(out->scope == st >> 4 && out->type == (st & 15u), "st");
	FUZZ_CHECK(len >= 24, "len %u", len);
	FUZZ_CHECK(memcmp(q->key, p, 8) == 0, "key");
	FUZZ_CHECK(memcmp(q->sa_key, p + 8, 8) == 0, "sa key");
	FUZZ_CHECK(q->sa_flags == p[20], "flags");
	FUZZ_CHECK(q->obsolete0 == 0 && q->reserved0 == 0 && q->reserved1 == 0,
	    "reserved fields");
	for (size_t i = 0; i < sizeof(q->buffer); i++)
		FUZZ_CHECK(q->buffer[i] == 0, "buffer byte %zu", i);
	FUZZ_CHECK(q->num_tids <= MPATH_ABI_TIDS_MAX, "%u ids", q->num_tids);
	FUZZ_CHECK(q->num_tids == 0 || len > 24, "ids in a 24-byte list");
	memset(enc, 0, sizeof(enc));
	for (uint32_t i = 0; i < q->num_tids; i++) {
		const struct mpath_abi_tid *t = q->tids[i];

		FUZZ_CHECK(t == &out->tid[i], "id %u points elsewhere", i);
		FUZZ_CHECK(t->protocol_id == MPATH_ABI_PROTO_FC ||
			t->protocol_id == MPATH_ABI_PROTO_SAS ||
			t->protocol_id == MPATH_ABI_PROTO_ISCSI,
		    "protocol %u", t->protocol_id);
		if (t->protocol_id == MPATH_ABI_PROTO_ISCSI) {
			n = proto_get_be16(t->u.iscsi_name);
			FUZZ_CHECK(t->u.iscsi_name[0] == 0 && n <= 252 &&
				n % 4 == 0,
			    "iscsi length %u", n);
			FUZZ_CHECK(memchr(t->u.iscsi_name + 2, 0, n) != NULL,
			    "iscsi name without NUL");
		} else {
			FUZZ_CHECK(t->format_code == 0, "format %02x",
			    t->format_code);
		}
		n = fuzz_encode(t, enc + used);
		FUZZ_CHECK(off + n <= len, "id %u ends past the list", i);
		FUZZ_CHECK(enc[used] == (p[off] & 0xcf), "id %u byte 0", i);
		if (t->protocol_id == MPATH_ABI_PROTO_ISCSI)
			FUZZ_CHECK(memcmp(enc + used + 2, p + off + 2, n - 2) ==
				0,
			    "id %u name", i);
		else if (t->protocol_id == MPATH_ABI_PROTO_FC)
			FUZZ_CHECK(memcmp(enc + used + 8, p + off + 8, 8) == 0,
			    "id %u N_Port name", i);
		else
			FUZZ_CHECK(memcmp(enc + used + 4, p + off + 4, 8) == 0,
			    "id %u SAS address", i);
		off += n;
		used += n;
	}
	/* the library's buffer: 4 bytes of list length, then the IDs */
	FUZZ_CHECK(4 + used <= MPATH_ABI_PARAM_MAX, "%u bytes encoded", used);
	FUZZ_CHECK(len == 24 || used <= len - 28, "encoding grew");
}

/* Run one input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t storage[MPATH_PROUT_PARAM_SIZE]
	    __attribute__((aligned(16)));
	static uint8_t param[PRH_DATA_MAX];
	static struct mpath_prout out;
	struct fuzz_in in = { data, size };
	struct scsi_result res;
	uint8_t cdb[PRH_CDB_LEN];
	uint32_t len = fuzz_pr_out(&in, cdb, param);

	memset(&out, 0xa5, sizeof(out));
	out.param = (struct mpath_abi_prout_param *)storage;
	memset(storage, 0xa5, sizeof(storage));
	memset(&res, 0xa5, sizeof(res));
	if (mpath_xlate_out(cdb, param, len, &out, &res) < 0)
		fuzz_check_pr_out_refusal(&res);
	else
		fuzz_check_accepted(cdb[1] & 0x1f, cdb[2], param, len, &out);
	return 0;
}
