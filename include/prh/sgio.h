/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The SG_IO backend: runs one PERSISTENT RESERVE IN/OUT on a device fd.
 * Blocking; called on worker threads only, never on the event loop.
 *
 * A command the device answers with UNIT ATTENTION was not executed (SAM:
 * the unit attention is reported instead), so it is sent again, as the
 * kernel's own PR ioctls (sd.c) and libmpathpersist do: at most
 * opts->ua_retries times, and only while the whole command stays within
 * its SG_IO timeout (see sgio_execute()).
 */
#ifndef PRH_SGIO_H
#define PRH_SGIO_H

#include <stdint.h>

#include "prh/protocol.h"
#include "prh/scsi_result.h"

/* Most retries after UNIT ATTENTION one command may make
 * (--pr-ua-retries), and the default: the kernel's PR ioctls and
 * libmpathpersist retry 5 times. */
#define SGIO_UA_RETRIES_MAX	16
#define SGIO_UA_RETRIES_DEFAULT 5

/* How one command is sent. */
struct sgio_opts {
	unsigned timeout_ms; /* SG_IO timeout: the whole command's budget */
	unsigned ua_retries; /* resends after UNIT ATTENTION, at most */
};

/* The unit attentions that one command's retries consumed, in order. */
struct sgio_ua {
	unsigned n;			    /* how many */
	uint16_t code[SGIO_UA_RETRIES_MAX]; /* ASC << 8 | ASCQ of each */
};

/*
 * Issue the 16-byte cdb on fd with SG_IO and map the outcome into res.
 * PR IN: data is a PRH_DATA_MAX buffer receiving the payload (dxfer_len is
 * always PRH_DATA_MAX); len is the allocation length capping res->size.
 * PR OUT: data holds the len-byte parameter list, which SG_IO leaves
 * alone.  Never fails: every outcome is expressed as status + sense.
 *
 * An answer of CHECK CONDITION from the device itself with current sense
 * of key UNIT ATTENTION (scsi_result_unit_attention()) sends the same
 * command again, up to opts->ua_retries times, as long as less than half
 * of opts->timeout_ms has gone; each resend gets the rest of
 * opts->timeout_ms as its SG_IO timeout, so the command never takes
 * longer than one timeout in all.  What ends it is what res says: the
 * last unit attention when the retries or the time ran out.  ua (may be
 * NULL) gets the unit attentions the resends consumed.
 */
void sgio_execute(int fd, const uint8_t cdb[PRH_CDB_LEN], uint8_t *data,
    uint32_t len, const struct sgio_opts *opts, struct scsi_result *res,
    struct sgio_ua *ua);

#endif
