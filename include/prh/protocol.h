/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Wire constants of the QEMU persistent-reservation helper protocol.
 *
 * All integers on the wire are big-endian.  A connection starts with a
 * 4-byte feature word from the helper (always 0) answered by 4 bytes from
 * the client (must be 0).  A request is a 16-byte CDB carrying exactly one
 * file descriptor as SCM_RIGHTS, followed for PERSISTENT RESERVE OUT by a
 * parameter list of BE16(CDB[7..8]) bytes.  A reply is a 104-byte header
 * (BE32 status, BE32 size, 96 bytes of sense) followed by size bytes.
 */
#ifndef PRH_PROTOCOL_H
#define PRH_PROTOCOL_H

#define PRH_HELLO_LEN	  4    /* feature word, each direction */
#define PRH_CDB_LEN	  16   /* CDB as sent by the client */
#define PRH_SENSE_LEN	  96   /* sense bytes in every reply */
#define PRH_DATA_MAX	  8192 /* max PR IN / PR OUT transfer */
#define PRH_REPLY_HDR_LEN (4 + 4 + PRH_SENSE_LEN) /* 104 */

#define PRH_OP_PR_IN  0x5e /* PERSISTENT RESERVE IN */
#define PRH_OP_PR_OUT 0x5f /* PERSISTENT RESERVE OUT */

/* SCSI status byte values the helper produces itself. */
#define PRH_STATUS_GOOD			0x00
#define PRH_STATUS_CHECK_CONDITION	0x02
#define PRH_STATUS_BUSY			0x08
#define PRH_STATUS_RESERVATION_CONFLICT 0x18
#define PRH_STATUS_TASK_SET_FULL	0x28

/* Sense keys. */
#define PRH_SK_NO_SENSE	       0x0
#define PRH_SK_NOT_READY       0x2
#define PRH_SK_MEDIUM_ERROR    0x3
#define PRH_SK_HARDWARE_ERROR  0x4
#define PRH_SK_ILLEGAL_REQUEST 0x5
#define PRH_SK_UNIT_ATTENTION  0x6
#define PRH_SK_DATA_PROTECT    0x7
#define PRH_SK_ABORTED_COMMAND 0xb

#endif
