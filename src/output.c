/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A connection's output (see output.h). */
#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "prh/output.h"
#include "prh/proto.h"

/* Set up the output of a socket. */
void
output_init(struct output *o, struct event_base *base, int fd,
    unsigned timeout_s, void (*drained)(void *arg),
    void (*failed)(void *arg, bool timed_out), void *arg)
{
	*o = (struct output){ .base = base,
		.fd = fd,
		.timeout_s = timeout_s,
		.drained = drained,
		.failed = failed,
		.arg = arg };
}

/* Bytes queued. */
size_t
output_len(const struct output *o)
{
	return o->bev != NULL
	    ? evbuffer_get_length(bufferevent_get_output(o->bev))
	    : 0;
}

/* Everything queued went out: free the bufferevent, tell the owner. */
static void
output_write_cb(struct bufferevent *bev, void *arg)
{
	struct output *o = arg;

	(void)bev;
	bufferevent_free(o->bev);
	o->bev = NULL;
	o->drained(o->arg);
}

/* Write error, peer reset or write timeout. */
static void
output_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct output *o = arg;

	(void)bev;
	o->failed(o->arg, (what & BEV_EVENT_TIMEOUT) != 0);
}

/* Queue bytes the socket did not take, making the bufferevent that sends
 * them on.  0 or -ENOMEM. */
static int
output_queue(struct output *o, const void *buf, size_t len)
{
	struct timeval wto = { .tv_sec = o->timeout_s };

	if (len == 0)
		return 0;
	if (o->bev == NULL) {
		o->bev = bufferevent_socket_new(o->base, o->fd, 0);
		if (o->bev == NULL)
			return -ENOMEM;
		bufferevent_disable(o->bev, EV_READ);
		bufferevent_setcb(o->bev, NULL, output_write_cb,
		    output_event_cb, o);
		bufferevent_set_timeouts(o->bev, NULL,
		    wto.tv_sec > 0 ? &wto : NULL);
	}
	if (evbuffer_add(bufferevent_get_output(o->bev), buf, len) < 0)
		return -ENOMEM;
	/* Adding data arms the write event, but silently fails to if
	 * libevent runs out of memory: arm it again, checking. */
	return bufferevent_enable(o->bev, EV_WRITE) < 0 ? -ENOMEM : 0;
}

/* Send iov straight to the socket if nothing is queued, queue the rest.
 * 0 or a negative errno. */
static int
output_send(struct output *o, struct iovec *iov, int iovcnt)
{
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
	size_t sent = 0;
	ssize_t n;
	int r;

	if (output_len(o) == 0) {
		n = sendmsg(o->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		sent = n > 0 ? (size_t)n : 0;
	}
	for (int i = 0; i < iovcnt; i++) {
		size_t skip = sent < iov[i].iov_len ? sent : iov[i].iov_len;

		sent -= skip;
		r = output_queue(o, (const uint8_t *)iov[i].iov_base + skip,
		    iov[i].iov_len - skip);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Send the hello. */
int
output_hello(struct output *o)
{
	uint8_t hello[PRH_HELLO_LEN];
	struct iovec iov = { .iov_base = hello, .iov_len = sizeof(hello) };

	proto_encode_hello(hello);
	return output_send(o, &iov, 1);
}

/* Send a reply: its header, then its payload. */
int
output_reply(struct output *o, const struct scsi_result *res,
    const uint8_t *data)
{
	uint8_t hdr[PRH_REPLY_HDR_LEN];
	struct iovec iov[2] = { { .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (uint8_t *)data, .iov_len = res->size } };

	proto_encode_reply(hdr, res->status, res->size, res->sense);
	return output_send(o, iov, res->size > 0 ? 2 : 1);
}

/* Free what is queued. */
void
output_fini(struct output *o)
{
	if (o->bev != NULL)
		bufferevent_free(o->bev);
	o->bev = NULL;
}
