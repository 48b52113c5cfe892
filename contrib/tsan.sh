#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# ThreadSanitizer run.  Criterion cannot start under TSan, so the helper
# itself is the instrumented program:
#  1. build qemu-pr-helper and the pool stress driver with clang
#     -fsanitize=thread in their own build dir ($PRH_TSAN_BUILDDIR);
#  2. run the stress driver (tests/fuzz/stress_pool), with the deferred
#     wake-up the daemon uses and with the immediate one;
#  3. run the integration tests of the normal build ($PRH_BUILDDIR, built
#     with make check already) against the TSan helper (PRH_HELPER_BIN).
# Every TSan report goes to a file under $PRH_TSAN_BUILDDIR/tsan-logs; any
# such file fails the run.  Prints "N passed, N failed, N skipped".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${PRH_BUILDDIR:-$top/build}
tsandir=${PRH_TSAN_BUILDDIR:-$top/build-tsan}
tests=${PRH_TSAN_TESTS:-"tests/integration/test_protocol
	tests/integration/test_sgio tests/integration/test_process
	tests/integration/test_process_model tests/integration/test_policy
	tests/integration/test_linger tests/integration/test_reply_path"}
logs=$tsandir/tsan-logs
. "$top/contrib/counts.sh"

mkdir -p "$tsandir"
cd "$tsandir" || exit 1
if [ ! -f Makefile ]; then
	"$top/configure" CC=clang CFLAGS="-fsanitize=thread -g -O1" \
	    >configure.out 2>&1 || { tail -n 20 configure.out; exit 1; }
fi
make -j"$(nproc)" qemu-pr-helper tests/fuzz/stress_pool >make.out 2>&1 ||
    { tail -n 40 make.out; exit 1; }
rm -rf "$logs"
mkdir -p "$logs"
TSAN_OPTIONS="log_path=$logs/tsan halt_on_error=0 exitcode=66 second_deadlock_stack=1"
export TSAN_OPTIONS

passed=0 failed=0 skipped=0

for defer in 1 0; do
	echo "-- stress_pool under TSan (deferred wake-up: $defer)"
	./tests/fuzz/stress_pool "${PRH_TSAN_STRESS:-5000}" "$defer" \
	    >stress.$defer.out 2>&1
	rc=$?
	sp=$(grep -c '^ok' stress.$defer.out)
	sf=$(grep -c '^not ok' stress.$defer.out)
	[ "$rc" -ne 0 ] && [ "$sf" -eq 0 ] && sf=1
	grep '^not ok' stress.$defer.out
	passed=$((passed + sp)) failed=$((failed + sf))
done

echo "-- integration tests against the TSan helper"
# shellcheck disable=SC2086
(cd "$builddir" && PRH_HELPER_BIN=$tsandir/qemu-pr-helper \
    make -j"$(nproc)" check TESTS="$(echo $tests)") >check.out 2>&1
rc=$?
prh_counts "integration tests (TSan)" check.out "$rc"
grep -E '^(FAIL|ERROR):' check.out
passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))

reports=$(ls "$logs")
if [ -n "$reports" ]; then
	echo "ThreadSanitizer reports:"
	for r in "$logs"/*; do
		echo "--- $r"
		head -n 60 "$r"
	done
	failed=$((failed + 1))
else
	echo "no ThreadSanitizer report"
	passed=$((passed + 1))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
