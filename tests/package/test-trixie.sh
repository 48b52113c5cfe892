#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The project on Debian 13 (trixie), in the root contrib/trixie-root.sh
# makes and keeps (flavour build: trixie's gcc 14, libraries, groff 1.23,
# debhelper and lintian, and its QEMU 10.0 qemu-pr-helper as the
# reference peer): the release tarball (make dist in BUILDDIR) configured
# with --enable-werror builds under -Wall -Wextra -Werror and passes make
# check there; then tests/package/test-deb.sh, run inside the root, builds
# the Debian package from it (its make check left out: it has just passed
# in the same root), checks it with trixie's lintian (no error, no
# warning), installs, runs, removes and purges it (nothing left).  Needs
# root (mmdebstrap, chroot) and mmdebstrap the first time.
#
# Usage: tests/package/test-trixie.sh TOP BUILDDIR
# Prints one "ok"/"not ok" line per step, make check's failed and skipped
# tests and the package's checks, then "N passed, N failed, N skipped":
# the steps, make check's tests and the package's checks together.
set -u
top=$(cd "${1:?usage: test-trixie.sh TOP BUILDDIR}" && pwd)
builddir=$(cd "${2:?usage: test-trixie.sh TOP BUILDDIR}" && pwd)
n=0 passed=0 failed=0 skipped=0
work=''

# shellcheck source=contrib/counts.sh
. "$top/contrib/counts.sh"

# shellcheck source=tests/package/tap.sh
. "$(dirname "$0")/tap.sh"

# Remove the work dir, print the counts, exit.
finish() {
	[ -n "$work" ] && rm -rf "$work"
	tap_exit
}
trap finish EXIT
trap 'exit 1' INT TERM

# Run a shell command line inside the root, the work dir bound.
in_root() {
	PRH_TRIXIE_BIND=$work "$top/contrib/trixie-root.sh" run build \
	    sh -c "$1"
}

# Add the counts of a finished step's output (prh_counts) to the totals.
add_counts() {	# name file rc
	prh_counts "$1" "$2" "$3"
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

[ "$(id -u)" -eq 0 ] || skip_all "needs root (mmdebstrap, chroot, dpkg -i)"
root_dir=$("$top/contrib/trixie-root.sh" dir build)
if [ ! -s "$root_dir/VERSION" ] && ! command -v mmdebstrap > /dev/null; then
	skip_all "no Debian 13 root and no mmdebstrap to make one (contrib/setup-debian.sh test)"
fi
work=$(mktemp -d /var/tmp/prh-trixie.XXXXXX) || exit 1

# 1. The root (made once, then reused).
t0=$(date +%s)
"$top/contrib/trixie-root.sh" fetch build > "$work/fetch.log" 2>&1
result $? "the Debian 13 build root ($(cat "$root_dir/VERSION" 2> /dev/null); $(($(date +%s) - t0)) s)" "$work/fetch.log"
[ "$failed" -eq 0 ] || exit 1

# 2. The release tarball, unpacked in the work dir.
ac_version=$(sed -n 's/^AC_INIT(\[[^]]*\], \[\([^]]*\)\].*/\1/p' \
    "$top/configure.ac")
(cd "$builddir" && make dist) > "$work/dist.log" 2>&1 &&
    tar -C "$work" -xzf "$builddir/qemu-pr-helper-$ac_version.tar.gz" \
	>> "$work/dist.log" 2>&1
result $? "make dist; the tarball unpacks" "$work/dist.log"
[ "$failed" -eq 0 ] || exit 1
src=$work/qemu-pr-helper-$ac_version

# 3. Configure with --enable-werror and build with trixie's compiler.
t0=$(date +%s)
in_root "cd '$src' && mkdir build && cd build &&
    ../configure --enable-werror && make -j2" > "$work/build.log" 2>&1
rc=$?
grep -E '^AM_CFLAGS = .*-Wall -Wextra.* -Werror' "$src/build/Makefile" \
    > /dev/null 2>&1 || { echo "AM_CFLAGS lacks -Wall -Wextra -Werror" >> \
    "$work/build.log"; rc=1; }
result $rc "./configure --enable-werror; make: builds under -Wall -Wextra -Werror ($(($(date +%s) - t0)) s)" "$work/build.log"
[ "$failed" -eq 0 ] || exit 1

# 4. make check inside the root: its tests count as this test's.
t0=$(date +%s)
in_root "cd '$src/build' && make -j2 check" > "$work/check.log" 2>&1
rc=$?
grep -E '^(FAIL|ERROR|XPASS|SKIP):' "$work/check.log"
# A skip must say why.
grep -E '^SKIP:' "$work/check.log" | grep -v '# SKIP .' > "$work/noreason"
[ -s "$work/noreason" ] && rc=1
add_counts "make check in Debian 13" "$work/check.log" $rc
[ -s "$work/noreason" ] && result 1 "every skip in make check gives its reason" "$work/noreason"
echo "# make check in Debian 13: $p passed, $f failed, $s skipped ($(($(date +%s) - t0)) s)"
if [ $rc -ne 0 ]; then
	find "$src/build" -name '*.log' ! -name config.log \
	    ! -name test-suite.log | while read -r log; do
		if grep -q -E '^(not ok|FAIL|ERROR)' "$log" 2> /dev/null; then
			echo "# --- $log"
			grep -E -A8 '^not ok' "$log" | head -n 40 | sed 's/^/#   /'
		fi
	done
fi

# 5. The Debian package inside the root (build, lintian, install, run,
# remove, purge): tests/package/test-deb.sh from the tarball.
t0=$(date +%s)
in_root "PRH_DEB_BUILD_OPTIONS=nocheck sh '$src/tests/package/test-deb.sh' \
    '$src' '$src/build'" > "$work/deb.log" 2>&1
rc=$?
sed -n 's/^\(not \)\{0,1\}ok [0-9]* - /  &/p; /^#/p' "$work/deb.log"
add_counts "the Debian package in Debian 13" "$work/deb.log" $rc
echo "# the Debian package in Debian 13: $p passed, $f failed, $s skipped ($(($(date +%s) - t0)) s)"
