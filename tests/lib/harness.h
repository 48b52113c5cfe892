/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test harness: runs a helper binary in a private temporary directory and
 * gives tests what they need to observe it.
 *
 * A test owns one or more struct th_env.  th_env_init() makes the
 * directory (mkdtemp under $TMPDIR or /tmp) and names the files in it:
 * the helper's socket, the SG_IO shim's control file and log, and the
 * helper's stdout and stderr.  th_start() runs a helper with the shim
 * preloaded and returns once it serves: our helper is waited for through
 * NOTIFY_SOCKET ("READY=1"), QEMU's through inotify on the socket's
 * directory and a connect.  th_env_fini() stops the helper (SIGKILL if it
 * is still running) and removes the directory.
 *
 * All waits are bounded by a timeout in milliseconds and wake on events
 * (pidfd, inotify, the notify socket); only conditions that have no event,
 * such as a /proc fd count, are polled in short steps.
 *
 * Functions return 0 (or a count) on success and a negative errno on
 * failure; none of them exits or aborts.  Not thread-safe: one thread per
 * th_env.
 */
#ifndef PRH_TESTS_HARNESS_H
#define PRH_TESTS_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/types.h>
#include <time.h>

#include "prh/protocol.h"
#include "hex.h"

/* Which helper binary a test runs. */
enum th_kind {
	TH_OURS,   /* $PRH_TOP_BUILDDIR/qemu-pr-helper, or $PRH_HELPER_BIN;
			 * run under $PRH_HELPER_WRAPPER if set */
	TH_QEMU,   /* /usr/bin/qemu-pr-helper (7.2 on Debian 12, 10.0 on 13) */
	TH_QEMU10, /* QEMU 10.0's, fetched by contrib/qemu10.sh:
		    * $PRH_QEMU10_DIR/root/usr/bin/qemu-pr-helper */
	TH_QEMU11, /* QEMU 11.1's, in the Debian 13 root of
		    * contrib/trixie-root.sh (flavour qemu):
		    * $PRH_TRIXIE_DIR_qemu/root/usr/bin/qemu-pr-helper, run
		    * through the root's own dynamic loader and libraries */
	TH_FLOOR,  /* the benchmark's minimal server (not a helper):
		    * $PRH_TOP_BUILDDIR/src/bench/floor */
};

/* Whether kind is one of QEMU's helpers (a reference peer). */
#define TH_IS_QEMU(kind) \
	((kind) == TH_QEMU || (kind) == TH_QEMU10 || (kind) == TH_QEMU11)

#define TH_TIMEOUT_MS  10000 /* default bound for every wait */
#define TH_MAX_INHERIT 16    /* th_env.inherit entries used */

/* th_spawn() flags. */
#define TH_NO_SOCKET_ARG 0x1 /* do not pass "-k <sock>" */
#define TH_NO_SHIM	 0x2 /* do not preload the SG_IO shim */

/*
 * One test's private world.  Owned by the test that initialised it; the
 * helper process it started (pid) is its child and is reaped by th_stop(),
 * th_wait_exit() or th_env_fini().
 */
struct th_env {
	enum th_kind kind;
	char dir[PATH_MAX];	      /* private temp dir */
	char sock[PATH_MAX];	      /* helper socket (-k) */
	char ctl[PATH_MAX];	      /* PRH_SHIM_CTL */
	char log[PATH_MAX];	      /* PRH_SHIM_LOG */
	char out[PATH_MAX];	      /* helper stdout */
	char err[PATH_MAX];	      /* helper stderr */
	char notify[PATH_MAX];	      /* NOTIFY_SOCKET (ours only) */
	const char *const *extra_env; /* "K=V" strings added, or NULL */
	/* fds the helper inherits at the same numbers (-1 ends the list),
	 * or NULL; every other fd from 3 on is closed */
	const int *inherit;
	/* run in the child last before exec (as libvirt's hooks), or NULL */
	void (*pre_exec)(struct th_env *e);
	pid_t pid; /* running helper, 0 if none */
	/* private */
	int pidfd;
	int notify_fd;
	int ino_fd;
	bool sock_existed;
	bool created;
};

/* One SG_IO call as the shim logged it. */
struct th_sgio_call {
	char path[PATH_MAX]; /* readlink of the fd */
	unsigned cmd_len;
	uint8_t cdb[16];
	int dir; /* SG_DXFER_* */
	unsigned dxfer_len;
	unsigned timeout; /* ms */
	unsigned mx_sb_len;
	size_t param_len; /* TO_DEV parameter bytes */
	uint8_t param[PRH_DATA_MAX];
};

/* Milliseconds on the monotonic clock. */
static inline long long
th_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- binaries --------------------------------------------------------- */

/* Path of the helper binary of this kind. */
const char *th_helper_path(enum th_kind kind);

/* The words that run the helper of kind, NULL-terminated (static
 * strings): its path (th_helper_path()), for TH_QEMU11 after the root's
 * dynamic loader and its --library-path option. */
#define TH_HELPER_CMD_MAX 5
const char *const *th_helper_cmd(enum th_kind kind);

/* "ours", "qemu" (the system's), "qemu10", "qemu11" or "floor". */
const char *th_kind_name(enum th_kind kind);

/* Whether this kind can run here: 0, or -errno with *why set. */
int th_helper_usable(enum th_kind kind, const char **why);

/* Path of the SG_IO shim (under $PRH_TOP_BUILDDIR). */
const char *th_shim_path(void);

/* --- environment and process ------------------------------------------ */

/* Make the temp dir and name its files: 0 or -errno. */
int th_env_init(struct th_env *e, enum th_kind kind);

/* Kill a running helper, reap it, remove the temp dir. Idempotent. */
void th_env_fini(struct th_env *e);

/* Start the helper with args (NULL-terminated, after argv[0]); adds
 * "-k <sock>" first unless TH_NO_SOCKET_ARG. Does not wait: 0 or -errno. */
int th_spawn(struct th_env *e, const char *const *args, unsigned flags);

/* Wait until the spawned helper serves: 0, -ECHILD if it exited,
 * -ETIMEDOUT, or -errno. */
int th_wait_ready(struct th_env *e, int timeout_ms);

/* Wait for the line msg (e.g. "STOPPING=1") from our helper on
 * NOTIFY_SOCKET: 0, -ECHILD if it exited first, -ETIMEDOUT. */
int th_wait_notify(struct th_env *e, const char *msg, int timeout_ms);

/* th_spawn() (shim preloaded, -k added) and th_wait_ready(). */
int th_start(struct th_env *e, const char *const *args);

/* Wait for the helper to exit: 0 and *wstatus, or -ETIMEDOUT (the helper
 * is left running). */
int th_wait_exit(struct th_env *e, int timeout_ms, int *wstatus);

/* Send sig and wait; SIGKILL and -ETIMEDOUT if it has not exited by the
 * deadline. 0 and *wstatus otherwise. */
int th_stop(struct th_env *e, int sig, int timeout_ms, int *wstatus);

/* Spawn with flags, wait for exit: 0 and *wstatus, or -errno. */
int th_run(struct th_env *e, const char *const *args, unsigned flags,
    int timeout_ms, int *wstatus);

/* --- process observation ---------------------------------------------- */

/* Open fds of pid (entries of /proc/PID/fd), or -errno. */
int th_fd_count(pid_t pid);

/* Poll th_fd_count() until it is <= want: the last count, or -errno. */
int th_wait_fd_count(pid_t pid, int want, int timeout_ms);

/* VmRSS of pid in KiB, or -errno. */
long th_vmrss_kb(pid_t pid);

/* Whether pid maps a sanitizer runtime (ASan: its quarantine keeps freed
 * memory resident, and LeakSanitizer stops every thread at exit). */
bool th_sanitized(pid_t pid);

/* --- files ------------------------------------------------------------- */

/* Whole file as a NUL-terminated malloc'ed string ("" if missing), or NULL
 * on allocation failure; *len gets the length if len is not NULL. */
char *th_read_file(const char *path, size_t *len);

/* The helper's stderr so far (malloc'ed, never NULL unless out of memory). */
char *th_stderr(struct th_env *e);

/* Occurrences of needle in the helper's stderr so far (-1 if unread). */
int th_stderr_count(struct th_env *e, const char *needle);

/* This process's name as the kernel keeps it (/proc/self/comm, as the
 * helper reads a peer's), in a static buffer. */
const char *th_self_comm(void);

/* Wait until the file contains needle: 0 or -ETIMEDOUT. */
int th_wait_file_contains(const char *path, const char *needle, int timeout_ms);

/* Wait until the helper's stderr contains needle: 0 or -ETIMEDOUT. */
int th_wait_stderr(struct th_env *e, const char *needle, int timeout_ms);

/* Remove dir and everything below it (never through a symbolic link). */
void th_rmtree(const char *dir);

/* Replace the shim control file atomically with the formatted text. */
int th_shim_set(struct th_env *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parse the shim log into a malloc'ed array: count (>= 0) or -errno. */
int th_shim_calls(struct th_env *e, struct th_sgio_call **out);

/* Wait until the shim logged at least n calls: the count, or -ETIMEDOUT. */
int th_wait_shim_calls(struct th_env *e, int n, int timeout_ms);

/* Create (4 KiB, if missing) the regular file dir/name and open it with
 * oflags (O_RDWR, O_RDONLY, ... O_CLOEXEC is added): fd or -errno. The
 * path is stored in path if not NULL. */
int th_make_dev(struct th_env *e, const char *name, int oflags, char *path,
    size_t pathlen);

/* --- protocol helpers --------------------------------------------------- */

/* Connect and handshake to e->sock with 10 s send/receive timeouts. */
int th_connect(struct th_env *e);

/* Connect without the handshake, with the same timeouts. */
int th_connect_raw(struct th_env *e);

/* Send len bytes with nfds fds attached (at most FDPASS_MAX_FDS, the
 * most one message can carry) in one sendmsg: 0 or -errno. */
int
th_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);

/* th_send_fds() with sendmsg flags added (MSG_OOB: the last byte goes
 * out of band). */
int th_send_fds_flags(int sock, const void *buf, size_t len, const int *fds,
    int nfds, int flags);

/* Wait for the peer to close: 0 on EOF or reset, -EPROTO if bytes came
 * instead, -ETIMEDOUT. Discards nothing else. */
int th_wait_closed(int sock, int timeout_ms);

/* In a Criterion test: skip it unless root, saying why (a string). */
#define TH_NEED_ROOT(why)                          \
	do {                                       \
		if (geteuid() != 0)                \
			cr_skip_test("%s", (why)); \
	} while (0)

/* The first line of text that starts with prefix followed by the
 * character after: where it starts, or NULL. */
const char *th_line_with(const char *text, const char *prefix, char after);

/* Whether fd is readable (or hung up) within timeout_ms. */
bool th_readable(int fd, int timeout_ms);

/* SIGKILL the daemon *pid (a -d helper a test left running) if any, and
 * forget it. */
void th_kill_daemon(pid_t *pid);

/* A Unix socket of type (close-on-exec) bound at path: fd or -errno. */
int th_unix_bound(const char *path, int type);

/* Create an empty file with mode if it does not exist: 0 or -errno. */
int th_touch(const char *path, mode_t mode);

/* A mount namespace of its own for the calling thread's process, / and
 * all below it private (nothing mounted in it reaches the host): 0 or
 * -errno (EINVAL where / is no mount point, as in a chroot). */
int th_private_ns(void);

/* Why this process could not get a private mount namespace (tried in a
 * child, which then exits), or NULL when it can: tests that need one skip
 * with this reason. */
const char *th_private_ns_why(void);

/* Skip the test unless it can get a private mount namespace. */
#define TH_NEED_PRIVATE_NS()                            \
	do {                                            \
		const char *why_ = th_private_ns_why(); \
		if (why_ != NULL)                       \
			cr_skip_test("%s", why_);       \
	} while (0)

/* In a child about to run a helper: a private mount namespace whose /dev
 * holds only null (the real one) and log (a bind mount of the socket
 * sock).  0 or -errno. */
int th_private_dev_log(const char *sock);

/* Fill sense with the 18-byte fixed-format sense the helper builds,
 * followed by zeros up to PRH_SENSE_LEN. */
void th_sense_fixed(uint8_t sense[PRH_SENSE_LEN], uint8_t key, uint8_t asc,
    uint8_t ascq);

#endif
