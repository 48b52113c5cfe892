/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lunsim: SPC-4 persistent reservations (PERSISTENT RESERVE IN and OUT)
 * on the in-memory copy of a LUN header.  One target port (relative port
 * identifier 1); initiators are named, and their TransportIDs are iSCSI
 * (protocol identifier 5, format 00b) carrying the name.
 */
#include <string.h>

#include "lunsim.h"

/* PR IN service actions. */
#define SA_READ_KEYS	       0x00
#define SA_READ_RESERVATION    0x01
#define SA_REPORT_CAPABILITIES 0x02
#define SA_READ_FULL_STATUS    0x03

/* PR OUT service actions. */
#define SA_REGISTER	   0x00
#define SA_RESERVE	   0x01
#define SA_RELEASE	   0x02
#define SA_CLEAR	   0x03
#define SA_PREEMPT	   0x04
#define SA_PREEMPT_ABORT   0x05
#define SA_REGISTER_IGNORE 0x06
#define SA_REGISTER_MOVE   0x07

/* Parameter list flags (byte 20). */
#define PARAM_SPEC_I_PT 0x08
#define PARAM_ALL_TG_PT 0x04
#define PARAM_APTPL	0x01

#define STATUS_CONFLICT	   0x18
#define SK_ILLEGAL_REQUEST 0x5
#define PR_BUF_MAX	   8192

/* Whether t is a reservation type the LUN supports. */
static int
type_valid(unsigned t)
{
	return t == LUNSIM_PR_WE || t == LUNSIM_PR_EA || t == LUNSIM_PR_WE_RO ||
	    t == LUNSIM_PR_EA_RO || t == LUNSIM_PR_WE_AR ||
	    t == LUNSIM_PR_EA_AR;
}

/* Whether t is an all-registrants type. */
static int
type_all_reg(unsigned t)
{
	return t == LUNSIM_PR_WE_AR || t == LUNSIM_PR_EA_AR;
}

/* Index of initiator's slot, or -1. */
int
lunsim_itn_find(const struct lunsim_hdr *h, const char *initiator)
{
	int i;

	for (i = 0; i < LUNSIM_MAX_ITN; i++)
		if (h->itn[i].used &&
		    strncmp(h->itn[i].name, initiator, LUNSIM_NAME_MAX - 1) ==
			0)
			return i;
	return -1;
}

/* Find or allocate initiator's slot: index, or -1 if the table is full. */
static int
itn_get(struct lunsim_hdr *h, const char *initiator)
{
	int i, idle = -1;

	i = lunsim_itn_find(h, initiator);
	if (i >= 0)
		return i;
	for (i = 0; i < LUNSIM_MAX_ITN; i++) {
		if (!h->itn[i].used)
			break;
		if (idle < 0 && !h->itn[i].registered &&
		    h->itn[i].ua_count == 0 && h->res_holder != i)
			idle = i;
	}
	if (i == LUNSIM_MAX_ITN)
		i = idle;
	if (i < 0)
		return -1;
	memset(&h->itn[i], 0, sizeof(h->itn[i]));
	h->itn[i].used = 1;
	strncpy(h->itn[i].name, initiator, LUNSIM_NAME_MAX - 1);
	return i;
}

/* Queue unit attention asc/ascq for slot i (duplicates are merged). */
void
lunsim_ua_queue(struct lunsim_hdr *h, int i, uint8_t asc, uint8_t ascq)
{
	struct lunsim_itn *t = &h->itn[i];
	uint16_t ua = (uint16_t)(asc << 8 | ascq);
	unsigned j;

	for (j = 0; j < t->ua_count; j++)
		if (t->ua[j] == ua)
			return;
	if (t->ua_count < LUNSIM_UA_MAX)
		t->ua[t->ua_count++] = ua;
}

/* Queue a unit attention for every registrant but slot skip. */
static void
ua_registrants(struct lunsim_hdr *h, int skip, uint8_t asc, uint8_t ascq)
{
	int i;

	for (i = 0; i < LUNSIM_MAX_ITN; i++)
		if (i != skip && h->itn[i].used && h->itn[i].registered)
			lunsim_ua_queue(h, i, asc, ascq);
}

/* Whether slot i holds the reservation. */
static int
is_holder(const struct lunsim_hdr *h, int i)
{
	if (h->res_type == 0 || i < 0)
		return 0;
	if (type_all_reg(h->res_type))
		return h->itn[i].registered;
	return h->res_holder == i;
}

/* Drop the reservation. */
static void
res_release(struct lunsim_hdr *h)
{
	h->res_type = 0;
	h->res_scope = 0;
	h->res_holder = -1;
}

/* Number of registered slots. */
static int
reg_count(const struct lunsim_hdr *h)
{
	int i, n = 0;

	for (i = 0; i < LUNSIM_MAX_ITN; i++)
		n += h->itn[i].used && h->itn[i].registered;
	return n;
}

/* Remove slot i's registration, releasing the reservation it held. */
static void
unregister(struct lunsim_hdr *h, int i)
{
	int held = is_holder(h, i);
	unsigned t = h->res_type;

	h->itn[i].registered = 0;
	h->itn[i].key = 0;
	if (!held)
		return;
	if (type_all_reg(t)) {
		if (reg_count(h) == 0)
			res_release(h);
		return;
	}
	res_release(h);
	if (t == LUNSIM_PR_WE_RO || t == LUNSIM_PR_EA_RO)
		ua_registrants(h, i, 0x2a, 0x04);
}

/* Whether initiator may READ (write == 0) or WRITE under the reservation. */
int
lunsim_pr_access_ok(const struct lunsim_hdr *h, const char *initiator,
    int write)
{
	int i = lunsim_itn_find(h, initiator);
	int reg = i >= 0 && h->itn[i].registered;

	if (h->res_type == 0 || is_holder(h, i))
		return 1;
	switch (h->res_type) {
	case LUNSIM_PR_WE:
		return !write;
	case LUNSIM_PR_EA:
		return 0;
	case LUNSIM_PR_WE_RO:
	case LUNSIM_PR_WE_AR:
		return !write || reg;
	default:
		return reg;
	}
}

/* Build an iSCSI TransportID for name at p: its length. */
static unsigned
tid_build(uint8_t *p, const char *name)
{
	size_t n = strnlen(name, LUNSIM_NAME_MAX - 1) + 1;
	size_t addl = (n + 3) & ~(size_t)3;

	if (addl < 20)
		addl = 20;
	memset(p, 0, 4 + addl);
	p[0] = 0x05;
	lunsim_put_be(p + 2, addl, 2);
	memcpy(p + 4, name, n - 1);
	return (unsigned)(4 + addl);
}

/* Parse the iSCSI TransportID of len bytes at p into name: 0 or -1. */
static int
tid_parse(const uint8_t *p, uint32_t len, char name[LUNSIM_NAME_MAX])
{
	uint32_t addl;
	size_t n;

	if (len < 4 || p[0] != 0x05)
		return -1;
	addl = (uint32_t)lunsim_get_be(p + 2, 2);
	if (addl + 4 > len || addl == 0)
		return -1;
	n = strnlen((const char *)p + 4, addl);
	if (n == 0 || n == addl || n >= LUNSIM_NAME_MAX)
		return -1;
	memcpy(name, p + 4, n);
	name[n] = '\0';
	return 0;
}

/* Build READ KEYS into buf: the length. */
static uint32_t
pr_read_keys(const struct lunsim_hdr *h, uint8_t *buf)
{
	uint32_t n = 8;
	int i;

	lunsim_put_be(buf, h->generation, 4);
	for (i = 0; i < LUNSIM_MAX_ITN; i++)
		if (h->itn[i].used && h->itn[i].registered) {
			lunsim_put_be(buf + n, h->itn[i].key, 8);
			n += 8;
		}
	lunsim_put_be(buf + 4, n - 8, 4);
	return n;
}

/* Build READ RESERVATION into buf: the length. */
static uint32_t
pr_read_reservation(const struct lunsim_hdr *h, uint8_t *buf)
{
	lunsim_put_be(buf, h->generation, 4);
	if (h->res_type == 0)
		return 8;
	lunsim_put_be(buf + 4, 16, 4);
	if (!type_all_reg(h->res_type) && h->res_holder >= 0)
		lunsim_put_be(buf + 8, h->itn[h->res_holder].key, 8);
	buf[21] = (uint8_t)(h->res_scope << 4 | h->res_type);
	return 24;
}

/* Build REPORT CAPABILITIES into buf: the length. */
static uint32_t
pr_report_caps(uint8_t *buf)
{
	lunsim_put_be(buf, 8, 2);
	buf[2] = 0x00; /* no CRH, SIP_C, ATP_C, PTPL_C */
	buf[3] = 0x90; /* TMV, ALLOW COMMANDS 001b */
	buf[4] = 0xea; /* WR_EX_AR EX_AC_RO WR_EX_RO EX_AC WR_EX */
	buf[5] = 0x01; /* EX_AC_AR */
	return 8;
}

/* Build READ FULL STATUS into buf: the length. */
static uint32_t
pr_read_full_status(const struct lunsim_hdr *h, uint8_t *buf)
{
	uint32_t n = 8, tl;
	int i;

	lunsim_put_be(buf, h->generation, 4);
	for (i = 0; i < LUNSIM_MAX_ITN; i++) {
		if (!h->itn[i].used || !h->itn[i].registered)
			continue;
		lunsim_put_be(buf + n, h->itn[i].key, 8);
		if (is_holder(h, i)) {
			buf[n + 12] = 0x01; /* R_HOLDER */
			buf[n + 13] = (uint8_t)(h->res_scope << 4 |
			    h->res_type);
		}
		lunsim_put_be(buf + n + 18, 1, 2); /* relative target port */
		tl = tid_build(buf + n + 24, h->itn[i].name);
		lunsim_put_be(buf + n + 20, tl, 4);
		n += 24 + tl;
	}
	lunsim_put_be(buf + 4, n - 8, 4);
	return n;
}

/* PERSISTENT RESERVE IN; the command has passed the unit attention check. */
void
lunsim_pr_in(struct lunsim_hdr *h, const char *initiator, struct lunsim_cmd *c)
{
	uint8_t buf[PR_BUF_MAX];
	uint32_t n, alloc;

	(void)initiator;
	memset(buf, 0, sizeof(buf));
	alloc = (uint32_t)lunsim_get_be(c->cdb + 7, 2);
	switch (c->cdb[1] & 0x1f) {
	case SA_READ_KEYS:
		n = pr_read_keys(h, buf);
		break;
	case SA_READ_RESERVATION:
		n = pr_read_reservation(h, buf);
		break;
	case SA_REPORT_CAPABILITIES:
		n = pr_report_caps(buf);
		break;
	case SA_READ_FULL_STATUS:
		n = pr_read_full_status(h, buf);
		break;
	default:
		lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		return;
	}
	if (n > alloc)
		n = alloc;
	if (n > c->in_len)
		n = c->in_len;
	memcpy(c->in, buf, n);
	c->in_done = n;
}

/* REGISTER and REGISTER AND IGNORE EXISTING KEY from slot me (-1: none). */
static void
pr_register(struct lunsim_hdr *h, const char *initiator, int me,
    struct lunsim_cmd *c, uint64_t key, uint64_t sakey, int ignore)
{
	if (me < 0 || !h->itn[me].registered) {
		if (!ignore && key != 0) {
			c->status = STATUS_CONFLICT;
			return;
		}
		if (sakey == 0)
			return;
		me = itn_get(h, initiator);
		if (me < 0) { /* INSUFFICIENT REGISTRATION RESOURCES */
			lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x55, 0x04);
			return;
		}
		h->itn[me].registered = 1;
		h->itn[me].key = sakey;
	} else {
		if (!ignore && key != h->itn[me].key) {
			c->status = STATUS_CONFLICT;
			return;
		}
		if (sakey == 0)
			unregister(h, me);
		else
			h->itn[me].key = sakey;
	}
	h->generation++;
	c->dirty = 1;
}

/* RESERVE by registrant me. */
static void
pr_reserve(struct lunsim_hdr *h, int me, struct lunsim_cmd *c, unsigned scope,
    unsigned type)
{
	if (scope != 0 || !type_valid(type)) {
		lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		return;
	}
	if (h->res_type != 0) {
		if (!is_holder(h, me) || h->res_type != type)
			c->status = STATUS_CONFLICT;
		return;
	}
	h->res_type = (uint8_t)type;
	h->res_scope = 0;
	h->res_holder = (int16_t)(type_all_reg(type) ? -1 : me);
	c->dirty = 1;
}

/* RELEASE by registrant me. */
static void
pr_release(struct lunsim_hdr *h, int me, struct lunsim_cmd *c, unsigned scope,
    unsigned type)
{
	unsigned t = h->res_type;

	if (t == 0 || !is_holder(h, me))
		return;
	if (scope != h->res_scope || type != t) {
		lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x26, 0x04);
		return;
	}
	res_release(h);
	if (t != LUNSIM_PR_WE && t != LUNSIM_PR_EA)
		ua_registrants(h, me, 0x2a, 0x04);
	c->dirty = 1;
}

/* CLEAR by registrant me. */
static void
pr_clear(struct lunsim_hdr *h, int me, struct lunsim_cmd *c)
{
	int i;

	ua_registrants(h, me, 0x2a, 0x03);
	for (i = 0; i < LUNSIM_MAX_ITN; i++) {
		h->itn[i].registered = 0;
		h->itn[i].key = 0;
	}
	res_release(h);
	h->generation++;
	c->dirty = 1;
}

/* PREEMPT and PREEMPT AND ABORT by registrant me. */
static void
pr_preempt(struct lunsim_hdr *h, int me, struct lunsim_cmd *c, unsigned scope,
    unsigned type, uint64_t sakey)
{
	int i, n = 0, ar = type_all_reg(h->res_type);
	int holder_path;

	holder_path = h->res_type != 0 &&
	    (ar ? sakey == 0
		: h->res_holder >= 0 && h->itn[h->res_holder].key == sakey);
	if (holder_path) {
		if (scope != 0 || !type_valid(type)) {
			lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
			return;
		}
		for (i = 0; i < LUNSIM_MAX_ITN; i++) {
			if (i == me || !h->itn[i].used ||
			    !h->itn[i].registered ||
			    (!ar && h->itn[i].key != sakey))
				continue;
			h->itn[i].registered = 0;
			h->itn[i].key = 0;
			lunsim_ua_queue(h, i, 0x2a, 0x05);
		}
		/* a new type or scope releases the reservation of everyone
		 * who kept a registration (SPC-4, preempting persistent
		 * reservations) */
		if (type != h->res_type || scope != h->res_scope)
			ua_registrants(h, me, 0x2a, 0x04);
		h->res_type = (uint8_t)type;
		h->res_scope = 0;
		h->res_holder = (int16_t)(type_all_reg(type) ? -1 : me);
	} else {
		if (sakey == 0) {
			lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x26, 0x00);
			return;
		}
		for (i = 0; i < LUNSIM_MAX_ITN; i++) {
			if (!h->itn[i].used || !h->itn[i].registered ||
			    h->itn[i].key != sakey)
				continue;
			h->itn[i].registered = 0;
			h->itn[i].key = 0;
			if (i != me)
				lunsim_ua_queue(h, i, 0x2a, 0x05);
			n++;
		}
		if (n == 0) {
			c->status = STATUS_CONFLICT;
			return;
		}
		if (ar && reg_count(h) == 0)
			res_release(h);
	}
	h->generation++;
	c->dirty = 1;
}

/* REGISTER AND MOVE by registrant me; p is the whole parameter list. */
static void
pr_register_move(struct lunsim_hdr *h, int me, struct lunsim_cmd *c,
    unsigned scope, unsigned type, const uint8_t *p, uint32_t plen)
{
	char dest[LUNSIM_NAME_MAX];
	uint64_t sakey = lunsim_get_be(p + 8, 8);
	int d;

	if (h->res_type == 0) {
		lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		return;
	}
	if (type_all_reg(h->res_type) || !is_holder(h, me)) {
		c->status = STATUS_CONFLICT;
		return;
	}
	if (scope != 0 || !type_valid(type)) {
		lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		return;
	}
	if (sakey == 0 || (p[17] & PARAM_APTPL) ||
	    lunsim_get_be(p + 18, 2) != 1 ||
	    tid_parse(p + 24, plen - 24, dest) < 0 ||
	    strcmp(dest, h->itn[me].name) == 0) {
		lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x26, 0x00);
		return;
	}
	d = itn_get(h, dest);
	if (d < 0) {
		lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x55, 0x04);
		return;
	}
	if (!h->itn[d].registered) {
		h->itn[d].registered = 1;
		h->itn[d].key = sakey;
	}
	h->res_type = (uint8_t)type;
	h->res_scope = 0;
	h->res_holder = (int16_t)d;
	if (p[17] & 0x02) { /* UNREG */
		h->itn[me].registered = 0;
		h->itn[me].key = 0;
	}
	h->generation++;
	c->dirty = 1;
}

/* Check the parameter list length and flags: 0, or the sense is set. */
static int
pr_out_check_param(struct lunsim_cmd *c, unsigned sa, const uint8_t *p,
    uint32_t plen)
{
	if (sa == SA_REGISTER_MOVE) {
		if (plen < 24 || lunsim_get_be(p + 20, 4) + 24 != plen) {
			lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x1a, 0x00);
			return -1;
		}
		return 0;
	}
	if (plen != 24) {
		lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x1a, 0x00);
		return -1;
	}
	if ((p[20] & PARAM_SPEC_I_PT) ||
	    ((sa == SA_REGISTER || sa == SA_REGISTER_IGNORE) &&
		(p[20] & (PARAM_ALL_TG_PT | PARAM_APTPL)))) {
		lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x26, 0x00);
		return -1;
	}
	return 0;
}

/* PERSISTENT RESERVE OUT; the command has passed the unit attention check. */
void
lunsim_pr_out(struct lunsim_hdr *h, const char *initiator, struct lunsim_cmd *c)
{
	unsigned sa = c->cdb[1] & 0x1f;
	unsigned scope = c->cdb[2] >> 4, type = c->cdb[2] & 0x0f;
	uint32_t plen = (uint32_t)lunsim_get_be(c->cdb + 5, 4);
	const uint8_t *p = c->out;
	uint64_t key;
	int me;

	if (sa > SA_REGISTER_MOVE) {
		lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		return;
	}
	if (plen > c->out_len) {
		lunsim_sense(c, SK_ILLEGAL_REQUEST, 0x1a, 0x00);
		return;
	}
	c->out_done = plen;
	if (pr_out_check_param(c, sa, p, plen) < 0)
		return;
	key = lunsim_get_be(p, 8);
	me = lunsim_itn_find(h, initiator);
	if (sa == SA_REGISTER || sa == SA_REGISTER_IGNORE) {
		pr_register(h, initiator, me, c, key, lunsim_get_be(p + 8, 8),
		    sa == SA_REGISTER_IGNORE);
		return;
	}
	if (me < 0 || !h->itn[me].registered || h->itn[me].key != key) {
		c->status = STATUS_CONFLICT;
		return;
	}
	switch (sa) {
	case SA_RESERVE:
		pr_reserve(h, me, c, scope, type);
		break;
	case SA_RELEASE:
		pr_release(h, me, c, scope, type);
		break;
	case SA_CLEAR:
		pr_clear(h, me, c);
		break;
	case SA_PREEMPT:
	case SA_PREEMPT_ABORT:
		pr_preempt(h, me, c, scope, type, lunsim_get_be(p + 8, 8));
		break;
	default:
		pr_register_move(h, me, c, scope, type, p, plen);
		break;
	}
}
