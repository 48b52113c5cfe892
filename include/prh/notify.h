/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Service manager notification (sd_notify): READY, STATUS, STOPPING,
 * WATCHDOG.  A no-op when NOTIFY_SOCKET is unset.  Loop thread only.
 */
#ifndef PRH_NOTIFY_H
#define PRH_NOTIFY_H

#include <stdint.h>

/* Send one notification line such as "READY=1" or "STATUS=...". */
void notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Watchdog interval the service manager asked for (WATCHDOG_USEC for this
 * process): 1 and *usec, 0 if none, a negative errno if malformed. */
int notify_watchdog_usec(uint64_t *usec);

#endif
