#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Real libvirt (Debian 12's libvirtd 9.0, started by the test in the
# foreground with private dirs, lib-libvirt.sh) runs our helper.  QEMU runs
# under lunsim in block-device mode (as libvirt-qemu, from libvirt's
# <emulator>), so a simulated LUN file is the guest's <disk type='block'
# device='lun'> with cache='none' (an O_DIRECT fd that libvirt chowns to
# libvirt-qemu); the guest runs sg_persist steps as in t-qemu.sh.
# Proves:
#  1. managed mode (<reservations managed='yes'/>, qemu.conf pr_helper =
#     our helper under lunsim), with QEMU 7.2, QEMU 10.0 and QEMU 11.1
#     (of the Debian 13 root, run from the host through the root's
#     loader: e2e_qemu11_wrapper) as <emulator>: register, reserve, read
#     keys, read reservation, release and clear answered through our
#     helper (counted in its -T log and in lunsim's, none by QEMU itself);
#     while the VM runs, the helper's argv is what libvirt gives it (-k
#     <domain dir>/pr-helper0.sock, no -d, no -f), it is in QEMU's mount
#     namespace (not libvirtd's) and in the VM's cgroup, and it holds
#     libvirt's pid-file lock on the fd it inherited; killed with SIGTERM
#     and then with SIGKILL under the running guest, it is restarted by
#     libvirt (holding the lock again) and the guest's next command
#     succeeds with the earlier key; virsh destroy stops it: no helper
#     process, socket or pid file is left; the helper's audit trail names
#     the VM (from QEMU's cgroup) and QEMU's pid in the line of its
#     REGISTER;
#  2. unmanaged mode in KubeVirt's layout, with QEMU 7.2 and QEMU 11.1:
#     one helper started by the test in the foreground on
#     <dir>/kubevirt/daemons/pr/pr-helper.sock (no pid file), the socket chowned to libvirt-qemu after start as virt-handler
#     chowns it to QEMU's uid, two domains with <reservations
#     managed='no'> on it (two paths of one LUN, two initiator ports of
#     one host: lunsim --port); guest B preempts guest A, A's next READ
#     KEYS meets UNIT ATTENTION 2A/05, which the helper consumes by
#     sending it again, and A is fenced; the helper's audit trail says
#     that VM uB preempted key 0xa1, that VM uA's READ KEYS was sent again
#     after 2A/05 and that its RESERVE met a conflict;
#     libvirt starts no helper of its own; the helper exits 0 on SIGTERM
#     and removes the chowned socket.  The helper runs with
#     --protect-keys=off: the two paths are one inode, so one device to
#     it, and its key guard would take B's REGISTER for a change of A's
#     key (on real hardware two initiator ports are two device nodes);
#  3. neighbours' keys: two domains whose disks are the same LUN path
#     (one device, one initiator) on one unmanaged helper with
#     --protect-keys (the default), and a second LUN path likewise on a
#     helper with --protect-keys=off.  Guest A registers 0xa1 and
#     reserves on both, then waits; guest B's REGISTER AND IGNORE
#     EXISTING KEY 0xb2 is answered RESERVATION CONFLICT on the first
#     without reaching the LU (audit trail: refused, naming VMs nB and
#     nA; metrics: prh_keys_protected_total 1), and A's READ KEYS and
#     READ RESERVATION still show 0xa1 alone; on the second it succeeds
#     and A's show 0xb2: A was unregistered without knowing.
. "$PRH_TOP_SRCDIR/tests/e2e/lib.sh"
. "$PRH_TOP_SRCDIR/tests/e2e/lib-libvirt.sh"

tests=("libvirt managed helper with QEMU 7.2"
    "libvirt managed helper with QEMU 10.0"
    "libvirt unmanaged shared helper (KubeVirt layout)"
    "libvirt two VMs on one LU path: neighbours' keys"
    "libvirt managed helper with QEMU 11.1"
    "libvirt unmanaged shared helper (KubeVirt layout) with QEMU 11.1")
why=$(e2e_guest_missing)
[ -z "$why" ] && why=$(lv_missing)
[ -z "$why" ] && [ ! -x "$E2E_B/lunsim" ] && why="lunsim is not built"
if [ -n "$why" ]; then
	for t in "${tests[@]}"; do skip "$t" "$why"; done
	exit 0
fi
e2e_tmpdir
logs=$E2E_LOGS/libvirt
mkdir -p "$logs"
rm -f "$logs"/*
trap 'lv_stop; e2e_cleanup' EXIT
if ! e2e_initrd "$E2E_TMP/initrd" > "$logs/build.log" 2>&1; then
	fail "build the libvirt test initramfs"
	diag < "$logs/build.log"
	exit 0
fi

# What QEMU (as libvirt-qemu) needs must be readable by it: the kernel,
# the initramfs, lunsim and the LUN files live under $LV, not in the build
# tree.  Two paths of one LUN (a hard link) are two initiator ports.
t0=$SECONDS
if ! lv_start "$E2E_TMP/pr-helper"; then
	fail "libvirtd started and reported READY=1"
	diag < "$LV/libvirtd.log"
	exit 0
fi
cp "$E2E_CACHE/guest/vmlinux" "$E2E_TMP/initrd" "$LV/"
cp "$E2E_B/lunsim" "$E2E_B/.libs/lunsim.so" "$LV/bin/"
lun=$LV/a.lun lunb=$LV/b.lun
"$E2E_B/lunsim" create "$lun" --size 64M > /dev/null
ln "$lun" "$lunb"

# <emulator>: QEMU under lunsim; commands on $lunb come from hostB.
lv_emulator() {
	cat > "$LV/bin/emulator-$1" <<-EOF
	#!/bin/sh
	exec $LV/bin/lunsim --block-device --debug --initiator hostA \
	    --port $lunb=hostB -- $2 "\$@"
	EOF
	chmod 755 "$LV/bin/emulator-$1"
}
lv_emulator 7.2 /usr/bin/qemu-system-x86_64
q10=$(e2e_qemu10) && lv_emulator 10.0 "$q10"
q11=$(e2e_qemu11) && e2e_qemu11_wrapper "$q11" "$LV/qemu-11.1" &&
    lv_emulator 11.1 "$LV/qemu-11.1/qemu-system-x86_64"

# pr_helper: what libvirt passes is logged; stderr goes to a log (libvirt
# only reads it when the helper dies before its socket appears).
cat > "$E2E_TMP/pr-helper" <<EOF
#!/bin/sh
echo "\$*" >> $LV/pr-helper.argv
exec 2>> $LV/pr-helper.log
exec $E2E_B/lunsim --debug --initiator hostA -- $E2E_B/qemu-pr-helper \
    -T prh_sgio_done "\$@"
EOF
chmod 755 "$E2E_TMP/pr-helper"
if lv_virsh version > "$logs/version" 2>&1; then
	pass "libvirtd up, virsh answers (first call with the QEMU probe: $((SECONDS - t0)) s)"
else
	fail "virsh version"
	diag < "$logs/version"
fi

R_NOKEYS="rk 0 there are NO registered reservation keys"
R_A1="rk 0 1 registered reservation key follows:|    0xa1|"

# Pid of the running managed helper of domain $1 (id $2), from libvirt's
# pid file.
helper_pid() {
	lv_pidof "$LV/run/qemu/$2-$1-pr-helper0.pid"
}

# Check that managed helper pid $1 of domain $2 (id $3) holds libvirt's
# pid-file lock; $4 says when.
check_lock() {
	local fd
	if fd=$(lv_holds_lock "$1" "/run/libvirt/qemu/$3-$2-pr-helper0.pid"); then
		pass "$4: the helper holds libvirt's pid-file lock (fd $fd, inherited)"
	else
		fail "$4: the helper holds libvirt's pid-file lock"
		ls -l "/proc/$1/fd" 2>&1 | diag
	fi
}

# Kill managed helper $1 with signal $2 under the guest of session $3,
# let the guest run its next command, and find libvirt's new helper of
# domain $3 (id $4): its pid in NEW_HP.  0, or 1 if there is none.
kill_helper() {
	NEW_HP=
	kill -"$2" "$1"
	"$E2E_DRIVER" waitpid "$1" 10 || return 1
	e2e_session_send "$3" "killed-$2"
	e2e_session_until "$3" 'E2E-WAIT' 60 || return 1
	NEW_HP=$(helper_pid "$3" "$4")
	[ -n "$NEW_HP" ] && [ "$NEW_HP" != "$1" ] && kill -0 "$NEW_HP"
}

# ---- 1. managed helper, QEMU $1 as <emulator> -------------------------
test_managed() {
	local ver=$1 t=$2 name=managed${1%%.*} pfx=$logs/managed${1%%.*}
	local id hp qp hp2 hp3 sock argv want n_t n_l n_q
	local t1=$SECONDS
	"$E2E_B/lunsim" create "$lun" --size 64M --force > /dev/null
	rm -f "$LV/pr-helper.argv" "$LV/pr-helper.log"
	if ! lv_session_start "$name" "$LV/bin/emulator-$ver" "$lun" \
	    "<reservations managed='yes'/>" \
	    "e2e=qemu e2e.steps=reg-0xa1,res-0xa1-1,rk,rr,wait,rk,wait,rk,rel-0xa1-1,clr-0xa1,rk,wait" \
	    "$pfx"; then
		fail "$t: virsh create"
		diag < "$pfx.virsh"
		return
	fi
	if ! e2e_session_until "$name" 'E2E-WAIT' 120; then
		fail "$t: guest reached its first wait"
		lv_session_end "$name"
		return
	fi
	id=$(lv_virsh domid "$name")
	qp=${E2E_SPID[$name]}
	hp=$(helper_pid "$name" "$id")
	sock=/var/lib/libvirt/qemu/domain-$id-$name/pr-helper0.sock
	argv=$(tail -1 "$LV/pr-helper.argv" 2>/dev/null)
	check "$t: libvirt runs pr_helper with '-k $sock' only (was '$argv')" \
	    [ "$argv" = "-k $sock" ]
	want="$E2E_B/qemu-pr-helper -T prh_sgio_done -k $sock "
	check "$t: the helper (pid $hp) runs our binary with those arguments" \
	    [ "$(tr '\0' ' ' < "/proc/$hp/cmdline" 2>/dev/null)" = "$want" ]
	check "$t: the helper is in QEMU's mount namespace, not libvirtd's" \
	    [ "$(readlink "/proc/$hp/ns/mnt")" = "$(readlink "/proc/$qp/ns/mnt")" \
	    -a "$(readlink "/proc/$hp/ns/mnt")" != "$(readlink "/proc/$LV_PID/ns/mnt")" ]
	check "$t: the helper is in the VM's cgroup (machine/qemu-$id-$name.libvirt-qemu)" \
	    grep -q ":/machine/qemu-$id-$name\\.libvirt-qemu\$" "/proc/$hp/cgroup"
	check_lock "$hp" "$name" "$id" "$t"
	check "$t: QEMU runs as libvirt-qemu" \
	    [ "$(stat -c %U "/proc/$qp")" = libvirt-qemu ]
	check "$t: the client is QEMU $ver (domain log)" \
	    grep -q "qemu version: $ver\\." "$LV/log/qemu/$name.log"

	if kill_helper "$hp" TERM "$name" "$id"; then
		hp2=$NEW_HP
		pass "$t: helper SIGTERMed under the guest; libvirt restarted it (pid $hp2)"
		check_lock "$hp2" "$name" "$id" "$t: after the SIGTERM"
	else
		fail "$t: helper SIGTERMed under the guest; libvirt restarted it"
	fi
	if [ -n "$hp2" ] && kill_helper "$hp2" KILL "$name" "$id"; then
		hp3=$NEW_HP
		pass "$t: helper SIGKILLed under the guest; libvirt restarted it (pid $hp3)"
		check_lock "$hp3" "$name" "$id" "$t: after the SIGKILL"
	else
		fail "$t: helper SIGKILLed under the guest; libvirt restarted it"
	fi
	check_steps "$pfx.results" "$t: guest steps, through the helper restarts" \
	    "reg-0xa1 0 " \
	    "res-0xa1-1 0 " \
	    "$R_A1" \
	    "rr 0 Key=0xa1|    scope: LU_SCOPE,  type: Write Exclusive|" \
	    "$R_A1" \
	    "$R_A1" \
	    "rel-0xa1-1 0 " \
	    "clr-0xa1 0 " \
	    "$R_NOKEYS"
	lv_virsh destroy "$name" > "$pfx.destroy" 2>&1 ||
	    fail "$t: virsh destroy"
	check "$t: virsh destroy stopped the helper: no process on $sock" \
	    eval '! kill -0 "${hp3:-$hp}" 2>/dev/null && ! lv_any_process_with "$sock"'
	check "$t: no socket or pid file left" \
	    [ ! -e "$LV/lib/qemu/domain-$id-$name/pr-helper0.sock" \
	    -a ! -e "$LV/run/qemu/$id-$name-pr-helper0.pid" ]
	lv_session_end "$name"
	cp "$LV/pr-helper.log" "$pfx.helper.log"
	cp "$LV/pr-helper.argv" "$pfx.helper.argv"
	n_t=$(grep -cE 'prh_sgio_done .* opcode=0x5[ef] ' "$pfx.helper.log")
	n_l=$(pr_count "$pfx.helper.log" hostA)
	n_q=$(pr_count "$pfx.qemu.log" hostA)
	check "$t: all 9 PR commands through our helper (its log $n_t, lunsim's $n_l, QEMU itself $n_q)" \
	    [ "$n_t" = 9 -a "$n_l" = 9 -a "$n_q" = 0 ]
	check "$t: the audit trail names VM $name and QEMU (pid $qp) for the REGISTER" \
	    grep -qE "\\[pid $qp uid [0-9]+ vm $name comm [^]]*\\] PR OUT REGISTER [^ ]+ [0-9]+:[0-9]+ .*service action key 0xa1: GOOD, " \
	    "$pfx.helper.log"
	diag <<< "$t took $((SECONDS - t1)) s"
}

# ---- 2. unmanaged: one shared helper, two domains, QEMU $1 -------------
test_unmanaged() {
	local ver=$1 t=$2 dir=$LV/kubevirt/daemons/pr pa pb
	local sock hrc=0 res owner nb=5 t1=$SECONDS
	pa=$logs/unmanaged${ver%%.*}A pb=$logs/unmanaged${ver%%.*}B
	sock=$dir/pr-helper.sock
	res="<reservations managed='no'><source type='unix' path='$sock' mode='client'/></reservations>"
	mkdir -p "$dir"
	rm -f "$E2E_TMP/hK.log"
	"$E2E_B/lunsim" create "$lun" --size 64M --force > /dev/null
	# The two paths are two initiator ports, as two device nodes would
	# be; but one inode, so the helper sees one device: VMs on one
	# device with different initiator ports is where the man page
	# says to turn --protect-keys off.
	if ! e2e_helper_start hK hostA "$sock" --port "$lunb=hostB" -- \
	    --protect-keys=off; then
		fail "$t: helper started"
		return
	fi
	chown libvirt-qemu:libvirt-qemu "$sock"
	if ! lv_session_start uA "$LV/bin/emulator-$ver" "$lun" "$res" \
	    "e2e=qemu e2e.steps=reg-0xa1,res-0xa1-1,rk,wait,rk,rk,res-0xa1-1,rr" \
	    "$pa"; then
		fail "$t: virsh create (guest A)"
		diag < "$pa.virsh"
		e2e_helper_stop hK
		return
	fi
	if ! e2e_session_until uA 'E2E-WAIT' 120; then
		fail "$t: guest A reached its wait"
	elif ! lv_session_start uB "$LV/bin/emulator-$ver" "$lunb" "$res" \
	    "e2e=qemu e2e.steps=reg-0xb2,res-0xb2-1,pre-0xb2-0xa1-1,rk,rr" \
	    "$pb"; then
		fail "$t: virsh create (guest B)"
		diag < "$pb.virsh"
	else
		check "$t: libvirt started no helper of its own" \
		    eval '! ls "$LV"/run/qemu/*pr-helper* > /dev/null 2>&1'
		lv_session_end uB 120
		e2e_session_send uA go
	fi
	lv_session_end uA 120
	owner=$(stat -c %U "$sock")
	e2e_helper_stop hK || hrc=$?
	cp "$E2E_TMP/hK.log" "$pa.helper.log"
	check "$t: both clients are QEMU $ver (domain logs)" \
	    eval 'grep -q "qemu version: $ver\\." "$pa.qemu.log" &&
	    grep -q "qemu version: $ver\\." "$pb.qemu.log"'
	check "$t: both QEMUs have a pr-manager-helper on the shared socket" \
	    [ "$(grep -lF "\"path\":\"$sock\"" "$pa.qemu.log" "$pb.qemu.log" |
	    wc -l)" = 2 ]
	check_steps "$pb.results" "$t: guest B registers, conflicts, preempts A" \
	    "reg-0xb2 0 " \
	    "res-0xb2-1 24 Reservation conflict" \
	    "pre-0xb2-0xa1-1 0 " \
	    "rk 0 1 registered reservation key follows:|    0xb2|" \
	    "rr 0 Key=0xb2|    scope: LU_SCOPE,  type: Write Exclusive|"
	check_steps "$pa.results" "$t: guest A reserves, is preempted, its next READ KEYS is answered (the helper consumed 2A/05), is fenced" \
	    "reg-0xa1 0 " \
	    "res-0xa1-1 0 " \
	    "$R_A1" \
	    "rk 0 1 registered reservation key follows:|    0xb2|" \
	    "rk 0 1 registered reservation key follows:|    0xb2|" \
	    "res-0xa1-1 24 Reservation conflict" \
	    "rr 0 Key=0xb2|"
	# hostA: 7 commands, one of them sent twice (the unit attention);
	# QEMU 11.1 (migrate-pr, on for its machine types, tracks the
	# reservation) sends a READ RESERVATION of its own after the PREEMPT
	[ "$ver" = 11.1 ] && nb=6
	check "$t: one helper, two initiators: hostA 8, hostB $nb commands at the LU (were $(pr_count "$pa.helper.log" hostA), $(pr_count "$pa.helper.log" hostB))" \
	    [ "$(pr_count "$pa.helper.log" hostA)" = 8 -a \
	    "$(pr_count "$pa.helper.log" hostB)" = $nb ]
	check "$t: the audit trail: VM uB preempted key 0xa1, VM uA's READ KEYS was sent again after 2A/05, VM uA's RESERVE met a conflict" \
	    eval 'grep -qE " vm uB comm [^]]*\] PR OUT PREEMPT .*: key 0xb2, service action key 0xa1, type we: GOOD, " "$pa.helper.log" &&
	    grep -qE " vm uA comm [^]]*\] PR IN READ KEYS .*: GOOD, [0-9]+ us; sent again after UNIT ATTENTION 2A/05 \(registrations preempted\)$" "$pa.helper.log" &&
	    grep -qE " vm uA comm [^]]*\] PR OUT RESERVE .*: key 0xa1, type we: RESERVATION CONFLICT, " "$pa.helper.log"'
	check "$t: QEMU itself sent no PR command" \
	    [ "$(pr_count "$pa.qemu.log" hostA)" = 0 -a \
	    "$(pr_count "$pb.qemu.log" hostB)" = 0 ]
	check "$t: the socket was libvirt-qemu's (was $owner); SIGTERM: exit 0 (was $hrc), socket removed" \
	    [ "$owner" = libvirt-qemu -a "$hrc" = 0 -a ! -e "$sock" ]
	diag <<< "$t took $((SECONDS - t1)) s"
}

# ---- 3. neighbours' keys: two VMs, one LU path, one helper --------------
# Does file $1 get a line $2 within $3 s?
file_has_line() {
	local end=$((SECONDS + $3))
	while ! grep -qxF -- "$2" "$1" 2>/dev/null; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.2
	done
}

test_neighbours() {
	local t=${tests[3]} dir=$LV/nk pa=$logs/neighbourA pb=$logs/neighbourB
	local son ron soff roff lunc=$LV/c.lun prom=$E2E_TMP/nk.prom
	local rc_on=0 rc_off=0 metrics=0 t1=$SECONDS
	son=$dir/on.sock soff=$dir/off.sock
	ron="<reservations managed='no'><source type='unix' path='$son' mode='client'/></reservations>"
	roff="<reservations managed='no'><source type='unix' path='$soff' mode='client'/></reservations>"
	mkdir -p "$dir"
	"$E2E_B/lunsim" create "$lun" --size 64M --force > /dev/null
	"$E2E_B/lunsim" create "$lunc" --size 64M --force > /dev/null
	if ! e2e_helper_start hOn hostA "$son" -- --metrics-file="$prom"; then
		fail "$t: helper with --protect-keys (default) started"
		return
	fi
	if ! e2e_helper_start hOff hostA "$soff" -- --protect-keys=off; then
		fail "$t: helper with --protect-keys=off started"
		e2e_helper_stop hOn
		return
	fi
	chown libvirt-qemu:libvirt-qemu "$son" "$soff"
	# Both boot at once; B starts when A has registered and reserved.
	if ! lv_session_start nA "$LV/bin/emulator-7.2" "$lun" "$ron" \
	    "e2e=qemu e2e.steps=reg-0xa1@0,res-0xa1-1@0,reg-0xa1@1,res-0xa1-1@1,wait,rk@0,rr@0,rk@1,rr@1" \
	    "$pa" "$lunc" "$roff"; then
		fail "$t: virsh create (guest A)"
		diag < "$pa.virsh"
	elif ! lv_session_start nB "$LV/bin/emulator-7.2" "$lun" "$ron" \
	    "e2e=qemu e2e.steps=wait,regi-0xb2@0,regi-0xb2@1,rk@0,rk@1" \
	    "$pb" "$lunc" "$roff"; then
		fail "$t: virsh create (guest B)"
		diag < "$pb.virsh"
	elif ! e2e_session_until nA 'E2E-WAIT' 120 ||
	    ! e2e_session_until nB 'E2E-WAIT' 120; then
		fail "$t: both guests reached their wait"
		lv_session_end nB
	else
		e2e_session_send nB go
		lv_session_end nB 120
		kill -USR1 "${E2E_HPID[hOn]}"
		file_has_line "$prom" "prh_keys_protected_total 1" 10 &&
		    metrics=1
		cp "$prom" "$pa.helper-on.prom"
		e2e_session_send nA go
	fi
	lv_session_end nA 120
	e2e_helper_stop hOn || rc_on=$?
	e2e_helper_stop hOff || rc_off=$?
	cp "$E2E_TMP/hOn.log" "$pa.helper-on.log"
	cp "$E2E_TMP/hOff.log" "$pa.helper-off.log"
	check_steps "$pa.results" "$t: guest A registers 0xa1 and reserves on both LUNs; after B, LUN 0 (protected) still shows 0xa1 alone and its reservation, LUN 1 (--protect-keys=off) shows B's 0xb2" \
	    "reg-0xa1@0 0 " \
	    "res-0xa1-1@0 0 " \
	    "reg-0xa1@1 0 " \
	    "res-0xa1-1@1 0 " \
	    "rk@0 0 1 registered reservation key follows:|    0xa1|" \
	    "rr@0 0 Key=0xa1|    scope: LU_SCOPE,  type: Write Exclusive|" \
	    "rk@1 0 1 registered reservation key follows:|    0xb2|" \
	    "rr@1 0 Key=0xb2|    scope: LU_SCOPE,  type: Write Exclusive|"
	check_steps "$pb.results" "$t: guest B's REGISTER AND IGNORE EXISTING KEY 0xb2: RESERVATION CONFLICT on LUN 0, GOOD on LUN 1" \
	    "regi-0xb2@0 24 Reservation conflict" \
	    "regi-0xb2@1 0 " \
	    "rk@0 0 1 registered reservation key follows:|    0xa1|" \
	    "rk@1 0 1 registered reservation key follows:|    0xb2|"
	check "$t: the audit trail: VM nB's REGISTER AND IGNORE EXISTING KEY refused, naming VM nA" \
	    grep -qE " vm nB comm [^]]*\] PR OUT REGISTER AND IGNORE EXISTING KEY .*: refused \(would change the key vm nA registered\)" \
	    "$pa.helper-on.log"
	check "$t: metrics after SIGUSR1: prh_keys_protected_total 1 (was '$(grep -s '^prh_keys_protected_total ' "$pa.helper-on.prom")')" \
	    [ $metrics = 1 ]
	check "$t: --protect-keys=off: VM nB's REGISTER AND IGNORE EXISTING KEY went through, nothing refused" \
	    eval 'grep -qE " vm nB comm [^]]*\] PR OUT REGISTER AND IGNORE EXISTING KEY .*: GOOD, " "$pa.helper-off.log" &&
	    ! grep -q "refused" "$pa.helper-off.log"'
	# on: A 4, B's READ KEYS; off: A 4, B 2
	check "$t: the refused command never reached the LU: hostA 5 commands, no REGISTER AND IGNORE EXISTING KEY at the protected LU, 6 and one at the other (were $(pr_count "$pa.helper-on.log" hostA) and $(grep -c 'cdb 5f/06 ' "$pa.helper-on.log"), $(pr_count "$pa.helper-off.log" hostA) and $(grep -c 'cdb 5f/06 ' "$pa.helper-off.log"))" \
	    [ "$(pr_count "$pa.helper-on.log" hostA)" = 5 -a \
	    "$(grep -c 'cdb 5f/06 ' "$pa.helper-on.log")" = 0 -a \
	    "$(pr_count "$pa.helper-off.log" hostA)" = 6 -a \
	    "$(grep -c 'cdb 5f/06 ' "$pa.helper-off.log")" = 1 ]
	check "$t: QEMU itself sent no PR command; both helpers exit 0 on SIGTERM (were $rc_on, $rc_off)" \
	    [ "$(pr_count "$pa.qemu.log" hostA)" = 0 -a \
	    "$(pr_count "$pb.qemu.log" hostA)" = 0 -a $rc_on = 0 -a $rc_off = 0 ]
	diag <<< "$t took $((SECONDS - t1)) s"
}

# Is test $1 (managed, unmanaged, neighbours) among E2E_LIBVIRT_TESTS
# (default: all)?  Else a skip line for description $2.
wanted() {
	[[ " ${E2E_LIBVIRT_TESTS:-managed unmanaged neighbours} " == *" $1 "* ]] &&
	    return 0
	skip "$2" "not in E2E_LIBVIRT_TESTS"
	return 1
}

wanted managed "${tests[0]}" && test_managed 7.2 "${tests[0]}"
if [ -z "$q10" ] || [ ! -x "$LV/bin/emulator-10.0" ]; then
	skip "${tests[1]}" "$q10"
elif wanted managed "${tests[1]}"; then
	test_managed 10.0 "${tests[1]}"
fi
wanted unmanaged "${tests[2]}" && test_unmanaged 7.2 "${tests[2]}"
wanted neighbours "${tests[3]}" && test_neighbours
if [ -x "$LV/bin/emulator-11.1" ]; then
	echo "# $(cat "$q11/VERSION")"
	wanted managed "${tests[4]}" && test_managed 11.1 "${tests[4]}"
	wanted unmanaged "${tests[5]}" && test_unmanaged 11.1 "${tests[5]}"
elif [ -d "$q11" ]; then
	fail "write the QEMU 11.1 wrapper in $LV/qemu-11.1"
else
	skip "${tests[4]}" "$q11"
	skip "${tests[5]}" "$q11"
fi
t0=$SECONDS
lrc=0
lv_stop || lrc=$?
cp "$LV/libvirtd.log" "$logs/libvirtd.log"
check "libvirtd stopped by SIGTERM, exit $lrc ($((SECONDS - t0)) s); no QEMU or helper left" \
    eval '[ $lrc = 0 ] && ! lv_any_process_with "$LV/"'
exit 0
