/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for names made safe to print (escape.c): the text and label
 * forms of printable ASCII, every control byte, DEL, '\' and '"', valid
 * UTF-8 of each length, invalid, overlong, surrogate and cut-short
 * sequences, the code points escaped although valid (C1 controls, line
 * separators, bidirectional controls), the one-word flag, the cut at
 * every buffer size, the way back from the text to the bytes, and where
 * to cut a name too long to keep.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "prh/escape.h"

/* The text (or other form) of n bytes at in, whole (static buffer). */
static const char *
esc(const void *in, size_t n, unsigned flags)
{
	static char out[ESCAPE_LABEL_SIZE(512)];
	size_t taken, len;

	cr_assert_leq(n, 512);
	len = escape_bytes(out, sizeof(out), in, n, flags, &taken);
	cr_assert_eq(taken, n);
	cr_assert_eq(len, strlen(out));
	return out;
}

/* The text of the string s. */
static const char *
text(const char *s)
{
	return esc(s, strlen(s), ESCAPE_TEXT);
}

/* The label form of the string s. */
static const char *
label(const char *s)
{
	return esc(s, strlen(s), ESCAPE_LABEL);
}

/* The bytes a text stands for ("\\" and "\xHH" undone) into out: their
 * number, or -1 for a text that is not of the form. */
static long
unescape(const char *t, uint8_t *out)
{
	long n = 0;
	unsigned v;

	while (*t != '\0') {
		if (*t != '\\') {
			out[n++] = (uint8_t)*t++;
		} else if (t[1] == '\\') {
			out[n++] = '\\';
			t += 2;
		} else if (t[1] == 'x' && sscanf(t + 2, "%2x", &v) == 1 &&
		    strspn(t + 2, "0123456789abcdef") >= 2) {
			out[n++] = (uint8_t)v;
			t += 4;
		} else {
			return -1;
		}
	}
	return n;
}

Test(text, printable_ascii_stays)
{
	char in[96], want[97];
	size_t n = 0, w = 0;

	for (int c = 0x20; c < 0x7f; c++) {
		in[n++] = (char)c;
		if (c == '\\')
			want[w++] = '\\';
		want[w++] = (char)c;
	}
	want[w] = '\0';
	cr_expect_str_eq(esc(in, n, ESCAPE_TEXT), want);
	cr_expect_str_eq(text("sdb"), "sdb");
	cr_expect_str_eq(text("t10.ATA     QEMU HARDDISK   QM00001"),
	    "t10.ATA     QEMU HARDDISK   QM00001");
	cr_expect_str_eq(text("a\\b\"c"), "a\\\\b\"c");
}

Test(text, every_control_byte_and_del_is_hex)
{
	char want[8];
	uint8_t b;

	for (unsigned c = 0; c < 0x20; c++) {
		b = (uint8_t)c;
		snprintf(want, sizeof(want), "\\x%02x", c);
		cr_expect_str_eq(esc(&b, 1, ESCAPE_TEXT), want);
		snprintf(want, sizeof(want), "\\\\x%02x", c);
		cr_expect_str_eq(esc(&b, 1, ESCAPE_LABEL), want);
	}
	b = 0x7f;
	cr_expect_str_eq(esc(&b, 1, ESCAPE_TEXT), "\\x7f");
	cr_expect_str_eq(text("a\nb\rc\td\x1b[31me"),
	    "a\\x0ab\\x0dc\\x09d\\x1b[31me");
}

Test(label, backslash_quote_and_newline)
{
	cr_expect_str_eq(label("a\\b"), "a\\\\\\\\b");
	cr_expect_str_eq(label("a\"b"), "a\\\"b");
	cr_expect_str_eq(label("a\nb"), "a\\\\x0ab");
	cr_expect_str_eq(label("naa.6001405 x"), "naa.6001405 x");
	cr_expect_str_eq(label("\xff"), "\\\\xff");
}

Test(text, valid_utf8_of_each_length_stays)
{
	static const char *const ok[] = {
		"\xc2\xa0",	    /* U+00A0, first after C1 */
		"\xc3\xa9",	    /* é */
		"\xdf\xbf",	    /* U+07FF */
		"\xe0\xa0\x80",	    /* U+0800 */
		"\xe2\x82\xac",	    /* € */
		"\xe2\x80\xa7",	    /* U+2027, before the separators */
		"\xe2\x80\xaf",	    /* U+202F, after the bidi controls */
		"\xe2\x81\xaa",	    /* U+206A, after the isolates */
		"\xed\x9f\xbf",	    /* U+D7FF, before the surrogates */
		"\xee\x80\x80",	    /* U+E000, after them */
		"\xef\xbf\xbd",	    /* U+FFFD */
		"\xf0\x90\x80\x80", /* U+10000 */
		"\xf0\x9d\x84\x9e", /* musical G clef */
		"\xf4\x8f\xbf\xbf", /* U+10FFFF */
		"d\xc3\xa9j\xc3\xa0-vu \xe6\x97\xa5\xe6\x9c\xac",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_expect_str_eq(text(ok[i]), ok[i], "#%zu", i);
		cr_expect_str_eq(label(ok[i]), ok[i], "#%zu", i);
	}
}

Test(text, invalid_utf8_is_hex_byte_by_byte)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "\x80", "\\x80" },		       /* lone continuation */
		{ "\xbf", "\\xbf" },		       /* lone continuation */
		{ "\xc0\xaf", "\\xc0\\xaf" },	       /* overlong '/' */
		{ "\xc1\xbf", "\\xc1\\xbf" },	       /* overlong */
		{ "\xe0\x80\xaf", "\\xe0\\x80\\xaf" }, /* overlong */
		{ "\xe0\x9f\xbf", "\\xe0\\x9f\\xbf" }, /* overlong U+07FF */
		{ "\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf" },
		{ "\xf0\x8f\xbf\xbf", "\\xf0\\x8f\\xbf\\xbf" },
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },		/* U+D800 */
		{ "\xed\xbf\xbf", "\\xed\\xbf\\xbf" },		/* U+DFFF */
		{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" }, /* U+110000 */
		{ "\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80" },
		{ "\xf8\x88\x80\x80\x80", "\\xf8\\x88\\x80\\x80\\x80" },
		{ "\xfe\xff", "\\xfe\\xff" },
		{ "\xe2\x82", "\\xe2\\x82" },		   /* cut short */
		{ "ab\xf0\x9d\x84", "ab\\xf0\\x9d\\x84" }, /* cut short */
		{ "\xe2\x82"
		  "A",
		    "\\xe2\\x82A" },		     /* no continuation */
		{ "\xc3\xc3\xa9", "\\xc3\xc3\xa9" }, /* then a good one */
		{ "\xe2\xe2\x82\xac", "\\xe2\xe2\x82\xac" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_str_eq(text(cases[i].in), cases[i].want, "#%zu", i);
}

Test(text, line_breaking_and_reordering_characters_are_hex)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "\xc2\x80", "\\xc2\\x80" },	       /* U+0080 */
		{ "\xc2\x85", "\\xc2\\x85" },	       /* NEL */
		{ "\xc2\x9b", "\\xc2\\x9b" },	       /* CSI */
		{ "\xc2\x9f", "\\xc2\\x9f" },	       /* U+009F */
		{ "\xd8\x9c", "\\xd8\\x9c" },	       /* ALM */
		{ "\xe2\x80\x8e", "\\xe2\\x80\\x8e" }, /* LRM */
		{ "\xe2\x80\x8f", "\\xe2\\x80\\x8f" }, /* RLM */
		{ "\xe2\x80\xa8", "\\xe2\\x80\\xa8" }, /* LINE SEPARATOR */
		{ "\xe2\x80\xa9", "\\xe2\\x80\\xa9" }, /* PARAGRAPH SEP. */
		{ "\xe2\x80\xaa", "\\xe2\\x80\\xaa" }, /* LRE */
		{ "\xe2\x80\xae", "\\xe2\\x80\\xae" }, /* RLO */
		{ "\xe2\x81\xa6", "\\xe2\\x81\\xa6" }, /* LRI */
		{ "\xe2\x81\xa9", "\\xe2\\x81\\xa9" }, /* PDI */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_str_eq(text(cases[i].in), cases[i].want, "#%zu", i);
	cr_expect_str_eq(label("x\xe2\x80\xaey"), "x\\\\xe2\\\\x80\\\\xaey");
}

Test(text, nul_bytes_and_the_word_flag)
{
	cr_expect_str_eq(esc("a\0b", 3, ESCAPE_TEXT), "a\\x00b");
	cr_expect_str_eq(esc("a] b", 4, ESCAPE_TEXT), "a] b");
	cr_expect_str_eq(esc("a] b", 4, ESCAPE_WORD), "a]\\x20b");
	cr_expect_str_eq(esc("a \"b", 4, ESCAPE_WORD | ESCAPE_LABEL),
	    "a\\\\x20\\\"b");
	cr_expect_str_eq(esc("", 0, ESCAPE_TEXT), "");
}

Test(text, every_byte_comes_back)
{
	uint8_t in[512], back[512];
	long n;

	/* Every byte alone, and all pairs of a lead and a next byte. */
	for (unsigned c = 0; c < 256; c++) {
		in[0] = (uint8_t)c;
		n = unescape(esc(in, 1, ESCAPE_TEXT), back);
		cr_assert_eq(n, 1, "byte 0x%02x", c);
		cr_assert_eq(back[0], c);
	}
	for (unsigned c = 0; c < 256; c++) {
		for (unsigned i = 0; i < 256; i++) {
			in[2 * i] = (uint8_t)c;
			in[2 * i + 1] = (uint8_t)i;
		}
		n = unescape(esc(in, 512, ESCAPE_WORD), back);
		cr_assert_eq(n, 512);
		cr_assert_eq(memcmp(in, back, 512), 0, "lead 0x%02x", c);
	}
}

/* The length of the first unit of the n bytes at in. */
static size_t
first_unit(const uint8_t *in, size_t n, unsigned flags)
{
	char out[16];
	size_t taken;

	for (size_t size = 2; size < sizeof(out); size++) {
		escape_bytes(out, size, in, n, flags, &taken);
		if (taken > 0)
			return strlen(out);
	}
	cr_assert_fail("no unit fits in %zu bytes", sizeof(out));
	return 0;
}

/* For every buffer size: a start of the whole output, cut between two
 * units, as long as fits, and standing for the bytes it says. */
static void
check_every_size(const char *in, size_t n, unsigned flags)
{
	char whole[ESCAPE_LABEL_SIZE(64)], out[ESCAPE_LABEL_SIZE(64)];
	char again[ESCAPE_LABEL_SIZE(64)];
	size_t wlen, len, taken;

	cr_assert_leq(n, 64);
	wlen = escape_bytes(whole, sizeof(whole), in, n, flags, &taken);
	cr_assert_eq(taken, n);
	for (size_t size = 0; size <= wlen + 2; size++) {
		memset(out, '#', sizeof(out));
		len = escape_bytes(out, size, in, n, flags, &taken);
		if (size == 0) {
			cr_expect_eq(len, 0);
			cr_expect_eq(taken, 0);
			cr_expect_eq(out[0], '#', "size 0 wrote");
			continue;
		}
		cr_assert_lt(len, size);
		cr_assert_eq(out[len], '\0');
		cr_assert_eq(out[size], '#', "size %zu: past the end", size);
		cr_assert_eq(strncmp(out, whole, len), 0);
		escape_bytes(again, sizeof(again), in, taken, flags, NULL);
		cr_assert_str_eq(out, again, "size %zu: cut inside a unit",
		    size);
		if (taken < n)
			cr_assert_gt(len +
				first_unit((const uint8_t *)in + taken,
				    n - taken, flags),
			    size - 1, "size %zu: room for one more", size);
		else
			cr_assert_eq(len, wlen);
	}
}

Test(text, cut_between_units_at_every_size)
{
	static const char mix[] = "a\\\"\n\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e"
				  "\xff\xc2\x85\xe2\x80\xae \x7f\xe2\x82z";

	for (unsigned f = 0; f < 4; f++)
		check_every_size(mix, sizeof(mix) - 1, f);
	check_every_size("plain", 5, ESCAPE_TEXT);
}

Test(text, escape_str_returns_its_buffer)
{
	char buf[ESCAPE_TEXT_SIZE(8)];

	cr_expect_eq(escape_str(buf, sizeof(buf), "sd\x01", ESCAPE_TEXT), buf);
	cr_expect_str_eq(buf, "sd\\x01");
	cr_expect_str_eq(escape_str(buf, 6, "ab\x01", ESCAPE_TEXT), "ab");
}

Test(cut, never_inside_a_character)
{
	const char *s = "ab\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e";

	cr_expect_eq(escape_cut(s, 3, 5), 3); /* fits */
	cr_expect_eq(escape_cut(s, 11, 2), 2);
	cr_expect_eq(escape_cut(s, 11, 3), 2); /* inside é */
	cr_expect_eq(escape_cut(s, 11, 4), 4);
	cr_expect_eq(escape_cut(s, 11, 5), 4); /* inside € */
	cr_expect_eq(escape_cut(s, 11, 6), 4);
	cr_expect_eq(escape_cut(s, 11, 7), 7);
	cr_expect_eq(escape_cut(s, 11, 8), 7); /* inside the clef */
	cr_expect_eq(escape_cut(s, 11, 10), 7);
	cr_expect_eq(escape_cut(s, 11, 11), 11);
	cr_expect_eq(escape_cut(s, 11, 0), 0);
	cr_expect_eq(escape_cut("\xc3\xa9", 2, 1), 0);
}

Test(cut, only_what_may_start_a_character_is_backed_off)
{
	/* Only the bytes before the cut are looked at: what may still be
	 * the start of a character goes, bytes that start none stay. */
	cr_expect_eq(escape_cut("ab\xe2\x82z", 5, 3), 2);
	cr_expect_eq(escape_cut("ab\xe2\x82z", 5, 4), 2);
	cr_expect_eq(escape_cut("ab\xe2"
				"Az",
			 5, 4),
	    4);
	cr_expect_eq(escape_cut("a\x80\x80\x80\x80", 5, 3), 3);
	cr_expect_eq(escape_cut("a\xc0\xafz", 4, 2), 2);     /* overlong */
	cr_expect_eq(escape_cut("a\xed\xa0\x80z", 5, 3), 3); /* surrogate */
	cr_expect_eq(escape_cut("a\xf4\x90\x80", 4, 3), 3);  /* > U+10FFFF */
	cr_expect_eq(escape_cut("a\xff\xff", 3, 2), 2);
}
