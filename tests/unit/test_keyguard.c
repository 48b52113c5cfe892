/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Neighbours' keys (keyguard.h): peers named as VMs, units or processes,
 * PR OUT requests built here, the guard's verdicts and claims. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "prh/keyguard.h"
#include "prh/peer.h"
#include "prh/proto.h"
#include "prh/protocol.h"

#define LU1 0x1111
#define LU2 0x2222

static struct keyguard *kg;

/* A fresh guard per test. */
static void
kg_init(void)
{
	kg = keyguard_new();
	cr_assert_not_null(kg);
}

/* Free it: every VM must have been put (ASan would see a leak). */
static void
kg_fini(void)
{
	keyguard_free(kg);
}

TestSuite(keyguard, .init = kg_init, .fini = kg_fini);

/* A described peer: kind and name, pid and uid. */
static struct peer
kg_peer(enum peer_kind kind, const char *name, pid_t pid)
{
	struct peer p = { .pid = pid, .uid = 107, .described = true };

	p.kind = (unsigned char)kind;
	snprintf(p.name, sizeof(p.name), "%s", name);
	return p;
}

/* The VM of a VM peer named name. */
static struct keyguard_vm *
kg_vm(const char *name)
{
	struct peer p = kg_peer(PEER_VM, name, 100);
	struct keyguard_vm *vm = keyguard_vm_get(kg, &p);

	cr_assert_not_null(vm);
	return vm;
}

/* Check PR OUT service action sa with keys key and sakey (a parameter
 * list of len bytes) from vm on lu; on success settle it with status. */
static int
kg_run_len(struct keyguard_vm *vm, uint64_t lu, uint8_t sa, uint64_t key,
    uint64_t sakey, uint32_t len, uint32_t status,
    const struct keyguard_vm **holder)
{
	struct proto_req req = { .opcode = PRH_OP_PR_OUT,
		.service_action = sa,
		.is_out = true,
		.len = len };
	uint8_t params[24] = { 0 };
	struct keyguard_op op;
	int r;

	for (int i = 0; i < 8; i++) {
		params[i] = (uint8_t)(key >> (56 - 8 * i));
		params[8 + i] = (uint8_t)(sakey >> (56 - 8 * i));
	}
	*holder = NULL;
	r = keyguard_check(kg, vm, lu, &req, params, len, &op, holder);
	if (r == 0)
		keyguard_done(kg, &op, status);
	else
		cr_assert_null(op.vm,
		    "a refused command has nothing to settle");
	return r;
}

/* The same with a 24-byte list, answered GOOD. */
static int
kg_run(struct keyguard_vm *vm, uint64_t lu, uint8_t sa, uint64_t key,
    uint64_t sakey)
{
	const struct keyguard_vm *holder;

	return kg_run_len(vm, lu, sa, key, sakey, 24, PRH_STATUS_GOOD, &holder);
}

Test(keyguard, another_vm_cannot_replace_remove_or_clear)
{
	struct keyguard_vm *a = kg_vm("a"), *b = kg_vm("b");
	const struct keyguard_vm *holder;

	cr_assert_eq(kg_run(a, LU1, 0x00, 0, 0xa1), 0);
	cr_expect_eq(kg_run_len(b, LU1, 0x06, 0, 0xb2, 24, 0, &holder),
	    -EACCES);
	cr_expect_eq(holder, a);
	cr_expect_str_eq(keyguard_vm_name(holder), "vm a");
	cr_expect_eq(kg_run(b, LU1, 0x00, 0xa1, 0), -EACCES, "unregister");
	cr_expect_eq(kg_run(b, LU1, 0x00, 0, 0xb2), -EACCES, "register");
	cr_expect_eq(kg_run(b, LU1, 0x03, 0xa1, 0), -EACCES, "clear");
	/* a changes its own key; b may act on another device */
	cr_expect_eq(kg_run(a, LU1, 0x06, 0, 0xa2), 0);
	cr_expect_eq(kg_run(b, LU2, 0x06, 0, 0xb2), 0);
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xa1), -EACCES, "a's old key");
	keyguard_vm_put(kg, a);
	keyguard_vm_put(kg, b);
}

Test(keyguard, other_service_actions_and_pr_in_pass)
{
	struct keyguard_vm *a = kg_vm("a"), *b = kg_vm("b");
	struct proto_req in = { .opcode = PRH_OP_PR_IN, .len = 24 };
	const struct keyguard_vm *holder = NULL;
	uint8_t params[24] = { 0 };
	struct keyguard_op op;

	cr_assert_eq(kg_run(a, LU1, 0x00, 0, 0xa1), 0);
	/* RESERVE, RELEASE, REPLACE LOST RESERVATION */
	cr_expect_eq(kg_run(b, LU1, 0x01, 0xb2, 0), 0);
	cr_expect_eq(kg_run(b, LU1, 0x02, 0xb2, 0), 0);
	cr_expect_eq(kg_run(b, LU1, 0x08, 0xb2, 0), 0);
	cr_expect_eq(keyguard_check(kg, b, LU1, &in, params, 24, &op, &holder),
	    0);
	cr_expect_null(op.vm);
	keyguard_vm_put(kg, a);
	keyguard_vm_put(kg, b);
}

Test(keyguard, the_same_key_is_let_through)
{
	struct keyguard_vm *a = kg_vm("a"), *b = kg_vm("b");

	cr_assert_eq(kg_run(a, LU1, 0x00, 0, 0xa1), 0);
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xa1), 0, "a migration");
	/* b follows a's key: it may not change it for a ... */
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xb2), -EACCES);
	cr_expect_eq(kg_run(b, LU1, 0x00, 0xa1, 0), -EACCES);
	cr_expect_eq(kg_run(b, LU1, 0x03, 0xa1, 0), -EACCES);
	/* ... but may preempt it (the handover) */
	cr_expect_eq(kg_run(b, LU1, 0x04, 0xa1, 0xa1), 0);
	keyguard_vm_put(kg, a); /* the source went: its claim with it */
	cr_expect_eq(kg_run(b, LU1, 0x00, 0xa1, 0), 0);
	keyguard_vm_put(kg, b);
}

Test(keyguard, a_follower_does_not_lock_the_holder)
{
	struct keyguard_vm *a = kg_vm("a"), *b = kg_vm("b");

	cr_assert_eq(kg_run(a, LU1, 0x00, 0, 0xa1), 0);
	cr_assert_eq(kg_run(b, LU1, 0x06, 0, 0xa1), 0, "b registers a's key");
	cr_expect_eq(kg_run(a, LU1, 0x00, 0xa1, 0xa2), 0, "a changes it");
	/* b's claim went with the key it followed */
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xa1), -EACCES);
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xa2), 0, "follows again");
	cr_expect_eq(kg_run(a, LU1, 0x00, 0xa2, 0), 0, "a unregisters");
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xb2), 0, "nothing left");
	cr_expect_eq(kg_run(a, LU1, 0x03, 0xb2, 0), -EACCES, "b's now");
	keyguard_vm_put(kg, a);
	keyguard_vm_put(kg, b);
}

Test(keyguard, preempt_and_move_of_another_vm_s_key_are_refused)
{
	struct keyguard_vm *a = kg_vm("a"), *b = kg_vm("b");
	const struct keyguard_vm *holder;

	cr_assert_eq(kg_run(a, LU1, 0x00, 0, 0xa1), 0);
	cr_expect_eq(kg_run_len(b, LU1, 0x04, 0xa1, 0xa1, 24, 0, &holder),
	    -EACCES, "PREEMPT of a's key");
	cr_expect_eq(holder, a);
	cr_expect_eq(kg_run(b, LU1, 0x05, 0xa1, 0xa1), -EACCES, "and ABORT");
	cr_expect_eq(kg_run(b, LU1, 0x04, 0xa1, 0xc3), 0, "another host's");
	cr_expect_eq(kg_run(b, LU1, 0x07, 0xa1, 0xb2), -EACCES, "MOVE");
	cr_expect_eq(kg_run(a, LU1, 0x04, 0xa1, 0xa1), 0, "a's own");
	cr_expect_eq(kg_run(a, LU1, 0x07, 0xa1, 0xa5), 0, "a's own move");
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xb2), -EACCES, "still a's");
	keyguard_vm_put(kg, a);
	keyguard_vm_put(kg, b);
}

Test(keyguard, move_with_unreg_ends_the_claim)
{
	struct keyguard_vm *a = kg_vm("a"), *b = kg_vm("b");
	struct proto_req req = { .opcode = PRH_OP_PR_OUT,
		.service_action = 0x07,
		.is_out = true,
		.len = 24 };
	uint8_t params[24] = { [7] = 0xa1, [15] = 0xa5, [17] = 0x02 };
	const struct keyguard_vm *holder = NULL;
	struct keyguard_op op;

	cr_assert_eq(kg_run(a, LU1, 0x00, 0, 0xa1), 0);
	cr_assert_eq(keyguard_check(kg, a, LU1, &req, params, 24, &op, &holder),
	    0);
	keyguard_done(kg, &op, PRH_STATUS_GOOD);
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xb2), 0, "a unregistered");
	keyguard_vm_put(kg, a);
	keyguard_vm_put(kg, b);
}

Test(keyguard, a_claim_ends_with_the_last_connection)
{
	struct keyguard_vm *a = kg_vm("a"), *a2 = kg_vm("a"), *b = kg_vm("b");

	cr_expect_eq(a, a2, "one VM, two connections");
	cr_assert_eq(kg_run(a, LU1, 0x00, 0, 0xa1), 0);
	keyguard_vm_put(kg, a);
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xb2), -EACCES, "a2 holds it");
	keyguard_vm_put(kg, a2);
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xb2), 0);
	keyguard_vm_put(kg, b);
}

Test(keyguard, unregister_and_clear_end_a_claim)
{
	struct keyguard_vm *a = kg_vm("a"), *b = kg_vm("b");

	cr_assert_eq(kg_run(a, LU1, 0x00, 0, 0xa1), 0);
	cr_assert_eq(kg_run(a, LU1, 0x00, 0xa1, 0), 0);
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xb2), 0, "a unregistered");
	cr_assert_eq(kg_run(b, LU1, 0x03, 0xb2, 0), 0, "b clears");
	cr_expect_eq(kg_run(a, LU1, 0x06, 0, 0xa1), 0, "cleared");
	keyguard_vm_put(kg, a);
	keyguard_vm_put(kg, b);
}

Test(keyguard, a_refused_register_gives_the_claim_back)
{
	struct keyguard_vm *a = kg_vm("a"), *b = kg_vm("b");
	const struct keyguard_vm *holder;

	cr_assert_eq(kg_run_len(a, LU1, 0x00, 0, 0xa1, 24,
			 PRH_STATUS_RESERVATION_CONFLICT, &holder),
	    0);
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xb2), 0, "no claim was made");
	keyguard_vm_put(kg, b);
	cr_assert_eq(kg_run(a, LU1, 0x00, 0, 0xa1), 0);
	cr_assert_eq(kg_run_len(a, LU1, 0x00, 0xa1, 0xa2, 24,
			 PRH_STATUS_CHECK_CONDITION, &holder),
	    0);
	b = kg_vm("b");
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xa1), 0, "0xa1 still a's");
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xa2), -EACCES);
	keyguard_vm_put(kg, a);
	keyguard_vm_put(kg, b);
}

Test(keyguard, a_racing_registration_is_refused)
{
	struct keyguard_vm *a = kg_vm("a"), *b = kg_vm("b");
	struct proto_req req = { .opcode = PRH_OP_PR_OUT,
		.service_action = 0x06,
		.is_out = true,
		.len = 24 };
	uint8_t params[24] = { [15] = 0xa1 };
	const struct keyguard_vm *holder = NULL;
	struct keyguard_op op;

	/* a's REGISTER is on the device, not back yet */
	cr_assert_eq(keyguard_check(kg, a, LU1, &req, params, 24, &op, &holder),
	    0);
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xb2), -EACCES);
	keyguard_forget(&op); /* its connection went */
	keyguard_vm_put(kg, a);
	keyguard_vm_put(kg, b);
}

/* Check PR OUT service action sa with service action key sakey (a
 * 24-byte list) from vm on lu, and leave it running in *op. */
static void
kg_start(struct keyguard_vm *vm, uint64_t lu, uint8_t sa, uint64_t sakey,
    struct keyguard_op *op)
{
	struct proto_req req = { .opcode = PRH_OP_PR_OUT,
		.service_action = sa,
		.is_out = true,
		.len = 24 };
	uint8_t params[24] = { 0 };
	const struct keyguard_vm *holder = NULL;

	for (int i = 0; i < 8; i++)
		params[8 + i] = (uint8_t)(sakey >> (56 - 8 * i));
	cr_assert_eq(keyguard_check(kg, vm, lu, &req, params, 24, op, &holder),
	    0);
}

Test(keyguard, an_unregister_keeps_a_later_register_s_claim)
{
	struct keyguard_vm *a = kg_vm("a"), *b = kg_vm("b");
	struct keyguard_op op1, op2;

	/* a unregisters and registers again; the unregistration is back
	 * first: the new registration's claim stays */
	cr_assert_eq(kg_run(a, LU1, 0x00, 0, 0xa1), 0);
	kg_start(a, LU1, 0x06, 0, &op1);
	kg_start(a, LU1, 0x06, 0xa1, &op2);
	keyguard_done(kg, &op1, PRH_STATUS_GOOD);
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xb2), -EACCES);
	keyguard_done(kg, &op2, PRH_STATUS_GOOD);
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xb2), -EACCES);
	keyguard_vm_put(kg, a);
	keyguard_vm_put(kg, b);
}

Test(keyguard, a_refused_register_keeps_a_later_one_s_claim)
{
	struct keyguard_vm *a = kg_vm("a"), *b = kg_vm("b");
	struct keyguard_op op1, op2;

	/* two changes of key, the first refused: not taken back to 0xa1
	 * over the second, or b would follow 0xa1 and replace 0xa3 */
	cr_assert_eq(kg_run(a, LU1, 0x00, 0, 0xa1), 0);
	kg_start(a, LU1, 0x06, 0xa2, &op1);
	kg_start(a, LU1, 0x06, 0xa3, &op2);
	keyguard_done(kg, &op1, PRH_STATUS_CHECK_CONDITION);
	keyguard_done(kg, &op2, PRH_STATUS_GOOD);
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xa1), -EACCES);
	/* the same key twice, the first refused: the claim stays */
	cr_assert_eq(kg_run(a, LU1, 0x00, 0xa3, 0), 0);
	kg_start(a, LU1, 0x06, 0xa5, &op1);
	kg_start(a, LU1, 0x06, 0xa5, &op2);
	keyguard_done(kg, &op1, PRH_STATUS_RESERVATION_CONFLICT);
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xb2), -EACCES);
	keyguard_done(kg, &op2, PRH_STATUS_GOOD);
	cr_expect_eq(kg_run(b, LU1, 0x06, 0, 0xb2), -EACCES);
	keyguard_vm_put(kg, a);
	keyguard_vm_put(kg, b);
}

Test(keyguard, a_clear_keeps_the_claims_made_after_it)
{
	struct keyguard_vm *a = kg_vm("a"), *b = kg_vm("b");
	struct keyguard_op op1, op2;

	/* a's CLEAR runs while b registers: b's claim outlives it */
	kg_start(a, LU1, 0x03, 0, &op1);
	kg_start(b, LU1, 0x06, 0xb2, &op2);
	keyguard_done(kg, &op2, PRH_STATUS_GOOD);
	keyguard_done(kg, &op1, PRH_STATUS_GOOD);
	cr_expect_eq(kg_run(a, LU1, 0x06, 0, 0xa1), -EACCES);
	/* a CLEAR after it ends it */
	cr_assert_eq(kg_run(b, LU1, 0x03, 0xb2, 0), 0);
	cr_expect_eq(kg_run(a, LU1, 0x06, 0, 0xa1), 0);
	keyguard_vm_put(kg, a);
	keyguard_vm_put(kg, b);
}

Test(keyguard, a_short_parameter_list_reads_as_zero)
{
	struct keyguard_vm *a = kg_vm("a"), *b = kg_vm("b");
	const struct keyguard_vm *holder;

	cr_assert_eq(kg_run(a, LU1, 0x00, 0, 0xa1), 0);
	/* 12 bytes: the service action key's low half is missing */
	cr_expect_eq(kg_run_len(b, LU1, 0x06, 0, 0xa1, 12, 0, &holder),
	    -EACCES);
	cr_expect_eq(kg_run_len(b, LU1, 0x06, 0, 0xa1, 0, 0, &holder), -EACCES);
	keyguard_vm_put(kg, a);
	keyguard_vm_put(kg, b);
}

Test(keyguard, vms_units_and_processes_are_told_apart)
{
	struct peer p[] = {
		kg_peer(PEER_VM, "db", 10),
		kg_peer(PEER_VM, "db", 11), /* another pid, the same VM */
		kg_peer(PEER_UNIT, "db", 12),
		kg_peer(PEER_PROCESS, "", 13),
		kg_peer(PEER_PROCESS, "", 14),
		kg_peer(PEER_PROCESS, "", 0), /* another pid namespace */
		kg_peer(PEER_PROCESS, "", 0),
	};
	struct keyguard_vm *vm[7];

	for (int i = 0; i < 7; i++) {
		vm[i] = keyguard_vm_get(kg, &p[i]);
		cr_assert_not_null(vm[i]);
	}
	cr_expect_eq(vm[0], vm[1]);
	cr_expect_neq(vm[0], vm[2]);
	cr_expect_neq(vm[3], vm[4]);
	cr_expect_str_eq(keyguard_vm_name(vm[2]), "unit db");
	cr_expect_str_eq(keyguard_vm_name(vm[3]), "pid 13 uid 107");
	cr_expect_neq(vm[5], vm[6], "no pid: one VM per connection");
	cr_expect_str_eq(keyguard_vm_name(vm[5]), "uid 107 conn 1");
	for (int i = 0; i < 7; i++)
		keyguard_vm_put(kg, vm[i]);
}

Test(keyguard, free_with_vms_held_frees_them)
{
	(void)kg_vm("a");
	cr_assert_eq(kg_run(kg_vm("b"), LU1, 0x00, 0, 0xb1), 0);
	/* kg_fini frees them; ASan checks */
}
