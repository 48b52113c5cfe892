/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Trace points, enabled with -T in QEMU's syntax:
 *
 *	-T help			list the trace points
 *	-T [enable=]PATTERN	enable points matching a glob (repeatable;
 *				a leading '-' disables instead)
 *	-T events=FILE		one PATTERN per line ('#' starts a comment)
 *	-T file=FILE		write trace lines to FILE (default stderr)
 *
 * Several of these may share one -T, separated by commas.  A disabled
 * point costs one predictable branch on a global bool.  Each event is one
 * line, written with a single write(2) so lines from the loop thread and
 * the workers never mix:
 *
 *	SECONDS.MICROS PID/TID NAME key=value ...
 *
 * The enable flags are set during start-up only and read-only afterwards;
 * trace_emit() is safe on any thread.
 */
#ifndef PRH_TRACE_H
#define PRH_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Every trace point; trace_name() gives its "prh_..." name. */
enum trace_point {
	TP_ACCEPT,    /* connection accepted */
	TP_HANDSHAKE, /* client feature word accepted */
	TP_REQUEST,   /* CDB parsed */
	TP_SUBMIT,    /* command handed to the worker pool */
	TP_SGIO_DONE, /* SG_IO returned (worker thread) */
	TP_REPLY,     /* reply queued to the client */
	TP_CLOSE,     /* connection closed, with the reason */
	TP_SIGNAL,    /* signal received */
	TP_COUNT
};

/* Enable flags, indexed by enum trace_point. */
extern bool trace_on[TP_COUNT];

/* Emit a trace event when its point is enabled; the arguments are a
 * printf format and values for the key=value fields. */
#define TRACE(tp, ...)                                   \
	do {                                             \
		if (__builtin_expect(trace_on[(tp)], 0)) \
			trace_emit((tp), __VA_ARGS__);   \
	} while (0)

/* Name of a trace point ("prh_accept", ...), or NULL if out of range. */
const char *trace_name(enum trace_point tp);

/* Enable (or with a leading '-', disable) the points matching the glob:
 * the number of points matched. */
int trace_enable_pattern(const char *pattern);

/* Apply every pattern of an events file: 0 or a negative errno. */
int trace_load_events(const char *path);

/* Parse one -T argument: 0, 1 if it asked for help (the caller prints
 * the list and exits), or a negative errno (message already printed). */
int trace_parse_opt(const char *arg);

/* Print the trace point names, one per line. */
void trace_list(FILE *f);

/* Open the -T file= output (stderr otherwise): 0 or a negative errno.
 * Call at start-up, before privileges are dropped. */
int trace_open(void);

/* Close the output file; points stay as they are. */
void trace_close(void);

/* Disable every point and forget the output file (tests). */
void trace_reset(void);

/* Monotonic clock in nanoseconds, for durations. */
uint64_t trace_now_ns(void);

/* Format and write one event line for tp. */
void trace_emit(enum trace_point tp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
