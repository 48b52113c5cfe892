/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The audit trail: who sent which reservation command to which LUN, and
 * what came of it.
 *
 * One line per PR OUT (the fencing itself: REGISTER, RESERVE, PREEMPT,
 * ...), and one per PR command of any kind that ends in a status other
 * than GOOD or RESERVATION CONFLICT; a PR IN that succeeds is logged only
 * with -v.  A line names the peer (pid, uid, the VM or systemd unit its
 * cgroup names, the process name: peer_describe(), once per connection,
 * at its first request),
 * the device (kernel name, major:minor, wwid), the service action, type
 * and the keys it uses, the status with the sense in words, and the time the device
 * took.  Under journald (stderr is a journal stream) the line is a native
 * journal entry with a fixed MESSAGE_ID per kind of event and PRH_*
 * fields; with -d a syslog line; else a stderr line (log.c).
 *
 * Lines are rate-limited per device and in all, before anything is
 * formatted: a line not logged is counted, and the count goes with the
 * device's next line, or, when none comes within a second, in a line of
 * its own (and at exit), so nothing is lost without a trace.
 *
 * Loop thread only.  The hooks are called by conn.c when a command is
 * back (audit_command()) or was answered without a worker
 * (audit_answered()); a NULL struct audit makes them no-ops.
 */
#ifndef PRH_AUDIT_H
#define PRH_AUDIT_H

#include <stdint.h>

struct cmd;
struct device_node;
struct device_registry;
struct event_base;
struct peer;
struct prh_stats;
struct scsi_result;

/* Lines a device may have logged in a burst, and the rate they come back
 * at; lines of every device together likewise. */
#define AUDIT_DEV_BURST	  20
#define AUDIT_DEV_PER_SEC 5
#define AUDIT_ALL_BURST	  200
#define AUDIT_ALL_PER_SEC 100
/* A device whose lines were not logged and that logs nothing for this
 * long gets a line with the count. */
#define AUDIT_QUIET_MS	  1000

struct audit;

/* Create the audit trail (stats counts its lines): 0 and *out, or a
 * negative errno. */
int audit_new(struct event_base *base, struct device_registry *devices,
    struct prh_stats *stats, struct audit **out);

/* Log the counts still owed, drop the references held and free. */
void audit_free(struct audit *a);

/* A request is complete (its client waits for the answer): find out who
 * the peer is, if not yet done and a line may need it. */
void audit_request(struct audit *a, struct peer *peer);

/* A command is back from its worker: log it if it is to be. */
void audit_command(struct audit *a, struct peer *peer, const struct cmd *cmd);

/* A request was answered without a worker (res), for the reason why:
 * log it.  node is what the request's fd was; cmd holds its CDB and
 * parameter list. */
void audit_answered(struct audit *a, struct peer *peer,
    const struct device_node *node, const struct cmd *cmd,
    const struct scsi_result *res, const char *why);

/* The MESSAGE_ID of a PR OUT service action (0-8; other values share
 * one), of PR IN, and of a count of lines not logged. */
const char *audit_message_id_out(uint8_t sa);
extern const char audit_message_id_in[];
extern const char audit_message_id_dropped[];

#endif
