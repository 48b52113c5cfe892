#!/bin/sh
# Install what building and testing qemu-pr-helper needs on Debian 12.
# Only missing packages are installed; nothing happens when all are there.
# Usage: contrib/setup-debian.sh [build|test]
set -eu

build_pkgs="build-essential autoconf automake libtool pkg-config
	libevent-dev libcap-dev libsystemd-dev libseccomp-dev"
# The test suite also runs QEMU's own helper and QEMU as reference peers,
# and builds and checks the Debian package.
test_pkgs="libcriterion-dev qemu-system-x86 sg3-utils systemd groff-base
	clang clang-format valgrind kmod cpio xz-utils busybox-static
	debhelper dpkg-dev lintian"

want=$build_pkgs
[ "${1:-build}" = test ] && want="$build_pkgs $test_pkgs"

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q '^install ok installed$' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "Installing:$missing" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
