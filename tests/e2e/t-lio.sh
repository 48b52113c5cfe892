#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Real kernel SCSI target: one TCG guest boot, LIO with four fileio LUs,
# each reached through two tcm_loop target ports (two I_T nexuses, A and
# B).  Inside the guest the scenario of scenario-multi.txt runs through our
# helper on the block nodes (ours-sd) and on the sg nodes (ours-sg), and
# through QEMU's helper on both (qemu-sd, qemu-sg), each on a fresh LU.
# Two more LUs with three ports each run scenario-table.txt (the
# simulator's own multi-initiator table) through our helper and QEMU's.
# When the Debian 13 root of contrib/trixie-root.sh holds QEMU 11.1, its
# qemu-pr-helper joins the guest (guest-build.sh qemu11) and runs the
# three on three more LUs (qemu11-sd, qemu11-sg, qemu11-table).
# Proves: every step gets the SPC-4 answer from a real target through our
# helper and real SG_IO (or a documented LIO quirk); block and sg nodes
# answer alike; our answers equal QEMU's helper's byte for byte (sense
# compared over its valid length, and ours zero after it);
# qemu-pr-client's exit codes; the simulator answers as LIO does, step for
# step, outside the documented LIO quirks.  The scenarios run our helper
# with --pr-ua-retries=0 (they check the unit attentions) and
# --guest-pr-policy=off (REPORT CAPABILITIES is compared with QEMU's
# helper's byte for byte; t-policy.sh has the policy); then a
# preempted nexus's next command meets LIO's UNIT ATTENTION 2A/05, which
# our helper passes on with --pr-ua-retries=0 and, as it runs by default,
# consumes by sending the command again.
. "$PRH_TOP_SRCDIR/tests/e2e/lib.sh"

e2e_begin lio "LIO end-to-end scenario" "$(e2e_guest_missing)"
res=$E2E_LOGS/lio
if ! e2e_initrd "$E2E_TMP/initrd" > "$res.build.log" 2>&1; then
	fail "build the LIO test initramfs"
	diag < "$res.build.log"
	exit 0
fi
# QEMU 11.1's helper on top, when its root is there
if q11=$(e2e_qemu11); then
	if "$E2E_S/tests/e2e/guest-build.sh" qemu11 "$E2E_CACHE" "$q11" \
	    >> "$res.build.log" 2>&1; then
		cat "$E2E_CACHE/guest/qemu11.cpio.gz" >> "$E2E_TMP/initrd"
		echo "# $(cat "$q11/VERSION")"
	else
		q11="the QEMU 11.1 overlay failed: $(tail -n 1 "$res.build.log")"
	fi
fi
e2e_boot_to_end "$res" 240 "e2e=lio" "LIO guest" || exit 0
pass "LIO guest booted, ran and powered off (QEMU exit $E2E_RC)"
if ! grep -q '^E2E-SETUP ok' "$res.results"; then
	fail "LIO set up four LUs with two tcm_loop nexuses each"
	grep '^E2E-SETUP' "$res.results" | diag
	tail -n 30 "$res.console" | diag
	exit 0
fi
pass "LIO set up: $(sed -n 's/^E2E-SETUP ok //p' "$res.results")"

# The scenario's own verdicts of run $1.
run_verdict() {
	local run=$1 end
	end=$(sed -n "s/^R=$run E2E-END //p" "$res.results")
	if [ -z "$end" ]; then
		fail "$run: scenario completed"
		grep "^R=$run \|^E2E-RUN run=$run" "$res.results" | tail -5 | diag
		return
	fi
	if [ "${end##*failed=}" = 0 ]; then
		steps=${end%% *}
		pass "$run: all ${steps#steps=} scenario steps gave the expected answer ($(grep -c "^R=$run E2E step=.* ok quirk" "$res.results") of them a documented LIO quirk)"
		grep "^R=$run E2E step=.* ok quirk" "$res.results" | diag
	else
		fail "$run: every scenario step gave the SPC-4 answer ($end)"
		grep "^R=$run E2E step=.*FAIL" "$res.results" | diag
	fi
}

# "step cmd status size sense data" of every step of run $1 (from file
# $2, default the guest's results).
raw() {
	sed -n "s/^R=$1 E2E-RAW step=\([0-9]*\) cmd=\([^ ]*\) status=\([^ ]*\) size=\([^ ]*\) sense=\([^ ]*\) data=\(.*\)$/\1 \2 \3 \4 \5 \6/p" \
	    "${2:-$res.results}" | sed 's/  / - /g; s/ $/ -/'
}

# raw's lines with the keys of READ KEYS sorted (SPC-4 leaves their order
# open), the data of REPORT CAPABILITIES and READ FULL STATUS (device
# specific: capabilities, TransportIDs, port identifiers) blanked, and the
# steps in $1 (space-separated numbers) left out.
normalized() {
	awk -v skip=" $1 " '
	index(skip, " " $1 " ") { next }
	$2 == "report-capabilities" || $2 == "read-full-status" {
		$4 = "-"; $6 = "-"
	}
	$2 == "read-keys" && length($6) > 16 {
		n = (length($6) - 16) / 16
		for (i = 0; i < n; i++) k[i] = substr($6, 17 + 16 * i, 16)
		for (i = 0; i < n; i++) for (j = i + 1; j < n; j++)
			if (k[j] < k[i]) { t = k[i]; k[i] = k[j]; k[j] = t }
		d = substr($6, 1, 16)
		for (i = 0; i < n; i++) d = d k[i]
		$6 = d
	}
	{ print }'
}

# Compare the raw answers of runs $1 and $2 step for step.
compare_runs() {
	local a=$1 b=$2 what=$3 d
	if [ -z "$(raw "$a")" ] || [ -z "$(raw "$b")" ]; then
		fail "$what: both runs produced answers"
		return
	fi
	d=$(diff <(raw "$a") <(raw "$b"))
	if [ -z "$d" ]; then
		pass "$what: $(raw "$a" | wc -l) answers equal byte for byte"
	else
		fail "$what: answers equal byte for byte"
		echo "$d" | diag
	fi
}

for run in ours-sd ours-sg ours-table; do
	run_verdict $run
done
compare_runs ours-sd ours-sg "our helper, block node vs sg node"
tails=$(grep -E "^R=ours-[a-z]* E2E-TAIL .*nonzero=[1-9]" "$res.results")
if [ -z "$tails" ] && grep -q "^R=ours-sd E2E-TAIL" "$res.results"; then
	pass "our helper: sense bytes after the device's sense are zero"
else
	fail "our helper: sense bytes after the device's sense are zero"
	echo "$tails" | diag
fi

bad=$(grep '^R=ours-sd E2E-CLIENT' "$res.results" |
    awk '{ e = $0; sub(/.*expect=/, "", e); sub(/ .*/, "", e);
	   r = $0; sub(/.* rc=/, "", r); sub(/ .*/, "", r);
	   if (e != r) print }')
count=$(grep -c '^R=ours-sd E2E-CLIENT' "$res.results")
if [ "$count" -eq 7 ] && [ -z "$bad" ]; then
	pass "qemu-pr-client against our helper on LIO: 7 exit codes as expected"
else
	fail "qemu-pr-client against our helper on LIO: exit codes ($count lines)"
	echo "$bad" | diag
fi

# B preempted A; A's READ KEYS met LIO's UNIT ATTENTION 2A/05: with
# --pr-ua-retries=0 passed on (exit code not 0), by default sent again
# (it reads B's key, exit 0).
ua0=$(grep '^R=ours-ua0 E2E-UA' "$res.results")
ua=$(grep '^R=ours-ua E2E-UA' "$res.results")
if [ "$(echo "$ua0" | grep -c ' rc=0 ')" -eq 5 ] &&
    echo "$ua0" | grep -q "read-keys' rc=[1-9][0-9]* out='.*(2A/05)" &&
    [ "$(echo "$ua" | grep -c ' rc=0 ')" -eq 6 ] &&
    echo "$ua" | grep -q "read-keys' rc=0 out='GOOD| *generation [0-9]*, 1 key(s) 0xd2|'"; then
	pass "our helper on LIO: a preempted nexus's next READ KEYS meets 2A/05, passed on with --pr-ua-retries=0, sent again and answered by default"
else
	fail "our helper on LIO: a preempted nexus's next READ KEYS, with --pr-ua-retries=0 and by default"
	printf '%s\n%s\n' "$ua0" "$ua" | diag
fi

# QEMU's helper of runs $1-* (named $2 in the results): its verdicts and
# our answers compared with its answers; skipped as $2 for reason $3 when
# the guest did not run it.
ref_compare() {
	local r=$1 name=$2
	if grep -q "^E2E-RUN run=$r-sd skip=" "$res.results"; then
		skip "$name on LIO" "$3"
		return
	fi
	for run in "$r-sd" "$r-sg" "$r-table"; do
		run_verdict "$run"
	done
	compare_runs ours-sd "$r-sd" "our helper vs $name on /dev/sdX"
	compare_runs ours-sg "$r-sg" "our helper vs $name on /dev/sgN"
	compare_runs ours-table "$r-table" "our helper vs $name, three-initiator table"
}
ref_compare qemu "QEMU's helper" \
    "qemu-pr-helper (qemu-system-common) not installed"
[ -d "$q11" ] && q11="QEMU 11.1's helper did not reach the guest"
ref_compare qemu11 "QEMU 11.1's helper" "$q11"
# Scenario $1 on the host against the simulator, compared with the guest's
# run $2: one of our helpers under lunsim for each initiator A, B (and C
# when $3 is 3) of one simulated LUN.
sim_compare() {
	local file=$E2E_S/tests/e2e/$1 run=$2 sim=$res.sim-$2
	local lun=$E2E_TMP/sim-$2.lun pids=() ports=() p pid quirks d i
	if [ ! -x "$E2E_B/lunsim" ]; then
		skip "simulator vs LIO ($1)" "lunsim is not built"
		return
	fi
	"$E2E_B/lunsim" create "$lun" --size 16M > /dev/null
	for i in A B C; do
		[ $i = C ] && [ "$3" != 3 ] && break
		p=$E2E_TMP/sim-$run-$i.sock
		pid=$("$E2E_DRIVER" start --notify -- "$E2E_B/lunsim" \
		    --initiator $i -- "$E2E_B/qemu-pr-helper" -k "$p" \
		    --pr-ua-retries=0) || pid=
		pids+=($pid)
		ports+=("$i=$p,$lun")
	done
	E2E_PIDS+=("${pids[@]}")
	"$E2E_DRIVER" run --target lunsim "$file" "${ports[@]}" 2>&1 |
	    sed 's/^/R=sim /' > "$sim"
	kill "${pids[@]}" 2>/dev/null
	if grep -q '^R=sim E2E-END steps=.* failed=0$' "$sim"; then
		pass "simulator ($1, our helper under lunsim per initiator): all $(grep -c '^R=sim E2E step=' "$sim") steps gave the SPC-4 answer, except $(grep -c '^R=sim E2E step=.* ok quirk' "$sim") known simulator deviations"
		grep '^R=sim E2E step=.* ok quirk' "$sim" | diag
	else
		fail "simulator ($1, our helper under lunsim per initiator): every step gave the SPC-4 answer"
		grep -v ' ok$' "$sim" | grep -v 'RAW\|TAIL' | diag
	fi
	quirks=$( (sed -n "s/^R=$run E2E step=\([0-9]*\) .* ok quirk .*/\1/p" \
	    "$res.results"; sed -n "s/^R=sim E2E step=\([0-9]*\) .* ok quirk .*/\1/p" \
	    "$sim") | sort -n | tr '\n' ' ')
	d=$(diff <(raw "$run" | normalized "$quirks") \
	    <(raw sim "$sim" | normalized "$quirks"))
	if [ -n "$(raw sim "$sim")" ] && [ -z "$d" ]; then
		pass "simulator vs LIO ($1): $(raw sim "$sim" | normalized "$quirks" | wc -l) answers equal byte for byte (READ KEYS order and device-specific data aside; steps ${quirks:-none} are documented LIO quirks or simulator deviations)"
	else
		fail "simulator vs LIO ($1): answers equal step for step outside the documented LIO quirks"
		echo "$d" | diag
	fi
}
sim_compare scenario-multi.txt ours-sd 2
sim_compare scenario-table.txt ours-table 3
cp "$res.results" "$E2E_LOGS/lio-last.results"
exit 0
