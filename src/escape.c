/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Names made safe to print (see escape.h). */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "prh/escape.h"

/* Longest unit written for one step: "\\xHH" in the label form. */
#define ESCAPE_UNIT_MAX 5

/* How many of the n bytes at s are the start of a well-formed UTF-8
 * sequence of two to four bytes (RFC 3629: no overlong form, no
 * surrogate, nothing above U+10FFFF), at most its length, which goes in
 * *len; 0 (and *len 0) when s[0] starts none: ASCII, a continuation byte,
 * 0xc0, 0xc1, 0xf5 and above. */
static size_t
escape_prefix(const uint8_t *s, size_t n, size_t *len)
{
	uint8_t lo = 0x80, hi = 0xbf; /* range of the second byte */
	size_t i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		*len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		*len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		*len = 4;
	else
		return *len = 0;
	if (s[0] == 0xe0)
		lo = 0xa0; /* overlong below */
	else if (s[0] == 0xed)
		hi = 0x9f; /* surrogates above */
	else if (s[0] == 0xf0)
		lo = 0x90; /* overlong below */
	else if (s[0] == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if (n < 2 || s[1] < lo || s[1] > hi)
		return 1;
	for (i = 2; i < *len && i < n && (s[i] & 0xc0) == 0x80; i++)
		;
	return i;
}

/* The length of the well-formed UTF-8 sequence of two to four bytes at
 * the start of the n bytes at s, and its code point in *cp; 0 when there
 * is none (ASCII, a stray or missing continuation byte, an overlong form,
 * a surrogate, above U+10FFFF, or cut short by the end). */
static size_t
escape_utf8(const uint8_t *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c;

	if (escape_prefix(s, n, &len) != len || len == 0)
		return 0;
	c = s[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++)
		c = c << 6 | (s[i] & 0x3f);
	*cp = c;
	return len;
}

/* Whether code point c may stand as it is: not a C1 control, not a line
 * or paragraph separator, not a character that reorders text. */
static bool
escape_cp_ok(uint32_t c)
{
	return !(c <= 0x9f || c == 0x061c || c == 0x200e || c == 0x200f ||
	    (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069));
}

/* The unit one step writes for the start of the n (> 0) bytes at s into
 * unit: its length; *used is the bytes of s it stands for. */
static size_t
escape_unit(const uint8_t *s, size_t n, unsigned flags, char *unit,
    size_t *used)
{
	static const char hex[] = "0123456789abcdef";
	bool label = flags & ESCAPE_LABEL;
	size_t len, u = 0;
	uint32_t cp;

	*used = 1;
	if (s[0] == '\\') {
		memcpy(unit, "\\\\\\\\", 4); /* "\\", or "\\\\" in a label */
		return label ? 4 : 2;
	}
	if (s[0] == '"' && label) {
		memcpy(unit, "\\\"", 2);
		return 2;
	}
	if (s[0] > ' ' && s[0] < 0x7f) {
		unit[0] = (char)s[0];
		return 1;
	}
	if (s[0] == ' ' && !(flags & ESCAPE_WORD)) {
		unit[0] = ' ';
		return 1;
	}
	if (s[0] >= 0x80 && (len = escape_utf8(s, n, &cp)) > 0 &&
	    escape_cp_ok(cp)) {
		memcpy(unit, s, len);
		*used = len;
		return len;
	}
	unit[u++] = '\\';
	if (label)
		unit[u++] = '\\';
	unit[u++] = 'x';
	unit[u++] = hex[s[0] >> 4];
	unit[u++] = hex[s[0] & 0x0f];
	return u;
}

/* Escape n bytes of in into out, cut between units. */
size_t
escape_bytes(char *out, size_t size, const void *in, size_t n, unsigned flags,
    size_t *taken)
{
	const uint8_t *s = in;
	char unit[ESCAPE_UNIT_MAX];
	size_t i = 0, o = 0, len, used;

	while (size > 0 && i < n) {
		len = escape_unit(s + i, n - i, flags, unit, &used);
		if (len > size - 1 - o)
			break;
		memcpy(out + o, unit, len);
		o += len;
		i += used;
	}
	if (size > 0)
		out[o] = '\0';
	if (taken != NULL)
		*taken = i;
	return o;
}

/* Escape the string s into out; out. */
const char *
escape_str(char *out, size_t size, const char *s, unsigned flags)
{
	escape_bytes(out, size, s, strlen(s), flags, NULL);
	return out;
}

/* Where to cut n bytes at s to at most max without splitting a
 * character: back off a sequence that starts before max and would end
 * after it (only the max bytes before the cut are looked at). */
size_t
escape_cut(const char *s, size_t n, size_t max)
{
	const uint8_t *u = (const uint8_t *)s;
	size_t len, k;

	if (n <= max)
		return n;
	/* A sequence cut there starts at most 3 bytes before, and only
	 * continuation bytes lie between. */
	for (size_t back = 1; back <= 3 && back <= max; back++) {
		k = escape_prefix(u + max - back, back, &len);
		if (len > back && k == back)
			return max - back;
		if ((u[max - back] & 0xc0) != 0x80)
			break;
	}
	return max;
}
