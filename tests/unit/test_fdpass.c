/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for fdpass: bytes and SCM_RIGHTS fds over a socketpair. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "prh/fdpass.h"
#include "cmsg.h"

static int sv[2];

/* Make a fresh socketpair for each test. */
static void
setup(void)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

/* Close the socketpair. */
static void
teardown(void)
{
	close(sv[0]);
	close(sv[1]);
}

TestSuite(fdpass, .init = setup, .fini = teardown);

/* Send len bytes with the given fds attached in one sendmsg: the byte
 * count or -errno. */
static ssize_t
send_fds_rc(const void *buf, size_t len, const int *fds, int n)
{
	union {
		char buf[CMSG_SPACE((FDPASS_MAX_FDS + 1) * sizeof(int))];
		struct cmsghdr align;
	} u;
	ssize_t r;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n > 0)
		th_attach_fds(&msg, u.buf, fds, (size_t)n);
	r = sendmsg(sv[0], &msg, 0);
	return r < 0 ? -errno : r;
}

/* Send len bytes with the given fds attached in one sendmsg. */
static void
send_with_fds(const void *buf, size_t len, const int *fds, int n)
{
	cr_assert_eq(send_fds_rc(buf, len, fds, n), (ssize_t)len);
}

/* Count the fds open in this process. */
static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* The fds open in this process (the count), and in *max the highest. */
static int
open_fds(int *max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0, fd;

	cr_assert_not_null(d);
	*max = -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || (fd = atoi(de->d_name)) == dirfd(d))
			continue;
		n++;
		if (fd > *max)
			*max = fd;
	}
	closedir(d);
	return n;
}

Test(fdpass, bytes_without_fd)
{
	char buf[16];
	int fds[FDPASS_MAX_FDS], n = -1;

	send_with_fds("0123456789abcdef", 16, NULL, 0);
	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), fds, &n, NULL), 16);
	cr_assert_eq(n, 0);
	cr_assert_eq(memcmp(buf, "0123456789abcdef", 16), 0);
}

Test(fdpass, one_fd_arrives_cloexec)
{
	char buf[16];
	int fds[FDPASS_MAX_FDS], n = 0, p[2];

	cr_assert_eq(pipe(p), 0);
	send_with_fds("0123456789abcdef", 16, &p[0], 1);
	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), fds, &n, NULL), 16);
	cr_assert_eq(n, 1);
	cr_assert_neq(fds[0], p[0]);
	cr_assert(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
	/* It is the same pipe: data written on p[1] reads from it. */
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(read(fds[0], buf, 1), 1);
	cr_assert_eq(buf[0], 'x');
	close(fds[0]);
	close(p[0]);
	close(p[1]);
}

Test(fdpass, two_fds_reported)
{
	char buf[16];
	int fds[FDPASS_MAX_FDS], n = 0, p[2];

	cr_assert_eq(pipe(p), 0);
	send_with_fds("0123456789abcdef", 16, p, 2);
	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), fds, &n, NULL), 16);
	cr_assert_eq(n, 2);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	close(p[0]);
	close(p[1]);
}

Test(fdpass, partial_read_keeps_fd_with_first_bytes)
{
	char buf[16];
	int fds[FDPASS_MAX_FDS], n = 0, p[2];

	cr_assert_eq(pipe(p), 0);
	send_with_fds("0123456789abcdef", 16, &p[0], 1);
	cr_assert_eq(fdpass_recv(sv[1], buf, 8, fds, &n, NULL), 8);
	cr_assert_eq(n, 1);
	close(fds[0]);
	cr_assert_eq(fdpass_recv(sv[1], buf + 8, 8, fds, &n, NULL), 8);
	cr_assert_eq(n, 0);
	cr_assert_eq(memcmp(buf, "0123456789abcdef", 16), 0);
	close(p[0]);
	close(p[1]);
}

Test(fdpass, does_not_read_past_a_message_with_fds)
{
	char buf[32];
	int fds[FDPASS_MAX_FDS], n = 0, p[2];

	cr_assert_eq(pipe(p), 0);
	send_with_fds("AAAAAAAAAAAAAAAA", 16, &p[0], 1);
	send_with_fds("BBBBBBBBBBBBBBBB", 16, &p[1], 1);
	/* Asking for 32 bytes stops at the first message's end. */
	cr_assert_eq(fdpass_recv(sv[1], buf, 32, fds, &n, NULL), 16);
	cr_assert_eq(n, 1);
	close(fds[0]);
	cr_assert_eq(fdpass_recv(sv[1], buf, 32, fds, &n, NULL), 16);
	cr_assert_eq(n, 1);
	cr_assert_eq(buf[0], 'B');
	close(fds[0]);
	close(p[0]);
	close(p[1]);
}

Test(fdpass, the_most_one_message_carries_all_arrive)
{
	char buf[16];
	int fds[FDPASS_MAX_FDS], n = 0, many[FDPASS_MAX_FDS + 1];
	int base = open("/dev/null", O_RDONLY);
	int before = count_fds();

	cr_assert_geq(base, 0);
	for (int i = 0; i < FDPASS_MAX_FDS + 1; i++)
		many[i] = base;
	/* The kernel refuses a message with more (SCM_MAX_FD). */
	cr_assert_eq(send_fds_rc("0123456789abcdef", 16, many,
			 FDPASS_MAX_FDS + 1),
	    -EINVAL);
	send_with_fds("0123456789abcdef", 16, many, FDPASS_MAX_FDS);
	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), fds, &n, NULL), 16);
	cr_assert_eq(n, FDPASS_MAX_FDS);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	cr_assert_eq(count_fds(), before);
	close(base);
}

Test(fdpass, fds_lost_to_the_fd_limit_are_reported_with_those_that_came)
{
	struct rlimit old, low;
	char buf[16];
	int fds[FDPASS_MAX_FDS], n = 0, many[FDPASS_MAX_FDS];
	int base = open("/dev/null", O_RDONLY), room, sent, open, max;
	bool lost = false;

	cr_assert_geq(base, 0);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	/* Room for a few more fds in the table, and a message with more. */
	open = open_fds(&max);
	low = old;
	low.rlim_cur = (rlim_t)max + 4;
	room = (int)low.rlim_cur - open;
	sent = room + 4;
	cr_assert_gt(room, 0);
	cr_assert_leq(sent, FDPASS_MAX_FDS);
	for (int i = 0; i < sent; i++)
		many[i] = base;
	send_with_fds("0123456789abcdef", 16, many, sent);
	send_with_fds("0123456789abcdef", 16, many, sent);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), fds, &n, NULL),
	    -EMSGSIZE);
	/* Those that came are the caller's to close. */
	cr_assert_eq(n, room);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	/* Asked to, it says so and counts the bytes, which were read. */
	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), fds, &n, &lost), 16);
	cr_assert(lost);
	cr_assert_eq(n, room);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	close(base);
}

Test(fdpass, eof_and_eagain)
{
	char buf[4];
	int fds[FDPASS_MAX_FDS], n;

	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), fds, &n, NULL),
	    -EAGAIN);
	shutdown(sv[0], SHUT_WR);
	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), fds, &n, NULL), 0);
}

Test(fdpass, send_side_round_trip)
{
	char buf[4];
	int fds[FDPASS_MAX_FDS], n = 0;
	int fd = open("/dev/null", O_RDONLY);

	cr_assert_eq(fdpass_send(sv[0], "abcd", 4, fd), 4);
	cr_assert_eq(fdpass_recv(sv[1], buf, 4, fds, &n, NULL), 4);
	cr_assert_eq(n, 1);
	close(fds[0]);
	cr_assert_eq(fdpass_send(sv[0], "efgh", 4, -1), 4);
	cr_assert_eq(fdpass_recv(sv[1], buf, 4, fds, &n, NULL), 4);
	cr_assert_eq(n, 0);
	close(fd);
}
