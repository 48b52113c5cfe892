/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A blocking client of the helper protocol, as QEMU's pr-manager-helper
 * speaks it.  Used by the benchmark, the demo and the tests.
 */
#ifndef PRH_CLIENT_H
#define PRH_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "prh/protocol.h"

/* One reply: header fields and payload. */
struct client_reply {
	uint32_t status;
	uint32_t size;
	uint8_t sense[PRH_SENSE_LEN];
	uint8_t data[PRH_DATA_MAX];
};

/* Connect to the helper at path without the handshake: fd or -errno. */
int client_connect_raw(const char *path);

/* Do the handshake on a connected socket (read 4 bytes, answer 0); on
 * failure the socket is closed.  fd or -errno. */
int client_handshake(int fd);

/* Connect and do the handshake (read 4 bytes, answer 0): fd or -errno. */
int client_connect(const char *path);

/* Write all len bytes: 0 or -errno. */
int client_write_all(int sock, const void *buf, size_t len);

/* Read exactly len bytes: 0, -ECONNRESET on EOF, or -errno. */
int client_read_all(int sock, void *buf, size_t len);

/* Parse a reservation type, by name or as a number 0..15: 0, or -EINVAL. */
int client_parse_pr_type(const char *s, uint8_t *type);

/* Parse a 64-bit reservation key (decimal, or hex with 0x): 0, or -EINVAL. */
int client_parse_key(const char *s, uint64_t *key);

/* Build a PR IN CDB (16 bytes, zero-filled) for service action sa. */
void client_cdb_pr_in(uint8_t cdb[PRH_CDB_LEN], uint8_t sa, uint16_t alloc_len);

/* Build a PR OUT CDB for service action sa, scope/type byte and
 * parameter list length. */
void client_cdb_pr_out(uint8_t cdb[PRH_CDB_LEN], uint8_t sa, uint8_t scope_type,
    uint16_t param_len);

/* Build the 24-byte basic PR OUT parameter list. */
void client_param_basic(uint8_t param[24], uint64_t key, uint64_t sa_key,
    uint8_t flags);

/* Send one request: the CDB with devfd attached (SCM_RIGHTS, one
 * sendmsg), then for PR OUT the plen parameter bytes. 0 or -errno. */
int client_send_request(int sock, const uint8_t cdb[PRH_CDB_LEN], int devfd,
    const void *param, size_t plen);

/* Read one reply (header, then size bytes of payload). 0, -ECONNRESET on
 * EOF, -EPROTO if size exceeds PRH_DATA_MAX, or -errno. */
int client_read_reply(int sock, struct client_reply *r);

/* Send a request and read its reply. 0 or -errno. */
int client_command(int sock, const uint8_t cdb[PRH_CDB_LEN], int devfd,
    const void *param, size_t plen, struct client_reply *r);

#endif
