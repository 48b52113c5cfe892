#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A build directory configured before an optional dependency is installed
# must not go on without it, and make check without Criterion must run
# what does not need it (TAP; last line "N passed, N failed, N skipped").
#
# pkg-config is wrapped so that Criterion looks missing while a flag file
# exists: configure and make check run "without Criterion", then the flag
# goes ("libcriterion-dev is installed") and the next make must reconfigure
# by itself and build the Criterion suites.  Runs in a scratch directory;
# needs the Criterion package really installed.
# Usage: tests/build/test-optional-deps.sh [SRCDIR]
set -u
src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/prh-optdeps.XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM
n=0 failed=0 skipped=0

ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
		[ -f "$3" ] && tail -n 30 "$3" | sed 's/^/# /'
	fi
}

if ! pkg-config --exists criterion; then
	echo "ok 1 - # SKIP Criterion is not installed: nothing to hide"
	echo "1..1"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
real=$(command -v pkg-config)
mkdir "$dir/bin" "$dir/build"
cat >"$dir/bin/pkg-config" <<EOT
#!/bin/sh
if [ -e "$dir/hide-criterion" ]; then
	for a in "\$@"; do case \$a in criterion*) exit 1;; esac; done
fi
exec "$real" "\$@"
EOT
chmod +x "$dir/bin/pkg-config"
touch "$dir/hide-criterion"
[ -x "$src/configure" ] || (cd "$src" && autoreconf -fi >/dev/null 2>&1)
cd "$dir/build" || exit 1
j=-j$(nproc)

"$src/configure" --enable-werror PKG_CONFIG="$dir/bin/pkg-config" \
    >configure.out 2>&1
ok $? "configure without Criterion" configure.out
grep -q 'criterion: *no' configure.out
ok $? "configure says Criterion is missing" configure.out

make $j check >check.out 2>&1
ok $? "make check without Criterion passes" check.out
! grep -q 'undefined reference' check.out
ok $? "nothing fails to link" check.out
grep -q 'Criterion (libcriterion-dev) was not found' check.out
ok $? "make check says what it left out" check.out
grep -q '^PASS: tests/demo/test-demo.sh' check.out
ok $? "what does not need Criterion still runs (the demo test)" check.out

make $j check-soak SOAK_SECONDS=2 SOAK_CLIENTS=8 >soak.out 2>&1
ok $? "make check-soak without Criterion passes" soak.out
grep -q '^SKIP: tests/soak/test_many_clients (needs Criterion' soak.out
ok $? "check-soak names the suite it skipped" soak.out

make >again.out 2>&1
! grep -q 'config.status --recheck' again.out
ok $? "nothing changed: make does not reconfigure" again.out

rm -f "$dir/hide-criterion"
make $j tests/unit/test_proto >make.out 2>&1
ok $? "Criterion installed: the next make builds a Criterion suite" make.out
grep -q 'config.status --recheck' make.out
ok $? "it reconfigured by itself" make.out
grep -q '^criterion [0-9]' deps.stamp
ok $? "deps.stamp records Criterion's version" deps.stamp
CRITERION_OUTPUTS= ./tests/unit/test_proto >proto.out 2>&1
ok $? "the suite it built runs and passes" proto.out

echo "1..$n"
echo "$((n - failed)) passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
