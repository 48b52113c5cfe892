/* SPDX-License-Identifier: GPL-2.0-or-later */
/* recvmsg() of a byte range with SCM_RIGHTS file descriptors. Knows nothing
 * of the protocol.
 */
#ifndef PRH_FDPASS_H
#define PRH_FDPASS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Room in the control buffer: the most fds one message can carry (the
 * kernel's SCM_MAX_FD; a sendmsg with more fails with EINVAL).  One
 * recvmsg on a stream socket returns the fds of one message at most, so
 * the kernel never has to discard an fd for want of room: it would do so
 * on the reading thread, and the last close of a file can wait (a socket
 * with SO_LINGER, a FUSE file). */
#define FDPASS_MAX_FDS 253

/*
 * Read at most len bytes from sock with MSG_CMSG_CLOEXEC, collecting any
 * SCM_RIGHTS fds into fds[] (room for FDPASS_MAX_FDS) and their count into
 * *nfds.  Returns the byte count (0 = EOF), or a negative errno: -EAGAIN
 * when nothing is ready.  When the control data was truncated
 * (MSG_CTRUNC: the fd table was full, or a security module refused an
 * fd, and the kernel dropped the rest) *lost is set and the bytes count
 * as usual; with lost NULL that is -EMSGSIZE instead.  The fds that did
 * arrive are in fds[] either way.  Whatever the result, the fds in fds[]
 * are the caller's, to close where a close that waits does no harm.
 */
ssize_t
fdpass_recv(int sock, void *buf, size_t len, int *fds, int *nfds, bool *lost);

/* Send len bytes with one fd (or none if fd < 0) in one sendmsg. Returns
 * bytes sent or a negative errno. Used by clients and tests. */
ssize_t fdpass_send(int sock, const void *buf, size_t len, int fd);

#endif
