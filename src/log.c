/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging with a priority filter: stderr (with sd-daemon "<N>" prefixes
 * when stderr is the journal) or syslog; libevent's messages routed in. */
#include "config.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "prh/escape.h"
#include "prh/log.h"

#define LOG_PREFIX "qemu-pr-helper: "

static atomic_int log_verbosity = 1;

/* Where messages go.  Chosen during start-up (one thread), read-only
 * afterwards except log_copy_fd, which only the start-up code changes. */
static enum log_dest log_dest = LOG_TO_STDERR;
static atomic_int log_copy_fd = -1; /* -d start-up pipe, or -1 */

/* Whether JOURNAL_STREAM names the file that stderr is ("DEV:INO"). */
static bool
log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (js == NULL || sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* Pick stderr or journal-style stderr. */
void
log_init(void)
{
	log_dest = log_stderr_is_journal() ? LOG_TO_JOURNAL : LOG_TO_STDERR;
}

/* Send messages to syslog from now on (-d). */
void
log_use_syslog(void)
{
	openlog("qemu-pr-helper", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_dest = LOG_TO_SYSLOG;
}

/* Also copy every message, as a stderr line, to fd (-1 to stop). */
void
log_set_copy_fd(int fd)
{
	atomic_store(&log_copy_fd, fd);
}

/* Set the verbosity level. */
void
log_set_verbosity(int level)
{
	atomic_store(&log_verbosity, level < 0 ? 0 : level);
}

/* Return the verbosity level. */
int
log_get_verbosity(void)
{
	return atomic_load(&log_verbosity);
}

/* Highest (least urgent) priority shown at the current verbosity. */
static int
log_threshold(void)
{
	switch (atomic_load(&log_verbosity)) {
	case 0:
		return LOG_ERR;
	case 1:
		return LOG_NOTICE;
	case 2:
		return LOG_INFO;
	default:
		return LOG_DEBUG;
	}
}

/* Whether prio is shown at the current verbosity. */
bool
log_wants(int prio)
{
	return prio <= log_threshold();
}

/* The destination chosen at start-up. */
enum log_dest
log_destination(void)
{
	return log_dest;
}

/* Write one formatted line with a single write(2) (or one syslog call). */
static void __attribute__((format(printf, 2, 0)))
log_vmsg(int prio, const char *fmt, va_list ap)
{
	char buf[2560]; /* an audit line (AUDIT_TEXT_MAX) and the prefix */
	size_t pre = sizeof(LOG_PREFIX) - 1, off;
	int n, copy;

	if (prio > log_threshold())
		return;
	/* Room for "<N>" in front of the prefix, used under journald. */
	memcpy(buf + 3, LOG_PREFIX, pre);
	off = 3 + pre;
	n = vsnprintf(buf + off, sizeof(buf) - off - 1, fmt, ap);
	if (n < 0)
		return;
	/* A message cut short is cut between two characters. */
	off += escape_cut(buf + off, (size_t)n, sizeof(buf) - off - 2);
	buf[off++] = '\n';
	copy = atomic_load(&log_copy_fd);
	if (copy >= 0)
		(void)!write(copy, buf + 3, off - 3);
	switch (log_dest) {
	case LOG_TO_SYSLOG:
		buf[off - 1] = '\0';
		syslog(prio, "%s", buf + 3 + pre);
		break;
	case LOG_TO_JOURNAL:
		/* The journal names the unit: no program prefix. */
		buf[pre] = '<';
		buf[pre + 1] = (char)('0' + (prio & 7));
		buf[pre + 2] = '>';
		(void)!write(STDERR_FILENO, buf + pre, off - pre);
		break;
	default:
		(void)!write(STDERR_FILENO, buf + 3, off - 3);
		break;
	}
}

/* Log one message at priority prio. */
void
log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}

/* libevent log callback: map its severities onto ours. */
static void
log_libevent_cb(int severity, const char *msg)
{
	int prio;

	switch (severity) {
	case EVENT_LOG_DEBUG:
		prio = LOG_DEBUG;
		break;
	case EVENT_LOG_MSG:
		prio = LOG_INFO;
		break;
	case EVENT_LOG_WARN:
		prio = LOG_WARNING;
		break;
	default:
		prio = LOG_ERR;
		break;
	}
	log_msg(prio, "libevent: %s", msg);
}

/* Route libevent's internal messages into this log. */
void
log_route_libevent(void)
{
	event_set_log_callback(log_libevent_cb);
}
