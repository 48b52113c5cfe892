/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target: the SG_IO outcome mapping (scsi_result.c).
 *
 * Input: a selector byte, then the fields of one SG_IO outcome and the
 * sense bytes the kernel wrote.  Checked for every input:
 *  - size is 0 for PR OUT and for any status but GOOD, never above the
 *    allocation length, the transfer length or PRH_DATA_MAX, and equals
 *    min(dxfer_len - resid, alloc_len) for a GOOD PR IN;
 *  - a host status other than DID_OK never answers GOOD;
 *  - the 96 sense bytes are either the kernel's, verbatim, or a complete
 *    18-byte fixed-format sense followed by zeros; whatever the result
 *    held before does not leak into it (computed twice over different
 *    garbage, and under MemorySanitizer over poisoned memory).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "prh/scsi_result.h"
#include "fuzz.h"

#if defined(__has_feature)
#if __has_feature(memory_sanitizer)
#include <sanitizer/msan_interface.h>
#define FUZZ_MSAN 1
#endif
#endif

/* Mark len bytes at p as never written (MemorySanitizer builds only). */
static void
fuzz_poison(void *p, size_t len)
{
#ifdef FUZZ_MSAN
	__msan_poison(p, len);
#else
	(void)p;
	(void)len;
#endif
}

/* Fail if any byte of r is undefined (MemorySanitizer builds only). */
static void
fuzz_defined(const struct scsi_result *r)
{
#ifdef FUZZ_MSAN
	__msan_check_mem_is_initialized(r, sizeof(*r));
#else
	(void)r;
#endif
}

/* Whether sense is the helper's own fixed-format sense, zero-padded. */
static int
fuzz_is_built_sense(const uint8_t sense[PRH_SENSE_LEN])
{
	static const uint8_t zero[PRH_SENSE_LEN];

	return sense[0] == 0x70 && sense[1] == 0 && (sense[2] & 0xf0) == 0 &&
	    memcmp(sense + 3, zero, 4) == 0 && sense[7] == 10 &&
	    memcmp(sense + 8, zero, 4) == 0 &&
	    memcmp(sense + 14, zero, PRH_SENSE_LEN - 14) == 0;
}

/* The PR IN payload size the wire rules allow for a GOOD completion. */
static uint32_t
fuzz_want_size(uint32_t dxfer_len, int32_t resid, uint32_t alloc_len)
{
	uint32_t n;

	if (resid <= 0)
		n = dxfer_len;
	else if ((uint32_t)resid >= dxfer_len)
		n = 0;
	else
		n = dxfer_len - (uint32_t)resid;
	if (n > alloc_len)
		n = alloc_len;
	return n < PRH_DATA_MAX ? n : PRH_DATA_MAX;
}

/* scsi_result_from_errno(): a complete, garbage-independent result. */
static void
fuzz_errno(int err, uint8_t garbage)
{
	struct scsi_result a, b;
	static const uint8_t zero[PRH_SENSE_LEN];

	memset(&a, garbage, sizeof(a));
	memset(&b, ~garbage, sizeof(b));
	fuzz_poison(&a, sizeof(a));
	scsi_result_from_errno(&a, err);
	scsi_result_from_errno(&b, err);
	fuzz_defined(&a);
	FUZZ_CHECK(a.status == b.status && a.size == b.size &&
		memcmp(a.sense, b.sense, PRH_SENSE_LEN) == 0,
	    "errno %d: result depends on prior contents", err);
	FUZZ_CHECK(a.size == 0, "errno %d: size %u", err, a.size);
	FUZZ_CHECK(a.status != PRH_STATUS_GOOD, "errno %d answers GOOD", err);
	if (a.status == PRH_STATUS_CHECK_CONDITION)
		FUZZ_CHECK(fuzz_is_built_sense(a.sense), "errno %d: sense",
		    err);
	else
		FUZZ_CHECK(memcmp(a.sense, zero, PRH_SENSE_LEN) == 0,
		    "errno %d: status 0x%02x with sense", err, a.status);
}

/* One SG_IO completion as the worker sees it. */
struct fuzz_sgio {
	unsigned host, driver, status;
	int is_in;
	uint32_t dxfer_len, alloc_len;
	int32_t resid;
	uint8_t sense[PRH_SENSE_LEN]; /* from the kernel */
};

/* Map s into r, whose status and size start as garbage. */
static void
fuzz_map(const struct fuzz_sgio *s, struct scsi_result *r, uint8_t garbage)
{
	memset(r, garbage, sizeof(*r));
	fuzz_poison(r, offsetof(struct scsi_result, sense));
	memcpy(r->sense, s->sense, PRH_SENSE_LEN);
	scsi_result_from_sgio(r, s->host, s->driver, s->status, s->is_in,
	    s->dxfer_len, s->resid, s->alloc_len);
	fuzz_defined(r);
}

/* scsi_result_from_sgio(): the size and sense rules. */
static void
fuzz_sgio(const struct fuzz_sgio *s, uint8_t garbage)
{
	struct scsi_result a, b;
	int kept;

	fuzz_map(s, &a, garbage);
	fuzz_map(s, &b, ~garbage);
	FUZZ_CHECK(a.status == b.status && a.size == b.size &&
		memcmp(a.sense, b.sense, PRH_SENSE_LEN) == 0,
	    "result depends on prior contents");
	FUZZ_CHECK(a.size <= PRH_DATA_MAX, "size %u", a.size);
	FUZZ_CHECK(a.size == 0 || (s->is_in && a.status == PRH_STATUS_GOOD),
	    "size %u with status 0x%02x is_in %d", a.size, a.status, s->is_in);
	if (s->is_in) {
		FUZZ_CHECK(a.size <= s->alloc_len, "size %u > alloc_len %u",
		    a.size, s->alloc_len);
		FUZZ_CHECK(a.size <= s->dxfer_len, "size %u > dxfer_len %u",
		    a.size, s->dxfer_len);
	}
	if (s->host != 0)
		FUZZ_CHECK(a.status != PRH_STATUS_GOOD, "host 0x%x: GOOD",
		    s->host);
	else if (s->driver & 0x06)
		FUZZ_CHECK(a.status == PRH_STATUS_BUSY, "driver 0x%x: 0x%02x",
		    s->driver, a.status);
	else
		FUZZ_CHECK(a.status == (s->status & 0xff),
		    "status 0x%x: 0x%02x", s->status, a.status);
	if (a.status == PRH_STATUS_GOOD && s->is_in && s->host == 0 &&
	    !(s->driver & 0x06))
		FUZZ_CHECK(a.size ==
			fuzz_want_size(s->dxfer_len, s->resid, s->alloc_len),
		    "size %u, want %u", a.size,
		    fuzz_want_size(s->dxfer_len, s->resid, s->alloc_len));
	kept = memcmp(a.sense, s->sense, PRH_SENSE_LEN) == 0;
	FUZZ_CHECK(kept ||
		(a.status == PRH_STATUS_CHECK_CONDITION &&
		    fuzz_is_built_sense(a.sense)),
	    "sense neither kept nor built");
	if (s->host == 0)
		FUZZ_CHECK(kept, "host DID_OK: sense rewritten");
}

/* Take a value that is small most of the time: selector bit set gives a
 * full 32-bit value, else one byte. */
static uint32_t
fuzz_val(struct fuzz_in *in, int wide)
{
	return wide ? fuzz_u32(in) : fuzz_u8(in);
}

/* One input: a selector, the outcome fields, the kernel's sense. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct fuzz_sgio s;
	uint8_t sel, garbage;

	sel = fuzz_u8(&in);
	garbage = fuzz_u8(&in);
	s.host = fuzz_val(&in, sel & 0x01);
	s.driver = fuzz_val(&in, sel & 0x02);
	s.status = fuzz_val(&in, sel & 0x04);
	s.is_in = !(sel & 0x08);
	s.dxfer_len = fuzz_u32(&in);
	s.resid = (int32_t)fuzz_u32(&in);
	s.alloc_len = fuzz_u32(&in);
	if (sel & 0x10) { /* what sgio.c passes: 8192 for PR IN */
		s.dxfer_len = s.is_in ? PRH_DATA_MAX : s.alloc_len & 0x3fff;
		s.alloc_len &= 0x3fff;
	}
	fuzz_bytes(&in, s.sense, sizeof(s.sense));
	fuzz_sgio(&s, garbage);
	fuzz_errno((int)fuzz_val(&in, sel & 0x20), garbage);
	fuzz_errno((int)s.host, garbage);
	return 0;
}
