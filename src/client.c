/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A blocking client of the helper protocol, as QEMU's pr-manager-helper
 * speaks it.  Every call retries on EINTR and reports -errno.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "prh/client.h"
#include "prh/fdpass.h"
#include "prh/scsi_text.h"

/* Store v big-endian in 2 bytes at p. */
static void
client_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Store v big-endian in 8 bytes at p. */
static void
client_put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* Read a big-endian 32-bit value at p. */
static uint32_t
client_get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Connect to the helper at path without the handshake: fd or -errno. */
int
client_connect_raw(const char *path)
{
	struct sockaddr_un sun;
	int fd, rc;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	do {
		rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	} while (rc < 0 && errno == EINTR);
	if (rc < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* Do the handshake on a connected socket (read 4 bytes, answer 0); on
 * failure the socket is closed.  fd or -errno. */
int
client_handshake(int fd)
{
	uint8_t hello[PRH_HELLO_LEN];
	int rc;

	rc = client_read_all(fd, hello, sizeof(hello));
	if (rc == 0) {
		memset(hello, 0, sizeof(hello));
		rc = client_write_all(fd, hello, sizeof(hello));
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

/* Connect and do the handshake (read 4 bytes, answer 0): fd or -errno. */
int
client_connect(const char *path)
{
	int fd = client_connect_raw(path);

	return fd < 0 ? fd : client_handshake(fd);
}

/* Write all len bytes: 0 or -errno. */
int
client_write_all(int sock, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(sock, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes: 0, -ECONNRESET on EOF, or -errno. */
int
client_read_all(int sock, void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = read(sock, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Build a PR IN CDB (16 bytes, zero-filled) for service action sa. */
void
client_cdb_pr_in(uint8_t cdb[PRH_CDB_LEN], uint8_t sa, uint16_t alloc_len)
{
	memset(cdb, 0, PRH_CDB_LEN);
	cdb[0] = PRH_OP_PR_IN;
	cdb[1] = sa & 0x1f;
	client_put_be16(&cdb[7], alloc_len);
}

/* Build a PR OUT CDB for service action sa, scope/type byte and
 * parameter list length. */
void
client_cdb_pr_out(uint8_t cdb[PRH_CDB_LEN], uint8_t sa, uint8_t scope_type,
    uint16_t param_len)
{
	memset(cdb, 0, PRH_CDB_LEN);
	cdb[0] = PRH_OP_PR_OUT;
	cdb[1] = sa & 0x1f;
	cdb[2] = scope_type;
	client_put_be16(&cdb[7], param_len);
}

/* Build the 24-byte basic PR OUT parameter list. */
void
client_param_basic(uint8_t param[24], uint64_t key, uint64_t sa_key,
    uint8_t flags)
{
	memset(param, 0, 24);
	client_put_be64(&param[0], key);
	client_put_be64(&param[8], sa_key);
	param[20] = flags;
}

/* Send the 16 CDB bytes with devfd attached to the first sendmsg. */
static int
client_send_cdb(int sock, const uint8_t cdb[PRH_CDB_LEN], int devfd)
{
	ssize_t n;

	do {
		n = fdpass_send(sock, cdb, PRH_CDB_LEN, devfd);
	} while (n == -EINTR);
	if (n < 0)
		return (int)n;
	/* The fd went with the first byte; send whatever is left plainly. */
	if ((size_t)n < PRH_CDB_LEN)
		return client_write_all(sock, cdb + n, PRH_CDB_LEN - (size_t)n);
	return 0;
}

/* Send one request: the CDB with devfd attached (SCM_RIGHTS, one
 * sendmsg), then for PR OUT the plen parameter bytes. 0 or -errno. */
int
client_send_request(int sock, const uint8_t cdb[PRH_CDB_LEN], int devfd,
    const void *param, size_t plen)
{
	int rc;

	rc = client_send_cdb(sock, cdb, devfd);
	if (rc == 0 && plen > 0)
		rc = client_write_all(sock, param, plen);
	return rc;
}

/* Read one reply (header, then size bytes of payload). 0, -ECONNRESET on
 * EOF, -EPROTO if size exceeds PRH_DATA_MAX, or -errno. */
int
client_read_reply(int sock, struct client_reply *r)
{
	uint8_t hdr[PRH_REPLY_HDR_LEN];
	int rc;

	rc = client_read_all(sock, hdr, sizeof(hdr));
	if (rc < 0)
		return rc;
	r->status = client_get_be32(&hdr[0]);
	r->size = client_get_be32(&hdr[4]);
	memcpy(r->sense, &hdr[8], PRH_SENSE_LEN);
	if (r->size > PRH_DATA_MAX)
		return -EPROTO;
	if (r->size > 0)
		return client_read_all(sock, r->data, r->size);
	return 0;
}

/* Send a request and read its reply. 0 or -errno. */
int
client_command(int sock, const uint8_t cdb[PRH_CDB_LEN], int devfd,
    const void *param, size_t plen, struct client_reply *r)
{
	int rc;

	rc = client_send_request(sock, cdb, devfd, param, plen);
	if (rc == 0)
		rc = client_read_reply(sock, r);
	return rc;
}

/* Parse a reservation type name or number: 0 and *type, or -EINVAL. */
int
client_parse_pr_type(const char *s, uint8_t *type)
{
	char *end;
	unsigned long v;

	for (unsigned i = 0; i <= 15; i++) {
		const char *name = scsi_pr_type_name(i);

		if (name != NULL && strcmp(s, name) == 0) {
			*type = (uint8_t)i;
			return 0;
		}
	}
	v = strtoul(s, &end, 0);
	if (*s == '\0' || *end != '\0' || v > 15)
		return -EINVAL;
	*type = (uint8_t)v;
	return 0;
}

/* Parse a 64-bit key: 0 and *key, or -EINVAL. */
int
client_parse_key(const char *s, uint64_t *key)
{
	char *end;

	errno = 0;
	*key = strtoull(s, &end, 0);
	return (*s == '\0' || *end != '\0' || errno) ? -EINVAL : 0;
}
