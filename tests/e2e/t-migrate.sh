#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Live migration of a guest that holds a persistent reservation, with
# QEMU 11.1 (scsi-block migrate-pr=on) from a Debian 13 root
# (contrib/trixie-root.sh).  Two "hosts" on one LU: two helpers, each under
# lunsim as its own initiator (hostA, hostB) on the same LUN file(s), each
# on its own socket; the source QEMU (hostA) and the destination QEMU
# (hostB, -incoming defer) run in the root under lunsim --block-device.
# The guest registers key 0xa1 (and reserves), waits, is migrated over a
# Unix socket with the return-path capability, then goes on with PR
# commands and a write wherever it runs.  Scenarios:
#  a. success with a reservation: hostB holds 0xa1 and the reservation
#     (same type), hostA's registration is gone, the guest's commands and
#     I/O succeed on the destination;
#  b. success with a registration only: the same without a reservation;
#  c. the destination's first PR command refused by the device (RESERVATION
#     CONFLICT, lunsim fault): the migration fails, the reservation stays
#     at hostA, the guest runs on there;
#  d. two LUs, the second refuses after the destination preempted the
#     first: with our helper the source's rollback meets the UNIT ATTENTION
#     2A/05 owed to hostA, the helper sends the command again, and the
#     reservation comes back; with QEMU 11.1's helper the rollback stops at
#     the unit attention and hostB (whose QEMU is gone) keeps the
#     reservation: QEMU's known outcome, asserted so that a change shows;
#  e. the destination's helper stopped before the migration and started
#     again during it, its listening socket held (systemd-socket-activate
#     and a shell that runs the helper again; QEMU's in the root, which
#     passes LISTEN_FDS on): the destination's connect waits on the held
#     socket while the migration is in its device stage, and it completes
#     once the new helper runs; the new helper did the handover;
#  f. the destination's helper gone with its socket during the switch-over
#     (stopped before the migration, its socket file removed), without
#     the return-path capability: QEMU 11.1.3's known outcome, whichever
#     helper: the destination aborts ("stack smashing detected", exit 134)
#     after its reconnect tries, the source reports the migration
#     completed and stays paused (postmigrate), the reservation stays at
#     hostA; a "cont" on the source lets the guest run on there;
#  g. (our helper only: a SIGKILL does not depend on the helper) the
#     destination's helper, its socket held, killed (SIGKILL) while the
#     destination's first command waits at the LU (a lunsim hang, seen in
#     "lunsim show"): the destination aborts as in f, the migration fails
#     (return path), the reservation stays at hostA, the guest runs on
#     there;
#  h. the same stopped by SIGTERM instead: the helper answers the command
#     once the LU does (the hang cleared after the helper handled the
#     signal: ours logged it, QEMU's closed its listening socket), exits,
#     is started again on the held socket, and the migration completes
#     with the handover; QEMU 11.1's helper does the same.
# Our helpers write a metrics file: the counters of the handover (a) and
# of the rollback with its unit attention sent again (d) are checked.
# Each scenario runs with our helpers, then with QEMU 11.1's own
# qemu-pr-helper (in the root); the PR commands at the LU (lunsim --debug
# lines) and the end state (lunsim show) are compared between the two, and
# our audit trail shows the handover.  Logs in logs/migrate.

# (functions called from a trap or by a computed name)
# shellcheck disable=SC2317
. "$PRH_TOP_SRCDIR/tests/e2e/lib.sh"

# shellcheck disable=SC2206
scen=(${E2E_MIGRATE_SCENARIOS:-a b c d e f g h})
declare -A title=(
	[a]="migration with a reservation"
	[b]="migration with a registration only"
	[c]="the destination's first PR command refused"
	[d]="two LUs, the second refused after the first was preempted"
	[e]="the destination's helper restarted during the migration, its socket held"
	[f]="the destination's helper gone with its socket, no return path"
	[g]="the destination's helper killed (SIGKILL) with a command in flight, its socket held"
	[h]="the destination's helper stopped (SIGTERM) with a command in flight, its socket held")
# shellcheck disable=SC2206
helpers=(${E2E_MIGRATE_HELPERS:-ours qemu})
declare -A hname=([ours]="our helper" [qemu]="QEMU 11.1's helper")

# The runs, one "SCENARIO HELPER" line each.  The SIGKILL (g) is tried
# with our helper only: what follows does not depend on the helper.
runs() {
	local h s
	for h in "${helpers[@]}"; do
		for s in "${scen[@]}"; do
			[ "$s" = g ] && [ "$h" = qemu ] && continue
			echo "$s $h"
		done
	done
}

why=$(e2e_guest_missing)
[ -z "$why" ] && [ ! -x "$E2E_B/lunsim" ] && why="lunsim is not built"
if [ -z "$why" ]; then
	if ! root=$("$E2E_S/contrib/trixie-root.sh" fetch qemu \
	    2> "$E2E_LOGS/migrate-root.log"); then
		why="no Debian 13 root with QEMU 11.1: $(tail -n 1 "$E2E_LOGS/migrate-root.log")"
	fi
fi
if [ -n "$why" ]; then
	while read -r s h; do
		skip "QEMU 11.1 migration, ${hname[$h]}: ${title[$s]}" "$why"
	done < <(runs)
	exit 0
fi
e2e_tmpdir
logs=$E2E_LOGS/migrate
mkdir -p "$logs"
rm -f "$logs"/*
echo "# $(cat "$root/VERSION")"

# The parent of process $1, or nothing.
ppid_of() {
	awk '/^PPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# Kill what the last scenario left running, only this shell's children
# and theirs: the QEMUs (timeout(1) runs each in a process group of its
# own, which the QEMU in it keeps), our helpers (children of "e2e-driver
# start"), QEMU's helpers and the holder of scenario e with its helper.
mig_kill() {
	local p c
	for p in "${E2E_PIDS[@]}"; do
		[ "$(ppid_of "$p")" = $$ ] || continue
		for c in $(ps -o pid= --ppid "$p"); do
			kill -9 "$c" 2>/dev/null
		done
		kill -9 -- "-$p" 2>/dev/null
		kill -9 "$p" 2>/dev/null
	done
	for p in "${E2E_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	E2E_PIDS=() E2E_HPID=() E2E_HJOB=()
}
# (and the mount point the root got for the test's directory)
trap 'mig_kill; rmdir "$root/root$E2E_TMP" 2>/dev/null; e2e_cleanup' EXIT

if ! e2e_initrd "$E2E_TMP/initrd" > "$logs/build.log" 2>&1; then
	fail "build the migration test initramfs"
	diag < "$logs/build.log"
	exit 0
fi

# Directories seen at the same path inside the root.
export PRH_TRIXIE_BIND="$E2E_B $E2E_CACHE $E2E_LOGS $E2E_TMP"
# lunsim in the root.
in_root=("$E2E_S/contrib/trixie-root.sh" run qemu "$E2E_B/lunsim")
E2E_QEMU=qemu-system-x86_64
lun0=$E2E_TMP/lu0.lun lun1=$E2E_TMP/lu1.lun
mig=$E2E_TMP/mig.sock

# QMP: run commands $2... on socket $1, answers on stdout.
qmp() {
	"$E2E_DRIVER" qmp "$@" 2>&1
}

# Wait (at most $3 s) until QMP command $2 on socket $1 answers a line
# matching the extended regex $4; the last answer in QMP_LAST.  0 or 1.
qmp_until() {
	local end=$((SECONDS + $3))
	while :; do
		QMP_LAST=$(qmp "$1" "$2")
		[[ $QMP_LAST =~ $4 ]] && return 0
		[ $SECONDS -lt $end ] || return 1
		sleep 0.2
	done
}

# Is something listening on Unix socket $1 (/proc/net/unix, flag
# __SO_ACCEPTCON)?
listening() {
	grep -q " 00010000 [0-9A-F]* 01 .* $1\$" /proc/net/unix
}

# Wait (at most 30 s) until socket $1 listens while process $2 lives:
# 0 or 1.
started() {
	local end=$((SECONDS + 30))
	until listening "$1"; do
		[ $SECONDS -lt $end ] && kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
}

# Start helper $1 of kind $2 (ours|qemu) as initiator $3 on socket $4; its
# stderr (lunsim's lines, our audit trail) goes to $E2E_TMP/$1.log, our
# helper's metrics file is $E2E_TMP/$1.prom.  0 or 1.
helper_start() {
	local n=$1 kind=$2 ini=$3 sock=$4
	if [ "$kind" = ours ]; then
		e2e_helper_start "$n" "$ini" "$sock" -- \
		    "--metrics-file=$E2E_TMP/$n.prom"
		return
	fi
	rm -f "$sock"
	"${in_root[@]}" --debug --initiator "$ini" -- qemu-pr-helper -k "$sock" \
	    2>> "$E2E_TMP/$n.log" &
	E2E_HPID[$n]=$!
	E2E_HJOB[$n]=$!
	E2E_PIDS+=($!)
	started "$sock" $!
}

# Start helper hB of kind $2 (ours|qemu) as initiator hostB on socket $1
# under a holder that keeps the listening socket across restarts:
# systemd-socket-activate executes, on the first connection, a shell that
# runs the helper (with LISTEN_PID its own; QEMU's through the root's
# runner, which keeps LISTEN_FDS for it and needs PRH_TRIXIE_BIND, which
# systemd-socket-activate passes on only when told) and, each time it exits, again
# once a line arrives on the fifo $E2E_TMP/hB.go ("stop" ends it).  0 or 1.
held_start() {
	local sock=$1 cmd
	cmd=("$E2E_B/lunsim" --debug --initiator hostB -- "$E2E_B/qemu-pr-helper" -v)
	[ "$2" = qemu ] &&
	    cmd=("${in_root[@]}" --debug --initiator hostB -- qemu-pr-helper)
	rm -f "$sock" "$E2E_TMP/hB.go"
	mkfifo "$E2E_TMP/hB.go"
	# shellcheck disable=SC2016
	systemd-socket-activate -l "$sock" -E PRH_TRIXIE_BIND sh -c '
		go=$1
		shift
		while :; do
			echo "e2e: helper start" >&2
			sh -c "LISTEN_PID=\$\$ exec \"\$@\"" sh "$@"
			read -r line < "$go"
			[ "$line" = stop ] && exit 0
		done' sh "$E2E_TMP/hB.go" "${cmd[@]}" 2>> "$E2E_TMP/hB.log" &
	E2E_HJOB[hB]=$!
	E2E_PIDS+=($!)
	started "$sock" $!
}

# The helper the holder of held_start runs now: its pid, or nothing.
held_pid() {
	ps -o pid= --ppid "${E2E_HJOB[hB]}" | tr -d ' '
}

# Is a connection to socket $1 queued, not accepted (the server's end of
# it, bound to the path, still connecting: state 02, no inode)?
queued() {
	grep -qE " 0001 02 +0 $1\$" /proc/net/unix
}

# Scenario e, between the destination's start and the migration: stop the
# destination's helper (SIGTERM); the holder keeps its socket.  0 or 1.
held_stop() {
	local p
	p=$(held_pid)
	[ -n "$p" ] && kill -TERM "$p" && "$E2E_DRIVER" waitpid "$p" 30
}

# Is a connection to socket $1 queued while QMP answer $2 says the
# migration has not completed?
queued_not_done() {
	queued "$1" && [[ $2 != *'"status": "completed"'* ]]
}

# Scenario e, during the migration: once the destination's connection
# waits on the held socket (the migration not yet completed), start the
# helper again.  ok/not ok as $1.
held_restart() {
	local end=$((SECONDS + 30))
	until queued "$2"; do
		[ $SECONDS -lt $end ] || break
		sleep 0.1
	done
	QMP_LAST=$(qmp "$3" '{"execute": "query-migrate"}')
	echo "$QMP_LAST" > "$4.restart.qmp"
	check "$1: the destination's connect waits on the held socket, the migration not completed" \
	    queued_not_done "$2" "$QMP_LAST"
	held_send go
}

# Send line $1 to the holder of held_start (at most 10 s: it may be gone).
held_send() {
	# shellcheck disable=SC2016
	timeout 10 sh -c 'echo "$1" > "$2"' sh "$1" "$E2E_TMP/hB.go"
}

# Stop the holder of held_start and its helper: 0 or 1.
held_end() {
	held_stop
	held_send stop
	wait "${E2E_HJOB[hB]}"
}

# QEMU arguments: helper socket $1, QMP socket $2, number of LUs $3.
qemu_args() {
	local i f
	echo -object "pr-manager-helper,id=pr0,path=$1" \
	    -device virtio-scsi-pci,id=scsi0 \
	    -qmp "unix:$2,server=on,wait=off"
	for ((i = 0; i < $3; i++)); do
		f=$E2E_TMP/lu$i.lun
		echo -blockdev "node-name=lun$i,driver=host_device,filename=$f,pr-manager=pr0" \
		    -device "scsi-block,bus=scsi0.0,drive=lun$i,scsi-id=0,lun=$i,share-rw=on,migrate-pr=on"
	done
}

RP='{"execute": "migrate-set-capabilities", "arguments": {"capabilities": [{"capability": "return-path", "state": true}]}}'

# The PR commands at the LU of helper log $1 for initiator $2: one
# "cdb -> status" per line.
lu_cmds() {
	sed -nE "s/^lunsim\[[0-9]+\] $2: (cdb 5[ef]\/[0-9a-f]+) (-> status 0x[0-9a-f]+).*/\1 \2/p" "$1"
}

# Is the LU of file $1 holding $2 commands in its hang ("lunsim show")?
hung_at() {
	"$E2E_B/lunsim" show "$1" | grep -qx "hung $2 commands waiting"
}

# Wait (at most $2 s) until "$3..." succeeds: 0 or 1.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

# Has the helper $1 (pid) handled its SIGTERM: ours logged it (helper log
# $2), QEMU's exited or closed its listening socket (fd 3)?
term_seen() {
	if [ "$3" = ours ]; then
		grep -q 'signal 15: shutting down' "$2"
	else
		[ ! -e "/proc/$1/fd/3" ]
	fi
}

# Scenarios g and h, during the migration: once the destination's first
# command waits at the LU (hung), send signal $4 to its helper, then
# release the LU: after SIGKILL at once, after SIGTERM once the helper
# handled the signal; record whether the helper outlived the signal and
# start it again once it exited.  ok/not ok as $1, prefix $2, kind $3.
in_flight_signal() {
	local t=$1 p=$2 kind=$3 sig=$4 hp
	check "$t: the destination's first command waits at the LU" \
	    wait_for 60 hung_at "$lun0" 1
	hp=$(held_pid)
	kill "-$sig" "$hp"
	if [ "$sig" = TERM ]; then
		check "$t: the helper handled SIGTERM" \
		    wait_for 30 term_seen "$hp" "$E2E_TMP/hB.log" "$kind"
		if kill -0 "$hp" 2>/dev/null; then
			echo alive > "$p.after-term"
		else
			echo exited > "$p.after-term"
		fi
	fi
	"$E2E_B/lunsim" fault "$lun0" clear > /dev/null
	"$E2E_DRIVER" waitpid "$hp" 30
	held_send go
}

# Run scenario $1 with helpers of kind $2; results in $logs/$2-$1.*.
run_scenario() {
	local s=$1 kind=$2 nlu=1 steps want rc drc on=dst rp=("$RP")
	local t="QEMU 11.1 migration, ${hname[$2]}: ${title[$1]}"
	local p=$logs/$kind-$s sa=$E2E_TMP/a.sock sb=$E2E_TMP/b.sock
	local qa=$E2E_TMP/qa.sock qb=$E2E_TMP/qb.sock t0=$SECONDS
	steps="reg-0xa1,res-0xa1-1,wait,rk,rr,res-0xa1-1,wr" want=completed
	case $s in
	b) steps="reg-0xa1,wait,rk,rr,res-0xa1-3,rr,wr" ;;
	c | g) want=failed on=src ;;
	d) steps="reg-0xa1@0,res-0xa1-1@0,reg-0xa1@1,res-0xa1-1@1,wait,rk@0,rr@0,res-0xa1-1@0,rk@1,rr@1,res-0xa1-1@1"
	   want=failed on=src nlu=2 ;;
	f) on=src rp=() ;;
	esac
	mig_kill
	rm -f "$E2E_TMP"/h?.log "$E2E_TMP"/h?.prom "$qa" "$qb" "$mig" \
	    "$p".*
	"$E2E_B/lunsim" create "$lun0" --size 16M --force > /dev/null
	"$E2E_B/lunsim" create "$lun1" --size 16M --force > /dev/null
	if ! helper_start hA "$kind" hostA "$sa" ||
	    { held "$s" && ! held_start "$sb" "$kind"; } ||
	    { ! held "$s" && ! helper_start hB "$kind" hostB "$sb"; }; then
		fail "$t: helpers started"
		return
	fi
	E2E_WRAP=("${in_root[@]}" --block-device --initiator hostA --)
	# shellcheck disable=SC2046
	e2e_session_start S "$p.src" 120 "e2e=qemu e2e.steps=$steps" \
	    $(qemu_args "$sa" "$qa" $nlu)
	e2e_session_wait S "$t: the guest registered at the source" || return
	E2E_WRAP=("${in_root[@]}" --block-device --initiator hostB --)
	# shellcheck disable=SC2046
	e2e_session_start D "$p.dst" 120 "e2e=qemu e2e.steps=$steps" \
	    $(qemu_args "$sb" "$qb" $nlu) -incoming defer
	if ! qmp_until "$qb" '{"execute": "query-status"}' 30 '"status": "inmigrate"'; then
		fail "$t: the destination QEMU started ($QMP_LAST)"
		return
	fi
	# after the destination's start-up commands: its next command is
	# the first of the migration
	case $s in
	c) "$E2E_B/lunsim" fault "$lun0" status=0x18 count=1 > /dev/null ;;
	d) "$E2E_B/lunsim" fault "$lun1" status=0x18 count=1 > /dev/null ;;
	g | h) "$E2E_B/lunsim" fault "$lun0" hang > /dev/null ;;
	esac
	if [ "$s" = e ] && ! held_stop; then
		fail "$t: the destination's helper stopped"
		return
	fi
	if [ "$s" = f ]; then
		check "$t: the destination's helper gone, its socket with it" \
		    gone hB "$sb"
	fi
	qmp "$qb" "${rp[@]}" "{\"execute\": \"migrate-incoming\", \"arguments\": {\"uri\": \"unix:$mig\"}}" > "$p.qmp"
	qmp "$qa" "${rp[@]}" "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"unix:$mig\"}}" >> "$p.qmp"
	case $s in
	e) held_restart "$t" "$sb" "$qa" "$p" ;;
	g) in_flight_signal "$t" "$p" "$kind" KILL ;;
	h) in_flight_signal "$t" "$p" "$kind" TERM ;;
	esac
	qmp_until "$qa" '{"execute": "query-migrate"}' 60 '"status": "(completed|failed)"'
	echo "$QMP_LAST" >> "$p.qmp"
	check "$t: the migration $want" \
	    grep -q "\"status\": \"$want\"" <<< "$QMP_LAST"
	if [ $on = dst ]; then
		qmp_until "$qb" '{"execute": "query-status"}' 30 '"status": "running"'
		check "$t: the guest runs on the destination" \
		    grep -q '"status": "running"' <<< "$QMP_LAST"
		qmp "$qa" '{"execute": "quit"}' >> "$p.qmp"
		e2e_session_end S
		e2e_session_send D go
		e2e_session_end D || rc=$?
	else
		[ "$s" = f ] && source_paused "$t" "$qa" "$p"
		qmp_until "$qa" '{"execute": "query-status"}' 30 '"status": "running"'
		check "$t: the guest runs on at the source" \
		    grep -q '"status": "running"' <<< "$QMP_LAST"
		e2e_session_end D || drc=$?
		echo "${drc:-0}" > "$p.dst.exit"
		e2e_session_send S go
		e2e_session_end S || rc=$?
	fi
	check "$t: the guest ran to the end, QEMU exit ${rc:-0}" [ "${rc:-0}" = 0 ]
	if [ "$kind" = ours ]; then
		metrics_snap hA "$p"
		held "$s" || [ "$s" = f ] || metrics_snap hB "$p"
	fi
	e2e_helper_stop hA
	if held "$s"; then held_end; elif [ "$s" != f ]; then e2e_helper_stop hB; fi
	cat "$p.src.results" "$p.dst.results" > "$p.results" 2>/dev/null
	cp "$E2E_TMP/hA.log" "$p.hA.log"
	cp "$E2E_TMP/hB.log" "$p.hB.log"
	"$E2E_B/lunsim" show "$lun0" > "$p.show"
	[ $nlu = 2 ] && "$E2E_B/lunsim" show "$lun1" >> "$p.show"
	{ echo "hostA:"; lu_cmds "$p.hA.log" hostA
	  echo "hostB:"; lu_cmds "$p.hB.log" hostB; } > "$p.lu"
	check_"$s" "$t" "$p" "$kind"
	[ "$kind" = qemu ] && [ "$s" != d ] && check_same "$t" "$p" "$s"
	echo "# $kind-$s took $((SECONDS - t0)) s"
}

# Does scenario $1 run the destination's helper under the holder?
held() {
	[ "$1" = e ] || [ "$1" = g ] || [ "$1" = h ]
}

# Scenario f: stop helper $1 (SIGTERM; both exit with the destination's
# connection idle), remove its socket $2: 0 once nothing listens there.
gone() {
	kill -TERM "${E2E_HPID[$1]}" && wait "${E2E_HJOB[$1]}"
	rm -f "$2"
	! listening "$2"
}

# Scenario f, without the return path: the source reports the migration
# completed and stays paused; the destination aborts (flaw 1 of QEMU
# 11.1.3: 18 bytes of sense into an 8-byte buffer after its reconnect
# tries); a "cont" on the source resumes the guest there.  ok/not ok as
# $1, QMP socket $2, prefix $3.
source_paused() {
	qmp_until "$2" '{"execute": "query-status"}' 30 '"status": "postmigrate"'
	echo "$QMP_LAST" >> "$3.qmp"
	check "$1: the source stays paused (postmigrate)" \
	    grep -q '"status": "postmigrate"' <<< "$QMP_LAST"
	"$E2E_DRIVER" waitpid "${E2E_SPID[D]}" 60
	qmp "$2" '{"execute": "cont"}' >> "$3.qmp"
}

# Our helper $1: have it rewrite its metrics file (SIGUSR1; the summary
# line it logs after follows the file) and keep a copy as $2.$1.prom.
metrics_snap() {
	local n=$1 log=$E2E_TMP/$1.log c
	c=$(grep -c 'summary: connections' "$log")
	kill -USR1 "${E2E_HPID[$n]}"
	wait_for 10 summary_after "$log" "$c" &&
	    cp "$E2E_TMP/$n.prom" "$2.$n.prom"
}

# Has log $1 more than $2 summary lines?
summary_after() {
	[ "$(grep -c 'summary: connections' "$1")" -gt "$2" ]
}

# The value of sample $2 (name and labels, exactly) in metrics file $1, or
# 0 when it is not there.
metric() {
	awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }' "$1"
}

# Metrics file $2 counts $4 of sample $3; ok/not ok as $1.
check_metric() {
	local got
	got=$(metric "$2" "$3")
	check "$1: the metrics count $4 $3 (got $got)" [ "$got" = "$4" ]
}

# The per-command counter of PR $1 (in|out) service action $2, outcome $3.
cmd_metric() {
	echo "prh_commands_total{opcode=\"pr_$1\",service_action=\"$2\",outcome=\"$3\"}"
}

K1="rk 0 1 registered reservation key follows:|    0xa1|"
RWE="rr 0 Key=0xa1|    scope: LU_SCOPE,  type: Write Exclusive|"
# Audit lines (ours): the log line's text after the LUN file's name.
A_REG="lun [0-9]+:[0-9]+ wwid [^ :]*: key 0x0, service action key 0xa1: GOOD"
A_PRE="lun [0-9]+:[0-9]+ wwid [^ :]*: key 0xa1, service action key 0xa1, type we: GOOD"

# Does file $1 have a line matching each extended regex $2...?
has() {
	local f=$1 r
	shift
	for r in "$@"; do
		grep -qE -- "$r" "$f" || return 1
	done
}

# Does file $1 have no line matching the extended regex $2?
lacks() {
	! grep -qE -- "$2" "$1"
}

# The end state (lunsim show, $2.show): LU $3 is reserved by initiator $5
# with type $4 (WE or EA), and $5's key 0xa1 is its only registration;
# ok/not ok as $1.
check_state() {
	local f=$2.lu$3.show other=hostA n=1
	[ "$5" = hostA ] && other=hostB
	[ "$4" = EA ] && n=3
	awk -v n="$3" '/^size /{i++} i==n+1' "$2.show" > "$f"
	check "$1: LU $3 at the end: reserved by $5 ($4), $5 registered with 0xa1" \
	    has "$f" "^reservation $4 \\($n\\) holder $5\$" "^initiator $5 key 0xa1\$"
	check "$1: LU $3 at the end: $other is not registered" \
	    lacks "$f" "^initiator $other key"
}

# The handover on the destination's helper: REGISTER 0 -> 0xa1 and
# PREEMPT of 0xa1 with 0xa1 on LU $3 (our audit trail; else lunsim's
# lines of READ RESERVATION, REGISTER, PREEMPT).
check_handover() {
	if [ "$4" = ours ]; then
		check "$1: the destination's helper logged REGISTER 0 -> 0xa1 and PREEMPT 0xa1 on LU $3" 		    has "$2.hB.log" "PR OUT REGISTER lu$3\.$A_REG" 		    "PR OUT PREEMPT lu$3\.$A_PRE"
	fi
	check "$1: hostB's commands at the LU: READ RESERVATION, REGISTER, PREEMPT" 	    has <(sed -n '/^hostB:/,$p' "$2.lu" | head -n 4 | tr '\n' ' ') 	    "^hostB: cdb 5e/01 -> status 0x00 cdb 5f/00 -> status 0x00 cdb 5f/04 -> status 0x00"
}

# Scenarios a, b, c through QEMU's helper: the same PR commands at the LU
# and the same end state as through ours.
check_same() {
	local o=$logs/ours-$3
	[ -f "$o.lu" ] || return 0
	check "$1: the same PR commands at the LU and end state as with our helper" 	    cmp -s <(cat "$o.lu" "$o.show") <(cat "$2.lu" "$2.show")
}

check_a() {
	check_steps "$2.results" "$1" "reg-0xa1 0 " "res-0xa1-1 0 " \
	    "$K1" "$RWE" "res-0xa1-1 0 " "wr 0 "
	check_state "$1" "$2" 0 WE hostB
	check_handover "$1" "$2" 0 "$3"
	[ "$3" = ours ] || return 0
	check_metric "$1: the destination's helper" "$2.hB.prom" \
	    "$(cmd_metric out register good)" 1
	check_metric "$1: the destination's helper" "$2.hB.prom" \
	    "$(cmd_metric out preempt good)" 1
	check_metric "$1: the source's helper" "$2.hA.prom" \
	    "$(cmd_metric out preempt good)" 0
}

check_b() {
	check_steps "$2.results" "$1" "reg-0xa1 0 " "$K1" \
	    "rr 0 there is NO reservation held" "res-0xa1-3 0 " \
	    "rr 0 Key=0xa1|    scope: LU_SCOPE,  type: Exclusive Access|" \
	    "wr 0 "
	check_state "$1" "$2" 0 EA hostB
	[ "$3" = ours ] &&
	    check "$1: the destination's helper logged REGISTER 0 -> 0xa1, PREEMPT 0xa1 (type we), REGISTER 0 -> 0xa1" \
		has <(grep -E 'PR OUT (REGISTER|PREEMPT) ' "$2.hB.log" |
		head -n 3 | tr '\n' ' ') \
		"REGISTER lu0\.$A_REG.*PREEMPT lu0\.$A_PRE.*REGISTER lu0\.$A_REG"
	check "$1: hostB's commands at the LU: READ KEYS, REGISTER, PREEMPT, REGISTER" \
	    has <(sed -n '/^hostB:/,$p' "$2.lu" | head -n 5 | tr '\n' ' ') \
	    "^hostB: cdb 5e/00 -> status 0x00 cdb 5f/00 -> status 0x00 cdb 5f/04 -> status 0x00 cdb 5f/00 -> status 0x00"
}

check_c() {
	check_steps "$2.results" "$1" "reg-0xa1 0 " "res-0xa1-1 0 " \
	    "$K1" "$RWE" "res-0xa1-1 0 " "wr 0 "
	check_state "$1" "$2" 0 WE hostA
	check "$1: the destination's load failed on the refused command (RESERVATION CONFLICT)" \
	    has "$2.dst.qemu.log" "post load hook failed for: scsi-disk/pr.*status=0x18"
	check "$1: hostB's helper sent nothing else to the LU" \
	    [ "$(sed -n '/^hostB:/,$p' "$2.lu")" = hostB: ]
}

# The guest's steps all GOOD, wherever it ran; ok/not ok as $1, prefix $2.
check_steps_good() {
	check_steps "$2.results" "$1" "reg-0xa1 0 " "res-0xa1-1 0 " \
	    "$K1" "$RWE" "res-0xa1-1 0 " "wr 0 "
}

# The restarted helper (after the second start line) did the handover:
# our audit trail, and (either helper) the lunsim lines.
check_restarted() {
	local second
	second=$(awk '/^e2e: helper start/ { n++ } n == 2' "$2.hB.log" |
	    tr '\n' ' ')
	[ "$3" = ours ] &&
	    check "$1: the restarted helper logged REGISTER 0 -> 0xa1 and PREEMPT 0xa1" \
		has <(echo "$second") \
		"PR OUT REGISTER lu0\.$A_REG.*PR OUT PREEMPT lu0\.$A_PRE"
	check "$1: the restarted helper sent REGISTER and PREEMPT to the LU" \
	    has <(echo "$second") \
	    "hostB: cdb 5f/00 -> status 0x00.*hostB: cdb 5f/04 -> status 0x00"
	check "$1: hostB's commands at the LU: READ RESERVATION, REGISTER, PREEMPT" \
	    has <(sed -n '/^hostB:/,$p' "$2.lu" | head -n 4 | tr '\n' ' ') \
	    "^hostB: cdb 5e/01 -> status 0x00 cdb 5f/00 -> status 0x00 cdb 5f/04 -> status 0x00"
}

check_e() {
	check_steps_good "$1" "$2"
	check_state "$1" "$2" 0 WE hostB
	check_restarted "$@"
}

# The destination aborted (QEMU 11.1.3's flaw 1) before it sent anything
# to the LU; the reservation stayed at hostA, where the guest ran on.
check_aborted() {
	check_steps_good "$1" "$2"
	check_state "$1" "$2" 0 WE hostA
	check "$1: QEMU's known outcome: the destination aborted (stack smashing detected, exit $(cat "$2.dst.exit"))" \
	    smashed "$2"
	check "$1: hostB's helper sent nothing to the LU" \
	    [ "$(sed -n '/^hostB:/,$p' "$2.lu")" = hostB: ]
}

# Did the destination of prefix $1 abort on its stack protector (exit 134,
# glibc's message in its log)?
smashed() {
	[ "$(cat "$1.dst.exit")" = 134 ] &&
	    grep -q 'stack smashing detected' "$1.dst.qemu.log"
}

check_f() {
	check_aborted "$@"
}

check_g() {
	check_aborted "$@"
}

# The stopped helper outlived the signal, answered the command in flight
# once the LU did (ours: after it logged the signal), exited; the restarted
# one did the rest.  The same with QEMU 11.1's helper, which stops
# listening on SIGTERM and exits once its commands are answered.
check_h() {
	local first re="hostB: cdb 5e/01 -> status 0x00"
	first=$(awk '/^e2e: helper start/ { n++ } n == 1' "$2.hB.log" |
	    tr '\n' ' ')
	[ "$3" = ours ] && re="signal 15: shutting down.*$re"
	check_steps_good "$1" "$2"
	check_state "$1" "$2" 0 WE hostB
	check "$1: the helper outlived SIGTERM while the command was in flight" \
	    [ "$(cat "$2.after-term")" = alive ]
	check "$1: the stopped helper answered READ RESERVATION after the signal" \
	    has <(echo "$first") "$re"
	check_restarted "$@"
}

# Two LUs: the destination preempted LU 0, LU 1 refused its first command;
# the source rolls back LU 1 (nothing to do) and LU 0, whose first command
# meets the UNIT ATTENTION 2A/05 the preemption left for hostA.
# Our helpers' metrics in scenario d: the destination's REGISTER and
# PREEMPT (and LU 1's refused READ RESERVATION); at the source the guest's
# two REGISTERs and the rollback's REGISTER (GOOD on LU 0, RESERVATION
# CONFLICT on LU 1: QEMU 11.1.3's flaw 3) and PREEMPT, and the unit
# attention 2A/05 its READ RESERVATION met and sent again.
check_d_metrics() {
	local a=$2.hA.prom b=$2.hB.prom
	check_metric "$1: the destination's helper" "$b" \
	    "$(cmd_metric out register good)" 1
	check_metric "$1: the destination's helper" "$b" \
	    "$(cmd_metric out preempt good)" 1
	check_metric "$1: the destination's helper" "$b" \
	    "$(cmd_metric in read_reservation conflict)" 1
	check_metric "$1: the source's helper" "$a" \
	    "$(cmd_metric out register good)" 3
	check_metric "$1: the source's helper" "$a" \
	    "$(cmd_metric out register conflict)" 1
	check_metric "$1: the source's helper" "$a" \
	    "$(cmd_metric out preempt good)" 1
	check_metric "$1: the source's helper" "$a" \
	    'prh_unit_attentions_retried_total{asc="2a",ascq="05"}' 1
}

check_d() {
	check_handover "$1" "$2" 0 "$3"
	check_state "$1" "$2" 1 WE hostA
	if [ "$3" = ours ]; then
		check_steps "$2.results" "$1" "reg-0xa1@0 0 " \
		    "res-0xa1-1@0 0 " "reg-0xa1@1 0 " "res-0xa1-1@1 0 " \
		    "rk@0 0 ${K1#rk 0 }" "rr@0 0 ${RWE#rr 0 }" "res-0xa1-1@0 0 " \
		    "rk@1 0 ${K1#rk 0 }" "rr@1 0 ${RWE#rr 0 }" "res-0xa1-1@1 0 "
		check_state "$1: the reservation came back" "$2" 0 \
		    WE hostA
		check "$1: the source's helper logged the rollback: READ RESERVATION sent again after 2A/05, REGISTER 0 -> 0xa1, PREEMPT 0xa1" \
		    has <(grep -E 'lu0\.lun' "$2.hA.log" | grep -v '^lunsim' |
		    tr '\n' ' ') \
		    "PR IN READ RESERVATION lu0\.lun [0-9]+:[0-9]+ wwid [^ :]*: GOOD, [0-9]+ us; sent again after UNIT ATTENTION 2A/05 \(registrations preempted\) .*PR OUT REGISTER lu0\.$A_REG.*PR OUT PREEMPT lu0\.$A_PRE"
		check_d_metrics "$1" "$2"
		return
	fi
	# QEMU 11.1.3's helper passes the unit attention on and QEMU's
	# rollback gives up: hostB, whose QEMU is gone, keeps LU 0
	check_steps "$2.results" "$1 (QEMU's known outcome: LU 0 stays with the destination's nexus)" \
	    "reg-0xa1@0 0 " "res-0xa1-1@0 0 " "reg-0xa1@1 0 " \
	    "res-0xa1-1@1 0 " "rk@0 0 ${K1#rk 0 }" "rr@0 0 ${RWE#rr 0 }" \
	    "res-0xa1-1@0 24 Reservation conflict" \
	    "rk@1 0 ${K1#rk 0 }" "rr@1 0 ${RWE#rr 0 }" "res-0xa1-1@1 0 "
	check_state "$1: QEMU's known outcome, the reservation stays with the destination's nexus" \
	    "$2" 0 WE hostB
	check "$1: QEMU's rollback stopped at the UNIT ATTENTION (06/2A/05 passed on, no PREEMPT back)" \
	    has "$2.src.qemu.log" "migration rollback: SG_IO SCSI command failed with status=0x2 .*sensebuf=700006"
}

while read -r s h; do
	run_scenario "$s" "$h" < /dev/null
done < <(runs)
exit 0
