/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lunsim.so: how one command reaches the LUN behind the caller's fd, and
 * which initiator port it comes from.
 *
 * The LUN's header is mapped once per process and file (shm.c), found by
 * the file's device and inode number; the mapping pins the inode, so the
 * pair cannot name another file while it is mapped.  What real callers do
 * that a plain mapping of their fd would get wrong:
 *
 *  - libvirt chowns the LUN to the user QEMU runs as (libvirt-qemu), and
 *    the helper it passes QEMU's fd to is root with CAP_SYS_RAWIO only (no
 *    CAP_DAC_OVERRIDE).  Its reopen through /proc/self/fd is then checked
 *    against the file's mode: read-only at best, nothing at worst.  The
 *    caller's own fd was opened by the owner and may still write: the
 *    writable mapping is made through it.  A command may change the state
 *    when its fd could write the file (the fd is writable, or the process
 *    may reopen the file for writing), as with a device node.
 *  - QEMU with cache='none' opens the LUN O_DIRECT.  Such an fd only reads
 *    and writes aligned buffers of whole blocks: READ and WRITE go through
 *    a private reopen when the process may make one, and the magic is read
 *    through an aligned bounce buffer.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lunsim.h"
#include "fakesys.h"
#include "preload.h"

#define LUNSIM_ALIGN  4096 /* O_DIRECT: any logical block size up to 4 KiB */
#define LUNFD_MAP_MAX 1024 /* LUN files one process maps */

/* One LUN file this process has mapped.  Published entries only change
 * from rw == NULL to a mapping. */
struct lunfd_map {
	dev_t dev;
	ino_t ino;
	struct lunsim_shm *ro; /* read-only mapping, or NULL */
	struct lunsim_shm *rw; /* writable mapping, or NULL */
	int reopen_rw;	       /* the process may reopen the file for writing */
};

/* The mapped LUNs: lookups read the first lunfd_nmaps entries without a
 * lock; lunfd_mu orders the threads that add or upgrade one. */
static struct lunfd_map lunfd_maps[LUNFD_MAP_MAX];
static unsigned lunfd_nmaps;
static pthread_mutex_t lunfd_mu = PTHREAD_MUTEX_INITIALIZER;

/* Read len (<= LUNSIM_ALIGN) bytes at offset 0 of fd into buf: the count,
 * or -1 and errno.  An O_DIRECT fd is read through an aligned bounce
 * buffer of LUNSIM_ALIGN bytes. */
ssize_t
lunsim_pread0(int fd, void *buf, size_t len)
{
	_Alignas(LUNSIM_ALIGN) uint8_t bounce[LUNSIM_ALIGN];
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

/* The initiator of commands on fd: the LUNSIM_PORTS name of the path fd
 * was opened by, else the process's.  name gets at most LUNSIM_NAME_MAX
 * bytes. */
static void
lunfd_initiator(int fd, char *name)
{
	const char *ports = lunsim_ports(), *line, *eq, *nl;
	char link[64], path[4096];
	ssize_t n;
	size_t plen, nlen, len;

	len = strnlen(lunsim_initiator(), LUNSIM_NAME_MAX - 1);
	memcpy(name, lunsim_initiator(), len); /* not snprintf: per command */
	name[len] = '\0';
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

/* Reopen the file behind fd through /proc/self/fd: an fd, or -errno. */
static int
lunfd_reopen(int fd, int flags)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = open(path, flags | O_CLOEXEC);
	return r < 0 ? -errno : r;
}

/* The entry of st's file, or NULL. */
static struct lunfd_map *
lunfd_find(const struct stat *st)
{
	unsigned n = __atomic_load_n(&lunfd_nmaps, __ATOMIC_ACQUIRE), i;

	for (i = 0; i < n; i++)
		if (lunfd_maps[i].ino == st->st_ino &&
		    lunfd_maps[i].dev == st->st_dev)
			return &lunfd_maps[i];
	return NULL;
}

/* Map the LUN behind fd into e: writable through a reopen for writing or
 * fd itself if either may write, else read-only.  0 or -errno. */
static int
lunfd_map_new(int fd, struct lunfd_map *e)
{
	int rfd = lunfd_reopen(fd, O_RDWR), rc;

	if (rfd >= 0) {
		e->reopen_rw = 1;
		rc = lunsim_shm_map(rfd, PROT_READ | PROT_WRITE, &e->rw);
		close(rfd);
		return rc;
	}
	if (lunfd_writable(fd))
		return lunsim_shm_map(fd, PROT_READ | PROT_WRITE, &e->rw);
	return lunsim_shm_map(fd, PROT_READ, &e->ro);
}

/* Add st's file (fd) to the mapped LUNs, or give it a writable mapping
 * through fd: the entry, or NULL and *rc. */
static struct lunfd_map *
lunfd_add(int fd, const struct stat *st, int upgrade, int *rc)
{
	struct lunfd_map *e;
	struct lunsim_shm *m;

	pthread_mutex_lock(&lunfd_mu);
	e = lunfd_find(st);
	*rc = 0;
	if (e != NULL && upgrade && e->rw == NULL &&
	    (*rc = lunsim_shm_map(fd, PROT_READ | PROT_WRITE, &m)) == 0)
		__atomic_store_n(&e->rw, m, __ATOMIC_RELEASE);
	if (e == NULL && lunfd_nmaps == LUNFD_MAP_MAX)
		*rc = -ENOSPC;
	else if (e == NULL) {
		e = &lunfd_maps[lunfd_nmaps];
		memset(e, 0, sizeof(*e));
		e->dev = st->st_dev;
		e->ino = st->st_ino;
		*rc = lunfd_map_new(fd, e);
		if (*rc == 0)
			__atomic_store_n(&lunfd_nmaps, lunfd_nmaps + 1,
			    __ATOMIC_RELEASE);
		else
			e = NULL;
	}
	pthread_mutex_unlock(&lunfd_mu);
	return e;
}

/* Whether fd is a LUN this process has mapped (st its fstat). */
int
lunsim_lun_known(const struct stat *st)
{
	return lunfd_find(st) != NULL;
}

/* The mapping of the LUN behind fd (stp its fstat, or NULL): 0, *m,
 * *writable (whether *m is) and *can_write (whether this command may
 * change the state), or -EINVAL (no LUN), -EPROTO (another format version)
 * or -errno.  A LUN the process may reopen for writing was mapped writable
 * so, and any fd on it may write: its fd's mode is not asked (fcntl), as
 * the answer would change nothing. */
int
lunsim_lun_get(int fd, const struct stat *stp, struct lunsim_shm **m,
    int *writable, int *can_write)
{
	struct lunfd_map *e;
	struct stat st;
	int fd_w, rc;

	if (stp == NULL && syscall(SYS_fstat, fd, &st) < 0)
		return -errno;
	if (stp == NULL)
		stp = &st;
	e = lunfd_find(stp);
	if (e == NULL && (e = lunfd_add(fd, stp, 0, &rc)) == NULL)
		return rc;
	if (e->reopen_rw) {
		*m = __atomic_load_n(&e->rw, __ATOMIC_ACQUIRE);
		*writable = *can_write = 1;
		return 0;
	}
	fd_w = lunfd_writable(fd);
	if (fd_w && __atomic_load_n(&e->rw, __ATOMIC_ACQUIRE) == NULL &&
	    lunfd_add(fd, stp, 1, &rc) == NULL)
		return rc;
	*m = __atomic_load_n(&e->rw, __ATOMIC_ACQUIRE);
	*writable = *m != NULL;
	if (*m == NULL)
		*m = e->ro;
	*can_write = fd_w || e->reopen_rw;
	return 0;
}

/* Set up p for a command on the caller's fd: the initiator port, and
 * with data the fd for READ and WRITE (a private reopen for writing, the
 * caller's own if it may write, else a read-only reopen, whose writes
 * fail as they should).  0 or -errno. */
int
lunsim_path_open(int fd, int data, struct lunsim_path *p)
{
	int rfd;

	memset(p, 0, sizeof(*p));
	p->data = -1;
	lunfd_initiator(fd, p->initiator);
	if (!data)
		return 0;
	rfd = lunfd_reopen(fd, O_RDWR);
	if (rfd < 0 && rfd != -EACCES && rfd != -EROFS && rfd != -EPERM)
		return rfd;
	if (rfd < 0 && !lunfd_writable(fd))
		rfd = lunfd_reopen(fd, O_RDONLY);
	if (rfd >= 0) {
		p->data = rfd;
		p->own = 1;
	} else {
		p->data = fd;
	}
	return 0;
}

/* Release what lunsim_path_open() took. */
void
lunsim_path_close(struct lunsim_path *p)
{
	if (p->own)
		close(p->data);
	p->data = -1;
	p->own = 0;
}

/* The disk sequence number of the mapped LUN with fake minor minor. */
uint64_t
lunsim_diskseq_of_minor(unsigned minor)
{
	unsigned n = __atomic_load_n(&lunfd_nmaps, __ATOMIC_ACQUIRE), i;
	struct lunsim_shm *m;

	for (i = 0; i < n; i++) {
		if (fakesys_minor((uint64_t)lunfd_maps[i].dev,
			(uint64_t)lunfd_maps[i].ino) != minor)
			continue;
		m = __atomic_load_n(&lunfd_maps[i].rw, __ATOMIC_ACQUIRE);
		if (m == NULL)
			m = lunfd_maps[i].ro;
		return m != NULL ? lunsim_shm_diskseq(m) : 0;
	}
	return 0;
}
