#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The helper's main job on a simulated LUN: two hosts share one LUN, each
# through its own qemu-pr-helper, and fence each other with SCSI-3
# persistent reservations.  Builds first if needed; needs no root and no
# SCSI hardware (on a fresh machine the setup step installs the build
# dependencies with apt-get, through sudo when not root).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${PRH_BUILDDIR:-$top/build}

if [ "${PRH_DEMO_NO_BUILD:-0}" != 1 ]; then
	"$top/contrib/setup-debian.sh" build
	PRH_BUILDDIR=$builddir "$top/contrib/build.sh"
fi

helper=$builddir/qemu-pr-helper
client=$builddir/qemu-pr-client
lunsim=$builddir/lunsim
dir=$(mktemp -d "${TMPDIR:-/tmp}/prh-demo.XXXXXX")

# Stop both helpers and remove the scratch directory, whatever happens.
cleanup() {
	pids=$(cat "$dir/A.pid" "$dir/B.pid" 2>/dev/null || true)
	for p in $pids; do
		kill "$p" 2>/dev/null || true
	done
	# The helpers finish their shutdown quickly; wait for them to go.
	for p in $pids; do
		while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
	done
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

"$lunsim" create "$dir/shared.lun" --size 64M >/dev/null
# -d returns once the helper serves (or fails with its error).
for h in A B; do
	"$lunsim" --initiator "host$h" -- "$helper" -d -q \
	    -k "$dir/$h.sock" -f "$dir/$h.pid"
done

step=0
# Run one command as host $1 through its helper and print the answer.
pr() {
	host=$1 what=$2
	shift 2
	step=$((step + 1))
	rc=0
	out=$("$client" -k "$dir/$host.sock" "$dir/shared.lun" "$@" 2>&1) || rc=$?
	printf '%2d. host %s: %-34s -> %s\n' "$step" "$host" "$what" \
	    "$(echo "$out" | head -n 1)"
	echo "$out" | tail -n +2 | sed 's/^ */                                                 /'
	return 0
}

echo "One LUN ($dir/shared.lun), two hosts, each with its own helper:"
echo "host A on $dir/A.sock, host B on $dir/B.sock."
echo
pr A "register key 0xa"                  register 0 0xa
pr A "reserve, write exclusive"          reserve 0xa we
pr B "register key 0xb"                  register 0 0xb
pr B "reserve, write exclusive"          reserve 0xb we
pr B "preempt host A (key 0xa)"          preempt 0xb 0xa we
pr A "read keys"                         read-keys
pr A "reserve again"                     reserve 0xa we
pr B "read reservation"                  read-reservation
echo
echo "Host B took the reservation and removed host A's key: host A is fenced."
