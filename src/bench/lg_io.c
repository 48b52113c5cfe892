/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Commands: build a request, send it with its fd, read the reply, record
 * its latency, and the load loop that drives them (closed loop: the next
 * command leaves as soon as the reply is in; open loop: commands are due
 * at fixed intervals and wait for an idle connection, their latency
 * counted from when they were due).
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "prh/client.h"
#include "prh/fdpass.h"
#include "bench.h"
#include "lg.h"

#define LG_PR_TYPE_WE	0x01 /* WRITE EXCLUSIVE, LU scope */
#define LG_SA_READ_KEYS 0x00
#define LG_SA_READ_RES	0x01
#define LG_SA_RESERVE	0x01
#define LG_SA_RELEASE	0x02
#define LG_SA_REG_IGN	0x06 /* REGISTER AND IGNORE EXISTING KEY */
#define LG_PARAM_LEN	24

/* xorshift64: a cheap per-thread random number. */
static uint64_t
lg_rand(struct lg_thread *t)
{
	uint64_t x = t->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	t->rng = x;
	return x;
}

/* Pick the next command from the mix and build it into c->req. */
static void
lg_build(struct lg_thread *t, struct lg_conn *c)
{
	const struct bench_run *r = t->run;
	const struct bench_opts *o = r->o;
	uint64_t x;
	unsigned op = 0;
	uint8_t sa;

	if (r->single >= 0) {
		op = (unsigned)r->single;
	} else {
		x = lg_rand(t) % r->cum[BENCH_OP_COUNT - 1];
		while (x >= r->cum[op])
			op++;
	}
	c->op = (uint8_t)op;
	switch (op) {
	case BENCH_OP_READ_KEYS:
	case BENCH_OP_READ_RES:
		sa = op == BENCH_OP_READ_KEYS ? LG_SA_READ_KEYS
					      : LG_SA_READ_RES;
		client_cdb_pr_in(c->req, sa, o->alloc_len);
		c->tx_len = PRH_CDB_LEN;
		break;
	case BENCH_OP_REGISTER:
		client_cdb_pr_out(c->req, LG_SA_REG_IGN, 0, LG_PARAM_LEN);
		client_param_basic(c->req + PRH_CDB_LEN, 0, o->key, 0);
		c->tx_len = PRH_CDB_LEN + LG_PARAM_LEN;
		break;
	default:
		sa = c->release ? LG_SA_RELEASE : LG_SA_RESERVE;
		c->release ^= 1;
		client_cdb_pr_out(c->req, sa, LG_PR_TYPE_WE, LG_PARAM_LEN);
		client_param_basic(c->req + PRH_CDB_LEN, o->key, 0, 0);
		c->tx_len = PRH_CDB_LEN + LG_PARAM_LEN;
		break;
	}
}

/* Arm (on) or disarm EPOLLOUT for c. */
static int
lg_want_out(struct lg_thread *t, struct lg_conn *c, int on)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
	ev.data.ptr = c;
	return epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0 ? -errno : 0;
}

/* Send what is left of c's request; the first sendmsg carries the device
 * fd.  On a short send EPOLLOUT is armed until the rest is out. */
static void
lg_send(struct lg_thread *t, struct lg_conn *c)
{
	ssize_t n;

	/* The fd rides on the first byte of the request, as QEMU sends it;
	 * the socket is non-blocking, so a full buffer gives -EAGAIN. */
	n = fdpass_send(c->fd, c->req + c->tx_off,
	    (size_t)(c->tx_len - c->tx_off),
	    c->tx_off == 0 ? t->run->o->devfds[c->dev] : -1);
	if (n < 0 && n != -EAGAIN) {
		lg_lose(t, c, lg_err_kind((int)-n, BENCH_ERR_SEND));
		return;
	}
	if (n > 0)
		c->tx_off = (uint16_t)(c->tx_off + n);
	if (c->tx_off < c->tx_len) {
		if (c->state != LG_SENDING && lg_want_out(t, c, 1) < 0) {
			lg_lose(t, c, BENCH_ERR_SEND);
			return;
		}
		c->state = LG_SENDING;
		return;
	}
	if (c->state == LG_SENDING && lg_want_out(t, c, 0) < 0) {
		lg_lose(t, c, BENCH_ERR_SEND);
		return;
	}
	c->state = LG_WAITING;
}

/* Start a command on idle connection c, due at t_start. */
static void
lg_issue(struct lg_thread *t, struct lg_conn *c, uint64_t t_start)
{
	lg_build(t, c);
	c->tx_off = 0;
	c->rx_off = 0;
	c->rx_left = 0;
	c->t_start = t_start;
	c->state = LG_WAITING;
	t->inflight++;
	t->st.sent++;
	lg_send(t, c);
}

/* The sense key of a reply header, or BENCH_SK_NONE. */
static unsigned
lg_sense_key(const uint8_t *hdr)
{
	const uint8_t *s = hdr + 8;

	switch (s[0] & 0x7f) {
	case 0x70:
	case 0x71:
		return s[2] & 0x0f;
	case 0x72:
	case 0x73:
		return s[1] & 0x0f;
	default:
		return BENCH_SK_NONE;
	}
}

/* Closed loop: start the next command on c now, if any is left. */
static void
lg_next(struct lg_thread *t, struct lg_conn *c, uint64_t now)
{
	if (t->stopping)
		return;
	if (t->interval != 0) {
		t->idle[t->nidle++] = c;
		return;
	}
	if (t->run->o->count != 0) {
		if (t->to_issue == 0)
			return;
		t->to_issue--;
	}
	lg_issue(t, c, now);
}

/* c's reply is complete: count it and go on. */
static void
lg_complete(struct lg_thread *t, struct lg_conn *c)
{
	uint64_t now = bench_now();
	uint32_t status;
	struct bench_devstat *d;

	t->inflight--;
	t->st.answered++;
	c->state = LG_IDLE;
	if (c->t_start >= t->t_meas) {
		status = ((uint32_t)c->hdr[0] << 24) |
		    ((uint32_t)c->hdr[1] << 16) | ((uint32_t)c->hdr[2] << 8) |
		    c->hdr[3];
		if (status > 255)
			status = 255;
		t->st.status[status][lg_sense_key(c->hdr)]++;
		t->st.recorded++;
		d = &t->st.dev[c->dev];
		d->answered++;
		hist_record(&d->hist, now > c->t_start ? now - c->t_start : 0);
		t->st.t_last = now;
	}
	lg_next(t, c, now);
}

/* Read what has come of c's reply: the header into c->hdr, the payload
 * into the thread's scratch buffer, in one readv. */
static void
lg_recv(struct lg_thread *t, struct lg_conn *c)
{
	struct iovec iov[2];
	uint32_t size, head, extra;
	ssize_t n;
	int niov;

	if (c->rx_off < PRH_REPLY_HDR_LEN) {
		iov[0].iov_base = c->hdr + c->rx_off;
		iov[0].iov_len = PRH_REPLY_HDR_LEN - c->rx_off;
		iov[1].iov_base = t->scratch;
		iov[1].iov_len = sizeof(t->scratch);
		niov = 2;
	} else {
		iov[0].iov_base = t->scratch;
		iov[0].iov_len = c->rx_left;
		niov = 1;
	}
	n = readv(c->fd, iov, niov);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			lg_lose(t, c, lg_err_kind(errno, BENCH_ERR_RECV));
		return;
	}
	if (n == 0) {
		lg_lose(t, c, BENCH_ERR_EOF);
		return;
	}
	if (c->rx_off < PRH_REPLY_HDR_LEN) {
		head = PRH_REPLY_HDR_LEN - c->rx_off;
		if ((size_t)n < head)
			head = (uint32_t)n;
		c->rx_off += head;
		extra = (uint32_t)n - head;
		if (c->rx_off < PRH_REPLY_HDR_LEN)
			return;
		size = ((uint32_t)c->hdr[4] << 24) |
		    ((uint32_t)c->hdr[5] << 16) | ((uint32_t)c->hdr[6] << 8) |
		    c->hdr[7];
		if (size > PRH_DATA_MAX || extra > size) {
			lg_lose(t, c, BENCH_ERR_PROTO);
			return;
		}
		c->rx_left = size - extra;
	} else {
		c->rx_left -= (uint32_t)n;
	}
	if (c->rx_left == 0)
		lg_complete(t, c);
}

/* One epoll event for c. */
static void
lg_event(struct lg_thread *t, struct lg_conn *c, uint32_t events)
{
	switch (c->state) {
	case LG_WAITING:
		lg_recv(t, c);
		break;
	case LG_SENDING:
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			lg_send(t, c);
		break;
	case LG_IDLE:
		lg_idle_event(t, c);
		break;
	default:
		break;
	}
}

/* Open loop: send every command that is due, on idle connections. */
static void
lg_issue_due(struct lg_thread *t, uint64_t now)
{
	uint64_t k_due, backlog;
	struct lg_conn *c;

	if (t->t_end != 0 && now > t->t_end)
		now = t->t_end;
	k_due = now >= t->t0 ? (now - t->t0) / t->interval + 1 : 0;
	if (k_due > t->k_max)
		k_due = t->k_max;
	while (t->k_sent < k_due && t->nidle > 0) {
		c = t->idle[--t->nidle];
		if (c->state != LG_IDLE)
			continue;
		lg_issue(t, c, t->t0 + t->k_sent * t->interval);
		t->k_sent++;
	}
	backlog = k_due - t->k_sent;
	if (backlog > t->st.backlog_max)
		t->st.backlog_max = backlog;
}

/* Whether this thread should stop sending now. */
static int
lg_should_stop(struct lg_thread *t, uint64_t now)
{
	if (t->t_end != 0 && now >= t->t_end)
		return 1;
	if (t->live == 0 ||
	    atomic_load_explicit(&t->stop_now, memory_order_relaxed))
		return 1;
	if (t->interval == 0)
		return (t->run->o->count != 0 && t->to_issue == 0) ||
		    t->inflight == 0;
	return t->k_sent >= t->k_max;
}

/* Open loop: count the commands that were due but never left. */
static void
lg_count_dropped(struct lg_thread *t)
{
	uint64_t k_due = t->k_max;

	if (t->t_end != 0 && t->t_end >= t->t0)
		k_due = (t->t_end - t->t0) / t->interval + 1;
	if (k_due > t->k_max)
		k_due = t->k_max;
	t->st.dropped = k_due > t->k_sent ? k_due - t->k_sent : 0;
}

/* The deadline of the next wait. */
static uint64_t
lg_deadline(const struct lg_thread *t, uint64_t now, uint64_t drain_end)
{
	uint64_t d, due;

	if (t->stopping)
		return drain_end;
	d = t->t_end != 0 ? t->t_end : now + LG_SLICE_NS;
	if (t->interval != 0 && t->nidle > 0) {
		due = t->t0 + t->k_sent * t->interval;
		if (due < d)
			d = due > now ? due : now;
	}
	return d;
}

/* Start the load: every ready connection gets its first command (closed
 * loop) or goes on the idle stack (open loop). */
static void
lg_load_start(struct lg_thread *t)
{
	uint64_t now = bench_now();
	unsigned i;

	t->k_max = t->run->o->count != 0 ? t->to_issue : UINT64_MAX;
	for (i = 0; i < t->nconns; i++)
		if (t->conns[i].state == LG_IDLE)
			lg_next(t, &t->conns[i], now);
}

/* Thread entry of the load phase. */
void *
lg_load_main(void *arg)
{
	struct lg_thread *t = arg;
	struct epoll_event ev[LG_EVENTS];
	uint64_t now, drain_end = 0;
	int n, i;

	lg_load_start(t);
	for (;;) {
		now = bench_now();
		if (!t->stopping && t->interval != 0)
			lg_issue_due(t, now);
		if (!t->stopping && lg_should_stop(t, now)) {
			t->stopping = 1;
			drain_end = now +
			    (uint64_t)(t->run->o->timeout * BENCH_NSEC);
			if (t->interval != 0)
				lg_count_dropped(t);
		}
		if (t->stopping &&
		    (t->inflight == 0 || now >= drain_end ||
			atomic_load_explicit(&t->stop_now,
			    memory_order_relaxed)))
			break;
		n = lg_wait(t, ev, lg_deadline(t, now, drain_end));
		for (i = 0; i < n; i++)
			lg_event(t, ev[i].data.ptr, ev[i].events);
		atomic_store_explicit(&t->prog_answered, t->st.answered,
		    memory_order_relaxed);
		atomic_store_explicit(&t->prog_inflight, t->inflight,
		    memory_order_relaxed);
	}
	t->st.unanswered = t->inflight;
	atomic_store(&t->done, 1);
	return NULL;
}
