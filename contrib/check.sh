#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Set up a Debian 12 machine, build, and run the whole test suite:
#  1. make check (unit, integration, simulator, man pages) with -Werror,
#     a build without Criterion then with it (tests/build), and make
#     check-soak (chaos soak for $SOAK_SECONDS, default 20 s);
#  2. make distcheck; the Debian package built from the release tarball,
#     checked with lintian, installed, run, removed and purged
#     (tests/package/test-deb.sh); then make check-e2e (real QEMU 7.2 and
#     10.0 guests, the kernel's LIO target, TCG; libvirt 9.0 running the
#     helper); in a Debian 13 root (contrib/trixie-root.sh), the tarball
#     built with trixie's gcc and -Werror, its make check, and the Debian
#     package built, lintian-clean, installed, run and purged there
#     (tests/package/test-trixie.sh);
#  3. make check again in a second build with ASan + UBSan;
#  4. make fuzz: the libFuzzer targets for $FUZZ_SECONDS (default 30) s,
#     side by side, in a clang build (--enable-fuzzing);
#  5. the pool stress driver and the integration tests against a helper
#     built with ThreadSanitizer (contrib/tsan.sh);
#  6. the integration tests with the helper under valgrind memcheck
#     (contrib/valgrind.sh).
# Prints the test counts; exits non-zero if anything failed.
# make check-soak (chaos soak for $SOAK_SECONDS, default 20, and 10,000
# clients) runs after make check, in both builds.
# PRH_CHECK_QUICK=1 runs make check and make check-soak only.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${PRH_BUILDDIR:-$top/build}
sanbuilddir=${PRH_SAN_BUILDDIR:-$top/build-sanitizers}
fuzzbuilddir=${PRH_FUZZ_BUILDDIR:-$top/build-fuzz}
tsanbuilddir=${PRH_TSAN_BUILDDIR:-$top/build-tsan}

t0=$(date +%s)
"$top/contrib/setup-debian.sh" test
echo "== setup: packages, QEMU 10.0, Debian 13 root ($(( $(date +%s) - t0 )) s)"
. "$top/contrib/counts.sh"

rc=0 passed=0 failed=0 skipped=0

# Run "make TARGET [VAR=VALUE...]" in a build dir; add its counts to the
# totals.
run_suite() {
	name=$1 dir=$2 target=$3
	shift 3
	run_step "$name" "$dir" "$dir/$target.out" make -j"$(nproc)" "$target" "$@"
}

# Run a command in dir, output to out; read its counts (automake's summary
# or a final "N passed, N failed, N skipped" line) into the totals.
run_step() {
	name=$1 dir=$2 out=$3
	shift 3
	echo "== $name"
	t0=$(date +%s)
	r=0
	(cd "$dir" && "$@") >"$out" 2>&1 || r=$?
	prh_counts "$name" "$out" "$r"
	grep -E '^(FAIL|ERROR|XPASS|SKIP):|^not ok|^ok .*# SKIP' "$out" || true
	echo "   $p passed, $f failed, $s skipped ($(( $(date +%s) - t0 )) s)"
	if [ "$r" -ne 0 ]; then
		rc=1
		find "$dir" -name '*.log' ! -name config.log ! -name test-suite.log |
		while read -r log; do
			if grep -q -E '^(not ok|FAIL|ERROR)' "$log" 2>/dev/null; then
				echo "--- $log"
				tail -n 60 "$log"
			fi
		done
		tail -n 40 "$out"
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

PRH_BUILDDIR=$builddir "$top/contrib/build.sh"
run_suite "make check" "$builddir" check
run_step "a build without Criterion, then with it" "$builddir" \
    "$builddir/optional-deps.out" "$top/tests/build/test-optional-deps.sh" \
    "$top"
export SOAK_SECONDS="${SOAK_SECONDS:-20}"
run_suite "make check-soak" "$builddir" check-soak
if [ "${PRH_CHECK_QUICK:-0}" != 1 ]; then
	run_suite "make distcheck (the release tarball builds and passes)" \
	    "$builddir" distcheck
	run_step "Debian package (build, lintian, install, run, purge)" \
	    "$builddir" "$builddir/package.out" \
	    "$top/tests/package/test-deb.sh" "$top" "$builddir"
	run_step "Debian 13: build (-Werror), make check, package (lintian, install, run, purge)" \
	    "$builddir" "$builddir/trixie.out" \
	    "$top/tests/package/test-trixie.sh" "$top" "$builddir"
	run_suite "make check-e2e" "$builddir" check-e2e
	PRH_BUILDDIR=$sanbuilddir "$top/contrib/build.sh" --enable-sanitizers
	run_suite "make check (ASan+UBSan)" "$sanbuilddir" check
	run_suite "make check-soak (ASan+UBSan)" "$sanbuilddir" check-soak
	mkdir -p "$fuzzbuilddir"
	[ -f "$fuzzbuilddir/Makefile" ] || (cd "$fuzzbuilddir" &&
	    "$top/configure" --enable-fuzzing CC=clang >/dev/null)
	run_suite "make fuzz (libFuzzer + ASan/UBSan/MSan)" "$fuzzbuilddir" \
	    fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
	run_step "TSan: pool stress, integration tests" "$builddir" \
	    "$builddir/tsan.out" env PRH_BUILDDIR="$builddir" \
	    PRH_TSAN_BUILDDIR="$tsanbuilddir" "$top/contrib/tsan.sh"
	run_step "valgrind: integration tests" "$builddir" \
	    "$builddir/valgrind.out" env PRH_BUILDDIR="$builddir" \
	    "$top/contrib/valgrind.sh"
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit "$rc"
