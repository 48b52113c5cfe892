/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Private interfaces of the load threads: loadgen.c (set-up, waiting,
 * bookkeeping), lg_connect.c (the connect phase) and lg_io.c (commands).
 */
#ifndef PRH_BENCH_LG_H
#define PRH_BENCH_LG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/un.h>

#include "bench.h"

#define LG_EVENTS   256 /* epoll events per wait */
#define LG_REQ_MAX  (PRH_CDB_LEN + 24)
#define LG_SLICE_NS (100 * 1000 * 1000ULL) /* longest wait */

/* Where a connection is. */
enum lg_state {
	LG_NEW,	    /* not connected yet */
	LG_HELLO,   /* connected, reading the helper's hello */
	LG_IDLE,    /* ready, no command in flight */
	LG_SENDING, /* request partly sent, EPOLLOUT armed */
	LG_WAITING, /* request sent, reading the reply */
	LG_DEAD,    /* failed or lost */
};

/* One connection.  Owned by its thread. */
struct lg_conn {
	int fd;
	uint8_t state;	 /* enum lg_state */
	uint8_t dev;	 /* index into opts->devfds */
	uint8_t op;	 /* enum bench_op in flight */
	uint8_t release; /* next RESERVE_RELEASE is RELEASE */
	uint16_t tx_off;
	uint16_t tx_len;
	uint32_t rx_off;  /* header bytes read */
	uint32_t rx_left; /* payload bytes still to read */
	uint64_t t_start; /* ns: sent (or due, in open loop) */
	uint8_t hdr[PRH_REPLY_HDR_LEN];
	uint8_t req[LG_REQ_MAX];
};

/* One load thread and its slice of the connections. */
struct lg_thread {
	struct bench_run *run;
	pthread_t tid;
	unsigned index;
	int ep;
	struct lg_conn *conns;
	unsigned nconns;
	struct lg_conn **idle; /* open loop: idle stack */
	unsigned nidle;
	uint64_t to_issue; /* count mode: left to send */
	uint64_t inflight;
	uint64_t t_meas;   /* record replies sent after */
	uint64_t t_end;	   /* duration mode: stop sending */
	uint64_t t0;	   /* open loop: schedule origin */
	uint64_t interval; /* open loop: ns between sends */
	uint64_t k_sent;
	uint64_t k_max; /* open loop: commands allotted */
	unsigned live;	/* connections not lost */
	int stopping;
	uint64_t rng;
	uint8_t scratch[PRH_DATA_MAX];
	struct bench_stats st;
	_Atomic uint64_t prog_answered;
	_Atomic uint64_t prog_inflight;
	_Atomic uint64_t prog_errors;
	_Atomic int done;
	_Atomic int stop_now; /* abandon the run */
};

/* A whole run: the options and the threads. */
struct bench_run {
	const struct bench_opts *o;
	struct sockaddr_un sun;
	unsigned cum[BENCH_OP_COUNT]; /* mix, cumulative */
	int single;		      /* the only op of the mix, or -1 */
	struct lg_thread *th;
	unsigned nth;
};

/* loadgen.c */
int lg_wait(struct lg_thread *t, struct epoll_event *ev, uint64_t deadline);
void lg_lose(struct lg_thread *t, struct lg_conn *c, enum bench_err why);
enum bench_err lg_err_kind(int err, enum bench_err dflt);

/* lg_connect.c */
int lg_connect_phase(struct lg_thread *t);
int lg_hello(struct lg_thread *t, struct lg_conn *c);
void lg_idle_event(struct lg_thread *t, struct lg_conn *c);

/* lg_io.c */
void *lg_load_main(void *arg);

#endif
