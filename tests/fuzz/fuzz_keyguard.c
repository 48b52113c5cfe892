/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target: the neighbours' key guard (keyguard.c), against a model.
 *
 * Input: a sequence of operations on one guard, each an opcode byte and
 * its operands (zero past the end of the input):
 *  - get (0): a peer byte (bits 0-1: process, VM, unit or VM without a
 *    name; bits 2-3: name; bits 4-5: pid 100, 200, 0 or -1; bit 6: uid)
 *    makes a reference to that peer's VM (at most FK_REFS at once);
 *  - put (1): drop reference number byte % n;
 *  - hold (2): another reference to the VM of reference byte % n;
 *  - check (3): reference, device (of FK_LUS, two in one bucket of the
 *    guard's table), service action (bit 4 set: byte & 0x1f, else & 7),
 *    flags (bit 0: PR IN; bit 1: bytes 8..15 are a key of a small set,
 *    chosen by bits 2-3, as far as the list holds them), the list's
 *    length, then the list: a PR OUT's list allocated at its exact size,
 *    so AddressSanitizer catches a read past it.  A command let through
 *    waits, with a reference to its VM as conn.c's does (at most FK_OPS);
 *  - settle (4): waiting command byte % n answered GOOD, RESERVATION
 *    CONFLICT, CHECK CONDITION or BUSY (the next byte & 3);
 *  - forget (5): waiting command byte % n forgotten (its connection
 *    went, its claim stays as made).
 * At the end the waiting commands are forgotten, every reference put and
 * the guard freed: LeakSanitizer finds what the guard kept.
 *
 * The model below is written from keyguard.h's rules, not from
 * keyguard.c: per VM and device at most one claim, a key (never 0) and
 * the time it was claimed; a VM's claim does not stand in the way of
 * another VM whose own claim is that key, claimed earlier (it follows).
 * Checked: each verdict, the VM named as holder (one whose claim stands
 * in the way), that a refusal leaves nothing to settle, that a peer's VM
 * is the one of its name (a peer without a pid a new one each time) and
 * its name as keyguard_vm_name() documents it.  Where commands of one VM
 * on one device overlap, the model keeps what a later command claimed:
 * the settling of an earlier one neither takes it back nor ends it (the
 * guard may refuse more than the device's order needs, never less).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "prh/keyguard.h"
#include "prh/peer.h"
#include "prh/proto.h"
#include "prh/protocol.h"

#define FK_REFS 16 /* references held at once */
#define FK_OPS	8  /* commands waiting at once */
#define FK_VMS	(FK_REFS + FK_OPS)
#define FK_LUS	4

/* The devices: 1 and 257 share a bucket of the guard's table, so do 0
 * and 256. */
static const uint64_t fk_lus[FK_LUS] = { 1, 257, 0, 256 };

/* The keys a list may be given (bit 1 of the flags). */
static const uint64_t fk_keys[4] = { 0, 0xa1, 0xb2, 0x0102030405060708ull };

/* A model VM's claim on one device. */
struct fk_claim {
	bool on;
	uint64_t key;	/* never 0 when on */
	uint64_t since; /* when this key was claimed: followers are later */
	uint64_t mod;	/* when the claim last changed */
};

/* A model VM: its identity, references and claims. */
struct fk_vm {
	bool live;
	char id[PEER_NAME_MAX + 32]; /* the model's own: "V name" ... */
	unsigned refs;
	struct keyguard_vm *vm;
	struct fk_claim claims[FK_LUS];
};

/* A command let through, waiting to be settled. */
struct fk_op {
	struct keyguard_op op;
	int v;	/* model VM */
	int lu; /* device index */
	enum {
		FK_NONE,
		FK_SET,
		FK_CLEAR
	} kind;
	uint64_t key;		/* FK_SET: 0 to unregister */
	struct fk_claim before; /* the VM's claim before the check */
	uint64_t at;		/* the model's clock after the check */
};

/* The whole state of one input. */
struct fk {
	struct keyguard *kg;
	struct fk_vm vms[FK_VMS];
	int refs[FK_REFS]; /* model VM of each reference */
	unsigned nrefs;
	struct fk_op ops[FK_OPS];
	unsigned nops;
	uint64_t clock;
};

/* A new model VM slot, or -1 (cannot happen: each live VM is held by a
 * reference or a waiting command). */
static int
fk_vm_slot(struct fk *f, const char *id)
{
	for (int i = 0; i < FK_VMS; i++)
		if (f->vms[i].live && id != NULL &&
		    strcmp(f->vms[i].id, id) == 0)
			return i;
	for (int i = 0; i < FK_VMS; i++)
		if (!f->vms[i].live) {
			memset(&f->vms[i], 0, sizeof(f->vms[i]));
			f->vms[i].live = true;
			return i;
		}
	return -1;
}

/* Drop one reference of model VM v; with the last, its claims end. */
static void
fk_vm_unref(struct fk *f, int v)
{
	FUZZ_CHECK(f->vms[v].refs > 0, "model VM %d without references", v);
	keyguard_vm_put(f->kg, f->vms[v].vm);
	if (--f->vms[v].refs == 0)
		f->vms[v].live = false;
}

/* The peer that byte b selects, described, and the model's identity of
 * its VM (NULL: a VM of its own) and the name the guard must give it. */
static void
fk_peer(uint8_t b, struct peer *p, char *id, size_t idlen, char *want,
    size_t wantlen)
{
	static const char *const names[4] = { "a", "b",
		"n123456789012345678901234567890123456789012345678901234567890ab",
		"a\nb\x7f" };
	static const pid_t pids[4] = { 100, 200, 0, -1 };
	static const unsigned char kinds[4] = { PEER_PROCESS, PEER_VM,
		PEER_UNIT, PEER_VM };
	unsigned k = b & 3;

	memset(p, 0, sizeof(*p));
	p->described = true;
	p->kind = kinds[k];
	snprintf(p->name, sizeof(p->name), "%s",
	    k == 3 ? "" : names[(b >> 2) & 3]);
	p->pid = pids[(b >> 4) & 3];
	p->uid = (b & 0x40) ? 0 : 107;
	p->gid = p->uid;
	if (p->kind == PEER_VM && p->name[0] != '\0') {
		snprintf(id, idlen, "V%s", p->name);
		snprintf(want, wantlen, "vm %s", p->name);
	} else if (p->kind == PEER_UNIT && p->name[0] != '\0') {
		snprintf(id, idlen, "U%s", p->name);
		snprintf(want, wantlen, "unit %s", p->name);
	} else if (p->pid > 0) {
		snprintf(id, idlen, "P%d/%u", (int)p->pid, (unsigned)p->uid);
		snprintf(want, wantlen, "pid %d uid %u", (int)p->pid,
		    (unsigned)p->uid);
	} else {
		id[0] = '\0';
		snprintf(want, wantlen, "uid %u conn ", (unsigned)p->uid);
	}
}

/* get: a reference to the VM of the peer byte b selects. */
static void
fk_get(struct fk *f, uint8_t b)
{
	char id[sizeof(f->vms[0].id)], want[sizeof(f->vms[0].id) + 8];
	struct keyguard_vm *vm;
	struct peer p;
	int v;

	if (f->nrefs == FK_REFS)
		return;
	fk_peer(b, &p, id, sizeof(id), want, sizeof(want));
	vm = keyguard_vm_get(f->kg, &p);
	FUZZ_CHECK(vm != NULL, "out of memory");
	v = fk_vm_slot(f, id[0] != '\0' ? id : NULL);
	FUZZ_CHECK(v >= 0, "model out of VM slots");
	if (f->vms[v].refs > 0) {
		FUZZ_CHECK(vm == f->vms[v].vm, "peer %s: another VM", id);
	} else {
		for (int i = 0; i < FK_VMS; i++)
			FUZZ_CHECK(i == v || !f->vms[i].live ||
				f->vms[i].vm != vm,
			    "peer %s: the VM of another", id);
		snprintf(f->vms[v].id, sizeof(f->vms[v].id), "%s", id);
		f->vms[v].vm = vm;
	}
	if (id[0] != '\0')
		FUZZ_CHECK(strcmp(keyguard_vm_name(vm), want) == 0,
		    "name \"%s\", want \"%s\"", keyguard_vm_name(vm), want);
	else
		FUZZ_CHECK(strncmp(keyguard_vm_name(vm), want, strlen(want)) ==
			0,
		    "name \"%s\", want \"%s...\"", keyguard_vm_name(vm), want);
	f->vms[v].refs++;
	f->refs[f->nrefs++] = v;
}

/* put: drop reference number b. */
static void
fk_put(struct fk *f, uint8_t b)
{
	unsigned i;

	if (f->nrefs == 0)
		return;
	i = b % f->nrefs;
	fk_vm_unref(f, f->refs[i]);
	f->refs[i] = f->refs[--f->nrefs];
}

/* hold: another reference to the VM of reference number b. */
static void
fk_hold(struct fk *f, uint8_t b)
{
	int v;

	if (f->nrefs == 0 || f->nrefs == FK_REFS)
		return;
	v = f->refs[b % f->nrefs];
	keyguard_vm_hold(f->vms[v].vm);
	f->vms[v].refs++;
	f->refs[f->nrefs++] = v;
}

/* Whether model VM w's claim on device lu stands in the way of VM v
 * (keyguard.h: another VM's claim, unless it follows v's key). */
static bool
fk_in_way(const struct fk *f, int v, int w, int lu)
{
	const struct fk_claim *own = &f->vms[v].claims[lu];
	const struct fk_claim *c = &f->vms[w].claims[lu];

	if (w == v || !f->vms[w].live || !c->on)
		return false;
	return !(own->on && c->key == own->key && c->since > own->since);
}

/* Whether model VM w is a holder that refuses sa with key from v on lu
 * (holder NULL: whether there is any). */
static bool
fk_refuses(const struct fk *f, int v, int lu, uint8_t sa, uint64_t key,
    const struct keyguard_vm *holder)
{
	const struct fk_claim *own = &f->vms[v].claims[lu];

	for (int w = 0; w < FK_VMS; w++) {
		const struct fk_claim *c = &f->vms[w].claims[lu];
		bool r = false;

		if (holder != NULL && f->vms[w].vm != holder)
			continue;
		switch (sa) {
		case 0x00: /* REGISTER */
		case 0x06: /* REGISTER AND IGNORE EXISTING KEY */
			r = fk_in_way(f, v, w, lu) && c->key != key;
			break;
		case 0x03: /* CLEAR */
		case 0x07: /* REGISTER AND MOVE */
			r = fk_in_way(f, v, w, lu);
			break;
		case 0x04: /* PREEMPT */
		case 0x05: /* PREEMPT AND ABORT */
			r = key != 0 && !(own->on && own->key == key) &&
			    w != v && f->vms[w].live && c->on && c->key == key;
			break;
		}
		if (r && f->vms[w].live)
			return true;
	}
	return false;
}

/* The model's side of a command let through: what it waits to settle,
 * and the claim a REGISTER makes at once. */
static void
fk_model_let(struct fk *f, struct fk_op *o, uint8_t sa, uint64_t key,
    const uint8_t *p, uint32_t len)
{
	struct fk_claim *own = &f->vms[o->v].claims[o->lu];

	o->kind = FK_NONE;
	o->before = *own;
	if (sa == 0x00 || sa == 0x06) {
		o->kind = FK_SET;
		o->key = key;
	} else if (sa == 0x03) {
		o->kind = FK_CLEAR;
	} else if (sa == 0x07 && len > 17 && (p[17] & 0x02)) {
		o->kind = FK_SET; /* UNREG: the nexus unregisters */
		o->key = 0;
	}
	if (o->kind == FK_SET && o->key != 0) {
		if (!own->on || own->key != key)
			*own = (struct fk_claim){ true, key, ++f->clock, 0 };
		own->mod = ++f->clock;
	}
	o->at = ++f->clock;
}

/* check: a PR OUT (or PR IN) from the VM of reference number ref. */
static void
fk_check(struct fk *f, uint8_t ref, struct fuzz_in *in)
{
	const struct keyguard_vm *holder = NULL;
	uint8_t lub = fuzz_u8(in), sab = fuzz_u8(in);
	uint8_t fl = fuzz_u8(in);
	struct proto_req req = { 0 };
	uint32_t len = fuzz_u8(in);
	uint8_t *p = malloc(len);
	uint64_t key = 0;
	struct fk_op o = { 0 };
	bool refuse;
	int r;

	FUZZ_CHECK(p != NULL || len == 0, "out of memory");
	fuzz_bytes(in, p, len);
	if (f->nrefs == 0 || f->nops == FK_OPS) {
		free(p);
		return;
	}
	for (uint32_t i = 8; (fl & 0x02) && i < 16 && i < len; i++)
		p[i] = (uint8_t)(fk_keys[(fl >> 2) & 3] >> (8 * (15 - i)));
	for (uint32_t i = 8; i < 16; i++)
		key = key << 8 | (i < len ? p[i] : 0);
	req.is_out = !(fl & 0x01);
	req.opcode = req.is_out ? PRH_OP_PR_OUT : PRH_OP_PR_IN;
	req.service_action = (sab & 0x10) ? (sab & 0x1f) : (sab & 0x07);
	req.len = len;
	o.v = f->refs[ref % f->nrefs];
	o.lu = lub % FK_LUS;
	refuse = req.is_out &&
	    fk_refuses(f, o.v, o.lu, req.service_action, key, NULL);
	memset(&o.op, 0xa5, sizeof(o.op));
	r = keyguard_check(f->kg, f->vms[o.v].vm, fk_lus[o.lu], &req, p, len,
	    &o.op, &holder);
	FUZZ_CHECK(r == (refuse ? -EACCES : 0),
	    "vm %s lu %d sa %u key %llx "
	    "len %u: %d, want %d",
	    f->vms[o.v].id, o.lu, req.service_action, (unsigned long long)key,
	    len, r, refuse ? -EACCES : 0);
	if (refuse) {
		FUZZ_CHECK(holder != NULL &&
			fk_refuses(f, o.v, o.lu, req.service_action, key,
			    holder),
		    "holder %s", holder ? keyguard_vm_name(holder) : "NULL");
		FUZZ_CHECK(o.op.vm == NULL, "a refusal to settle");
	} else {
		if (req.is_out)
			fk_model_let(f, &o, req.service_action, key, p, len);
		keyguard_vm_hold(f->vms[o.v].vm);
		f->vms[o.v].refs++;
		f->ops[f->nops++] = o;
	}
	free(p);
}

/* Drop model VM w's claim on lu if it is key's, claimed after since:
 * it followed a key that is gone from the nexus. */
static void
fk_drop_followers(struct fk *f, int v, int lu, const struct fk_claim *was)
{
	for (int w = 0; w < FK_VMS; w++) {
		struct fk_claim *c = &f->vms[w].claims[lu];

		if (w != v && f->vms[w].live && c->on && c->key == was->key &&
		    c->since > was->since)
			c->on = false;
	}
}

/* The model's settling of o with status: a claim no later command
 * changed is made final, taken back or ended. */
static void
fk_model_settle(struct fk *f, struct fk_op *o, uint32_t status)
{
	struct fk_claim *own = &f->vms[o->v].claims[o->lu];
	bool good = status == PRH_STATUS_GOOD;
	bool mine = own->on && own->mod <= o->at;

	if (o->kind == FK_CLEAR && good) {
		for (int w = 0; w < FK_VMS; w++) {
			struct fk_claim *c = &f->vms[w].claims[o->lu];

			if (f->vms[w].live && c->on && c->mod <= o->at)
				c->on = false;
		}
	} else if (o->kind == FK_SET && !good && o->key != 0) {
		if (mine) {
			*own = o->before;
			own->mod = ++f->clock;
		}
	} else if (o->kind == FK_SET && good) {
		if (o->before.on && o->before.key != o->key)
			fk_drop_followers(f, o->v, o->lu, &o->before);
		if (o->key == 0 && mine)
			own->on = false;
	}
}

/* settle (forget false) or forget waiting command number b. */
static void
fk_settle(struct fk *f, uint8_t b, uint8_t sb, bool forget)
{
	static const uint32_t statuses[4] = { PRH_STATUS_GOOD,
		PRH_STATUS_RESERVATION_CONFLICT, PRH_STATUS_CHECK_CONDITION,
		PRH_STATUS_BUSY };
	struct fk_op o;
	unsigned i;

	if (f->nops == 0)
		return;
	i = b % f->nops;
	o = f->ops[i];
	f->ops[i] = f->ops[--f->nops];
	if (forget) {
		keyguard_forget(&o.op);
		FUZZ_CHECK(o.op.vm == NULL, "forgotten, not cleared");
	} else {
		fk_model_settle(f, &o, statuses[sb & 3]);
		keyguard_done(f->kg, &o.op, statuses[sb & 3]);
		FUZZ_CHECK(o.op.vm == NULL, "settled, not cleared");
	}
	fk_vm_unref(f, o.v);
}

/* One input: operations until it is used up, then everything let go. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct fk *f = calloc(1, sizeof(*f));

	FUZZ_CHECK(f != NULL && (f->kg = keyguard_new()) != NULL,
	    "out of memory");
	while (in.left > 0) {
		uint8_t op = fuzz_u8(&in), b = fuzz_u8(&in);

		switch (op % 6) {
		case 0:
			fk_get(f, b);
			break;
		case 1:
			fk_put(f, b);
			break;
		case 2:
			fk_hold(f, b);
			break;
		case 3:
			fk_check(f, b, &in);
			break;
		case 4:
			fk_settle(f, b, fuzz_u8(&in), false);
			break;
		default:
			fk_settle(f, b, 0, true);
			break;
		}
	}
	while (f->nops > 0)
		fk_settle(f, 0, 0, true);
	while (f->nrefs > 0)
		fk_put(f, 0);
	for (int v = 0; v < FK_VMS; v++)
		FUZZ_CHECK(!f->vms[v].live, "model VM %d still held", v);
	keyguard_free(f->kg);
	free(f);
	return 0;
}
