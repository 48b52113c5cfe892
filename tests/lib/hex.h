/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Bytes as hex text and back, for the tests' messages and the lunsim
 * driver's lines.  Depends on libc only, so that programs that link
 * nothing else of the test library (tests/lunsim/lunsim-drive) can. */
#ifndef PRH_TESTS_HEX_H
#define PRH_TESTS_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Hex of len bytes into out (2*len+1 bytes). */
void th_hex(char *out, const uint8_t *b, size_t len);

/* Decode the pairs of hex digits at the start of s into out, at most max
 * bytes: their count; *end (unless NULL) gets where decoding stopped. */
size_t
th_unhex_prefix(const char *s, uint8_t *out, size_t max, const char **end);

/* Decode the hex text s ("-" for none) into out: the byte count, or -1
 * if s is not whole pairs of hex digits or holds more than max bytes. */
int th_unhex(const char *s, uint8_t *out, size_t max);

#endif
