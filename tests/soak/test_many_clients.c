/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Soak: 10,000 clients connect at once (the fd limit raised), and every
 * one gets the hello and one answer; 10,000 clients try to pin their
 * connections with their own sockets.  Too slow for make check; part of
 * make check-soak.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "itest.h"

TestSuite(exh, .fini = itest_fini, .timeout = 120);

/* Raise this process's fd limit (the helper inherits it) to at least
 * need, the hard one too as root; skip the test when that cannot be. */
static void
raise_fd_limit(rlim_t need)
{
	struct rlimit rl;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max < need && geteuid() != 0)
		cr_skip_test("fd hard limit %llu < %llu",
		    (unsigned long long)rl.rlim_max, (unsigned long long)need);
	if (rl.rlim_max < need)
		rl.rlim_max = need;
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

Test(exh, ten_thousand_clients)
{
	enum {
		N = 10000
	};
	struct client_reply *r = malloc(sizeof(*r));
	uint8_t cdb[PRH_CDB_LEN];
	int *socks = calloc(N, sizeof(int)), dev, i, rc, answered = 0;

	cr_assert(r != NULL && socks != NULL);
	/* Kept free by the helper: room for every command that can be
	 * queued or running (--queue-max 4096, 256 workers), two fds per
	 * worker, and its own. */
	raise_fd_limit(N + 5000);
	itest_start(TH_OURS, NULL);
	dev = itest_dev("lun", O_RDWR);
	/* All connect before any is served: most wait in the backlog. */
	for (i = 0; i < N; i++) {
		socks[i] = th_connect_raw(&itest_env);
		cr_assert_geq(socks[i], 0, "connect %d: %s", i,
		    strerror(-socks[i]));
	}
	client_cdb_pr_in(cdb, 0, 8192);
	for (i = 0; i < N; i++) {
		itest_handshake(socks[i]);
		rc = client_send_request(socks[i], cdb, dev, NULL, 0);
		cr_assert_eq(rc, 0, "request %d: %s", i, strerror(-rc));
	}
	for (i = 0; i < N; i++) {
		rc = client_read_reply(socks[i], r);
		cr_assert_eq(rc, 0, "reply %d: %s", i, strerror(-rc));
		cr_assert_eq(r->status, PRH_STATUS_CHECK_CONDITION);
		answered++;
	}
	cr_expect_eq(answered, N);
	for (i = 0; i < N; i++)
		close(socks[i]);
	free(socks);
	free(r);
}

/* The self-pinning attack, 10,000 times from one uid: each client sends
 * one CDB byte with its own end of the connection attached, as if it
 * were the device, and closes its copy.  A helper that kept that fd
 * would hold both ends of the connection and never see EOF.  Meanwhile a
 * well-behaved client is served every 500 connections, and at the end
 * the helper is back to the fds it had. */
Test(exh, ten_thousand_self_pinning_clients)
{
	enum {
		N = 10000,
		EVERY = 500
	};
	struct client_reply *r = malloc(sizeof(*r));
	uint8_t cdb[PRH_CDB_LEN];
	int good, dev, sock, base, n, rc, served = 0;

	cr_assert(r != NULL);
	/* Room for every connection at once (a helper that kept the fds
	 * would need twice that, and run out). */
	raise_fd_limit(N + 5000);
	itest_start(TH_OURS, NULL);
	cr_assert_eq(th_shim_set(&itest_env, "%s/lun status=0\n",
			 itest_env.dir),
	    0);
	dev = itest_dev("lun", O_RDWR);
	good = itest_conn();
	base = th_fd_count(itest_env.pid);
	cr_assert_gt(base, 0);
	client_cdb_pr_in(cdb, 0, 8192);
	for (int i = 0; i < N; i++) {
		sock = th_connect_raw(&itest_env);
		cr_assert_geq(sock, 0, "connect %d: %s", i, strerror(-sock));
		itest_handshake(sock);
		rc = th_send_fds(sock, cdb, 1, &sock, 1);
		cr_assert_eq(rc, 0, "send %d: %s", i, strerror(-rc));
		close(sock);
		if (i % EVERY == EVERY - 1) {
			rc = client_command(good, cdb, dev, NULL, 0, r);
			cr_assert_eq(rc, 0, "after %d: %s", i + 1,
			    strerror(-rc));
			cr_assert_eq(r->status, PRH_STATUS_GOOD);
			served++;
		}
	}
	cr_expect_eq(served, N / EVERY);
	/* Every connection ends: the helper's fds, with the good client's
	 * connection still open, come back to what they were. */
	n = th_wait_fd_count(itest_env.pid, base, 60000);
	cr_expect_eq(n, base, "helper holds %d fds, %d before", n, base);
	rc = client_command(good, cdb, dev, NULL, 0, r);
	cr_expect_eq(rc, 0);
	cr_expect_eq(r->status, PRH_STATUS_GOOD);
	close(good);
	close(dev);
	free(r);
}
