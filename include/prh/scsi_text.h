/* SPDX-License-Identifier: GPL-2.0-or-later */
/* SCSI in words: status names, sense keys, the additional sense codes a
 * PR command meets, and the names of the PR service actions.  What
 * qemu-pr-client prints, the audit trail logs and the metrics label.
 * Pure functions over static tables, safe on any thread.
 */
#ifndef PRH_SCSI_TEXT_H
#define PRH_SCSI_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Name of a SCSI status byte ("GOOD", "CHECK CONDITION", ...), or NULL
 * for a value SAM does not define. */
const char *scsi_status_name(uint32_t status);

/* Name of a sense key ("ILLEGAL REQUEST", ...). */
const char *scsi_sense_key_name(uint8_t key);

/* Words for an additional sense code and qualifier ("invalid field in
 * CDB"), or "" for one the table does not know. */
const char *scsi_asc_name(uint8_t asc, uint8_t ascq);

/* The sense key, ASC and ASCQ of sense data in fixed or descriptor
 * format. */
void scsi_sense_codes(const uint8_t *sense, uint8_t *key, uint8_t *asc,
    uint8_t *ascq);

/* A status in words into buf: its name, and for CHECK CONDITION the
 * sense ("CHECK CONDITION: ILLEGAL REQUEST, invalid field in CDB
 * (24/00)"); "status 0x42" for an unnamed one. */
void
scsi_status_words(uint32_t status, const uint8_t *sense, char *buf, size_t len);

/* Name of a PR IN (out false) or PR OUT service action ("READ KEYS",
 * "PREEMPT AND ABORT", ...), or NULL for one SPC does not define. */
const char *scsi_pr_action_name(bool out, uint8_t sa);

/* Short name of a reservation type ("we", "ea", "we-ro", "ea-ro",
 * "we-ar", "ea-ar"), or NULL for a type SPC does not define. */
const char *scsi_pr_type_name(unsigned type);

#endif
