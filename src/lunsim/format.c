/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lunsim: the LUN file format (header at offset 0, data after it) and the
 * fault syntax shared by the launcher and the preload library.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lunsim.h"

_Static_assert(sizeof(struct lunsim_hdr) <= LUNSIM_HDR_SIZE,
    "lunsim header does not fit its reserved area");
_Static_assert(sizeof(struct lunsim_itn) == 96, "lunsim_itn layout");

/* Whether the first bytes of a file are a LUN header. */
int
lunsim_hdr_valid(const struct lunsim_hdr *h)
{
	return memcmp(h->magic, LUNSIM_MAGIC, LUNSIM_MAGIC_LEN) == 0 &&
	    h->version == LUNSIM_VERSION && h->hdr_size == LUNSIM_HDR_SIZE &&
	    h->block_size == LUNSIM_BLOCK_SIZE;
}

/* Initialise h for a fresh LUN of size data bytes. */
void
lunsim_hdr_init(struct lunsim_hdr *h, uint64_t size)
{
	struct timespec ts;
	uint64_t seed;
	int i;

	memset(h, 0, sizeof(*h));
	memcpy(h->magic, LUNSIM_MAGIC, LUNSIM_MAGIC_LEN);
	h->version = LUNSIM_VERSION;
	h->hdr_size = LUNSIM_HDR_SIZE;
	h->size = size - size % LUNSIM_BLOCK_SIZE;
	h->block_size = LUNSIM_BLOCK_SIZE;
	h->res_holder = -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	seed = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^
	    ((uint64_t)getpid() << 32);
	for (i = 0; i < 16; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		h->id[i] = (uint8_t)(seed >> 56);
	}
}

/* Create (or with force, reinitialise) a LUN file: 0 or -errno. */
int
lunsim_create(const char *path, uint64_t size, int force)
{
	struct stat st;
	int fd, rc;

	if (size < LUNSIM_BLOCK_SIZE)
		return -EINVAL;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = 0;
	if (flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0)
		rc = -errno;
	else if (st.st_size > 0 && !force)
		rc = -EEXIST;
	if (rc == 0)
		rc = lunsim_shm_format(fd, size);
	close(fd);
	return rc;
}

/* Parse an unsigned number (decimal, 0x hex, 0 octal) up to max. */
static int
lunsim_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (*s == '\0' || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno != 0 || *end != '\0' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parse "MS[:JITTER]": 0 or -EINVAL. */
int
lunsim_parse_latency(const char *s, uint32_t *ms, uint32_t *jitter)
{
	char buf[64], *colon;
	unsigned long a, b = 0;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	colon = strchr(buf, ':');
	if (colon != NULL) {
		*colon = '\0';
		if (lunsim_parse_uint(colon + 1, 3600000, &b) < 0)
			return -EINVAL;
	}
	if (lunsim_parse_uint(buf, 3600000, &a) < 0)
		return -EINVAL;
	*ms = (uint32_t)a;
	*jitter = (uint32_t)b;
	return 0;
}

/* Errno names the fault syntax accepts. */
static const struct {
	const char *name;
	int err;
} lunsim_errnos[] = {
	{ "EIO", EIO },
	{ "EINVAL", EINVAL },
	{ "ENOTTY", ENOTTY },
	{ "ENOMEM", ENOMEM },
	{ "EAGAIN", EAGAIN },
	{ "EBUSY", EBUSY },
	{ "ENODEV", ENODEV },
	{ "ENXIO", ENXIO },
	{ "EPERM", EPERM },
	{ "EACCES", EACCES },
	{ "ETIMEDOUT", ETIMEDOUT },
	{ "EINTR", EINTR },
	{ "EFAULT", EFAULT },
	{ "ENOSPC", ENOSPC },
	{ "EROFS", EROFS },
	{ "EOVERFLOW", EOVERFLOW },
	{ "EDOM", EDOM },
	{ "ENOLINK", ENOLINK },
};

/* Parse an errno name or number. */
static int
lunsim_parse_errno(const char *s, int32_t *err)
{
	unsigned long v;
	size_t i;

	for (i = 0; i < sizeof(lunsim_errnos) / sizeof(lunsim_errnos[0]); i++)
		if (strcasecmp(s, lunsim_errnos[i].name) == 0) {
			*err = lunsim_errnos[i].err;
			return 0;
		}
	if (lunsim_parse_uint(s, 4095, &v) < 0 || v == 0)
		return -EINVAL;
	*err = (int32_t)v;
	return 0;
}

/* Parse a hex string (spaces and colons allowed) into the fault sense. */
static int
lunsim_parse_hex(const char *s, uint8_t *out, uint8_t *outlen)
{
	unsigned n = 0;
	int hi = -1, v;

	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == ':' || *s == '-')
			continue;
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if ((*s | 0x20) >= 'a' && (*s | 0x20) <= 'f')
			v = (*s | 0x20) - 'a' + 10;
		else
			return -EINVAL;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n >= LUNSIM_FAULT_SENSE_MAX)
			return -EINVAL;
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0)
		return -EINVAL;
	*outlen = (uint8_t)n;
	return 0;
}

/* Apply one "key=value" fault word to f: 0 or -EINVAL. */
int
lunsim_fault_parse(struct lunsim_fault *f, const char *word)
{
	const char *val = strchr(word, '=');
	size_t klen = val != NULL ? (size_t)(val - word) : strlen(word);
	unsigned long v;

	if (val != NULL)
		val++;
#define KEY(k) (klen == strlen(k) && strncmp(word, (k), klen) == 0)
	if (KEY("clear") && val == NULL) {
		memset(f, 0, sizeof(*f));
		return 0;
	}
	if (KEY("hang") && val == NULL) {
		f->hang = 1;
		return 0;
	}
	if (val == NULL)
		return -EINVAL;
	if (KEY("hang"))
		return lunsim_parse_uint(val, 1, &v) < 0
		    ? -EINVAL
		    : (f->hang = (uint8_t)v, 0);
	if (KEY("latency"))
		return lunsim_parse_latency(val, &f->latency_ms, &f->jitter_ms);
	if (KEY("errno"))
		return lunsim_parse_errno(val, &f->err);
	if (KEY("count"))
		return lunsim_parse_uint(val, UINT32_MAX, &v) < 0
		    ? -EINVAL
		    : (f->count = (uint32_t)v, 0);
	if (KEY("host") || KEY("driver")) {
		if (lunsim_parse_uint(val, 0xffff, &v) < 0)
			return -EINVAL;
		if (KEY("host"))
			f->host_status = (uint16_t)v;
		else
			f->driver_status = (uint16_t)v;
		return 0;
	}
	if (KEY("status")) {
		if (lunsim_parse_uint(val, 0xff, &v) < 0)
			return -EINVAL;
		f->has_status = 1;
		f->status = (uint8_t)v;
		return 0;
	}
	if (KEY("sense"))
		return lunsim_parse_hex(val, f->sense, &f->sense_len);
#undef KEY
	return -EINVAL;
}

/* Describe f in the fault syntax into buf: 0. */
int
lunsim_fault_format(const struct lunsim_fault *f, char *buf, size_t len)
{
	size_t off = 0;
	unsigned i;

#define PUT(...)                                                        \
	do {                                                            \
		int n_ = snprintf(buf + off, off < len ? len - off : 0, \
		    __VA_ARGS__);                                       \
		if (n_ > 0)                                             \
			off += (size_t)n_;                              \
	} while (0)
	if (len > 0)
		buf[0] = '\0';
	if (f->latency_ms || f->jitter_ms)
		PUT("latency=%" PRIu32 ":%" PRIu32 " ", f->latency_ms,
		    f->jitter_ms);
	if (f->hang)
		PUT("hang ");
	if (f->err)
		PUT("errno=%" PRId32 " ", f->err);
	if (f->host_status)
		PUT("host=0x%02x ", (unsigned)f->host_status);
	if (f->driver_status)
		PUT("driver=0x%02x ", (unsigned)f->driver_status);
	if (f->has_status)
		PUT("status=0x%02x ", (unsigned)f->status);
	if (f->sense_len) {
		PUT("sense=");
		for (i = 0; i < f->sense_len; i++)
			PUT("%02x", (unsigned)f->sense[i]);
		PUT(" ");
	}
	if (f->count)
		PUT("count=%" PRIu32 " ", f->count);
	if (off == 0)
		PUT("none");
	else if (off <= len)
		buf[off - 1] = '\0';
#undef PUT
	return 0;
}
