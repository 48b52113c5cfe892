/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the fuzz targets and their replay driver.
 *
 * Each target defines LLVMFuzzerTestOneInput() (and may define
 * LLVMFuzzerInitialize()).  Built with clang -fsanitize=fuzzer it is a
 * libFuzzer binary; linked with replay.c it is a plain program that runs
 * every file of its checked-in corpus once and reports TAP, so make check
 * replays the corpus with any compiler.  A violated invariant prints what
 * broke and aborts, which both drivers report as a crash.
 */
#ifndef PRH_TESTS_FUZZ_H
#define PRH_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "prh/scsi_result.h"

/* Run one input; always returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Optional one-time set-up: a target that needs none defines none (the
 * replay driver has a weak one that does nothing). */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Report a broken invariant and abort: the fuzzer keeps the input. */
#define FUZZ_CHECK(cond, ...)                                          \
	do {                                                           \
		if (!(cond)) {                                         \
			fprintf(stderr,                                \
			    "%s:%d: invariant failed: %s: ", __FILE__, \
			    __LINE__, #cond);                          \
			fprintf(stderr, __VA_ARGS__);                  \
			fputc('\n', stderr);                           \
			abort();                                       \
		}                                                      \
	} while (0)

/* Byte reader over a fuzz input: reads past the end give zeros. */
struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

/* Take one byte (0 once the input is used up). */
static inline uint8_t
fuzz_u8(struct fuzz_in *in)
{
	if (in->left == 0)
		return 0;
	in->left--;
	return *in->p++;
}

/* Take a little-endian 32-bit value. */
static inline uint32_t
fuzz_u32(struct fuzz_in *in)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)fuzz_u8(in) << (8 * i);
	return v;
}

/* Copy n bytes out (zero-filled past the end). */
static inline void
fuzz_bytes(struct fuzz_in *in, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = fuzz_u8(in);
}

/* Decode the multipath targets' input into a PR OUT: CDB byte 1 (service
 * action), CDB byte 2 (scope and type), then the parameter list (the
 * rest, at most PRH_DATA_MAX bytes) into param; the CDB's parameter list
 * length says how long.  Returns that length. */
static inline uint32_t
fuzz_pr_out(struct fuzz_in *in, uint8_t cdb[PRH_CDB_LEN],
    uint8_t param[PRH_DATA_MAX])
{
	uint32_t len;

	for (int i = 0; i < PRH_CDB_LEN; i++)
		cdb[i] = 0;
	cdb[0] = PRH_OP_PR_OUT;
	cdb[1] = fuzz_u8(in);
	cdb[2] = fuzz_u8(in);
	len = in->left < PRH_DATA_MAX ? (uint32_t)in->left : PRH_DATA_MAX;
	fuzz_bytes(in, param, len);
	cdb[7] = len >> 8;
	cdb[8] = len;
	return len;
}

/* Check the answer of a refused PR OUT translation (the multipath
 * modes): CHECK CONDITION, ILLEGAL REQUEST 1A/00, 24/00 or 26/00 in
 * 18-byte fixed format, zeros after it, size 0. */
static inline void
fuzz_check_pr_out_refusal(const struct scsi_result *r)
{
	FUZZ_CHECK(r->status == PRH_STATUS_CHECK_CONDITION, "status %u",
	    r->status);
	FUZZ_CHECK(r->size == 0, "size %u", r->size);
	FUZZ_CHECK(r->sense[0] == 0x70 && r->sense[7] == 10, "format");
	FUZZ_CHECK(r->sense[2] == PRH_SK_ILLEGAL_REQUEST, "key %u",
	    r->sense[2]);
	FUZZ_CHECK(r->sense[12] == 0x1a || r->sense[12] == 0x24 ||
		r->sense[12] == 0x26,
	    "asc %02x", r->sense[12]);
	FUZZ_CHECK(r->sense[13] == 0, "ascq %02x", r->sense[13]);
	for (int i = 18; i < PRH_SENSE_LEN; i++)
		FUZZ_CHECK(r->sense[i] == 0, "sense byte %d", i);
}

#endif
