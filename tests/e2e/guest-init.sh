#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# /init of the end-to-end test guest (busybox).  The kernel command line
# picks the mode:
#   e2e=lio    one LIO fileio LU per run, each reached through two tcm_loop
#              target ports (two I_T nexuses, A and B); the helper under test
#              runs in the guest on /dev/sdX or /dev/sgN and e2e-driver plays
#              the scenario through it.
#   e2e=qemu   the disk of the guest is a scsi-block passthrough by the host
#              QEMU; sg_persist runs the steps named by e2e.steps=.
#   e2e=mpath  dm-multipath over LIO LUs with two paths each: the multipath
#              story of guest-mpath.sh (needs the multipath overlay).
#   e2e=policy the device policy on a partition of a LIO disk and on the
#              whole disk (guest-policy.sh).
# Result lines go to /dev/ttyS1 (a file on the host), the console to ttyS0.
# The guest always ends with poweroff -f.

PATH=/usr/bin:/bin:/sbin
export PATH

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mkdir -p /run /var/run

arg() {
	sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" /proc/cmdline
}

out() {
	echo "$@" > /dev/ttyS1
}

finish() {
	out "E2E-GUEST-END $1"
	sync
	poweroff -f
	sleep 60
}

# insmod every module of list $1; failures are reported, not fatal
load_modules() {
	for m in $(cat "$1"); do
		insmod "$m" 2>/dev/null || echo "e2e: insmod $m failed"
	done
}

CFG=/sys/kernel/config/target

# Make LU number $1 (a fileio backstore on tmpfs) with a tcm_loop port for
# each of the initiator letters $2 (default "a b").
make_lu() {
	i=$1 ports=${2:-a b}
	b=$CFG/core/fileio_$i/lu$i
	mkdir -p "$b" || return 1
	truncate -s 16M /tmp/lu$i.img
	echo "fd_dev_name=/tmp/lu$i.img,fd_dev_size=16777216" > "$b/control"
	echo "e2e-lu$i" > "$b/wwn/vpd_unit_serial"
	echo 1 > "$b/enable" || return 1
	for p in $ports; do
		w=$CFG/loopback/naa.50014050000${i}00${p}0
		mkdir -p "$w/tpgt_1/lun/lun_0" || return 1
		echo "naa.5001405ffff00${p}00" > "$w/tpgt_1/nexus" || return 1
		ln -s "$b" "$w/tpgt_1/lun/lun_0/lu$i" || return 1
	done
}

# Print "sdX sgN" of the scsi device on host number $1.
host_devs() {
	for d in /sys/bus/scsi/devices/$1:*; do
		[ -d "$d/block" ] || continue
		echo "$(ls "$d/block") $(ls "$d/scsi_generic")"
		return 0
	done
	return 1
}

# Run scenario file $3 as run $1 with helper $2 (ours, or the program
# name of one of QEMU's helpers: qemu-pr-helper.qemu, .qemu11) on devices
# $4, $5 (and $6) as initiators A, B (and C).
run_scenario() {
	name=$1 helper=$2 file=$3 dev_a=$4 dev_b=$5 dev_c=$6 sock=/tmp/$1.sock
	# The scenarios check the device's every answer, its unit attentions
	# too, and ours against QEMU's helper byte for byte: ours passes
	# unit attentions on here as QEMU's does (--pr-ua-retries=0), and
	# REPORT CAPABILITIES as LIO answers it (--guest-pr-policy=off;
	# t-policy.sh has the policy).
	if [ "$helper" = ours ]; then
		pid=$(e2e-driver start --notify -- qemu-pr-helper -k "$sock" \
		    --pr-ua-retries=0 --guest-pr-policy=off)
	else
		pid=$(e2e-driver start --activate "$sock" -- "$helper")
	fi
	if [ -z "$pid" ]; then
		out "E2E-RUN run=$name helper=$helper start-failed"
		return
	fi
	out "E2E-RUN run=$name helper=$helper a=$dev_a b=$dev_b c=$dev_c"
	e2e-driver run --target lio "$file" "A=$sock,$dev_a" \
	    "B=$sock,$dev_b" ${dev_c:+"C=$sock,$dev_c"} 2>&1 |
	    sed "s/^/R=$name /" > /dev/ttyS1
	if [ "$helper" = ours ] && [ -z "$dev_c" ]; then
		client_checks "$name" "$sock" "$dev_a" "$dev_b"
	fi
	kill "$pid"
}

# Our helper on a real target, with --pr-ua-retries=0 (run ours-ua0),
# then as it runs by default (ours-ua): B preempts A, and A's next
# command meets the UNIT ATTENTION 2A/05 LIO owes A's nexus: passed on,
# then sent again and answered.
ua_checks() {
	dev_a=$1 dev_b=$2
	for run in ours-ua0 ours-ua; do
		sock=/tmp/$run.sock
		opt=
		[ $run = ours-ua0 ] && opt=--pr-ua-retries=0
		# shellcheck disable=SC2086
		pid=$(e2e-driver start --notify -- qemu-pr-helper -k "$sock" $opt)
		if [ -z "$pid" ]; then
			out "E2E-RUN run=$run helper=ours start-failed"
			continue
		fi
		for c in "$dev_a register 0 0xd1" "$dev_a reserve 0xd1 we" \
		    "$dev_b register 0 0xd2" "$dev_b preempt 0xd2 0xd1 we" \
		    "$dev_a read-keys" "$dev_b clear 0xd2"; do
			# shellcheck disable=SC2086
			txt=$(qemu-pr-client -k "$sock" $c 2>&1)
			rc=$?
			txt=$(echo "$txt" | tr '\n' '|')
			out "R=$run E2E-UA cmd='$c' rc=$rc out='$txt'"
		done
		kill "$pid"
	done
}

# qemu-pr-client against the helper: exit codes of a short sequence (the
# release with the wrong type is a RESERVATION CONFLICT on LIO, see
# scenario-multi.txt).
client_checks() {
	name=$1 sock=$2 dev_a=$3 dev_b=$4
	for c in "0 $dev_b read-keys" "0 $dev_a register 0 0xc3" \
	    "0 $dev_a reserve 0xc3 we" "24 $dev_b reserve 0xd4 we" \
	    "0 $dev_b read-reservation" "24 $dev_a release 0xc3 ea" \
	    "0 $dev_a clear 0xc3"; do
		set -- $c
		want=$1
		shift
		txt=$(qemu-pr-client -k "$sock" "$@" 2>&1)
		rc=$?
		txt=$(echo "$txt" | tr '\n' '|')
		out "R=$name E2E-CLIENT cmd='$*' expect=$want rc=$rc out='$txt'"
	done
}

# The scenarios through QEMU's helper /usr/bin/$2 as runs $1-sd (block
# nodes of LU $3), $1-sg (sg nodes of LU $4) and $1-table (LU $5, three
# nexuses); one skip line when that helper is not in the guest.
ref_runs() {
	if [ ! -x "/usr/bin/$2" ]; then
		out "E2E-RUN run=$1-sd skip=no-$2"
		return
	fi
	eval "x=\$a$3 y=\$b$3"
	run_scenario "$1-sd" "$2" $m "/dev/${x% *}" "/dev/${y% *}"
	eval "x=\$a$4 y=\$b$4"
	run_scenario "$1-sg" "$2" $m "/dev/${x#* }" "/dev/${y#* }"
	eval "x=\$a$5 y=\$b$5 z=\$c$5"
	run_scenario "$1-table" "$2" $t "/dev/${x% *}" "/dev/${y% *}" \
	    "/dev/${z#* }"
}

mode_lio() {
	mkdir -p /etc/target/pr /var/target/pr
	load_modules /e2e/modules-core.list
	mount -t configfs none /sys/kernel/config 2>/dev/null
	[ -d $CFG ] || { out "E2E-SETUP error=no-configfs-target"; return; }
	# LU:ports; LUs 6-8 for QEMU 11.1's helper when it is in the guest
	lus="0:2 1:2 2:2 3:2 4:3 5:3"
	[ -x /usr/bin/qemu-pr-helper.qemu11 ] && lus="$lus 6:2 7:2 8:3"
	n=0
	for l in $lus; do
		ports="a b"
		[ "${l#*:}" = 3 ] && ports="a b c"
		make_lu "${l%:*}" "$ports" || { out "E2E-SETUP error=lu${l%:*}"; return; }
		n=$((n + ${l#*:}))
	done
	# sd and sg probe the existing devices before insmod returns
	load_modules /e2e/modules-disk.list
	hosts=$(for h in /sys/class/scsi_host/host*; do
		grep -q tcm_loop "$h/proc_name" 2>/dev/null &&
		    echo "${h##*host}"
	done | sort -n | tr '\n' ' ')
	set -- $hosts
	[ $# -eq $n ] || { out "E2E-SETUP error=hosts:$hosts"; return; }
	setup=
	for l in $lus; do
		i=${l%:*}
		eval "a$i=\"\$(host_devs $1)\" b$i=\"\$(host_devs $2)\""
		shift 2
		eval "s=\"\$a$i|\$b$i\""
		if [ "${l#*:}" = 3 ]; then
			eval "c$i=\"\$(host_devs $1)\""
			shift
			eval "s=\"\$s|\$c$i\""
		fi
		setup="$setup lu$i='$s'"
	done
	out "E2E-SETUP ok$setup"
	out "E2E-CAPS $(sg_persist -c /dev/${a0% *} 2>&1 | tr '\n' '|')"
	m=/e2e/scenario-multi.txt t=/e2e/scenario-table.txt
	run_scenario ours-sd ours $m /dev/${a0% *} /dev/${b0% *}
	ua_checks /dev/${a0% *} /dev/${b0% *}
	run_scenario ours-sg ours $m /dev/${a1#* } /dev/${b1#* }
	run_scenario ours-table ours $t /dev/${a4% *} /dev/${b4% *} \
	    /dev/${c4#* }
	ref_runs qemu qemu-pr-helper.qemu 2 3 5
	ref_runs qemu11 qemu-pr-helper.qemu11 6 7 8
}

# The disk at SCSI target 0, LUN $1 (/dev/sdX): sdX order is not stable.
lun_dev() {
	for d in /sys/bus/scsi/devices/*:0:0:"$1"/block/*; do
		[ -e "$d" ] && echo "/dev/${d##*/}" && return 0
	done
	return 1
}

# Run the sg_persist steps of e2e.steps= (comma-separated words) on the
# passthrough disk, one result line each; a word ending in @LUN runs on
# the disk at that LUN.  The word "wait" prints E2E-WAIT and waits for a
# line from the host on the same serial port.
mode_qemu() {
	load_modules /e2e/modules-core.list
	load_modules /e2e/modules-disk.list
	exec 3<> /dev/ttyS1
	stty -echo <&3
	dev=/dev/sda
	[ -b $dev ] || { out "E2E-SETUP error=no-sda"; return; }
	out "E2E-SETUP ok dev=$dev $(cat /sys/block/sda/device/vendor \
	    /sys/block/sda/device/model | tr '\n' ' ')"
	for s in $(arg e2e.steps | tr ',' ' '); do
		if [ "$s" = wait ]; then
			echo "E2E-WAIT" >&3
			read -r line <&3
			echo "E2E-GO $line" >&3
		elif [ "$s" != "${s%@*}" ]; then
			/e2e/guest-step.sh "$(lun_dev "${s#*@}")" "$s" >&3 2>&1
		else
			/e2e/guest-step.sh "$dev" "$s" >&3 2>&1
		fi
	done
}

case "$(arg e2e)" in
lio)	mode_lio ;;
qemu)	mode_qemu ;;
mpath)	. /e2e/guest-mpath.sh && mode_mpath ;;
policy)	. /e2e/guest-policy.sh && mode_policy ;;
*)	out "E2E-SETUP error=unknown-mode" ;;
esac
finish done
