#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Install what building and testing qemu-pr-helper needs on Debian 12.
# Only missing packages are installed; nothing happens when all are there.
# For the tests it also fetches QEMU 10.0 from bookworm-backports into a
# private directory beside the system's 7.2 (contrib/qemu10.sh), makes a
# Debian 13 root with QEMU 11.1 from trixie-backports with mmdebstrap
# (contrib/trixie-root.sh fetch qemu, for tests/e2e/t-migrate.sh) and, as
# root, a Debian 13 build root (contrib/trixie-root.sh fetch build);
# fetched copies are reused.
# Usage: contrib/setup-debian.sh [build|test]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)

build_pkgs="build-essential autoconf automake libtool pkg-config
	libevent-dev libcap-dev libsystemd-dev libseccomp-dev"
# The test suite also runs QEMU's own helper and QEMU as reference peers,
# builds and checks the Debian package, and checks the metrics file with
# promtool (prometheus); it builds, checks and packages the project in a
# Debian 13 root made with mmdebstrap (contrib/trixie-root.sh).
test_pkgs="libcriterion-dev qemu-system-x86 sg3-utils systemd groff-base
	clang clang-format valgrind kmod cpio xz-utils busybox-static prometheus
	debhelper dpkg-dev lintian mmdebstrap
	libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients"

want=$build_pkgs
[ "${1:-build}" = test ] && want="$build_pkgs $test_pkgs"

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "Installing:$missing" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	# shellcheck disable=SC2086
	$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ "${1:-build}" = test ]; then
	"$top/contrib/qemu10.sh" fetch >/dev/null
	# QEMU 11.1's root as root: the end-to-end tests run as root and
	# use root's cache
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo "$top/contrib/trixie-root.sh" fetch qemu >/dev/null
	# The build root as root only: mmdebstrap's root mode (the test
	# skips without it).
	if [ "$(id -u)" -eq 0 ]; then
		"$top/contrib/trixie-root.sh" fetch build >/dev/null
	fi
fi
