/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Closing the fds whose close(2) may wait for another process.
 *
 * The last close of a file runs its release on the thread that drops the
 * last reference, and some releases wait: a TCP socket with SO_LINGER
 * waits for its unsent data to go (up to the linger time; the loop
 * thread's signals are blocked, so nothing cuts it short), a Unix socket
 * frees the messages queued in it and with them the fds they carry, a
 * file on FUSE sends FLUSH to the file system's daemon on every close
 * and waits for its answer, uninterruptibly and without a timeout; ttys
 * wait for their output to drain, block devices flush.  A client chooses
 * what it sends: the loop thread must never be the one that closes it, or
 * every client of the helper waits with it.  So the loop thread hands
 * every fd a client sent that it drops (and a connection socket with
 * unread messages in it: closer_close_socket()) to the closer, whose
 * threads close them in order.
 *
 * Bounds.  At most 16 threads, started on demand (one per queued fd that
 * no idle thread will take), each with a 64 KiB stack; an idle one exits
 * after 10 s.  close() frees the fd's slot in the table before it waits,
 * so a close that never returns costs its thread, not an fd.  Fds waiting
 * for a thread do take slots: each counts in the counter given to
 * closer_new() (the connections' fd budget) from closer_close() until its
 * close starts, and the loop hears through freed() when counted fds went.
 * When all 16 threads wait in closes that do not return, further fds
 * queue, counted, and at the fd budget the connections stop reading (see
 * conn.h): the queue is bounded by the budget plus what one message can
 * bring, the loop goes on running (timers, signals, replies of commands
 * under way), and everything is closed once a close returns.  A thread
 * that cannot be started is retried every 100 ms; its fds wait, counted.
 * The one close left to the caller: when the queue's entry (a few bytes)
 * cannot be allocated.
 *
 * closer_new(), closer_close(), closer_close_socket() and closer_free()
 * are for the loop thread (the thread that runs base); see
 * doc/threads.md.
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

/* Close fd on a closer thread (queued, counted, until one takes it). */
void closer_close(struct closer *c, int fd);

/* Close a connection socket: shutdown(SHUT_RD), then here if nothing is
 * left to read in it (so its close frees no fds), else as
 * closer_close(). */
void closer_close_socket(struct closer *c, int fd);

/* Free the closer: idle threads exit, the queue is closed by the threads
 * that can still close, and a close under way gets 200 ms to return; a
 * thread that waits in close() longer keeps the closer, and frees it
 * when it is the last to return (nothing is counted or called back any
 * more). */
void closer_free(struct closer *c);

#endif
