/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target: names made safe to print (escape.c).
 *
 * Input: a flags byte (its low two bits: ESCAPE_LABEL, ESCAPE_WORD), a
 * little-endian 16-bit buffer size (taken modulo what the whole output
 * needs, plus two), then the name's bytes.  Checked for every input:
 *  - nothing is written past the buffer (it is allocated to the size),
 *    the output ends with '\0' and its length is returned;
 *  - the output is valid UTF-8 (checked here independently of escape.c)
 *    with no control character (below 0x20, DEL, C1), no line or
 *    paragraph separator and no bidirectional control, and no space with
 *    ESCAPE_WORD;
 *  - the text form gives back exactly the bytes it says it took; the
 *    label form is a valid label value of the exposition format (only
 *    \\, \" and \n escapes, no bare quote) whose value is the text form;
 *  - a cut output is the start of the whole one, and the next unit did
 *    not fit; with room for the whole, nothing is cut;
 *  - escape_cut() cuts at most 3 bytes short of the limit, and a valid
 *    UTF-8 name stays valid when cut there.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "prh/escape.h"
#include "fuzz.h"

/* Longest name tried (run-fuzz.sh's -max_len is below). */
#define FUZZ_NAME_MAX 4096

/* The code point of the UTF-8 character at s (n bytes left) and its
 * length in *len, or -1 when s starts no valid character.  Written from
 * the definition (bit patterns, then the least code point each length
 * may encode), not as escape.c does it. */
static long
fuzz_utf8(const uint8_t *s, size_t n, size_t *len)
{
	static const long least[] = { 0, 0, 0x80, 0x800, 0x10000 };
	long cp;
	size_t k;

	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0)
		k = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		k = 3;
	else if ((s[0] & 0xf8) == 0xf0)
		k = 4;
	else
		return -1;
	if (n < k)
		return -1;
	cp = s[0] & (0xff >> (k + 1));
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < least[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*len = k;
	return cp;
}

/* Whether code point cp may not appear in any output. */
static bool
fuzz_forbidden(long cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c ||
	    cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

/* Whether the n bytes at s are valid UTF-8. */
static bool
fuzz_valid(const uint8_t *s, size_t n)
{
	size_t len;

	for (size_t i = 0; i < n; i += len)
		if (fuzz_utf8(s + i, n - i, &len) < 0)
			return false;
	return true;
}

/* Check that the output t (len bytes) is valid UTF-8 without anything
 * forbidden. */
static void
fuzz_check_chars(const char *t, size_t len, unsigned flags)
{
	const uint8_t *s = (const uint8_t *)t;
	size_t k;
	long cp;

	for (size_t i = 0; i < len; i += k) {
		cp = fuzz_utf8(s + i, len - i, &k);
		FUZZ_CHECK(cp >= 0, "invalid UTF-8 at %zu", i);
		FUZZ_CHECK(!fuzz_forbidden(cp), "U+%04lX at %zu", cp, i);
		FUZZ_CHECK(!(flags & ESCAPE_WORD) || cp != ' ', "space at %zu",
		    i);
	}
}

/* Value of hex digit c, or -1 (lower case only: what escape.c writes). */
static int
fuzz_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The bytes the text form t stands for, into out: their number. */
static size_t
fuzz_unescape(const char *t, uint8_t *out)
{
	size_t n = 0;
	int hi, lo;

	while (*t != '\0') {
		if (*t != '\\') {
			out[n++] = (uint8_t)*t++;
			continue;
		}
		if (t[1] == '\\') {
			out[n++] = '\\';
			t += 2;
			continue;
		}
		FUZZ_CHECK(t[1] == 'x' && (hi = fuzz_hex(t[2])) >= 0 &&
			(lo = fuzz_hex(t[3])) >= 0,
		    "bad escape \"%.4s\"", t);
		out[n++] = (uint8_t)(hi << 4 | lo);
		t += 4;
	}
	return n;
}

/* The value of a label value l of the text exposition format, into out
 * (NUL-terminated): only \\, \" and \n escapes, no bare quote. */
static void
fuzz_label_value(const char *l, char *out)
{
	size_t n = 0;

	for (; *l != '\0'; l++) {
		FUZZ_CHECK(*l != '"', "bare quote");
		if (*l != '\\') {
			out[n++] = *l;
			continue;
		}
		l++;
		FUZZ_CHECK(*l == '\\' || *l == '"' || *l == 'n',
		    "escape \\%c in a label", *l);
		out[n++] = *l == 'n' ? '\n' : *l;
	}
	out[n] = '\0';
}

/* The length of the first unit written for the n (> 0) bytes at s. */
static size_t
fuzz_first_unit(const uint8_t *s, size_t n, unsigned flags)
{
	char out[8];
	size_t taken, len;

	for (size_t size = 2; size <= sizeof(out); size++) {
		len = escape_bytes(out, size, s, n, flags, &taken);
		if (taken > 0)
			return len;
	}
	FUZZ_CHECK(false, "no unit fits in %zu bytes", sizeof(out));
	return 0;
}

/* Buffers for one input (static: large). */
static struct {
	char whole[ESCAPE_LABEL_SIZE(FUZZ_NAME_MAX)];
	char text[ESCAPE_LABEL_SIZE(FUZZ_NAME_MAX)];
	char value[ESCAPE_LABEL_SIZE(FUZZ_NAME_MAX)];
	uint8_t back[FUZZ_NAME_MAX];
} fz;

/* Escape s (n bytes) into a buffer of exactly size bytes; check it. */
static void
fuzz_escape(const uint8_t *s, size_t n, unsigned flags, size_t size)
{
	size_t len, wlen, taken, tlen, m;
	char *out = size > 0 ? malloc(size) : NULL;

	FUZZ_CHECK(size == 0 || out != NULL, "out of memory");
	len = escape_bytes(out, size, s, n, flags, &taken);
	FUZZ_CHECK(taken <= n, "took %zu of %zu", taken, n);
	if (size == 0) {
		FUZZ_CHECK(len == 0 && taken == 0, "size 0: %zu", len);
		return;
	}
	FUZZ_CHECK(len < size && out[len] == '\0' && strlen(out) == len,
	    "length %zu, size %zu", len, size);
	fuzz_check_chars(out, len, flags);
	wlen = escape_bytes(fz.whole, sizeof(fz.whole), s, n, flags, &m);
	FUZZ_CHECK(m == n, "whole: took %zu of %zu", m, n);
	FUZZ_CHECK(wlen <= ((flags & ESCAPE_LABEL) ? 5 : 4) * n,
	    "whole: %zu bytes for %zu", wlen, n);
	FUZZ_CHECK(memcmp(out, fz.whole, len) == 0, "not a start of the whole");
	if (size > wlen)
		FUZZ_CHECK(taken == n, "cut with room: %zu of %zu", taken, n);
	else if (taken < n)
		FUZZ_CHECK(len + fuzz_first_unit(s + taken, n - taken, flags) >
			size - 1,
		    "size %zu: room for the next unit at %zu", size, len);
	/* The text the output is, or stands for (a label). */
	if (flags & ESCAPE_LABEL) {
		fuzz_label_value(out, fz.value);
		tlen = escape_bytes(fz.text, sizeof(fz.text), s, taken,
		    flags & ~ESCAPE_LABEL, NULL);
		FUZZ_CHECK(strlen(fz.value) == tlen &&
			memcmp(fz.value, fz.text, tlen) == 0,
		    "the label's value is not the text");
	} else {
		memcpy(fz.value, out, len + 1);
	}
	m = fuzz_unescape(fz.value, fz.back);
	FUZZ_CHECK(m == taken && memcmp(fz.back, s, taken) == 0,
	    "the text gives back other bytes (%zu, took %zu)", m, taken);
	free(out);
}

/* escape_cut() of s (n bytes) at max. */
static void
fuzz_cut(const uint8_t *s, size_t n, size_t max)
{
	size_t cut = escape_cut((const char *)s, n, max);

	if (n <= max) {
		FUZZ_CHECK(cut == n, "cut %zu of %zu under %zu", cut, n, max);
		return;
	}
	FUZZ_CHECK(cut <= max && cut + 3 >= max, "cut %zu at %zu", cut, max);
	if (fuzz_valid(s, n))
		FUZZ_CHECK(fuzz_valid(s, cut), "valid name cut to %zu at %zu",
		    cut, max);
}

/* One input: flags, size, the name. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned flags, sel;
	size_t n, room;

	flags = fuzz_u8(&in) & (ESCAPE_LABEL | ESCAPE_WORD);
	sel = fuzz_u8(&in);
	sel |= (unsigned)fuzz_u8(&in) << 8;
	n = in.left < FUZZ_NAME_MAX ? in.left : FUZZ_NAME_MAX;
	room = ESCAPE_LABEL_SIZE(n) + 2;
	fuzz_escape(in.p, n, flags, sel % room);
	fuzz_escape(in.p, n, flags ^ ESCAPE_LABEL, ESCAPE_LABEL_SIZE(n));
	fuzz_cut(in.p, n, sel % (n + 2));
	return 0;
}
