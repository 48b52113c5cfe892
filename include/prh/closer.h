/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Closing the fds whose close(2) may wait for another process.
 *
 * close() of a file on FUSE sends FLUSH to the file system's daemon and
 * waits for its answer, without a timeout and uninterruptibly; network
 * file systems flush on close too.  A client may pass such a file (say of
 * its own FUSE file system, whose daemon then stops answering): the loop
 * thread must never be the one that closes it, or every client of the
 * helper waits with it.  The loop thread hands these fds to the closer,
 * whose threads (started on demand, up to a bound; an idle one exits
 * after a while) close them in order.
 *
 * close() frees the fd's slot in the table before it waits, so a close
 * that never returns costs its thread, not an fd.  Fds waiting for a
 * thread do take slots: each counts in the counter given to closer_new()
 * (the connections' fd budget) from closer_close() until its close
 * starts, and the loop hears through freed() when counted fds went.
 *
 * closer_new(), closer_close() and closer_free() are for the loop thread
 * (the thread that runs base); see doc/threads.md.
 */
#ifndef PRH_CLOSER_H
#define PRH_CLOSER_H

#include <stdatomic.h>

struct event_base;
struct closer;

/* Create a closer whose queued fds count in *count, and whose freed(arg)
 * runs on base's loop after counted fds went: 0 and *out, or -ENOMEM. */
int closer_new(struct event_base *base, atomic_uint *count,
    void (*freed)(void *arg), void *arg, struct closer **out);

/* Close fd on a closer thread; when no thread can be had at all, here. */
void closer_close(struct closer *c, int fd);

/* Free the closer: idle threads exit, the queue is closed by the threads
 * that can still close, and a close under way gets 200 ms to return; a
 * thread that waits in close() longer keeps the closer, and frees it
 * when it is the last to return (nothing is counted or called back any
 * more). */
void closer_free(struct closer *c);

#endif
