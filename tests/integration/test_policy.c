/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Integration: the device policy and the fd bounds, as an attacker would
 * test them, against our helper (and QEMU's where it differs).
 *
 * Every kind of fd a client can pass that is no whole SCSI disk, sg node
 * or allowed device-mapper map: a regular file (in a subdirectory of the
 * test's directory, so the SG_IO shim leaves it a plain file), a
 * directory, a pipe, a socket (the client's own connection too), a pty, a
 * FUSE file whose server stops answering, /dev/null, a loop device and a
 * partition of it.  Each gets exactly the answer of an SG_IO failing with
 * ENOTTY (CHECK CONDITION, ABORTED COMMAND 00/06, size 0) and no SG_IO:
 * the shim logs every SG_IO the helper makes, and its control file
 * answers GOOD to any, so an SG_IO that went through would show twice.
 * A whole disk of the shim is served GOOD beside them.
 *
 * The fd bounds: a client that passes its own socket with one CDB byte
 * cannot pin its connection; a device fd held by an incomplete request is
 * dropped after --request-timeout; --max-clients-per-uid; the refusal is
 * logged once per connection.  Start-up: the pid file and the trace file
 * through a planted symbolic link or FIFO, a second helper on a running
 * one's pid file, -u without -g.  The sandbox: NoNewPrivs and Seccomp in
 * /proc, and a refused system call answered EPERM and logged.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/blkpg.h>
#include <linux/fuse.h>
#include <linux/loop.h>

#include "fusesrv.h"
#include "itest.h"

/* What the shim answers to any SG_IO: GOOD with an 8-byte READ KEYS
 * header (generation 1, no keys). */
#define POL_ANSWER    "status=0 data=0000000100000000"
#define POL_RULE      "* " POL_ANSWER "\n"
#define POL_GOOD_DATA "0000000100000000"
#define POL_FUSE_FDS  40 /* FUSE fds sent after the server stalls */
#define POL_FUSE_MANY 12 /* more fds than the helper takes with a CDB */
#define POL_NOBODY    65534
#define POL_ELOOP     "Too many levels of symbolic links (a symbolic link)"
#define POL_NOT_SG    "character device that is not a SCSI generic (sg) device"

static struct fusesrv pol_fuse;		 /* the FUSE test's server */
static struct th_env pol_env2;		 /* a second helper, when needed */
static int pol_loop_fds[2] = { -1, -1 }; /* the loop test's nodes */

/* Suite teardown: the FUSE connection is aborted first (a helper thread
 * waiting for it could not be killed), then the helpers go. */
static void
pol_fini(void)
{
	fusesrv_stop(&pol_fuse);
	for (int i = 0; i < 2; i++)
		if (pol_loop_fds[i] >= 0)
			close(pol_loop_fds[i]);
	th_env_fini(&pol_env2);
	itest_fini();
}

/* One timeout for all three: Criterion 2.4 leaks an allocation (ASan
 * reports it) when suites of one binary run in parallel with different
 * ones. */
TestSuite(ours, .fini = pol_fini, .timeout = 30);
TestSuite(qemu, .fini = itest_fini, .timeout = 30);
TestSuite(qemu10, .fini = itest_fini, .timeout = 30);
TestSuite(qemu11, .fini = itest_fini, .timeout = 30);

/* Start our helper (args may be NULL) with the catch-all GOOD rule. */
static void
pol_start(const char *const *args)
{
	itest_start(TH_OURS, args);
	cr_assert_eq(th_shim_set(&itest_env, POL_RULE), 0);
}

/* Path of name in a subdirectory of the test's directory (static). */
static const char *
pol_sub_path(const char *name)
{
	static char path[PATH_MAX + 64];
	char dir[PATH_MAX + 16];

	snprintf(dir, sizeof(dir), "%s/sub", itest_env.dir);
	(void)mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

/* A regular file in the subdirectory, opened with oflags. */
static int
pol_sub_file(const char *name, int oflags)
{
	int fd = open(pol_sub_path(name), O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	cr_assert_geq(fd, 0, "%s: %s", name, strerror(errno));
	cr_assert_eq(ftruncate(fd, 4096), 0);
	close(fd);
	fd = open(pol_sub_path(name), oflags | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", name, strerror(errno));
	return fd;
}

/* SG_IO calls the helper made, on any fd but the shim's disk "lun". */
static int
pol_calls_elsewhere(void)
{
	struct th_sgio_call *calls;
	int n = th_shim_calls(&itest_env, &calls), other = 0;

	cr_assert_geq(n, 0, "shim log: %s", strerror(-n));
	for (int i = 0; i < n; i++)
		if (strcmp(calls[i].path, itest_dev_path("lun")) != 0)
			other++;
	free(calls);
	return other;
}

/* A PR IN READ KEYS on the shim's whole disk "lun" answers GOOD with the
 * rule's data: the connection is served, and the shim logs. */
static void
pol_expect_disk_good(int sock)
{
	struct client_reply r;
	char hex[2 * 8 + 1];
	int dev = itest_dev("lun", O_RDWR), before = itest_calls_on("lun");

	itest_pr_in(sock, dev, 0, 8192, &r);
	close(dev);
	cr_expect_eq(r.status, PRH_STATUS_GOOD, "disk: status 0x%02x",
	    r.status);
	cr_assert_eq(r.size, 8, "disk: size %u", r.size);
	th_hex(hex, r.data, 8);
	cr_expect_str_eq(hex, POL_GOOD_DATA);
	cr_expect_eq(itest_calls_on("lun"), before + 1, "disk: one SG_IO");
}

/* The line the helper logs when the policy refuses fd (as the test sees
 * it): a device node named name (its numbers), or with name NULL a file
 * that is no device node (its file system's numbers and inode).  Static
 * buffer. */
static const char *
pol_line(int fd, const char *name, const char *what)
{
	static char line[256];
	struct stat st;

	cr_assert_eq(fstat(fd, &st), 0);
	if (name == NULL)
		snprintf(line, sizeof(line),
		    "[pid %d uid %d] refused a %s (dev %u:%u inode %llu): not "
		    "a SCSI device; answered without SG_IO (ABORTED COMMAND)",
		    (int)getpid(), (int)getuid(), what, major(st.st_dev),
		    minor(st.st_dev), (unsigned long long)st.st_ino);
	else
		snprintf(line, sizeof(line),
		    "[pid %d uid %d] refused %s (%u:%u): a %s; answered "
		    "without SG_IO (ABORTED COMMAND)",
		    (int)getpid(), (int)getuid(), name, major(st.st_rdev),
		    minor(st.st_rdev), what);
	return line;
}

/* Assert that helper e's stderr gets needle. */
static void
pol_expect_stderr(struct th_env *e, const char *needle)
{
	char *err;

	if (th_wait_stderr(e, needle, TH_TIMEOUT_MS) == 0)
		return;
	err = th_stderr(e);
	cr_assert_fail("stderr lacks \"%s\": \"%s\"", needle, err ? err : "");
}

/* On a fresh connection: PR IN on fd gets the ENOTTY answer, the disk is
 * served after it, and no SG_IO reached anything but the disk; the
 * helper logs line (NULL: not checked). */
static void
pol_expect_refused(int fd, const char *line)
{
	struct client_reply r;
	int sock = itest_conn();

	itest_pr_in(sock, fd, 0, 8192, &r);
	itest_expect_ioerr(&r);
	pol_expect_disk_good(sock);
	close(sock);
	cr_expect_eq(pol_calls_elsewhere(), 0, "SG_IO reached a refused fd");
	if (line != NULL)
		itest_expect_stderr(line);
}

/* The helper's fd count with no connection.  Read with one connection
 * open (one fd): its hello proves the loop runs, so the helper is past
 * start-up, whose notifications open a socket for a moment; the count is
 * read twice, a request apart, in case a status update (every 2 s) does
 * the same.  Returns once the connection is closed. */
static int
pol_baseline(void)
{
	struct client_reply r;
	int sock = itest_conn(), n, m, p[2];

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	n = th_fd_count(itest_env.pid);
	itest_pr_in(sock, p[1], 0, 8192, &r);
	m = th_fd_count(itest_env.pid);
	close(sock);
	close(p[0]);
	close(p[1]);
	if (m < n)
		n = m;
	cr_assert_gt(n, 1);
	/* And the connection is gone again. */
	cr_assert_eq(itest_fds_settle(n - 1), n - 1);
	return n - 1;
}

/* Assert the helper's fd count comes back to base. */
static void
pol_expect_fds_back(int base)
{
	int n = itest_fds_settle(base);

	cr_expect_eq(n, base, "helper holds %d fds, baseline %d", n, base);
}

/* Connect and read the hello; the request comes later. */
static int
pol_conn_hello(struct th_env *e)
{
	int sock = th_connect(e);

	cr_assert_geq(sock, 0, "connect: %s", strerror(-sock));
	return sock;
}

/* --- every kind of fd ----------------------------------------------------- */

Test(ours, regular_file_is_refused_without_sg_io)
{
	int fd;

	pol_start(NULL);
	fd = pol_sub_file("file", O_RDWR);
	pol_expect_refused(fd, pol_line(fd, NULL, "regular file"));
	close(fd);
}

Test(ours, directory_is_refused_without_sg_io)
{
	int fd;

	pol_start(NULL);
	fd = open(itest_env.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	pol_expect_refused(fd, pol_line(fd, NULL, "directory"));
	close(fd);
}

Test(ours, pipe_is_refused_without_sg_io)
{
	int p[2];

	pol_start(NULL);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pol_expect_refused(p[1], pol_line(p[1], NULL, "pipe"));
	pol_expect_refused(p[0], NULL);
	close(p[0]);
	close(p[1]);
}

Test(ours, socket_is_refused_without_sg_io)
{
	int sv[2];

	pol_start(NULL);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pol_expect_refused(sv[0], pol_line(sv[0], NULL, "socket"));
	close(sv[0]);
	close(sv[1]);
}

Test(ours, own_connection_as_device_is_refused_and_serving_goes_on)
{
	struct client_reply r;
	int sock, base;

	pol_start(NULL);
	base = pol_baseline();
	sock = itest_conn();
	itest_pr_in(sock, sock, 0, 8192, &r);
	itest_expect_ioerr(&r);
	itest_pr_in(sock, sock, 0, 8192, &r);
	itest_expect_ioerr(&r);
	pol_expect_disk_good(sock);
	cr_expect_eq(pol_calls_elsewhere(), 0);
	itest_expect_stderr(pol_line(sock, NULL, "socket"));
	close(sock);
	pol_expect_fds_back(base);
}

Test(ours, pty_is_refused_without_sg_io)
{
	int master, slave;
	char name[64], num[32];
	struct stat st;

	pol_start(NULL);
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		cr_skip_test("no pty: %s", strerror(errno));
	cr_assert_eq(grantpt(master), 0);
	cr_assert_eq(unlockpt(master), 0);
	cr_assert_eq(ptsname_r(master, name, sizeof(name)), 0);
	slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	cr_assert_geq(slave, 0, "%s: %s", name, strerror(errno));
	/* A pty slave is not in sysfs: named by its numbers. */
	cr_assert_eq(fstat(slave, &st), 0);
	snprintf(num, sizeof(num), "%u:%u", major(st.st_rdev),
	    minor(st.st_rdev));
	pol_expect_refused(slave, pol_line(slave, num, POL_NOT_SG));
	pol_expect_refused(master, pol_line(master, "ptmx", POL_NOT_SG));
	close(slave);
	close(master);
}

Test(ours, dev_null_is_refused_without_sg_io)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	pol_start(NULL);
	pol_expect_refused(fd, pol_line(fd, "null", POL_NOT_SG));
	close(fd);
}

Test(ours, pr_out_on_read_only_fd_is_refused_first)
{
	struct client_reply r;
	int sock, file, null, p[2];

	pol_start(NULL);
	file = pol_sub_file("ro", O_RDONLY);
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(null, 0);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	sock = itest_conn();
	/* The access mode first, as QEMU's helper does: 05/20/00, for a
	 * file, a pipe's read end and a device node alike. */
	itest_pr_out(sock, file, &r);
	itest_expect(&r, PRH_STATUS_CHECK_CONDITION, PRH_SK_ILLEGAL_REQUEST,
	    0x20, 0x00);
	itest_pr_out(sock, p[0], &r);
	itest_expect(&r, PRH_STATUS_CHECK_CONDITION, PRH_SK_ILLEGAL_REQUEST,
	    0x20, 0x00);
	itest_pr_out(sock, null, &r);
	itest_expect(&r, PRH_STATUS_CHECK_CONDITION, PRH_SK_ILLEGAL_REQUEST,
	    0x20, 0x00);
	/* The write end is refused as a pipe. */
	itest_pr_out(sock, p[1], &r);
	itest_expect_ioerr(&r);
	pol_expect_disk_good(sock);
	cr_expect_eq(pol_calls_elsewhere(), 0);
	close(sock);
	close(file);
	close(null);
	close(p[0]);
	close(p[1]);
}

/* QEMU's helper sends SG_IO to whatever fd comes: the shim's rule answers
 * GOOD for a regular file and a pipe, and logs both calls. */
ITEST_REFS(sg_io_reaches_a_file_and_a_pipe)
{
	struct client_reply r;
	int sock, file, p[2], calls;

	itest_start(kind, NULL);
	cr_assert_eq(th_shim_set(&itest_env, POL_RULE), 0);
	file = pol_sub_file("file", O_RDWR);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	sock = itest_conn();
	itest_pr_in(sock, file, 0, 8192, &r);
	cr_expect_eq(r.status, PRH_STATUS_GOOD);
	cr_expect_eq(r.size, 8);
	itest_pr_in(sock, p[1], 0, 8192, &r);
	cr_expect_eq(r.status, PRH_STATUS_GOOD);
	calls = th_wait_shim_calls(&itest_env, 2, TH_TIMEOUT_MS);
	cr_expect_eq(calls, 2, "SG_IO on a file and a pipe: %d calls", calls);
	close(sock);
	close(file);
	close(p[0]);
	close(p[1]);
}

/* --- loop devices ----------------------------------------------------------- */

/* Write an MBR to fd with one Linux partition at LBA 2048, 4096
 * sectors long. */
static void
pol_write_mbr(int fd)
{
	uint8_t mbr[512] = { 0 }, *e = mbr + 446;
	uint32_t start = 2048, count = 4096;

	e[4] = 0x83; /* Linux */
	for (int i = 0; i < 4; i++) {
		e[8 + i] = (uint8_t)(start >> (8 * i)); /* little endian */
		e[12 + i] = (uint8_t)(count >> (8 * i));
	}
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	cr_assert_eq(pwrite(fd, mbr, sizeof(mbr), 0), (ssize_t)sizeof(mbr));
}

/* Wait until path exists (inotify on its directory): 0 or -ETIMEDOUT. */
static int
pol_wait_path(const char *path, int timeout_ms)
{
	char dir[PATH_MAX], buf[4096];
	struct pollfd pfd = { .events = POLLIN };
	struct timespec t0, t;
	int ino, rc = -ETIMEDOUT, left = timeout_ms;

	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ino < 0 || inotify_add_watch(ino, dir, IN_CREATE | IN_MOVED_TO) < 0)
		return -errno;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (left > 0) {
		if (access(path, F_OK) == 0) {
			rc = 0;
			break;
		}
		pfd.fd = ino;
		if (poll(&pfd, 1, left) > 0)
			while (read(ino, buf, sizeof(buf)) > 0)
				;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = timeout_ms -
		    (int)((t.tv_sec - t0.tv_sec) * 1000 +
			(t.tv_nsec - t0.tv_nsec) / 1000000);
	}
	close(ino);
	return rc;
}

/* Attach backing to a free loop device with partition scanning and
 * auto-clear (it detaches when its last fd closes): its number, its fd
 * in *fd; skips the test when the machine has no loop devices. */
static int
pol_loop_attach(int backing, int *fd)
{
	struct loop_config lc;
	char path[64];
	int ctl, n = -1;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		cr_skip_test("no /dev/loop-control: %s", strerror(errno));
	for (int tries = 0; tries < 10; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			break;
		snprintf(path, sizeof(path), "/dev/loop%d", n);
		*fd = open(path, O_RDWR | O_CLOEXEC);
		if (*fd < 0) {
			n = -1;
			continue;
		}
		memset(&lc, 0, sizeof(lc));
		lc.fd = (unsigned)backing;
		lc.info.lo_flags = LO_FLAGS_PARTSCAN | LO_FLAGS_AUTOCLEAR;
		if (ioctl(*fd, LOOP_CONFIGURE, &lc) == 0)
			break;
		close(*fd); /* another process took it meanwhile */
		*fd = -1;
		n = -1;
	}
	close(ctl);
	if (n < 0)
		cr_skip_test("no free loop device");
	return n;
}

Test(ours, loop_device_and_its_partition_are_refused)
{
	char part[64], pname[32], lname[32];
	struct blkpg_partition bp = { .start = 2048 * 512ll,
		.length = 4096 * 512ll,
		.pno = 1 };
	struct blkpg_ioctl_arg arg = { .op = BLKPG_ADD_PARTITION,
		.datalen = sizeof(bp),
		.data = &bp };
	int img, n, loop, pfd;

	TH_NEED_ROOT("needs root");
	pol_start(NULL);
	img = pol_sub_file("disk.img", O_RDWR);
	cr_assert_eq(ftruncate(img, 8 << 20), 0);
	pol_write_mbr(img);
	n = pol_loop_attach(img, &loop);
	close(img);
	pol_loop_fds[0] = loop;
	snprintf(lname, sizeof(lname), "loop%d", n);
	snprintf(pname, sizeof(pname), "loop%dp1", n);
	snprintf(part, sizeof(part), "/dev/%s", pname);
	/* LOOP_CONFIGURE scanned the table; a kernel without MBR support
	 * found nothing: add the same partition by hand. */
	if (access(part, F_OK) != 0 && ioctl(loop, BLKPG, &arg) < 0 &&
	    errno != EBUSY)
		cr_skip_test("cannot make a partition of %s: %s", lname,
		    strerror(errno));
	cr_assert_eq(pol_wait_path(part, TH_TIMEOUT_MS), 0, "%s missing", part);
	pfd = open(part, O_RDWR | O_CLOEXEC);
	cr_assert_geq(pfd, 0, "%s: %s", part, strerror(errno));
	pol_loop_fds[1] = pfd;
	pol_expect_refused(loop,
	    pol_line(loop, lname, "block device that is not a SCSI disk"));
	pol_expect_refused(pfd, pol_line(pfd, pname, "partition"));
}

/* --- a FUSE file whose server stops answering ------------------------------ */

/* On a fresh connection, a PR IN CDB with the first n of fds attached
 * (one sendmsg): the helper closes the connection without a reply. */
static void
pol_expect_too_many_fds_closed(const int *fds, int n)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(POL_FUSE_MANY * sizeof(int))];
	} ctl;
	uint8_t cdb[PRH_CDB_LEN];
	struct iovec iov = { .iov_base = cdb, .iov_len = sizeof(cdb) };
	struct msghdr msg = { .msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int)) };
	struct cmsghdr *cm;
	int sock = itest_conn();

	cr_assert_leq(n, POL_FUSE_MANY);
	memset(&ctl, 0, sizeof(ctl));
	client_cdb_pr_in(cdb, 0, 8192);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, (size_t)n * sizeof(int));
	cr_assert_eq(sendmsg(sock, &msg, MSG_NOSIGNAL), (ssize_t)sizeof(cdb),
	    "sendmsg: %s", strerror(errno));
	itest_expect_closed(sock);
	close(sock);
}

Test(ours, fuse_file_of_a_stalled_server_is_refused_promptly)
{
	struct client_reply r;
	uint8_t cdb[PRH_CDB_LEN];
	char mnt[PATH_MAX + 16];
	int fds[POL_FUSE_FDS], socks[POL_FUSE_FDS], disk, base, rc;
	unsigned getattr, flushes;

	TH_NEED_ROOT("needs root");
	if (access("/dev/fuse", R_OK | W_OK) != 0)
		cr_skip_test("no /dev/fuse: %s", strerror(errno));
	/* valgrind makes close(2) holding the one lock its threads share:
	 * a close that waits for the FUSE daemon stops every thread. */
	if (getenv("PRH_HELPER_WRAPPER") != NULL &&
	    getenv("PRH_HELPER_WRAPPER")[0] != '\0')
		cr_skip_test("under $PRH_HELPER_WRAPPER (valgrind holds its "
			     "lock in a close() that waits)");
	/* The mount stays in this test's own mount namespace. */
	TH_NEED_PRIVATE_NS();
	cr_assert_eq(th_private_ns(), 0);
	pol_start(NULL);
	base = pol_baseline();
	snprintf(mnt, sizeof(mnt), "%s/fuse", itest_env.dir);
	cr_assert_eq(mkdir(mnt, 0755), 0);
	rc = fusesrv_start(&pol_fuse, mnt);
	if (rc == -ENODEV || rc == -ENOENT)
		cr_skip_test("FUSE not available: %s", strerror(-rc));
	cr_assert_eq(rc, 0, "mount FUSE: %s", strerror(-rc));
	for (int i = 0; i < POL_FUSE_FDS; i++) {
		fds[i] = open(pol_fuse.file, O_RDWR | O_CLOEXEC);
		cr_assert_geq(fds[i], 0, "%s: %s", pol_fuse.file,
		    strerror(errno));
	}
	getattr = fusesrv_seen(&pol_fuse, FUSE_GETATTR, false);
	/* From here on the server answers nothing. */
	fusesrv_stall(&pol_fuse);
	client_cdb_pr_in(cdb, 0, 8192);
	for (int i = 0; i < POL_FUSE_FDS; i++) {
		socks[i] = itest_conn();
		rc = client_send_request(socks[i], cdb, fds[i], NULL, 0);
		cr_assert_eq(rc, 0, "request %d: %s", i, strerror(-rc));
	}
	/* A healthy device is served meanwhile. */
	disk = itest_conn();
	pol_expect_disk_good(disk);
	/* Every FUSE request has its answer (the sockets' receive timeout
	 * bounds the wait). */
	for (int i = 0; i < POL_FUSE_FDS; i++) {
		rc = client_read_reply(socks[i], &r);
		cr_assert_eq(rc, 0, "reply %d: %s", i, strerror(-rc));
		itest_expect_ioerr(&r);
	}
	pol_expect_disk_good(disk);
	/* Two FUSE fds on one CDB, and more than the helper takes at once
	 * (the kernel truncates): protocol violations, closed at once. */
	pol_expect_too_many_fds_closed(fds, 2);
	pol_expect_too_many_fds_closed(fds, POL_FUSE_MANY);
	pol_expect_disk_good(disk);
	cr_expect_eq(pol_calls_elsewhere(), 0, "SG_IO reached a FUSE file");
	itest_expect_stderr(pol_line(fds[0], NULL, "regular file"));
	/* The helper never asked the server: no ioctl at all, no getattr
	 * (its statx answered from the cache). */
	cr_expect_eq(fusesrv_seen(&pol_fuse, FUSE_IOCTL, false), 0);
	cr_expect_eq(fusesrv_seen(&pol_fuse, FUSE_GETATTR, true), 0,
	    "GETATTR after the stall");
	cr_expect_eq(fusesrv_seen(&pol_fuse, FUSE_GETATTR, false), getattr);
	flushes = fusesrv_seen(&pol_fuse, FUSE_FLUSH, true);
	cr_log_info("FLUSH requests waiting for the stalled server: %u",
	    flushes);
	/* The server goes away: every fd the helper was closing is
	 * released. */
	for (int i = 0; i < POL_FUSE_FDS; i++)
		close(socks[i]);
	close(disk);
	fusesrv_stop(&pol_fuse);
	pol_expect_fds_back(base);
	for (int i = 0; i < POL_FUSE_FDS; i++)
		close(fds[i]);
}

/* --- the fd bounds ---------------------------------------------------------- */

Test(ours, refusal_is_logged_once_per_connection)
{
	char needle[64];
	struct client_reply r;
	int sock, file, p[2];

	pol_start(NULL);
	snprintf(needle, sizeof(needle), "[pid %d uid %d] refused ",
	    (int)getpid(), (int)getuid());
	file = pol_sub_file("file", O_RDWR);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	sock = itest_conn();
	itest_pr_in(sock, file, 0, 8192, &r);
	itest_expect_ioerr(&r);
	itest_pr_in(sock, p[1], 0, 8192, &r);
	itest_expect_ioerr(&r);
	/* The refusals were logged before their answers went out. */
	cr_expect_eq(itest_stderr_count(needle), 1);
	itest_expect_stderr(pol_line(file, NULL, "regular file"));
	close(sock);
	sock = itest_conn();
	itest_pr_in(sock, p[1], 0, 8192, &r);
	itest_expect_ioerr(&r);
	itest_pr_in(sock, file, 0, 8192, &r);
	itest_expect_ioerr(&r);
	cr_expect_eq(itest_stderr_count(needle), 2);
	itest_expect_stderr(pol_line(p[1], NULL, "pipe"));
	close(sock);
	close(file);
	close(p[0]);
	close(p[1]);
}

/* Send one byte of a PR IN CDB with fd attached. */
static void
pol_send_first_byte(int sock, int fd)
{
	uint8_t cdb[PRH_CDB_LEN];
	int rc;

	client_cdb_pr_in(cdb, 0, 8192);
	rc = th_send_fds(sock, cdb, 1, &fd, fd >= 0 ? 1 : 0);
	cr_assert_eq(rc, 0, "send: %s", strerror(-rc));
}

Test(ours, own_socket_with_one_cdb_byte_does_not_pin_the_connection)
{
	int sock, base, p[2];
	struct pollfd pfd;
	uint8_t cdb[PRH_CDB_LEN];
	struct client_reply r;

	pol_start(NULL);
	base = pol_baseline();
	/* The client's own end of its connection, then its copy closed: the
	 * helper holding it would keep the connection open by itself. */
	sock = pol_conn_hello(&itest_env);
	pol_send_first_byte(sock, sock);
	close(sock);
	pol_expect_fds_back(base);
	/* A pipe's write end the same way: the read end sees the helper's
	 * copy go at once, while the request is still incomplete. */
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	sock = pol_conn_hello(&itest_env);
	pol_send_first_byte(sock, p[1]);
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	cr_expect_eq(poll(&pfd, 1, TH_TIMEOUT_MS), 1, "the helper kept it");
	cr_expect(pfd.revents & POLLHUP, "revents 0x%x", pfd.revents);
	/* The rest of the CDB: the request is answered as refused. */
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_write_all(sock, cdb + 1, PRH_CDB_LEN - 1), 0);
	cr_assert_eq(client_read_reply(sock, &r), 0);
	itest_expect_ioerr(&r);
	close(sock);
	close(p[0]);
	pol_expect_fds_back(base);
	cr_expect_eq(pol_calls_elsewhere(), 0);
}

Test(ours, request_timeout_drops_a_held_device_fd)
{
	const char *args[] = { "--request-timeout=1", NULL };
	struct timespec t0, t1;
	struct pollfd pfd;
	uint8_t cdb[PRH_CDB_LEN];
	int disk, null, s_disk, s_null, s_none, base;
	long ms;

	pol_start(args);
	base = pol_baseline();
	disk = itest_dev("lun", O_RDWR);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	cr_assert_geq(null, 0);
	s_disk = pol_conn_hello(&itest_env);
	s_null = pol_conn_hello(&itest_env);
	s_none = pol_conn_hello(&itest_env);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pol_send_first_byte(s_disk, disk);
	pol_send_first_byte(s_null, null);
	pol_send_first_byte(s_none, -1); /* no fd: not on the clock */
	itest_expect_closed(s_disk);
	itest_expect_closed(s_null);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	cr_expect_geq(ms, 900, "dropped after %ld ms, before the timeout", ms);
	cr_expect_eq(itest_stderr_count(
			 "held a file descriptor for 1 s without completing "
			 "its request: closing connection"),
	    2);
	/* The connection without an fd is still there; its CDB completes
	 * without an fd, a protocol violation: closed. */
	pfd.fd = s_none;
	pfd.events = POLLIN;
	cr_expect_eq(poll(&pfd, 1, 0), 0, "closed by the request timeout");
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_write_all(s_none, cdb + 1, PRH_CDB_LEN - 1), 0);
	itest_expect_closed(s_none);
	itest_expect_stderr("No file descriptor in request.");
	close(s_disk);
	close(s_null);
	close(s_none);
	/* The held fds went with their connections. */
	pol_expect_fds_back(base);
	cr_expect_eq(itest_calls_on("lun"), 0, "the disk got no command");
	close(disk);
	close(null);
}

/* In a child running as nobody: connect, handshake and get the ENOTTY
 * answer for a pipe.  Exit 0 when all went as expected. */
static int
pol_nobody_client(const char *sock)
{
	struct client_reply r;
	uint8_t cdb[PRH_CDB_LEN];
	int p[2], s;

	if (setgroups(0, NULL) < 0 || setgid(POL_NOBODY) < 0 ||
	    setuid(POL_NOBODY) < 0)
		return 10;
	s = client_connect(sock);
	if (s < 0)
		return 11;
	if (pipe(p) < 0)
		return 12;
	client_cdb_pr_in(cdb, 0, 8192);
	if (client_command(s, cdb, p[1], NULL, 0, &r) < 0)
		return 13;
	return r.status == PRH_STATUS_CHECK_CONDITION && r.size == 0 &&
		r.sense[2] == PRH_SK_ABORTED_COMMAND
	    ? 0
	    : 14;
}

Test(ours, max_clients_per_uid_refuses_the_next_connection_of_a_uid)
{
	const char *args[] = { "--max-clients-per-uid=2", NULL };
	int a, b, c, st, base;
	pid_t pid;

	TH_NEED_ROOT("needs root");
	pol_start(args);
	/* nobody reaches the socket. */
	cr_assert_eq(chmod(itest_env.dir, 0711), 0);
	cr_assert_eq(chmod(itest_env.sock, 0666), 0);
	base = pol_baseline();
	a = pol_conn_hello(&itest_env);
	b = pol_conn_hello(&itest_env);
	c = th_connect_raw(&itest_env);
	cr_assert_geq(c, 0);
	/* The third of uid 0: closed before the hello. */
	itest_expect_closed(c);
	close(c);
	itest_expect_stderr("uid 0 has 2 connections (--max-clients-per-uid): "
			    "closing connection (1 refused so far)");
	/* Another uid has its own count. */
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(pol_nobody_client(itest_env.sock));
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "nobody's client: status 0x%x", st);
	/* One of uid 0 goes: the next is served. */
	close(a);
	cr_assert_eq(itest_fds_settle(base + 1), base + 1);
	c = itest_conn();
	pol_expect_disk_good(c);
	close(b);
	close(c);
	pol_expect_fds_back(base);
}

/* --- start-up: pid file, trace file, -u --------------------------------- */

/* Make target a file holding text with mtime 2001-09-09; note its stat. */
static void
pol_plant_target(const char *target, const char *text, struct stat *st)
{
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	int fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cr_assert_eq(utimensat(AT_FDCWD, target, ts, 0), 0);
	cr_assert_eq(stat(target, st), 0);
}

/* Assert that target still holds text and has the stat before. */
static void
pol_expect_untouched(const char *target, const char *text,
    const struct stat *before)
{
	struct stat st;
	char *got = th_read_file(target, NULL);

	cr_assert_not_null(got);
	cr_expect_str_eq(got, text, "%s changed", target);
	free(got);
	cr_assert_eq(stat(target, &st), 0);
	cr_expect_eq(st.st_mtim.tv_sec, before->st_mtim.tv_sec,
	    "%s: mtime changed", target);
	cr_expect_eq(st.st_size, before->st_size);
	cr_expect_eq(st.st_mode, before->st_mode);
	cr_expect_eq(st.st_ino, before->st_ino);
}

/* Run our helper on the env's socket with args to its exit: its status;
 * the socket must not be left behind. */
static int
pol_run(struct th_env *e, const char *const *args)
{
	int st = -1, rc;

	rc = th_run(e, args, 0, TH_TIMEOUT_MS, &st);
	cr_assert_eq(rc, 0, "run: %s (did start-up hang?)", strerror(-rc));
	cr_assert(WIFEXITED(st), "helper died: 0x%x", st);
	cr_expect_neq(access(e->sock, F_OK), 0, "socket left behind");
	return WEXITSTATUS(st);
}

/* Our helper with -f path does not start, and says "Cannot VERB pid
 * file PATH: WHY". */
static void
pol_expect_bad_pid_file(const char *path, const char *verb, const char *why)
{
	const char *args[] = { "-f", path, NULL };
	char msg[PATH_MAX + 128];

	cr_expect_eq(pol_run(&itest_env, args), 1);
	snprintf(msg, sizeof(msg), "Cannot %s pid file %s: %s", verb, path,
	    why);
	itest_expect_stderr(msg);
}

Test(ours, symlinked_pid_file_fails_start_and_target_is_untouched)
{
	char link[PATH_MAX + 16], target[PATH_MAX + 16];
	char dangling[PATH_MAX + 16], missing[PATH_MAX + 16];
	struct stat st;

	itest_prepare(TH_OURS);
	snprintf(link, sizeof(link), "%s/pid", itest_env.dir);
	snprintf(target, sizeof(target), "%s/precious", itest_env.dir);
	pol_plant_target(target, "precious data\n", &st);
	cr_assert_eq(symlink(target, link), 0);
	pol_expect_bad_pid_file(link, "open", POL_ELOOP);
	pol_expect_untouched(target, "precious data\n", &st);
	/* A link to nowhere creates nothing there. */
	snprintf(dangling, sizeof(dangling), "%s/pid2", itest_env.dir);
	snprintf(missing, sizeof(missing), "%s/created", itest_env.dir);
	cr_assert_eq(symlink(missing, dangling), 0);
	pol_expect_bad_pid_file(dangling, "open", POL_ELOOP);
	cr_expect_neq(access(missing, F_OK), 0, "%s was created", missing);
}

Test(ours, pid_file_that_is_a_fifo_or_directory_fails_start)
{
	char path[PATH_MAX + 16];

	itest_prepare(TH_OURS);
	/* Opening a FIFO for writing waits for a reader: start-up must fail
	 * instead. */
	snprintf(path, sizeof(path), "%s/pid.fifo", itest_env.dir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	pol_expect_bad_pid_file(path, "use", "not a regular file");
	snprintf(path, sizeof(path), "%s/pid.dir", itest_env.dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	pol_expect_bad_pid_file(path, "open", "Is a directory");
}

Test(ours, symlinked_or_fifo_trace_file_fails_start)
{
	char link[PATH_MAX + 16], target[PATH_MAX + 16], opt[PATH_MAX + 32];
	const char *args[] = { "-T", opt, NULL };
	struct stat st;

	itest_prepare(TH_OURS);
	snprintf(link, sizeof(link), "%s/trace", itest_env.dir);
	snprintf(target, sizeof(target), "%s/precious", itest_env.dir);
	snprintf(opt, sizeof(opt), "prh_*,file=%s", link);
	pol_plant_target(target, "precious data\n", &st);
	cr_assert_eq(symlink(target, link), 0);
	cr_expect_eq(pol_run(&itest_env, args), 1);
	itest_expect_stderr(
	    "cannot open the trace file: it is a symbolic link");
	pol_expect_untouched(target, "precious data\n", &st);
	snprintf(link, sizeof(link), "%s/trace.fifo", itest_env.dir);
	snprintf(opt, sizeof(opt), "prh_*,file=%s", link);
	cr_assert_eq(mkfifo(link, 0600), 0);
	cr_expect_eq(pol_run(&itest_env, args), 1);
	itest_expect_stderr("cannot open the trace file: not a regular file");
}

Test(ours, pid_file_of_a_running_helper_survives_a_second_one)
{
	char pidfile[PATH_MAX + 16], text[32];
	const char *args[] = { "-f", pidfile, NULL };
	struct stat before;

	/* The pid file lives in the second helper's directory. */
	cr_assert_eq(th_env_init(&pol_env2, TH_OURS), 0);
	snprintf(pidfile, sizeof(pidfile), "%s/pid", pol_env2.dir);
	pol_start(args);
	snprintf(text, sizeof(text), "%d\n", (int)itest_env.pid);
	cr_assert_eq(stat(pidfile, &before), 0);
	/* Older than now, so that a rewrite would show. */
	{
		struct timespec ts[2] = { { 1000000000, 0 },
			{ 1000000000, 0 } };

		cr_assert_eq(utimensat(AT_FDCWD, pidfile, ts, 0), 0);
		cr_assert_eq(stat(pidfile, &before), 0);
	}
	cr_expect_eq(pol_run(&pol_env2, args), 1);
	pol_expect_stderr(&pol_env2,
	    "Cannot lock pid file: Resource temporarily unavailable");
	pol_expect_untouched(pidfile, text, &before);
	/* The first one serves on, and removes its pid file at exit. */
	{
		int sock = itest_conn();

		pol_expect_disk_good(sock);
		close(sock);
	}
}

/* Value of key in /proc/PID/status, or of a thread's with tid > 0
 * (static buffer), "" if missing. */
static const char *
pol_status(pid_t pid, pid_t tid, const char *key)
{
	static char val[256];
	char path[96], *text, *p, *end;
	size_t klen = strlen(key);

	val[0] = '\0';
	if (tid > 0)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status",
		    (int)pid, (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	text = th_read_file(path, NULL);
	cr_assert_not_null(text);
	for (p = text; *p != '\0'; p = end + 1) {
		end = strchrnul(p, '\n');
		if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
			p += klen + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			snprintf(val, sizeof(val), "%.*s", (int)(end - p), p);
			break;
		}
		if (*end == '\0')
			break;
	}
	free(text);
	return val;
}

Test(ours, user_alone_runs_with_the_users_primary_group)
{
	const char *args[] = { "-u", "sync", NULL };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct passwd *pw = getpwnam("sync");
	char want_uid[64], want_gid[64];
	struct client_reply r;
	int sock, p[2], rc;

	TH_NEED_ROOT("needs root");
	/* Debian's base-passwd: sync is uid 4, primary group nogroup. */
	if (pw == NULL || pw->pw_uid == pw->pw_gid)
		cr_skip_test("no user sync with a primary group of its own");
	itest_prepare(TH_OURS);
	/* After the switch the helper reaches the directory (x) and the
	 * notify socket (w); the shim's files are root's: run without. */
	cr_assert_eq(chmod(itest_env.dir, 0711), 0);
	memcpy(sun.sun_path, itest_env.notify, strlen(itest_env.notify));
	itest_env.notify_fd = socket(AF_UNIX,
	    SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	cr_assert_geq(itest_env.notify_fd, 0);
	cr_assert_eq(bind(itest_env.notify_fd, (struct sockaddr *)&sun,
			 sizeof(sun)),
	    0);
	cr_assert_eq(chmod(itest_env.notify, 0666), 0);
	cr_assert_eq(th_spawn(&itest_env, args, TH_NO_SHIM), 0);
	rc = th_wait_ready(&itest_env, TH_TIMEOUT_MS);
	cr_assert_eq(rc, 0, "%s: %s", strerror(-rc), th_stderr(&itest_env));
	snprintf(want_uid, sizeof(want_uid), "%u\t%u\t%u\t%u", pw->pw_uid,
	    pw->pw_uid, pw->pw_uid, pw->pw_uid);
	snprintf(want_gid, sizeof(want_gid), "%u\t%u\t%u\t%u", pw->pw_gid,
	    pw->pw_gid, pw->pw_gid, pw->pw_gid);
	cr_expect_str_eq(pol_status(itest_env.pid, 0, "Uid"), want_uid);
	cr_expect_str_eq(pol_status(itest_env.pid, 0, "Gid"), want_gid);
	cr_expect_str_eq(pol_status(itest_env.pid, 0, "Groups"), "");
	sock = itest_conn();
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	itest_pr_in(sock, p[1], 0, 8192, &r);
	itest_expect_ioerr(&r);
	close(sock);
	close(p[0]);
	close(p[1]);
}

/* Whether our helper was built with the seccomp filter ("-V"). */
static bool
pol_seccomp_built(void)
{
	const char *args[] = { "-V", NULL };
	bool yes;
	char *out;
	int st = -1;

	cr_assert_eq(th_env_init(&pol_env2, TH_OURS), 0);
	cr_assert_eq(th_run(&pol_env2, args, TH_NO_SOCKET_ARG | TH_NO_SHIM,
			 TH_TIMEOUT_MS, &st),
	    0);
	out = th_read_file(pol_env2.out, NULL);
	cr_assert_not_null(out);
	cr_assert(strstr(out, "seccomp filter: ") != NULL, "-V: %s", out);
	yes = strstr(out, "seccomp filter: yes") != NULL;
	free(out);
	th_env_fini(&pol_env2);
	return yes;
}

Test(ours, no_new_privs_and_seccomp_on_every_thread)
{
	char dir[64];
	bool seccomp = pol_seccomp_built();
	struct dirent *de;
	int sock, threads = 0;
	DIR *d;

	pol_start(NULL);
	/* A command first: the workers exist. */
	sock = itest_conn();
	pol_expect_disk_good(sock);
	close(sock);
	cr_expect_str_eq(pol_status(itest_env.pid, 0, "NoNewPrivs"), "1");
	if (seccomp)
		cr_expect_str_eq(pol_status(itest_env.pid, 0, "Seccomp"), "2");
	else
		cr_log_info("built without the seccomp filter: not checked");
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)itest_env.pid);
	d = opendir(dir);
	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL) {
		pid_t tid = (pid_t)atoi(de->d_name);

		if (tid <= 0)
			continue;
		threads++;
		cr_expect_str_eq(pol_status(itest_env.pid, tid, "NoNewPrivs"),
		    "1", "thread %d", (int)tid);
		if (seccomp)
			cr_expect_str_eq(pol_status(itest_env.pid, tid,
					     "Seccomp"),
			    "2", "thread %d", (int)tid);
	}
	closedir(d);
	cr_expect_gt(threads, 1, "a loop thread and workers");
}

Test(ours, refused_system_call_fails_with_eperm_and_is_logged)
{
	char line[128], *log;
	int sock;

	if (!pol_seccomp_built())
		cr_skip_test("built without the seccomp filter");
	pol_start(NULL);
	/* getcpu is outside the filter; the shim makes it on the worker
	 * that runs the SG_IO, inside the filter. */
	cr_assert_eq(th_shim_set(&itest_env, "%s/lun syscall=%d %s\n",
			 itest_env.dir, (int)SYS_getcpu, POL_ANSWER),
	    0);
	sock = itest_conn();
	pol_expect_disk_good(sock);
	log = th_read_file(itest_env.log, NULL);
	cr_assert_not_null(log);
	snprintf(line, sizeof(line), "syscall nr=%d rc=-1 errno=%d\n",
	    (int)SYS_getcpu, EPERM);
	cr_expect(strstr(log, line) != NULL, "shim log: %s", log);
	free(log);
	/* SIGUSR1: the summary, and the refused calls reported first. */
	cr_assert_eq(kill(itest_env.pid, SIGUSR1), 0);
	snprintf(line, sizeof(line),
	    "seccomp: refused system call getcpu (%d) with EPERM",
	    (int)SYS_getcpu);
	itest_expect_stderr(line);
	/* Not killed: it serves on. */
	pol_expect_disk_good(sock);
	close(sock);
	cr_expect_eq(kill(itest_env.pid, 0), 0);
}
