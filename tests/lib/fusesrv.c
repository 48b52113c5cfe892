/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A minimal FUSE file system served by a test thread (see fusesrv.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "fusesrv.h"
#include "harness.h"

#define FUSESRV_BUF	  (256 * 1024) /* a request, at most */
#define FUSESRV_MAX_WRITE (64 * 1024)
#define FUSESRV_FILE_ID	  2    /* node id of "file" */
#define FUSESRV_SIZE	  4096 /* its size */
#define FUSESRV_VALID_S	  3600 /* entries and attributes stay valid */

/* The attributes of node id. */
static void
fusesrv_attr(uint64_t id, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = id;
	a->nlink = 1;
	a->blksize = 4096;
	if (id == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = S_IFREG | 0666;
		a->size = FUSESRV_SIZE;
		a->blocks = FUSESRV_SIZE / 512;
	}
}

/* Write one answer: error (0 or a negative errno) and len bytes of out. */
static void
fusesrv_reply(struct fusesrv *s, uint64_t unique, int error, const void *out,
    size_t len)
{
	struct fuse_out_header h = { .len = (uint32_t)(sizeof(h) + len),
		.error = error,
		.unique = unique };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)out, len } };

	/* ENOENT: the request was interrupted meanwhile; nothing to do. */
	(void)writev(s->devfd, iov, len > 0 ? 2 : 1);
}

/* Answer INIT with what this server speaks. */
static void
fusesrv_init(struct fusesrv *s, const struct fuse_in_header *h, const void *arg)
{
	const struct fuse_init_in *in = arg;
	struct fuse_init_out out;

	memset(&out, 0, sizeof(out));
	out.major = FUSE_KERNEL_VERSION;
	out.minor = in->minor < FUSE_KERNEL_MINOR_VERSION
	    ? in->minor
	    : FUSE_KERNEL_MINOR_VERSION;
	out.max_readahead = in->max_readahead;
	out.max_write = FUSESRV_MAX_WRITE;
	out.max_background = 16;
	out.congestion_threshold = 12;
	fusesrv_reply(s, h->unique, 0, &out, sizeof(out));
	atomic_store(&s->inited, true);
}

/* Answer one request (not after the stall). */
static void
fusesrv_answer(struct fusesrv *s, const struct fuse_in_header *h,
    const void *arg)
{
	static const uint8_t zeros[FUSESRV_SIZE];
	struct fuse_entry_out entry;
	struct fuse_attr_out attr;
	struct fuse_open_out open_out;
	const struct fuse_read_in *rd;
	size_t n;

	switch (h->opcode) {
	case FUSE_INIT:
		fusesrv_init(s, h, arg);
		break;
	case FUSE_LOOKUP:
		if (h->nodeid != FUSE_ROOT_ID || strcmp(arg, "file") != 0) {
			fusesrv_reply(s, h->unique, -ENOENT, NULL, 0);
			break;
		}
		memset(&entry, 0, sizeof(entry));
		entry.nodeid = FUSESRV_FILE_ID;
		entry.generation = 1;
		entry.entry_valid = entry.attr_valid = FUSESRV_VALID_S;
		fusesrv_attr(FUSESRV_FILE_ID, &entry.attr);
		fusesrv_reply(s, h->unique, 0, &entry, sizeof(entry));
		break;
	case FUSE_GETATTR:
		memset(&attr, 0, sizeof(attr));
		attr.attr_valid = FUSESRV_VALID_S;
		fusesrv_attr(h->nodeid, &attr.attr);
		fusesrv_reply(s, h->unique, 0, &attr, sizeof(attr));
		break;
	case FUSE_OPEN:
		/* No FOPEN_NOFLUSH: every close of the file sends FLUSH. */
		memset(&open_out, 0, sizeof(open_out));
		open_out.fh = 1;
		fusesrv_reply(s, h->unique, 0, &open_out, sizeof(open_out));
		break;
	case FUSE_READ:
		rd = arg;
		n = rd->offset < FUSESRV_SIZE ? FUSESRV_SIZE - rd->offset : 0;
		if (n > rd->size)
			n = rd->size;
		fusesrv_reply(s, h->unique, 0, zeros, n);
		break;
	case FUSE_FLUSH:
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
	case FUSE_DESTROY:
		fusesrv_reply(s, h->unique, 0, NULL, 0);
		break;
	case FUSE_IOCTL:
		fusesrv_reply(s, h->unique, -ENOTTY, NULL, 0);
		break;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		break; /* no answer */
	default:
		fusesrv_reply(s, h->unique, -ENOSYS, NULL, 0);
		break;
	}
}

/* The thread: read requests until told to stop or the connection ends;
 * count each, answer it unless stalled. */
static void *
fusesrv_main(void *arg)
{
	struct fusesrv *s = arg;
	struct pollfd pfd[2] = { { .fd = s->devfd, .events = POLLIN },
		{ .fd = s->stopfd, .events = POLLIN } };
	const struct fuse_in_header *h;
	uint8_t *buf = malloc(FUSESRV_BUF);
	ssize_t n;

	while (buf != NULL) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents != 0)
			break;
		n = read(s->devfd, buf, FUSESRV_BUF);
		if (n < 0 &&
		    (errno == EINTR || errno == EAGAIN || errno == ENOENT))
			continue;
		if (n < (ssize_t)sizeof(*h))
			break; /* ENODEV: unmounted or aborted */
		h = (const struct fuse_in_header *)buf;
		if (h->opcode < FUSESRV_OPS) {
			atomic_fetch_add(&s->seen[h->opcode], 1);
			if (atomic_load(&s->stalled))
				atomic_fetch_add(&s->stalled_seen[h->opcode],
				    1);
		}
		if (!atomic_load(&s->stalled))
			fusesrv_answer(s, h, buf + sizeof(*h));
	}
	free(buf);
	return NULL;
}

/* Mount and serve. */
int
fusesrv_start(struct fusesrv *s, const char *mnt)
{
	char opts[128];
	int r;

	snprintf(s->mnt, sizeof(s->mnt), "%s", mnt);
	snprintf(s->file, sizeof(s->file), "%s/file", mnt);
	s->devfd = open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (s->devfd < 0)
		return -errno;
	s->have_dev = true;
	s->stopfd = eventfd(0, EFD_CLOEXEC);
	if (s->stopfd < 0)
		return -errno;
	s->have_stop = true;
	snprintf(opts, sizeof(opts),
	    "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other", s->devfd);
	if (mount("prh-test", mnt, "fuse", MS_NOSUID | MS_NODEV, opts) < 0)
		return -errno;
	s->mounted = true;
	r = pthread_create(&s->thread, NULL, fusesrv_main, s);
	if (r != 0)
		return -r;
	s->running = true;
	return 0;
}

/* Answer nothing from now on. */
void
fusesrv_stall(struct fusesrv *s)
{
	atomic_store(&s->stalled, true);
}

/* Requests of one opcode seen. */
unsigned
fusesrv_seen(struct fusesrv *s, unsigned op, bool after_stall)
{
	if (op >= FUSESRV_OPS)
		return 0;
	return atomic_load(after_stall ? &s->stalled_seen[op] : &s->seen[op]);
}

/* Abort, end the thread, detach the mount. */
void
fusesrv_stop(struct fusesrv *s)
{
	uint64_t one = 1;

	if (s->running) {
		(void)write(s->stopfd, &one, sizeof(one));
		pthread_join(s->thread, NULL);
		s->running = false;
	}
	/* The last fd of the device: the kernel aborts the connection, and
	 * every request waiting for an answer fails. */
	if (s->have_dev)
		close(s->devfd);
	s->have_dev = false;
	if (s->have_stop)
		close(s->stopfd);
	s->have_stop = false;
	if (s->mounted)
		(void)umount2(s->mnt, MNT_DETACH);
	s->mounted = false;
}

/* fusesrv_start() on dir/fuse in a private mount namespace. */
int
fusesrv_start_private(struct fusesrv *s, const char *dir, const char **why)
{
	char mnt[PATH_MAX];
	int r;

	*why = NULL;
	if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0) {
		*why = "needs root and /dev/fuse";
		return -EPERM;
	}
	r = th_private_ns();
	if (r < 0) {
		*why = th_private_ns_why();
		return r;
	}
	snprintf(mnt, sizeof(mnt), "%s/fuse", dir);
	if (mkdir(mnt, 0755) < 0)
		return -errno;
	r = fusesrv_start(s, mnt);
	if (r == -ENODEV || r == -ENOENT)
		*why = "FUSE not available";
	return r;
}
