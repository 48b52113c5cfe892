/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Each client's share of the log (see peerlog.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "prh/escape.h"
#include "prh/log.h"
#include "prh/peer.h"
#include "prh/peerlog.h"
#include "prh/stats.h"
#include "prh/trace.h"

#define NS_PER_SEC	1000000000ull
#define PEERLOG_BUCKETS 1024 /* a power of two */

/* One client: a uid, and the VM its cgroup names or "". */
struct peerlog_client {
	TAILQ_ENTRY(peerlog_client) hash_link; /* its bucket's chain */
	TAILQ_ENTRY(peerlog_client) idle_link; /* pl->idle, while refs == 0 */
	TAILQ_ENTRY(peerlog_client) owe_link;  /* pl->owing, while dropped */
	unsigned refs;			       /* connections holding it */
	uid_t uid;
	char vm[PEER_NAME_MAX];
	uint64_t cmd_tat_ns;  /* GCRA state of the commands' allowance */
	uint64_t warn_tat_ns; /* GCRA state of the warnings' allowance */
	unsigned kinds_seen;  /* kinds it has had a line of (bits) */
	uint64_t dropped;     /* lines not logged since the last count */
	uint64_t last_drop_ns;
	struct peer last; /* the peer of the last line not logged */
};

TAILQ_HEAD(peerlog_list, peerlog_client);

/* The table.  Loop thread only. */
struct peerlog {
	struct event_base *base;
	struct prh_stats *stats;
	struct event *timer; /* counts owed, idle clients */
	struct peerlog_list buckets[PEERLOG_BUCKETS];
	struct peerlog_list idle;  /* oldest first */
	struct peerlog_list owing; /* clients owed a count */
	unsigned nidle;
	peerlog_count_fn count_fn;
	void *count_arg;
	/* Used when a client cannot be allocated: lines are still limited. */
	struct peerlog_client fallback;
};

static bool peerlog_emit_count(struct peerlog *pl, struct peerlog_client *c);
static uint64_t peerlog_settle(struct peerlog *pl, struct peerlog_client *c);

/* --- allowances ----------------------------------------------------------- */

/* GCRA: whether a line may go at now under a limit of burst lines at
 * per_sec a second whose state is *tat; takes its share if so. */
bool
peerlog_rate_take(uint64_t *tat, uint64_t now, unsigned burst, unsigned per_sec)
{
	uint64_t t = NS_PER_SEC / per_sec, start = *tat > now ? *tat : now;

	if (start - now > (uint64_t)(burst - 1) * t)
		return false;
	*tat = start + t;
	return true;
}

/* Whether both allowances a and b conform at now; takes from both if
 * so (a line of a connection must pass its own and its client's). */
static bool
peerlog_take2(uint64_t *a, unsigned ab, unsigned ar, uint64_t *b, unsigned bb,
    unsigned br, uint64_t now)
{
	uint64_t a0 = *a;

	if (!peerlog_rate_take(a, now, ab, ar))
		return false;
	if (peerlog_rate_take(b, now, bb, br))
		return true;
	*a = a0;
	return false;
}

/* Whether a client's allowances are whole again at now and it owes
 * nothing: it can be forgotten without anyone gaining. */
static bool
peerlog_whole(const struct peerlog_client *c, uint64_t now)
{
	return c->cmd_tat_ns <= now && c->warn_tat_ns <= now && c->dropped == 0;
}

/* --- the table ------------------------------------------------------------ */

/* The bucket of (uid, vm). */
static struct peerlog_list *
peerlog_bucket(struct peerlog *pl, uid_t uid, const char *vm)
{
	uint32_t h = 2166136261u ^ (uint32_t)uid;

	h *= 16777619u;
	for (; *vm != '\0'; vm++)
		h = (h ^ (unsigned char)*vm) * 16777619u;
	return &pl->buckets[h & (PEERLOG_BUCKETS - 1)];
}

/* Forget client c (no connection holds it, nothing is owed). */
static void
peerlog_forget(struct peerlog *pl, struct peerlog_client *c)
{
	TAILQ_REMOVE(peerlog_bucket(pl, c->uid, c->vm), c, hash_link);
	TAILQ_REMOVE(&pl->idle, c, idle_link);
	pl->nidle--;
	free(c);
}

/* Arm the timer unless it is pending. */
static void
peerlog_arm(struct peerlog *pl)
{
	struct timeval tv = { PEERLOG_QUIET_MS / 1000,
		(PEERLOG_QUIET_MS % 1000) * 1000 };

	if (!evtimer_pending(pl->timer, NULL))
		evtimer_add(pl->timer, &tv);
}

/* The client of peer p (its VM only once described), found or made,
 * with a reference: never NULL (the fallback when memory is short). */
static struct peerlog_client *
peerlog_get(struct peerlog *pl, const struct peer *p)
{
	const char *vm = p->described && p->kind == PEER_VM ? p->name : "";
	struct peerlog_list *b = peerlog_bucket(pl, p->uid, vm);
	struct peerlog_client *c;

	TAILQ_FOREACH (c, b, hash_link)
		if (c->uid == p->uid && strcmp(c->vm, vm) == 0)
			break;
	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			pl->fallback.refs++;
			return &pl->fallback;
		}
		c->uid = p->uid;
		snprintf(c->vm, sizeof(c->vm), "%s", vm);
		TAILQ_INSERT_HEAD(b, c, hash_link);
	} else if (c->refs == 0) {
		TAILQ_REMOVE(&pl->idle, c, idle_link);
		pl->nidle--;
	}
	c->refs++;
	return c;
}

/* Give back a reference to c; a client without connections is kept on
 * the idle list until its allowances are whole again (the timer), the
 * oldest forgotten first past PEERLOG_IDLE_MAX. */
static void
peerlog_put(struct peerlog *pl, struct peerlog_client *c)
{
	struct peerlog_client *old;

	if (--c->refs > 0 || c == &pl->fallback)
		return;
	TAILQ_INSERT_TAIL(&pl->idle, c, idle_link);
	pl->nidle++;
	if (peerlog_whole(c, trace_now_ns())) {
		peerlog_forget(pl, c);
		return;
	}
	while (pl->nidle > PEERLOG_IDLE_MAX &&
	    (old = TAILQ_FIRST(&pl->idle)) != NULL) {
		if (old->dropped > 0) {
			(void)peerlog_emit_count(pl, old);
			(void)peerlog_settle(pl, old);
		}
		peerlog_forget(pl, old);
	}
	peerlog_arm(pl);
}

/* The client of a line: lc's (described and looked up once), or, for a
 * peer without a connection, its uid's with a reference the caller
 * gives back. */
static struct peerlog_client *
peerlog_client_of(struct peerlog *pl, struct peerlog_conn *lc, struct peer *p)
{
	if (lc == NULL)
		return peerlog_get(pl, p);
	if (lc->client == NULL) {
		peer_describe(p);
		lc->client = peerlog_get(pl, p);
	}
	return lc->client;
}

/* Give back what peerlog_client_of() lent for a peer without a
 * connection. */
static void
peerlog_client_done(struct peerlog *pl, struct peerlog_conn *lc,
    struct peerlog_client *c)
{
	if (lc == NULL)
		peerlog_put(pl, c);
}

/* --- counts --------------------------------------------------------------- */

/* Count n lines of client c (the last of peer p) as not logged, of
 * which fresh were not counted in the statistics before. */
static void
peerlog_drop(struct peerlog *pl, struct peerlog_client *c, const struct peer *p,
    uint64_t n, uint64_t fresh)
{
	if (c->dropped == 0)
		TAILQ_INSERT_TAIL(&pl->owing, c, owe_link);
	c->dropped += n;
	c->last_drop_ns = trace_now_ns();
	c->last = *p;
	STATS_ADD(pl->stats->audit_dropped, fresh);
	peerlog_arm(pl);
}

/* Nothing is owed to c any more; the count it had. */
static uint64_t
peerlog_settle(struct peerlog *pl, struct peerlog_client *c)
{
	uint64_t n = c->dropped;

	if (n > 0)
		TAILQ_REMOVE(&pl->owing, c, owe_link);
	c->dropped = 0;
	return n;
}

/* Log the count owed to client c in a line of its own: whether it went. */
static bool
peerlog_emit_count(struct peerlog *pl, struct peerlog_client *c)
{
	const struct peer *p = &c->last;
	char vm[ESCAPE_TEXT_SIZE(PEER_NAME_MAX)];
	char comm[ESCAPE_TEXT_SIZE(PEER_COMM_MAX)];

	if (pl->count_fn != NULL)
		return pl->count_fn(pl->count_arg, p, c->vm, c->dropped);
	/* The names are the peer's: escaped, one word each (escape.h). */
	log_msg(LOG_NOTICE,
	    "[pid %d uid %u%s%s%s%s] %llu line%s of this client not logged "
	    "(rate limit)",
	    (int)p->pid, (unsigned)p->uid, c->vm[0] != '\0' ? " vm " : "",
	    escape_str(vm, sizeof(vm), c->vm, ESCAPE_WORD),
	    p->comm[0] != '\0' ? " comm " : "",
	    escape_str(comm, sizeof(comm), p->comm, ESCAPE_WORD),
	    (unsigned long long)c->dropped, c->dropped == 1 ? "" : "s");
	return true;
}

/* Timer: the counts of clients quiet for a while; clients without
 * connections whose allowances are whole again are forgotten. */
static void
peerlog_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peerlog *pl = arg;
	uint64_t now = trace_now_ns(), quiet = PEERLOG_QUIET_MS * 1000000ull;
	struct peerlog_client *c, *next;

	(void)fd;
	(void)what;
	for (c = TAILQ_FIRST(&pl->owing); c != NULL; c = next) {
		next = TAILQ_NEXT(c, owe_link);
		if (now - c->last_drop_ns >= quiet && peerlog_emit_count(pl, c))
			(void)peerlog_settle(pl, c);
	}
	for (c = TAILQ_FIRST(&pl->idle); c != NULL; c = next) {
		next = TAILQ_NEXT(c, idle_link);
		if (peerlog_whole(c, now))
			peerlog_forget(pl, c);
	}
	if (!TAILQ_EMPTY(&pl->owing) || !TAILQ_EMPTY(&pl->idle))
		peerlog_arm(pl);
}

/* --- the interface -------------------------------------------------------- */

/* Whether a warning of kind k of peer p on lc may go now. */
bool
peerlog_admit(struct peerlog *pl, struct peerlog_conn *lc, struct peer *p,
    enum peerlog_kind k, uint64_t *carry)
{
	struct peerlog_client *c;
	uint64_t now, conn_tat = 0;
	bool first, ok;

	*carry = 0;
	if (pl == NULL)
		return true;
	c = peerlog_client_of(pl, lc, p);
	now = trace_now_ns();
	first = (c->kinds_seen & (1u << k)) == 0;
	c->kinds_seen |= 1u << k;
	ok = peerlog_take2(&c->warn_tat_ns, PEERLOG_WARN_BURST,
	    PEERLOG_WARN_PER_SEC, lc != NULL ? &lc->tat_ns : &conn_tat,
	    PEERLOG_CONN_BURST, PEERLOG_CONN_PER_SEC, now);
	if (ok || first)
		*carry = peerlog_settle(pl, c);
	else
		peerlog_drop(pl, c, p, 1, 1);
	peerlog_client_done(pl, lc, c);
	return ok || first;
}

/* An admitted line did not go out. */
void
peerlog_unsent(struct peerlog *pl, struct peerlog_conn *lc, struct peer *p,
    uint64_t carry)
{
	struct peerlog_client *c;

	if (pl == NULL)
		return;
	c = peerlog_client_of(pl, lc, p);
	peerlog_drop(pl, c, p, carry + 1, 1);
	peerlog_client_done(pl, lc, c);
}

/* Log a warning about a peer if it is admitted. */
void
peerlog_warn(struct peerlog *pl, struct peerlog_conn *lc, struct peer *p,
    enum peerlog_kind k, const char *fmt, ...)
{
	char msg[512];
	uint64_t carry;
	va_list ap;

	if (!log_wants(LOG_WARNING) || !peerlog_admit(pl, lc, p, k, &carry))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (carry == 0)
		log_msg(LOG_WARNING, "[pid %d uid %u] %s", (int)p->pid,
		    (unsigned)p->uid, msg);
	else
		log_msg(LOG_WARNING,
		    "[pid %d uid %u] %s (%llu earlier line%s of this client "
		    "not logged)",
		    (int)p->pid, (unsigned)p->uid, msg,
		    (unsigned long long)carry, carry == 1 ? "" : "s");
}

/* Whether a PR OUT may be run now, or how long until its turn, which is
 * taken for it. */
uint64_t
peerlog_command(struct peerlog *pl, struct peerlog_conn *lc, struct peer *p)
{
	struct peerlog_client *c;
	uint64_t now, start, t = NS_PER_SEC / PEERLOG_CMD_PER_SEC;
	uint64_t room = (uint64_t)(PEERLOG_CMD_BURST - 1) * t, wait = 0;

	if (pl == NULL || !log_wants(LOG_NOTICE))
		return 0; /* its line would not be logged */
	c = peerlog_client_of(pl, lc, p);
	now = trace_now_ns();
	/* GCRA with reservation: a command that does not conform now takes
	 * the next free turn, so that commands waiting at once each wake
	 * once, at a turn of their own, instead of all asking again. */
	start = c->cmd_tat_ns > now ? c->cmd_tat_ns : now;
	if (start - now > room)
		wait = start - now - room;
	c->cmd_tat_ns = start + t;
	peerlog_client_done(pl, lc, c);
	return wait;
}

/* Timer: a connection's turn has come. */
static void
peerlog_turn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peerlog_conn *lc = arg;

	(void)fd;
	(void)what;
	lc->turn_fn(lc->turn_arg);
}

/* Wait for a PR OUT's turn, if it must. */
bool
peerlog_wait(struct peerlog *pl, struct peerlog_conn *lc, struct peer *p,
    void (*fn)(void *arg), void *arg)
{
	uint64_t ns = peerlog_command(pl, lc, p);
	uint64_t us = ns / 1000 + 1; /* not before it is due */
	struct timeval tv = { .tv_sec = (time_t)(us / 1000000),
		.tv_usec = (suseconds_t)(us % 1000000) };

	if (ns == 0)
		return false;
	if (lc->turn == NULL)
		lc->turn = evtimer_new(pl->base, peerlog_turn_cb, lc);
	if (lc->turn == NULL || evtimer_add(lc->turn, &tv) < 0)
		return false; /* cannot wait: run it (and log it) now */
	lc->turn_fn = fn;
	lc->turn_arg = arg;
	STATS_INC(pl->stats->deferred);
	return true;
}

/* No more waiting. */
void
peerlog_wait_cancel(struct peerlog_conn *lc)
{
	if (lc->turn != NULL)
		event_del(lc->turn);
}

/* Start a connection's share. */
void
peerlog_conn_init(struct peerlog_conn *lc)
{
	lc->client = NULL;
	lc->tat_ns = 0;
	lc->turn = NULL;
}

/* A connection is gone. */
void
peerlog_conn_fini(struct peerlog *pl, struct peerlog_conn *lc)
{
	if (pl != NULL && lc->client != NULL)
		peerlog_put(pl, lc->client);
	lc->client = NULL;
	if (lc->turn != NULL)
		event_free(lc->turn);
	lc->turn = NULL;
}

/* Counts go out through fn. */
void
peerlog_set_count_fn(struct peerlog *pl, peerlog_count_fn fn, void *arg)
{
	pl->count_fn = fn;
	pl->count_arg = arg;
}

/* --- life cycle ----------------------------------------------------------- */

/* Create the table. */
int
peerlog_new(struct event_base *base, struct prh_stats *stats,
    struct peerlog **out)
{
	struct peerlog *pl = calloc(1, sizeof(*pl));

	*out = NULL;
	if (pl == NULL)
		return -ENOMEM;
	pl->base = base;
	pl->stats = stats;
	for (int i = 0; i < PEERLOG_BUCKETS; i++)
		TAILQ_INIT(&pl->buckets[i]);
	TAILQ_INIT(&pl->idle);
	TAILQ_INIT(&pl->owing);
	pl->fallback.refs = 1; /* never forgotten */
	pl->fallback.uid = (uid_t)-1;
	pl->timer = evtimer_new(base, peerlog_timer_cb, pl);
	if (pl->timer == NULL) {
		free(pl);
		return -ENOMEM;
	}
	*out = pl;
	return 0;
}

/* Log the counts owed, free every client. */
void
peerlog_free(struct peerlog *pl)
{
	struct peerlog_client *c;

	if (pl == NULL)
		return;
	while ((c = TAILQ_FIRST(&pl->owing)) != NULL) {
		(void)peerlog_emit_count(pl, c);
		(void)peerlog_settle(pl, c);
	}
	for (int i = 0; i < PEERLOG_BUCKETS; i++)
		while ((c = TAILQ_FIRST(&pl->buckets[i])) != NULL) {
			TAILQ_REMOVE(&pl->buckets[i], c, hash_link);
			free(c);
		}
	event_free(pl->timer);
	free(pl);
}
