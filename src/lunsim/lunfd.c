/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lunsim.so: how one command reaches the LUN file, whatever fd the caller
 * holds, and which initiator port it comes from.
 *
 * Three things real callers do that a plain pread/flock on their fd would
 * get wrong:
 *
 *  - QEMU with cache='none' opens the LUN O_DIRECT.  Such an fd only reads
 *    and writes aligned buffers of whole blocks, so the header is moved
 *    through an aligned bounce buffer of the whole header area.
 *  - libvirt chowns the LUN to the user QEMU runs as (libvirt-qemu), and
 *    the helper it passes QEMU's fd to is root with CAP_SYS_RAWIO only (no
 *    CAP_DAC_OVERRIDE).  Its private reopen through /proc/self/fd is then
 *    checked against the file's mode: read-only at best, nothing at worst.
 *    The caller's own fd was opened by the owner and may still write: the
 *    header and data are written through it, and when even a read-only
 *    reopen is refused it also carries the lock (then a process-wide mutex
 *    orders this process's threads, which share that description).
 *  - One process may reach one LUN through several paths (hard links, as a
 *    host with two HBA ports has two device nodes for one LU): with
 *    LUNSIM_PORTS each path is its own initiator port (I_T nexus).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "lunsim.h"
#include "preload.h"

#define LUNSIM_ALIGN 4096 /* O_DIRECT: any logical block size up to 4 KiB */

/* Orders this process's commands that lock the caller's description. */
static pthread_mutex_t lunfd_mu = PTHREAD_MUTEX_INITIALIZER;

/* Read len (<= LUNSIM_HDR_SIZE) bytes at offset 0 of fd into buf: the
 * count, or -1 and errno.  An O_DIRECT fd is read through a bounce buffer
 * of the whole, aligned header area. */
ssize_t
lunsim_pread0(int fd, void *buf, size_t len)
{
	_Alignas(LUNSIM_ALIGN) uint8_t bounce[LUNSIM_HDR_SIZE];
	ssize_t n = pread(fd, buf, len, 0);
	int fl;

	if (n >= 0 || errno != EINVAL || len > sizeof(bounce))
		return n;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || !(fl & O_DIRECT)) {
		errno = EINVAL;
		return -1;
	}
	n = pread(fd, bounce, sizeof(bounce), 0);
	if (n < 0)
		return -1;
	if ((size_t)n > len)
		n = (ssize_t)len;
	memcpy(buf, bounce, (size_t)n);
	return n;
}

/* Read the header of the LUN behind fd: 0, -EINVAL if none, -errno. */
int
lunsim_hdr_load(int fd, struct lunsim_hdr *h)
{
	int rc = lunsim_hdr_read(fd, h), fl;

	if (rc != -EINVAL || (fl = fcntl(fd, F_GETFL)) < 0 || !(fl & O_DIRECT))
		return rc;
	/* The unaligned read failed, or this is no LUN: once more, aligned. */
	if (lunsim_pread0(fd, h, sizeof(*h)) != (ssize_t)sizeof(*h))
		return -EINVAL;
	return lunsim_hdr_valid(h) ? 0 : -EINVAL;
}

/* Write the header through fd: 0 or -errno.  An O_DIRECT fd writes the
 * whole header area (the header and its zero padding) from an aligned
 * buffer. */
int
lunsim_hdr_store(int fd, const struct lunsim_hdr *h)
{
	_Alignas(LUNSIM_ALIGN) uint8_t bounce[LUNSIM_HDR_SIZE];
	int fl = fcntl(fd, F_GETFL);
	ssize_t n;

	if (fl < 0 || !(fl & O_DIRECT))
		return lunsim_hdr_write(fd, h);
	memset(bounce, 0, sizeof(bounce));
	memcpy(bounce, h, sizeof(*h));
	n = pwrite(fd, bounce, sizeof(bounce), 0);
	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(bounce) ? 0 : -EIO;
}

/* The initiator of commands on fd: the LUNSIM_PORTS name of the path fd
 * was opened by, else the process's.  name gets at most LUNSIM_NAME_MAX
 * bytes. */
static void
lunfd_initiator(int fd, char *name)
{
	const char *ports = lunsim_ports(), *line, *eq, *nl;
	char link[64], path[4096];
	ssize_t n;
	size_t plen, nlen;

	snprintf(name, LUNSIM_NAME_MAX, "%s", lunsim_initiator());
	if (ports == NULL)
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return;
	path[n] = '\0';
	for (line = ports; *line != '\0'; line = nl + (*nl != '\0')) {
		nl = line + strcspn(line, "\n");
		eq = memchr(line, '=', (size_t)(nl - line));
		if (eq == NULL)
			continue;
		plen = (size_t)(eq - line);
		nlen = (size_t)(nl - eq - 1);
		if (plen == (size_t)n && memcmp(line, path, plen) == 0 &&
		    nlen > 0 && nlen < LUNSIM_NAME_MAX) {
			memcpy(name, eq + 1, nlen);
			name[nlen] = '\0';
			return;
		}
	}
}

/* Whether fd was opened for writing. */
static int
lunfd_writable(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && (fl & O_ACCMODE) != O_RDONLY;
}

/* Set up p for a command on the caller's fd: 0 or -errno. */
int
lunsim_path_open(int fd, struct lunsim_path *p)
{
	char path[64];

	memset(p, 0, sizeof(*p));
	lunfd_initiator(fd, p->initiator);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	p->lock = open(path, O_RDWR | O_CLOEXEC);
	if (p->lock >= 0) {
		p->write = p->lock;
		return 0;
	}
	if (errno != EACCES && errno != EROFS && errno != EPERM)
		return -errno;
	p->write = lunfd_writable(fd) ? fd : -1;
	p->lock = open(path, O_RDONLY | O_CLOEXEC);
	if (p->lock >= 0) {
		if (p->write < 0)
			p->write =
			    p->lock; /* its writes fail, as they should */
		return 0;
	}
	if (errno != EACCES && errno != EPERM)
		return -errno;
	p->lock = fd;
	p->shared = 1;
	if (p->write < 0)
		p->write = fd;
	pthread_mutex_lock(&lunfd_mu);
	return 0;
}

/* Release what lunsim_path_open() took. */
void
lunsim_path_close(struct lunsim_path *p)
{
	if (p->shared)
		pthread_mutex_unlock(&lunfd_mu);
	else if (p->lock >= 0)
		close(p->lock);
	p->lock = p->write = -1;
}
