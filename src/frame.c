/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reading a request's frames and their fds (see frame.h). */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "prh/closer.h"
#include "prh/fdpass.h"
#include "prh/frame.h"
#include "prh/protocol.h"

#ifndef SO_PASSPIDFD
#if defined(__x86_64__) || defined(__aarch64__) || defined(__riscv) || \
    defined(__i386__) || defined(__arm__) || defined(__s390x__) ||     \
    defined(__powerpc64__)
#define SO_PASSPIDFD 76 /* asm-generic, Linux 6.5 */
#endif
#endif

/* Turn off what a socket inherits from a listening socket that passes
 * credentials (a socket unit's PassCredentials=, PassSecurity=,
 * PassPIDFD=): their control messages would take room from the fds'
 * (fdpass.h) and a pidfd would be one more fd per message.  0, or a
 * negative errno. */
static int
frame_no_ancillary(int sock)
{
	static const int opts[] = {
		SO_PASSCRED,
		SO_PASSSEC,
#ifdef SO_PASSPIDFD
		SO_PASSPIDFD,
#endif
	};
	int zero = 0;

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (setsockopt(sock, SOL_SOCKET, opts[i], &zero, sizeof(zero)) <
			0 &&
		    errno != ENOPROTOOPT)
			return -errno;
	return 0;
}

/* Set up an accepted socket.  A byte sent out of band is read in line,
 * with the fds it carries: a plain read skips it, and the kernel frees
 * it, fds and all, on the reading thread. */
int
frame_socket_init(int sock, const char **why)
{
	int one = 1, r;

	if (setsockopt(sock, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one)) < 0) {
		*why = "SO_OOBINLINE refused";
		return -errno;
	}
	if ((r = frame_no_ancillary(sock)) < 0)
		*why = "cannot turn off credentials passing";
	return r;
}

/* Drop the nfds fds of fds: the closer closes them (a close may wait). */
static void
frame_drop(const int *fds, int nfds, struct closer *closer, uint64_t client)
{
	for (int i = 0; i < nfds; i++)
		closer_close(closer, fds[i], client);
}

/* Read part of a frame with its fds. */
ssize_t
frame_recv(int sock, void *buf, size_t len, int *fd, struct closer *closer,
    uint64_t client)
{
	int fds[FDPASS_MAX_FDS], nfds;
	bool lost;
	ssize_t n = fdpass_recv(sock, buf, len, fds, &nfds, &lost);

	if (fd != NULL)
		*fd = -1;
	if (n >= 0 && fd != NULL && lost && nfds == 0) {
		*fd = FRAME_FD_LOST;
	} else if (n < 0 || fd == NULL || nfds + lost > 1) {
		frame_drop(fds, nfds, closer, client);
		if (n >= 0 && fd != NULL)
			n = -EPROTO;
	} else if (nfds == 1) {
		*fd = fds[0];
	}
	return n == -EINTR ? -EAGAIN : n;
}

/* Look at an fd that came with a CDB.  The access mode matters to PR OUT
 * only; the opcode, the CDB's first byte, came with the fd or before
 * it. */
int
frame_fd_take(struct frame_fd *ff, int fd, uint8_t opcode,
    struct closer *closer, uint64_t client)
{
	if (ff->have) { /* one fd per request */
		if (fd >= 0)
			frame_drop(&fd, 1, closer, client);
		return -EPROTO;
	}
	ff->have = true;
	if (fd == FRAME_FD_LOST) {
		ff->lost = true;
		memset(&ff->node, 0, sizeof(ff->node));
		ff->node.type = DEVICE_OTHER;
		return 0;
	}
	ff->writable = opcode != PRH_OP_PR_OUT || device_fd_writable(fd);
	if (device_node_of_fd(fd, &ff->node) < 0) {
		memset(&ff->node, 0, sizeof(ff->node));
		ff->node.type = DEVICE_OTHER;
	}
	if (ff->node.type == DEVICE_OTHER) {
		frame_drop(&fd, 1, closer, client);
		return 0;
	}
	ff->fd = fd;
	return 1;
}
