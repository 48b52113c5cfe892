/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for config: defaults, every option (-k -q -v, the pool and
 * timeout options, -d -f -u -g -T, --multipath, --guest-pr-policy), and
 * the errors. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <criterion/redirect.h>

#include "prh/config.h"
#include "prh/mpath.h"
#include "prh/trace.h"

/* Parse a NULL-terminated argument list. */
static enum config_action
parse(struct prh_config *cfg, const char **args)
{
	char *argv[32];
	int argc = 0;

	argv[argc++] = (char *)"qemu-pr-helper";
	while (*args != NULL && argc < 31)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	return config_parse(cfg, argc, argv);
}

/* Silence and capture stdio for tests that print; -T state starts clean. */
static void
redirect(void)
{
	trace_reset();
	cr_redirect_stdout();
	cr_redirect_stderr();
}

Test(config, defaults)
{
	struct prh_config cfg;
	const char *args[] = { NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_RUN);
	cr_assert_str_eq(cfg.socket_path,
	    PRH_RUNSTATEDIR "/qemu-pr-helper.sock");
	cr_assert(!cfg.socket_given);
	cr_assert_eq(cfg.verbosity, 1);
	cr_assert_eq(cfg.sg_timeout, 30);
	cr_assert_eq(cfg.pr_ua_retries, 5);
	cr_assert_geq(cfg.threads, 1);
	cr_assert_geq(cfg.max_per_device, 1);
	cr_assert_leq(cfg.max_per_device, cfg.threads);
	cr_assert_geq(cfg.queue_max, 1);
}

Test(config, every_option)
{
	struct prh_config cfg;
	const char *args[] = { "-k", "/tmp/x.sock", "-v", "-v", "--threads=8",
		"--max-per-device", "3", "--queue-max=100", "--sg-timeout=5",
		NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_RUN);
	cr_assert_str_eq(cfg.socket_path, "/tmp/x.sock");
	cr_assert(cfg.socket_given);
	cr_assert_eq(cfg.verbosity, 3);
	cr_assert_eq(cfg.threads, 8);
	cr_assert_eq(cfg.max_per_device, 3);
	cr_assert_eq(cfg.queue_max, 100);
	cr_assert_eq(cfg.sg_timeout, 5);
}

Test(config, long_socket_and_quiet)
{
	struct prh_config cfg;
	const char *args[] = { "--socket=/run/a.sock", "-v", "--quiet", NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_RUN);
	cr_assert_str_eq(cfg.socket_path, "/run/a.sock");
	cr_assert_eq(cfg.verbosity, 0);
}

Test(config, per_device_capped_by_threads)
{
	struct prh_config cfg;
	const char *args[] = { "--threads=2", "--max-per-device=9", NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_RUN);
	cr_assert_eq(cfg.max_per_device, 2);
}

Test(config, positional_arguments_ignored)
{
	struct prh_config cfg;
	const char *args[] = { "extra", NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_RUN);
}

Test(config, relative_socket_refused, .init = redirect)
{
	struct prh_config cfg;
	const char *args[] = { "-k", "rel.sock", NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_EXIT_ERROR);
	fflush(stderr);
	cr_assert_stderr_eq_str(
	    "qemu-pr-helper: socket path must be absolute\n");
}

Test(config, socket_too_long_refused, .init = redirect)
{
	struct prh_config cfg;
	char path[200];
	const char *args[] = { "-k", path, NULL };

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	cr_assert_eq(parse(&cfg, args), CONFIG_EXIT_ERROR);
}

/* One invalid numeric value. */
struct bad_case {
	char arg[40];
};

ParameterizedTestParameters(config, bad_numbers)
{
	static struct bad_case cases[] = {
		{ "--threads=0" },
		{ "--threads=abc" },
		{ "--threads=-1" },
		{ "--threads=" },
		{ "--threads=100000" },
		{ "--max-per-device=0" },
		{ "--queue-max=0" },
		{ "--sg-timeout=0" },
		{ "--sg-timeout=99999999999" },
		{ "--sg-timeout=1x" },
		{ "--pr-ua-retries=17" },
		{ "--pr-ua-retries=-1" },
		{ "--pr-ua-retries=" },
	};
	return cr_make_param_array(struct bad_case, cases,
	    sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, config, bad_numbers, .init = redirect)
{
	struct prh_config cfg;
	const char *args[] = { c->arg, NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_EXIT_ERROR, "%s", c->arg);
}

Test(config, unknown_option_hint, .init = redirect)
{
	struct prh_config cfg;
	const char *args[] = { "--bogus", NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_EXIT_ERROR);
	fflush(stderr);
	cr_assert_stderr_neq_str("");
}

Test(config, help_and_version_exit_ok, .init = redirect)
{
	struct prh_config cfg;
	const char *h[] = { "-h", NULL };
	const char *v[] = { "--version", NULL };

	cr_assert_eq(parse(&cfg, h), CONFIG_EXIT_OK);
	cr_assert_eq(parse(&cfg, v), CONFIG_EXIT_OK);
}

Test(config, error_before_help_wins, .init = redirect)
{
	struct prh_config cfg;
	const char *args[] = { "--threads=0", "-h", NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_EXIT_ERROR);
}

/* -d -f -u -g -T: the process-model options. */

Test(opts, defaults)
{
	struct prh_config cfg;
	const char *args[] = { NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_RUN);
	cr_expect_not(cfg.daemonize);
	cr_expect_not(cfg.pidfile_given);
	cr_expect_str_eq(cfg.pidfile, PRH_RUNSTATEDIR "/qemu-pr-helper.pid");
	cr_expect_null(cfg.user);
	cr_expect_null(cfg.group);
}

Test(opts, short_forms)
{
	struct prh_config cfg;
	const char *args[] = { "-d", "-f", "/tmp/x.pid", "-u", "nobody", "-g",
		"nogroup", NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_RUN);
	cr_expect(cfg.daemonize);
	cr_expect(cfg.pidfile_given);
	cr_expect_str_eq(cfg.pidfile, "/tmp/x.pid");
	cr_expect_str_eq(cfg.user, "nobody");
	cr_expect_eq(cfg.uid, 65534);
	cr_expect_str_eq(cfg.group, "nogroup");
	cr_expect_eq(cfg.gid, 65534);
}

Test(opts, long_forms_and_numbers)
{
	struct prh_config cfg;
	const char *args[] = { "--daemon", "--pidfile=rel.pid", "--user=107",
		"--group", "108", NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_RUN);
	cr_expect(cfg.daemonize);
	cr_expect_str_eq(cfg.pidfile, "rel.pid");
	cr_expect_eq(cfg.uid, 107);
	cr_expect_eq(cfg.gid, 108);
}

Test(opts, root_by_name)
{
	struct prh_config cfg;
	const char *args[] = { "-u", "root", "-g", "root", NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_RUN);
	cr_expect_eq(cfg.uid, 0);
	cr_expect_eq(cfg.gid, 0);
}

Test(opts, invalid_user, .init = redirect)
{
	struct prh_config cfg;
	const char *args[] = { "-u", "no-such-user-xyz", NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_EXIT_ERROR);
	fflush(stderr);
	cr_expect_stderr_eq_str("qemu-pr-helper: invalid user "
				"'no-such-user-xyz'\n");
}

Test(opts, invalid_group, .init = redirect)
{
	struct prh_config cfg;
	const char *args[] = { "--group=12ab", NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_EXIT_ERROR);
	fflush(stderr);
	cr_expect_stderr_eq_str("qemu-pr-helper: invalid group '12ab'\n");
}

Test(opts, invalid_negative_uid, .init = redirect)
{
	struct prh_config cfg;
	const char *args[] = { "-u", "-1", NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_EXIT_ERROR);
}

Test(opts, trace_help_lists_points, .init = redirect)
{
	struct prh_config cfg;
	const char *args[] = { "-T", "help", NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_EXIT_OK);
	fflush(stdout);
	cr_expect_stdout_neq_str("");
}

Test(opts, trace_enables, .init = redirect)
{
	struct prh_config cfg;
	const char *args[] = { "-T", "prh_accept", "--trace=enable=prh_close",
		NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_RUN);
	cr_expect(trace_on[TP_ACCEPT]);
	cr_expect(trace_on[TP_CLOSE]);
	cr_expect_not(trace_on[TP_REPLY]);
}

Test(opts, trace_error_exits, .init = redirect)
{
	struct prh_config cfg;
	const char *args[] = { "-T", "bogus=x", NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_EXIT_ERROR);
}

Test(opts, empty_pidfile_refused, .init = redirect)
{
	struct prh_config cfg;
	const char *args[] = { "-f", "", NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_EXIT_ERROR);
}

Test(config, multipath_modes)
{
	struct prh_config cfg;
	const char *none[] = { NULL };
	const char *on[] = { "--multipath=on", NULL };
	const char *off[] = { "--multipath", "off", NULL };
	const char *last[] = { "--multipath=off", "--multipath=auto", NULL };
	const char *kernel[] = { "--multipath=kernel", "-u", "65534", NULL };

	cr_assert_eq(parse(&cfg, none), CONFIG_RUN);
	cr_expect_eq(cfg.multipath, MPATH_MODE_AUTO);
	cr_assert_eq(parse(&cfg, on), CONFIG_RUN);
	cr_expect_eq(cfg.multipath, MPATH_MODE_ON);
	cr_assert_eq(parse(&cfg, off), CONFIG_RUN);
	cr_expect_eq(cfg.multipath, MPATH_MODE_OFF);
	cr_assert_eq(parse(&cfg, last), CONFIG_RUN);
	cr_expect_eq(cfg.multipath, MPATH_MODE_AUTO);
	/* The kernel mode needs no uid 0. */
	cr_assert_eq(parse(&cfg, kernel), CONFIG_RUN);
	cr_expect_eq(cfg.multipath, MPATH_MODE_KERNEL);
}

/* Parsing args fails with the message msg on stderr (after redirect). */
static void
expect_refused(const char **args, const char *msg)
{
	struct prh_config cfg;

	cr_assert_eq(parse(&cfg, args), CONFIG_EXIT_ERROR);
	fflush(stderr);
	cr_assert_stderr_eq_str(msg);
}

Test(config, multipath_bad_value, .init = redirect)
{
	const char *args[] = { "--multipath=yes", NULL };

	expect_refused(args,
	    "qemu-pr-helper: invalid value 'yes' for "
	    "--multipath (expected auto, on, kernel or off)\n");
}

/* The library opens the path devices and multipathd takes keys from
 * root only: asking for multipath and another user is an error. */
Test(config, multipath_on_needs_uid_0, .init = redirect)
{
	struct prh_config cfg;
	const char *args[] = { "--multipath=on", "-u", "65534", NULL };
	const char *root[] = { "--multipath=on", "-u", "0", NULL };
	const char *autom[] = { "-u", "65534", NULL };

	cr_assert_eq(parse(&cfg, args), CONFIG_EXIT_ERROR);
	fflush(stderr);
	cr_assert_stderr_eq_str(
	    "qemu-pr-helper: --multipath=on needs uid 0, not -u 65534\n");
	cr_expect_eq(parse(&cfg, root), CONFIG_RUN);
	cr_expect_eq(parse(&cfg, autom), CONFIG_RUN);
}

Test(config, pr_ua_retries)
{
	struct prh_config cfg;
	const char *off[] = { "--pr-ua-retries=0", NULL };
	const char *most[] = { "--pr-ua-retries", "16", NULL };

	cr_assert_eq(parse(&cfg, off), CONFIG_RUN);
	cr_expect_eq(cfg.pr_ua_retries, 0);
	cr_assert_eq(parse(&cfg, most), CONFIG_RUN);
	cr_expect_eq(cfg.pr_ua_retries, 16);
}

Test(config, pr_ua_retries_bad_value, .init = redirect)
{
	const char *args[] = { "--pr-ua-retries=17", NULL };

	expect_refused(args,
	    "qemu-pr-helper: invalid value '17' for "
	    "--pr-ua-retries (expected 0 to 16)\n");
}

/* The guest PR policy is on unless --guest-pr-policy=off; the last one
 * given counts. */
Test(config, guest_pr_policy)
{
	struct prh_config cfg;
	const char *none[] = { NULL };
	const char *off[] = { "--guest-pr-policy=off", NULL };
	const char *on[] = { "--guest-pr-policy", "on", NULL };
	const char *last[] = { "--guest-pr-policy=on", "--guest-pr-policy=off",
		NULL };

	cr_assert_eq(parse(&cfg, none), CONFIG_RUN);
	cr_expect_not(cfg.guest_pr_off);
	cr_assert_eq(parse(&cfg, off), CONFIG_RUN);
	cr_expect(cfg.guest_pr_off);
	cr_assert_eq(parse(&cfg, on), CONFIG_RUN);
	cr_expect_not(cfg.guest_pr_off);
	cr_assert_eq(parse(&cfg, last), CONFIG_RUN);
	cr_expect(cfg.guest_pr_off);
}

Test(config, guest_pr_policy_bad_value, .init = redirect)
{
	const char *args[] = { "--guest-pr-policy=guest", NULL };

	expect_refused(args,
	    "qemu-pr-helper: invalid value 'guest' for "
	    "--guest-pr-policy (expected on or off)\n");
}
