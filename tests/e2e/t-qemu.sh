#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Real QEMU as the helper's client, on the host.  QEMU runs under lunsim in
# block-device mode, so a simulated LUN file passes host_device and
# scsi-block; its pr-manager-helper talks to our helper, which runs under
# lunsim as the same initiator.  The guest (TCG) runs sg_persist on
# /dev/sda, so every PR command goes guest -> virtio-scsi -> scsi-block ->
# pr-manager-helper -> our helper -> SG_IO -> the simulated LUN.
# Proves:
#  1. one guest: register, reserve, read keys, read reservation, a
#     conflicting reserve, release, clear give the SPC-4 answers, all of
#     them through the helper; QMP query-pr-managers says connected;
#  2. two guests as two hosts (two helpers, two initiators, one LUN): B
#     preempts A; A's next command meets the UNIT ATTENTION 2A/05 its
#     nexus is owed, which A's helper consumes by sending the command
#     again, so A reads the keys as they are now; then A is fenced
#     (RESERVATION CONFLICT);
#  3. the helper killed under a running guest: the guest's next PR command
#     fails as QEMU reports it (ABORTED COMMAND); the helper restarted
#     plainly, then socket-activated: the next command succeeds with the
#     earlier state; QEMU and the guest survive all of it.
# All three run with Debian 12's QEMU 7.2 as the client, then with QEMU
# 10.0 (contrib/qemu10.sh), then twice with QEMU 11.1 from the Debian 13
# root (contrib/trixie-root.sh; QEMU runs in it under lunsim, our helper
# outside), its scsi-block device with migrate-pr=on, then off (logs in
# qemu/, qemu10/, qemu11-mpr-on/ and qemu11-mpr-off/).
. "$PRH_TOP_SRCDIR/tests/e2e/lib.sh"

tests0=("QEMU guest PR scenario through our helper"
    "two QEMU guests as two hosts: preemption"
    "helper restart under a running QEMU guest")
why=$(e2e_guest_missing)
[ -z "$why" ] && [ ! -x "$E2E_B/lunsim" ] && why="lunsim is not built"
[ -z "$why" ] && ! "$E2E_B/lunsim" --block-device -- true 2>/dev/null &&
    why="lunsim has no block-device mode"
if [ -n "$why" ]; then
	for v in 7.2 10.0 "11.1 migrate-pr=on" "11.1 migrate-pr=off"; do
		for t in "${tests0[@]}"; do skip "QEMU $v: $t" "$why"; done
	done
	exit 0
fi
e2e_tmpdir
if ! e2e_initrd "$E2E_TMP/initrd" > "$E2E_LOGS/qemu-build.log" 2>&1; then
	fail "build the QEMU test initramfs"
	diag < "$E2E_LOGS/qemu-build.log"
	exit 0
fi
lun=$E2E_TMP/shared.lun

# QEMU arguments for a guest whose disk is $lun through helper socket $1,
# QMP on socket $2.  share-rw: the LUN is shared by design (two hosts);
# migrate-pr=$mpr when mpr is set (QEMU 11.1).
qemu_args() {
	echo -object "pr-manager-helper,id=pr0,path=$1" \
	    -blockdev "node-name=lun0,driver=host_device,filename=$lun,pr-manager=pr0" \
	    -device virtio-scsi-pci,id=scsi0 \
	    -device "scsi-block,bus=scsi0.0,drive=lun0,share-rw=on${mpr:+,migrate-pr=$mpr}" \
	    -qmp "unix:$2,server=on,wait=off"
}

# lunsim in block-device mode as initiator $1 with further lunsim options
# $2...: the words QEMU runs under (E2E_WRAP), in QEMU 11.1's root when
# in_root is set.
qemu_wrap() {
	local ini=$1
	shift
	E2E_WRAP=("${in_root[@]}" "$E2E_B/lunsim" --block-device "$@" \
	    --initiator "$ini" --)
}

# Is the pr-manager pr0 of QMP socket $1 connected?
qmp_connected() {
	"$E2E_DRIVER" qmp "$1" '{"execute": "query-pr-managers"}' \
	    > "$2" 2>&1 && grep -q '"connected": true, "id": "pr0"' "$2"
}

# Does the QEMU of QMP socket $1 say it is release $3 ("7.2")?  Output in $2.
qmp_version() {
	"$E2E_DRIVER" qmp "$1" '{"execute": "query-version"}' > "$2" 2>&1 &&
	    grep -q "\"minor\": ${3#*.}, \"major\": ${3%.*}}" "$2"
}

R_NOKEYS="rk 0 there are NO registered reservation keys"
R_NORES="rr 0 there is NO reservation held"

# ---- 1. one guest, one helper --------------------------------------
test_single() {
	local s=$E2E_TMP/a.sock q=$E2E_TMP/qa.sock pfx=$logs/single rc=0
	e2e_helper_start hA hostA "$s" || { fail "${tests[0]}: helper started"; return; }
	qemu_wrap hostA --debug
	# shellcheck disable=SC2046
	e2e_session_start single "$pfx" 300 \
	    "e2e=qemu e2e.steps=wait,rk,reg-0xa1,rk,res-0xa1-3,rr,res-0xa1-1,rel-0xa1-3,rr,clr-0xa1,rk" \
	    $(qemu_args "$s" "$q")
	if e2e_session_until single 'E2E-WAIT' 120; then
		check "${V}QMP query-pr-managers: pr0 connected" \
		    qmp_connected "$q" "$pfx.qmp"
		check "${V}QMP query-version: the client is QEMU $ver" \
		    qmp_version "$q" "$pfx.version" "$ver"
		e2e_session_send single go
	else
		fail "${V}guest reached its first step"
	fi
	e2e_session_end single || rc=$?
	cp "$E2E_TMP/hA.log" "$pfx.helper.log"
	check "${V}guest ran to the end, QEMU exit 0 (was $rc)" [ "$rc" = 0 ]
	check_steps "$pfx.results" "${tests[0]}" \
	    "$R_NOKEYS" \
	    "reg-0xa1 0 " \
	    "rk 0 1 registered reservation key follows:|    0xa1|" \
	    "res-0xa1-3 0 " \
	    "rr 0 Key=0xa1|    scope: LU_SCOPE,  type: Exclusive Access|" \
	    "res-0xa1-1 24 Reservation conflict" \
	    "rel-0xa1-3 0 " \
	    "$R_NORES" \
	    "clr-0xa1 0 " \
	    "$R_NOKEYS"
	# 10 sg_persist commands, all through the helper, none by QEMU itself
	local n_h n_q
	n_h=$(pr_count "$pfx.helper.log" hostA)
	n_q=$(pr_count "$pfx.qemu.log" hostA)
	check "${V}all 10 PR commands went through our helper (helper $n_h, QEMU itself $n_q)" \
	    [ "$n_h" = 10 -a "$n_q" = 0 ]
	e2e_helper_stop hA
}

# ---- 2. two guests, two helpers, one LUN ---------------------------
test_two_hosts() {
	local sa=$E2E_TMP/a.sock sb=$E2E_TMP/b.sock pa=$logs/hostA \
	    pb=$logs/hostB rca=0 rcb=0
	"$E2E_B/lunsim" create "$lun" --size 64M --force > /dev/null
	local l0
	l0=$( (wc -l < "$E2E_TMP/hA.log") 2> /dev/null || echo 0)
	e2e_helper_start hA hostA "$sa" && e2e_helper_start hB hostB "$sb" ||
	    { fail "${tests[1]}: helpers started"; return; }
	qemu_wrap hostA
	# shellcheck disable=SC2046
	e2e_session_start A "$pa" 300 \
	    "e2e=qemu e2e.steps=reg-0xa1,res-0xa1-1,rk,wait,rk,rk,res-0xa1-1,rr" \
	    $(qemu_args "$sa" "$E2E_TMP/qa.sock")
	e2e_session_wait A "${tests[1]}: guest A reached its wait" || return
	qemu_wrap hostB
	# shellcheck disable=SC2046
	e2e_session_start B "$pb" 300 \
	    "e2e=qemu e2e.steps=reg-0xb2,res-0xb2-1,pre-0xb2-0xa1-1,rk,rr" \
	    $(qemu_args "$sb" "$E2E_TMP/qb.sock")
	e2e_session_end B || rcb=$?
	e2e_session_send A go
	e2e_session_end A || rca=$?
	check "${V}both guests ran to the end, QEMU exit 0 (A $rca, B $rcb)" \
	    [ "$rca" = 0 -a "$rcb" = 0 ]
	check_steps "$pb.results" "${tests[1]}: host B registers, conflicts, preempts A" \
	    "reg-0xb2 0 " \
	    "res-0xb2-1 24 Reservation conflict" \
	    "pre-0xb2-0xa1-1 0 " \
	    "rk 0 1 registered reservation key follows:|    0xb2|" \
	    "rr 0 Key=0xb2|    scope: LU_SCOPE,  type: Write Exclusive|"
	check_steps "$pa.results" "${tests[1]}: host A reserves, is preempted, its next READ KEYS is answered (the helper consumed 2A/05), is fenced" \
	    "reg-0xa1 0 " \
	    "res-0xa1-1 0 " \
	    "rk 0 1 registered reservation key follows:|    0xa1|" \
	    "rk 0 1 registered reservation key follows:|    0xb2|" \
	    "rk 0 1 registered reservation key follows:|    0xb2|" \
	    "res-0xa1-1 24 Reservation conflict" \
	    "rr 0 Key=0xb2|"
	check "${V}host A's helper logged the READ KEYS it sent again after 2A/05" \
	    grep -q "PR IN READ KEYS .*: GOOD, [0-9]* us; sent again after UNIT ATTENTION 2A/05 (registrations preempted)" \
	    <(tail -n +$((l0 + 1)) "$E2E_TMP/hA.log")
	e2e_helper_stop hA
	e2e_helper_stop hB
}

# ---- 3. helper restarts under a running guest -----------------------
test_restart() {
	local s=$E2E_TMP/a.sock q=$E2E_TMP/qa.sock pfx=$logs/restart rc=0 hrc=0
	local act=1
	rm -f "$E2E_TMP/hA.log"
	e2e_helper_activatable || act=0
	"$E2E_B/lunsim" create "$lun" --size 64M --force > /dev/null
	e2e_helper_start hA hostA "$s" || { fail "${tests[2]}: helper started"; return; }
	qemu_wrap hostA
	# shellcheck disable=SC2046
	e2e_session_start R "$pfx" 300 \
	    "e2e=qemu e2e.steps=reg-0xa1,wait,rk,wait,rk,wait,rk,wait" \
	    $(qemu_args "$s" "$q")
	e2e_session_wait R "${tests[2]}: guest reached its first wait" || return
	e2e_helper_stop hA || hrc=$?
	check "${V}helper stopped by SIGTERM under a connected QEMU, exit status 0 (was $hrc)" \
	    [ "$hrc" = 0 ]
	e2e_session_send R killed
	# QEMU retries the helper for a few seconds, then fails the command
	e2e_session_until R 'E2E-WAIT' 120 || true
	e2e_helper_start hA hostA "$s" ||
	    fail "${tests[2]}: helper restarted"
	e2e_session_send R restarted
	e2e_session_until R 'E2E-WAIT' 120 || true
	e2e_helper_stop hA
	if [ $act = 1 ]; then
		e2e_helper_start_activated hA hostA "$s" ||
		    fail "${tests[2]}: systemd-socket-activate listening"
	else
		e2e_helper_start hA hostA "$s"
	fi
	e2e_session_send R reactivated
	e2e_session_until R 'E2E-WAIT' 120 || true
	check "${V}QMP query-pr-managers: pr0 connected after the restarts" \
	    qmp_connected "$q" "$pfx.qmp"
	e2e_session_send R end
	e2e_session_end R || rc=$?
	check "${V}guest and QEMU survived the helper restarts (QEMU exit $rc)" \
	    [ "$rc" = 0 ]
	check_steps "$pfx.results" "${tests[2]}: no helper -> ABORTED COMMAND; restarted -> earlier key" \
	    "reg-0xa1 0 " \
	    "rk 11 Aborted command" \
	    "rk 0 1 registered reservation key follows:|    0xa1|" \
	    "rk 0 1 registered reservation key follows:|    0xa1|"
	e2e_helper_stop hA
	cp "$E2E_TMP/hA.log" "$pfx.helper.log"
	if [ $act = 1 ]; then
		# lunsim's lines of the helper that systemd-socket-activate
		# executed on QEMU's connection
		check "${V}the last command went through a socket-activated helper (systemd-socket-activate)" \
		    grep -q 'hostA: cdb 5e/00 -> status 0x00' \
		    <(sed -n '/^Execing /,$p' "$pfx.helper.log")
	else
		skip "${V}helper restarted through systemd-socket-activate" \
		    "qemu-pr-helper has no socket activation (LISTEN_FDS)"
	fi
}

# Run the three tests with QEMU $1 ("7.2", "10.0" or "11.1") as the
# client, logs in $E2E_LOGS/$2; the scsi-block device gets migrate-pr=$3
# if $3 is given.
run_all() {
	local t
	ver=$1 mpr=${3:-} V="QEMU $1${3:+ migrate-pr=$3}: "
	tests=()
	for t in "${tests0[@]}"; do tests+=("${V}$t"); done
	logs=$E2E_LOGS/$2
	mkdir -p "$logs"
	rm -f "$logs"/* "$E2E_TMP"/h?.log
	"$E2E_B/lunsim" create "$lun" --size 64M --force > /dev/null
	test_single
	test_two_hosts
	test_restart
}

run_all 7.2 qemu
if q10=$(e2e_qemu10); then
	E2E_QEMU=$q10
	run_all 10.0 qemu10
else
	for t in "${tests0[@]}"; do skip "QEMU 10.0: $t" "$q10"; done
fi
q11=$(e2e_qemu11) && [ "$(id -u)" -ne 0 ] &&
    q11="QEMU 11.1 runs in its Debian 13 root: needs root (chroot)"
if [ -d "$q11" ]; then
	# the directories QEMU uses, at the same paths in the root
	export PRH_TRIXIE_BIND="$E2E_B $E2E_CACHE $E2E_LOGS $E2E_TMP"
	in_root=("$E2E_S/contrib/trixie-root.sh" run qemu)
	trap 'rmdir "$q11/root$E2E_TMP" 2>/dev/null; e2e_cleanup' EXIT
	E2E_QEMU=qemu-system-x86_64
	echo "# $(cat "$q11/VERSION")"
	run_all 11.1 qemu11-mpr-on on
	run_all 11.1 qemu11-mpr-off off
else
	for m in on off; do
		for t in "${tests0[@]}"; do
			skip "QEMU 11.1 migrate-pr=$m: $t" "$q11"
		done
	done
fi
exit 0
