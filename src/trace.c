/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Trace points: -T parsing, pattern matching and event output. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "prh/trace.h"

#define TRACE_LINE_MAX 512  /* one event line, truncated beyond */
#define TRACE_ARG_MAX  4096 /* one -T argument */

bool trace_on[TP_COUNT];

static const char *const trace_names[TP_COUNT] = {
	[TP_ACCEPT] = "prh_accept",
	[TP_HANDSHAKE] = "prh_handshake",
	[TP_REQUEST] = "prh_request",
	[TP_SUBMIT] = "prh_submit",
	[TP_SGIO_DONE] = "prh_sgio_done",
	[TP_REPLY] = "prh_reply",
	[TP_CLOSE] = "prh_close",
	[TP_SIGNAL] = "prh_signal",
};

static const char *const trace_help[TP_COUNT] = {
	[TP_ACCEPT] = "connection accepted (peer pid, uid)",
	[TP_HANDSHAKE] = "client feature word accepted",
	[TP_REQUEST] = "request parsed (opcode, service action, length)",
	[TP_SUBMIT] = "command handed to a worker",
	[TP_SGIO_DONE] =
	    "SG_IO returned (status, host/driver status, sense, size, duration)",
	[TP_REPLY] = "reply queued (status, size)",
	[TP_CLOSE] = "connection closed (reason)",
	[TP_SIGNAL] = "signal received",
};

static char *trace_path;	     /* -T file=, or NULL for stderr */
static int trace_fd = STDERR_FILENO; /* output */

/* Name of a trace point, or NULL if out of range. */
const char *
trace_name(enum trace_point tp)
{
	if ((unsigned)tp >= TP_COUNT)
		return NULL;
	return trace_names[tp];
}

/* Enable or disable (leading '-') the points matching a glob. */
int
trace_enable_pattern(const char *pattern)
{
	bool on = true;
	int n = 0;

	if (pattern[0] == '-') {
		on = false;
		pattern++;
	}
	for (int i = 0; i < TP_COUNT; i++) {
		if (fnmatch(pattern, trace_names[i], 0) == 0) {
			trace_on[i] = on;
			n++;
		}
	}
	return n;
}

/* Apply one pattern from the command line or an events file. */
static void
trace_apply(const char *pattern)
{
	if (trace_enable_pattern(pattern) == 0 &&
	    strpbrk(pattern, "*?[") == NULL)
		fprintf(stderr,
		    "qemu-pr-helper: WARNING: trace event '%s' "
		    "does not exist\n",
		    pattern[0] == '-' ? pattern + 1 : pattern);
}

/* Strip leading and trailing blanks in place. */
static char *
trace_strip(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s &&
	    (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Apply every pattern of an events file. */
int
trace_load_events(const char *path)
{
	char line[256], *p;
	FILE *f;

	f = fopen(path, "re");
	if (f == NULL) {
		int err = errno;

		fprintf(stderr,
		    "qemu-pr-helper: cannot open trace events "
		    "file %s: %s\n",
		    path, strerror(err));
		return -err;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		p = trace_strip(line);
		if (p[0] == '\0' || p[0] == '#')
			continue;
		trace_apply(p);
	}
	fclose(f);
	return 0;
}

/* Apply one key=value element of a -T argument. */
static int
trace_parse_elem(char *elem)
{
	char *val = strchr(elem, '=');

	if (val == NULL)
		val = elem; /* bare PATTERN */
	else if (strncmp(elem, "enable=", 7) == 0)
		val = elem + 7;
	else if (strncmp(elem, "events=", 7) == 0)
		return trace_load_events(elem + 7);
	else if (strncmp(elem, "file=", 5) == 0) {
		if (elem[5] == '\0')
			goto bad;
		free(trace_path);
		trace_path = strdup(elem + 5);
		return trace_path == NULL ? -ENOMEM : 0;
	} else
		goto bad;
	if (strcmp(val, "help") == 0)
		return 1;
	if (val[0] == '\0')
		goto bad;
	trace_apply(val);
	return 0;
bad:
	fprintf(stderr,
	    "qemu-pr-helper: invalid trace option '%s' "
	    "(expected [enable=]PATTERN, events=FILE or file=FILE)\n",
	    elem);
	return -EINVAL;
}

/* Parse one -T argument: 0, 1 for help, or a negative errno. */
int
trace_parse_opt(const char *arg)
{
	char buf[TRACE_ARG_MAX], *elem, *save = NULL;
	int r, help = 0;

	if (strlen(arg) >= sizeof(buf) || arg[0] == '\0') {
		fprintf(stderr, "qemu-pr-helper: invalid trace option '%s'\n",
		    arg);
		return -EINVAL;
	}
	strcpy(buf, arg);
	for (elem = strtok_r(buf, ",", &save); elem != NULL;
	     elem = strtok_r(NULL, ",", &save)) {
		r = trace_parse_elem(elem);
		if (r < 0)
			return r;
		help |= r;
	}
	return help;
}

/* Print the trace point names, one per line. */
void
trace_list(FILE *f)
{
	for (int i = 0; i < TP_COUNT; i++)
		fprintf(f, "%-16s %s\n", trace_names[i], trace_help[i]);
}

/* Open the output file named by -T file=. */
int
trace_open(void)
{
	struct stat st;
	int fd;

	if (trace_path == NULL)
		return 0;
	/* Never through a symbolic link, never anything but a regular file:
	 * the helper opens it as root.  O_NONBLOCK: a FIFO fails (ENXIO)
	 * instead of waiting for a reader. */
	fd = open(trace_path,
	    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
	    0600);
	if (fd < 0)
		return errno == ENXIO ? -EINVAL : -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	trace_close();
	trace_fd = fd;
	return 0;
}

/* Close the output file; events go to stderr again. */
void
trace_close(void)
{
	if (trace_fd != STDERR_FILENO)
		close(trace_fd);
	trace_fd = STDERR_FILENO;
}

/* Disable every point and forget the output file. */
void
trace_reset(void)
{
	memset(trace_on, 0, sizeof(trace_on));
	trace_close();
	free(trace_path);
	trace_path = NULL;
}

/* Monotonic clock in nanoseconds. */
uint64_t
trace_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Format and write one event line. */
void
trace_emit(enum trace_point tp, const char *fmt, ...)
{
	char buf[TRACE_LINE_MAX];
	struct timespec ts;
	va_list ap;
	size_t off;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(buf, sizeof(buf), "%lld.%06ld %d/%ld %s ",
	    (long long)ts.tv_sec, ts.tv_nsec / 1000, (int)getpid(),
	    (long)syscall(SYS_gettid), trace_name(tp));
	if (n < 0)
		return;
	off = (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(buf + off, sizeof(buf) - off - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	off += (size_t)n < sizeof(buf) - off - 1 ? (size_t)n
						 : sizeof(buf) - off - 2;
	buf[off++] = '\n';
	(void)!write(trace_fd, buf, off);
}
