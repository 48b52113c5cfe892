/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The helper's counters: what status reports, the SIGUSR1 summary and the
 * metrics file show.
 *
 * One struct prh_stats per server.  Every field is atomic and updated
 * with relaxed increments, from the loop thread or a worker (a worker
 * counts the replies it sends itself), so any thread may read a
 * consistent-enough snapshot at any time without asking the pool to
 * deliver completions first.
 */
#ifndef PRH_STATS_H
#define PRH_STATS_H

#include <stdatomic.h>
#include <stdint.h>

/* SCSI status classes replies are counted by. */
enum stats_class {
	STATS_GOOD,
	STATS_CHECK,
	STATS_CONFLICT,
	STATS_BUSY,
	STATS_OTHER,
	STATS_CLASSES
};

#define STATS_SA 32 /* service actions (CDB[1] & 0x1f) */

/* Distinct ASC/ASCQ pairs of unit attentions counted apart; further ones
 * are counted together (stats_count_ua()). */
#define STATS_UA_CODES 16

/* The unit attentions of one ASC/ASCQ that resends consumed. */
struct stats_ua {
	atomic_uint code; /* 0: free; else STATS_UA_USED | ASC << 8 | ASCQ */
	atomic_uint_fast64_t n; /* how many */
};

#define STATS_UA_USED 0x10000u

/* Multipath backends counted apart (enum mpath_backend, mpath.h). */
#define STATS_MPATH_BACKENDS 3

/* Everything counted. */
struct prh_stats {
	/* connections */
	atomic_uint_fast64_t accepted;		/* accepted and served */
	atomic_uint_fast64_t closed_protocol;	/* closed for bad input */
	atomic_uint_fast64_t refused_peers;	/* not in --allow-uid/gid */
	atomic_uint_fast64_t refused_uid_limit; /* over --max-clients-per-uid */
	atomic_uint_fast64_t timed_out; /* write, idle or request timeout */
	atomic_uint connections;	/* open now */
	atomic_uint_fast64_t closed;	/* closed, for any reason */
	/* commands */
	atomic_uint_fast64_t answered;	     /* replies sent */
	atomic_uint_fast64_t refused_fds;    /* fds refused by the policy */
	atomic_uint_fast64_t keys_protected; /* refused by the key guard */
	atomic_int inflight;		     /* submitted, not yet answered */
	atomic_uint parked;		     /* waiting for queue room */
	atomic_uint_fast64_t busy_ns;	     /* worker time on devices */
	/* replies by [PR OUT][service action][class] */
	atomic_uint_fast64_t replies[2][STATS_SA][STATS_CLASSES];
	/* the audit trail (loop thread) */
	atomic_uint_fast64_t audit_lines;   /* lines logged */
	atomic_uint_fast64_t audit_dropped; /* lines counted, not logged */
	atomic_uint deferred; /* PR OUT that waited for their client's turn */
	/* PR OUT refused by the guest PR policy (prpolicy.h) */
	atomic_uint_fast64_t refused_guest_pr;
	/* unit attentions that a command's resend consumed (workers) */
	struct stats_ua ua[STATS_UA_CODES]; /* by ASC/ASCQ, first come */
	atomic_uint_fast64_t ua_other;	    /* the codes that found no slot */
	/* commands on multipath maps, by enum mpath_backend (workers) */
	atomic_uint_fast64_t mpath_cmds[STATS_MPATH_BACKENDS];
};

/* The class of a SCSI status value. */
enum stats_class stats_classify(uint32_t status);

/* Name of a class ("good", "check", ...). */
const char *stats_class_name(enum stats_class c);

/* Count one reply to a command with this opcode and service action. */
void stats_count_reply(struct prh_stats *s, uint8_t opcode, uint8_t sa,
    uint32_t status);

/* Count one unit attention (ASC << 8 | ASCQ) that a resend consumed:
 * in its code's slot, taking a free one the first time (lock-free: a
 * slot's code never changes once set), or in ua_other when all are
 * taken. */
void stats_count_ua(struct prh_stats *s, uint16_t code);

/* Add one to a counter (relaxed). */
#define STATS_INC(field) \
	atomic_fetch_add_explicit(&(field), 1, memory_order_relaxed)
/* Add n to a counter (relaxed). */
#define STATS_ADD(field, n) \
	atomic_fetch_add_explicit(&(field), (n), memory_order_relaxed)
/* Subtract one from a counter (relaxed). */
#define STATS_DEC(field) \
	atomic_fetch_sub_explicit(&(field), 1, memory_order_relaxed)
/* Read a counter (relaxed). */
#define STATS_GET(field) atomic_load_explicit(&(field), memory_order_relaxed)

#endif
