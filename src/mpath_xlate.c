/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Translation between PERSISTENT RESERVE IN/OUT as the helper receives
 * them and libmpathpersist's calls (see mpath_xlate.h).  Written to
 * answer as QEMU's multipath mode does, from its observed behaviour and
 * multipath-tools' documented interface.
 *
 * The library builds its own CDBs: only the service action, scope and
 * type of the client's CDB reach the device.  It sends the 24-byte
 * parameter header itself, followed by the transport IDs it encodes from
 * mpath_abi_tid, so the parameter list is decoded here to exactly what it
 * can encode, and refused otherwise.
 */
#include <string.h>

#include "prh/mpath_xlate.h"
#include "prh/proto.h"

#define PR_IN_READ_KEYS		  0x00
#define PR_IN_READ_RESERVATION	  0x01
#define PR_IN_REPORT_CAPABILITIES 0x02

#define PR_OUT_REGISTER_IGNORE 0x06 /* the last service action it takes */

#define PARAM_HDR_LEN 24  /* key, SA key, scope address, flags, obsolete */
#define TID_LIST_OFF  28  /* first transport ID after the list length */
#define TID_FC_SAS    24  /* bytes of an FC or SAS transport ID */
#define TID_ISCSI_MAX 252 /* longest iSCSI name the library encodes */

/* Write a big-endian 16-bit value (a library field in host order). */
static void
mpath_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

/* PR IN: the library's service action, or -1 with res answered. */
int
mpath_xlate_in(const uint8_t cdb[PRH_CDB_LEN], struct scsi_result *res)
{
	int sa = cdb[1] & 0x1f;

	switch (sa) {
	case PR_IN_READ_KEYS:
	case PR_IN_READ_RESERVATION:
	case PR_IN_REPORT_CAPABILITIES:
		return sa;
	default:
		/* READ FULL STATUS included: the library rewrites it into
		 * pointers past the end of its own answer buffer. */
		scsi_result_check(res, PRH_SK_ILLEGAL_REQUEST, 0x24, 0x00);
		return -1;
	}
}

/* Rebuild the SCSI parameter data of a PR IN answer. */
void
mpath_xlate_in_data(int sa, const struct mpath_abi_prin_resp *resp,
    uint32_t alloc_len, uint8_t *data, struct scsi_result *res)
{
	const struct mpath_abi_prin_keys *k = &resp->u.keys;
	const struct mpath_abi_prin_caps *c = &resp->u.caps;
	uint32_t n;

	memset(data, 0, PRH_DATA_MAX);
	if (sa == PR_IN_REPORT_CAPABILITIES) {
		mpath_put_be16(data, c->length);
		data[2] = c->flags[0];
		data[3] = c->flags[1];
		mpath_put_be16(data + 4, c->type_mask);
	} else {
		/* READ KEYS and READ RESERVATION: header, then the device's
		 * bytes as far as they fit. */
		proto_put_be32(data, k->generation);
		proto_put_be32(data + 4, k->additional_length);
		n = k->additional_length;
		if (n > PRH_DATA_MAX - 8)
			n = PRH_DATA_MAX - 8;
		memcpy(data + 8, k->data, n);
	}
	scsi_result_status(res, PRH_STATUS_GOOD);
	res->size = alloc_len < PRH_DATA_MAX ? alloc_len : PRH_DATA_MAX;
}

/* Decode one transport ID at p (avail bytes to the end of the list) into
 * t; its length, or 0 if the library cannot take it. */
static uint32_t
mpath_xlate_tid(const uint8_t *p, uint32_t avail, struct mpath_abi_tid *t)
{
	uint32_t n;

	memset(t, 0, sizeof(*t));
	t->format_code = p[0] & 0xc0;
	t->protocol_id = p[0] & 0x0f;
	switch (p[0] & 0xcf) {
	case 0x00: /* FC, N_Port name */
		if (avail < TID_FC_SAS)
			return 0;
		memcpy(t->u.n_port_name, p + 8, 8);
		return TID_FC_SAS;
	case 0x06: /* SAS address */
		if (avail < TID_FC_SAS)
			return 0;
		memcpy(t->u.sas_address, p + 4, 8);
		return TID_FC_SAS;
	case 0x05: /* iSCSI name */
	case 0x45: /* iSCSI name and ISID */
		if (avail < 4)
			return 0;
		n = proto_get_be16(p + 2);
		if (n > TID_ISCSI_MAX || n % 4 != 0 || n > avail - 4 ||
		    memchr(p + 4, '\0', n) == NULL)
			return 0;
		/* the library encodes 2 + name[1] bytes from name: the
		 * length field, then the name */
		memcpy(t->u.iscsi_name, p + 2, n + 2);
		return n + 4;
	default: /* SRP, 1394, SOP, other formats: not encodable */
		return 0;
	}
}

/* Decode the transport ID list of a parameter list longer than 24 bytes
 * into out; 0, or -1 with res answered. */
static int
mpath_xlate_tids(const uint8_t *param, uint32_t len, struct mpath_prout *out,
    struct scsi_result *res)
{
	struct mpath_abi_prout_param *p = out->param;
	uint64_t end;
	uint32_t off, n;

	if (len < TID_LIST_OFF) {
		scsi_result_check(res, PRH_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
		return -1;
	}
	end = (uint64_t)proto_get_be32(param + PARAM_HDR_LEN) + TID_LIST_OFF;
	if (end > len)
		goto bad;
	for (off = TID_LIST_OFF; off < end; off += n) {
		/* the 33rd ID is refused (26/00); QEMU aborts */
		if (p->num_tids == MPATH_ABI_TIDS_MAX)
			goto bad;
		n = mpath_xlate_tid(param + off, (uint32_t)end - off,
		    &out->tid[p->num_tids]);
		if (n == 0)
			goto bad;
		p->tids[p->num_tids] = &out->tid[p->num_tids];
		p->num_tids++;
	}
	return 0;
bad:
	scsi_result_check(res, PRH_SK_ILLEGAL_REQUEST, 0x26, 0x00);
	return -1;
}

/* PR OUT: the library's arguments, or -1 with res answered. */
int
mpath_xlate_out(const uint8_t cdb[PRH_CDB_LEN], const uint8_t *param,
    uint32_t len, struct mpath_prout *out, struct scsi_result *res)
{
	struct mpath_abi_prout_param *p = out->param;

	memset(p, 0, MPATH_PROUT_PARAM_SIZE);
	out->sa = cdb[1] & 0x1f;
	out->scope = cdb[2] >> 4;
	out->type = cdb[2] & 0x0f;
	/* the length check comes first, as in QEMU */
	if (len < PARAM_HDR_LEN) {
		scsi_result_check(res, PRH_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
		return -1;
	}
	if (out->sa > PR_OUT_REGISTER_IGNORE) { /* REGISTER AND MOVE, ... */
		scsi_result_check(res, PRH_SK_ILLEGAL_REQUEST, 0x24, 0x00);
		return -1;
	}
	memcpy(p->key, param, 8);
	memcpy(p->sa_key, param + 8, 8);
	p->sa_flags = param[20];
	if (len > PARAM_HDR_LEN)
		return mpath_xlate_tids(param, len, out, res);
	return 0;
}

/* One library result and the answer for it. */
struct mpath_xlate_map {
	int code;
	const char *name;
	uint8_t status;
	uint8_t key, asc, ascq;
	int tur; /* a TEST UNIT READY may give the real sense */
};

/* The library's result codes as QEMU's multipath mode answers them; every
 * code not listed answers ABORTED COMMAND 08/00. */
static const struct mpath_xlate_map mpath_xlate_maps[] = {
	{ MPATH_ABI_SUCCESS, "success", PRH_STATUS_GOOD, 0, 0, 0, 0 },
	{ MPATH_ABI_SYNTAX_ERROR, "syntax error", PRH_STATUS_CHECK_CONDITION,
	    PRH_SK_ABORTED_COMMAND, 0x08, 0x00, 0 },
	{ MPATH_ABI_SENSE_NOT_READY, "not ready", PRH_STATUS_CHECK_CONDITION,
	    PRH_SK_NOT_READY, 0x04, 0x00, 1 },
	{ MPATH_ABI_SENSE_MEDIUM_ERROR, "medium error",
	    PRH_STATUS_CHECK_CONDITION, PRH_SK_MEDIUM_ERROR, 0x11, 0x00, 1 },
	{ MPATH_ABI_SENSE_HARDWARE_ERROR, "hardware error",
	    PRH_STATUS_CHECK_CONDITION, PRH_SK_HARDWARE_ERROR, 0x44, 0x00, 1 },
	{ MPATH_ABI_ILLEGAL_REQ, "illegal request", PRH_STATUS_CHECK_CONDITION,
	    PRH_SK_ILLEGAL_REQUEST, 0x26, 0x00, 0 },
	{ MPATH_ABI_SENSE_UNIT_ATTENTION, "unit attention",
	    PRH_STATUS_CHECK_CONDITION, PRH_SK_UNIT_ATTENTION, 0x29, 0x02, 0 },
	{ MPATH_ABI_SENSE_INVALID_OP, "invalid operation",
	    PRH_STATUS_CHECK_CONDITION, PRH_SK_ILLEGAL_REQUEST, 0x20, 0x00, 0 },
	{ MPATH_ABI_SENSE_ABORTED_COMMAND, "aborted command",
	    PRH_STATUS_CHECK_CONDITION, PRH_SK_ABORTED_COMMAND, 0x00, 0x06, 1 },
	{ MPATH_ABI_NO_SENSE, "no sense", PRH_STATUS_CHECK_CONDITION,
	    PRH_SK_NO_SENSE, 0x00, 0x00, 0 },
	{ MPATH_ABI_SENSE_MALFORMED, "malformed response",
	    PRH_STATUS_CHECK_CONDITION, PRH_SK_ABORTED_COMMAND, 0x08, 0x00, 0 },
	{ MPATH_ABI_RESERV_CONFLICT, "reservation conflict",
	    PRH_STATUS_RESERVATION_CONFLICT, 0, 0, 0, 0 },
	{ MPATH_ABI_FILE_ERROR, "device file error", PRH_STATUS_CHECK_CONDITION,
	    PRH_SK_ABORTED_COMMAND, 0x08, 0x00, 0 },
	{ MPATH_ABI_DMMP_ERROR, "device-mapper error",
	    PRH_STATUS_CHECK_CONDITION, PRH_SK_ABORTED_COMMAND, 0x08, 0x00, 0 },
	{ MPATH_ABI_THREAD_ERROR, "thread error", PRH_STATUS_CHECK_CONDITION,
	    PRH_SK_ABORTED_COMMAND, 0x08, 0x00, 0 },
	{ MPATH_ABI_OTHER, "other error", PRH_STATUS_CHECK_CONDITION,
	    PRH_SK_ABORTED_COMMAND, 0x08, 0x00, 0 },
};

/* What any other code (a path's failed ioctl returns -1) answers. */
static const struct mpath_xlate_map mpath_xlate_unknown = { 0, "unknown result",
	PRH_STATUS_CHECK_CONDITION, PRH_SK_ABORTED_COMMAND, 0x08, 0x00, 0 };

/* The table row for code. */
static const struct mpath_xlate_map *
mpath_xlate_find(int code)
{
	size_t i;

	for (i = 0; i < sizeof(mpath_xlate_maps) / sizeof(mpath_xlate_maps[0]);
	     i++)
		if (mpath_xlate_maps[i].code == code)
			return &mpath_xlate_maps[i];
	return &mpath_xlate_unknown;
}

/* Map a library result code into res; 1 if a TUR may refine it. */
int
mpath_xlate_result(int code, struct scsi_result *res)
{
	const struct mpath_xlate_map *m = mpath_xlate_find(code);

	if (m->status == PRH_STATUS_CHECK_CONDITION)
		scsi_result_check(res, m->key, m->asc, m->ascq);
	else
		scsi_result_status(res, m->status);
	return m->tur;
}

/* Name of a library result code. */
const char *
mpath_xlate_result_name(int code)
{
	return mpath_xlate_find(code)->name;
}
