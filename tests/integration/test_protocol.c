/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Integration: the wire protocol, against our helper and QEMU's.
 *
 * Each case runs a helper in a private temp dir with the SG_IO shim
 * preloaded.  Regular files stand in for devices: with no shim rule, SG_IO
 * on them fails with ENOTTY, which both helpers answer ABORTED COMMAND.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"

ITEST_SUITES();

/* A connection with one answered request on it, and the helper's fd count
 * with that connection idle: the baseline for leak checks. */
static int
warm_baseline(int *sock)
{
	struct client_reply r;
	int dev = itest_dev("warm", O_RDWR), before;

	*sock = itest_conn();
	before = th_fd_count(itest_env.pid);
	itest_pr_in(*sock, dev, 0, 8192, &r);
	itest_expect_ioerr(&r);
	close(dev);
	/* Its device fd goes to the closer, which may be after the reply. */
	return itest_fds_settle(before);
}

/* Assert the helper's fd count comes back to base. */
static void
expect_fds_back(int base)
{
	int n = itest_fds_settle(base);

	cr_expect_eq(n, base, "helper holds %d fds, baseline %d", n, base);
}

ITEST_BOTH(handshake)
{
	struct client_reply r;
	uint8_t hello[4] = { 0xff, 0xff, 0xff, 0xff }, zero[4] = { 0 };
	int sock, dev;

	itest_start(kind, NULL);
	sock = th_connect_raw(&itest_env);
	cr_assert_geq(sock, 0);
	cr_assert_eq(client_read_all(sock, hello, 4), 0);
	cr_expect_eq(memcmp(hello, zero, 4), 0, "feature word %02x%02x%02x%02x",
	    hello[0], hello[1], hello[2], hello[3]);
	cr_assert_eq(client_write_all(sock, zero, 4), 0);
	dev = itest_dev("lun", O_RDWR);
	itest_pr_in(sock, dev, 0, 8192, &r);
	itest_expect_ioerr(&r);
	close(sock);
}

ITEST_BOTH(handshake_nonzero_closes)
{
	uint8_t hello[4], one[4] = { 0, 0, 0, 1 };
	int sock;

	itest_start(kind, NULL);
	sock = th_connect_raw(&itest_env);
	cr_assert_geq(sock, 0);
	cr_assert_eq(client_read_all(sock, hello, 4), 0);
	cr_assert_eq(client_write_all(sock, one, 4), 0);
	itest_expect_closed(sock);
	close(sock);
}

ITEST_BOTH(pr_in_regular_file_aborted)
{
	struct client_reply r;
	int sock, dev;

	itest_start(kind, NULL);
	sock = itest_conn();
	dev = itest_dev("lun", O_RDWR);
	itest_pr_in(sock, dev, 0x00, 8192, &r);
	/* 70 00 0b ... 0a ... 00 06 and 78 trailing zeros. */
	itest_expect_ioerr(&r);
	cr_expect_eq(r.sense[2], 0x0b);
	cr_expect_eq(r.sense[12], 0x00);
	cr_expect_eq(r.sense[13], 0x06);
	cr_expect_eq(itest_calls_on("lun"), 1);
}

/* PR OUT on dev opened with oflags, not open for writing: refused
 * without the device, and the connection stays usable. */
static void
pr_out_not_writable(enum th_kind kind, int oflags)
{
	struct client_reply r;
	int sock, dev;

	itest_start(kind, NULL);
	cr_assert_eq(th_shim_set(&itest_env, "* status=0\n"), 0);
	sock = itest_conn();
	dev = itest_dev("lun", oflags);
	itest_pr_out(sock, dev, &r);
	itest_expect(&r, PRH_STATUS_CHECK_CONDITION, PRH_SK_ILLEGAL_REQUEST,
	    0x20, 0x00);
	cr_expect_eq(itest_calls_on("lun"), 0, "the device was touched");
	itest_pr_in(sock, dev, 0, 8192, &r);
	itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
}

ITEST_BOTH(pr_out_readonly_fd_refused)
{
	pr_out_not_writable(kind, O_RDONLY);
}

/* Access mode 3 (O_ACCMODE) reads and writes nothing: the kernel refuses
 * an unprivileged caller's SG_IO writes on it.  QEMU's helper looks for
 * O_RDONLY only and runs this one. */
Test(ours, pr_out_ioctl_only_fd_refused)
{
	pr_out_not_writable(TH_OURS, O_ACCMODE);
}

ITEST_BOTH(pr_out_rdwr_good)
{
	struct client_reply r;
	int sock, dev;

	itest_start(kind, NULL);
	cr_assert_eq(th_shim_set(&itest_env, "%s status=0\n",
			 itest_dev_path("lun")),
	    0);
	sock = itest_conn();
	dev = itest_dev("lun", O_RDWR);
	itest_pr_out(sock, dev, &r);
	itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
	cr_expect_eq(itest_calls_on("lun"), 1);
}

ITEST_BOTH(bad_opcode_closes)
{
	uint8_t cdb[PRH_CDB_LEN];
	int sock, dev;

	itest_start(kind, NULL);
	sock = itest_conn();
	dev = itest_dev("lun", O_RDWR);
	client_cdb_pr_in(cdb, 0, 8192);
	cdb[0] = 0x00;
	cr_assert_eq(client_send_request(sock, cdb, dev, NULL, 0), 0);
	itest_expect_closed(sock);
	itest_expect_stderr("Invalid CDB, closing socket.");
	cr_expect_eq(itest_calls_on("lun"), 0);
}

ITEST_BOTH(no_fd_closes)
{
	uint8_t cdb[PRH_CDB_LEN];
	int sock;

	itest_start(kind, NULL);
	sock = itest_conn();
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_send_request(sock, cdb, -1, NULL, 0), 0);
	itest_expect_closed(sock);
	itest_expect_stderr("No file descriptor in request.");
}

ITEST_BOTH(alloc_8192_answered)
{
	struct client_reply r;
	int sock, dev;

	itest_start(kind, NULL);
	sock = itest_conn();
	dev = itest_dev("lun", O_RDWR);
	itest_pr_in(sock, dev, 0, 8192, &r);
	itest_expect_ioerr(&r);
}

/* Send a PR IN with allocation length alloc and expect a close. */
static void
alloc_closes(enum th_kind kind, uint16_t alloc)
{
	uint8_t cdb[PRH_CDB_LEN];
	int sock, dev;

	itest_start(kind, NULL);
	sock = itest_conn();
	dev = itest_dev("lun", O_RDWR);
	client_cdb_pr_in(cdb, 0, alloc);
	cr_assert_eq(client_send_request(sock, cdb, dev, NULL, 0), 0);
	itest_expect_closed(sock);
	cr_expect_eq(itest_calls_on("lun"), 0);
}

ITEST_BOTH(alloc_8193_closes)
{
	alloc_closes(kind, 8193);
}

ITEST_BOTH(alloc_65535_closes)
{
	alloc_closes(kind, 65535);
}

ITEST_BOTH(pr_out_8193_closes_without_params)
{
	uint8_t cdb[PRH_CDB_LEN];
	int sock, dev;

	itest_start(kind, NULL);
	sock = itest_conn();
	dev = itest_dev("lun", O_RDWR);
	client_cdb_pr_out(cdb, 0, 0, 8193);
	/* No parameter bytes follow: the helper must not wait for them. */
	cr_assert_eq(client_send_request(sock, cdb, dev, NULL, 0), 0);
	itest_expect_closed(sock);
	cr_expect_eq(itest_calls_on("lun"), 0);
}

ITEST_BOTH(pr_out_length_ignores_bytes_5_6)
{
	struct client_reply r;
	uint8_t cdb[PRH_CDB_LEN], param[24];
	int sock, dev;

	itest_start(kind, NULL);
	cr_assert_eq(th_shim_set(&itest_env, "* status=0\n"), 0);
	sock = itest_conn();
	dev = itest_dev("lun", O_RDWR);
	client_cdb_pr_out(cdb, 0, 0, 24);
	cdb[5] = 0x00;
	cdb[6] = 0x01;
	client_param_basic(param, 1, 2, 0);
	cr_assert_eq(client_command(sock, cdb, dev, param, 24, &r), 0);
	itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
	/* Exactly 24 bytes were consumed: the next request parses. */
	itest_pr_in(sock, dev, 0, 8192, &r);
	itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
	cr_expect_eq(itest_calls_on("lun"), 2);
}

ITEST_BOTH(two_fds_on_cdb_close_and_no_leak)
{
	uint8_t cdb[PRH_CDB_LEN];
	int keep, sock, base, fds[2];

	itest_start(kind, NULL);
	base = warm_baseline(&keep);
	fds[0] = itest_dev("a", O_RDWR);
	fds[1] = itest_dev("b", O_RDWR);
	sock = itest_conn();
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(th_send_fds(sock, cdb, sizeof(cdb), fds, 2), 0);
	itest_expect_closed(sock);
	close(sock);
	expect_fds_back(base);
	cr_expect_eq(itest_calls_on("a") + itest_calls_on("b"), 0);
}

ITEST_BOTH(fd_on_second_half_of_cdb)
{
	struct client_reply r;
	uint8_t cdb[PRH_CDB_LEN];
	int sock, dev;

	itest_start(kind, NULL);
	sock = itest_conn();
	dev = itest_dev("lun", O_RDWR);
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(th_send_fds(sock, cdb, 8, NULL, 0), 0);
	cr_assert_eq(th_send_fds(sock, cdb + 8, 8, &dev, 1), 0);
	cr_assert_eq(client_read_reply(sock, &r), 0);
	itest_expect_ioerr(&r);
}

ITEST_BOTH(extra_fd_on_params_dropped)
{
	struct client_reply r;
	uint8_t cdb[PRH_CDB_LEN], param[24];
	int keep, sock, dev, extra, base;

	itest_start(kind, NULL);
	base = warm_baseline(&keep);
	cr_assert_eq(th_shim_set(&itest_env, "* status=0\n"), 0);
	dev = itest_dev("lun", O_RDWR);
	extra = itest_dev("extra", O_RDWR);
	sock = itest_conn();
	client_cdb_pr_out(cdb, 0, 0, 24);
	client_param_basic(param, 0, 7, 0);
	cr_assert_eq(th_send_fds(sock, cdb, sizeof(cdb), &dev, 1), 0);
	cr_assert_eq(th_send_fds(sock, param, sizeof(param), &extra, 1), 0);
	cr_assert_eq(client_read_reply(sock, &r), 0);
	itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
	close(sock);
	expect_fds_back(base);
}

ITEST_BOTH(eof_inside_cdb_closes)
{
	uint8_t cdb[PRH_CDB_LEN];
	int keep, sock, dev, base;

	itest_start(kind, NULL);
	base = warm_baseline(&keep);
	dev = itest_dev("lun", O_RDWR);
	sock = itest_conn();
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(th_send_fds(sock, cdb, 8, &dev, 1), 0);
	cr_assert_eq(shutdown(sock, SHUT_WR), 0);
	itest_expect_closed(sock);
	close(sock);
	expect_fds_back(base);
	cr_expect_eq(itest_calls_on("lun"), 0);
}

ITEST_BOTH(eof_inside_params_closes)
{
	uint8_t cdb[PRH_CDB_LEN], param[24] = { 0 };
	int sock, dev;

	itest_start(kind, NULL);
	sock = itest_conn();
	dev = itest_dev("lun", O_RDWR);
	client_cdb_pr_out(cdb, 0, 0, 24);
	cr_assert_eq(client_send_request(sock, cdb, dev, param, 10), 0);
	cr_assert_eq(shutdown(sock, SHUT_WR), 0);
	itest_expect_closed(sock);
	itest_expect_stderr("Unexpected end-of-file before all data were read");
	cr_expect_eq(itest_calls_on("lun"), 0);
}

ITEST_BOTH(sequential_requests)
{
	struct client_reply r;
	int sock, a, b;

	itest_start(kind, NULL);
	cr_assert_eq(th_shim_set(&itest_env, "%s status=0x18\n",
			 itest_dev_path("a")),
	    0);
	sock = itest_conn();
	a = itest_dev("a", O_RDWR);
	b = itest_dev("b", O_RDWR);
	itest_pr_in(sock, a, 0, 8192, &r);
	itest_expect(&r, PRH_STATUS_RESERVATION_CONFLICT, -1, 0, 0);
	itest_pr_in(sock, b, 0, 8192, &r);
	itest_expect_ioerr(&r);
}

ITEST_BOTH(pipelined_requests_in_order)
{
	struct client_reply r;
	uint8_t cdb[PRH_CDB_LEN];
	int sock, a, b;

	itest_start(kind, NULL);
	cr_assert_eq(th_shim_set(&itest_env, "%s status=0x18\n",
			 itest_dev_path("a")),
	    0);
	sock = itest_conn();
	a = itest_dev("a", O_RDWR);
	b = itest_dev("b", O_RDWR);
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_send_request(sock, cdb, a, NULL, 0), 0);
	cr_assert_eq(client_send_request(sock, cdb, b, NULL, 0), 0);
	cr_assert_eq(client_read_reply(sock, &r), 0);
	itest_expect(&r, PRH_STATUS_RESERVATION_CONFLICT, -1, 0, 0);
	cr_assert_eq(client_read_reply(sock, &r), 0);
	itest_expect_ioerr(&r);
}

ITEST_BOTH(two_cdbs_two_fds_one_sendmsg_closes)
{
	uint8_t cdbs[2 * PRH_CDB_LEN];
	int sock, fds[2];

	itest_start(kind, NULL);
	sock = itest_conn();
	fds[0] = itest_dev("a", O_RDWR);
	fds[1] = itest_dev("b", O_RDWR);
	client_cdb_pr_in(cdbs, 0, 8192);
	client_cdb_pr_in(cdbs + PRH_CDB_LEN, 0, 8192);
	cr_assert_eq(th_send_fds(sock, cdbs, sizeof(cdbs), fds, 2), 0);
	itest_expect_closed(sock);
}

ITEST_BOTH(pipe_fd_aborted)
{
	struct client_reply r;
	int sock, p[2];

	itest_start(kind, NULL);
	sock = itest_conn();
	cr_assert_eq(pipe(p), 0);
	itest_pr_in(sock, p[0], 0, 8192, &r);
	itest_expect_ioerr(&r);
	close(p[0]);
	close(p[1]);
}

ITEST_BOTH(fd_on_handshake_reply_is_dropped)
{
	uint8_t hello[4], zero[4] = { 0 }, cdb[PRH_CDB_LEN];
	int sock, dev;

	itest_start(kind, NULL);
	dev = itest_dev("lun", O_RDWR);
	sock = th_connect_raw(&itest_env);
	cr_assert_geq(sock, 0);
	cr_assert_eq(client_read_all(sock, hello, 4), 0);
	cr_assert_eq(th_send_fds(sock, zero, 4, &dev, 1), 0);
	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_send_request(sock, cdb, -1, NULL, 0), 0);
	itest_expect_closed(sock);
	itest_expect_stderr("No file descriptor in request.");
}

/* Open n connections, send one request on each, then read every reply. */
static void
many_connections(int n)
{
	struct client_reply r;
	uint8_t cdb[PRH_CDB_LEN];
	int *socks, i, dev, answered = 0;

	socks = calloc((size_t)n, sizeof(*socks));
	cr_assert_not_null(socks);
	dev = itest_dev("lun", O_RDWR);
	for (i = 0; i < n; i++)
		socks[i] = itest_conn();
	client_cdb_pr_in(cdb, 0, 8192);
	for (i = 0; i < n; i++)
		cr_assert_eq(client_send_request(socks[i], cdb, dev, NULL, 0),
		    0);
	for (i = 0; i < n; i++) {
		if (client_read_reply(socks[i], &r) == 0 &&
		    r.status == PRH_STATUS_CHECK_CONDITION)
			answered++;
		close(socks[i]);
	}
	free(socks);
	cr_expect_eq(answered, n, "%d of %d answered", answered, n);
}

ITEST_BOTH(fifty_connections_answered)
{
	itest_start(kind, NULL);
	many_connections(50);
}

Test(ours, three_hundred_connections_answered)
{
	itest_start(TH_OURS, NULL);
	many_connections(300);
}
