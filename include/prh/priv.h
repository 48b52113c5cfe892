/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Privileges: keep only CAP_SYS_RAWIO (and CAP_SYS_ADMIN for multipath),
 * change to -u/-g, verify.
 *
 * Linux capabilities belong to a thread, so this must run before any
 * thread exists (before the worker pool and before libevent's threading
 * setup).  Start-up only.
 */
#ifndef PRH_PRIV_H
#define PRH_PRIV_H

#include "prh/config.h"

/*
 * Drop privileges as configured:
 *  - empty the bounding set, clear the ambient and inheritable sets;
 *  - drop supplementary groups, then setgid/setuid to -g/-u (keeping
 *    capabilities across the change);
 *  - leave CAP_SYS_RAWIO alone in the effective and permitted sets, if the
 *    process had it (a warning otherwise: an unprivileged start works);
 *    CAP_SYS_ADMIN too when --multipath is not off and the ids stay 0;
 *  - read everything back and fail if it is not what was asked.
 * Returns 0 or a negative errno; errors are logged.
 */
int priv_drop(const struct prh_config *cfg);

#endif
