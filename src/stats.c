/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The helper's counters (see stats.h). */
#include "config.h"

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
