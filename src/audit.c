/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The audit trail (see audit.h). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prh/audit.h"
#include "prh/cmd.h"
#include "prh/device.h"
#include "prh/escape.h"
#include "prh/journal.h"
#include "prh/log.h"
#include "prh/peer.h"
#include "prh/peerlog.h"
#include "prh/proto.h"
#include "prh/scsi_text.h"
#include "prh/sgio.h"
#include "prh/stats.h"
#include "prh/trace.h"

#define NS_PER_SEC     1000000000ull
#define AUDIT_TEXT_MAX 2048	  /* the longest names, every byte as \xHH */
#define NO_TIME	       UINT64_MAX /* the device was not asked */

/* MESSAGE_IDs, one per kind of line (documented in qemu-pr-helper(8)). */
static const char *const audit_ids_out[] = {
	"514b38c2970e460cbfeff0c6ca0720c7", /* REGISTER */
	"6918381d5e7b498eb4926140e5e1755c", /* RESERVE */
	"03d6193f452b493aa2b4e4db92ac32ba", /* RELEASE */
	"cb58c5d00c0141e8bfded40504b913e5", /* CLEAR */
	"ee59270baff74d848ff6a4deb1fcdffe", /* PREEMPT */
	"bce8daaf740b4c9e81a88142c916e84c", /* PREEMPT AND ABORT */
	"fdc5b4f5defa49f1a36e8e2cda73efcc", /* REGISTER AND IGNORE ... */
	"81c5ca77c42f4a37b1a751e2b326d128", /* REGISTER AND MOVE */
	"ddb8bb06e6b743c2a38bd99062434d47", /* REPLACE LOST RESERVATION */
};
static const char audit_id_out_other[] = "ef4e4d4eede246b7b80ec57e38e926b1";
const char audit_message_id_in[] = "50beaf4146814badb2412bfa7ca3e3e8";
const char audit_message_id_dropped[] = "52a58d6c94a14b4184c66b83314382dd";

/* The audit trail.  Loop thread only. */
struct audit {
	struct device_registry *devices;
	struct peerlog *peerlog; /* each client's share of the log */
	struct prh_stats *stats;
	int journal_fd; /* native journal socket, or -1 */
};

/* What one line says. */
struct audit_line {
	int prio;
	const char *id; /* MESSAGE_ID */
	struct peer *peer;
	const struct device *dev;	/* the device, or NULL: */
	const struct device_node *node; /* what the fd was */
	const uint8_t *cdb;
	const uint8_t *param;
	uint32_t param_len;
	const struct scsi_result *res;
	const char *refused; /* the helper answered itself: why */
	uint64_t device_ns;  /* time the device took, or NO_TIME */
	uint64_t dropped;    /* the client's lines not logged before */
	const struct sgio_ua
	    *ua; /* unit attentions resends consumed, or NULL */
};

/* The MESSAGE_ID of a PR OUT service action. */
const char *
audit_message_id_out(uint8_t sa)
{
	return sa < sizeof(audit_ids_out) / sizeof(audit_ids_out[0])
	    ? audit_ids_out[sa]
	    : audit_id_out_other;
}

/* --- the line's text ------------------------------------------------------ */

/* Append printf output at *off in buf (cut at len). */
static void __attribute__((format(printf, 4, 5)))
audit_cat(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off + 1 >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n < len - *off ? (size_t)n : len - *off - 1;
}

/* Big-endian 64-bit value at p. */
static uint64_t
audit_be64(const uint8_t *p)
{
	return (uint64_t)proto_get_be32(p) << 32 | proto_get_be32(p + 4);
}

/* Whether a PR OUT service action takes a type (RESERVE, RELEASE,
 * PREEMPT, PREEMPT AND ABORT, REGISTER AND MOVE, REPLACE LOST
 * RESERVATION, and any SPC does not define). */
static bool
audit_sa_has_type(uint8_t sa)
{
	return sa == 1 || sa == 2 || sa == 4 || sa == 5 || sa >= 7;
}

/* Whether a PR OUT service action uses the reservation key (all but
 * REGISTER AND IGNORE EXISTING KEY). */
static bool
audit_sa_has_key(uint8_t sa)
{
	return sa != 6;
}

/* Whether a PR OUT service action uses the service action key (all but
 * RESERVE, RELEASE and CLEAR). */
static bool
audit_sa_has_sa_key(uint8_t sa)
{
	return sa == 0 || sa >= 4;
}

/* The reservation type of a PR OUT in words ("we", or "0x9"). */
static const char *
audit_type_name(const struct audit_line *l, char *buf, size_t len)
{
	unsigned type = l->cdb[2] & 0x0f;
	const char *name = scsi_pr_type_name(type);

	if (name != NULL)
		return name;
	snprintf(buf, len, "0x%x", type);
	return buf;
}

/* Append the name s at *off in buf (cut at len), escaped (escape.h):
 * names hold whatever bytes the kernel, the storage or the peer gave. */
static void
audit_cat_name(char *buf, size_t len, size_t *off, const char *s,
    unsigned flags)
{
	if (*off + 1 >= len)
		return;
	*off += escape_bytes(buf + *off, len - *off, s, strlen(s), flags, NULL);
}

/* The peer in words: "[pid P uid U vm NAME comm COMM]".  The names are
 * the peer's own choice: one word each. */
static void
audit_fmt_peer(const struct peer *p, char *buf, size_t len, size_t *off)
{
	audit_cat(buf, len, off, "[pid %d uid %u", (int)p->pid,
	    (unsigned)p->uid);
	if (p->kind == PEER_VM || p->kind == PEER_UNIT) {
		audit_cat(buf, len, off, " %s ",
		    p->kind == PEER_VM ? "vm" : "unit");
		audit_cat_name(buf, len, off, p->name, ESCAPE_WORD);
	}
	if (p->comm[0] != '\0') {
		audit_cat(buf, len, off, " comm ");
		audit_cat_name(buf, len, off, p->comm, ESCAPE_WORD);
	}
	audit_cat(buf, len, off, "]");
}

/* A device of the registry in words: "sdb 8:16 wwid W". */
static void
audit_fmt_dev(const struct device *d, char *buf, size_t len, size_t *off)
{
	audit_cat_name(buf, len, off, d->name, ESCAPE_TEXT);
	audit_cat(buf, len, off, " %u:%u", d->node.major, d->node.minor);
	if (d->wwid[0] != '\0') {
		audit_cat(buf, len, off, " wwid ");
		audit_cat_name(buf, len, off, d->wwid, ESCAPE_TEXT);
	}
}

/* The device in words (audit_fmt_dev), or what the fd was. */
static void
audit_fmt_device(const struct audit_line *l, char *buf, size_t len, size_t *off)
{
	const struct device_node *n = l->node;

	if (l->dev != NULL) {
		audit_fmt_dev(l->dev, buf, len, off);
	} else if (n->type == DEVICE_OTHER) {
		audit_cat(buf, len, off, "%s %u:%u inode %llu",
		    device_node_what(n), n->major, n->minor,
		    (unsigned long long)n->ino);
	} else {
		audit_cat(buf, len, off, "%s %u:%u", device_node_what(n),
		    n->major, n->minor);
	}
}

/* The unit attentions that resends of the command consumed:
 * "; sent again after UNIT ATTENTION 2A/05 (registrations preempted)". */
static void
audit_fmt_ua(const struct sgio_ua *ua, char *buf, size_t len, size_t *off)
{
	const char *name;
	uint8_t asc, ascq;

	for (unsigned i = 0; ua != NULL && i < ua->n; i++) {
		asc = (uint8_t)(ua->code[i] >> 8);
		ascq = (uint8_t)ua->code[i];
		name = scsi_asc_name(asc, ascq);
		audit_cat(buf, len, off, "%s%02X/%02X",
		    i == 0 ? "; sent again after UNIT ATTENTION " : ", ", asc,
		    ascq);
		if (name[0] != '\0')
			audit_cat(buf, len, off, " (%s)", name);
	}
}

/* The whole text of a command's line. */
static void
audit_format(const struct audit_line *l, char *buf, size_t len)
{
	bool out = l->cdb[0] == PRH_OP_PR_OUT;
	uint8_t sa = l->cdb[1] & 0x1f;
	const char *name = scsi_pr_action_name(out, sa);
	char words[256], tbuf[8];
	const char *sep;
	size_t off = 0;

	buf[0] = '\0';
	audit_fmt_peer(l->peer, buf, len, &off);
	audit_cat(buf, len, &off, " PR %s ", out ? "OUT" : "IN");
	if (name != NULL)
		audit_cat(buf, len, &off, "%s ", name);
	else
		audit_cat(buf, len, &off, "service action 0x%02x ", sa);
	audit_fmt_device(l, buf, len, &off);
	sep = ":";
	if (out && audit_sa_has_key(sa) && l->param_len >= 8) {
		audit_cat(buf, len, &off, "%s key 0x%llx", sep,
		    (unsigned long long)audit_be64(l->param));
		sep = ",";
	}
	if (out && audit_sa_has_sa_key(sa) && l->param_len >= 16) {
		audit_cat(buf, len, &off, "%s service action key 0x%llx", sep,
		    (unsigned long long)audit_be64(l->param + 8));
		sep = ",";
	}
	if (out && audit_sa_has_type(sa)) {
		audit_cat(buf, len, &off, "%s type %s", sep,
		    audit_type_name(l, tbuf, sizeof(tbuf)));
		sep = ",";
	}
	if (out && (l->cdb[2] >> 4) != 0)
		audit_cat(buf, len, &off, "%s scope %u", sep, l->cdb[2] >> 4);
	if (l->refused != NULL)
		audit_cat(buf, len, &off, ": refused (%s)", l->refused);
	scsi_status_words(l->res->status, l->res->sense, words, sizeof(words));
	audit_cat(buf, len, &off, ": %s", words);
	if (l->device_ns != NO_TIME)
		audit_cat(buf, len, &off, ", %llu us",
		    (unsigned long long)(l->device_ns / 1000));
	audit_fmt_ua(l->ua, buf, len, &off);
	if (l->dropped > 0)
		audit_cat(buf, len, &off,
		    " (%llu earlier line%s of this client not logged)",
		    (unsigned long long)l->dropped, l->dropped == 1 ? "" : "s");
}

/* --- the journal entry ---------------------------------------------------- */

_Static_assert(DEVICE_WWID_MAX >= DEVICE_NAME_MAX &&
	DEVICE_WWID_MAX >= PEER_NAME_MAX && DEVICE_WWID_MAX >= PEER_COMM_MAX,
    "audit_add_name() holds the longest name");

/* Add field name with the name s escaped (escape.h) as its value. */
static void
audit_add_name(struct journal_entry *e, const char *name, const char *s)
{
	char buf[ESCAPE_TEXT_SIZE(DEVICE_WWID_MAX)]; /* the longest name */

	journal_add(e, name, escape_str(buf, sizeof(buf), s, ESCAPE_TEXT));
}

/* The peer's fields. */
static void
audit_peer_fields(struct journal_entry *e, const struct peer *p)
{
	journal_addf(e, "PRH_PEER_PID", "%d", (int)p->pid);
	journal_addf(e, "PRH_PEER_UID", "%u", (unsigned)p->uid);
	if (p->kind == PEER_VM)
		audit_add_name(e, "PRH_PEER_VM", p->name);
	else if (p->kind == PEER_UNIT)
		audit_add_name(e, "PRH_PEER_UNIT", p->name);
	if (p->comm[0] != '\0')
		audit_add_name(e, "PRH_PEER_COMM", p->comm);
	/* journald adds the trusted OBJECT_* fields of the peer when the
	 * helper may see them. */
	if (p->pid > 0)
		journal_addf(e, "OBJECT_PID", "%d", (int)p->pid);
}

/* The device's fields, or what the fd was (n, only looked at when d is
 * NULL). */
static void
audit_device_fields(struct journal_entry *e, const struct device *d,
    const struct device_node *n)
{
	if (d != NULL) {
		audit_add_name(e, "PRH_DEVICE", d->name);
		journal_addf(e, "PRH_DEVNO", "%u:%u", d->node.major,
		    d->node.minor);
		if (d->wwid[0] != '\0')
			audit_add_name(e, "PRH_WWID", d->wwid);
		return;
	}
	journal_add(e, "PRH_FILE_TYPE", device_node_what(n));
	journal_addf(e, "PRH_DEVNO", "%u:%u", n->major, n->minor);
	if (n->type == DEVICE_OTHER)
		journal_addf(e, "PRH_INODE", "%llu",
		    (unsigned long long)n->ino);
}

/* The fields every entry starts with. */
static void
audit_head_fields(struct journal_entry *e, const char *text, const char *id,
    int prio)
{
	journal_entry_init(e);
	journal_add(e, "MESSAGE", text);
	journal_add(e, "MESSAGE_ID", id);
	journal_addf(e, "PRIORITY", "%d", prio);
	journal_add(e, "SYSLOG_IDENTIFIER", "qemu-pr-helper");
}

/* PRH_UA_RETRIED: the ASC/ASCQ of each unit attention resends consumed
 * ("2a/05", space-separated), when there was one. */
static void
audit_ua_field(struct journal_entry *e, const struct sgio_ua *ua)
{
	char buf[SGIO_UA_RETRIES_MAX * 6];
	size_t off = 0;

	if (ua == NULL || ua->n == 0)
		return;
	for (unsigned i = 0; i < ua->n; i++)
		audit_cat(buf, sizeof(buf), &off, "%s%02x/%02x",
		    i == 0 ? "" : " ", ua->code[i] >> 8, ua->code[i] & 0xff);
	journal_add(e, "PRH_UA_RETRIED", buf);
}

/* A command's entry. */
static void
audit_fields(struct journal_entry *e, const struct audit_line *l,
    const char *text)
{
	bool out = l->cdb[0] == PRH_OP_PR_OUT;
	uint8_t sa = l->cdb[1] & 0x1f, key, asc, ascq;
	const char *name = scsi_pr_action_name(out, sa);
	const char *status = scsi_status_name(l->res->status);
	char tbuf[8];

	audit_head_fields(e, text, l->id, l->prio);
	audit_peer_fields(e, l->peer);
	audit_device_fields(e, l->dev, l->node);
	journal_add(e, "PRH_COMMAND", out ? "PR OUT" : "PR IN");
	if (name != NULL)
		journal_add(e, "PRH_SERVICE_ACTION", name);
	else
		journal_addf(e, "PRH_SERVICE_ACTION", "0x%02x", sa);
	if (out && audit_sa_has_type(sa))
		journal_add(e, "PRH_TYPE",
		    audit_type_name(l, tbuf, sizeof(tbuf)));
	if (out && (l->cdb[2] >> 4) != 0)
		journal_addf(e, "PRH_SCOPE", "%u", l->cdb[2] >> 4);
	if (out && audit_sa_has_key(sa) && l->param_len >= 8)
		journal_addf(e, "PRH_KEY", "0x%llx",
		    (unsigned long long)audit_be64(l->param));
	if (out && audit_sa_has_sa_key(sa) && l->param_len >= 16)
		journal_addf(e, "PRH_SA_KEY", "0x%llx",
		    (unsigned long long)audit_be64(l->param + 8));
	if (status != NULL)
		journal_add(e, "PRH_STATUS", status);
	else
		journal_addf(e, "PRH_STATUS", "0x%02x",
		    (unsigned)l->res->status);
	if (l->res->status == PRH_STATUS_CHECK_CONDITION) {
		scsi_sense_codes(l->res->sense, &key, &asc, &ascq);
		journal_addf(e, "PRH_SENSE", "%02x/%02x/%02x", key, asc, ascq);
		journal_addf(e, "PRH_SENSE_TEXT", "%s, %s",
		    scsi_sense_key_name(key), scsi_asc_name(asc, ascq));
	}
	if (l->refused != NULL)
		journal_add(e, "PRH_REFUSED", l->refused);
	audit_ua_field(e, l->ua);
	if (l->device_ns != NO_TIME)
		journal_addf(e, "PRH_DURATION_US", "%llu",
		    (unsigned long long)(l->device_ns / 1000));
	if (l->dropped > 0)
		journal_addf(e, "PRH_SUPPRESSED", "%llu",
		    (unsigned long long)l->dropped);
}

/* --- emitting ------------------------------------------------------------- */

/* Send a line out: the entry e to the journal (the line's text is its
 * MESSAGE), or with e NULL (no journal), or when the journal will not
 * take it, the text the usual way.  Whether it went out (a journal that
 * is behind drops it, unless must says it goes the usual way then); a
 * line that went out is counted. */
static bool
audit_out(struct audit *a, const struct journal_entry *e, int prio,
    const char *text, bool must)
{
	int r = e != NULL ? journal_send(a->journal_fd, e) : -ENOTCONN;

	if ((r == -EAGAIN || r == -ENOBUFS) && !must)
		return false;
	if (r < 0)
		log_msg(prio, "%s", text);
	STATS_INC(a->stats->audit_lines);
	return true;
}

/* Log one command's line (must: whatever the journal says): whether it
 * went out. */
static bool
audit_emit(struct audit *a, const struct audit_line *l, bool must)
{
	char text[AUDIT_TEXT_MAX];
	struct journal_entry e;

	peer_describe(l->peer);
	audit_format(l, text, sizeof(text));
	if (a->journal_fd < 0)
		return audit_out(a, NULL, l->prio, text, must);
	audit_fields(&e, l, text);
	return audit_out(a, &e, l->prio, text, must);
}

/* peerlog's count line: n lines of the client of peer p (its VM vm) not
 * logged, as an entry of its own; whether it went out. */
static bool
audit_count_line(void *arg, const struct peer *p, const char *vm, uint64_t n)
{
	struct audit *a = arg;
	char text[AUDIT_TEXT_MAX];
	struct journal_entry e;
	size_t off = 0;

	(void)vm; /* p names it too: the client is its uid and VM */
	audit_fmt_peer(p, text, sizeof(text), &off);
	audit_cat(text, sizeof(text), &off,
	    " %llu line%s of this client not logged (rate limit)",
	    (unsigned long long)n, n == 1 ? "" : "s");
	if (a->journal_fd < 0)
		return audit_out(a, NULL, LOG_NOTICE, text, false);
	audit_head_fields(&e, text, audit_message_id_dropped, LOG_NOTICE);
	audit_peer_fields(&e, p);
	journal_addf(&e, "PRH_SUPPRESSED", "%llu", (unsigned long long)n);
	return audit_out(a, &e, LOG_NOTICE, text, false);
}

/* Log a line of the client's warnings' share (see peerlog.h) that
 * peerlog_admit() let through with l->dropped to carry. */
static void
audit_log_shared(struct audit *a, struct peerlog_conn *lc, struct audit_line *l)
{
	if (!audit_emit(a, l, false)) /* owed again, and counted */
		peerlog_unsent(a->peerlog, lc, l->peer, l->dropped);
}

/* --- the hooks ------------------------------------------------------------ */

/* The priority of a command's line: failures are warnings, the rest of
 * PR OUT, and of commands whose resends consumed a unit attention (ua),
 * notices, the rest of PR IN for -v. */
static int
audit_prio(bool out, uint32_t status, bool ua)
{
	if (status != PRH_STATUS_GOOD &&
	    status != PRH_STATUS_RESERVATION_CONFLICT)
		return LOG_WARNING;
	return out || ua ? LOG_NOTICE : LOG_INFO;
}

/* Fill the parts of a line that every command has: the peer, the CDB
 * and parameter list of cmd, and the answer res. */
static void
audit_line_init(struct audit_line *l, struct peer *peer, const struct cmd *cmd,
    const struct scsi_result *res, int prio)
{
	memset(l, 0, sizeof(*l));
	l->prio = prio;
	l->id = cmd->req.is_out ? audit_message_id_out(cmd->req.service_action)
				: audit_message_id_in;
	l->peer = peer;
	l->cdb = cmd->cdb;
	l->param = cmd->data;
	l->param_len = cmd->req.is_out ? cmd->req.len : 0;
	l->res = res;
	l->device_ns = NO_TIME;
}

/* A request is complete and its client waits for the answer: name the
 * peer now, once per connection, while it surely is there to be looked
 * at (a short-lived client may be gone by the time its command is back),
 * unless no line could be shown. */
void
audit_request(struct audit *a, struct peer *peer)
{
	if (a != NULL && !peer->described && log_wants(LOG_WARNING))
		peer_describe(peer);
}

/* A command is back from its worker. */
void
audit_command(struct audit *a, struct peerlog_conn *lc, struct peer *peer,
    const struct cmd *cmd)
{
	struct audit_line l;
	int prio;

	if (a == NULL)
		return;
	prio = audit_prio(cmd->req.is_out, cmd->res.status, cmd->ua.n > 0);
	if (!log_wants(prio))
		return;
	audit_line_init(&l, peer, cmd, &cmd->res, prio);
	l.ua = &cmd->ua;
	l.dev = cmd->dev;
	l.node = &cmd->dev->node;
	if (cmd->verdict.kind == DEVICE_REFUSED)
		l.refused = cmd->verdict.why;
	else
		l.device_ns = cmd->device_ns;
	if (cmd->req.is_out)
		(void)audit_emit(a, &l, true); /* paid for at submission */
	else if (peerlog_admit(a->peerlog, lc, peer, PEERLOG_AUDIT, &l.dropped))
		audit_log_shared(a, lc, &l);
}

/* What an orphaned command needs to be logged when it is back. */
struct audit_orphan {
	struct audit *audit;
	struct peer peer;
};

/* dispatch's last word on an orphaned command: its line. */
static void
audit_orphan_done(struct cmd *cmd)
{
	struct audit_orphan *o = cmd->owner;

	audit_command(o->audit, NULL, &o->peer, cmd);
	free(o);
}

/* The connection of a command in flight went. */
void
audit_orphan(struct audit *a, const struct peer *peer, struct cmd *cmd)
{
	struct audit_orphan *o;

	if (a == NULL || (o = malloc(sizeof(*o))) == NULL)
		return;
	o->audit = a;
	o->peer = *peer;
	cmd->orphaned = audit_orphan_done;
	cmd->owner = o;
}

/* A request was answered without a worker. */
void
audit_answered(struct audit *a, struct peerlog_conn *lc, struct peer *peer,
    const struct device_node *node, const struct cmd *cmd,
    const struct scsi_result *res, const char *why)
{
	struct audit_line l;
	struct device *got = NULL;
	uint64_t dropped;
	int prio;

	if (a == NULL)
		return;
	prio = audit_prio(cmd->req.is_out, res->status, false);
	/* Counted, and not even built, when the client has no room. */
	if (!log_wants(prio) ||
	    !peerlog_admit(a->peerlog, lc, peer, PEERLOG_AUDIT, &dropped))
		return;
	audit_line_init(&l, peer, cmd, res, prio);
	l.dropped = dropped;
	l.refused = why;
	l.node = node;
	l.dev = cmd->dev;
	/* A device node not looked up yet (PR OUT on a read-only fd): name
	 * it as the registry does. */
	if (l.dev == NULL && node->type != DEVICE_OTHER)
		l.dev = got = devreg_get(a->devices, node);
	audit_log_shared(a, lc, &l);
	if (got != NULL)
		devreg_put(a->devices, got);
}

/* The device policy refused the fd of a request (node, a what, named
 * name or unnamed): log it once per connection. */
void
audit_refused(struct audit *a, struct peerlog_conn *lc, struct peer *peer,
    const struct device_node *n, const char *what, const char *name,
    bool *logged)
{
	char esc[ESCAPE_TEXT_SIZE(DEVICE_NAME_MAX)];

	if (a == NULL || *logged)
		return;
	*logged = true;
	if (n->type == DEVICE_OTHER)
		peerlog_warn(a->peerlog, lc, peer, PEERLOG_POLICY,
		    "refused a %s (dev %u:%u inode %llu): not a SCSI device; "
		    "answered without SG_IO (ABORTED COMMAND)",
		    what, n->major, n->minor, (unsigned long long)n->ino);
	else
		peerlog_warn(a->peerlog, lc, peer, PEERLOG_POLICY,
		    "refused %s (%u:%u): a %s; answered without SG_IO "
		    "(ABORTED COMMAND)",
		    escape_str(esc, sizeof(esc), name, ESCAPE_TEXT), n->major,
		    n->minor, what);
}

/* --- life cycle ----------------------------------------------------------- */

/* Create the audit trail. */
int
audit_new(struct device_registry *devices, struct peerlog *peerlog,
    struct prh_stats *stats, struct audit **out)
{
	struct audit *a = calloc(1, sizeof(*a));

	*out = NULL;
	if (a == NULL)
		return -ENOMEM;
	a->devices = devices;
	a->peerlog = peerlog;
	a->stats = stats;
	a->journal_fd = -1;
	if (log_destination() == LOG_TO_JOURNAL) {
		a->journal_fd = journal_open();
		if (a->journal_fd < 0)
			log_warn("audit trail: no socket for the journal (%s): "
				 "plain lines instead",
			    strerror(-a->journal_fd));
	}
	if (peerlog != NULL)
		peerlog_set_count_fn(peerlog, audit_count_line, a);
	*out = a;
	return 0;
}

/* Free (after the peerlog, which logs its last counts through it). */
void
audit_free(struct audit *a)
{
	if (a == NULL)
		return;
	if (a->journal_fd >= 0)
		close(a->journal_fd);
	free(a);
}
