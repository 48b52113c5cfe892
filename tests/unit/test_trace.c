/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for trace: -T parsing, glob matching, events files, output. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "prh/trace.h"

/* Start every test with no point enabled. */
static void
setup(void)
{
	trace_reset();
}

/* Also capture stdio. */
static void
setup_redirect(void)
{
	trace_reset();
	cr_redirect_stdout();
	cr_redirect_stderr();
}

/* Number of enabled points. */
static int
count_on(void)
{
	int n = 0;

	for (int i = 0; i < TP_COUNT; i++)
		n += trace_on[i];
	return n;
}

/* A temp file path in a fresh directory (static buffer). */
static const char *
tmp_path(const char *name)
{
	static char dir[64], path[128];

	if (dir[0] == '\0') {
		strcpy(dir, "/tmp/prh-trace-XXXXXX");
		cr_assert_not_null(mkdtemp(dir));
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

TestSuite(trace, .init = setup, .fini = trace_reset);

Test(trace, names_are_unique_and_prefixed)
{
	for (int i = 0; i < TP_COUNT; i++) {
		cr_assert_not_null(trace_name(i));
		cr_expect_eq(strncmp(trace_name(i), "prh_", 4), 0);
		for (int j = 0; j < i; j++)
			cr_expect_str_neq(trace_name(i), trace_name(j));
	}
	cr_expect_null(trace_name(TP_COUNT));
}

Test(trace, nothing_enabled_by_default)
{
	cr_expect_eq(count_on(), 0);
}

Test(trace, exact_name)
{
	cr_expect_eq(trace_enable_pattern("prh_accept"), 1);
	cr_expect(trace_on[TP_ACCEPT]);
	cr_expect_eq(count_on(), 1);
}

Test(trace, glob_star_and_question)
{
	cr_expect_eq(trace_enable_pattern("prh_s*"),
	    3); /* submit, sgio_done, signal */
	cr_expect(trace_on[TP_SUBMIT]);
	cr_expect(trace_on[TP_SGIO_DONE]);
	cr_expect(trace_on[TP_SIGNAL]);
	cr_expect_not(trace_on[TP_REPLY]);
	trace_reset();
	cr_expect_eq(trace_enable_pattern("prh_?eply"), 1);
	cr_expect(trace_on[TP_REPLY]);
	trace_reset();
	cr_expect_eq(trace_enable_pattern("*"), TP_COUNT);
}

Test(trace, minus_disables)
{
	trace_enable_pattern("*");
	cr_expect_eq(trace_enable_pattern("-prh_close"), 1);
	cr_expect_not(trace_on[TP_CLOSE]);
	cr_expect_eq(count_on(), TP_COUNT - 1);
}

Test(trace, no_match)
{
	cr_expect_eq(trace_enable_pattern("qemu_*"), 0);
	cr_expect_eq(count_on(), 0);
}

Test(trace, opt_bare_and_enable, .init = setup_redirect)
{
	cr_expect_eq(trace_parse_opt("prh_accept"), 0);
	cr_expect_eq(trace_parse_opt("enable=prh_close"), 0);
	cr_expect(trace_on[TP_ACCEPT]);
	cr_expect(trace_on[TP_CLOSE]);
	cr_expect_eq(count_on(), 2);
}

Test(trace, opt_help)
{
	cr_expect_eq(trace_parse_opt("help"), 1);
	cr_expect_eq(trace_parse_opt("enable=help"), 1);
}

Test(trace, opt_several_elements, .init = setup_redirect)
{
	cr_expect_eq(trace_parse_opt("enable=prh_reply,file=/dev/null"), 0);
	cr_expect(trace_on[TP_REPLY]);
	cr_expect_eq(count_on(), 1);
}

Test(trace, opt_errors, .init = setup_redirect)
{
	cr_expect_lt(trace_parse_opt(""), 0);
	cr_expect_lt(trace_parse_opt("bogus=1"), 0);
	cr_expect_lt(trace_parse_opt("file="), 0);
	cr_expect_lt(trace_parse_opt("enable="), 0);
	cr_expect_lt(trace_parse_opt("events=/nonexistent/events"), 0);
}

Test(trace, unknown_name_warns, .init = setup_redirect)
{
	cr_expect_eq(trace_parse_opt("prh_nosuch"), 0);
	fflush(stderr);
	cr_expect_stderr_eq_str("qemu-pr-helper: WARNING: trace event "
				"'prh_nosuch' does not exist\n");
}

Test(trace, events_file, .init = setup_redirect)
{
	const char *path = tmp_path("events");
	char arg[160];
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs("# comment\n\n  prh_accept  \nprh_s*\n-prh_signal\n", f);
	fclose(f);
	snprintf(arg, sizeof(arg), "events=%s", path);
	cr_expect_eq(trace_parse_opt(arg), 0);
	cr_expect(trace_on[TP_ACCEPT]);
	cr_expect(trace_on[TP_SUBMIT]);
	cr_expect(trace_on[TP_SGIO_DONE]);
	cr_expect_not(trace_on[TP_SIGNAL]);
	cr_expect_eq(count_on(), 3);
	unlink(path);
}

Test(trace, list_has_every_point, .init = setup_redirect)
{
	char buf[4096] = "";
	FILE *f = tmpfile();

	cr_assert_not_null(f);
	trace_list(f);
	rewind(f);
	cr_assert_gt(fread(buf, 1, sizeof(buf) - 1, f), 0);
	fclose(f);
	for (int i = 0; i < TP_COUNT; i++)
		cr_expect_not_null(strstr(buf, trace_name(i)), "%s",
		    trace_name(i));
}

Test(trace, file_output_format)
{
	const char *path = tmp_path("out");
	char arg[160], buf[512] = "", name[32], rest[256];
	long long sec;
	long usec;
	int pid, tid, fd;

	snprintf(arg, sizeof(arg), "enable=prh_request,file=%s", path);
	cr_assert_eq(trace_parse_opt(arg), 0);
	cr_assert_eq(trace_open(), 0);
	TRACE(TP_REQUEST, "opcode=0x%02x sa=%u", 0x5e, 1u);
	TRACE(TP_REPLY, "never=%d", 1); /* disabled */
	trace_close();
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_gt(read(fd, buf, sizeof(buf) - 1), 0);
	close(fd);
	cr_assert_eq(sscanf(buf, "%lld.%6ld %d/%d %31s %255[^\n]", &sec, &usec,
			 &pid, &tid, name, rest),
	    6, "line: %s", buf);
	cr_expect_eq(pid, getpid());
	cr_expect_str_eq(name, "prh_request");
	cr_expect_str_eq(rest, "opcode=0x5e sa=1");
	cr_expect_eq(strchr(buf, '\n') - buf + 1, (long)strlen(buf),
	    "exactly one line: %s", buf);
	unlink(path);
}

Test(trace, disabled_point_does_not_evaluate)
{
	int calls = 0;

	TRACE(TP_ACCEPT, "x=%d", ++calls);
	cr_expect_eq(calls, 0);
}
