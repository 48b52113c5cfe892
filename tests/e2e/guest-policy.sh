#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The device policy of t-policy.sh, run inside the LIO guest (busybox sh)
# by guest-init.sh for e2e=policy.  One LIO fileio LU through one
# tcm_loop port (/dev/sdX and /dev/sgN), an MBR with one partition
# written with printf and dd, the partition table re-read (blockdev
# --rereadpt): /dev/sdX1.  As root, the kernel lets SG_IO through a
# partition reach the whole LU (CAP_SYS_RAWIO); our helper refuses it.
#
# The proof that no SG_IO reached the LU is the LU's own counter: the PR
# generation, read with sg_persist on the whole disk, which every
# REGISTER that reaches the LU increments.  Prints one "E2E-CHECK ok -
# ..." or "E2E-CHECK FAIL - ..." line per check on ttyS1 ("E2E-DIAG ..."
# lines explain failures).  Uses make_lu, host_devs and load_modules of
# guest-init.sh.
#
# The guest PR policy (mode_guest_pr) on a second LU reached through two
# tcm_loop ports: A, whose initiator port naa.5001405ffff00a00 the helper
# uses, and B, a foreign initiator port naa.5001405ffff00b00.  LIO
# implements SPEC_I_PT, ALL_TG_PT and REGISTER AND MOVE; the proof that a
# request reached the LU is the LU's own READ FULL STATUS, read with
# sg_persist on B's node, without any helper.

PS=/tmp/policy.sock
QS=/tmp/policy-qemu.sock
PLOG=/tmp/policy-helper.log
GS=/tmp/guest-pr.sock
GLOG=/tmp/guest-pr-helper.log

ok() { out "E2E-CHECK ok - $*"; }
bad() { out "E2E-CHECK FAIL - $*"; }
pdiag() { sed 's/^/E2E-DIAG /' > /dev/ttyS1; }

# ok/FAIL for description $1 by the exit status of the rest.
pcheck() {
	d=$1
	shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}

# Whether string $1 matches glob $2.
matches() {
	# shellcheck disable=SC2254
	case $1 in $2) return 0 ;; esac
	return 1
}

# The LU's PR generation and keys, as the whole disk $1 tells them
# ("0x0 -", "0x1 0xa1"): read by sg_persist, without any helper.
lu_state() {
	sg_persist -n -k "$1" 2>&1 | awk '
	/PR generation=/ { sub(/.*PR generation=/, ""); sub(/,.*/, ""); g = $0; next }
	/^ *0x[0-9a-f]+$/ { k = k (k ? "," : "") $1 }
	END { print g, (k ? k : "-") }'
}

# qemu-pr-client on socket $1 ($2... its arguments): its output on one
# line then " rc=N"; returns its exit status.
pclient() {
	s=$1
	shift
	o=$(qemu-pr-client -k "$s" "$@" 2>&1)
	r=$?
	echo "$(echo "$o" | tr '\n' ' ')rc=$r"
	return $r
}

# Write an MBR to disk $1 with one Linux partition at LBA 2048, 4096
# sectors long, and make the kernel read it.
make_partition() {
	printf '\000\000\000\000\203\000\000\000\000\010\000\000\000\020\000\000' |
	    dd of="$1" bs=1 seek=446 conv=notrunc,fsync 2>/dev/null || return 1
	printf '\125\252' |
	    dd of="$1" bs=1 seek=510 conv=notrunc,fsync 2>/dev/null || return 1
	blockdev --rereadpt "$1" || return 1
	n=40
	while [ ! -b "${1}1" ] && [ $n -gt 0 ]; do
		usleep 50000 # devtmpfs makes the node; nothing to wait on
		n=$((n - 1))
	done
	[ -b "${1}1" ]
}

mode_policy() {
	mkdir -p /etc/target/pr /var/target/pr
	load_modules /e2e/modules-core.list
	mount -t configfs none /sys/kernel/config 2>/dev/null
	make_lu 0 a || { bad "set up a LIO LU"; return; }
	make_lu 1 "a b" || { bad "set up a LIO LU with two ports"; return; }
	load_modules /e2e/modules-disk.list
	# the tcm_loop hosts in the order of their ports: LU 0's, LU 1's A, B
	HOSTS=$(for x in /sys/class/scsi_host/host*; do
		grep -q tcm_loop "$x/proc_name" 2>/dev/null && echo "${x##*host}"
	done | sort -n | tr '\n' ' ')
	# shellcheck disable=SC2046
	set -- $(host_devs "${HOSTS%% *}")
	SD=/dev/$1 SG=/dev/$2
	if [ ! -b "$SD" ] || [ ! -c "$SG" ] || ! make_partition "$SD"; then
		bad "set up a LIO LU with a partition"
		echo /dev/sd* /dev/sg* | pdiag
		return
	fi
	PART=${SD}1
	ok "set up: LU on $SD and $SG, partition $PART ($(cat "/sys/class/block/${PART#/dev/}/size") sectors)"
	before=$(lu_state "$SD")
	pcheck "the LU starts with no keys (generation and keys: $before)" \
	    [ "${before#* }" = - ]

	HPID=$(e2e-driver start --notify -- qemu-pr-helper -k "$PS" \
	    2>> "$PLOG")
	[ -n "$HPID" ] || { bad "start our helper"; return; }
	# the partition: refused, and the LU never sees the command
	o=$(pclient "$PS" "$PART" register 0 0xa1)
	pcheck "our helper on partition $PART: REGISTER answered ABORTED COMMAND 00/06 ($o)" \
	    matches "$o" '*ABORTED COMMAND*(00/06)*rc=1'
	o=$(pclient "$PS" "$PART" read-keys)
	pcheck "our helper on partition $PART: READ KEYS answered ABORTED COMMAND 00/06 ($o)" \
	    matches "$o" '*ABORTED COMMAND*(00/06)*rc=1'
	after=$(lu_state "$SD")
	pcheck "no SG_IO reached the LU: PR generation and keys unchanged ($before -> $after)" \
	    [ "$after" = "$before" ]
	maj=$(cat "/sys/class/block/${PART#/dev/}/dev")
	pcheck "our helper logged the refusal once per connection (two): refused ${PART#/dev/} ($maj): a partition" \
	    [ "$(grep -c "refused ${PART#/dev/} ($maj): a partition; answered without SG_IO (ABORTED COMMAND)" "$PLOG")" = 2 ]
	# the whole disk and the sg node: served
	o=$(pclient "$PS" "$SD" register 0 0xa1)
	pcheck "our helper on the whole disk $SD: REGISTER GOOD ($o)" \
	    matches "$o" 'GOOD*rc=0'
	after=$(lu_state "$SD")
	pcheck "the LU registered key 0xa1 ($after)" \
	    matches "$after" '* 0xa1'
	o=$(pclient "$PS" "$SG" read-keys)
	pcheck "our helper on the sg node $SG: READ KEYS shows 0xa1 ($o)" \
	    matches "$o" 'GOOD*0xa1*rc=0'
	kill "$HPID"
	grep -v "^$" "$PLOG" | head -20 | pdiag

	# QEMU's helper, for comparison: the partition reaches the whole LU
	if [ -x /usr/bin/qemu-pr-helper.qemu ]; then
		QPID=$(e2e-driver start --activate "$QS" -- qemu-pr-helper.qemu)
		before=$(lu_state "$SD")
		o=$(pclient "$QS" "$PART" register-ignore 0xb2)
		after=$(lu_state "$SD")
		pcheck "QEMU's helper on partition $PART: REGISTER reaches the whole LU ($o; $before -> $after)" \
		    matches "$after" '* 0xb2'
		[ -n "$QPID" ] && kill "$QPID"
	else
		out "E2E-SKIP QEMU's helper on the partition: qemu-pr-helper (qemu-system-common) not installed"
	fi
	# shellcheck disable=SC2086
	set -- $HOSTS
	mode_guest_pr "/dev/$(host_devs "$2" | cut -d' ' -f1)" \
	    "/dev/$(host_devs "$3" | cut -d' ' -f1)"
}

# Run a one-step scenario ($2) through our helper on socket $GS and
# port A's node $1: e2e-driver's output on one line, then " rc=N".
gp_step() {
	echo "$2" > /tmp/guest-pr.txt
	o=$(e2e-driver run /tmp/guest-pr.txt "A=$GS,$1" 2>&1)
	r=$?
	echo "$(echo "$o" | tr '\n' ' ')rc=$r"
}

# Byte 2 of the REPORT CAPABILITIES payload in e2e-driver output $1, as
# a number: SIP_C is 8, ATP_C 4.
gp_caps() {
	d=$(echo "$1" | sed -n 's/.*E2E-RAW step=1 cmd=report-capabilities status=00 size=[0-9]* sense=[0-9a-f]* data=\([0-9a-f]*\).*/\1/p')
	echo $((0x$(echo "$d" | cut -c5-6)))
}

# Whether byte $1 (a number, maybe empty) has SIP_C and ATP_C as $2 says
# (0 neither, 12 both).
gp_bits() {
	[ -n "$1" ] && [ $(($1 & 12)) = "$2" ]
}

# READ FULL STATUS of LU 1, read by sg_persist on B's node $1 (no
# helper), on one line.
gp_full_status() {
	sg_persist -n -s "$1" 2>&1 | tr '\n' ' '
}

# The guest PR policy: a client's REGISTER with SPEC_I_PT naming the
# foreign initiator port B, with ALL_TG_PT, and REGISTER AND MOVE are
# refused by default and never reach the LU; with --guest-pr-policy=off
# the REGISTER registers B's port too, as READ FULL STATUS shows.  REPORT
# CAPABILITIES shows LIO's SIP_C and ATP_C only then.
mode_guest_pr() {
	a=$1 b=$2 foreign=0x5001405ffff00b00
	if [ ! -b "$a" ] || [ ! -b "$b" ]; then
		bad "set up LU 1 with two tcm_loop ports ($a, $b)"
		return
	fi
	before=$(gp_full_status "$b")
	pcheck "guest PR policy: LU 1 on $a and $b starts with no registration ($before)" \
	    matches "$before" '*No full status descriptors*'
	HPID=$(e2e-driver start --notify -- qemu-pr-helper -k "$GS" \
	    2>> "$GLOG")
	[ -n "$HPID" ] || { bad "start our helper"; return; }
	o=$(gp_step "$a" "A register 0 0xa1 flags=8 sas=$foreign -> CHECK 5/26/00")
	pcheck "policy on: REGISTER with SPEC_I_PT naming $foreign answered ILLEGAL REQUEST 05/26/00 ($o)" \
	    matches "$o" '*E2E step=1 *ok*rc=0'
	o=$(gp_step "$a" "A register 0 0xa1 flags=4 -> CHECK 5/26/00")
	pcheck "policy on: REGISTER with ALL_TG_PT answered ILLEGAL REQUEST 05/26/00 ($o)" \
	    matches "$o" '*E2E step=1 *ok*rc=0'
	o=$(gp_step "$a" "A register 0 0xa1 sa=7 -> CHECK 5/24/00")
	pcheck "policy on: REGISTER AND MOVE answered ILLEGAL REQUEST 05/24/00 ($o)" \
	    matches "$o" '*E2E step=1 *ok*rc=0'
	after=$(gp_full_status "$b")
	pcheck "policy on: the LU never saw them, READ FULL STATUS unchanged ($after)" \
	    [ "$after" = "$before" ]
	o=$(gp_step "$a" "A report-capabilities -> GOOD")
	c=$(gp_caps "$o")
	pcheck "policy on: REPORT CAPABILITIES without SIP_C and ATP_C (byte 2: $c; $o)" \
	    gp_bits "$c" 0
	pcheck "our helper logged the refusal: refused (guest PR policy: SPEC_I_PT)" \
	    grep -q "refused (guest PR policy: SPEC_I_PT): CHECK CONDITION: ILLEGAL REQUEST, invalid field in parameter list (26/00)" "$GLOG"
	kill "$HPID"
	HPID=$(e2e-driver start --notify -- qemu-pr-helper -k "$GS" \
	    --guest-pr-policy=off 2>> "$GLOG")
	[ -n "$HPID" ] || { bad "start our helper with --guest-pr-policy=off"; return; }
	o=$(gp_step "$a" "A report-capabilities -> GOOD")
	c=$(gp_caps "$o")
	pcheck "policy off: REPORT CAPABILITIES shows LIO's SIP_C and ATP_C (byte 2: $c; $o)" \
	    gp_bits "$c" 12
	o=$(gp_step "$a" "A register 0 0xa1 flags=8 sas=$foreign -> GOOD")
	pcheck "policy off: REGISTER with SPEC_I_PT naming $foreign GOOD ($o)" \
	    matches "$o" '*E2E step=1 *ok*rc=0'
	after=$(gp_full_status "$b")
	pcheck "policy off: READ FULL STATUS shows key 0xa1 for the foreign initiator port $foreign ($after)" \
	    matches "$after" "*Key=0xa1*SAS address: $foreign*"
	kill "$HPID"
	grep -v "^$" "$GLOG" | head -20 | pdiag
}
