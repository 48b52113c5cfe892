/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Bytes as hex text and back; see hex.h. */
#include <ctype.h>
#include <string.h>

#include "hex.h"

/* Hex of len bytes into out. */
void
th_hex(char *out, const uint8_t *b, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * len] = '\0';
}

/* Value of one hex digit, or -1. */
static int
th_hexval(char c)
{
	static const char digits[] = "0123456789abcdef";
	const char *d = strchr(digits, tolower((unsigned char)c));

	return c != '\0' && d != NULL ? (int)(d - digits) : -1;
}

/* Decode the hex pairs at the start of s: the count. */
size_t
th_unhex_prefix(const char *s, uint8_t *out, size_t max, const char **end)
{
	size_t n = 0;

	while (n < max && th_hexval(s[0]) >= 0 && th_hexval(s[1]) >= 0) {
		out[n++] = (uint8_t)(th_hexval(s[0]) << 4 | th_hexval(s[1]));
		s += 2;
	}
	if (end != NULL)
		*end = s;
	return n;
}

/* Decode hex text into out: the byte count, or -1. */
int
th_unhex(const char *s, uint8_t *out, size_t max)
{
	const char *end;
	size_t n;

	if (strcmp(s, "-") == 0)
		return 0;
	n = th_unhex_prefix(s, out, max, &end);
	return *end == '\0' ? (int)n : -1;
}
