/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The audit trail: who sent which reservation command to which LUN, and
 * what came of it.
 *
 * One line per PR OUT (the fencing itself: REGISTER, RESERVE, PREEMPT,
 * ...), and one per PR command of any kind that ends in a status other
 * than GOOD or RESERVATION CONFLICT; a PR IN that succeeds is logged only
 * with -v, unless it was sent again after a unit attention (sgio.h): the
 * line then names each unit attention.  A line names the peer (pid, uid,
 * the VM or systemd unit its cgroup names, the process name:
 * peer_describe(), once per connection, at its first request),
 * the device (kernel name, major:minor, wwid), the service action, type
 * and the keys it uses, the status with the sense in words, and the time the device
 * took.  Under journald (stderr is a journal stream) the line is a native
 * journal entry with a fixed MESSAGE_ID per kind of event and PRH_*
 * fields; with -d a syslog line; else a stderr line (log.c).
 *
 * What a client may put in the trail is its share of the log
 * (peerlog.h): the line of every PR OUT a worker ran is logged in full,
 * always (the client's PR OUT waited for room before it was submitted,
 * and a journal that is behind gets the line on stderr instead); the
 * other lines (a PR IN that failed, a request answered without a
 * device) come out of the client's warnings' share, and a line that does
 * not fit is counted before anything of it is formatted.  The counts
 * come out as lines of the trail too (MESSAGE_ID audit_message_id_dropped
 * and the peer's fields), so nothing is lost without a trace.
 *
 * Loop thread only.  The hooks are called by conn.c when a command is
 * back (audit_command()), was answered without a worker
 * (audit_answered()) or met the device policy's refusal
 * (audit_refused()); a NULL struct audit makes them no-ops.
 */
#ifndef PRH_AUDIT_H
#define PRH_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

struct cmd;
struct device_node;
struct device_registry;
struct peer;
struct peerlog;
struct peerlog_conn;
struct prh_stats;
struct scsi_result;

struct audit;

/* Create the audit trail (stats counts its lines), whose lines other than
 * PR OUT's are each client's share of peerlog (NULL: no limit) and which
 * logs peerlog's counts: 0 and *out, or a negative errno. */
int audit_new(struct device_registry *devices, struct peerlog *peerlog,
    struct prh_stats *stats, struct audit **out);

/* Free, after the peerlog given to audit_new(): peerlog_free() logs its
 * last counts through the audit. */
void audit_free(struct audit *a);

/* A request is complete (its client waits for the answer): find out who
 * the peer is, if not yet done and a line may need it. */
void audit_request(struct audit *a, struct peer *peer);

/* A command of peer on connection lc is back from its worker: log it if
 * it is to be. */
void audit_command(struct audit *a, struct peerlog_conn *lc, struct peer *peer,
    const struct cmd *cmd);

/* The connection of peer went while its command cmd was in flight, and
 * dispatch keeps cmd until it is back (dispatch_abandon()): log it then,
 * as if the connection were there (every PR OUT that ran is logged). */
void audit_orphan(struct audit *a, const struct peer *peer, struct cmd *cmd);

/* A request of peer on connection lc was answered without a worker
 * (res), for the reason why: log it.  node is what the request's fd was;
 * cmd holds its CDB and parameter list. */
void audit_answered(struct audit *a, struct peerlog_conn *lc, struct peer *peer,
    const struct device_node *node, const struct cmd *cmd,
    const struct scsi_result *res, const char *why);

/* The device policy refused the fd of a request of peer on connection
 * lc: node is what the fd is, what the policy's word for it (a partition,
 * ...), name its kernel name (NULL: not a device node).  Logged once per
 * connection, out of its client's warnings' share: *logged is the
 * connection's flag (the refusal itself is counted where it is made). */
void audit_refused(struct audit *a, struct peerlog_conn *lc, struct peer *peer,
    const struct device_node *n, const char *what, const char *name,
    bool *logged);

/* The MESSAGE_ID of a PR OUT service action (0-8; other values share
 * one), of PR IN, and of a count of lines not logged. */
const char *audit_message_id_out(uint8_t sa);
extern const char audit_message_id_in[];
extern const char audit_message_id_dropped[];

#endif
