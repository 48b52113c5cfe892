/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared pieces of the integration suites (see itest.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

struct th_env itest_env = { .pidfd = -1, .notify_fd = -1, .ino_fd = -1 };

/* Suite teardown: stop the helper, remove the temp dir. */
void
itest_fini(void)
{
	th_env_fini(&itest_env);
}

/* Skip unless kind can run; then make the env (no helper started). */
void
itest_prepare(enum th_kind kind)
{
	const char *why;
	int rc;

	if (th_helper_usable(kind, &why) < 0)
		cr_skip_test("%s", why);
	rc = th_env_init(&itest_env, kind);
	cr_assert_eq(rc, 0, "temp dir: %s", strerror(-rc));
}

/* itest_prepare() and start the helper, asserting that it serves. */
void
itest_start(enum th_kind kind, const char *const *args)
{
	char *err;
	int rc;

	itest_prepare(kind);
	rc = th_start(&itest_env, args);
	if (rc < 0) {
		err = th_stderr(&itest_env);
		cr_assert_fail("%s helper did not start: %s; stderr: %s",
		    th_kind_name(kind), strerror(-rc), err ? err : "");
	}
}

/* Make/open a "device" file name in the env with oflags: fd. */
int
itest_dev(const char *name, int oflags)
{
	int fd = th_make_dev(&itest_env, name, oflags, NULL, 0);

	cr_assert_geq(fd, 0, "device %s: %s", name, strerror(-fd));
	return fd;
}

/* Path of the device file name in the env (static buffer). */
const char *
itest_dev_path(const char *name)
{
	static char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", itest_env.dir, name);
	return path;
}

/* Make SG_IO on the device file name hang (the shim's hang=1) until the
 * shim's rules change. */
void
itest_hang(const char *name)
{
	cr_assert_eq(th_shim_set(&itest_env, "%s hang=1\n",
			 itest_dev_path(name)),
	    0);
}

/* Connect with the handshake: socket fd. */
int
itest_conn(void)
{
	int fd = th_connect(&itest_env);

	cr_assert_geq(fd, 0, "connect: %s", strerror(-fd));
	return fd;
}

/* Read the helper's 4-byte hello on sock (connected raw) and answer it. */
void
itest_handshake(int sock)
{
	uint8_t hello[PRH_HELLO_LEN] = { 0 };

	cr_assert_eq(client_read_all(sock, hello, sizeof(hello)), 0,
	    "no hello");
	cr_assert_eq(client_write_all(sock, hello, sizeof(hello)), 0);
}

/* A new client is served at once: a PR IN with dev (a regular file, no
 * shim rule) on a new connection gets its answer, ABORTED 00/06. */
void
itest_expect_served(int dev)
{
	struct client_reply r;
	int sock = itest_conn();

	itest_pr_in(sock, dev, 0, 8192, &r);
	itest_expect_ioerr(&r);
	close(sock);
}

/* PR IN with service action sa and allocation length on devfd. */
void
itest_pr_in(int sock, int devfd, uint8_t sa, uint16_t alloc,
    struct client_reply *r)
{
	uint8_t cdb[PRH_CDB_LEN];
	int rc;

	client_cdb_pr_in(cdb, sa, alloc);
	rc = client_command(sock, cdb, devfd, NULL, 0, r);
	cr_assert_eq(rc, 0, "PR IN: %s", strerror(-rc));
}

/* PR OUT REGISTER with a 24-byte parameter list on devfd. */
void
itest_pr_out(int sock, int devfd, struct client_reply *r)
{
	uint8_t cdb[PRH_CDB_LEN], param[24];
	int rc;

	client_cdb_pr_out(cdb, 0x00, 0x00, sizeof(param));
	client_param_basic(param, 0, 0x1234, 0);
	rc = client_command(sock, cdb, devfd, param, sizeof(param), r);
	cr_assert_eq(rc, 0, "PR OUT: %s", strerror(-rc));
}

/* Assert status, size 0 and the 96-byte sense. */
void
itest_expect(const struct client_reply *r, uint32_t status, int key,
    uint8_t asc, uint8_t ascq)
{
	uint8_t want[PRH_SENSE_LEN];
	char got_hex[2 * PRH_SENSE_LEN + 1], want_hex[2 * PRH_SENSE_LEN + 1];

	if (key < 0)
		memset(want, 0, sizeof(want));
	else
		th_sense_fixed(want, (uint8_t)key, asc, ascq);
	cr_expect_eq(r->status, status, "status 0x%02x, expected 0x%02x",
	    r->status, status);
	cr_expect_eq(r->size, 0, "size %u, expected 0", r->size);
	th_hex(got_hex, r->sense, PRH_SENSE_LEN);
	th_hex(want_hex, want, PRH_SENSE_LEN);
	cr_expect_str_eq(got_hex, want_hex, "sense");
}

/* Assert CHECK CONDITION with the helper's ABORTED COMMAND 00/06. */
void
itest_expect_ioerr(const struct client_reply *r)
{
	itest_expect(r, PRH_STATUS_CHECK_CONDITION, PRH_SK_ABORTED_COMMAND,
	    0x00, 0x06);
}

/* Assert the helper closes sock without sending anything. */
void
itest_expect_closed(int sock)
{
	int rc = th_wait_closed(sock, TH_TIMEOUT_MS);

	cr_assert_eq(rc, 0, "connection not closed: %s",
	    rc == -EPROTO ? "bytes received" : strerror(-rc));
}

/* Assert the helper's stderr gets needle. */
void
itest_expect_stderr(const char *needle)
{
	char *err;

	if (th_wait_stderr(&itest_env, needle, TH_TIMEOUT_MS) == 0)
		return;
	err = th_stderr(&itest_env);
	cr_assert_fail("stderr lacks \"%s\": \"%s\"", needle, err ? err : "");
}

/* Occurrences of needle in the helper's stderr. */
int
itest_stderr_count(const char *needle)
{
	char *err = th_stderr(&itest_env), *p;
	int n = 0;

	cr_assert_not_null(err);
	for (p = err; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	free(err);
	return n;
}

/* Number of shim log calls made on the device file name. */
int
itest_calls_on(const char *name)
{
	struct th_sgio_call *calls;
	const char *path = itest_dev_path(name);
	int n, i, hits = 0;

	n = th_shim_calls(&itest_env, &calls);
	cr_assert_geq(n, 0, "shim log: %s", strerror(-n));
	for (i = 0; i < n; i++)
		if (strcmp(calls[i].path, path) == 0)
			hits++;
	free(calls);
	return hits;
}

/* Fd count of the helper once it is back to at most want. */
int
itest_fds_settle(int want)
{
	int n = th_wait_fd_count(itest_env.pid, want, TH_TIMEOUT_MS);

	cr_assert_geq(n, 0, "fd count: %s", strerror(-n));
	return n;
}

/* Exit status of a helper run to completion with args. */
int
itest_run_exit(enum th_kind kind, const char *const *args)
{
	int rc, st = 0;

	(void)kind;
	rc = th_run(&itest_env, args, TH_NO_SOCKET_ARG | TH_NO_SHIM,
	    TH_TIMEOUT_MS, &st);
	cr_assert_eq(rc, 0, "run: %s", strerror(-rc));
	cr_assert(WIFEXITED(st), "helper killed by signal %d",
	    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return WEXITSTATUS(st);
}

/* Parse "qemu-pr-helper MAJOR.MINOR.MICRO" in text (the -V line):
 * ITEST_RELEASE(major, minor, micro), or -EINVAL. */
static int
release_of(const char *text)
{
	const char *p = text != NULL ? strstr(text, "qemu-pr-helper ") : NULL;
	unsigned major, minor, micro = 0;

	if (p == NULL ||
	    sscanf(p, "qemu-pr-helper %u.%u.%u", &major, &minor, &micro) < 2 ||
	    major > 99 || minor > 99 || micro > 99)
		return -EINVAL;
	return ITEST_RELEASE((int)major, (int)minor, (int)micro);
}

/* Run the reference of kind with -V in an env of its own: its release. */
int
itest_ref_release(enum th_kind kind)
{
	static const char *const args[] = { "-V", NULL };
	struct th_env e = { .pidfd = -1, .notify_fd = -1, .ino_fd = -1 };
	char line[128] = "";
	const char *why;
	char *out;
	int rc, st = 0, release;

	if (th_helper_usable(kind, &why) < 0)
		cr_skip_test("%s", why);
	rc = th_env_init(&e, kind);
	cr_assert_eq(rc, 0, "temp dir: %s", strerror(-rc));
	rc = th_run(&e, args, TH_NO_SOCKET_ARG | TH_NO_SHIM, TH_TIMEOUT_MS,
	    &st);
	out = rc == 0 ? th_read_file(e.out, NULL) : NULL;
	release = release_of(out);
	if (out != NULL)
		snprintf(line, sizeof(line), "%.*s", (int)strcspn(out, "\n"),
		    out);
	free(out);
	th_env_fini(&e);
	cr_assert_eq(rc, 0, "%s -V: %s", th_kind_name(kind), strerror(-rc));
	cr_assert_geq(release, 0, "%s -V names no release: %s",
	    th_kind_name(kind), line);
	return release;
}

/* Skip unless the reference of kind is release or later (at_least) or
 * earlier. */
void
itest_need_release(enum th_kind kind, int release, bool at_least)
{
	int r = itest_ref_release(kind);

	if (at_least != (r >= release))
		cr_skip_test("%s is QEMU %d.%d.%d; this needs %s %d.%d.%d",
		    th_kind_name(kind), r / 10000, r / 100 % 100, r % 100,
		    at_least ? "at least" : "one before", release / 10000,
		    release / 100 % 100, release % 100);
}
