/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared pieces of the lunsim tests: temporary directories, LUN files,
 * driver processes (lunsim-drive under the launcher), helper processes
 * under the launcher, and a normalised text form of command results so
 * that the same scenario can be checked through every path.
 *
 * Functions return 0 or a negative errno and never exit.  Not
 * thread-safe: each test owns its objects.
 */
#ifndef LUNSIM_TEST_H
#define LUNSIM_TEST_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "prh/protocol.h"

#define LT_TIMEOUT_MS 10000
#define LT_DIR_MAX    1024 /* temp dir paths; leaves room for names */

/* Outcome of one command, whatever path it took. */
struct lt_result {
	int err; /* ioctl errno, 0 if it ran */
	unsigned status;
	unsigned host_status;	/* direct path only */
	unsigned driver_status; /* direct path only */
	unsigned resid;		/* direct path only */
	unsigned info;		/* direct path only */
	unsigned duration;	/* direct path only, ms */
	uint8_t sense[PRH_SENSE_LEN];
	size_t sense_len;
	uint8_t data[PRH_DATA_MAX];
	size_t len;
};

/* A lunsim-drive process under "lunsim --initiator NAME --". */
struct lt_drive {
	pid_t pid;
	FILE *to;   /* its stdin */
	FILE *from; /* its stdout */
};

/* A helper process under "lunsim --initiator NAME --", serving sock. */
struct lt_helper {
	pid_t pid;
	char sock[PATH_MAX];
	int conn; /* connected client socket, -1 if none */
};

/* Path of a file in the build tree ($PRH_TOP_BUILDDIR/rel). */
const char *lt_build_path(char *buf, size_t len, const char *rel);

/* Make a private temporary directory into dir: 0 or -errno. */
int lt_tmpdir(char dir[LT_DIR_MAX]);

/* Remove the files in dir and dir itself. */
void lt_rmdir(const char *dir);

/* Run argv (NULL-terminated), wait up to timeout: exit status or -errno.
 * out, if not NULL, receives up to outlen-1 bytes of stdout. */
int lt_run(const char *const *argv, char *out, size_t outlen);

/* "lunsim create path --size size": 0 or -errno / exit status. */
int lt_create_lun(const char *path, uint64_t size);

/* Start lunsim-drive on dev as initiator (extra launcher args may be
 * NULL): 0 or -errno. */
int lt_drive_start(struct lt_drive *d, const char *initiator, const char *dev,
    const char *const *extra);

/* The same with options for lunsim-drive itself (--direct, --setuid UID;
 * NULL-terminated, may be NULL): 0 or -errno. */
int lt_drive_start_opts(struct lt_drive *d, const char *initiator,
    const char *const *extra, const char *const *dopts, const char *dev);

/* Send one command (cdb, optional parameter list, data-in length) and
 * read its result: 0 or -errno. */
int lt_drive_cmd(struct lt_drive *d, const uint8_t *cdb, size_t cdb_len,
    const uint8_t *param, size_t plen, unsigned dxfer, struct lt_result *r);

/* The two halves of lt_drive_cmd(). */
int lt_drive_send(struct lt_drive *d, const uint8_t *cdb, size_t cdb_len,
    const uint8_t *param, size_t plen, unsigned dxfer);
int lt_drive_recv(struct lt_drive *d, struct lt_result *r);

/* lt_drive_send(), the data through iovecs if iov (the driver's "iov"). */
int lt_drive_send_how(struct lt_drive *d, const uint8_t *cdb, size_t cdb_len,
    const uint8_t *param, size_t plen, unsigned dxfer, bool iov);

/* "lunsim fault lun WORD..." (words NULL-terminated): exit status or
 * -errno; out (may be NULL) gets its stdout. */
int lt_fault(const char *lun, const char *const *words, char *out, size_t len);

/* Close the driver's stdin and reap it: its exit status or -errno. */
int lt_drive_stop(struct lt_drive *d);

/* Start helper_bin -k sock under lunsim as initiator and wait until it
 * accepts connections: 0 or -errno. */
int lt_helper_start(struct lt_helper *h, const char *helper_bin,
    const char *initiator, const char *sock);

/* The same with up to LT_HELPER_ARGS_MAX more helper arguments (args,
 * NULL-terminated, may be NULL) and its stderr appended to err_path (NULL:
 * inherited). */
#define LT_HELPER_ARGS_MAX 8
int lt_helper_start_args(struct lt_helper *h, const char *helper_bin,
    const char *initiator, const char *sock, const char *const *args,
    const char *err_path);

/* The same with the helper run by the words of cmd (NULL-terminated, at
 * most LT_HELPER_CMD_MAX: a program and its options before -k, e.g. a
 * dynamic loader and the helper's binary). */
#define LT_HELPER_CMD_MAX 6
int lt_helper_start_cmd(struct lt_helper *h, const char *const *cmd,
    const char *initiator, const char *sock, const char *const *args,
    const char *err_path);

/* Connect to the helper (handshake included): 0 or -errno. */
int lt_helper_connect(struct lt_helper *h);

/* One command through the helper with devfd attached: 0 or -errno. */
int lt_helper_cmd(struct lt_helper *h, int devfd, const uint8_t cdb[16],
    const uint8_t *param, size_t plen, struct lt_result *r);

/* Stop the helper (SIGTERM, then SIGKILL) and reap it. */
void lt_helper_stop(struct lt_helper *h);

/* Wait for pid to exit within timeout_ms: exit status (or 128+signal),
 * or -ETIMEDOUT (pid left running). */
int lt_wait_pid(pid_t pid, int timeout_ms);

/*
 * Normalised text of a result: "ok" (plus a decoding of the PR IN data
 * for the service action in cdb), "conflict", "cc K/AA/QQ", "err N" or
 * "status 0xNN".  Keys are listed in ascending order.
 */
void lt_result_str(const uint8_t *cdb, const struct lt_result *r, char *buf,
    size_t len);

/* Build a PR OUT parameter list (24 bytes, or 24 + TransportID for
 * REGISTER AND MOVE to initiator dest): its length. */
size_t lt_param(uint8_t *p, uint64_t key, uint64_t sakey, uint8_t flags,
    const char *dest, int unreg);

#endif
