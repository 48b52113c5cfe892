/* Soak: 10,000 clients connect at once (the fd limit raised), and every
 * one gets the hello and one answer.  Too slow for make check; part of
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

/* Read the helper's 4-byte hello and answer it. */
static void
handshake(int sock)
{
	uint8_t hello[PRH_HELLO_LEN] = { 0 };

	cr_assert_eq(client_read_all(sock, hello, sizeof(hello)), 0,
	    "no hello");
	cr_assert_eq(client_write_all(sock, hello, sizeof(hello)), 0);
}

Test(exh, ten_thousand_clients)
{
	enum {
		N = 10000
	};
	/* Kept free by the helper: room for every command that can be
	 * queued or running (--queue-max 4096, 256 workers), two fds per
	 * worker, and its own. */
	rlim_t need = N + 5000;
	struct client_reply *r = malloc(sizeof(*r));
	uint8_t cdb[PRH_CDB_LEN];
	struct rlimit rl;
	int *socks = calloc(N, sizeof(int)), dev, i, rc, answered = 0;

	cr_assert(r != NULL && socks != NULL);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max < need && geteuid() != 0)
		cr_skip_test("fd hard limit %llu < %llu",
		    (unsigned long long)rl.rlim_max, (unsigned long long)need);
	if (rl.rlim_max < need)
		rl.rlim_max = need;
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
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
		handshake(socks[i]);
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
