/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A connection's output: the hello and the replies, sent straight to the
 * socket with one sendmsg(MSG_DONTWAIT) while nothing waits before them;
 * a write-only bufferevent, made on first need, holds only what the
 * socket did not take and sends it on, bounded by --write-timeout.
 *
 * The way back to the connection is two callbacks: everything queued
 * went out (drained; the bufferevent is freed then), or the client took
 * no output in time or the socket failed (failed).  Loop thread only.
 */
#ifndef PRH_OUTPUT_H
#define PRH_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prh/protocol.h"
#include "prh/scsi_result.h"

struct bufferevent;
struct event_base;

/* Output a client may leave unread before its connection stops reading
 * requests: one reply. */
#define OUTPUT_MAX (PRH_REPLY_HDR_LEN + PRH_DATA_MAX)

/* One socket's output. */
struct output {
	struct event_base *base;
	int fd;
	unsigned timeout_s;	 /* --write-timeout, 0 for none */
	struct bufferevent *bev; /* the bytes not sent yet, or NULL */
	void (*drained)(void *arg);
	void (*failed)(void *arg, bool timed_out);
	void *arg;
};

/* Set up the output of socket fd (--write-timeout timeout_s, 0: none),
 * with its callbacks. */
void output_init(struct output *o, struct event_base *base, int fd,
    unsigned timeout_s, void (*drained)(void *arg),
    void (*failed)(void *arg, bool timed_out), void *arg);

/* Bytes queued, waiting for the client to read. */
size_t output_len(const struct output *o);

/* Send the hello. 0 or a negative errno (then close the socket). */
int output_hello(struct output *o);

/* Send the reply to res (payload data).  0 or a negative errno (then
 * close the socket). */
int output_reply(struct output *o, const struct scsi_result *res,
    const uint8_t *data);

/* Free what is queued. */
void output_fini(struct output *o);

#endif
