/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Neighbours' keys: see keyguard.h.  Loop thread only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
};

/* The key a VM registered on a device. */
struct kg_claim {
	uint64_t lu;		/* the device's isolation key */
	uint64_t key;		/* never 0 */
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
};

/* FNV-1a of n bytes. */
static uint64_t
kg_fnv(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 14695981039346656037ull;

	while (n-- > 0)
		h = (h ^ *b++) * 1099511628211ull;
	return h;
}

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
 * U" (VM and unit names are root's to choose; a pid is the kernel's). */
static void
kg_name(char *buf, size_t size, const struct peer *p)
{
	if (p->kind == PEER_VM && p->name[0] != '\0')
		snprintf(buf, size, "vm %s", p->name);
	else if (p->kind == PEER_UNIT && p->name[0] != '\0')
		snprintf(buf, size, "unit %s", p->name);
	else
		snprintf(buf, size, "pid %d uid %u", (int)p->pid,
		    (unsigned)p->uid);
}

/* Find or create the VM of peer p, with a reference. */
struct keyguard_vm *
keyguard_vm_get(struct keyguard *kg, struct peer *p)
{
	char name[sizeof(((struct keyguard_vm *)0)->name)];
	struct keyguard_vm *vm;
	uint64_t h;

	peer_describe(p);
	kg_name(name, sizeof(name), p);
	h = kg_fnv(name, strlen(name));
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
	c->key = key;
	return 0;
}

/* Check a PR OUT against the other VMs' claims on its device. */
int
keyguard_check(struct keyguard *kg, struct keyguard_vm *vm, uint64_t lu,
    const struct proto_req *req, const uint8_t *params, uint32_t len,
    struct keyguard_op *op, const struct keyguard_vm **holder)
{
	struct kg_claim *c, *own;
	uint64_t key = len > 8 ? kg_key_at(params + 8, len - 8) : 0;
	bool clear = req->service_action == KG_CLEAR;

	memset(op, 0, sizeof(*op));
	if (!req->is_out)
		return 0;
	switch (req->service_action) {
	case KG_PREEMPT:
	case KG_PREEMPT_AND_ABORT:
		*op = (struct keyguard_op){ .vm = vm,
			.lu = lu,
			.sa = req->service_action,
			.key = key };
		return 0;
	case KG_REGISTER:
	case KG_REGISTER_IGNORE:
	case KG_CLEAR:
		break;
	default:
		return 0;
	}
	for (c = kg->claims[lu % KG_BUCKETS]; c != NULL; c = c->lnext) {
		if (c->lu != lu || c->vm == vm || (!clear && c->key == key))
			continue;
		*holder = c->vm;
		return -EACCES;
	}
	*op = (struct keyguard_op){ .vm = vm,
		.lu = lu,
		.sa = req->service_action,
		.key = clear ? 0 : key };
	if (clear || key == 0)
		return 0; /* settled when it is back */
	/* Claim it now, so that another VM's registration racing this one
	 * is refused; taken back if the device refuses it. */
	own = kg_claim_of(kg, vm, lu);
	if (own != NULL) {
		op->had_prev = true;
		op->prev = own->key;
	}
	if (kg_claim_set(kg, vm, lu, key) < 0) {
		op->vm = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Settle op: its command is back with status. */
void
keyguard_done(struct keyguard *kg, struct keyguard_op *op, uint32_t status)
{
	bool good = status == PRH_STATUS_GOOD;
	struct kg_claim *c, *next, *own;

	if (op->vm == NULL)
		return;
	own = kg_claim_of(kg, op->vm, op->lu);
	switch (op->sa) {
	case KG_REGISTER:
	case KG_REGISTER_IGNORE:
		if (good && op->key == 0 && own != NULL)
			kg_claim_drop(kg, own); /* unregistered */
		else if (!good && op->key != 0 && op->had_prev)
			(void)kg_claim_set(kg, op->vm, op->lu, op->prev);
		else if (!good && op->key != 0 && own != NULL &&
		    own->key == op->key)
			kg_claim_drop(kg, own);
		break;
	case KG_CLEAR:
	case KG_PREEMPT:
	case KG_PREEMPT_AND_ABORT:
		if (!good || (op->sa != KG_CLEAR && op->key == 0))
			break;
		/* CLEAR removed every key; PREEMPT the preempted one, from
		 * every nexus but the preempting VM's own. */
		for (c = kg->claims[op->lu % KG_BUCKETS]; c != NULL; c = next) {
			next = c->lnext;
			if (c->lu == op->lu &&
			    (op->sa == KG_CLEAR ||
				(c->key == op->key && c->vm != op->vm)))
				kg_claim_drop(kg, c);
		}
		break;
	}
	keyguard_forget(op);
}

/* Forget op unsettled. */
void
keyguard_forget(struct keyguard_op *op)
{
	memset(op, 0, sizeof(*op));
}
