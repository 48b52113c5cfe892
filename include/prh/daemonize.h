/* SPDX-License-Identifier: GPL-2.0-or-later */
/* -d: fork into the background once the listening socket exists.
 *
 * Unlike daemon(3), the parent does not exit at once: it waits on a pipe
 * until the child reports that it serves (exit 0) or fails (the child's
 * messages are copied to the parent's stderr, exit 1), so start-up errors
 * after the fork stay visible.  Start-up only, before any thread exists.
 */
#ifndef PRH_DAEMONIZE_H
#define PRH_DAEMONIZE_H

/* Fork.  Returns only in the child (0: new session, cwd "/", stdio on
 * /dev/null, messages to syslog and to the parent until ready), or in
 * the original process if forking failed (a negative errno, logged). */
int daemonize_start(void);

/* In the child: start-up is complete; the parent exits 0. */
void daemonize_ready(void);

#endif
