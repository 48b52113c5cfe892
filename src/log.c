/* Logging to stderr with a priority filter; libevent's messages routed in. */
#include "config.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "prh/log.h"

#define LOG_PREFIX	"qemu-pr-helper: "

static atomic_int log_verbosity = 1;

/* Set the verbosity level. */
void log_set_verbosity(int level)
{
	atomic_store(&log_verbosity, level < 0 ? 0 : level);
}

/* Return the verbosity level. */
int log_get_verbosity(void)
{
	return atomic_load(&log_verbosity);
}

/* Highest (least urgent) priority shown at the current verbosity. */
static int log_threshold(void)
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

/* Write one formatted line to stderr with a single write(2). */
static void log_vmsg(int prio, const char *fmt, va_list ap)
{
	char buf[1024];
	size_t off = sizeof(LOG_PREFIX) - 1;
	int n;

	if (prio > log_threshold())
		return;
	memcpy(buf, LOG_PREFIX, off);
	n = vsnprintf(buf + off, sizeof(buf) - off - 1, fmt, ap);
	if (n < 0)
		return;
	off += (size_t)n < sizeof(buf) - off - 1 ? (size_t)n :
	    sizeof(buf) - off - 2;
	buf[off++] = '\n';
	(void)!write(STDERR_FILENO, buf, off);
}

/* Log one message at priority prio. */
void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}

/* libevent log callback: map its severities onto ours. */
static void log_libevent_cb(int severity, const char *msg)
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
void log_route_libevent(void)
{
	event_set_log_callback(log_libevent_cb);
}
