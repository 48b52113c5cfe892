#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The Debian package, as a user gets it: built with dpkg-buildpackage from
# the release tarball (make dist), its test suite included, as root in a
# directory only root may enter, lintian-clean, installed beside Debian's
# QEMU packages, its files, manual pages and units checked, the installed
# helper run once on a simulated LUN, qemu-prh-select switched on, and the
# package removed and purged: the machine must then be as it was (files
# under /etc and /usr, systemd's package state, diversions, alternatives,
# users).  qemu-prh-select's qemu.conf and unit handling is also checked
# on a scratch root (--root).  Needs root; the build tools come from
# contrib/setup-debian.sh test.
#
# Usage: tests/package/test-deb.sh TOP BUILDDIR
# Prints one "ok"/"not ok" line per check, then
# "N passed, N failed, N skipped".
set -u
top=$(cd "${1:?usage: test-deb.sh TOP BUILDDIR}" && pwd)
builddir=$(cd "${2:?usage: test-deb.sh TOP BUILDDIR}" && pwd)
pkg=qemu-prh
n=0 passed=0 failed=0 skipped=0
work=''
installed=0	# the package is installed: purge it at the end
touched=0	# this test installed it: undo what it may have left

# shellcheck source=tests/package/tap.sh
. "$(dirname "$0")/tap.sh"

# Record a check that holds when the command succeeds; its output is the
# detail.
check() {	# name command...
	_name=$1
	shift
	"$@" > "$work/out" 2>&1
	result $? "$_name" "$work/out"
}

# Print the counts, leave the machine as it was (even when a check
# failed: the package purged, qemu.conf and the unit links of step 9
# undone), exit.
finish() {
	if [ "$installed" = 1 ]; then
		qemu-prh-select -q off > /dev/null 2>&1
		dpkg --purge "$pkg" > /dev/null 2>&1
	fi
	if [ "$touched" = 1 ]; then
		if [ -f "$work/qemu.conf.machine" ] &&
		    ! cmp -s "$work/qemu.conf.machine" /etc/libvirt/qemu.conf
		then
			cp -p "$work/qemu.conf.machine" /etc/libvirt/qemu.conf
		fi
		find /etc/systemd/system -name qemu-prh.socket -type l \
		    -delete 2> /dev/null
		rm -rf /var/lib/qemu-prh
	fi
	[ -n "$work" ] && rm -rf "$work"
	tap_exit
}
trap finish EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" -eq 0 ] || skip_all "needs root (dpkg -i)"
for t in dpkg-buildpackage lintian dh systemd-analyze; do
	command -v "$t" > /dev/null 2>&1 ||
	    skip_all "$t is not installed (contrib/setup-debian.sh test)"
done
if dpkg-query -W -f '${Status}' "$pkg" 2> /dev/null | grep -q installed; then
	skip_all "$pkg is installed already: the test would remove it"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/prh-deb.XXXXXX") || exit 1

# What a package may change: every path under /usr, /etc with contents,
# systemd's unit state with contents, the top of /var/lib, diversions,
# alternatives.
snapshot() {	# out-file
	{
		find /usr -xdev | sort
		find /etc -xdev -type f -exec md5sum {} + | sort -k 2
		find /etc -xdev ! -type f -printf '%p %y %l\n' | sort
		find /var/lib/systemd -xdev -printf '%p %y %l\n' | sort
		find /var/lib/systemd -xdev -type f -exec md5sum {} + | sort -k 2
		find /var/lib -xdev -maxdepth 2 \( -path /var/lib/dpkg \
		    -o -path /var/lib/apt \) -prune -o -print | sort
		echo "== diversions"
		dpkg-divert --list | sort
		echo "== alternatives"
		update-alternatives --get-selections | sort
	} > "$1" 2> /dev/null
}

# 1. The version of the package is the release's.
ac_version=$(sed -n 's/^AC_INIT(\[[^]]*\], \[\([^]]*\)\].*/\1/p' \
    "$top/configure.ac")
deb_version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
echo "configure.ac $ac_version, debian/changelog $deb_version" > "$work/out"
[ -n "$ac_version" ] && [ "${deb_version%-*}" = "$ac_version" ]
result $? "debian/changelog's version $deb_version is the release's ($ac_version)" "$work/out"

# 2. Build the binary package from the release tarball, make check
# included (dh_auto_test), as root inside $work: mktemp made it mode 0700,
# so only root may enter it, and a test that runs a program as another
# uid (the helper as 65534) must not need the path to the build tree.
t0=$(date +%s)
(cd "$builddir" && make dist) > "$work/dist.log" 2>&1
result $? "make dist" "$work/dist.log"
tarball=$builddir/qemu-pr-helper-$ac_version.tar.gz
mkdir "$work/src"
tar -C "$work/src" -xzf "$tarball" 2> "$work/out"
result $? "the release tarball unpacks" "$work/out"
srcdir=$work/src/qemu-pr-helper-$ac_version
mode=$(stat -c %a "$work")
# $PRH_DEB_BUILD_OPTIONS adds to DEB_BUILD_OPTIONS (nocheck where make
# check has just passed in the same system: tests/package/test-trixie.sh).
opts="parallel=$(nproc)${PRH_DEB_BUILD_OPTIONS:+ $PRH_DEB_BUILD_OPTIONS}"
(cd "$srcdir" && DEB_BUILD_OPTIONS=$opts dpkg-buildpackage -us -uc -b) \
    > "$work/build.log" 2>&1
rc=$?
{
	grep -E '^(FAIL|ERROR|XPASS): ' "$work/build.log"
	tail -n 40 "$work/build.log"
} > "$work/out"
# automake's summary ("# TOTAL: 680", "# FAIL:  0", ...) in one phrase.
tests=$(awk '/^# TOTAL:/ { t = $3 } /^# FAIL:/ { f = $3 }
    /^# SKIP:/ { s = $3 }
    END { if (t != "") printf "%s tests, %s failed, %s skipped", t, f, s }' \
    "$work/build.log")
[ -n "$tests" ] || tests="make check not run: DEB_BUILD_OPTIONS=$opts"
result $rc "dpkg-buildpackage -us -uc -b builds it as root in a mode $mode directory ($tests; $(($(date +%s) - t0)) s)" "$work/out"
[ "$mode" = 700 ]
result $? "the build directory's parent is root's alone (mode $mode, mktemp -d)"
deb=$(ls "$work"/src/${pkg}_*.deb 2> /dev/null | head -n 1)
changes=$(ls "$work"/src/*.changes 2> /dev/null | head -n 1)
if [ -z "$deb" ] || [ -z "$changes" ]; then
	result 1 "the build made $pkg's .deb and a .changes" "$work/out"
	exit 1
fi

# 3. lintian: no errors, no warnings (overrides carry their reason).
lintian "$changes" > "$work/lintian" 2>&1
grep -E '^[EW]: ' "$work/lintian" > "$work/out"
[ ! -s "$work/out" ]
result $? "lintian reports no error and no warning" "$work/out"

# 4. Install beside QEMU's packages: no file is shared with another one.
snapshot "$work/before"
touched=1
dpkg -i "$deb" > "$work/out" 2>&1
rc=$?
[ $rc -eq 0 ] && installed=1
result $rc "dpkg -i installs it" "$work/out"
dpkg -L "$pkg" | while read -r f; do
	[ -d "$f" ] && continue
	owners=$(dpkg-query -S "$f" 2> /dev/null | sed 's/: .*//')
	[ "$owners" = "$pkg" ] || echo "$f: $owners"
done > "$work/out"
[ ! -s "$work/out" ]
result $? "every file of $pkg belongs to it alone" "$work/out"
if dpkg-query -W -f '${Status}' qemu-system-common 2> /dev/null |
    grep -q 'ok installed'; then
	check "qemu-system-common's files are intact beside it" \
	    dpkg --verify qemu-system-common
	[ "$(dpkg-query -S /usr/bin/qemu-pr-helper 2>&1)" = \
	    "qemu-system-common: /usr/bin/qemu-pr-helper" ]
	result $? "/usr/bin/qemu-pr-helper is still QEMU's"
else
	skip_one "qemu-system-common is not installed"
fi

# 5. The files.
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
dpkg -L "$pkg" > "$work/files"
for f in /usr/sbin/qemu-prh /usr/sbin/qemu-prh-select /usr/bin/qemu-pr-client \
    /usr/bin/lunsim /usr/bin/qemu-pr-bench; do
	[ -x "$f" ] || echo "$f is missing or not executable"
	grep -qE "^/usr/share/man/man[18]/$(basename "$f")\.[18]\.gz$" \
	    "$work/files" || echo "$(basename "$f") has no manual page"
done > "$work/out"
for f in /lib/systemd/system/qemu-prh.socket \
    /lib/systemd/system/qemu-prh.service \
    "/usr/lib/$multiarch/qemu-pr-helper/lunsim.so" \
    /usr/share/doc/$pkg/copyright /usr/share/doc/$pkg/changelog.gz; do
	[ -f "$f" ] || echo "$f is missing"
done >> "$work/out"
grep -E '\.la$|qemu-pr-helper\.(socket|service|8)' "$work/files" \
    >> "$work/out"
[ ! -s "$work/out" ]
result $? "the programs, their manual pages, units and library; no .la file" "$work/out"
pages=$(grep '^/usr/share/man/.*\.gz$' "$work/files")
# The upstream pages and units (qemu-prh-select(8) is the package's own
# and names QEMU's units).
# shellcheck disable=SC2046,SC2086
zgrep -nE 'qemu-pr-helper\.(socket|service)|^\.Xr qemu-pr-helper 8|^\.Nm qemu-pr-helper$' \
    $(echo "$pages" | grep -v qemu-prh-select) \
    /lib/systemd/system/qemu-prh.* > "$work/out" 2>&1
grep -nE '^ExecStart=|^Requires=|^After=' /lib/systemd/system/qemu-prh.service |
    grep -v -e '=/usr/sbin/qemu-prh$' -e '=qemu-prh.socket$' >> "$work/out"
[ ! -s "$work/out" ]
result $? "pages and units use the package's names (qemu-prh, qemu-prh.socket)" "$work/out"
# shellcheck disable=SC2086
sh "$top/man/check-man.sh" $pages > "$work/out" 2>&1
! grep -q '^not ok' "$work/out"
result $? "the installed manual pages lint cleanly ($(echo "$pages" | wc -l))" "$work/out"
sh "$top/man/check-options.sh" \
    /usr/sbin/qemu-prh /usr/share/man/man8/qemu-prh.8.gz OPTIONS \
    /usr/sbin/qemu-prh-select /usr/share/man/man8/qemu-prh-select.8.gz OPTIONS \
    /usr/bin/qemu-pr-client /usr/share/man/man1/qemu-pr-client.1.gz DESCRIPTION \
    /usr/bin/lunsim /usr/share/man/man1/lunsim.1.gz OPTIONS \
    /usr/bin/qemu-pr-bench /usr/share/man/man1/qemu-pr-bench.1.gz OPTIONS \
    > "$work/out" 2>&1
! grep -q '^not ok' "$work/out" && grep -q '^ok 5 ' "$work/out"
result $? "every option of each installed program's --help is in its page" "$work/out"

# 6. The units.
check "systemd-analyze verify accepts the installed units" \
    systemd-analyze verify /lib/systemd/system/qemu-prh.socket \
    /lib/systemd/system/qemu-prh.service
grep -qx 'ListenStream=/run/qemu-pr-helper.sock' \
    /lib/systemd/system/qemu-prh.socket
result $? "qemu-prh.socket listens on /run/qemu-pr-helper.sock"
[ "$(systemctl is-enabled qemu-prh.socket 2>&1)" = disabled ]
result $? "installing enabled nothing (qemu-prh.socket disabled)"

# 7. The installed helper, once: on a simulated LUN, through the installed
# lunsim (its library from the package), one PR OUT and one PR IN command
# with the installed client, then SIGTERM.
version=$(/usr/sbin/qemu-prh --version 2>&1 | head -n 1)
case $version in *"$ac_version"*) r=0 ;; *) r=1 ;; esac
echo "$version" > "$work/out"
result $r "qemu-prh --version says $ac_version" "$work/out"
unset LUNSIM_PRELOAD
lunsim create "$work/x.lun" --size 1M > "$work/out" 2>&1 &&
    lunsim --initiator pkgtest -- /usr/sbin/qemu-prh -d -q \
	-k "$work/h.sock" -f "$work/h.pid" >> "$work/out" 2>&1
result $? "qemu-prh -d starts under the installed lunsim" "$work/out"
qemu-pr-client -k "$work/h.sock" "$work/x.lun" register 0 0xabc \
    > "$work/out" 2>&1 &&
    qemu-pr-client -k "$work/h.sock" "$work/x.lun" read-keys \
	>> "$work/out" 2>&1
grep -q '^GOOD' "$work/out" && grep -q '0xabc' "$work/out"
result $? "qemu-pr-client registers a key and reads it back through it" "$work/out"
hpid=$(cat "$work/h.pid" 2> /dev/null)
if [ -n "$hpid" ] && kill -TERM "$hpid" 2> /dev/null; then
	# Not our child: wait for it to go, bounded (10 s).
	i=0
	while kill -0 "$hpid" 2> /dev/null && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	! kill -0 "$hpid" 2> /dev/null && [ ! -e "$work/h.sock" ] &&
	    [ ! -e "$work/h.pid" ]
	result $? "SIGTERM stops it; socket and pid file removed"
else
	result 1 "SIGTERM stops it (no pid file)"
fi

# 8. qemu-prh-select on a scratch root: qemu.conf and the units switched,
# then put back byte for byte.
r=$work/root
mkdir -p "$r/etc/libvirt" "$r/usr/lib/systemd/system"
cat > "$r/etc/libvirt/qemu.conf" << 'EOF'
# libvirt's QEMU driver configuration (excerpt)
#user = "libvirt-qemu"
# Path to the persistent reservation helper:
#pr_helper = "/usr/bin/qemu-pr-helper"
  pr_helper = "/usr/local/bin/other-helper"
stdio_handler = "logd"
EOF
chmod 0600 "$r/etc/libvirt/qemu.conf"
cp "$r/etc/libvirt/qemu.conf" "$work/qemu.conf.orig"
cp /lib/systemd/system/qemu-prh.socket /lib/systemd/system/qemu-prh.service \
    "$r/usr/lib/systemd/system/"
sed 's/qemu-prh/qemu-pr-helper/g' /lib/systemd/system/qemu-prh.socket \
    > "$r/usr/lib/systemd/system/qemu-pr-helper.socket"
systemctl --root="$r" -q enable qemu-pr-helper.socket
qemu-prh-select --root "$r" on > "$work/out" 2>&1
rc=$?
grep -E '^[[:space:]]*pr_helper' "$r/etc/libvirt/qemu.conf" >> "$work/out"
[ $rc -eq 0 ] &&
    [ "$(grep -cE '^[[:space:]]*pr_helper' "$r/etc/libvirt/qemu.conf")" = 1 ] &&
    grep -qx 'pr_helper = "/usr/sbin/qemu-prh"' "$r/etc/libvirt/qemu.conf" &&
    [ "$(stat -c %a "$r/etc/libvirt/qemu.conf")" = 600 ]
result $? "on: qemu.conf's only pr_helper is /usr/sbin/qemu-prh (mode kept)" "$work/out"
{
	systemctl --root="$r" is-enabled qemu-prh.socket
	systemctl --root="$r" is-enabled qemu-pr-helper.socket
} > "$work/out" 2>&1
[ "$(cat "$work/out")" = "enabled
disabled" ]
result $? "on: qemu-prh.socket enabled in place of qemu-pr-helper.socket" "$work/out"
qemu-prh-select --root "$r" status > "$work/out" 2>&1
result $? "status exits 0 when selected" "$work/out"
cp "$r/etc/libvirt/qemu.conf" "$work/qemu.conf.on"
qemu-prh-select --root "$r" -q on > "$work/out" 2>&1 &&
    cmp "$work/qemu.conf.on" "$r/etc/libvirt/qemu.conf" >> "$work/out" 2>&1
result $? "on again changes nothing" "$work/out"
qemu-prh-select --root "$r" off > "$work/out" 2>&1 &&
    cmp "$work/qemu.conf.orig" "$r/etc/libvirt/qemu.conf" >> "$work/out" 2>&1
result $? "off: qemu.conf is byte for byte as before" "$work/out"
{
	systemctl --root="$r" is-enabled qemu-prh.socket
	systemctl --root="$r" is-enabled qemu-pr-helper.socket
} > "$work/out" 2>&1
[ "$(cat "$work/out")" = "disabled
enabled" ] && [ ! -e "$r/var/lib/qemu-prh" ]
result $? "off: qemu-pr-helper.socket enabled again, qemu-prh.socket disabled, no state left" "$work/out"
qemu-prh-select --root "$r" status > "$work/out" 2>&1
[ $? -eq 1 ]
result $? "status exits 1 when not selected" "$work/out"

# 9. The documented step on this machine (with libvirt's qemu.conf when
# libvirt is installed; services are started and restarted only where
# systemd runs), then removal: removing undoes it, purging leaves nothing.
[ -f /etc/libvirt/qemu.conf ] &&
    cp -p /etc/libvirt/qemu.conf "$work/qemu.conf.machine"
qemu-prh-select on > "$work/out" 2>&1 &&
    [ "$(systemctl is-enabled qemu-prh.socket 2>&1)" = enabled ] &&
    qemu-prh-select status >> "$work/out" 2>&1
result $? "qemu-prh-select on selects qemu-prh here (status exits 0)" "$work/out"
if [ -f /etc/libvirt/qemu.conf ]; then
	grep -qx 'pr_helper = "/usr/sbin/qemu-prh"' /etc/libvirt/qemu.conf
	result $? "on: libvirt's qemu.conf names /usr/sbin/qemu-prh"
else
	skip_one "libvirt is not installed (no qemu.conf)"
fi
dpkg --remove "$pkg" > "$work/out" 2>&1
result $? "dpkg --remove removes it" "$work/out"
snapshot "$work/removed"
grep -E '^[0-9a-f]{32}  /etc/|^/etc/' "$work/before" > "$work/etc.before"
grep -E '^[0-9a-f]{32}  /etc/|^/etc/' "$work/removed" > "$work/etc.removed"
diff "$work/etc.before" "$work/etc.removed" > "$work/out"
result $? "after removal /etc is as before (qemu-prh-select off ran)" "$work/out"
dpkg --purge "$pkg" > "$work/out" 2>&1
rc=$?
[ $rc -eq 0 ] && installed=0
result $rc "dpkg --purge purges it" "$work/out"
snapshot "$work/after"
diff "$work/before" "$work/after" > "$work/out"
result $? "after purge /usr, /etc, systemd's state, /var/lib, diversions and alternatives are as before" "$work/out"
! dpkg-query -W "$pkg" > "$work/out" 2>&1
result $? "dpkg knows nothing of $pkg any more" "$work/out"
