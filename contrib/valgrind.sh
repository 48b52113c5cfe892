#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Valgrind memcheck run: the integration tests of the normal build
# ($PRH_BUILDDIR, built with make check already) against a helper built
# without the seccomp filter ($PRH_VALGRIND_BUILDDIR: valgrind cannot run
# a program that installs one, it does not know the seccomp system call),
# every helper they start running under valgrind (PRH_HELPER_WRAPPER).  A
# helper stopped with SIGTERM must exit 0 (valgrind turns any error into
# exit 99, which the tests see); the harness ends every helper with
# SIGTERM before SIGKILL, and every valgrind log must be free of errors
# and definitely lost memory.  Logs: $PRH_BUILDDIR/valgrind-logs.  Prints
# "N passed, N failed, N skipped".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${PRH_BUILDDIR:-$top/build}
vgdir=${PRH_VALGRIND_BUILDDIR:-$top/build-valgrind}
tests=${PRH_VALGRIND_TESTS:-"tests/integration/test_protocol
	tests/integration/test_sgio tests/integration/test_process
	tests/integration/test_process_model tests/integration/test_policy"}
logs=$builddir/valgrind-logs
. "$top/contrib/counts.sh"
vg=$(command -v valgrind) || { echo "valgrind is not installed"; exit 1; }

rm -rf "$logs"
mkdir -p "$logs" "$vgdir"
passed=0 failed=0 skipped=0

if [ ! -f "$vgdir/Makefile" ]; then
	(cd "$vgdir" && "$top/configure" --enable-werror --without-seccomp \
	    >configure.out 2>&1) || { tail -n 20 "$vgdir/configure.out"; exit 1; }
fi
make -C "$vgdir" -j"$(nproc)" qemu-pr-helper >"$vgdir/make.out" 2>&1 ||
    { tail -n 40 "$vgdir/make.out"; exit 1; }

echo "-- integration tests with the helper under valgrind"
# shellcheck disable=SC2086
(cd "$builddir" && PRH_HELPER_BIN=$vgdir/qemu-pr-helper \
    PRH_HELPER_WRAPPER="$vg -q --vgdb=no --error-exitcode=99 \
    --leak-check=full --show-leak-kinds=definite \
    --errors-for-leak-kinds=definite --track-fds=no \
    --log-file=$logs/vg.%p" \
    make -j"$(nproc)" check TESTS="$(echo $tests)") >"$logs/check.out" 2>&1
rc=$?
out=$logs/check.out
prh_counts "integration tests (valgrind)" "$out" "$rc"
grep -E '^(FAIL|ERROR):' "$out"
passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))

# valgrind -q writes only errors and definite leaks: every log must be
# empty.
bad=0 runs=0
for l in "$logs"/vg.*; do
	[ -e "$l" ] || continue
	runs=$((runs + 1))
	if [ -s "$l" ]; then
		echo "--- $l"
		head -n 80 "$l"
		bad=$((bad + 1))
	fi
done
echo "valgrind: $runs helper runs, $bad with errors or leaks"
if [ "$runs" -gt 0 ] && [ "$bad" -eq 0 ]; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
