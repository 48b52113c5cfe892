/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reading a request's frames (the hello, the CDB, the PR OUT parameter
 * list) with the fds that come with them.
 *
 * Every frame is read with recvmsg and room for every fd one message can
 * carry (fdpass.h), so each fd stays with its request and the kernel
 * never drops one on the loop thread; an accepted socket is set up for
 * that first (frame_socket_init()).  Fds a frame must not bring go to the
 * closer (closer.h), as every client fd the loop drops.  An fd that came
 * with a CDB is looked at at once (frame_fd_take()): only a device node
 * is kept.  Loop thread only.
 */
#ifndef PRH_FRAME_H
#define PRH_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "prh/device.h"

struct closer;

/* The fd that came with a request, as frame_fd_take() found it. */
struct frame_fd {
	bool have;		 /* an fd came with this request */
	bool lost;		 /* ... and the kernel dropped it: the fd
				  * table was full (fd -1, node DEVICE_OTHER) */
	int fd;			 /* kept (a device node), or -1 */
	bool writable;		 /* open for writing (looked at for PR OUT) */
	struct device_node node; /* what it is */
};

/* What frame_recv() puts in *fd for a CDB whose one fd the kernel
 * dropped for want of room in the fd table. */
#define FRAME_FD_LOST (-2)

/* Set up an accepted socket so that frames bring their fds and nothing
 * else: 0, or a negative errno and *why. */
int frame_socket_init(int sock, const char **why);

/* Read up to len bytes of a frame into buf, with the fds that come with
 * them.  fd NULL: the frame brings none, and any is dropped (QEMU's
 * helper reads such a frame without a control buffer, and its kernel
 * drops them), fds the kernel could not pass too.  Else *fd gets the one
 * fd that came, FRAME_FD_LOST if the kernel dropped it (the fd table was
 * full: no fault of the client's, whose request is answered), or -1.
 * Returns the byte count (0 at EOF); -EAGAIN when there is nothing to
 * read now; -EPROTO when more than one came (or one came and more were
 * lost); or another negative errno (fds that came are dropped on any
 * error).  Fds dropped go to closer for client. */
ssize_t frame_recv(int sock, void *buf, size_t len, int *fd,
    struct closer *closer, uint64_t client);

/* Look at fd, which came with the CDB whose opcode is given: what it is
 * and how it was opened, into ff.  1: it is kept (a device node); 0:
 * dropped, as anything else is (a file, pipe or socket, perhaps this very
 * connection's other end), so no client can make the helper hold a
 * socket open: its request will be answered as a refusal; also 0 for
 * FRAME_FD_LOST (ff->lost: the request is answered BUSY); -EPROTO, and
 * dropped: the request had brought one already. */
int frame_fd_take(struct frame_fd *ff, int fd, uint8_t opcode,
    struct closer *closer, uint64_t client);

#endif
