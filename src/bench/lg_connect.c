/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The connect phase: every thread connects its slice of the connections
 * with non-blocking connect(), at most a batch of them waiting for their
 * hello at once, so that the helper's listen backlog is never the limit:
 * a connect that finds the backlog full (EAGAIN) is retried after the
 * helper has accepted some of the earlier ones.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "lg.h"

#define LG_RETRY_NS (1000 * 1000ULL) /* backlog full: retry after */

/* Count a connection that could not be set up, for reason why. */
static void
lg_conn_fail(struct lg_thread *t, struct lg_conn *c, int why)
{
	if (why < 0 || why >= BENCH_CONN_REASONS)
		why = EIO;
	t->st.conn_fail[why]++;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = LG_DEAD;
}

/* Connect c: 0 (hello pending), -EAGAIN (backlog full, try again), or
 * -errno. */
static int
lg_connect_one(struct lg_thread *t, struct lg_conn *c)
{
	struct epoll_event ev;
	int rc;

	if (c->fd < 0) {
		c->fd = socket(AF_UNIX,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			return -errno;
	}
	rc = connect(c->fd, (const struct sockaddr *)&t->run->sun,
	    sizeof(t->run->sun));
	if (rc < 0 && errno != EINPROGRESS)
		return -errno;
	/* Only now: an unconnected stream socket polls as EPOLLHUP. */
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		return -errno;
	c->state = LG_HELLO;
	c->rx_off = 0;
	return 0;
}

/* Read the helper's hello on c and answer it: 0 when c is ready,
 * -EAGAIN while incomplete, or -1 after failing c. */
int
lg_hello(struct lg_thread *t, struct lg_conn *c)
{
	static const uint8_t zero[PRH_HELLO_LEN];
	ssize_t n;

	n = read(c->fd, c->hdr + c->rx_off, PRH_HELLO_LEN - c->rx_off);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -EAGAIN;
	if (n <= 0) {
		lg_conn_fail(t, c, n == 0 ? BENCH_CONN_HELLO_EOF : errno);
		return -1;
	}
	c->rx_off += (uint32_t)n;
	if (c->rx_off < PRH_HELLO_LEN)
		return -EAGAIN;
	/* Whatever features the helper offers, ask for none, as QEMU 7.2. */
	n = send(c->fd, zero, sizeof(zero), MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n != (ssize_t)sizeof(zero)) {
		lg_conn_fail(t, c, n < 0 ? errno : EAGAIN);
		return -1;
	}
	c->state = LG_IDLE;
	c->rx_off = 0;
	t->st.connected++;
	t->live++;
	return 0;
}

/* Something came on a connection with no command in flight: EOF loses it,
 * unexpected bytes are a protocol error. */
void
lg_idle_event(struct lg_thread *t, struct lg_conn *c)
{
	ssize_t n;

	n = recv(c->fd, t->scratch, sizeof(t->scratch), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0)
		lg_lose(t, c, lg_err_kind(errno, BENCH_ERR_RECV));
	else
		lg_lose(t, c, n == 0 ? BENCH_ERR_EOF : BENCH_ERR_PROTO);
}

/* Give up on every connection not ready yet, from index from on. */
static void
lg_connect_give_up(struct lg_thread *t, unsigned from)
{
	unsigned i;

	for (i = 0; i < t->nconns; i++) {
		struct lg_conn *c = &t->conns[i];

		if (c->state == LG_HELLO)
			lg_conn_fail(t, c, ETIMEDOUT);
		else if (c->state == LG_NEW && i >= from)
			lg_conn_fail(t, c, c->fd >= 0 ? EAGAIN : ETIMEDOUT);
	}
}

/* Start as many connects as the batch allows; *blocked is set when the
 * backlog was full.  Returns the next index to connect. */
static unsigned
lg_connect_more(struct lg_thread *t, unsigned next, unsigned *pending,
    unsigned batch, int *blocked)
{
	struct lg_conn *c;
	int rc;

	*blocked = 0;
	while (*pending < batch && next < t->nconns) {
		c = &t->conns[next];
		rc = lg_connect_one(t, c);
		if (rc == -EAGAIN) {
			*blocked = 1;
			break;
		}
		if (rc < 0)
			lg_conn_fail(t, c, -rc);
		else
			(*pending)++;
		next++;
	}
	return next;
}

/* Connect this thread's slice; failures are counted.  0 always. */
int
lg_connect_phase(struct lg_thread *t)
{
	const struct bench_opts *o = t->run->o;
	struct epoll_event ev[LG_EVENTS];
	unsigned next = 0, pending = 0, batch;
	uint64_t now, progress, limit;
	int blocked, n, i;

	batch = o->batch / t->run->nth;
	if (batch == 0)
		batch = 1;
	limit = (uint64_t)(o->connect_timeout * BENCH_NSEC);
	progress = bench_now();
	while (next < t->nconns || pending > 0) {
		if (atomic_load(&t->stop_now))
			break;
		n = (int)next;
		next = lg_connect_more(t, next, &pending, batch, &blocked);
		now = bench_now();
		if ((int)next != n)
			progress = now;
		n = lg_wait(t, ev, now + (blocked ? LG_RETRY_NS : LG_SLICE_NS));
		for (i = 0; i < n; i++) {
			struct lg_conn *c = ev[i].data.ptr;

			if (c->state == LG_HELLO) {
				if (lg_hello(t, c) != -EAGAIN) {
					pending--;
					progress = bench_now();
				}
			} else if (c->state == LG_IDLE) {
				lg_idle_event(t, c);
			}
		}
		if (bench_now() - progress > limit)
			break;
	}
	lg_connect_give_up(t, next);
	return 0;
}
