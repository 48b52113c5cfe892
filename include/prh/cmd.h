/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One command, from its complete request to its reply: everything that
 * runs on a worker thread is here.
 *
 * The loop thread fills a struct cmd and hands it to the pool (through
 * dispatch.c); a worker runs cmd_run(): the device policy (device.c), the
 * SG_IO (sgio.c) and closing the device fd.  The pool hands the cmd back
 * to the loop thread, which counts it and sends the reply.  Which
 * thread may touch which field, and when, is written once in
 * doc/threads.md ("struct cmd").
 */
#ifndef PRH_CMD_H
#define PRH_CMD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "prh/device.h"
#include "prh/latency.h"
#include "prh/mpath.h"
#include "prh/pool.h"
#include "prh/proto.h"
#include "prh/protocol.h"
#include "prh/scsi_result.h"
#include "prh/sgio.h"
#include "prh/stats.h"

struct cmd;

/* Completion of a command, on the loop thread. */
typedef void (*cmd_done_fn)(struct cmd *cmd);

/* A command in flight (see doc/threads.md for the ownership rules). */
struct cmd {
	struct pool_job job; /* first: the pool's handle */
	/* Set by the loop before submitting; read-only until completion. */
	int devfd;		  /* the client's device fd; closed by run */
	unsigned timeout_ms;	  /* SG_IO timeout */
	unsigned ua_retries;	  /* resends after UNIT ATTENTION (sgio.h) */
	bool guest_pr_off;	  /* --guest-pr-policy=off (prpolicy.h) */
	struct proto_req req;	  /* the parsed CDB */
	uint8_t cdb[PRH_CDB_LEN]; /* the CDB as it came */
	struct device *dev;	  /* the device (registry reference) */
	struct prh_stats *stats;  /* counters the worker adds to */
	struct latency_hist *latency; /* the device's histogram, or NULL */
	atomic_uint *fd_count;	      /* counts devfd; decremented on close */
	uint64_t client; /* its fds' client for the closer (closer.h) */
	/* Written by the worker. */
	struct device_verdict verdict; /* what the policy said */
	struct scsi_result res;	       /* status, size and sense */
	struct sgio_ua ua;	       /* unit attentions resends consumed */
	uint64_t device_ns;	       /* time the device took */
	/* Loop thread only. */
	cmd_done_fn done;	   /* completion; NULL once orphaned */
	cmd_done_fn orphaned;	   /* orphaned and back: its last word */
	void *owner;		   /* for done, or orphaned */
	bool parked;		   /* on dispatch's parked list */
	TAILQ_ENTRY(cmd) link;	   /* dispatch's parked list */
	struct cmd *next_free;	   /* dispatch's free list */
	TAILQ_ENTRY(cmd) dev_link; /* dispatch's list of its device */
	bool on_dev;		   /* on that list */
	uint64_t submit_ns;	   /* when it was submitted (monotonic) */
	/* PR OUT parameter list in, PR IN payload out. */
	uint8_t data[PRH_DATA_MAX];
};

struct closer;

/* Give up the command's device fd, if open, and uncount it: closed here
 * when closer is NULL (a worker, after SG_IO), else handed to the closer
 * (the loop thread, which closes no client's fd itself), which counts it
 * again until its close starts. */
void cmd_close_devfd(struct cmd *cmd, struct closer *closer);

/* Note that backend b serves a command on multipath map dev (any
 * thread): count it in stats, and log one notice when it is the map's
 * first command or the backend differs from its last one's, with why
 * mpath_choose() chose it when why is not "". */
void cmd_note_mpath(struct device *dev, struct prh_stats *stats,
    enum mpath_backend b, const char *why);

/* The worker's part: policy, SG_IO, close the device fd. */
void cmd_run(struct pool_job *job);

#endif
