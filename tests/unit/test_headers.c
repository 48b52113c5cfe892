/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Every interface header compiles on its own (each one first in its own
 * translation unit, compiled here with the project's compiler) and all of
 * them together in one translation unit (this file). */
#include "prh/client.h"
#include "prh/config.h"
#include "prh/conn.h"
#include "prh/fdpass.h"
#include "prh/log.h"
#include "prh/notify.h"
#include "prh/pool.h"
#include "prh/proto.h"
#include "prh/protocol.h"
#include "prh/scsi_result.h"
#include "prh/server.h"
#include "prh/sgio.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <criterion/criterion.h>

#ifndef PRH_TEST_CC
#error PRH_TEST_CC must name the compiler
#endif
#ifndef PRH_TEST_CFLAGS
#define PRH_TEST_CFLAGS ""
#endif

/* Compile "#include <prh/name>" twice as a whole TU; return the exit code. */
static int
compile_header(const char *srcdir, const char *name)
{
	char cmd[4096];
	FILE *p;
	int n, st;

	n = snprintf(cmd, sizeof(cmd),
	    "%s %s -Wall -Wextra -Werror "
	    "-Wmissing-prototypes -Wstrict-prototypes -Wshadow "
	    "-Wno-unused-parameter -fsyntax-only -I'%s/include' -x c -",
	    PRH_TEST_CC, PRH_TEST_CFLAGS, srcdir);
	cr_assert(n > 0 && (size_t)n < sizeof(cmd));
	p = popen(cmd, "w");
	cr_assert_not_null(p, "popen %s", cmd);
	fprintf(p,
	    "#include \"prh/%s\"\n#include \"prh/%s\"\n"
	    "int prh_header_test_anchor;\n",
	    name, name);
	st = pclose(p);
	cr_assert_neq(st, -1);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

Test(headers, each_header_standalone)
{
	const char *srcdir = getenv("PRH_TOP_SRCDIR");
	char dir[4096];
	struct dirent *de;
	DIR *d;
	size_t len;
	int count = 0;

	cr_assert_not_null(srcdir, "PRH_TOP_SRCDIR not set");
	snprintf(dir, sizeof(dir), "%s/include/prh", srcdir);
	d = opendir(dir);
	cr_assert_not_null(d, "cannot open %s", dir);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 3 || strcmp(de->d_name + len - 2, ".h") != 0)
			continue;
		count++;
		cr_expect_eq(compile_header(srcdir, de->d_name), 0,
		    "prh/%s does not compile on its own", de->d_name);
	}
	closedir(d);
	cr_expect_geq(count, 10, "only %d headers found in %s", count, dir);
}

Test(headers, wire_constants)
{
	cr_expect_eq(PRH_HELLO_LEN, 4);
	cr_expect_eq(PRH_CDB_LEN, 16);
	cr_expect_eq(PRH_SENSE_LEN, 96);
	cr_expect_eq(PRH_DATA_MAX, 8192);
	cr_expect_eq(PRH_REPLY_HDR_LEN, 104);
	cr_expect_eq(sizeof(((struct scsi_result *)0)->sense), 96);
}
