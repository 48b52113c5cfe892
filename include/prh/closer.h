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
 * Clients.  Each fd comes with the client it came from (a key: a
 * client is what the log's shares use, peerlog.h, its uid and its VM;
 * peer_client_key()), or CLOSER_NEUTRAL for an fd no client sent.  A
 * thread takes the first queued fd whose client has fewer than
 * CLOSER_PER_CLIENT fds in close() now, so a client whose closes never
 * return holds at most CLOSER_PER_CLIENT of the threads, and the fds of
 * the others are closed past its queue.  closer_client_pending() tells
 * how many fds of a client are queued or in close(); a connection whose
 * client has CLOSER_CLIENT_QUEUE_MAX does not read (conn.h), so such a
 * client cannot fill the fd budget either.  The table of clients holds
 * only those with fds queued or in close() (and up to 16 entries of
 * clients gone, for reuse).
 *
 * Batches.  The loop does not wake a thread for each fd: that costs two
 * thread switches per fd on a busy CPU, more than the close.  It wakes
 * one when CLOSER_CLIENT_QUEUE_MAX / 2 fds are queued and no thread is
 * up outside a close(), and otherwise a timer of the loop (the tick,
 * every 1 ms while fds are queued) wakes one; a thread closes everything
 * it may take before it waits again.  So an fd is closed within about a
 * millisecond of closer_close(), not before the request's reply.  The
 * tick also wakes one more thread when no fd was taken since the last
 * one while some may be (the threads up wait in close()), so a close
 * that does not return holds up the fds of other clients a tick or two;
 * while waking more does not help it backs off to 100 ms, and an fd a
 * thread may take brings it back to 1 ms.
 *
 * Bounds.  At most 16 threads, started on demand, each with a 64 KiB
 * stack; an idle one exits after 10 s.  close() frees the fd's slot in
 * the table before it waits, so a close that never returns costs its
 * thread, not an fd.  Fds waiting for a thread do take slots: each
 * counts in the counter given to closer_new() (the connections' fd
 * budget) from closer_close() until its close starts, and the loop hears
 * through freed() when counted fds went (at the next tick), and when a
 * client's pending fds fell below CLOSER_CLIENT_QUEUE_MAX (at once: its
 * connections wait for it).  When 16 / CLOSER_PER_CLIENT clients
 * each have CLOSER_PER_CLIENT closes that do not return, every thread
 * waits: the fds of every client queue, counted, each client's
 * connections stop reading at CLOSER_CLIENT_QUEUE_MAX, the others at
 * the fd budget (see conn.h); the loop goes on running (timers,
 * signals, replies of commands under way), and everything is closed
 * once closes return.  A thread that cannot be started is retried at the
 * next tick; its fds wait, counted.  The one close left to the caller:
 * when the queue's entry (a few bytes) cannot be allocated.
 *
 * closer_new(), closer_close(), closer_close_socket(),
 * closer_client_pending(), closer_clients_eased() and closer_free() are
 * for the loop thread (the thread that runs base); see doc/threads.md.
 */
#ifndef PRH_CLOSER_H
#define PRH_CLOSER_H

#include <stdatomic.h>
#include <stdint.h>

struct event_base;
struct closer;

/* The client of an fd no client sent (a listening socket). */
#define CLOSER_NEUTRAL		0
/* Fds of one client in close() at once, at most. */
#define CLOSER_PER_CLIENT	4
/* Fds of one client queued or in close() from which its connections stop
 * reading (one more message may bring FDPASS_MAX_FDS). */
#define CLOSER_CLIENT_QUEUE_MAX 64

/* Create a closer whose queued fds count in *count, and whose freed(arg)
 * runs on base's loop after counted fds went: 0 and *out, or -ENOMEM. */
int closer_new(struct event_base *base, atomic_uint *count,
    void (*freed)(void *arg), void *arg, struct closer **out);

/* Close fd, which client sent, on a closer thread (queued, counted,
 * until one takes it, within about a millisecond). */
void closer_close(struct closer *c, int fd, uint64_t client);

/* Close a connection socket of client: shutdown(SHUT_RD), then here if
 * nothing is left to read in it (so its close frees no fds), else as
 * closer_close(). */
void closer_close_socket(struct closer *c, int fd, uint64_t client);

/* Fds of client queued or in close() now. */
unsigned closer_client_pending(struct closer *c, uint64_t client);

/* How many times so far a client's fds queued or in close() fell below
 * CLOSER_CLIENT_QUEUE_MAX (when it changed, connections waiting for
 * their client may read). */
unsigned closer_clients_eased(struct closer *c);

/* Free the closer: idle threads exit, the queue is closed by the threads
 * that can still close (the fds of a client with CLOSER_PER_CLIENT
 * closes that do not return stay open, to the process's exit), and a
 * close under way gets 200 ms to return; a thread that waits in close()
 * longer keeps the closer, and frees it when it is the last to return
 * (nothing is counted or called back any more). */
void closer_free(struct closer *c);

#endif
