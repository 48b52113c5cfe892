/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Neighbours' keys: one VM may not replace or remove the reservation key
 * another VM registered through the helper on the same device node.
 *
 * A device node (a disk and its sg node, or a multipath map) is one I_T
 * nexus, or one set of them: every VM that uses it through this helper
 * registers on the same initiator port, and SCSI keeps one key per
 * nexus.  So a second VM's REGISTER AND IGNORE EXISTING KEY silently
 * replaces the first VM's key, and the first VM is unregistered without
 * knowing.  The guard remembers, per device (the registry's isolation
 * key) and per VM (peer.h: its libvirt machine or systemd unit, else its
 * pid and uid; a peer without a pid is a VM of its own per connection),
 * the key each VM registered, and refuses from another VM what would
 * change or remove it on the shared nexus: a REGISTER or REGISTER AND
 * IGNORE EXISTING KEY to another key (0 included), a CLEAR, a REGISTER
 * AND MOVE, a PREEMPT or PREEMPT AND ABORT of that key.
 *
 * The same key from another VM passes (a VM migrating on one host
 * registers, then preempts, the key its source holds): that VM then
 * follows the key.  A follower may not change or remove the key while
 * the VM it follows holds it; that VM may, and its followers' claims end
 * with the key.  A claim is made when its REGISTER is submitted (so a
 * registration racing it is refused too) and taken back if the device
 * does not answer GOOD, also when its connection went meanwhile; it ends
 * when the VM unregisters or clears, or with the VM's last connection.
 * Settling a command touches only the claims as its check left them: a
 * claim a later command of the same VM made meanwhile stays.
 * Loop thread only; see doc/threads.md.
 */
#ifndef PRH_KEYGUARD_H
#define PRH_KEYGUARD_H

#include <stdbool.h>
#include <stdint.h>

struct peer;
struct proto_req;
struct keyguard;
struct keyguard_vm;

/* A PR OUT the guard let through, to settle when it is back. */
struct keyguard_op {
	struct keyguard_vm *vm; /* NULL: nothing to settle */
	uint64_t lu;		/* the device's isolation key */
	uint8_t sa;		/* service action */
	uint64_t key;		/* new key (REGISTER), 0 to unregister */
	uint64_t prev;		/* the claim before */
	uint64_t prev_seq;	/* and when it was made */
	bool had_prev;		/* there was one */
	uint64_t at;		/* the guard's clock after the check */
};

/* A new, empty guard, or NULL without memory. */
struct keyguard *keyguard_new(void);

/* Free the guard; every VM must have been put. */
void keyguard_free(struct keyguard *kg);

/* The VM peer p belongs to, with a reference (described first:
 * peer_describe()); NULL without memory. */
struct keyguard_vm *keyguard_vm_get(struct keyguard *kg, struct peer *p);

/* Another reference to vm (a command of it that outlives its
 * connection). */
void keyguard_vm_hold(struct keyguard_vm *vm);

/* Drop a reference; the VM's claims end with its last one. */
void keyguard_vm_put(struct keyguard *kg, struct keyguard_vm *vm);

/* The VM's name as the audit trail says it ("vm NAME", "unit NAME",
 * "pid P uid U"), as raw bytes: the caller escapes it. */
const char *keyguard_vm_name(const struct keyguard_vm *vm);

/* May vm run the PR OUT req (parameter list params, len bytes) on the
 * device lu?  0: yes, and *op is filled for keyguard_done(); -EACCES: it
 * would change a key another VM registered there, whose VM is *holder. */
int keyguard_check(struct keyguard *kg, struct keyguard_vm *vm, uint64_t lu,
    const struct proto_req *req, const uint8_t *params, uint32_t len,
    struct keyguard_op *op, const struct keyguard_vm **holder);

/* The command of op is back with SCSI status status: make its claim
 * final, or take it back.  op is cleared. */
void
keyguard_done(struct keyguard *kg, struct keyguard_op *op, uint32_t status);

/* Forget op without settling it (its connection is gone). */
void keyguard_forget(struct keyguard_op *op);

#endif
