/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging: every message has a syslog priority and goes to stderr as
 * "qemu-pr-helper: message"; when stderr is the journal (JOURNAL_STREAM
 * matches it) as "<N>message" (sd-daemon(3) prefixes); with -d to syslog
 * (LOG_DAEMON, ident qemu-pr-helper).  Thread-safe.  -q silences
 * per-connection errors (LOG_WARNING from connections), -v adds LOG_INFO,
 * -vv LOG_DEBUG.
 */
#ifndef PRH_LOG_H
#define PRH_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Choose stderr or journal-style stderr; call once at start-up. */
void log_init(void);

/* Send messages to syslog from now on (-d, after the fork). */
void log_use_syslog(void);

/* Also copy every message, formatted as a stderr line, to fd; -1 stops.
 * Used for the -d start-up pipe. */
void log_set_copy_fd(int fd);

/* Set how much is logged: 0 quiet, 1 default, 2 info, 3+ debug. */
void log_set_verbosity(int level);

/* Return the current verbosity (multipath sets its library's from it). */
int log_get_verbosity(void);

/* Whether a message at priority prio is shown at the current verbosity. */
bool log_wants(int prio);

/* Where messages go: stderr, the journal (stderr is a journal stream) or
 * syslog (-d). */
enum log_dest {
	LOG_TO_STDERR,	/* "qemu-pr-helper: message" */
	LOG_TO_JOURNAL, /* "<N>message": stderr is the journal */
	LOG_TO_SYSLOG,	/* -d: syslog(3), LOG_DAEMON */
};

/* The destination chosen at start-up. */
enum log_dest log_destination(void);

/* Route libevent's own messages into this log. */
void log_route_libevent(void);

/* Log one message at priority prio (LOG_ERR ... LOG_DEBUG). */
void
log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
