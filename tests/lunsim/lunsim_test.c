/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared pieces of the lunsim tests (see lunsim_test.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "prh/client.h"
#include "lunsim_test.h"
#include "hex.h"

/* Path of a file in the build tree ($PRH_TOP_BUILDDIR/rel). */
const char *
lt_build_path(char *buf, size_t len, const char *rel)
{
	const char *top = getenv("PRH_TOP_BUILDDIR");

	snprintf(buf, len, "%s/%s", top != NULL ? top : ".", rel);
	return buf;
}

/* Make a private temporary directory into dir: 0 or -errno. */
int
lt_tmpdir(char dir[LT_DIR_MAX])
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, LT_DIR_MAX, "%s/lunsim-test.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	return mkdtemp(dir) != NULL ? 0 : -errno;
}

/* Remove the files in dir and dir itself. */
void
lt_rmdir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Monotonic milliseconds. */
static int64_t
lt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for pid to exit within timeout_ms: exit status (or 128+signal),
 * or -ETIMEDOUT (pid left running). */
int
lt_wait_pid(pid_t pid, int timeout_ms)
{
	struct pollfd pfd;
	int st, pidfd;
	pid_t w;

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd >= 0) {
		pfd.fd = pidfd;
		pfd.events = POLLIN;
		while (poll(&pfd, 1, timeout_ms) < 0 && errno == EINTR)
			;
		close(pidfd);
	}
	w = waitpid(pid, &st, pidfd >= 0 ? WNOHANG : 0);
	if (w == 0)
		return -ETIMEDOUT;
	if (w < 0)
		return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Run argv (NULL-terminated), wait: exit status or -errno. */
int
lt_run(const char *const *argv, char *out, size_t outlen)
{
	char discard[256];
	int p[2], rc;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(p[0]);
		close(p[1]);
		return rc;
	}
	if (pid == 0) {
		dup2(p[1], 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		if (out != NULL && got + 1 < outlen)
			n = read(p[0], out + got, outlen - 1 - got);
		else
			n = read(p[0], discard, sizeof(discard));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out != NULL && got + 1 < outlen)
			got += (size_t)n;
	}
	if (out != NULL)
		out[got] = '\0';
	close(p[0]);
	rc = lt_wait_pid(pid, LT_TIMEOUT_MS);
	if (rc == -ETIMEDOUT) {
		kill(pid, SIGKILL);
		lt_wait_pid(pid, LT_TIMEOUT_MS);
	}
	return rc;
}

/* "lunsim create path --size size": 0 or -errno / exit status. */
int
lt_create_lun(const char *path, uint64_t size)
{
	char bin[PATH_MAX], sz[32];
	const char *argv[] = { bin, "create", path, "--size", sz, NULL };

	lt_build_path(bin, sizeof(bin), "lunsim");
	snprintf(sz, sizeof(sz), "%" PRIu64, size);
	return lt_run(argv, NULL, 0);
}

/* Start lunsim-drive on dev as initiator: 0 or -errno. */
int
lt_drive_start(struct lt_drive *d, const char *initiator, const char *dev,
    const char *const *extra)
{
	return lt_drive_start_opts(d, initiator, extra, NULL, dev);
}

/* Append the NULL-terminated words to argv[n..max-1]: the new n. */
static int
lt_argv_add(const char **argv, int n, int max, const char *const *words)
{
	while (words != NULL && *words != NULL && n < max)
		argv[n++] = *words++;
	return n;
}

/* Start lunsim-drive with its options dopts on dev: 0 or -errno. */
int
lt_drive_start_opts(struct lt_drive *d, const char *initiator,
    const char *const *extra, const char *const *dopts, const char *dev)
{
	char bin[PATH_MAX], drv[PATH_MAX];
	const char *argv[24];
	int in[2], out[2], n = 0;

	lt_build_path(bin, sizeof(bin), "lunsim");
	lt_build_path(drv, sizeof(drv), "tests/lunsim/lunsim-drive");
	argv[n++] = bin;
	argv[n++] = "--initiator";
	argv[n++] = initiator;
	n = lt_argv_add(argv, n, 12, extra);
	argv[n++] = "--";
	argv[n++] = drv;
	n = lt_argv_add(argv, n, 20, dopts);
	argv[n++] = dev;
	argv[n] = NULL;
	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return -errno;
	}
	d->pid = fork();
	if (d->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	d->to = fdopen(in[1], "w");
	d->from = fdopen(out[0], "r");
	if (d->pid < 0 || d->to == NULL || d->from == NULL)
		return -EIO;
	return 0;
}

/* Send one command line to the driver, the data through iovecs if iov:
 * 0 or -errno. */
int
lt_drive_send_how(struct lt_drive *d, const uint8_t *cdb, size_t cdb_len,
    const uint8_t *param, size_t plen, unsigned dxfer, bool iov)
{
	size_t i;

	for (i = 0; i < cdb_len; i++)
		fprintf(d->to, "%02x", cdb[i]);
	fputc(' ', d->to);
	if (plen == 0)
		fputc('-', d->to);
	for (i = 0; i < plen; i++)
		fprintf(d->to, "%02x", param[i]);
	fprintf(d->to, " %u%s\n", dxfer, iov ? " iov" : "");
	return fflush(d->to) == 0 ? 0 : -EPIPE;
}

/* Send one command line to the driver: 0 or -errno. */
int
lt_drive_send(struct lt_drive *d, const uint8_t *cdb, size_t cdb_len,
    const uint8_t *param, size_t plen, unsigned dxfer)
{
	return lt_drive_send_how(d, cdb, cdb_len, param, plen, dxfer, false);
}

/* Read and parse the driver's next result line: 0 or -errno. */
int
lt_drive_recv(struct lt_drive *d, struct lt_result *r)
{
	static char line[4 * PRH_DATA_MAX];
	char *tok[9];
	int n;

	memset(r, 0, sizeof(*r));
	if (fgets(line, sizeof(line), d->from) == NULL)
		return -ECONNRESET;
	for (n = 0; n < 9; n++)
		if ((tok[n] = strtok(n == 0 ? line : NULL, " \n")) == NULL)
			break;
	if (n >= 2 && strcmp(tok[0], "ERR") == 0) {
		r->err = (int)strtol(tok[1], NULL, 16);
		return 0;
	}
	if (n != 9)
		return -EPROTO;
	r->status = (unsigned)strtoul(tok[0], NULL, 16);
	r->host_status = (unsigned)strtoul(tok[1], NULL, 16);
	r->driver_status = (unsigned)strtoul(tok[2], NULL, 16);
	r->resid = (unsigned)strtoul(tok[4], NULL, 16);
	r->info = (unsigned)strtoul(tok[5], NULL, 16);
	r->duration = (unsigned)strtoul(tok[6], NULL, 16);
	n = th_unhex(tok[7], r->sense, sizeof(r->sense));
	if (n < 0 || (unsigned long)n != strtoul(tok[3], NULL, 16))
		return -EPROTO;
	r->sense_len = (size_t)n;
	n = th_unhex(tok[8], r->data, sizeof(r->data));
	if (n < 0)
		return -EPROTO;
	r->len = (size_t)n;
	return 0;
}

/* Send one command and read its result: 0 or -errno. */
int
lt_drive_cmd(struct lt_drive *d, const uint8_t *cdb, size_t cdb_len,
    const uint8_t *param, size_t plen, unsigned dxfer, struct lt_result *r)
{
	int rc = lt_drive_send(d, cdb, cdb_len, param, plen, dxfer);

	return rc < 0 ? rc : lt_drive_recv(d, r);
}

/* "lunsim fault lun WORD...": exit status or -errno; out gets stdout. */
int
lt_fault(const char *lun, const char *const *words, char *out, size_t len)
{
	char bin[PATH_MAX];
	const char *argv[16];
	int n = 0;

	lt_build_path(bin, sizeof(bin), "lunsim");
	argv[n++] = bin;
	argv[n++] = "fault";
	argv[n++] = lun;
	n = lt_argv_add(argv, n, 15, words);
	argv[n] = NULL;
	return lt_run(argv, out, len);
}

/* Close the driver's stdin and reap it: its exit status or -errno. */
int
lt_drive_stop(struct lt_drive *d)
{
	int rc;

	if (d->to != NULL)
		fclose(d->to);
	if (d->from != NULL)
		fclose(d->from);
	d->to = d->from = NULL;
	if (d->pid <= 0)
		return 0;
	rc = lt_wait_pid(d->pid, LT_TIMEOUT_MS);
	if (rc == -ETIMEDOUT) {
		kill(d->pid, SIGKILL);
		lt_wait_pid(d->pid, LT_TIMEOUT_MS);
	}
	d->pid = 0;
	return rc;
}

/* Try to connect to sock once: 0 if something accepts. */
static int
lt_probe(const char *sock)
{
	int fd = client_connect_raw(sock);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* Start helper_bin -k sock under lunsim and wait until it serves. */
int
lt_helper_start(struct lt_helper *h, const char *helper_bin,
    const char *initiator, const char *sock)
{
	return lt_helper_start_args(h, helper_bin, initiator, sock, NULL, NULL);
}

/* Start helper_bin -k sock ARGS... under lunsim, stderr to err_path if
 * given, and wait until it serves. */
int
lt_helper_start_args(struct lt_helper *h, const char *helper_bin,
    const char *initiator, const char *sock, const char *const *args,
    const char *err_path)
{
	const char *const cmd[] = { helper_bin, NULL };

	return lt_helper_start_cmd(h, cmd, initiator, sock, args, err_path);
}

/* Start CMD... -k sock ARGS... under lunsim, stderr to err_path if given,
 * and wait until it serves. */
int
lt_helper_start_cmd(struct lt_helper *h, const char *const *cmd,
    const char *initiator, const char *sock, const char *const *args,
    const char *err_path)
{
	char bin[PATH_MAX], dir[PATH_MAX];
	const char *argv[LT_HELPER_CMD_MAX + LT_HELPER_ARGS_MAX + 8] = { bin,
		"--initiator", initiator, "--" };
	struct pollfd pfd;
	int64_t deadline = lt_now_ms() + LT_TIMEOUT_MS;
	int ino, rc, n = 4, fd;

	for (int i = 0; cmd[i] != NULL; i++) {
		if (i >= LT_HELPER_CMD_MAX)
			return -E2BIG;
		argv[n++] = cmd[i];
	}
	argv[n++] = "-k";
	argv[n++] = sock;
	for (int i = 0; args != NULL && args[i] != NULL; i++) {
		if (i >= LT_HELPER_ARGS_MAX)
			return -E2BIG;
		argv[n++] = args[i];
	}
	argv[n] = NULL;

	h->conn = -1;
	snprintf(h->sock, sizeof(h->sock), "%s", sock);
	snprintf(dir, sizeof(dir), "%s", sock);
	lt_build_path(bin, sizeof(bin), "lunsim");
	ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ino < 0 ||
	    inotify_add_watch(ino, dirname(dir), IN_CREATE | IN_MOVED_TO) < 0)
		return -errno;
	h->pid = fork();
	if (h->pid == 0) {
		if (err_path != NULL) {
			fd = open(err_path, O_WRONLY | O_CREAT | O_APPEND,
			    0600);
			if (fd < 0 || dup2(fd, 2) < 0)
				_exit(127);
			if (fd != 2)
				close(fd);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	rc = h->pid < 0 ? -errno : -ETIMEDOUT;
	while (h->pid > 0 && lt_now_ms() < deadline) {
		if (lt_probe(sock) == 0) {
			rc = 0;
			break;
		}
		if (waitpid(h->pid, NULL, WNOHANG) == h->pid) {
			h->pid = 0;
			rc = -ECHILD;
			break;
		}
		/* socket creation wakes us; bind-to-listen gap: 20 ms */
		pfd.fd = ino;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 20) > 0)
			while (read(ino, dir, sizeof(dir)) > 0)
				;
	}
	close(ino);
	return rc;
}

/* Connect to the helper (handshake included): 0 or -errno. */
int
lt_helper_connect(struct lt_helper *h)
{
	struct timeval tv = { 10, 0 };
	int fd = client_connect(h->sock);

	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	h->conn = fd;
	return 0;
}

/* One command through the helper with devfd attached: 0 or -errno. */
int
lt_helper_cmd(struct lt_helper *h, int devfd, const uint8_t cdb[16],
    const uint8_t *param, size_t plen, struct lt_result *r)
{
	static struct client_reply rep;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = client_command(h->conn, cdb, devfd, param, plen, &rep);
	if (rc < 0)
		return rc;
	r->status = rep.status;
	memcpy(r->sense, rep.sense, PRH_SENSE_LEN);
	r->sense_len = rep.status == PRH_STATUS_CHECK_CONDITION ? PRH_SENSE_LEN
								: 0;
	r->len = rep.size <= PRH_DATA_MAX ? rep.size : PRH_DATA_MAX;
	memcpy(r->data, rep.data, r->len);
	return 0;
}

/* Stop the helper (SIGTERM, then SIGKILL) and reap it. */
void
lt_helper_stop(struct lt_helper *h)
{
	if (h->conn >= 0)
		close(h->conn);
	h->conn = -1;
	if (h->pid <= 0)
		return;
	kill(h->pid, SIGTERM);
	if (lt_wait_pid(h->pid, LT_TIMEOUT_MS) == -ETIMEDOUT) {
		kill(h->pid, SIGKILL);
		lt_wait_pid(h->pid, LT_TIMEOUT_MS);
	}
	h->pid = 0;
	unlink(h->sock);
}

/* Big-endian value of n bytes at p. */
static uint64_t
lt_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

/* Compare two strings for qsort. */
static int
lt_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Decode READ KEYS / READ FULL STATUS entries, sorted, into out. */
static void
lt_decode_list(const uint8_t *d, size_t len, int full, char *out, size_t olen)
{
	char items[64][96], *ptr[64];
	size_t off = 8, end = 8 + lt_be(d + 4, 4), n = 0, i, step;

	if (end > len)
		end = len;
	while (n < 64 && off + (full ? 24 : 8) <= end) {
		if (!full) {
			snprintf(items[n], sizeof(items[n]), "%" PRIx64,
			    lt_be(d + off, 8));
			step = 8;
		} else {
			step = 24 + lt_be(d + off + 20, 4);
			snprintf(items[n], sizeof(items[n]), "%" PRIx64 ":%.*s",
			    lt_be(d + off, 8),
			    (int)(off + 28 <= end
				    ? strnlen((const char *)d + off + 28,
					  end - off - 28)
				    : 0),
			    (const char *)d + off + 28);
			if (d[off + 12] & 1)
				snprintf(items[n] + strlen(items[n]),
				    sizeof(items[n]) - strlen(items[n]), "*%u",
				    d[off + 13] & 0xf);
		}
		ptr[n] = items[n];
		n++;
		off += step;
	}
	qsort(ptr, n, sizeof(ptr[0]), lt_strcmp);
	snprintf(out, olen, "%s", full ? "" : " k:");
	if (!full && n == 0)
		snprintf(out + strlen(out), olen - strlen(out), "-");
	for (i = 0; i < n; i++)
		snprintf(out + strlen(out), olen - strlen(out), "%s%s",
		    full    ? " "
			: i ? ","
			    : "",
		    ptr[i]);
}

/* Decode PR IN data for service action sa into out. */
static void
lt_decode_pr_in(unsigned sa, const uint8_t *d, size_t len, char *out,
    size_t olen)
{
	size_t i, o;

	if (sa == 2 || len < 8) {
		o = (size_t)snprintf(out, olen, " %s",
		    sa == 2 ? "caps:" : "raw:");
		for (i = 0; i < len && o + 3 < olen; i++)
			o += (size_t)snprintf(out + o, olen - o, "%02x", d[i]);
		return;
	}
	o = (size_t)snprintf(out, olen, " g%" PRIu64, lt_be(d, 4));
	if (sa == 1) {
		if (lt_be(d + 4, 4) == 0 || len < 22)
			snprintf(out + o, olen - o, " none");
		else
			snprintf(out + o, olen - o, " %" PRIx64 "/%u",
			    lt_be(d + 8, 8), d[21] & 0xf);
		return;
	}
	lt_decode_list(d, len, sa == 3, out + o, olen - o);
}

/* Normalised text of a result (see lunsim_test.h). */
void
lt_result_str(const uint8_t *cdb, const struct lt_result *r, char *buf,
    size_t len)
{
	const uint8_t *s = r->sense;

	if (r->err != 0) {
		snprintf(buf, len, "err %d", r->err);
	} else if (r->status == 0) {
		snprintf(buf, len, "ok");
		if (cdb[0] == 0x5e)
			lt_decode_pr_in(cdb[1] & 0x1f, r->data, r->len, buf + 2,
			    len - 2);
	} else if (r->status == 0x18) {
		snprintf(buf, len, "conflict");
	} else if (r->status == 0x02 && (s[0] & 0x7e) == 0x70) {
		snprintf(buf, len, "cc %x/%02x/%02x", s[2] & 0xf, s[12], s[13]);
	} else if (r->status == 0x02 && (s[0] & 0x7e) == 0x72) {
		snprintf(buf, len, "cc %x/%02x/%02x", s[1] & 0xf, s[2], s[3]);
	} else {
		snprintf(buf, len, "status 0x%02x", r->status);
	}
}

/* Build a PR OUT parameter list: its length. */
size_t
lt_param(uint8_t *p, uint64_t key, uint64_t sakey, uint8_t flags,
    const char *dest, int unreg)
{
	size_t n, addl;
	int i;

	memset(p, 0, 24);
	for (i = 0; i < 8; i++) {
		p[i] = (uint8_t)(key >> (56 - 8 * i));
		p[8 + i] = (uint8_t)(sakey >> (56 - 8 * i));
	}
	if (dest == NULL) {
		p[20] = flags;
		return 24;
	}
	p[17] = (uint8_t)(unreg ? 0x02 : 0x00);
	p[19] = 1; /* relative target port 1 */
	n = strlen(dest) + 1;
	addl = (n + 3) & ~(size_t)3;
	if (addl < 20)
		addl = 20;
	p[23] = (uint8_t)(4 + addl);
	memset(p + 24, 0, 4 + addl);
	p[24] = 0x05; /* iSCSI, format 00b */
	p[27] = (uint8_t)addl;
	memcpy(p + 28, dest, n - 1);
	return 24 + 4 + addl;
}
