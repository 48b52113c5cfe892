/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Integration: the audit trail of our helper, as an operator reads it.
 * The lines on stderr (the default), the native journal entries when
 * stderr is a journal stream (the journal's socket is a socket of this
 * test, shown at /run/systemd/journal/socket in the helper's private
 * mount namespace), the syslog lines under -d (the test's socket at
 * /dev/log likewise), the rate limit with its count, the VM a peer
 * belongs to from a real cgroup v2 machine scope at the top of the
 * hierarchy, and no VM for a peer in a machine scope of its own making
 * in a cgroup delegated to it.  Devices are the shim's whole SCSI disks
 * (named as their files, wwid "fakesys.N").
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "prh/client.h"
#include "prh/peerlog.h"
#include "prh/protocol.h"
#include "harness.h"

#define AT_TIMEOUT_MS TH_TIMEOUT_MS
/* MESSAGE_IDs the manual documents. */
#define ID_PREEMPT    "ee59270baff74d848ff6a4deb1fcdffe"
#define ID_REGISTER   "514b38c2970e460cbfeff0c6ca0720c7"
#define ID_PR_IN      "50beaf4146814badb2412bfa7ca3e3e8"
#define ID_DROPPED    "52a58d6c94a14b4184c66b83314382dd"

static struct th_env at_env;
static pid_t at_daemon; /* a -d daemon to kill at the end */

#define AT_CGROUPS 4
static char at_cgroot[1024]; /* the cgroup v2 mount, or "" */
/* cgroups the test made (or a child of it will), parents first */
static char at_cgdirs[AT_CGROUPS][PATH_MAX];
static int at_ncgdirs;

/* Move every process of cgroup dir to the top one, then remove dir. */
static void
at_cgroup_remove(const char *dir)
{
	char path[PATH_MAX + 256], *text, *line, *save;
	ssize_t w;
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	text = th_read_file(path, NULL);
	snprintf(path, sizeof(path), "%s/cgroup.procs", at_cgroot);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	for (line = text != NULL ? strtok_r(text, "\n", &save) : NULL;
	     line != NULL && fd >= 0; line = strtok_r(NULL, "\n", &save)) {
		w = write(fd, line, strlen(line)); /* one pid a write */
		(void)w;
	}
	if (fd >= 0)
		close(fd);
	free(text);
	rmdir(dir);
}

/* Suite teardown: stop helpers, remove what was made. */
static void
at_fini(void)
{
	th_kill_daemon(&at_daemon);
	th_env_fini(&at_env);
	while (at_ncgdirs > 0)
		at_cgroup_remove(at_cgdirs[--at_ncgdirs]);
}

TestSuite(audit, .fini = at_fini, .timeout = 60);

/* Make the env, skipping when our helper or the shim is not built. */
static void
at_prepare(void)
{
	const char *why;

	if (th_helper_usable(TH_OURS, &why) < 0)
		cr_skip_test("%s", why);
	cr_assert_eq(th_env_init(&at_env, TH_OURS), 0);
}

/* Skip unless root (mount namespaces, cgroups). */
#define AT_NEED_ROOT() TH_NEED_ROOT("needs root for a private mount namespace")

/* Start the prepared env's helper with args, asserting it serves. */
static void
at_start(const char *const *args)
{
	int rc = th_start(&at_env, args);

	cr_assert_eq(rc, 0, "helper did not start: %s\nstderr: %s",
	    strerror(-rc), th_stderr(&at_env));
}

/* Make the env and start our helper with args, asserting it serves. */
static void
at_serve(const char *const *args)
{
	at_prepare();
	at_start(args);
}

/* A device file of the env: its fd, its path in path. */
static int
at_dev(const char *name, char *path, size_t len)
{
	int fd = th_make_dev(&at_env, name, O_RDWR, path, len);

	cr_assert_geq(fd, 0);
	return fd;
}

/* A device of the env that answers GOOD (the only shim rule): its fd,
 * its path in path. */
static int
at_good_dev(const char *name, char *path, size_t len)
{
	int fd = at_dev(name, path, len);

	cr_assert_eq(th_shim_set(&at_env, "%s status=0\n", path), 0);
	return fd;
}

/* One PR OUT with service action sa, type, keys; the reply's status. */
static uint32_t
at_pr_out(int sock, int dev, uint8_t sa, uint8_t type, uint64_t key,
    uint64_t sakey)
{
	uint8_t cdb[PRH_CDB_LEN], param[24];
	struct client_reply r;
	int rc;

	client_cdb_pr_out(cdb, sa, type, sizeof(param));
	client_param_basic(param, key, sakey, 0);
	rc = client_command(sock, cdb, dev, param, sizeof(param), &r);
	cr_assert_eq(rc, 0, "PR OUT: %s", strerror(-rc));
	return r.status;
}

/* One PR IN READ KEYS; the reply's status. */
static uint32_t
at_pr_in(int sock, int dev)
{
	uint8_t cdb[PRH_CDB_LEN];
	struct client_reply r;
	int rc;

	client_cdb_pr_in(cdb, 0, 1024);
	rc = client_command(sock, cdb, dev, NULL, 0, &r);
	cr_assert_eq(rc, 0, "PR IN: %s", strerror(-rc));
	return r.status;
}

/* Connect with the handshake. */
static int
at_conn(void)
{
	int s = th_connect(&at_env);

	cr_assert_geq(s, 0, "connect: %s", strerror(-s));
	return s;
}

/* Wait for stderr to hold needle. */
static void
at_wait_stderr(const char *needle)
{
	cr_assert_eq(th_wait_stderr(&at_env, needle, AT_TIMEOUT_MS), 0,
	    "no \"%s\" in stderr: %s", needle, th_stderr(&at_env));
}

/* Occurrences of needle in the helper's stderr. */
static int
at_count(const char *needle)
{
	int n = th_stderr_count(&at_env, needle);

	cr_assert_geq(n, 0);
	return n;
}

/* --- stderr -------------------------------------------------------------- */

Test(audit, pr_out_line_on_stderr)
{
	char path[PATH_MAX], want[512];
	int s, dev;

	at_serve(NULL);
	dev = at_good_dev("lun", path, sizeof(path));
	s = at_conn();
	cr_expect_eq(at_pr_out(s, dev, 4, 1, 0xb, 0xa), PRH_STATUS_GOOD);
	snprintf(want, sizeof(want),
	    "qemu-pr-helper: [pid %d uid %d comm %s] PR OUT PREEMPT lun 240:",
	    (int)getpid(), (int)geteuid(), th_self_comm());
	at_wait_stderr(": key 0xb, service action key 0xa, type we: GOOD, ");
	cr_expect_eq(at_count(want), 1, "%s", th_stderr(&at_env));
	cr_expect_eq(at_count(" wwid fakesys."), 1);
	close(s);
	close(dev);
}

Test(audit, pr_in_logged_only_when_it_fails)
{
	char path[PATH_MAX];
	int s, dev;

	at_serve(NULL);
	dev = at_good_dev("lun", path, sizeof(path));
	s = at_conn();
	cr_expect_eq(at_pr_in(s, dev), PRH_STATUS_GOOD);
	/* A PR OUT after it: once its line is there, a line for the PR IN
	 * would be too (one thread logs both, in order). */
	cr_expect_eq(at_pr_out(s, dev, 0, 0, 0, 0xa), PRH_STATUS_GOOD);
	at_wait_stderr("] PR OUT REGISTER lun ");
	cr_expect_eq(at_count(" PR IN "), 0, "%s", th_stderr(&at_env));
	cr_assert_eq(th_shim_set(&at_env,
			 "%s status=0x02 "
			 "sense=70000200000000000a000000"
			 "3a000000000000\n",
			 path),
	    0);
	cr_expect_eq(at_pr_in(s, dev), PRH_STATUS_CHECK_CONDITION);
	at_wait_stderr("] PR IN READ KEYS lun 240:");
	at_wait_stderr(": CHECK CONDITION: NOT READY, medium not present "
		       "(3A/00), ");
	close(s);
	close(dev);
}

Test(audit, refused_file_is_logged)
{
	char path[PATH_MAX + 16];
	int s, dev;

	at_serve(NULL);
	/* A file in a subdirectory is not one of the shim's devices. */
	snprintf(path, sizeof(path), "%s/sub", at_env.dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/sub/f", at_env.dir);
	dev = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(dev, 0);
	s = at_conn();
	cr_expect_eq(at_pr_out(s, dev, 1, 1, 0xa, 0),
	    PRH_STATUS_CHECK_CONDITION);
	at_wait_stderr("] PR OUT RESERVE regular file ");
	at_wait_stderr(": key 0xa, type we: refused (regular file): CHECK "
		       "CONDITION: ABORTED COMMAND, I/O process terminated "
		       "(00/06)\n");
	close(s);
	close(dev);
}

Test(audit, quiet_has_no_audit_lines)
{
	const char *args[] = { "-q", NULL };
	char path[PATH_MAX];
	int s, dev;

	at_serve(args);
	dev = at_dev("lun", path, sizeof(path));
	s = at_conn();
	/* No shim rule: ENOTTY, a failure, and still nothing at -q. */
	cr_expect_eq(at_pr_out(s, dev, 4, 1, 0xb, 0xa),
	    PRH_STATUS_CHECK_CONDITION);
	close(s);
	close(dev);
	cr_assert_eq(th_stop(&at_env, SIGTERM, AT_TIMEOUT_MS, NULL), 0);
	cr_expect_eq(at_count("PR OUT"), 0, "%s", th_stderr(&at_env));
}

/* A client's PR OUT lines are never dropped: past its share, its PR OUT
 * waits until the line may be logged (peerlog.h). */
Test(audit, storm_of_pr_out_is_logged_in_full)
{
	char path[PATH_MAX];
	int s, dev, i;

	at_serve(NULL);
	dev = at_good_dev("lun", path, sizeof(path));
	s = at_conn();
	for (i = 0; i < 300; i++)
		cr_assert_eq(at_pr_out(s, dev, 0, 0, 0, 0xa + (i == 299)),
		    PRH_STATUS_GOOD);
	/* The last one's line comes after all the others' (a reply may
	 * reach the client before its line is written). */
	at_wait_stderr("service action key 0xb");
	cr_expect_eq(at_count("] PR OUT REGISTER lun "), 300, "%s",
	    th_stderr(&at_env));
	cr_expect_eq(at_count("not logged"), 0, "%s", th_stderr(&at_env));
	close(s);
	close(dev);
}

/* --- the journal ---------------------------------------------------------- */

static char at_ns_src[PATH_MAX + 32]; /* what the child mounts */
static char at_ns_dst[64];	      /* where */

/* In the helper's child: a private mount namespace in which at_ns_src
 * is bound over at_ns_dst. */
static void
at_private_mount(struct th_env *e)
{
	(void)e;
	if (th_private_ns() < 0 ||
	    mount(at_ns_src, at_ns_dst, NULL, MS_BIND, NULL) < 0) {
		dprintf(2, "private mount: %s\n", strerror(errno));
		_exit(125);
	}
}

/* In the helper's child: a private mount namespace whose /dev has only
 * null and log (the socket at_ns_src). */
static void
at_private_dev_log(struct th_env *e)
{
	(void)e;
	if (th_private_dev_log(at_ns_src) < 0) {
		dprintf(2, "private /dev: %s\n", strerror(errno));
		_exit(125);
	}
}

/* A datagram socket bound at path. */
static int
at_dgram_at(const char *path)
{
	int fd = th_unix_bound(path, SOCK_DGRAM | SOCK_NONBLOCK);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(-fd));
	cr_assert_eq(chmod(path, 0666), 0);
	return fd;
}

/* Receive one datagram (bounded wait) into buf: its length, or -1. */
static ssize_t
at_recv(int fd, char *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, AT_TIMEOUT_MS) <= 0)
		return -1;
	return recv(fd, buf, len - 1, 0);
}

/* The value of field name in a native journal entry (either form),
 * into out: 0, or -1 if missing. */
static int
at_field(const char *e, size_t len, const char *name, char *out, size_t olen)
{
	size_t nl = strlen(name), i = 0, vl;
	const char *line;

	while (i < len) {
		line = e + i;
		if (i + nl < len && memcmp(line, name, nl) == 0 &&
		    (line[nl] == '=' || line[nl] == '\n')) {
			if (line[nl] == '=') {
				vl = strcspn(line + nl + 1, "\n");
				snprintf(out, olen, "%.*s", (int)vl,
				    line + nl + 1);
			} else {
				vl = 0;
				for (int b = 7; b >= 0; b--)
					vl = vl << 8 |
					    (uint8_t)line[nl + 1 + (size_t)b];
				snprintf(out, olen, "%.*s", (int)vl,
				    line + nl + 9);
			}
			return 0;
		}
		/* next field: plain up to the newline, or binary */
		vl = strcspn(line, "=\n");
		if (line[vl] == '=') {
			i += strcspn(line, "\n") + 1;
		} else {
			size_t bl = 0;

			for (int b = 7; b >= 0; b--)
				bl = bl << 8 |
				    (uint8_t)line[vl + 1 + (size_t)b];
			i += vl + 1 + 8 + bl + 1;
		}
	}
	return -1;
}

/* Assert field name of entry e is want. */
static void
at_expect_field(const char *e, size_t len, const char *name, const char *want)
{
	char v[1024];

	cr_expect_eq(at_field(e, len, name, v, sizeof(v)), 0, "no %s in %.*s",
	    name, (int)len, e);
	cr_expect_str_eq(v, want, "%s", name);
}

/* Start the helper with stderr a "journal stream" and the journal's
 * socket ours (jfd), in a private mount namespace. */
static int
at_start_journal(void)
{
	static char js[64];
	static const char *env[] = { js, NULL };
	char dir[PATH_MAX + 16], sock[PATH_MAX + 32];
	struct stat st;
	int jfd;

	AT_NEED_ROOT();
	TH_NEED_PRIVATE_NS();
	at_prepare();
	if (stat("/run/systemd", &st) < 0 || !S_ISDIR(st.st_mode))
		cr_skip_test("no /run/systemd to mount over");
	snprintf(dir, sizeof(dir), "%s/rs", at_env.dir);
	cr_assert_eq(mkdir(dir, 0755), 0);
	snprintf(sock, sizeof(sock), "%s/journal", dir);
	cr_assert_eq(mkdir(sock, 0755), 0);
	snprintf(sock, sizeof(sock), "%s/journal/socket", dir);
	jfd = at_dgram_at(sock);
	snprintf(at_ns_src, sizeof(at_ns_src), "%s", dir);
	snprintf(at_ns_dst, sizeof(at_ns_dst), "/run/systemd");
	at_env.pre_exec = at_private_mount;
	cr_assert_eq(stat(at_env.err, &st), 0);
	snprintf(js, sizeof(js), "JOURNAL_STREAM=%llu:%llu",
	    (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	at_env.extra_env = env;
	at_start(NULL);
	return jfd;
}

Test(audit, journal_entry_fields)
{
	char path[PATH_MAX], e[8192], v[256], want[64];
	int s, dev, jfd;
	ssize_t n;

	jfd = at_start_journal();
	dev = at_good_dev("lunj", path, sizeof(path));
	s = at_conn();
	cr_expect_eq(at_pr_out(s, dev, 4, 1, 0xb, 0xa), PRH_STATUS_GOOD);
	n = at_recv(jfd, e, sizeof(e));
	cr_assert_gt(n, 0, "no journal entry; stderr: %s", th_stderr(&at_env));
	at_expect_field(e, (size_t)n, "MESSAGE_ID", ID_PREEMPT);
	at_expect_field(e, (size_t)n, "PRIORITY", "5");
	at_expect_field(e, (size_t)n, "SYSLOG_IDENTIFIER", "qemu-pr-helper");
	at_expect_field(e, (size_t)n, "PRH_DEVICE", "lunj");
	at_expect_field(e, (size_t)n, "PRH_COMMAND", "PR OUT");
	at_expect_field(e, (size_t)n, "PRH_SERVICE_ACTION", "PREEMPT");
	at_expect_field(e, (size_t)n, "PRH_TYPE", "we");
	at_expect_field(e, (size_t)n, "PRH_KEY", "0xb");
	at_expect_field(e, (size_t)n, "PRH_SA_KEY", "0xa");
	at_expect_field(e, (size_t)n, "PRH_STATUS", "GOOD");
	at_expect_field(e, (size_t)n, "PRH_PEER_COMM", th_self_comm());
	snprintf(want, sizeof(want), "%d", (int)getpid());
	at_expect_field(e, (size_t)n, "PRH_PEER_PID", want);
	at_expect_field(e, (size_t)n, "OBJECT_PID", want);
	snprintf(want, sizeof(want), "%d", (int)geteuid());
	at_expect_field(e, (size_t)n, "PRH_PEER_UID", want);
	cr_expect_eq(at_field(e, (size_t)n, "PRH_DEVNO", v, sizeof(v)), 0);
	cr_expect_eq(strncmp(v, "240:", 4), 0, "%s", v);
	cr_expect_eq(at_field(e, (size_t)n, "PRH_WWID", v, sizeof(v)), 0);
	cr_expect_eq(strncmp(v, "fakesys.", 8), 0, "%s", v);
	cr_expect_eq(at_field(e, (size_t)n, "PRH_DURATION_US", v, sizeof(v)),
	    0);
	cr_expect_eq(at_field(e, (size_t)n, "PRH_SENSE", v, sizeof(v)), -1);
	cr_expect_eq(at_field(e, (size_t)n, "MESSAGE", v, sizeof(v)), 0);
	cr_expect_not_null(strstr(v, "] PR OUT PREEMPT lunj 240:"), "%s", v);
	/* A failure: its sense in words, a warning. */
	cr_assert_eq(th_shim_set(&at_env, "%s errno=5\n", path), 0);
	cr_expect_eq(at_pr_in(s, dev), PRH_STATUS_CHECK_CONDITION);
	n = at_recv(jfd, e, sizeof(e));
	cr_assert_gt(n, 0);
	at_expect_field(e, (size_t)n, "MESSAGE_ID", ID_PR_IN);
	at_expect_field(e, (size_t)n, "PRIORITY", "4");
	at_expect_field(e, (size_t)n, "PRH_SERVICE_ACTION", "READ KEYS");
	at_expect_field(e, (size_t)n, "PRH_STATUS", "CHECK CONDITION");
	at_expect_field(e, (size_t)n, "PRH_SENSE", "0b/00/06");
	at_expect_field(e, (size_t)n, "PRH_SENSE_TEXT",
	    "ABORTED COMMAND, I/O process terminated");
	cr_expect_eq(at_field(e, (size_t)n, "PRH_KEY", v, sizeof(v)), -1);
	/* The lines went to the journal, not to stderr. */
	cr_expect_eq(at_count("PR OUT"), 0, "%s", th_stderr(&at_env));
	close(s);
	close(dev);
	close(jfd);
}

Test(audit, journal_count_entry_fields)
{
	char path[PATH_MAX], e[8192], v[256], id[64], want[64];
	int s, dev, jfd, logged = 0;
	ssize_t n;

	jfd = at_start_journal();
	dev = at_dev("lunk", path, sizeof(path));
	s = at_conn();
	/* No shim rule: every PR IN fails, and is a line of the client's
	 * warnings' share. */
	for (int i = 0; i < 100; i++)
		cr_assert_eq(at_pr_in(s, dev), PRH_STATUS_CHECK_CONDITION);
	/* The lines that passed, then, once the client is quiet for a
	 * second, the count of those that did not in an entry of its own. */
	while ((n = at_recv(jfd, e, sizeof(e))) > 0 &&
	    at_field(e, (size_t)n, "MESSAGE_ID", id, sizeof(id)) == 0 &&
	    strcmp(id, ID_DROPPED) != 0)
		logged += strcmp(id, ID_PR_IN) == 0;
	cr_assert_gt(n, 0, "no count entry; stderr: %s", th_stderr(&at_env));
	/* The connection's share, less what the journal would not take
	 * (its queue is short, and this test reads it only now). */
	cr_expect_leq(logged, PEERLOG_CONN_BURST);
	cr_expect_gt(logged, 0);
	at_expect_field(e, (size_t)n, "PRIORITY", "5");
	at_expect_field(e, (size_t)n, "SYSLOG_IDENTIFIER", "qemu-pr-helper");
	snprintf(v, sizeof(v), "%d", (int)getpid());
	at_expect_field(e, (size_t)n, "PRH_PEER_PID", v);
	snprintf(v, sizeof(v), "%d", (int)getuid());
	at_expect_field(e, (size_t)n, "PRH_PEER_UID", v);
	at_expect_field(e, (size_t)n, "PRH_PEER_COMM", th_self_comm());
	cr_expect_eq(at_field(e, (size_t)n, "PRH_SUPPRESSED", v, sizeof(v)), 0);
	cr_expect_eq(atol(v), 100 - logged, "%s", v);
	cr_expect_eq(at_field(e, (size_t)n, "MESSAGE", v, sizeof(v)), 0);
	snprintf(want, sizeof(want), "[pid %d uid %d", (int)getpid(),
	    (int)getuid());
	cr_expect_eq(strncmp(v, want, strlen(want)), 0, "%s", v);
	snprintf(want, sizeof(want), "] %d lines of this client not logged",
	    100 - logged);
	cr_expect_not_null(strstr(v, want), "%s", v);
	cr_expect_eq(at_count("not logged"), 0, "%s", th_stderr(&at_env));
	close(s);
	close(dev);
	close(jfd);
}

/* Where a client child goes before it connects. */
struct at_place {
	const char *procs;    /* cgroup.procs to move into as root, or NULL */
	uid_t uid;	      /* then the uid and gid to run as (0: root) */
	const char *mkdir[2]; /* then, as that uid, cgroups to make, or NULL */
	const char *procs2;   /* and the cgroup.procs to move into, or NULL */
};

/* In a child: move this process to the cgroup of cgroup.procs file
 * procs: 0, or -1. */
static int
at_move_self(const char *procs)
{
	int fd = open(procs, O_WRONLY | O_CLOEXEC);
	int rc = fd >= 0 && write(fd, "0", 1) == 1 ? 0 : -1;

	if (fd >= 0)
		close(fd);
	return rc;
}

/* In a child: go where pl says, or exit 3 to 6 (the step that failed). */
static void
at_go(const struct at_place *pl)
{
	if (pl->procs != NULL && at_move_self(pl->procs) < 0)
		_exit(3);
	if (pl->uid != 0 &&
	    (setgroups(0, NULL) < 0 || setgid((gid_t)pl->uid) < 0 ||
		setuid(pl->uid) < 0))
		_exit(4);
	for (int i = 0; i < 2; i++)
		if (pl->mkdir[i] != NULL && mkdir(pl->mkdir[i], 0755) < 0)
			_exit(5);
	if (pl->procs2 != NULL && at_move_self(pl->procs2) < 0)
		_exit(6);
}

/* In a child: go where pl says, name this process name, write its
 * /proc/self/cgroup to fd, connect, send one PR OUT REGISTER on dev,
 * exit 0 if it was answered GOOD (1 if not, 2 on errors). */
static void
at_client_child(const char *name, const struct at_place *pl, int dev, int fd)
{
	uint8_t cdb[PRH_CDB_LEN], param[24];
	struct client_reply r;
	char *text;
	int s;

	at_go(pl);
	prctl(PR_SET_NAME, name);
	text = th_read_file("/proc/self/cgroup", NULL);
	if (text == NULL || write(fd, text, strlen(text)) < 0)
		_exit(2);
	close(fd);
	s = th_connect(&at_env);
	if (s < 0)
		_exit(2);
	client_cdb_pr_out(cdb, 0, 0, sizeof(param));
	client_param_basic(param, 0, 0x77, 0);
	if (client_command(s, cdb, dev, param, sizeof(param), &r) < 0)
		_exit(2);
	_exit(r.status == PRH_STATUS_GOOD ? 0 : 1);
}

/* Run at_client_child in a child process; assert it exited 0.  Its
 * /proc/self/cgroup, as it was when it connected, into cg (len bytes). */
static pid_t
at_client_at(const char *name, const struct at_place *pl, int dev, char *cg,
    size_t len)
{
	size_t off = 0;
	ssize_t n;
	int st, p[2];
	pid_t pid;

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		at_client_child(name, pl, dev, p[1]);
	}
	close(p[1]);
	while (off + 1 < len && (n = read(p[0], cg + off, len - 1 - off)) > 0)
		off += (size_t)n;
	cg[off] = '\0';
	close(p[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "client: 0x%x (exit 3-6: the move, the ids, the mkdir, the move "
	    "to the new cgroup failed)",
	    st);
	return pid;
}

/* Run a client moved first (as root) to the cgroup of cgroup_procs (or
 * not moved: NULL); assert it exited 0. */
static pid_t
at_client(const char *name, const char *cgroup_procs, int dev)
{
	struct at_place pl = { .procs = cgroup_procs };
	char cg[4096];

	return at_client_at(name, &pl, dev, cg, sizeof(cg));
}

Test(audit, journal_peer_name_cannot_inject_fields)
{
	char path[PATH_MAX], e[8192], v[256];
	int dev, jfd;
	ssize_t n;

	jfd = at_start_journal();
	dev = at_good_dev("lunk", path, sizeof(path));
	(void)at_client("x\nPRH_DEVICE=", NULL, dev);
	n = at_recv(jfd, e, sizeof(e));
	cr_assert_gt(n, 0, "stderr: %s", th_stderr(&at_env));
	at_expect_field(e, (size_t)n, "MESSAGE_ID", ID_REGISTER);
	at_expect_field(e, (size_t)n, "PRH_PEER_COMM", "x\\x0aPRH_DEVICE=");
	at_expect_field(e, (size_t)n, "PRH_DEVICE", "lunk");
	cr_expect_eq(at_field(e, (size_t)n, "MESSAGE", v, sizeof(v)), 0);
	cr_expect_not_null(strstr(v,
			       " comm x\\x0aPRH_DEVICE=] PR OUT REGISTER"),
	    "%s", v);
	close(dev);
	close(jfd);
}

/* A device whose name holds control characters (ESC, DEL, a C1 CSI) and
 * a byte that is no UTF-8, and a process name that would add words to a
 * line: as the trail writes them. */
#define AT_BAD_DEV	 "lun\x1b[1m\xff\x7f\xc2\x9b"
#define AT_BAD_DEV_TEXT	 "lun\\x1b[1m\\xff\\x7f\\xc2\\x9b"
#define AT_BAD_COMM	 "a] b\x1b\xff"
#define AT_BAD_COMM_TEXT "a] b\\x1b\\xff"     /* a field */
#define AT_BAD_COMM_WORD "a]\\x20b\\x1b\\xff" /* in a line */

/* Whether the n bytes at p hold ESC or 0xff (what the names above hold
 * that no line or field may). */
static bool
at_has_raw(const char *p, size_t n)
{
	return memchr(p, 0x1b, n) != NULL || memchr(p, 0xff, n) != NULL;
}

Test(audit, names_are_escaped_on_stderr)
{
	char path[PATH_MAX], want[512], *text;
	int dev;

	at_serve(NULL);
	dev = at_good_dev(AT_BAD_DEV, path, sizeof(path));
	(void)at_client(AT_BAD_COMM, NULL, dev);
	at_wait_stderr(": key 0x0, service action key 0x77: GOOD, ");
	snprintf(want, sizeof(want),
	    "uid %d comm " AT_BAD_COMM_WORD "] PR OUT REGISTER " AT_BAD_DEV_TEXT
	    " 240:",
	    (int)geteuid());
	cr_expect_eq(at_count(want), 1, "%s", th_stderr(&at_env));
	text = th_stderr(&at_env);
	cr_assert_not_null(text);
	cr_expect_not(at_has_raw(text, strlen(text)), "%s", text);
	free(text);
	close(dev);
}

Test(audit, names_are_escaped_in_the_journal)
{
	char path[PATH_MAX], e[8192], v[1024];
	int dev, jfd;
	ssize_t n;

	jfd = at_start_journal();
	dev = at_good_dev(AT_BAD_DEV, path, sizeof(path));
	(void)at_client(AT_BAD_COMM, NULL, dev);
	n = at_recv(jfd, e, sizeof(e));
	cr_assert_gt(n, 0, "stderr: %s", th_stderr(&at_env));
	at_expect_field(e, (size_t)n, "MESSAGE_ID", ID_REGISTER);
	at_expect_field(e, (size_t)n, "PRH_DEVICE", AT_BAD_DEV_TEXT);
	at_expect_field(e, (size_t)n, "PRH_PEER_COMM", AT_BAD_COMM_TEXT);
	cr_expect_eq(at_field(e, (size_t)n, "MESSAGE", v, sizeof(v)), 0);
	cr_expect_not_null(strstr(v,
			       " comm " AT_BAD_COMM_WORD
			       "] PR OUT REGISTER " AT_BAD_DEV_TEXT " 240:"),
	    "%s", v);
	cr_expect_not(at_has_raw(e, (size_t)n), "%.*s", (int)n, e);
	close(dev);
	close(jfd);
}

/* --- syslog under -d -------------------------------------------------------- */

Test(audit, daemon_lines_go_to_syslog)
{
	char path[PATH_MAX], pidfile[PATH_MAX + 8], logsock[PATH_MAX + 8];
	char msg[2048], *text;
	const char *args[] = { "-d", "-f", pidfile, NULL };
	int s, dev, lfd, st = -1;
	ssize_t n;

	AT_NEED_ROOT();
	TH_NEED_PRIVATE_NS();
	at_prepare();
	snprintf(pidfile, sizeof(pidfile), "%s/pid", at_env.dir);
	snprintf(logsock, sizeof(logsock), "%s/devlog", at_env.dir);
	lfd = at_dgram_at(logsock);
	/* /dev/log may be missing, a socket or a link: the namespace's own
	 * /dev handles the three alike. */
	snprintf(at_ns_src, sizeof(at_ns_src), "%s", logsock);
	at_env.pre_exec = at_private_dev_log;
	cr_assert_eq(th_spawn(&at_env, args, 0), 0);
	cr_assert_eq(th_wait_exit(&at_env, AT_TIMEOUT_MS, &st), 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "stderr: %s",
	    th_stderr(&at_env));
	text = th_read_file(pidfile, NULL);
	cr_assert_not_null(text);
	at_daemon = (pid_t)atoi(text);
	free(text);
	cr_assert_gt(at_daemon, 0);
	dev = at_good_dev("lund", path, sizeof(path));
	s = at_conn();
	cr_expect_eq(at_pr_out(s, dev, 5, 3, 0xc, 0xd), PRH_STATUS_GOOD);
	for (;;) {
		n = at_recv(lfd, msg, sizeof(msg));
		cr_assert_gt(n, 0, "no syslog line");
		msg[n] = '\0';
		if (strstr(msg, " PR OUT ") != NULL)
			break;
	}
	/* LOG_DAEMON | LOG_NOTICE */
	cr_expect_eq(strncmp(msg, "<29>", 4), 0, "%s", msg);
	cr_expect_not_null(strstr(msg, "] PR OUT PREEMPT AND ABORT lund 240:"),
	    "%s", msg);
	cr_expect_not_null(strstr(msg,
			       ": key 0xc, service action key 0xd, type ea: "
			       "GOOD, "),
	    "%s", msg);
	close(s);
	close(dev);
	close(lfd);
	kill(at_daemon, SIGTERM);
}

/* --- the VM, from a cgroup v2 machine scope ---------------------------------- */

/* The mount point of the cgroup v2 hierarchy (mounted at its root) into
 * buf, or -1. */
static int
at_cgroup2(char *buf, size_t len)
{
	char *text = th_read_file("/proc/self/mountinfo", NULL), *line, *save;
	char root[PATH_MAX], mnt[PATH_MAX], fstype[64];
	int rc = -1;

	cr_assert_not_null(text);
	for (line = strtok_r(text, "\n", &save); line != NULL && rc < 0;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *dash = strstr(line, " - ");

		if (dash == NULL || sscanf(dash, " - %63s", fstype) != 1 ||
		    strcmp(fstype, "cgroup2") != 0)
			continue;
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) == 2 &&
		    strcmp(root, "/") == 0 && strlen(mnt) < len) {
			memcpy(buf, mnt, strlen(mnt) + 1);
			rc = 0;
		}
	}
	free(text);
	return rc;
}

/* Skip unless root and a cgroup v2 hierarchy is mounted (its mount point
 * in at_cgroot), then prepare the env: every skip before anything is
 * made, since a skipped test is not torn down. */
static void
at_need_cgroup2(void)
{
	AT_NEED_ROOT();
	if (at_cgroup2(at_cgroot, sizeof(at_cgroot)) < 0)
		cr_skip_test("no cgroup v2 hierarchy mounted at its root");
	at_prepare();
}

/* Remember cgroup dir, to remove it at the end (after those noted after
 * it). */
static void
at_cgroup_note(const char *dir)
{
	cr_assert_lt(at_ncgdirs, AT_CGROUPS);
	snprintf(at_cgdirs[at_ncgdirs++], sizeof(at_cgdirs[0]), "%s", dir);
}

/* Make cgroup dir (removed at the end), unless it exists and may.  If
 * it cannot be made, skip the test when it has made nothing yet (a
 * skipped test is not torn down), else fail. */
static void
at_cgroup_mkdir(const char *dir, bool may_exist)
{
	if (mkdir(dir, 0755) == 0)
		at_cgroup_note(dir);
	else if (errno == EEXIST && may_exist)
		return;
	else if (at_ncgdirs == 0)
		cr_skip_test("cannot make cgroup %s: %s", dir, strerror(errno));
	else
		cr_assert_fail("cannot make cgroup %s: %s", dir,
		    strerror(errno));
}

/* Start the prepared helper; a device "lunv" answering GOOD: its fd. */
static int
at_start_with_lunv(void)
{
	char path[PATH_MAX];
	int dev;

	at_start(NULL);
	dev = at_good_dev("lunv", path, sizeof(path));
	return dev;
}

/* Run a client named name, placed by pl, with a REGISTER on dev; assert
 * its cgroup v2 path was path, and wait for its line, whose peer reads
 * "[pid P " and then peer ("uid 0 vm NAME comm COMM"). */
static void
at_expect_peer(const char *name, const struct at_place *pl, int dev,
    const char *path, const char *peer)
{
	char cg[8192], want[PATH_MAX + 64];
	pid_t pid = at_client_at(name, pl, dev, cg, sizeof(cg));

	snprintf(want, sizeof(want), "0::%s\n", path);
	cr_assert_not_null(strstr(cg, want), "the client was not in %s: %s",
	    path, cg);
	snprintf(want, sizeof(want),
	    "qemu-pr-helper: [pid %d %s] PR OUT REGISTER lunv 240:", (int)pid,
	    peer);
	at_wait_stderr(want);
}

/* Where libvirt with systemd-machined puts a VM: named by it. */
Test(audit, peer_named_by_its_machine_scope)
{
	char scope[96], dir[PATH_MAX], procs[PATH_MAX + 16], path[192];
	int dev;

	at_need_cgroup2();
	snprintf(dir, sizeof(dir), "%s/machine.slice", at_cgroot);
	at_cgroup_mkdir(dir, true);
	snprintf(scope, sizeof(scope), "machine-qemu\\x2d%d\\x2dtestvm.scope",
	    (int)getpid());
	snprintf(dir, sizeof(dir), "%s/machine.slice/%s", at_cgroot, scope);
	at_cgroup_mkdir(dir, false);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	snprintf(path, sizeof(path), "/machine.slice/%s", scope);
	dev = at_start_with_lunv();
	at_expect_peer("qemu-system-x86", &(struct at_place){ .procs = procs },
	    dev, path, "uid 0 vm testvm comm qemu-system-x86");
	close(dev);
}

/* A cgroup delegated to an unprivileged user (as systemd's Delegate=
 * does it: the directory and its cgroup.procs, cgroup.subtree_control
 * and cgroup.threads chowned), who makes machine.slice and a machine
 * scope in it: the process is named by pid, uid and comm alone. */
Test(audit, delegated_cgroup_borrows_no_vm_name)
{
	static const char *const files[] = { "", "/cgroup.procs",
		"/cgroup.subtree_control", "/cgroup.threads" };
	char deleg[1200], slice[1300], scope[1400], path[1500];
	char procs[1500], procs2[1500];
	int dev;

	at_need_cgroup2();
	snprintf(deleg, sizeof(deleg), "%s/prh-deleg-%d", at_cgroot,
	    (int)getpid());
	at_cgroup_mkdir(deleg, false);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", deleg, files[i]);
		cr_assert(chown(path, 65534, 65534) == 0 ||
			(errno == ENOENT && i == 3), /* before Linux 4.14 */
		    "chown %s: %s", path, strerror(errno));
	}
	snprintf(slice, sizeof(slice), "%s/machine.slice", deleg);
	snprintf(scope, sizeof(scope),
	    "%s/machine-qemu\\x2d1\\x2dprod\\x2ddb.scope", slice);
	at_cgroup_note(slice); /* the child makes them */
	at_cgroup_note(scope);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", deleg);
	snprintf(procs2, sizeof(procs2), "%s/cgroup.procs", scope);
	dev = at_start_with_lunv();
	/* nobody reaches the socket */
	cr_assert_eq(chmod(at_env.dir, 0711), 0);
	cr_assert_eq(chmod(at_env.sock, 0666), 0);
	snprintf(path, sizeof(path),
	    "/prh-deleg-%d/machine.slice/"
	    "machine-qemu\\x2d1\\x2dprod\\x2ddb.scope",
	    (int)getpid());
	at_expect_peer("prh-deleg",
	    &(struct at_place){ .procs = procs,
		.uid = 65534,
		.mkdir = { slice, scope },
		.procs2 = procs2 },
	    dev, path, "uid 65534 comm prh-deleg");
	cr_expect_eq(at_count(" vm "), 0, "%s", th_stderr(&at_env));
	cr_expect_eq(at_count("prod"), 0, "%s", th_stderr(&at_env));
	close(dev);
}

/* --- neighbours' keys (--protect-keys) ------------------------------------ */

/* One step of a key guard client: a PR OUT service action with its keys,
 * or (sa 0xff) wait for a byte on the go pipe. */
struct kg_step {
	uint8_t sa;
	uint64_t key, sakey;
};

#define KG_WAIT 0xff

/* Whether reply r is all a RESERVATION CONFLICT may be, byte for byte:
 * the status, no data and 96 bytes of sense, all zero (the key guard's
 * refusal, as the man page gives it). */
static bool
kg_bare_conflict(const struct client_reply *r)
{
	static const uint8_t zero[PRH_SENSE_LEN];

	return r->status == PRH_STATUS_RESERVATION_CONFLICT && r->size == 0 &&
	    memcmp(r->sense, zero, sizeof(zero)) == 0;
}

/* In a child: move to the cgroup of procs, name this process qemu-kg
 * and connect: the socket (exit 2 if it cannot). */
static int
kg_connect(const char *procs)
{
	int s;

	at_go(&(struct at_place){ .procs = procs });
	prctl(PR_SET_NAME, "qemu-kg");
	s = th_connect(&at_env);
	if (s < 0)
		_exit(2);
	return s;
}

/* In a child: move to the cgroup of procs, connect once, and run steps on
 * dev, writing each PR OUT's status byte to out; exit 0, 2 on errors, 4
 * on a RESERVATION CONFLICT with more than its status.  The connection
 * stays open until the last step is done. */
static void
kg_child(const char *procs, const struct kg_step *steps, int n, int dev,
    int out, int go)
{
	uint8_t cdb[PRH_CDB_LEN], param[24], st;
	struct client_reply r;
	int s = kg_connect(procs);
	char c;

	for (int i = 0; i < n; i++) {
		if (steps[i].sa == KG_WAIT) {
			if (read(go, &c, 1) != 1)
				_exit(2);
			continue;
		}
		client_cdb_pr_out(cdb, steps[i].sa, 0, sizeof(param));
		client_param_basic(param, steps[i].key, steps[i].sakey, 0);
		if (client_command(s, cdb, dev, param, sizeof(param), &r) < 0)
			_exit(2);
		st = (uint8_t)r.status;
		if (r.status > 0xff || r.size != 0)
			_exit(2);
		if (r.status == PRH_STATUS_RESERVATION_CONFLICT &&
		    !kg_bare_conflict(&r))
			_exit(4);
		if (write(out, &st, 1) != 1)
			_exit(2);
	}
	_exit(0);
}

/* A running key guard client: its pid and pipes. */
struct kg_client {
	pid_t pid;
	int out, go; /* statuses from it, go to it */
};

/* Start kg_child in the cgroup of procs with steps. */
static void
kg_start(struct kg_client *k, const char *procs, const struct kg_step *steps,
    int n, int dev)
{
	int out[2], go[2];

	cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
	k->pid = fork();
	cr_assert_geq(k->pid, 0);
	if (k->pid == 0) {
		close(out[0]);
		close(go[1]);
		kg_child(procs, steps, n, dev, out[1], go[0]);
	}
	close(out[1]);
	close(go[0]);
	k->out = out[0];
	k->go = go[1];
}

/* The next status the client k reports. */
static uint8_t
kg_status(struct kg_client *k)
{
	uint8_t st;
	int ws = 0;

	if (read(k->out, &st, 1) != 1) {
		(void)waitpid(k->pid, &ws, 0);
		cr_assert_fail("the client died: 0x%x (exit 2: an error, 3: "
			       "the move to its cgroup, 4: a RESERVATION "
			       "CONFLICT with sense)",
		    ws);
	}
	return st;
}

/* Let k go on past its wait. */
static void
kg_go(struct kg_client *k)
{
	cr_assert_eq(write(k->go, "g", 1), 1);
}

/* Reap k, which must exit 0 after its last step. */
static void
kg_reap(struct kg_client *k)
{
	int st;

	cr_assert_eq(waitpid(k->pid, &st, 0), k->pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client: 0x%x", st);
	close(k->out);
	close(k->go);
}

/* Make machine scopes for VMs kga and kgb: their cgroup.procs paths. */
static void
kg_scopes(char procs[2][PATH_MAX + 16])
{
	static const char *const vms[2] = { "kga", "kgb" };
	char dir[PATH_MAX];

	at_need_cgroup2();
	snprintf(dir, sizeof(dir), "%s/machine.slice", at_cgroot);
	at_cgroup_mkdir(dir, true);
	for (int i = 0; i < 2; i++) {
		snprintf(dir, sizeof(dir),
		    "%s/machine.slice/machine-qemu\\x2d%d\\x2d%s.scope",
		    at_cgroot, (int)getpid(), vms[i]);
		at_cgroup_mkdir(dir, false);
		snprintf(procs[i], PATH_MAX + 16, "%s/cgroup.procs", dir);
	}
}

/* PR OUT calls the shim saw. */
static int
kg_pr_out_calls(void)
{
	struct th_sgio_call *calls;
	int n = th_shim_calls(&at_env, &calls), out = 0;

	cr_assert_geq(n, 0);
	for (int i = 0; i < n; i++)
		out += calls[i].cdb[0] == PRH_OP_PR_OUT;
	free(calls);
	return out;
}

/* Two VMs on one device through one helper: while VM kga holds key 0xa1,
 * VM kgb may not replace it (REGISTER AND IGNORE EXISTING KEY), remove it
 * (REGISTER to 0) or clear the LU; each is answered RESERVATION CONFLICT
 * without reaching the device, logged with both VMs and counted.  Once
 * kga unregistered, kgb registers 0xb2, and kga may then register the
 * same key (as a VM migrating on one host does). */
Test(audit, neighbour_key_changes_refused)
{
	static const struct kg_step a[] = { { 0x00, 0, 0xa1 },
		{ KG_WAIT, 0, 0 }, { 0x00, 0xa1, 0 }, { KG_WAIT, 0, 0 },
		{ 0x06, 0, 0xb2 } };
	static const struct kg_step b[] = { { 0x06, 0, 0xb2 },
		{ 0x00, 0xa1, 0 }, { 0x03, 0xa1, 0 }, { KG_WAIT, 0, 0 },
		{ 0x06, 0, 0xb2 } };
	char procs[2][PATH_MAX + 16], path[PATH_MAX], mfile[PATH_MAX + 16];
	const char *args[] = { "--metrics-file", mfile, NULL };
	struct kg_client ka, kb;
	char *m;
	int dev;

	kg_scopes(procs);
	snprintf(mfile, sizeof(mfile), "%s/metrics.prom", at_env.dir);
	at_start(args);
	dev = at_good_dev("lunk", path, sizeof(path));
	kg_start(&ka, procs[0], a, 5, dev);
	cr_assert_eq(kg_status(&ka), PRH_STATUS_GOOD);
	kg_start(&kb, procs[1], b, 5, dev);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(kg_status(&kb), PRH_STATUS_RESERVATION_CONFLICT,
		    "kgb's step %d", i);
	cr_expect_eq(kg_pr_out_calls(), 1, "the device saw a refused one");
	kg_go(&ka);
	cr_expect_eq(kg_status(&ka), PRH_STATUS_GOOD, "kga unregisters");
	kg_go(&kb);
	cr_expect_eq(kg_status(&kb), PRH_STATUS_GOOD, "kgb after kga left");
	kg_go(&ka);
	cr_expect_eq(kg_status(&ka), PRH_STATUS_GOOD, "the same key");
	kg_reap(&ka);
	kg_reap(&kb);
	cr_expect_eq(kg_pr_out_calls(), 4);
	at_wait_stderr("vm kgb comm qemu-kg] PR OUT CLEAR lunk 240:");
	cr_expect_eq(at_count("vm kgb comm qemu-kg] PR OUT "),
	    at_count("refused (would change the key vm kga registered)") + 1,
	    "%s", th_stderr(&at_env));
	cr_expect_eq(at_count("refused (would change the key vm kga "
			      "registered)"),
	    3, "%s", th_stderr(&at_env));
	cr_assert_eq(kill(at_env.pid, SIGUSR1), 0);
	m = NULL;
	cr_expect_eq(th_wait_file_contains(mfile,
			 "\nprh_keys_protected_total 3\n", AT_TIMEOUT_MS),
	    0, "metrics: %s", (m = th_read_file(mfile, NULL)));
	free(m);
	close(dev);
}

/* --protect-keys=off: the second VM's key replaces the first's. */
Test(audit, neighbour_key_guard_off)
{
	static const struct kg_step a[] = { { 0x00, 0, 0xa1 },
		{ KG_WAIT, 0, 0 } };
	static const struct kg_step b[] = { { 0x06, 0, 0xb2 } };
	static const char *const args[] = { "--protect-keys=off", NULL };
	char procs[2][PATH_MAX + 16], path[PATH_MAX];
	struct kg_client ka, kb;
	int dev;

	kg_scopes(procs);
	at_start(args);
	dev = at_good_dev("lunk", path, sizeof(path));
	kg_start(&ka, procs[0], a, 2, dev);
	cr_assert_eq(kg_status(&ka), PRH_STATUS_GOOD);
	kg_start(&kb, procs[1], b, 1, dev);
	cr_expect_eq(kg_status(&kb), PRH_STATUS_GOOD);
	kg_reap(&kb);
	kg_go(&ka);
	kg_reap(&ka);
	cr_expect_eq(kg_pr_out_calls(), 2);
	cr_expect_eq(at_count("refused"), 0, "%s", th_stderr(&at_env));
}

/* In a child: from the cgroup of procs, send a REGISTER of key 0xa1 on
 * dev without waiting for its answer, say so on out, and exit when go
 * says (the connection closes with the command in flight). */
static void
kg_leaver(const char *procs, int dev, int out, int go)
{
	uint8_t cdb[PRH_CDB_LEN], param[24];
	int s = kg_connect(procs);
	char c;

	client_cdb_pr_out(cdb, 0x00, 0, sizeof(param));
	client_param_basic(param, 0, 0xa1, 0);
	if (client_send_request(s, cdb, dev, param, sizeof(param)) < 0 ||
	    write(out, "s", 1) != 1 || read(go, &c, 1) != 1)
		_exit(2);
	_exit(0);
}

/* A VM's REGISTER claims its key while it runs, even after its client
 * left (the helper sees the EOF once the command is back); once it is
 * back (refused by the device) and its VM gone, the other VM may
 * register. */
Test(audit, neighbour_claim_of_a_running_register)
{
	static const struct kg_step b[] = { { 0x06, 0, 0xb2 },
		{ KG_WAIT, 0, 0 }, { 0x06, 0, 0xb2 } };
	char procs[2][PATH_MAX + 16], path[PATH_MAX];
	struct kg_client ka, kb;
	int dev, out[2], go[2], st;

	kg_scopes(procs);
	at_start(NULL);
	dev = at_dev("lunk", path, sizeof(path));
	cr_assert_eq(th_shim_set(&at_env, "%s hang=1\n", path), 0);
	cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
	ka.pid = fork();
	cr_assert_geq(ka.pid, 0);
	if (ka.pid == 0)
		kg_leaver(procs[0], dev, out[1], go[0]);
	close(out[1]);
	close(go[0]);
	ka.out = out[0];
	ka.go = go[1];
	cr_assert_eq(kg_status(&ka), 's');
	cr_assert_eq(th_wait_shim_calls(&at_env, 1, AT_TIMEOUT_MS), 1,
	    "the REGISTER did not reach the device");
	kg_go(&ka);
	cr_assert_eq(waitpid(ka.pid, &st, 0), ka.pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client: 0x%x", st);
	kg_start(&kb, procs[1], b, 3, dev);
	cr_expect_eq(kg_status(&kb), PRH_STATUS_RESERVATION_CONFLICT,
	    "the claim of the running REGISTER");
	cr_assert_eq(th_shim_set(&at_env, "%s status=0x18\n", path), 0);
	at_wait_stderr("vm kga comm qemu-kg] PR OUT REGISTER lunk 240:");
	cr_assert_eq(th_shim_set(&at_env, "%s status=0\n", path), 0);
	kg_go(&kb);
	cr_expect_eq(kg_status(&kb), PRH_STATUS_GOOD, "the claim went back");
	kg_reap(&kb);
	close(ka.out);
	close(ka.go);
	close(dev);
}
