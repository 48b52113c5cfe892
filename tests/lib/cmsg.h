/* SPDX-License-Identifier: GPL-2.0-or-later */
/* File descriptors attached to a sendmsg() (SCM_RIGHTS) by the tests'
 * clients.  Header-only: the fuzz targets, built with and without
 * libFuzzer, include it without linking the test library. */
#ifndef PRH_TESTS_CMSG_H
#define PRH_TESTS_CMSG_H

#include <string.h>
#include <sys/socket.h>

/* Attach the n fds to msg, their control message built in ctl (at least
 * CMSG_SPACE(n * sizeof(int)) bytes, aligned for a struct cmsghdr). */
static inline void
th_attach_fds(struct msghdr *msg, void *ctl, const int *fds, size_t n)
{
	struct cmsghdr *cm;

	memset(ctl, 0, CMSG_SPACE(n * sizeof(int)));
	msg->msg_control = ctl;
	msg->msg_controllen = CMSG_SPACE(n * sizeof(int));
	cm = CMSG_FIRSTHDR(msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
}

#endif
