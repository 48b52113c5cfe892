# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
# TAP-like lines and counts for the package tests (sourced, POSIX sh):
# tests/package/test-deb.sh and test-trixie.sh.  The caller's n, passed,
# failed and skipped hold the counts.

# Record one check: ok NAME, or not ok NAME with DETAIL (a file) indented.
result() {	# 0|1 name [detail-file]
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
		passed=$((passed + 1))
	else
		echo "not ok $n - $2"
		[ -n "${3:-}" ] && [ -s "$3" ] && sed 's/^/#   /' "$3" | tail -n 60
		failed=$((failed + 1))
	fi
}

# Record a check that cannot be made here, with the reason.
skip_one() {
	n=$((n + 1))
	echo "ok $n - # SKIP $1"
	skipped=$((skipped + 1))
}

# Skip the whole test with a reason (the caller's EXIT trap prints the
# counts).
skip_all() {
	skip_one "$1"
	exit 0
}

# Print "N passed, N failed, N skipped" and exit 1 if a check failed.
tap_exit() {
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}
