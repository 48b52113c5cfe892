/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The benchmark's floor: the least a server of the helper protocol can do,
 * on one thread, to answer a command on a regular file.
 *
 * make bench measures it beside the helper in the file-cross-64 cell: its
 * throughput is what one CPU reaches when a request costs nothing but the
 * system calls the protocol needs, the ceiling of any helper on that CPU.
 * Per request it makes one recvmsg of the CDB with its fd (SCM_RIGHTS),
 * an fstat and a close of that fd, for PR OUT a read of the parameter
 * list, and one sendmsg of a fixed reply: the one the helper gives for a
 * regular file (CHECK CONDITION, ABORTED COMMAND 00/06, as SG_IO failing
 * with ENOTTY), whatever the command and the fd.  Nothing else: no device
 * policy, no threads, no logging, no limits.
 *
 * One epoll set, level-triggered, non-blocking sockets; a request is read
 * exactly (never beyond its end), so a second one waiting in the socket
 * stays there until the reply to the first is out.  A connection is
 * closed on EOF, on an error, and on what the helper would close it for
 * (a hello other than 0, a CDB with no fd or more than one, an opcode
 * other than PR IN/OUT, a length above 8192).  SIGTERM, SIGINT and SIGHUP
 * end it: every connection closed, the socket unlinked, exit status 0.
 *
 * Usage: floor -k SOCKET
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "prh/protocol.h"
#include "prh/server.h"

#define FLOOR_EVENTS  256 /* epoll events per wait */
#define FLOOR_FDS_MAX 8	  /* fds one recvmsg takes; more: dropped */

/* Where a connection is in its request. */
enum floor_state {
	FLOOR_HELLO, /* reading the client's feature word */
	FLOOR_CDB,   /* reading the 16-byte CDB and its fd */
	FLOOR_PARAM, /* reading (and dropping) a PR OUT parameter list */
	FLOOR_REPLY, /* writing the reply, EPOLLOUT armed */
};

/* One client connection. */
struct floor_conn {
	LIST_ENTRY(floor_conn) link;
	int fd;
	enum floor_state state;
	unsigned off;  /* bytes of the hello, CDB or reply done */
	unsigned left; /* parameter bytes still to read */
	unsigned nfds; /* fds that came with this CDB */
	uint8_t cdb[PRH_CDB_LEN];
};

/* The server: its sockets and its connections. */
struct floor {
	int ep;
	int lfd;
	int sfd;
	int paused; /* listener out of the epoll set (EMFILE) */
	const char *path;
	LIST_HEAD(, floor_conn) conns;
	uint8_t scratch[PRH_DATA_MAX]; /* parameter lists land here */
};

/* The one reply: CHECK CONDITION, size 0, fixed sense ABORTED COMMAND,
 * ASC 00h ASCQ 06h, rest of the 96 bytes zero. */
static const uint8_t floor_reply[PRH_REPLY_HDR_LEN] = {
	[3] = PRH_STATUS_CHECK_CONDITION,
	[8 + 0] = 0x70,
	[8 + 2] = PRH_SK_ABORTED_COMMAND,
	[8 + 7] = 10,
	[8 + 13] = 0x06,
};

/* Tags of the two sockets that are not connections, in epoll data. */
static char floor_tag_listen, floor_tag_signal;

/* Register fd with events (mod: modify instead of add): 0 or -errno. */
static int
floor_ctl(struct floor *f, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = ptr;
	return epoll_ctl(f->ep, op, fd, &ev) < 0 ? -errno : 0;
}

/* Close and free c; give the listener back its place if it had lost it
 * for want of fds. */
static void
floor_close(struct floor *f, struct floor_conn *c)
{
	LIST_REMOVE(c, link);
	close(c->fd);
	free(c);
	if (f->paused &&
	    floor_ctl(f, EPOLL_CTL_ADD, f->lfd, EPOLLIN, &floor_tag_listen) ==
		0)
		f->paused = 0;
}

/* Take in the fds of a received message: fstat and close each one,
 * counting those that came with a CDB. */
static void
floor_take_fds(struct floor_conn *c, struct msghdr *mh)
{
	struct cmsghdr *cm;
	struct stat st;
	size_t i, n;
	int fd;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			    sizeof(fd));
			if (c->state == FLOOR_CDB) {
				c->nfds++;
				(void)fstat(fd, &st);
			}
			close(fd);
		}
	}
}

/* recvmsg up to len bytes into buf: the count (0 on EOF), or -errno
 * (-EAGAIN: nothing yet; -EMSGSIZE: fds were dropped). */
static ssize_t
floor_recv(struct floor_conn *c, void *buf, size_t len)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(FLOOR_FDS_MAX * sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	floor_take_fds(c, &mh);
	return (mh.msg_flags & MSG_CTRUNC) ? -EMSGSIZE : n;
}

/* Send what is left of the reply; when it is out, wait for the next
 * request.  0, or -errno to close. */
static int
floor_send(struct floor *f, struct floor_conn *c)
{
	struct iovec iov = {
		.iov_base = (void *)(floor_reply + c->off),
		.iov_len = sizeof(floor_reply) - c->off,
	};
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int armed = c->state == FLOOR_REPLY;
	ssize_t n;

	n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		return -errno;
	if (n > 0)
		c->off += (unsigned)n;
	if (c->off < sizeof(floor_reply)) {
		c->state = FLOOR_REPLY;
		return armed ? 0
			     : floor_ctl(f, EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
	}
	c->state = FLOOR_CDB;
	c->off = 0;
	return armed ? floor_ctl(f, EPOLL_CTL_MOD, c->fd, EPOLLIN, c) : 0;
}

/* The CDB is in: check what the helper checks, then read the parameter
 * list (1) or answer (0); -errno to close. */
static int
floor_cdb_done(struct floor *f, struct floor_conn *c)
{
	unsigned len = (unsigned)c->cdb[7] << 8 | c->cdb[8];

	if (c->nfds != 1 || len > PRH_DATA_MAX ||
	    (c->cdb[0] != PRH_OP_PR_IN && c->cdb[0] != PRH_OP_PR_OUT))
		return -EPROTO;
	c->nfds = 0;
	c->off = 0;
	if (c->cdb[0] == PRH_OP_PR_OUT && len > 0) {
		c->state = FLOOR_PARAM;
		c->left = len;
		return 1;
	}
	return floor_send(f, c);
}

/* One read for c's state: 1 to read on (a part is complete), 0 to wait
 * for the socket, -errno to close. */
static int
floor_read(struct floor *f, struct floor_conn *c)
{
	size_t want;
	ssize_t n;

	switch (c->state) {
	case FLOOR_HELLO:
	case FLOOR_CDB:
		want = (c->state == FLOOR_HELLO ? PRH_HELLO_LEN : PRH_CDB_LEN) -
		    c->off;
		n = floor_recv(c, c->cdb + c->off, want);
		break;
	case FLOOR_PARAM:
		want = c->left;
		n = floor_recv(c, f->scratch, want);
		break;
	default:
		return 0;
	}
	if (n == -EAGAIN)
		return 0;
	if (n <= 0)
		return n == 0 ? -ECONNRESET : (int)n;
	if (c->state == FLOOR_PARAM) {
		c->left -= (unsigned)n;
		return c->left > 0 ? 0 : floor_send(f, c);
	}
	c->off += (unsigned)n;
	if ((size_t)n < want)
		return 0; /* the rest wakes epoll again */
	if (c->state == FLOOR_CDB)
		return floor_cdb_done(f, c);
	if (memcmp(c->cdb, "\0\0\0\0", PRH_HELLO_LEN) != 0)
		return -EPROTO;
	c->state = FLOOR_CDB;
	c->off = 0;
	return 0;
}

/* An event on connection c: EPOLLOUT while a reply is pending (an error
 * or hang-up fails the send), else EPOLLIN (or EOF, error, hang-up, which
 * the read finds). */
static void
floor_conn_event(struct floor *f, struct floor_conn *c)
{
	int rc;

	if (c->state == FLOOR_REPLY)
		rc = floor_send(f, c);
	else
		while ((rc = floor_read(f, c)) > 0)
			;
	if (rc < 0)
		floor_close(f, c);
}

/* Set up a new connection on fd: hello sent, registered.  0 or -errno
 * (fd closed). */
static int
floor_add(struct floor *f, int fd)
{
	static const uint8_t hello[PRH_HELLO_LEN];
	struct floor_conn *c;
	int rc;

	/* A new socket's send buffer is empty: 4 bytes go at once. */
	if (send(fd, hello, sizeof(hello), MSG_NOSIGNAL | MSG_DONTWAIT) !=
	    (ssize_t)sizeof(hello)) {
		close(fd);
		return -EIO;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->state = FLOOR_HELLO;
	LIST_INSERT_HEAD(&f->conns, c, link);
	rc = floor_ctl(f, EPOLL_CTL_ADD, fd, EPOLLIN, c);
	if (rc < 0)
		floor_close(f, c);
	return rc;
}

/* Accept every waiting connection.  Out of fds, the listener leaves the
 * epoll set until a connection closes. */
static void
floor_accept(struct floor *f)
{
	int fd;

	for (;;) {
		fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			(void)floor_add(f, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if ((errno == EMFILE || errno == ENFILE) &&
		    !LIST_EMPTY(&f->conns) &&
		    floor_ctl(f, EPOLL_CTL_DEL, f->lfd, 0, NULL) == 0)
			f->paused = 1;
		return;
	}
}

/* Serve until a signal: 0, or -errno if epoll fails. */
static int
floor_loop(struct floor *f)
{
	struct epoll_event ev[FLOOR_EVENTS];
	int n, i;

	for (;;) {
		n = epoll_wait(f->ep, ev, FLOOR_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (i = 0; i < n; i++) {
			if (ev[i].data.ptr == &floor_tag_signal)
				return 0;
			if (ev[i].data.ptr == &floor_tag_listen)
				floor_accept(f);
			else
				floor_conn_event(f, ev[i].data.ptr);
		}
	}
}

/* Block the stop signals and take them through a signalfd: fd or
 * -errno. */
static int
floor_signals(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Open the epoll set, the signalfd and the listener: 0 or -errno. */
static int
floor_open(struct floor *f)
{
	int rc;

	f->sfd = floor_signals();
	if (f->sfd < 0)
		return f->sfd;
	f->ep = epoll_create1(EPOLL_CLOEXEC);
	if (f->ep < 0)
		return -errno;
	f->lfd = server_bind(f->path); /* the helper's: a stale socket goes */
	if (f->lfd < 0)
		return f->lfd;
	rc = floor_ctl(f, EPOLL_CTL_ADD, f->sfd, EPOLLIN, &floor_tag_signal);
	if (rc == 0)
		rc = floor_ctl(f, EPOLL_CTL_ADD, f->lfd, EPOLLIN,
		    &floor_tag_listen);
	return rc;
}

/* Close every connection and socket; unlink the socket if it was bound. */
static void
floor_free(struct floor *f)
{
	while (!LIST_EMPTY(&f->conns))
		floor_close(f, LIST_FIRST(&f->conns));
	if (f->lfd >= 0) {
		close(f->lfd);
		(void)unlink(f->path);
	}
	if (f->ep >= 0)
		close(f->ep);
	if (f->sfd >= 0)
		close(f->sfd);
	free(f);
}

/* Parse -k SOCKET: 0, or 2 after a usage message. */
static int
floor_args(int argc, char **argv, const char **path)
{
	int ch;

	*path = NULL;
	while ((ch = getopt(argc, argv, "k:h")) != -1) {
		if (ch == 'k') {
			*path = optarg;
		} else {
			fprintf(ch == 'h' ? stdout : stderr,
			    "Usage: %s -k SOCKET\n"
			    "The least server of the qemu-pr-helper "
			    "protocol, for qemu-pr-bench.\n",
			    argv[0]);
			return ch == 'h' ? 1 : 2;
		}
	}
	if (*path == NULL || optind != argc) {
		fprintf(stderr, "%s: usage: %s -k SOCKET\n", argv[0], argv[0]);
		return 2;
	}
	return 0;
}

/* Serve on -k SOCKET until SIGTERM: exit 0; 1 on failure, 2 on usage. */
int
main(int argc, char **argv)
{
	struct floor *f;
	const char *path;
	int rc;

	rc = floor_args(argc, argv, &path);
	if (rc != 0)
		return rc == 1 ? 0 : rc;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return 1;
	f->ep = f->lfd = f->sfd = -1;
	f->path = path;
	LIST_INIT(&f->conns);
	rc = floor_open(f);
	if (rc == 0)
		rc = floor_loop(f);
	if (rc < 0)
		fprintf(stderr, "%s: %s: %s\n", argv[0], path, strerror(-rc));
	floor_free(f);
	return rc < 0 ? 1 : 0;
}
