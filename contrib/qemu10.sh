#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# QEMU 10.0 from Debian's bookworm-backports beside the system's QEMU 7.2,
# for the tests: 10.0's qemu-pr-helper is a second reference peer, and its
# qemu-system-x86_64 a second client.
#
#   contrib/qemu10.sh fetch   download and unpack it (once; kept and
#                             reused when already there); prints the dir
#   contrib/qemu10.sh dir     print the dir, fetched or not
#
# The dir is $PRH_QEMU10_DIR, by default /var/cache/qemu-pr-helper/qemu-10.0
# as root (readable by the libvirt-qemu user), else
# ${XDG_CACHE_HOME:-$HOME/.cache}/qemu-pr-helper/qemu-10.0.  The
# harness (tests/lib/harness.c) and the end-to-end tests use the same rule.
#
# The system's apt configuration is not touched: a private sources.list
# names bookworm-backports of the archive the system's apt sources use
# for bookworm, and apt's lists and cache live in the dir.  The
# packages (qemu-system-x86, qemu-system-common with qemu-pr-helper,
# qemu-system-data, and the module packages qemu-block-extra,
# qemu-system-gui, qemu-system-modules-opengl and -spice) are unpacked with
# dpkg-deb under DIR/root (7 packages, 14.0 MB); their libraries are
# bookworm's.  DIR/qemu-system-x86_64 runs that QEMU beside 7.2.
#
# Exit status: 0, 1 on failure (message on stderr).
set -eu

die() { echo "qemu10.sh: $*" >&2; exit 1; }

# shellcheck source=contrib/apt-archive.sh
. "$(dirname "$0")/apt-archive.sh"

dir=${PRH_QEMU10_DIR:-}
if [ -z "$dir" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		dir=/var/cache/qemu-pr-helper/qemu-10.0
	else
		dir=${XDG_CACHE_HOME:-$HOME/.cache}/qemu-pr-helper/qemu-10.0
	fi
fi

case ${1:-} in
dir)	echo "$dir"; exit 0 ;;
fetch)	;;
*)	echo "usage: $0 fetch|dir" >&2; exit 2 ;;
esac

if [ -f "$dir/VERSION" ] && [ -x "$dir/root/usr/bin/qemu-pr-helper" ] &&
    [ -x "$dir/qemu-system-x86_64" ]; then
	echo "$dir"
	exit 0
fi

for tool in apt-get apt-cache dpkg-deb; do
	command -v $tool >/dev/null || die "$tool is not installed"
done
rm -rf "$dir/root" "$dir/debs" "$dir/VERSION"
mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" \
    "$dir/debs"
archive=$(apt_archive bookworm)
[ -n "$archive" ] ||
    die "no Debian archive for bookworm in the system's apt sources"
echo "deb $archive bookworm-backports main" > "$dir/apt/sources.list"
set -- -o Dir::Etc::SourceList="$dir/apt/sources.list" \
    -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$dir/apt/lists" \
    -o Dir::Cache="$dir/apt/cache"
apt-get "$@" -qq update >"$dir/apt/update.log" 2>&1 ||
    die "apt-get update (bookworm-backports) failed: $(tail -1 "$dir/apt/update.log")"
# the newest 10.0.x the suite has (it may move on to 10.0.3)
ver=$(apt-cache "$@" madison qemu-system-x86 |
    awk -F' *[|] *' '$2 ~ /^1:10\.0\./ && $3 ~ /backports/ { print $2; exit }')
[ -n "$ver" ] || die "bookworm-backports has no qemu-system-x86 10.0"
pkgs="qemu-system-x86 qemu-system-common qemu-system-data qemu-block-extra
	qemu-system-gui qemu-system-modules-opengl qemu-system-modules-spice"
# shellcheck disable=SC2046
(cd "$dir/debs" && apt-get "$@" -qq download $(for p in $pkgs; do
	echo "$p=$ver"; done)) >"$dir/apt/download.log" 2>&1 ||
    die "apt-get download failed: $(tail -1 "$dir/apt/download.log")"
mkdir -p "$dir/root"
for deb in "$dir"/debs/*.deb; do
	dpkg-deb -x "$deb" "$dir/root"
done
missing=$(ldd "$dir/root/usr/bin/qemu-system-x86_64" \
    "$dir/root/usr/bin/qemu-pr-helper" | grep 'not found' || true)
[ -z "$missing" ] || die "libraries missing: $missing"

# QEMU looks for its modules in $QEMU_MODULE_DIR, then in its built-in
# directory, which holds 7.2's: a module found only there aborts 10.0
# ("Only modules from the same build can be loaded"), as libvirt's probe
# (qom-list-types loads every module) shows at once.  So 10.0's module
# directory holds all of 10.0's module packages and the wrapper names it;
# -L puts 10.0's firmware before 7.2's.  No mount namespace: libvirt moves
# its managed helper into QEMU's, which must be the domain's own.
cat > "$dir/qemu-system-x86_64.tmp" <<EOF
#!/bin/sh
# QEMU $ver, unpacked in $dir/root, with its own modules and firmware.
QEMU_MODULE_DIR='$dir/root/usr/lib/x86_64-linux-gnu/qemu'
export QEMU_MODULE_DIR
exec '$dir/root/usr/bin/qemu-system-x86_64' -L '$dir/root/usr/share/qemu' "\$@"
EOF
chmod 755 "$dir/qemu-system-x86_64.tmp"
"$dir/qemu-system-x86_64.tmp" --version | head -1 | grep -q ' 10\.0\.' ||
    die "$dir/qemu-system-x86_64 does not run"
printf '%s\n' '{"execute": "qmp_capabilities"}' \
    '{"execute": "qom-list-types"}' '{"execute": "quit"}' |
    "$dir/qemu-system-x86_64.tmp" -machine none -nodefaults -display none \
    -qmp stdio > "$dir/apt/probe.log" 2>&1 ||
    die "QEMU 10.0 fails to load its modules: $(grep -v '^{' "$dir/apt/probe.log" | tail -2)"
mv "$dir/qemu-system-x86_64.tmp" "$dir/qemu-system-x86_64"
rm -rf "$dir/debs" "$dir/apt/cache"
echo "$ver" > "$dir/VERSION"
chmod -R a+rX "$dir"
echo "$dir"
