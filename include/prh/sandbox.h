/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The sandbox entered after start-up: no_new_privs and a seccomp filter
 * that allows the system calls the helper makes while serving (and, for
 * ioctl, only the requests it sends), see doc/security.md.
 *
 * A call outside the filter fails with EPERM: it never kills the helper.
 * On x86_64 and aarch64 the filter traps such a call; the SIGSYS handler
 * makes it return EPERM and notes the system call number, and
 * sandbox_report() logs each new one by name from the loop thread (the
 * handler itself only stores an atomic flag).  Elsewhere the filter
 * answers EPERM directly and nothing is logged.
 */
#ifndef PRH_SANDBOX_H
#define PRH_SANDBOX_H

#include <stdbool.h>

/* Set no_new_privs and, when built with libseccomp and not disabled,
 * install the filter in this thread (call before any other thread
 * exists; threads created later inherit it): 0 or a negative errno
 * (logged).  enforce false: no_new_privs only.  mpath: also allow what
 * libmpathpersist needs (a few system calls, the device-mapper query
 * ioctls).  pr_ioctls: also allow the persistent-reservation ioctls that
 * change reservations (IOC_PR_REGISTER to IOC_PR_CLEAR, linux/pr.h), for
 * the kernel multipath mode. */
int sandbox_enter(bool enforce, bool mpath, bool pr_ioctls);

/* Log the system calls refused since the last call, once each by name.
 * Loop thread. */
void sandbox_report(void);

#endif
