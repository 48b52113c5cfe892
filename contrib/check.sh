#!/bin/sh
# Set up a Debian 12 machine, build, and run the whole test suite.
# Prints the test counts; exits non-zero if anything failed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${PRH_BUILDDIR:-$top/build}

"$top/contrib/setup-debian.sh" test
PRH_BUILDDIR=$builddir "$top/contrib/build.sh"
cd "$builddir"
rc=0
make -j"$(nproc)" check >check.out 2>&1 || rc=$?
grep -E '^(PASS|FAIL|XFAIL|XPASS|SKIP|ERROR):' check.out | grep -v '^PASS:' || true
summary=$(grep -E '^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):' check.out || true)
echo "$summary"
if [ "$rc" -ne 0 ]; then
	for f in $(find . -name '*.log' ! -name 'config.log' ! -name 'test-suite.log'); do
		grep -q -E '^(not ok|FAIL|ERROR)' "$f" 2>/dev/null && { echo "== $f"; tail -n 60 "$f"; }
	done
fi
pass=$(echo "$summary" | sed -n 's/^# PASS: *//p')
fail=$(echo "$summary" | sed -n 's/^# FAIL: *//p')
error=$(echo "$summary" | sed -n 's/^# ERROR: *//p')
skip=$(echo "$summary" | sed -n 's/^# SKIP: *//p')
echo "${pass:-0} passed, $(( ${fail:-0} + ${error:-0} )) failed, ${skip:-0} skipped"
exit "$rc"
