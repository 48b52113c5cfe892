#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Real dm-multipath: one TCG guest boot with multipath-tools from Debian
# (multipathd running) over LIO LUs reached through two tcm_loop ports
# each.  Our helper, inside the guest, serves /dev/mapper/mpathX through
# libmpathpersist.  Proves (guest-mpath.sh has the steps): REGISTER then
# RESERVE ten times with both paths up, all GOOD; REGISTER with a path
# down, the path back, RESERVE, and sg_persist shows the key on every
# nexus; either path down, the reserved map still takes writes; a path
# added later gets the key; a PREEMPT from a second host (its own nexus)
# fences the first on all of its paths; the same through plain SG_IO on
# one path's fd (and through the map with --multipath=off) reaches one
# nexus, and the VM is fenced by its own reservation when that path
# fails; without multipathd with --multipath=on, the helper answers NOT
# READY 04/03, logs the cause once and serves on.  The kernel mode: as
# another user, without multipathd as root, and without libmpathpersist,
# --multipath=auto serves a map through the kernel's PR ioctls; REGISTER reaches both nexuses, a failed path does not fence
# the VM, and a path added later lacks the key until the operator
# registers it; host B, a second helper in the kernel mode with its own
# map over two ports of its own (other initiators) of the same LU,
# preempts A's key: A's map refuses writes, A's RESERVE gets RESERVATION
# CONFLICT, B holds the reservation.  The same in a network namespace of
# its own while multipathd runs (its socket out of reach): auto serves
# through the kernel mode (one notice says multipathd does not answer),
# and --multipath=on answers NOT READY 04/03.  A slow map (every path
# failed, queue_if_no_path: READ KEYS waits in device-mapper on a
# worker) does not delay READ KEYS and REGISTER on the other map.
# E2E_STRACE=1 runs the helper under strace and prints what it and the
# library did after start-up (syscalls, ioctls, files, sockets).
. "$PRH_TOP_SRCDIR/tests/e2e/lib.sh"

why=$(e2e_guest_missing)
if [ -z "$why" ]; then
	"$E2E_S/tests/e2e/guest-build.sh" mpath "$E2E_CACHE" \
	    > "$E2E_LOGS/mpath-build.log" 2>&1
	case $? in
	0) ;;
	77) why=$(sed -n 's/^SKIP: //p' "$E2E_LOGS/mpath-build.log" | tail -1) ;;
	*) why="multipath overlay build failed: $(tail -1 "$E2E_LOGS/mpath-build.log")" ;;
	esac
fi
e2e_begin multipath "multipath end-to-end story" "$why"
res=$E2E_LOGS/multipath
extra=()
strace=
if [ "${E2E_STRACE:-0}" = 1 ] && command -v strace >/dev/null; then
	extra=("/usr/bin/strace:/usr/bin/strace")
	strace=e2e.strace=1
fi
if ! e2e_initrd "$E2E_TMP/initrd.main" "${extra[@]}" > "$res.build.log" 2>&1
then
	fail "build the multipath test initramfs"
	diag < "$res.build.log"
	exit 0
fi
# the base with our binaries, then multipath-tools on top
cat "$E2E_TMP/initrd.main" "$E2E_CACHE/guest/mpath.cpio.gz" > "$E2E_TMP/initrd"
e2e_boot_to_end "$res" 300 "e2e=mpath $strace" "multipath guest" || exit 0
n=0
while IFS= read -r line; do
	case $line in
	"E2E-CHECK ok - "*) pass "${line#E2E-CHECK ok - }"; n=$((n + 1)) ;;
	"E2E-CHECK FAIL - "*) fail "${line#E2E-CHECK FAIL - }"; n=$((n + 1)) ;;
	"E2E-DIAG "* | "E2E-STRACE "* | "E2E-MPATH-TIME "*) echo "# $line" ;;
	esac
done < "$res.results"
[ $n -gt 0 ] || { fail "the multipath story reported checks"; tail -n 30 "$res.console" | diag; }
cp "$res.results" "$E2E_LOGS/multipath-last.results"
exit 0
