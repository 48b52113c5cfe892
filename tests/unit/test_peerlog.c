/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for each client's share of the log (peerlog.h): a client is
 * its uid and VM, whatever connections it opens; a connection has a
 * share of its own inside its client's; the first line of each kind
 * always passes; PR OUT lines are paid for by waiting, never dropped;
 * the counts of lines not logged name the peer and come on the loop.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>

#include "prh/log.h"
#include "prh/peer.h"
#include "prh/peerlog.h"
#include "prh/stats.h"

#define NCONN 10

static struct {
	struct event_base *base;
	struct prh_stats stats;
	struct peerlog *pl;
	struct peerlog_conn lc[NCONN];
	/* What the count function was given last, and how often. */
	int counts;
	struct peer counted;
	char vm[PEER_NAME_MAX];
	uint64_t n;
} pt;

/* The count function: remember what it was told. */
static bool
pt_count(void *arg, const struct peer *p, const char *vm, uint64_t n)
{
	(void)arg;
	pt.counts++;
	pt.counted = *p;
	snprintf(pt.vm, sizeof(pt.vm), "%s", vm);
	pt.n += n;
	return true;
}

/* A table on an event base, NCONN connection shares, counts to
 * pt_count. */
static void
pt_setup(void)
{
	memset(&pt, 0, sizeof(pt));
	log_set_verbosity(1);
	pt.base = event_base_new();
	cr_assert_not_null(pt.base);
	cr_assert_eq(peerlog_new(pt.base, &pt.stats, &pt.pl), 0);
	peerlog_set_count_fn(pt.pl, pt_count, NULL);
	for (int i = 0; i < NCONN; i++)
		peerlog_conn_init(&pt.lc[i]);
}

/* Free everything. */
static void
pt_teardown(void)
{
	for (int i = 0; i < NCONN; i++)
		peerlog_conn_fini(pt.pl, &pt.lc[i]);
	peerlog_free(pt.pl);
	event_base_free(pt.base);
}

TestSuite(peerlog, .init = pt_setup, .fini = pt_teardown, .timeout = 30);

/* Free the table in the test (its last counts go out now). */
static void
pt_free_table(void)
{
	for (int i = 0; i < NCONN; i++)
		peerlog_conn_fini(pt.pl, &pt.lc[i]);
	peerlog_free(pt.pl);
	pt.pl = NULL;
}

/* A peer of uid, in VM vm ("" for none), already described. */
static struct peer
pt_peer(uid_t uid, const char *vm)
{
	struct peer p;

	memset(&p, 0, sizeof(p));
	p.pid = 4242;
	p.uid = uid;
	p.described = true;
	p.kind = vm[0] != '\0' ? PEER_VM : PEER_PROCESS;
	snprintf(p.name, sizeof(p.name), "%s", vm);
	snprintf(p.comm, sizeof(p.comm), "attacker");
	return p;
}

/* How many of n lines of kind k on lc (NULL: no connection) pass. */
static int
pt_admit(struct peerlog_conn *lc, struct peer *p, enum peerlog_kind k, int n)
{
	uint64_t carry;
	int passed = 0;

	for (int i = 0; i < n; i++)
		passed += peerlog_admit(pt.pl, lc, p, k, &carry);
	return passed;
}

Test(peerlog, a_connection_has_its_own_share)
{
	struct peer p = pt_peer(5000, "");

	cr_expect_eq(pt_admit(&pt.lc[0], &p, PEERLOG_PROTOCOL, 1000),
	    PEERLOG_CONN_BURST);
	cr_expect_eq(STATS_GET(pt.stats.audit_dropped),
	    1000 - PEERLOG_CONN_BURST);
}

Test(peerlog, many_connections_share_the_clients)
{
	struct peer p = pt_peer(5000, "");
	int passed = 0;

	/* Ten connections of one client, each far over its own share: the
	 * client's share bounds them all. */
	for (int i = 0; i < NCONN; i++)
		passed += pt_admit(&pt.lc[i], &p, PEERLOG_PROTOCOL, 1000);
	cr_expect_geq(passed, PEERLOG_WARN_BURST);
	cr_expect_leq(passed, PEERLOG_WARN_BURST + 1); /* time went by */
}

Test(peerlog, reconnecting_gives_no_new_share)
{
	struct peer p = pt_peer(5000, "");

	cr_expect_eq(pt_admit(NULL, &p, PEERLOG_REFUSED, 1000),
	    PEERLOG_WARN_BURST);
	/* The client is kept while its share is not whole: a new
	 * connection, or none, finds it used up. */
	cr_expect_eq(pt_admit(&pt.lc[1], &p, PEERLOG_REFUSED, 10), 0);
	cr_expect_eq(pt_admit(NULL, &p, PEERLOG_REFUSED, 10), 0);
}

Test(peerlog, the_first_line_of_each_kind_passes)
{
	struct peer p = pt_peer(5000, "");

	cr_expect_eq(pt_admit(NULL, &p, PEERLOG_PROTOCOL, 1000),
	    PEERLOG_WARN_BURST);
	for (int k = 0; k < PEERLOG_KINDS; k++)
		cr_expect_eq(pt_admit(&pt.lc[0], &p, (enum peerlog_kind)k, 5),
		    k == PEERLOG_PROTOCOL ? 0 : 1, "kind %d", k);
}

Test(peerlog, clients_do_not_share)
{
	struct peer a = pt_peer(107, "prod-db"), b = pt_peer(107, "web");
	struct peer other = pt_peer(5000, "");

	/* One VM's flood leaves another VM of the same uid, and another
	 * uid, their whole share. */
	cr_expect_eq(pt_admit(NULL, &a, PEERLOG_POLICY, 1000),
	    PEERLOG_WARN_BURST);
	cr_expect_eq(pt_admit(NULL, &b, PEERLOG_POLICY, 1000),
	    PEERLOG_WARN_BURST);
	cr_expect_eq(pt_admit(NULL, &other, PEERLOG_POLICY, 1000),
	    PEERLOG_WARN_BURST);
	/* A process of uid 107 that is in no VM is a client of its own. */
	b = pt_peer(107, "");
	cr_expect_eq(pt_admit(NULL, &b, PEERLOG_POLICY, 1000),
	    PEERLOG_WARN_BURST);
}

Test(peerlog, commands_wait_for_turns_instead_of_being_dropped)
{
	struct peer p = pt_peer(107, "prod-db");
	uint64_t t = 1000000000ull / PEERLOG_CMD_PER_SEC, w1, w2, w3;

	for (int i = 0; i < PEERLOG_CMD_BURST; i++)
		cr_assert_eq(peerlog_command(pt.pl, &pt.lc[0], &p), 0, "%d", i);
	/* Past the burst each command gets a turn of its own, one rate
	 * step after the other, whichever connection of the client asks:
	 * they wake one at a time, and none asks twice. */
	w1 = peerlog_command(pt.pl, &pt.lc[0], &p);
	w2 = peerlog_command(pt.pl, &pt.lc[1], &p);
	w3 = peerlog_command(pt.pl, &pt.lc[2], &p);
	cr_expect_gt(w1, 0);
	cr_expect_leq(w1, t);
	cr_expect_geq(w2, w1 + t - t / 10);
	cr_expect_leq(w2, w1 + t);
	cr_expect_geq(w3, w2 + t - t / 10);
	cr_expect_leq(w3, w2 + t);
	/* The warnings' share is another. */
	cr_expect_eq(pt_admit(&pt.lc[3], &p, PEERLOG_AUDIT, 1), 1);
	/* Another VM of the same uid goes at once. */
	p = pt_peer(107, "web");
	cr_expect_eq(peerlog_command(pt.pl, &pt.lc[4], &p), 0);
	cr_expect_eq(STATS_GET(pt.stats.audit_dropped), 0);
}

Test(peerlog, quiet_logs_no_command_so_none_waits)
{
	struct peer p = pt_peer(107, "prod-db");

	log_set_verbosity(0); /* -q: no PR OUT line would be logged */
	for (int i = 0; i < 2 * PEERLOG_CMD_BURST; i++)
		cr_assert_eq(peerlog_command(pt.pl, &pt.lc[0], &p), 0, "%d", i);
}

Test(peerlog, the_count_names_the_peer)
{
	struct peer p = pt_peer(107, "prod-db"), q = pt_peer(107, "prod-db");
	uint64_t carry;

	q.pid = 4343;
	cr_expect_eq(pt_admit(&pt.lc[0], &p, PEERLOG_TIMEOUT, 100),
	    PEERLOG_CONN_BURST);
	cr_expect_eq(pt_admit(&pt.lc[1], &q, PEERLOG_TIMEOUT, 100),
	    PEERLOG_CONN_BURST);
	cr_expect_eq(pt.counts, 0);
	/* The timer logs the count once the client is quiet. */
	while (pt.counts == 0 && event_base_loop(pt.base, EVLOOP_ONCE) == 0)
		;
	cr_expect_eq(pt.counts, 1);
	/* p's lines not logged went with q's first line; q's are counted
	 * here. */
	cr_expect_eq(pt.n, 100 - PEERLOG_CONN_BURST, "%llu",
	    (unsigned long long)pt.n);
	cr_expect_eq(pt.counted.pid, 4343); /* the last one's */
	cr_expect_eq(pt.counted.uid, 107);
	cr_expect_str_eq(pt.vm, "prod-db");
	cr_expect_str_eq(pt.counted.comm, "attacker");
	/* Nothing is owed any more: the next line carries nothing. */
	cr_expect(peerlog_admit(pt.pl, &pt.lc[2], &p, PEERLOG_SETUP, &carry));
	cr_expect_eq(carry, 0);
}

Test(peerlog, the_next_line_carries_the_count)
{
	struct peer p = pt_peer(5000, "");
	uint64_t carry = 0;

	cr_expect_eq(pt_admit(&pt.lc[0], &p, PEERLOG_PROTOCOL, 30),
	    PEERLOG_CONN_BURST);
	/* Another connection of the client, a line of a new kind. */
	cr_expect(peerlog_admit(pt.pl, &pt.lc[1], &p, PEERLOG_SETUP, &carry));
	cr_expect_eq(carry, 30 - PEERLOG_CONN_BURST);
	cr_expect(peerlog_admit(pt.pl, &pt.lc[1], &p, PEERLOG_SETUP, &carry));
	cr_expect_eq(carry, 0);
}

Test(peerlog, counts_owed_go_out_at_free)
{
	struct peer p = pt_peer(5000, "");

	cr_expect_eq(pt_admit(NULL, &p, PEERLOG_REFUSED, 60),
	    PEERLOG_WARN_BURST);
	pt_free_table();
	cr_expect_eq(pt.counts, 1);
	cr_expect_eq(pt.n, 10);
	cr_expect_eq(pt.counted.uid, 5000);
}

Test(peerlog, a_client_is_forgotten_when_its_share_is_whole)
{
	struct peer p = pt_peer(5000, "");

	cr_expect_eq(pt_admit(&pt.lc[0], &p, PEERLOG_PROTOCOL, 1), 1);
	peerlog_conn_fini(pt.pl, &pt.lc[0]);
	/* Its share is not whole yet: it is remembered. */
	cr_expect_eq(pt_admit(&pt.lc[1], &p, PEERLOG_PROTOCOL, 1),
	    1); /* its share had room */
	cr_expect_eq(pt_admit(&pt.lc[1], &p, PEERLOG_PROTOCOL, 100),
	    PEERLOG_CONN_BURST - 1);
}

Test(peerlog, the_count_line_escapes_the_peers_names)
{
	char path[] = "/tmp/prh-peerlog-XXXXXX", text[1024];
	struct peer p = pt_peer(5000, "vm 1\n");
	int fd, saved;
	ssize_t n;

	/* No count function (no audit trail): the line of its own. */
	snprintf(p.comm, sizeof(p.comm), "a] b\x1b\xff");
	peerlog_set_count_fn(pt.pl, NULL, NULL);
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	saved = dup(2);
	dup2(fd, 2);
	cr_expect_eq(pt_admit(NULL, &p, PEERLOG_REFUSED, 60),
	    PEERLOG_WARN_BURST);
	pt_free_table();
	dup2(saved, 2);
	close(saved);
	n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	unlink(path);
	cr_assert_geq(n, 0);
	text[n] = '\0';
	cr_expect_not_null(
	    strstr(text,
		"[pid 4242 uid 5000 vm vm\\x201\\x0a comm "
		"a]\\x20b\\x1b\\xff] 10 lines of this client not "
		"logged (rate limit)\n"),
	    "%s", text);
}
