/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The pid file (-f, and -d): created mode 0600, locked for the life of
 * the process with a non-blocking fcntl write lock, removed at exit.
 * Start-up and exit only.
 */
#ifndef PRH_PIDFILE_H
#define PRH_PIDFILE_H

/* Create, lock and write "<pid>\n" to path.  A second instance fails
 * with "Cannot lock pid file: ..." logged.  0 or a negative errno. */
int pidfile_write(const char *path);

/* Remove the pid file written by this process (if any) and close it.
 * A refusal (privileges dropped) is logged once; never fails. */
void pidfile_remove(void);

#endif
