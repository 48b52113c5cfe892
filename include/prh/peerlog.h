/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Each client's share of the log.
 *
 * A client is what a peer is as far as the log is concerned: its uid
 * and, when its cgroup names one (peer.h), its VM.  Every client has two
 * allowances, kept apart so that neither can be spent on the other:
 *
 *  - commands: the line of every command a worker runs for a PR OUT is
 *    logged in full, whatever came before.  A client that has used up
 *    PEERLOG_CMD_BURST such lines, then PEERLOG_CMD_PER_SEC a second,
 *    is not heard less: its next PR OUT waits for its turn
 *    (peerlog_wait()), so a fencing command can never hide behind
 *    lines, and a client never floods the log through commands either;
 *  - warnings: everything else a client can make the helper say (a
 *    refused peer, a protocol error, a timeout, a device the policy
 *    refuses, the audit line of a request answered without a device or
 *    of a PR IN that failed).  A line passes when the client's allowance
 *    (PEERLOG_WARN_BURST, then PEERLOG_WARN_PER_SEC) and that of its
 *    connection (PEERLOG_CONN_BURST, then PEERLOG_CONN_PER_SEC) both
 *    have room; the first line of each kind a client says passes
 *    anyway.  A line that does not pass is counted, before anything of
 *    it is built, and the count is logged with the client's next line or,
 *    after PEERLOG_QUIET_MS without one, in a line of its own that names
 *    the client (uid, VM) and the last peer (pid, process name) whose
 *    line it was.
 *
 * So one client, however many connections it opens and whatever it
 * sends, puts at most PEERLOG_CMD_BURST + PEERLOG_WARN_BURST +
 * PEERLOG_KINDS lines in the log at once, then PEERLOG_CMD_PER_SEC +
 * PEERLOG_WARN_PER_SEC + 1 (the count) a second.  Lines about a peer
 * refused at accept, before its cgroup is read, are its uid's alone
 * (VM ""), so a process in a VM has that share too, with the other
 * processes of its uid.  A client's allowances outlive its connections
 * for as long as they are not whole again; past PEERLOG_IDLE_MAX clients
 * without a connection, the oldest is forgotten, its count logged first.
 *
 * Loop thread only; see doc/threads.md.
 */
#ifndef PRH_PEERLOG_H
#define PRH_PEERLOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

struct event;
struct event_base;
struct peer;
struct prh_stats;

/* The commands' allowance of a client. */
#define PEERLOG_CMD_BURST    200
#define PEERLOG_CMD_PER_SEC  50
/* The warnings' allowance of a client, and of one connection. */
#define PEERLOG_WARN_BURST   50
#define PEERLOG_WARN_PER_SEC 10
#define PEERLOG_CONN_BURST   20
#define PEERLOG_CONN_PER_SEC 5
/* Clients kept without a connection, at most. */
#define PEERLOG_IDLE_MAX     4096
/* A client whose lines were not logged and that logs nothing for this
 * long gets a line with the count. */
#define PEERLOG_QUIET_MS     1000

/* What a warning is about; the first line of each kind a client says is
 * always logged. */
enum peerlog_kind {
	PEERLOG_REFUSED,  /* the peer was not admitted */
	PEERLOG_SETUP,	  /* its connection could not be set up */
	PEERLOG_PROTOCOL, /* it broke the protocol */
	PEERLOG_TIMEOUT,  /* it took too long to send or to read */
	PEERLOG_POLICY,	  /* the device policy refused its fd */
	PEERLOG_AUDIT,	  /* an audit line of a request run on no device */
	PEERLOG_KINDS
};

struct peerlog;
struct peerlog_client;

/* The allowance arithmetic (GCRA), for lines of the helper's own that a
 * client may cause: whether one more may go at now_ns under a limit of
 * burst at once and per_sec a second, whose state is *tat_ns (0 at
 * first); takes its share if so. */
bool peerlog_rate_take(uint64_t *tat_ns, uint64_t now_ns, unsigned burst,
    unsigned per_sec);

/* A connection's share: its own allowance, its client once known, and
 * the wait of its PR OUT for its turn (peerlog_wait()). */
struct peerlog_conn {
	struct peerlog_client *client; /* NULL until a line needs it */
	uint64_t tat_ns;	       /* GCRA state of the connection */
	struct event *turn;	       /* the wait's timer, once needed */
	void (*turn_fn)(void *arg);    /* called at the turn */
	void *turn_arg;
};

/* How a count of lines not logged goes out: whether it went (a journal
 * that is behind may refuse it).  p is the last peer whose line it was,
 * vm the client's VM or "". */
typedef bool (*peerlog_count_fn)(void *arg, const struct peer *p,
    const char *vm, uint64_t n);

/* Create the table (stats counts the lines not logged): 0 and *out, or
 * -ENOMEM. */
int peerlog_new(struct event_base *base, struct prh_stats *stats,
    struct peerlog **out);

/* Log the counts still owed and free everything. */
void peerlog_free(struct peerlog *pl);

/* Send counts through fn(arg) instead of a plain log line. */
void peerlog_set_count_fn(struct peerlog *pl, peerlog_count_fn fn, void *arg);

/* Start a connection's share. */
void peerlog_conn_init(struct peerlog_conn *lc);

/* The connection is gone: give its client back. */
void peerlog_conn_fini(struct peerlog *pl, struct peerlog_conn *lc);

/* Whether a warning of kind k may be logged now for the peer p of
 * connection lc (NULL: a peer without a connection yet, whose client is
 * its uid alone): takes its share if so, and *carry is the count of the
 * client's lines not logged that the line must carry; if not, the line
 * is counted.  p is described first when lc is given. */
bool peerlog_admit(struct peerlog *pl, struct peerlog_conn *lc, struct peer *p,
    enum peerlog_kind k, uint64_t *carry);

/* A line that was admitted with carry did not go out after all: it is
 * counted as not logged, and it and the carried lines are owed again. */
void peerlog_unsent(struct peerlog *pl, struct peerlog_conn *lc, struct peer *p,
    uint64_t carry);

/* Log a warning of kind k about peer p of connection lc (NULL as in
 * peerlog_admit()) as "[pid P uid U] message", if it is admitted. */
void peerlog_warn(struct peerlog *pl, struct peerlog_conn *lc, struct peer *p,
    enum peerlog_kind k, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* A PR OUT of peer p on connection lc is about to be run on a device,
 * and its line paid for: 0 if it may go now, else how many nanoseconds
 * until its turn, which is taken for it (it goes then without asking
 * again; commands of a client that wait at once get turns one after the
 * other). */
uint64_t
peerlog_command(struct peerlog *pl, struct peerlog_conn *lc, struct peer *p);

/* A PR OUT of peer p on connection lc is about to be run: whether it
 * waits for its turn (peerlog_command()), counted in stats as deferred;
 * then fn(arg) is called at that turn on the loop thread, unless
 * peerlog_wait_cancel() comes first.  false: run it now (also when no
 * timer can be set: its line is logged all the same). */
bool peerlog_wait(struct peerlog *pl, struct peerlog_conn *lc, struct peer *p,
    void (*fn)(void *arg), void *arg);

/* The connection lc no longer waits for its turn (if it did). */
void peerlog_wait_cancel(struct peerlog_conn *lc);

#endif
