/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The SG_IO backend: runs one PERSISTENT RESERVE IN/OUT on a device fd.
 * Blocking; called on worker threads only, never on the event loop.
 */
#ifndef PRH_SGIO_H
#define PRH_SGIO_H

#include <stdint.h>

#include "prh/protocol.h"
#include "prh/scsi_result.h"

/*
 * Issue the 16-byte cdb on fd with SG_IO and map the outcome into res.
 * PR IN: data is a PRH_DATA_MAX buffer receiving the payload (dxfer_len is
 * always PRH_DATA_MAX); len is the allocation length capping res->size.
 * PR OUT: data holds the len-byte parameter list.  timeout_ms is the SG_IO
 * timeout.  Never fails: every outcome is expressed as status + sense.
 */
void sgio_execute(int fd, const uint8_t cdb[PRH_CDB_LEN], uint8_t *data,
    uint32_t len, unsigned timeout_ms, struct scsi_result *res);

#endif
