/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Socket activation (sd_listen_fds(3) protocol): the service manager
 * passes one listening AF_UNIX stream socket as fd 3 with LISTEN_PID and
 * LISTEN_FDS in the environment.  Uses libsystemd when built with it and
 * parses the environment itself otherwise.  Start-up only.
 */
#ifndef PRH_ACTIVATION_H
#define PRH_ACTIVATION_H

/* First passed fd (SD_LISTEN_FDS_START). */
#define ACTIVATION_FD_START 3

/*
 * Count the fds passed for this process by the environment protocol:
 * LISTEN_PID must equal getpid() and LISTEN_FDS parse as a number, else 0
 * (a foreign LISTEN_PID is ignored).  LISTEN_PID, LISTEN_FDS and
 * LISTEN_FDNAMES are removed from the environment and the passed fds get
 * FD_CLOEXEC.  Returns the count, or a negative errno.  Does not need
 * libsystemd.
 */
int activation_count_env(void);

/*
 * Take the activated socket if there is one: 1 and *fd (non-blocking,
 * close-on-exec, a listening AF_UNIX stream socket), 0 when not activated,
 * or a negative errno with the error logged (more than one fd, or fd 3 is
 * not a listening Unix stream socket).
 */
int activation_listen_fd(int *fd);

#endif
