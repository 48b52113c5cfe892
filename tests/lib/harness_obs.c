/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test harness, observation side: /proc, files, the shim's control file
 * and log, device files, and protocol-level helpers.  See harness.h.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "prh/client.h"
#include "prh/fdpass.h"
#include "harness.h"
#include "slurp.h"
#include "harness_int.h"

/* Open fds of pid, or -errno. */
int
th_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (dir == NULL)
		return -errno;
	while ((d = readdir(dir)) != NULL)
		if (d->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/* Poll th_fd_count() until it is <= want: the last count, or -errno. */
int
th_wait_fd_count(pid_t pid, int want, int timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;
	int n;

	for (;;) {
		n = th_fd_count(pid);
		if (n < 0 || n <= want || th_left(deadline) == 0)
			return n;
		poll(NULL, 0, TH_POLL_STEP_MS);
	}
}

/* VmRSS of pid in KiB, or -errno. */
long
th_vmrss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Whether pid maps a sanitizer runtime. */
bool
th_sanitized(pid_t pid)
{
	char path[64], *maps;
	bool yes;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	maps = th_read_file(path, NULL);
	yes = maps != NULL && strstr(maps, "libasan") != NULL;
	free(maps);
	return yes;
}

/* Whole file as a NUL-terminated malloc'ed string ("" if missing). */
char *
th_read_file(const char *path, size_t *lenp)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;

	if (fd < 0) {
		if (lenp != NULL)
			*lenp = 0;
		return calloc(1, 1);
	}
	buf = slurp_fd(fd, SIZE_MAX, lenp);
	close(fd);
	return buf;
}

/* The helper's stderr so far. */
char *
th_stderr(struct th_env *e)
{
	return th_read_file(e->err, NULL);
}

/* Whether the file holds needle (count < 0) or >= count newlines. */
static bool
th_file_check(const char *path, const char *needle, int count, int *seen)
{
	char *text = th_read_file(path, NULL), *p;
	bool ok;
	int n = 0;

	if (text == NULL)
		return false;
	if (needle != NULL) {
		ok = strstr(text, needle) != NULL;
	} else {
		for (p = text; (p = strchr(p, '\n')) != NULL; p++)
			n++;
		ok = n >= count;
		if (seen != NULL)
			*seen = n;
	}
	free(text);
	return ok;
}

/* Wait on inotify until th_file_check() holds: 0 or -ETIMEDOUT. */
static int
th_wait_file(const char *path, const char *needle, int count, int *seen,
    int timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;
	char buf[4096];
	struct pollfd pfd;
	int ino, rc = -ETIMEDOUT;

	ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ino < 0)
		return -errno;
	/* Watch first, then look: no change can slip in between. */
	if (inotify_add_watch(ino, path, IN_MODIFY | IN_CLOSE_WRITE) < 0) {
		rc = -errno;
		close(ino);
		return rc;
	}
	for (;;) {
		if (th_file_check(path, needle, count, seen)) {
			rc = 0;
			break;
		}
		if (th_left(deadline) == 0)
			break;
		pfd.fd = ino;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, th_left(deadline)) > 0)
			while (read(ino, buf, sizeof(buf)) > 0)
				;
	}
	close(ino);
	return rc;
}

/* Wait until the file contains needle: 0 or -ETIMEDOUT. */
int
th_wait_file_contains(const char *path, const char *needle, int timeout_ms)
{
	return th_wait_file(path, needle, -1, NULL, timeout_ms);
}

/* Occurrences of needle in the helper's stderr so far. */
int
th_stderr_count(struct th_env *e, const char *needle)
{
	char *text = th_stderr(e), *p = text;
	int n = 0;

	if (text == NULL)
		return -1;
	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	free(text);
	return n;
}

/* This process's name, as the helper reads a peer's. */
const char *
th_self_comm(void)
{
	static char comm[32];
	char *text = th_read_file("/proc/self/comm", NULL);

	comm[0] = '\0';
	if (text != NULL)
		snprintf(comm, sizeof(comm), "%.*s", (int)strcspn(text, "\n"),
		    text);
	free(text);
	return comm;
}

/* Wait until the helper's stderr contains needle: 0 or -ETIMEDOUT. */
int
th_wait_stderr(struct th_env *e, const char *needle, int timeout_ms)
{
	return th_wait_file(e->err, needle, -1, NULL, timeout_ms);
}

/* Replace the shim control file atomically with the formatted text. */
int
th_shim_set(struct th_env *e, const char *fmt, ...)
{
	char tmp[PATH_MAX + 8], *text = NULL;
	va_list ap;
	int fd, len, rc = 0;

	va_start(ap, fmt);
	len = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (len < 0)
		return -ENOMEM;
	snprintf(tmp, sizeof(tmp), "%s.tmp", e->ctl);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, (size_t)len) != len)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc == 0 && rename(tmp, e->ctl) < 0)
		rc = -errno;
	free(text);
	return rc;
}

/* Parse one shim log line: 0 or -EINVAL. */
static int
th_parse_call(char *line, struct th_sgio_call *c)
{
	char cdbhex[40], *rest, *param;
	size_t plen;

	memset(c, 0, sizeof(*c));
	if (strncmp(line, "path=", 5) != 0)
		return -EINVAL;
	rest = strstr(line, " cmd_len=");
	if (rest == NULL)
		return -EINVAL;
	plen = (size_t)(rest - (line + 5));
	if (plen >= sizeof(c->path))
		plen = sizeof(c->path) - 1;
	memcpy(c->path, line + 5, plen);
	if (sscanf(rest,
		" cmd_len=%u cdb=%32s dir=%d dxfer_len=%u timeout=%u"
		" mx_sb_len=%u",
		&c->cmd_len, cdbhex, &c->dir, &c->dxfer_len, &c->timeout,
		&c->mx_sb_len) != 6)
		return -EINVAL;
	th_unhex_prefix(cdbhex, c->cdb, sizeof(c->cdb), NULL);
	param = strstr(rest, " param=");
	if (param != NULL)
		c->param_len = th_unhex_prefix(param + 7, c->param,
		    sizeof(c->param), NULL);
	return 0;
}

/* Parse the shim log into a malloc'ed array: count or -errno. */
int
th_shim_calls(struct th_env *e, struct th_sgio_call **out)
{
	char *text = th_read_file(e->log, NULL), *line, *save = NULL, *p;
	struct th_sgio_call *calls;
	int n = 0, max = 0;

	*out = NULL;
	if (text == NULL)
		return -ENOMEM;
	for (p = text; (p = strchr(p, '\n')) != NULL; p++)
		max++;
	calls = calloc((size_t)max + 1, sizeof(*calls));
	if (calls == NULL) {
		free(text);
		return -ENOMEM;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL && n < max;
	     line = strtok_r(NULL, "\n", &save))
		if (th_parse_call(line, &calls[n]) == 0)
			n++;
	free(text);
	*out = calls;
	return n;
}

/* Wait until the shim logged at least n calls: the count or -ETIMEDOUT. */
int
th_wait_shim_calls(struct th_env *e, int n, int timeout_ms)
{
	int seen = 0;

	if (th_wait_file(e->log, NULL, n, &seen, timeout_ms) < 0)
		return -ETIMEDOUT;
	return seen;
}

/* Create (4 KiB, if missing) dir/name and open it with oflags. */
int
th_make_dev(struct th_env *e, const char *name, int oflags, char *path,
    size_t pathlen)
{
	char p[PATH_MAX];
	int fd;

	if (th_path(p, e->dir, name) < 0)
		return -ENAMETOOLONG;
	fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (ftruncate(fd, 4096) < 0) {
			close(fd);
			return -errno;
		}
		close(fd);
	} else if (errno != EEXIST) {
		return -errno;
	}
	if (path != NULL)
		snprintf(path, pathlen, "%s", p);
	fd = open(p, oflags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Connect without the handshake, with 10 s send/receive timeouts. */
int
th_connect_raw(struct th_env *e)
{
	struct timeval tv = { .tv_sec = TH_TIMEOUT_MS / 1000 };
	int fd = client_connect_raw(e->sock);

	if (fd < 0)
		return fd;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* Connect and handshake with 10 s send/receive timeouts. */
int
th_connect(struct th_env *e)
{
	int fd = th_connect_raw(e);

	return fd < 0 ? fd : client_handshake(fd);
}

/* Send len bytes with nfds fds attached in one sendmsg with flags. */
int
th_send_fds_flags(int sock, const void *buf, size_t len, const int *fds,
    int nfds, int flags)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(FDPASS_MAX_FDS * sizeof(int))];
	} ctl;
	struct msghdr msg;
	struct cmsghdr *cm;
	struct iovec iov;
	ssize_t n;

	if (nfds < 0 || nfds > FDPASS_MAX_FDS)
		return -EINVAL;
	memset(&msg, 0, sizeof(msg));
	memset(&ctl, 0, sizeof(ctl));
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
	}
	do {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL | flags);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n < len)
		return client_write_all(sock, (const uint8_t *)buf + n,
		    len - (size_t)n);
	return 0;
}

/* Send len bytes with nfds fds attached in one sendmsg. */
int
th_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	return th_send_fds_flags(sock, buf, len, fds, nfds, 0);
}

/* Wait for the peer to close: 0 on EOF or reset, -EPROTO, -ETIMEDOUT. */
int
th_wait_closed(int sock, int timeout_ms)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	char c;
	ssize_t n;
	int rc;

	do {
		rc = poll(&pfd, 1, timeout_ms);
	} while (rc < 0 && errno == EINTR);
	if (rc == 0)
		return -ETIMEDOUT;
	n = recv(sock, &c, 1, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno == ECONNRESET))
		return 0;
	return n > 0 ? -EPROTO : -errno;
}

/* The first line of text starting with prefix, then after. */
const char *
th_line_with(const char *text, const char *prefix, char after)
{
	size_t n = strlen(prefix);
	const char *p = text;

	while ((p = strstr(p, prefix)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == after)
			return p;
		p += n;
	}
	return NULL;
}

/* Whether fd is readable (or hung up) within timeout_ms. */
bool
th_readable(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, timeout_ms) == 1;
}

/* Fill sense with 18-byte fixed-format sense followed by zeros. */
void
th_sense_fixed(uint8_t sense[PRH_SENSE_LEN], uint8_t key, uint8_t asc,
    uint8_t ascq)
{
	memset(sense, 0, PRH_SENSE_LEN);
	sense[0] = 0x70;
	sense[2] = key;
	sense[7] = 0x0a;
	sense[12] = asc;
	sense[13] = ascq;
}
