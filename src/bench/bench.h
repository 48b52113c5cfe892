/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qemu-pr-bench: a load generator for persistent-reservation helpers.
 *
 * Internal interfaces between the modules of the benchmark: hist.c (the
 * latency histogram), loadgen.c (the epoll load threads), procfs.c (what
 * /proc says about the helper), report.c (table and JSON) and main.c.
 */
#ifndef PRH_BENCH_H
#define PRH_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "prh/protocol.h"

#define BENCH_MAX_CONNS	  10000
#define BENCH_MAX_DEVS	  16
#define BENCH_MAX_THREADS 64
#define BENCH_NSEC	  1000000000ULL

/*
 * Log-linear histogram of nanosecond values: exact below 2^HIST_SUB_BITS,
 * then 2^(HIST_SUB_BITS-1) linear buckets per power of two, so a bucket
 * is never wider than 1/64 of its value.  Values above 2^HIST_MAX_BITS ns
 * (about 18 minutes) land in the last bucket; max stays exact.
 */
#define HIST_SUB_BITS 7
#define HIST_MAX_BITS 40
#define HIST_BUCKETS            \
	((1 << HIST_SUB_BITS) + \
	    (HIST_MAX_BITS - HIST_SUB_BITS) * (1 << (HIST_SUB_BITS - 1)))

/* A latency histogram.  Owned by one thread while it records. */
struct hist {
	uint64_t count;
	uint64_t sum; /* ns, for the mean */
	uint64_t min;
	uint64_t max;
	uint64_t buckets[HIST_BUCKETS];
};

/* The commands the benchmark can send. */
enum bench_op {
	BENCH_OP_READ_KEYS,	  /* PR IN READ KEYS */
	BENCH_OP_READ_RES,	  /* PR IN READ RESERVATION */
	BENCH_OP_REGISTER,	  /* PR OUT REGISTER AND IGNORE KEY */
	BENCH_OP_RESERVE_RELEASE, /* PR OUT RESERVE, then RELEASE */
	BENCH_OP_COUNT
};

/* Transport errors: the connection is lost when one happens. */
enum bench_err {
	BENCH_ERR_EOF,	 /* helper closed the connection */
	BENCH_ERR_RESET, /* ECONNRESET / EPIPE */
	BENCH_ERR_SEND,	 /* other sendmsg failure */
	BENCH_ERR_RECV,	 /* other read failure */
	BENCH_ERR_PROTO, /* reply size above PRH_DATA_MAX */
	BENCH_ERR_COUNT
};

/* Reasons a connection could not be set up, besides an errno. */
#define BENCH_CONN_ERRNO_MAX 256 /* errno values counted one by one */
#define BENCH_CONN_HELLO_EOF BENCH_CONN_ERRNO_MAX /* EOF in hello */
#define BENCH_CONN_REASONS   (BENCH_CONN_ERRNO_MAX + 1)

/* Sense key slot for replies without fixed or descriptor sense. */
#define BENCH_SK_NONE  16
#define BENCH_SK_SLOTS 17

/* Options, parsed once by main.c and read-only afterwards. */
struct bench_opts {
	const char *socket;
	unsigned conns;
	unsigned threads;
	double duration;	/* seconds; 0 with count */
	uint64_t count;		/* commands in all; 0: duration */
	double rate;		/* commands/s in all; 0: closed loop */
	double warmup;		/* seconds not recorded */
	double timeout;		/* wait for answers after the end */
	double connect_timeout; /* no connect progress: give up */
	unsigned batch;		/* connects without hello at once */
	unsigned weights[BENCH_OP_COUNT];
	uint16_t alloc_len; /* PR IN allocation length */
	uint64_t key;	    /* reservation key for PR OUT */
	const char *devpaths[BENCH_MAX_DEVS];
	int devfds[BENCH_MAX_DEVS];
	unsigned ndev;
	int json;
	int progress;
	unsigned idle;	       /* idle mode: connections to hold */
	double hold;	       /* idle mode: seconds to hold them */
	pid_t pid;	       /* helper to watch, 0: none */
	const char *hist_path; /* write the histogram here */
	const char *label;
};

/* What one device saw.  Owned by one load thread, merged at the end. */
struct bench_devstat {
	uint64_t answered;
	struct hist hist;
};

/* Counters of one load thread (or the merge of all).  The progress
 * counters are written by the owner only and read relaxed by main. */
struct bench_stats {
	uint64_t sent;
	uint64_t answered;    /* all replies, warm-up included */
	uint64_t recorded;    /* replies inside the measured window */
	uint64_t unanswered;  /* in flight when the run ended */
	uint64_t dropped;     /* open loop: due but never sent */
	uint64_t backlog_max; /* open loop: worst lag in commands */
	uint64_t connected;
	uint64_t conn_lost;
	uint64_t errors[BENCH_ERR_COUNT];
	uint64_t conn_fail[BENCH_CONN_REASONS];
	uint64_t status[256][BENCH_SK_SLOTS];
	uint64_t t_last; /* last recorded reply, ns */
	struct bench_devstat dev[BENCH_MAX_DEVS];
};

/* What /proc says about the helper. */
struct bench_proc {
	int ok;
	uint64_t cpu_ns;  /* utime + stime */
	uint64_t rss_kib; /* VmRSS */
	uint64_t hwm_kib; /* VmHWM */
	unsigned threads;
};

/* The outcome of a run, as the report prints it. */
struct bench_result {
	const struct bench_opts *opts;
	struct bench_stats *st;	   /* merged */
	struct hist all;	   /* every device */
	double elapsed;		   /* measured window, s */
	double connect_s;	   /* connect phase, s */
	struct bench_proc before;  /* helper at the window start */
	struct bench_proc after;   /* and at its end */
	struct bench_proc settled; /* idle mode: connections held */
};

/* hist.c */
void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t ns);
void hist_merge(struct hist *dst, const struct hist *src);
uint64_t hist_percentile(const struct hist *h, double pct);
int hist_write(const struct hist *h, FILE *f);

/* loadgen.c */
struct bench_run;
int bench_run_new(const struct bench_opts *o, struct bench_run **out);
int bench_run_connect(struct bench_run *r);
int bench_run_load(struct bench_run *r, uint64_t t0);
void bench_run_progress(const struct bench_run *r, uint64_t *answered,
    uint64_t *inflight, uint64_t *errors);
int bench_run_done(const struct bench_run *r);
void bench_run_wait(struct bench_run *r);
void bench_run_stop(struct bench_run *r);
void bench_run_stats(const struct bench_run *r, struct bench_stats *st);
void bench_run_free(struct bench_run *r);
uint64_t bench_now(void);

/* procfs.c */
int bench_proc_read(pid_t pid, struct bench_proc *p);
int bench_raise_nofile(unsigned need);

/* report.c */
const char *bench_op_name(enum bench_op op);
const char *bench_err_name(enum bench_err e);
void bench_report_table(const struct bench_result *res, FILE *f);
void bench_report_json(const struct bench_result *res, FILE *f);
void bench_report_idle_table(const struct bench_result *res, FILE *f);
void bench_report_idle_json(const struct bench_result *res, FILE *f);

#endif
