/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The pid file (see pidfile.h): locked for the life of the process and
 * removed at exit by the process that created it; a removal refused
 * after privileges were dropped is logged once and the exit status stays
 * 0. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prh/log.h"
#include "prh/pidfile.h"

#define PIDFILE_TRIES 5 /* races with a concurrent unlink */

static int pidfile_fd = -1; /* held open: the lock lives with it */
static char *pidfile_path;  /* what to remove at exit */

/* Open and lock path, making sure the locked file is still at path. */
static int
pidfile_lock(const char *path)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct stat a, b;
	int fd;

	for (int i = 0; i < PIDFILE_TRIES; i++) {
		/* Never through a symbolic link, never anything but a regular
		 * file: the helper opens it as root.  O_NONBLOCK: a FIFO
		 * planted at the path fails (ENXIO) instead of waiting for a
		 * reader. */
		fd = open(path,
		    O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
		    0600);
		if (fd < 0 && errno != ENXIO) {
			int err = errno;

			log_err("Cannot open pid file %s: %s%s", path,
			    strerror(err),
			    err == ELOOP ? " (a symbolic link)" : "");
			return -err;
		}
		if (fd < 0 || fstat(fd, &a) < 0 || !S_ISREG(a.st_mode)) {
			log_err("Cannot use pid file %s: not a regular file",
			    path);
			if (fd >= 0)
				close(fd);
			return -EINVAL;
		}
		if (fcntl(fd, F_SETLK, &fl) < 0) {
			int err = errno;

			log_err("Cannot lock pid file: %s", strerror(err));
			close(fd);
			return -err;
		}
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return fd;
		close(fd); /* replaced meanwhile: lock the new one */
	}
	log_err("Cannot lock pid file: %s keeps changing", path);
	return -EAGAIN;
}

/* Create, lock and write the pid file. */
int
pidfile_write(const char *path)
{
	char buf[32];
	int fd, n;

	fd = pidfile_lock(path);
	if (fd < 0)
		return fd;
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || write(fd, buf, (size_t)n) != n) {
		int err = errno ? errno : EIO;

		log_err("Failed to write pid file %s: %s", path, strerror(err));
		close(fd);
		unlink(path);
		return -err;
	}
	pidfile_path = strdup(path);
	pidfile_fd = fd;
	return 0;
}

/* Remove the pid file and release the lock. */
void
pidfile_remove(void)
{
	if (pidfile_path != NULL) {
		if (unlink(pidfile_path) < 0 && errno != ENOENT)
			log_warn("Failed to remove pid file %s: %s",
			    pidfile_path, strerror(errno));
		free(pidfile_path);
		pidfile_path = NULL;
	}
	if (pidfile_fd >= 0) {
		close(pidfile_fd);
		pidfile_fd = -1;
	}
}
