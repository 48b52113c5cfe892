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

#endif
