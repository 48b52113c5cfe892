/* SPDX-License-Identifier: GPL-2.0-or-later */
/* recvmsg() of a byte range with SCM_RIGHTS file descriptors. Knows nothing
 * of the protocol.
 */
#ifndef PRH_FDPASS_H
#define PRH_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

#define FDPASS_MAX_FDS 8 /* room in the control buffer */

/*
 * Read at most len bytes from sock with MSG_CMSG_CLOEXEC, collecting any
 * SCM_RIGHTS fds into fds[] (room for FDPASS_MAX_FDS) and their count into
 * *nfds.  Returns the byte count (0 = EOF), or a negative errno: -EAGAIN
 * when nothing is ready, -EMSGSIZE when the control data was truncated
 * (MSG_CTRUNC: fds were lost); the fds that did arrive are in fds[] then
 * too, for the caller to close (closing one may wait: a FUSE file's
 * close asks its daemon).
 */
ssize_t fdpass_recv(int sock, void *buf, size_t len, int *fds, int *nfds);

/* Send len bytes with one fd (or none if fd < 0) in one sendmsg. Returns
 * bytes sent or a negative errno. Used by clients and tests. */
ssize_t fdpass_send(int sock, const void *buf, size_t len, int fd);

#endif
