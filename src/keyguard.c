/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Neighbours' keys: see keyguard.h.  Loop thread only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prh/hash.h"
#include "prh/keyguard.h"
#include "prh/peer.h"
#include "prh/proto.h"
#include "prh/protocol.h"

#define KG_BUCKETS 256 /* VMs and claims each; chains beyond */

/* PR OUT service actions the guard looks at (SPC-4). */
enum {
	KG_REGISTER = 0x00,
	KG_CLEAR = 0x03,
	KG_PREEMPT = 0x04,
	KG_PREEMPT_AND_ABORT = 0x05,
	KG_REGISTER_IGNORE = 0x06,
	KG_REGISTER_AND_MOVE = 0x07,
};

/* The key a VM registered on a device. */
struct kg_claim {
	uint64_t lu;		/* the device's isolation key */
	uint64_t key;		/* never 0 */
	uint64_t seq;		/* when the key was claimed: order */
	uint64_t mod;		/* when the claim last changed */
	struct keyguard_vm *vm; /* whose */
	struct kg_claim *lnext; /* the device's bucket */
	struct kg_claim *vnext; /* the VM's claims */
};

struct keyguard_vm {
	struct keyguard_vm *next; /* its bucket */
	unsigned refs;		  /* connections holding it */
	uint64_t hash;
	char name[PEER_NAME_MAX + 32]; /* "vm NAME", "pid P uid U", ... */
	struct kg_claim *claims;
};

struct keyguard {
	struct keyguard_vm *vms[KG_BUCKETS];
	struct kg_claim *claims[KG_BUCKETS];
	uint64_t seq;	/* the clock of claims and their changes */
	uint64_t conns; /* peers known by connection alone */
};

/* A big-endian 64-bit key at p, of which only have bytes exist (the rest
 * reads as 0). */
static uint64_t
kg_key_at(const uint8_t *p, uint32_t have)
{
	uint64_t k = 0;

	for (uint32_t i = 0; i < 8; i++)
		k = k << 8 | (i < have ? p[i] : 0);
	return k;
}

/* Create an empty guard. */
struct keyguard *
keyguard_new(void)
{
	return calloc(1, sizeof(struct keyguard));
}

/* Free the guard and whatever it still holds. */
void
keyguard_free(struct keyguard *kg)
{
	if (kg == NULL)
		return;
	for (unsigned b = 0; b < KG_BUCKETS; b++) {
		while (kg->vms[b] != NULL) {
			struct keyguard_vm *vm = kg->vms[b];

			vm->refs = 1;
			keyguard_vm_put(kg, vm);
		}
	}
	free(kg);
}

/* Name the VM of a described peer: "vm NAME", "unit NAME" or "pid P uid
 * U" (VM and unit names are root's to choose; a pid is the kernel's).  A
 * peer whose pid is unknown (0 from another pid namespace, -1 without
 * credentials) is a VM of its own per connection: "uid U conn N". */
static void
kg_name(struct keyguard *kg, char *buf, size_t size, const struct peer *p)
{
	if (p->kind == PEER_VM && p->name[0] != '\0')
		snprintf(buf, size, "vm %s", p->name);
	else if (p->kind == PEER_UNIT && p->name[0] != '\0')
		snprintf(buf, size, "unit %s", p->name);
	else if (p->pid > 0)
		snprintf(buf, size, "pid %d uid %u", (int)p->pid,
		    (unsigned)p->uid);
	else
		snprintf(buf, size, "uid %u conn %llu", (unsigned)p->uid,
		    (unsigned long long)++kg->conns);
}

/* Find or create the VM of peer p, with a reference. */
struct keyguard_vm *
keyguard_vm_get(struct keyguard *kg, struct peer *p)
{
	char name[sizeof(((struct keyguard_vm *)0)->name)];
	struct keyguard_vm *vm;
	uint64_t h;

	peer_describe(p);
	kg_name(kg, name, sizeof(name), p);
	h = prh_fnv1a(PRH_FNV_OFFSET, name);
	for (vm = kg->vms[h % KG_BUCKETS]; vm != NULL; vm = vm->next)
		if (vm->hash == h && strcmp(vm->name, name) == 0)
			break;
	if (vm == NULL) {
		vm = calloc(1, sizeof(*vm));
		if (vm == NULL)
			return NULL;
		vm->hash = h;
		memcpy(vm->name, name, sizeof(name));
		vm->next = kg->vms[h % KG_BUCKETS];
		kg->vms[h % KG_BUCKETS] = vm;
	}
	vm->refs++;
	return vm;
}

/* Another reference to vm. */
void
keyguard_vm_hold(struct keyguard_vm *vm)
{
	vm->refs++;
}

/* Unlink claim c from its device's bucket and its VM, and free it. */
static void
kg_claim_drop(struct keyguard *kg, struct kg_claim *c)
{
	struct kg_claim **pp;

	for (pp = &kg->claims[c->lu % KG_BUCKETS]; *pp != c; pp = &(*pp)->lnext)
		;
	*pp = c->lnext;
	for (pp = &c->vm->claims; *pp != c; pp = &(*pp)->vnext)
		;
	*pp = c->vnext;
	free(c);
}

/* Drop a reference to vm; with the last one, its claims and itself. */
void
keyguard_vm_put(struct keyguard *kg, struct keyguard_vm *vm)
{
	struct keyguard_vm **pp;

	if (vm == NULL || --vm->refs > 0)
		return;
	while (vm->claims != NULL)
		kg_claim_drop(kg, vm->claims);
	for (pp = &kg->vms[vm->hash % KG_BUCKETS]; *pp != vm; pp = &(*pp)->next)
		;
	*pp = vm->next;
	free(vm);
}

/* The VM's name, raw. */
const char *
keyguard_vm_name(const struct keyguard_vm *vm)
{
	return vm->name;
}

/* vm's claim on device lu, or NULL. */
static struct kg_claim *
kg_claim_of(struct keyguard *kg, const struct keyguard_vm *vm, uint64_t lu)
{
	for (struct kg_claim *c = kg->claims[lu % KG_BUCKETS]; c != NULL;
	     c = c->lnext)
		if (c->lu == lu && c->vm == vm)
			return c;
	return NULL;
}

/* Set vm's claim on device lu to key (not 0): 0 or -ENOMEM. */
static int
kg_claim_set(struct keyguard *kg, struct keyguard_vm *vm, uint64_t lu,
    uint64_t key)
{
	struct kg_claim *c = kg_claim_of(kg, vm, lu);

	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return -ENOMEM;
		c->lu = lu;
		c->vm = vm;
		c->lnext = kg->claims[lu % KG_BUCKETS];
		kg->claims[lu % KG_BUCKETS] = c;
		c->vnext = vm->claims;
		vm->claims = c;
	}
	if (c->key != key || c->seq == 0)
		c->seq = ++kg->seq;
	c->key = key;
	c->mod = ++kg->seq;
	return 0;
}

/* Whether claim c, of another VM, follows own: it claimed own's key
 * after own did (a VM registering the key another holds, as a migration
 * on one host does), so it does not stand in own's way. */
static bool
kg_follows(const struct kg_claim *c, const struct kg_claim *own)
{
	return own != NULL && c->key == own->key && c->seq > own->seq;
}

/* Drop the claims that follow own's key key, claimed at seq, on own's
 * device: that key is gone from the nexus they share. */
static void
kg_drop_followers(struct keyguard *kg, const struct keyguard_vm *vm,
    uint64_t lu, uint64_t key, uint64_t seq)
{
	struct kg_claim *c, *next;

	for (c = kg->claims[lu % KG_BUCKETS]; c != NULL; c = next) {
		next = c->lnext;
		if (c->lu == lu && c->vm != vm && c->key == key && c->seq > seq)
			kg_claim_drop(kg, c);
	}
}

/* The first claim on device lu of a VM other than vm that stands in the
 * way of vm (own: vm's claim there, or NULL) setting the nexus's key to
 * key (all: any key, for CLEAR and REGISTER AND MOVE), or NULL. */
static struct kg_claim *
kg_blocker(struct keyguard *kg, const struct keyguard_vm *vm,
    const struct kg_claim *own, uint64_t lu, uint64_t key, bool all)
{
	for (struct kg_claim *c = kg->claims[lu % KG_BUCKETS]; c != NULL;
	     c = c->lnext)
		if (c->lu == lu && c->vm != vm && !kg_follows(c, own) &&
		    (all || c->key != key))
			return c;
	return NULL;
}

/* Check a PR OUT against the other VMs' claims on its device. */
int
keyguard_check(struct keyguard *kg, struct keyguard_vm *vm, uint64_t lu,
    const struct proto_req *req, const uint8_t *params, uint32_t len,
    struct keyguard_op *op, const struct keyguard_vm **holder)
{
	struct kg_claim *c = NULL, *own;
	uint64_t key = len > 8 ? kg_key_at(params + 8, len - 8) : 0;
	uint8_t sa = req->service_action;

	memset(op, 0, sizeof(*op));
	if (!req->is_out)
		return 0;
	own = kg_claim_of(kg, vm, lu);
	switch (sa) {
	case KG_PREEMPT:
	case KG_PREEMPT_AND_ABORT:
		/* Preempting the key another VM holds on the shared nexus
		 * removes that VM's registration: its own key is the VM's
		 * to preempt (the handover of a migration on one host). */
		if (key == 0 || (own != NULL && own->key == key))
			return 0;
		for (c = kg->claims[lu % KG_BUCKETS]; c != NULL; c = c->lnext)
			if (c->lu == lu && c->vm != vm && c->key == key)
				break;
		break;
	case KG_REGISTER:
	case KG_REGISTER_IGNORE:
		c = kg_blocker(kg, vm, own, lu, key, false);
		break;
	case KG_CLEAR:
	case KG_REGISTER_AND_MOVE:
		c = kg_blocker(kg, vm, own, lu, 0, true);
		key = 0;
		break;
	default:
		return 0;
	}
	if (c != NULL) {
		*holder = c->vm;
		return -EACCES;
	}
	/* What the nexus's key becomes: PREEMPT leaves it, MOVE leaves it
	 * unless UNREG (byte 17, bit 1) unregisters the nexus. */
	if (sa == KG_PREEMPT || sa == KG_PREEMPT_AND_ABORT ||
	    (sa == KG_REGISTER_AND_MOVE &&
		(len <= 17 || (params[17] & 0x02) == 0)))
		return 0;
	*op = (struct keyguard_op){ .vm = vm,
		.lu = lu,
		.sa = sa == KG_CLEAR ? KG_CLEAR : KG_REGISTER,
		.key = key };
	if (own != NULL) {
		op->had_prev = true;
		op->prev = own->key;
		op->prev_seq = own->seq;
	}
	/* Claim it now, so that another VM's registration racing this one
	 * is refused; taken back if the device refuses it.  A key of 0 is
	 * settled when it is back. */
	if (op->key != 0 && kg_claim_set(kg, vm, lu, key) < 0) {
		op->vm = NULL;
		return -ENOMEM;
	}
	op->at = kg->seq;
	return 0;
}

/* Settle op: its command is back with status.  A claim made or changed
 * after op's check (by a command of the same VM submitted while op ran)
 * is that later command's: op neither takes it back nor ends it, so the
 * guard may refuse more than the device's order needs, never less. */
void
keyguard_done(struct keyguard *kg, struct keyguard_op *op, uint32_t status)
{
	bool good = status == PRH_STATUS_GOOD;
	struct kg_claim *c, *next, *own;

	if (op->vm == NULL)
		return;
	own = kg_claim_of(kg, op->vm, op->lu);
	if (own != NULL && own->mod > op->at)
		own = NULL; /* not op's to settle */
	if (op->sa == KG_CLEAR) {
		if (good) /* every key the device had at the check is gone */
			for (c = kg->claims[op->lu % KG_BUCKETS]; c != NULL;
			     c = next) {
				next = c->lnext;
				if (c->lu == op->lu && c->mod <= op->at)
					kg_claim_drop(kg, c);
			}
	} else if (!good && op->key != 0) {
		/* Not registered: the claim made at the check goes back. */
		if (op->had_prev && own != NULL) {
			own->key = op->prev;
			own->seq = op->prev_seq;
			own->mod = ++kg->seq;
		} else if (own != NULL) {
			kg_claim_drop(kg, own);
		}
	} else if (good) {
		/* Unregistered (key 0), or the key changed: the followers of
		 * the old key lost it with the nexus. */
		if (op->had_prev && op->prev != op->key)
			kg_drop_followers(kg, op->vm, op->lu, op->prev,
			    op->prev_seq);
		if (op->key == 0 && own != NULL)
			kg_claim_drop(kg, own);
	}
	keyguard_forget(op);
}

/* Forget op unsettled. */
void
keyguard_forget(struct keyguard_op *op)
{
	memset(op, 0, sizeof(*op));
}
