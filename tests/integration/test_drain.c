/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Integration: a shutdown never closes a connection in place of an
 * answer.  QEMU 11.1.3 kills a migrating guest's destination when its
 * helper's connection fails with a command out, so on SIGTERM every
 * request a client has sent is answered before its connection closes,
 * and the helper exits 0:
 *
 *  - a command running on a device (the SG_IO shim holds it) is answered
 *    with the device's answer once the device answers; an idle
 *    connection sees EOF meanwhile, and can send nothing more;
 *  - a request still in the socket (sent behind one in flight) is read,
 *    run and answered;
 *  - commands waiting for a worker (queued, or parked for room in the
 *    queue) run and are answered;
 *  - when the drain runs out of time (--sg-timeout + 5 s), or a second
 *    signal comes, every command still out is answered ABORTED COMMAND
 *    00/06 before the helper exits.
 *
 * The shim holds a command (hang=1) until its rule changes; the test
 * waits for the shim's log, the helper's STOPPING=1 and its exit, never
 * for time.  Our helper only.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

TestSuite(drain, .fini = itest_fini, .timeout = 60);

/* Send a PR IN (service action 0, allocation 8192) on devfd without
 * reading the answer. */
static void
send_pr_in(int sock, int devfd)
{
	uint8_t cdb[PRH_CDB_LEN];

	client_cdb_pr_in(cdb, 0, 8192);
	cr_assert_eq(client_send_request(sock, cdb, devfd, NULL, 0), 0);
}

/* Send a PR OUT REGISTER of key on devfd without reading the answer. */
static void
send_register(int sock, int devfd, uint64_t key)
{
	uint8_t cdb[PRH_CDB_LEN], param[24];

	client_cdb_pr_out(cdb, 0x00, 0x00, sizeof(param));
	client_param_basic(param, 0, key, 0);
	cr_assert_eq(client_send_request(sock, cdb, devfd, param,
			 sizeof(param)),
	    0);
}

/* Read the next answer on sock, asserting one came. */
static void
read_answer(int sock, struct client_reply *r, const char *what)
{
	int rc = client_read_reply(sock, r);

	cr_assert_eq(rc, 0, "%s: no answer (%s)", what, strerror(-rc));
}

/* On each of n new connections (socks), a PR IN to the device "hung",
 * whose SG_IO the shim holds; the first reaches the device before the
 * next is sent.  Those behind it wait for a worker. */
static void
send_to_hung_device(int *socks, int n)
{
	int hung = itest_dev("hung", O_RDWR);

	itest_hang("hung");
	for (int i = 0; i < n; i++) {
		socks[i] = itest_conn();
		send_pr_in(socks[i], hung);
		if (i == 0)
			cr_assert_eq(th_wait_shim_calls(&itest_env, 1,
					 TH_TIMEOUT_MS),
			    1);
	}
}

/* On each of the n sockets, one answer (GOOD if good, else ABORTED
 * COMMAND 00/06), then EOF; the sockets are closed. */
static void
expect_answers_then_eof(const int *socks, int n, bool good)
{
	struct client_reply r;

	for (int i = 0; i < n; i++) {
		read_answer(socks[i], &r,
		    good ? "command" : "command still out");
		if (good)
			itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
		else
			itest_expect_ioerr(&r);
		itest_expect_closed(socks[i]);
		close(socks[i]);
	}
}

/* SIGTERM, and wait until the helper says it is stopping. */
static void
sigterm_and_wait_stopping(void)
{
	cr_assert_eq(kill(itest_env.pid, SIGTERM), 0);
	cr_assert_eq(th_wait_notify(&itest_env, "STOPPING=1", TH_TIMEOUT_MS),
	    0);
}

/* Wait for the helper's exit and assert it is 0. */
static void
expect_exit_0(void)
{
	int st = -1;

	cr_assert_eq(th_wait_exit(&itest_env, TH_TIMEOUT_MS, &st), 0,
	    "no exit");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status 0x%x",
	    st);
}

Test(drain, command_in_flight_is_answered_before_the_eof)
{
	struct client_reply r;
	uint8_t cdb[PRH_CDB_LEN];
	int busy, idle, hung;

	itest_start(TH_OURS, NULL);
	hung = itest_dev("hung", O_RDWR);
	itest_hang("hung");
	idle = itest_conn();
	busy = itest_conn();
	send_pr_in(busy, hung);
	cr_assert_eq(th_wait_shim_calls(&itest_env, 1, TH_TIMEOUT_MS), 1);
	sigterm_and_wait_stopping();
	/* The idle connection ends at once, the command still out; its
	 * client can send nothing more (QEMU then reconnects). */
	itest_expect_closed(idle);
	client_cdb_pr_in(cdb, 0, 8192);
	cr_expect_eq(send(idle, cdb, sizeof(cdb), MSG_NOSIGNAL), -1);
	cr_expect_eq(itest_calls_on("hung"), 1);
	/* The device answers: so does the helper, then the EOF. */
	cr_assert_eq(th_shim_set(&itest_env, "* status=0x18\n"), 0);
	read_answer(busy, &r, "command in flight");
	itest_expect(&r, PRH_STATUS_RESERVATION_CONFLICT, -1, 0, 0);
	itest_expect_closed(busy);
	expect_exit_0();
	close(idle);
	close(busy);
}

Test(drain, request_sent_before_the_signal_is_run_and_answered)
{
	struct client_reply r;
	struct th_sgio_call *calls;
	int sock, hung, lun, n;

	itest_start(TH_OURS, NULL);
	hung = itest_dev("hung", O_RDWR);
	lun = itest_dev("lun", O_RDWR);
	cr_assert_eq(th_shim_set(&itest_env, "%s hang=1\n* status=0\n",
			 itest_dev_path("hung")),
	    0);
	sock = itest_conn();
	send_pr_in(sock, hung);
	cr_assert_eq(th_wait_shim_calls(&itest_env, 1, TH_TIMEOUT_MS), 1);
	/* A REGISTER behind it: in the socket, unread, when the signal
	 * comes. */
	send_register(sock, lun, 0xabcd);
	sigterm_and_wait_stopping();
	cr_expect_eq(itest_calls_on("lun"), 0);
	cr_assert_eq(th_shim_set(&itest_env, "* status=0\n"), 0);
	read_answer(sock, &r, "command in flight");
	itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
	read_answer(sock, &r, "request in the socket");
	itest_expect(&r, PRH_STATUS_GOOD, -1, 0, 0);
	itest_expect_closed(sock);
	expect_exit_0();
	/* It ran: the device got the REGISTER with its key. */
	n = th_shim_calls(&itest_env, &calls);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(calls[1].path, itest_dev_path("lun"));
	cr_expect_eq(calls[1].cdb[0], PRH_OP_PR_OUT);
	cr_expect_eq(calls[1].param_len, 24);
	cr_expect_eq(calls[1].param[15], 0xcd);
	free(calls);
	close(sock);
}

Test(drain, queued_and_parked_commands_run_and_are_answered)
{
	static const char *const args[] = {
		"--threads=2",
		"--max-per-device=1",
		"--queue-max=4",
		NULL,
	};
	enum {
		N = 6
	};
	int socks[N];

	itest_start(TH_OURS, args);
	/* One runs, one waits in the device's queue (queue-max / 4), four
	 * wait for room in it (parked). */
	send_to_hung_device(socks, N);
	sigterm_and_wait_stopping();
	cr_assert_eq(th_shim_set(&itest_env, "* status=0\n"), 0);
	expect_answers_then_eof(socks, N, true);
	cr_expect_eq(itest_calls_on("hung"), N);
	expect_exit_0();
}

/* Commands on a device that never answers: one running, one queued, one
 * parked; the helper is stopped by how (SIGTERM again, or the drain's
 * time running out).  Each is answered ABORTED COMMAND 00/06, then EOF,
 * then exit 0. */
static void
stop_with_commands_out(bool second_signal)
{
	static const char *const args[] = {
		"--threads=2",
		"--max-per-device=1",
		"--queue-max=4",
		"--sg-timeout=1",
		"-v", /* the line of the second signal is informational */
		NULL,
	};
	enum {
		N = 3
	};
	int socks[N];

	itest_start(TH_OURS, args);
	send_to_hung_device(socks, N);
	sigterm_and_wait_stopping();
	if (second_signal)
		cr_assert_eq(kill(itest_env.pid, SIGINT), 0);
	/* The drain's time is --sg-timeout + 5 s. */
	expect_answers_then_eof(socks, N, false);
	expect_exit_0();
	itest_expect_stderr(second_signal ? "answering the commands still out"
					  : "answering them ABORTED COMMAND");
	cr_expect_eq(itest_calls_on("hung"), 1);
}

Test(drain, second_signal_answers_every_command_still_out)
{
	stop_with_commands_out(true);
}

Test(drain, drain_timeout_answers_every_command_still_out)
{
	stop_with_commands_out(false);
}
