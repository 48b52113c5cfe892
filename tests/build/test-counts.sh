#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# contrib/counts.sh reads the counts of a test step; a step that printed
# none is one failure with a clear line, never a shell error (TAP).
set -u
srcdir=${PRH_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$srcdir/contrib/counts.sh"
dir=$(mktemp -d "${TMPDIR:-/tmp}/prh-counts.XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM
n=0

# expect NAME RC P F S [PATTERN]: counts of $dir/out, and the message.
expect() {
	n=$((n + 1))
	msg=$( (prh_counts step "$dir/out" "$2"; echo "=$p/$f/$s") 2>&1)
	got=$(echo "$msg" | sed -n 's/^=//p')
	if [ "$got" = "$3/$4/$5" ] && { [ -z "${6:-}" ] ||
	    echo "$msg" | grep -q -- "$6"; }; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1 (got $got, wanted $3/$4/$5)"
		echo "$msg" | sed 's/^/# /'
	fi
}

printf '# TOTAL: 9\n# PASS:  7\n# SKIP:  1\n# XFAIL: 0\n# FAIL:  1\n# XPASS: 0\n# ERROR: 0\n' >"$dir/out"
expect "automake summary" 2 7 1 1
printf '# TOTAL: 3\n# PASS: 3\n# SKIP: 0\n# FAIL: 0\n# XPASS: 0\n# ERROR: 0\n# TOTAL: 5\n# PASS: 5\n# SKIP: 0\n# FAIL: 0\n# XPASS: 0\n# ERROR: 0\n' >"$dir/out"
expect "the last of two summaries (distcheck)" 0 5 0 0
printf 'noise\n3 passed, 0 failed, 2 skipped\n' >"$dir/out"
expect "a final counts line" 0 3 0 2
printf '4 passed, 0 failed, 0 skipped\n' >"$dir/out"
expect "a non-zero exit with no failure counted is one" 1 4 1 0
printf 'make: *** [Makefile:1: all] Error 2\n' >"$dir/out"
expect "no counts: one failure and a clear line" 2 0 1 0 \
    'FAILED: step printed no test counts'
: >"$dir/out"
expect "empty output, exit 0: still a failure" 0 0 1 0 'no test counts'
rm -f "$dir/out"
expect "no output file at all" 0 0 1 0 'no test counts'
printf '# TOTAL: 2\n# PASS:\n' >"$dir/out"
expect "a cut-off summary" 1 0 1 0 'no test counts'
echo "1..$n"
