/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared pieces of the integration suites: one helper per test process,
 * Criterion assertions around the harness and the protocol client.
 *
 * Every case is written once as a function taking the helper kind and
 * registered with ITEST_BOTH() for our helper and both reference peers:
 * suite "ours" runs our helper, suite "qemu" the system's
 * /usr/bin/qemu-pr-helper (QEMU 7.2 on Debian 12, 10.0 on Debian 13),
 * suite "qemu10" QEMU 10.0's (fetched by contrib/qemu10.sh), suite
 * "qemu11" QEMU 11.1's (in the Debian 13 root of contrib/trixie-root.sh);
 * a reference is skipped when it is missing or we are not root.
 * ITEST_REFS() registers a case for the references only: where ours
 * deliberately
 * differs (qemu-pr-helper(8), DIFFERENCES FROM QEMU'S HELPER) and the
 * QEMUs agree.  Where releases differ, a case asks the release it runs
 * (itest_ref_release()) and expects that release's behaviour.
 */
#ifndef PRH_TESTS_ITEST_H
#define PRH_TESTS_ITEST_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>

#include "prh/client.h"
#include "prh/protocol.h"
#include "harness.h"

/* The helper of the running test (one test per process). */
extern struct th_env itest_env;

/* Suite teardown: stop the helper, remove the temp dir. */
void itest_fini(void);

/* Register case_NAME(kind) as suite::NAME for one helper kind. */
#define ITEST_ONE(suite, name, kind) \
	Test(suite, name)            \
	{                            \
		case_##name(kind);   \
	}

/* Register case_NAME(kind) as qemu::NAME, qemu10::NAME and qemu11::NAME. */
#define ITEST_REFS(name)                            \
	static void case_##name(enum th_kind kind); \
	ITEST_ONE(qemu, name, TH_QEMU)              \
	ITEST_ONE(qemu10, name, TH_QEMU10)          \
	ITEST_ONE(qemu11, name, TH_QEMU11)          \
	static void case_##name(enum th_kind kind)

/* Register case_NAME(kind) as ours::NAME and the references' NAME. */
#define ITEST_BOTH(name)                            \
	static void case_##name(enum th_kind kind); \
	ITEST_ONE(ours, name, TH_OURS)              \
	ITEST_REFS(name)

/* Declare the four suites with the shared teardown and timeout. */
#define ITEST_SUITES()                                        \
	TestSuite(ours, .fini = itest_fini, .timeout = 30);   \
	TestSuite(qemu, .fini = itest_fini, .timeout = 30);   \
	TestSuite(qemu10, .fini = itest_fini, .timeout = 30); \
	TestSuite(qemu11, .fini = itest_fini, .timeout = 30)

/* Skip unless kind can run; then make the env (no helper started). */
void itest_prepare(enum th_kind kind);

/* itest_prepare() and start the helper with args (NULL-terminated or
 * NULL), asserting that it serves. */
void itest_start(enum th_kind kind, const char *const *args);

/* Make/open a "device" file name in the env with oflags: fd. */
int itest_dev(const char *name, int oflags);

/* Path of the device file name in the env (static buffer). */
const char *itest_dev_path(const char *name);

/* Make SG_IO on the device file name hang (the shim's hang=1) until the
 * shim's rules change. */
void itest_hang(const char *name);

/* Connect with the handshake: socket fd. */
int itest_conn(void);

/* Read the helper's 4-byte hello on sock (connected raw) and answer it. */
void itest_handshake(int sock);

/* A new client is served at once: a PR IN with dev (a regular file, no
 * shim rule) on a new connection gets its answer, ABORTED 00/06. */
void itest_expect_served(int dev);

/* PR IN with service action sa and allocation length on devfd. */
void itest_pr_in(int sock, int devfd, uint8_t sa, uint16_t alloc,
    struct client_reply *r);

/* PR OUT REGISTER with a 24-byte parameter list on devfd. */
void itest_pr_out(int sock, int devfd, struct client_reply *r);

/* Assert status and 96-byte sense equal to fixed sense key/asc/ascq
 * (key < 0: all-zero sense) and size 0. */
void itest_expect(const struct client_reply *r, uint32_t status, int key,
    uint8_t asc, uint8_t ascq);

/* Assert CHECK CONDITION with the helper's ABORTED COMMAND 00/06. */
void itest_expect_ioerr(const struct client_reply *r);

/* Assert the helper closes sock without sending anything. */
void itest_expect_closed(int sock);

/* Assert the helper's stderr gets needle. */
void itest_expect_stderr(const char *needle);

/* Occurrences of needle in the helper's stderr so far. */
int itest_stderr_count(const char *needle);

/* Number of shim log calls made on the device file name. */
int itest_calls_on(const char *name);

/* Fd count of the helper once it is back to at most want. */
int itest_fds_settle(int want);

/* Exit status of a helper run to completion with args (no -k added
 * unless given); asserts it exited normally within the timeout. */
int itest_run_exit(enum th_kind kind, const char *const *args);

/* A QEMU release as one comparable number: 7.2.22 is 70222. */
#define ITEST_RELEASE(major, minor, micro) \
	((major)*10000 + (minor)*100 + (micro))

/* The QEMU release a reference helper of kind is, from its -V line
 * ("qemu-pr-helper 10.0.2 (Debian ...)"), as ITEST_RELEASE(); skips the
 * test when kind cannot run here.  Tests compare with the release they
 * run, never the one a distribution is assumed to ship. */
int itest_ref_release(enum th_kind kind);

/* Skip the test unless the reference of kind is release (ITEST_RELEASE)
 * or later (at_least true), or earlier than it (false). */
void itest_need_release(enum th_kind kind, int release, bool at_least);

#endif
