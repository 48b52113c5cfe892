/* SPDX-License-Identifier: GPL-2.0-or-later */
/* SG_IO fault-injection preload library for the tests.
 *
 * Loaded with LD_PRELOAD into a helper (ours or QEMU's), it answers SG_IO
 * through the interposition it shares with lunsim.so
 * (src/lunsim/sgfake.c: ioctl() and open(), the sg_io_hdr read and
 * answered).  It is not lunsim: a test scripts any answer here, bytes a
 * device model would never send, on any file, and changes it while the
 * helper runs; lunsim keeps a device's state in the LUN file.  For SG_IO it
 * decides the answer from the control file named by PRH_SHIM_CTL, re-read
 * on every call so that a test can change the answer while the helper runs.
 * Each line is
 *
 *	GLOB key=value ...
 *
 * GLOB is fnmatch()ed against the target of /proc/self/fd/N; the first
 * matching line wins; with no match the real ioctl runs.  Empty lines and
 * lines starting with '#' are ignored.  Keys:
 *
 *	errno=N		ioctl returns -1 with errno N
 *	host=N driver=N status=N	the sg_io_hdr status fields
 *	sense=HEX	copied into sbp (up to mx_sb_len), sb_len_wr set
 *	data=HEX	copied into dxferp for SG_DXFER_FROM_DEV
 *	resid=N		residual count (default: dxfer_len minus the data
 *			bytes for FROM_DEV, 0 otherwise)
 *	delay_ms=N	sleep before answering
 *	hang=1		block until the first line matching the fd no longer
 *			says hang=1, then answer as that line says
 *	syscall=N	make system call N (no arguments) first, and log
 *			"syscall nr=N rc=R errno=E" (a seccomp test: the
 *			call runs on the helper's worker, inside its filter)
 *
 * Every SG_IO call is logged, before it is answered, as one line appended
 * to the file named by PRH_SHIM_LOG (if set), with a single write():
 *
 *	path=P cmd_len=N cdb=HEX32 dir=N dxfer_len=N timeout=N mx_sb_len=N
 *	    [param=HEX]
 *
 * param is present for SG_DXFER_TO_DEV.  Every other ioctl request goes to
 * the next ioctl in the lookup order.
 *
 * Device nodes: a program's statx(fd, "", AT_EMPTY_PATH) of a regular file
 * whose path matches the glob PRH_SHIM_DEVICES (fnmatch with
 * FNM_PATHNAME) reports a block device, and sysfs answers for it as for a
 * whole SCSI disk (src/lunsim/fakesys.c), so the helper's device policy
 * lets SG_IO reach the file, and this shim.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <scsi/sg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fakesys.h"
#include "sgfake.h"
#include "hex.h"
#include "slurp.h"

#define SHIM_MAX_BYTES 8192	 /* max sense/data bytes in a rule */
#define SHIM_CTL_MAX   (1 << 20) /* largest control file read */
#define SHIM_POLL_MS   10	 /* hang re-check period */

/* One parsed control line (the first that matched). */
struct shim_rule {
	bool hang;
	int err; /* errno to fail with, 0 for none */
	int host, driver, status;
	long resid; /* -1: default */
	long delay_ms;
	long sys_nr; /* -1: none */
	size_t sense_len;
	size_t data_len;
	uint8_t sense[SHIM_MAX_BYTES];
	uint8_t data[SHIM_MAX_BYTES];
};

/* Sleep for ms milliseconds, resuming after signals. */
static void
shim_sleep_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Read a whole file into a NUL-terminated malloc'ed buffer, or NULL. */
static char *
shim_slurp(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;

	if (fd < 0)
		return NULL;
	buf = slurp_fd(fd, SHIM_CTL_MAX, NULL);
	close(fd);
	return buf;
}

/* Apply one key=value token to the rule. */
static void
shim_apply_token(struct shim_rule *r, const char *tok)
{
	const char *v = strchr(tok, '=');
	size_t klen;

	if (v == NULL)
		return;
	klen = (size_t)(v - tok);
	v++;
#define KEY(name) (klen == sizeof(name) - 1 && memcmp(tok, name, klen) == 0)
	if (KEY("errno"))
		r->err = (int)strtol(v, NULL, 0);
	else if (KEY("host"))
		r->host = (int)strtol(v, NULL, 0);
	else if (KEY("driver"))
		r->driver = (int)strtol(v, NULL, 0);
	else if (KEY("status"))
		r->status = (int)strtol(v, NULL, 0);
	else if (KEY("resid"))
		r->resid = strtol(v, NULL, 0);
	else if (KEY("delay_ms"))
		r->delay_ms = strtol(v, NULL, 0);
	else if (KEY("hang"))
		r->hang = strtol(v, NULL, 0) != 0;
	else if (KEY("syscall"))
		r->sys_nr = strtol(v, NULL, 0);
	else if (KEY("sense"))
		r->sense_len = th_unhex_prefix(v, r->sense, sizeof(r->sense),
		    NULL);
	else if (KEY("data"))
		r->data_len = th_unhex_prefix(v, r->data, sizeof(r->data),
		    NULL);
#undef KEY
}

/* Find the first control line whose glob matches path and parse it into r.
 * Returns true on a match. */
static bool
shim_lookup(const char *path, struct shim_rule *r)
{
	const char *ctl = getenv("PRH_SHIM_CTL");
	char *text, *line, *save = NULL, *tok, *save2 = NULL;
	bool found = false;

	if (ctl == NULL)
		return false;
	text = shim_slurp(ctl);
	if (text == NULL)
		return false;
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		tok = strtok_r(line, " \t\r", &save2);
		if (tok == NULL || tok[0] == '#')
			continue;
		if (fnmatch(tok, path, 0) != 0)
			continue;
		memset(r, 0, sizeof(*r));
		r->resid = -1;
		r->sys_nr = -1;
		while ((tok = strtok_r(NULL, " \t\r", &save2)) != NULL)
			shim_apply_token(r, tok);
		found = true;
		break;
	}
	free(text);
	return found;
}

/* Append len bytes (whole lines) to $PRH_SHIM_LOG with one write(). */
static void
shim_log_line(const char *line, size_t len)
{
	const char *logpath = getenv("PRH_SHIM_LOG");
	int fd;

	if (logpath == NULL)
		return;
	fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (write(fd, line, len) < 0) {
			/* nothing sensible to do inside an ioctl wrapper */
		}
		close(fd);
	}
}

/* Append one line describing the call to $PRH_SHIM_LOG. */
static void
shim_log(const char *path, const struct sg_io_hdr *h)
{
	uint8_t cdb[SGFAKE_CDB_MAX];
	size_t plen = 0, cap;
	char *line, *p;

	if (getenv("PRH_SHIM_LOG") == NULL)
		return;
	if (h->dxfer_direction == SG_DXFER_TO_DEV && h->dxferp != NULL &&
	    h->iovec_count == 0)
		plen = h->dxfer_len;
	cap = strlen(path) + 256 + 2 * plen;
	line = malloc(cap);
	if (line == NULL)
		return;
	sgfake_cdb(h, cdb);
	p = line +
	    snprintf(line, cap, "path=%s cmd_len=%u cdb=", path,
		(unsigned)h->cmd_len);
	th_hex(p, cdb, sizeof(cdb));
	p += 2 * sizeof(cdb);
	p += snprintf(p, cap - (size_t)(p - line),
	    " dir=%d dxfer_len=%u timeout=%u mx_sb_len=%u", h->dxfer_direction,
	    h->dxfer_len, h->timeout, (unsigned)h->mx_sb_len);
	if (h->dxfer_direction == SG_DXFER_TO_DEV) {
		p += snprintf(p, cap - (size_t)(p - line), " param=");
		th_hex(p, h->dxferp, plen);
		p += 2 * plen;
	}
	*p++ = '\n';
	shim_log_line(line, (size_t)(p - line));
	free(line);
}

/* Make the rule's system call and log what it returned. */
static void
shim_syscall(const struct shim_rule *r)
{
	char line[96];
	long rc;
	int n;

	errno = 0;
	rc = syscall(r->sys_nr, 0L, 0L, 0L);
	n = snprintf(line, sizeof(line), "syscall nr=%ld rc=%ld errno=%d\n",
	    r->sys_nr, rc, rc < 0 ? errno : 0);
	shim_log_line(line, (size_t)n);
}

/* Fill the sg_io_hdr from a rule; returns 0 or -errno. */
static int
shim_answer(struct sg_io_hdr *h, struct shim_rule *r)
{
	struct sgfake_answer a = {
		.status = (unsigned)r->status,
		.host = (unsigned)r->host,
		.driver = (unsigned)r->driver,
		.sense = r->sense,
		.sense_len = r->sense_len,
		.duration_ms = (unsigned)r->delay_ms,
	};
	size_t n = 0;

	if (r->delay_ms > 0)
		shim_sleep_ms(r->delay_ms);
	if (r->err != 0)
		return -r->err;
	if (h->dxfer_direction == SG_DXFER_FROM_DEV && h->dxferp != NULL) {
		n = r->data_len < h->dxfer_len ? r->data_len : h->dxfer_len;
		if (sgfake_xfer(h, r->data, n, 1) < 0)
			n = 0;
	}
	if (r->resid >= 0)
		a.resid = (int)r->resid;
	else if (h->dxfer_direction == SG_DXFER_FROM_DEV)
		a.resid = (int)(h->dxfer_len - n);
	sgfake_reply(h, &a);
	return 0;
}

/* Handle one SG_IO: log it, then answer from the control file or pass it
 * on to the real ioctl. */
static int
shim_sg_io(int fd, struct sg_io_hdr *h)
{
	char path[PATH_MAX];
	struct shim_rule *r;
	int rc;

	sgfake_fd_path(fd, path, sizeof(path));
	if (h != NULL)
		shim_log(path, h);
	r = malloc(sizeof(*r));
	if (r == NULL || h == NULL || !shim_lookup(path, r)) {
		free(r);
		return SGFAKE_PASS;
	}
	while (r->hang) {
		shim_sleep_ms(SHIM_POLL_MS);
		if (!shim_lookup(path, r)) {
			free(r);
			return SGFAKE_PASS;
		}
	}
	if (r->sys_nr >= 0)
		shim_syscall(r);
	rc = shim_answer(h, r);
	free(r);
	return rc;
}

/* The fake's ioctl (sgfake.c): SG_IO is ours, everything else passes. */
int
sgfake_ioctl(int fd, unsigned long request, void *arg)
{
	return request == SG_IO ? shim_sg_io(fd, arg) : SGFAKE_PASS;
}

/* Whether fd is a regular file PRH_SHIM_DEVICES presents as a disk; its
 * path goes to path. */
static bool
shim_is_device(int fd, char *path, size_t len)
{
	const char *glob = getenv("PRH_SHIM_DEVICES");

	if (glob == NULL || glob[0] == '\0')
		return false;
	sgfake_fd_path(fd, path, len);
	return path[0] != '\0' && fnmatch(glob, path, FNM_PATHNAME) == 0;
}

int statx(int dfd, const char *path, int flags, unsigned int mask,
    struct statx *stx);

/* The wrapper: a statx of an fd naming a file presented as a disk answers
 * as for a whole SCSI disk. */
int
statx(int dfd, const char *path, int flags, unsigned int mask,
    struct statx *stx)
{
	static void *next;
	int (*real)(int, const char *, int, unsigned int, struct statx *);
	char file[PATH_MAX];
	int rc;

	*(void **)&real = sgfake_next(&next, "statx");
	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	rc = real(dfd, path, flags, mask, stx);
	if (rc == 0 && (flags & AT_EMPTY_PATH) && path[0] == '\0' &&
	    S_ISREG(stx->stx_mode) && shim_is_device(dfd, file, sizeof(file))) {
		fakesys_statx(stx);
		fakesys_note(stx->stx_rdev_minor, file);
	}
	return rc;
}
