/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The helper's counters (see stats.h). */
#include "config.h"

#include <stddef.h>

#include "prh/protocol.h"
#include "prh/stats.h"

static const char *const stats_class_names[STATS_CLASSES] = {
	"good",
	"check",
	"conflict",
	"busy",
	"other",
};

/* The class of a SCSI status value. */
enum stats_class
stats_classify(uint32_t status)
{
	switch (status) {
	case PRH_STATUS_GOOD:
		return STATS_GOOD;
	case PRH_STATUS_CHECK_CONDITION:
		return STATS_CHECK;
	case PRH_STATUS_RESERVATION_CONFLICT:
		return STATS_CONFLICT;
	case PRH_STATUS_BUSY:
		return STATS_BUSY;
	default:
		return STATS_OTHER;
	}
}

/* Name of a class. */
const char *
stats_class_name(enum stats_class c)
{
	return (unsigned)c < STATS_CLASSES ? stats_class_names[c] : "other";
}

/* Count one reply. */
void
stats_count_reply(struct prh_stats *s, uint8_t opcode, uint8_t sa,
    uint32_t status)
{
	STATS_INC(s->answered);
	STATS_INC(s->replies[opcode == PRH_OP_PR_OUT][sa % STATS_SA]
			    [stats_classify(status)]);
}

/* Count one consumed unit attention by its code. */
void
stats_count_ua(struct prh_stats *s, uint16_t code)
{
	unsigned want = STATS_UA_USED | code, cur;

	for (size_t i = 0; i < STATS_UA_CODES; i++) {
		cur = atomic_load_explicit(&s->ua[i].code,
		    memory_order_acquire);
		if (cur == 0 &&
		    atomic_compare_exchange_strong_explicit(&s->ua[i].code,
			&cur, want, memory_order_acq_rel, memory_order_acquire))
			cur = want;
		if (cur == want) {
			STATS_INC(s->ua[i].n);
			return;
		}
	}
	STATS_INC(s->ua_other);
}
