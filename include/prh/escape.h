/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Names made safe to print.  Device names and wwids come from the kernel
 * and the storage (sysfs), VM, unit and process names from /proc; any of
 * them may hold any byte but '\0': control characters, invalid UTF-8,
 * characters that turn a line around.  The helper keeps them as the bytes
 * they are (struct device, struct peer) and escapes them where it prints
 * them: in log and audit lines, journal fields, trace lines, the summary
 * and the metrics file.  One rule, so that a name reads the same in all.
 *
 * The text form, for lines and journal fields:
 *  - printable ASCII stays, but '\' is written "\\";
 *  - a well-formed UTF-8 sequence (RFC 3629: no overlong form, no
 *    surrogate, nothing above U+10FFFF) stays, unless it encodes a C1
 *    control (U+0080-U+009F), the line or paragraph separator (U+2028,
 *    U+2029) or a character that reorders text (U+061C, U+200E, U+200F,
 *    U+202A-U+202E, U+2066-U+2069): those would let a name move or hide
 *    the rest of a line;
 *  - every other byte, and each byte of such a sequence, is written
 *    "\xHH" (two lower-case hex digits): controls (newline, tab, ESC,
 *    DEL, ...) and bytes that are no UTF-8.
 * So the text is valid UTF-8 without control characters, and "\\" and
 * "\xHH" give back the original bytes exactly.
 *
 * The label form, for a label value of Prometheus' text exposition
 * format: the text form, with '\' and '"' escaped as that format wants
 * ("\\", "\""), so that the value a scraper reads is the text form.
 *
 * Output is cut, when it does not fit, between two whole units (an
 * escape or a character), never inside one, and always ends with '\0'.
 * Pure functions: no allocation, any thread.
 */
#ifndef PRH_ESCAPE_H
#define PRH_ESCAPE_H

#include <stddef.h>

/* Flags of escape_bytes(). */
#define ESCAPE_TEXT  0x0 /* the text form */
#define ESCAPE_LABEL 0x1 /* the label form */
#define ESCAPE_WORD  0x2 /* also ' ' as "\x20": the name stays one word */

/* Bytes that hold either form of any n bytes, with the '\0'. */
#define ESCAPE_TEXT_SIZE(n)  (4 * (n) + 1)
#define ESCAPE_LABEL_SIZE(n) (5 * (n) + 1)

/* Write the n bytes at in, escaped as flags say, into out (size bytes,
 * '\0'-terminated unless size is 0); cut between units when out is too
 * small.  Returns the length written (without the '\0'); *taken, when
 * not NULL, is how many bytes of in it stands for (n when none was
 * cut). */
size_t escape_bytes(char *out, size_t size, const void *in, size_t n,
    unsigned flags, size_t *taken);

/* escape_bytes() of the string s; returns out (size must not be 0). */
const char *escape_str(char *out, size_t size, const char *s, unsigned flags);

/* Where to cut the n bytes at s to at most max bytes without splitting a
 * UTF-8 character: max, less the start of a well-formed sequence that the
 * cut would split (n when n <= max).  Only the max bytes before the cut
 * are read, so s may be what vsnprintf() left of a longer text of n. */
size_t escape_cut(const char *s, size_t n, size_t max);

#endif
