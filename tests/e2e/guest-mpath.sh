#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The multipath story of t-multipath.sh, run inside the LIO guest (busybox
# sh) by guest-init.sh for e2e=mpath.  Two LIO fileio LUs, each exported
# through two tcm_loop target ports: dm-multipath (multipath-tools from
# Debian, multipathd running) makes one map of each pair.  Host A is the
# helper in this guest; host B is one more port of the first LU that is
# kept out of multipath, and for the kernel mode two more ports of the
# second LU (initiators of their own, blacklisted) that dmsetup makes a
# map of host B's own, served by a second helper.  Helpers may run in a
# network namespace of their own (e2e-driver start --netns), where
# multipathd's abstract socket is out of reach as in a container; a map
# whose paths are all failed in device-mapper with queue_if_no_path holds
# a command in the kernel (a slow map).  Prints one "E2E-CHECK ok - ..." or
# "E2E-CHECK FAIL - ..." line per check on ttyS1 ("E2E-DIAG ..." lines
# explain failures); with e2e.strace=1 on the kernel command line the
# helper runs under strace and "E2E-STRACE ..." lines summarise what it
# and libmpathpersist did after start-up.
#
# Paths go down and up with the tcm_loop port's transport_status
# (offline: commands fail with DID_TRANSPORT_DISRUPTED); without udev,
# every path gets an empty udev database entry, libdevmapper creates the
# /dev/mapper nodes itself (DM_DISABLE_UDEV=1), and a path added later is
# handed to multipathd with "multipathd add path", as udev would.

CFG=/sys/kernel/config/target
S=/tmp/mp.sock
KA=0x123abc  # host A's key
KB=0xb0b     # host B's key
KC=0xc0ffee  # the key registered through the kernel mode
KN=0xe1      # the key of a helper in a network namespace of its own
MPLOG=/tmp/multipathd.log
HLOG=/tmp/helper.log

out() { echo "$@" > /dev/ttyS1; }
ok() { out "E2E-CHECK ok - $*"; }
bad() { out "E2E-CHECK FAIL - $*"; }
diag() { sed 's/^/E2E-DIAG /' > /dev/ttyS1; }
arg() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" /proc/cmdline; }

# ok/FAIL for description $1 by the exit status of the rest.
check() {
	d=$1
	shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}

# Run the rest until it succeeds, at most $1 seconds (polling: multipathd
# offers nothing to wait on).  0 when it did.
wait_for() {
	n=$(($1 * 4))
	shift
	while [ $n -gt 0 ]; do
		"$@" && return 0
		usleep 250000
		n=$((n - 1))
	done
	return 1
}

# Whether every thread of process $1 has a tracer (strace attached).
traced() {
	for st in /proc/"$1"/task/*/status; do
		grep -q '^TracerPid:[[:space:]]*[1-9]' "$st" || return 1
	done
}

# The port directory of LU $1, port letter $2.
port() { echo "$CFG/loopback/naa.50014050000${1}00${2}0/tpgt_1"; }

# Make LU $1 with a port for each letter of $2.
make_lu() {
	b=$CFG/core/fileio_$1/lu$1
	mkdir -p "$b" || return 1
	truncate -s 16M "/tmp/lu$1.img"
	echo "fd_dev_name=/tmp/lu$1.img,fd_dev_size=16777216" > "$b/control"
	echo "e2e-mp$1" > "$b/wwn/vpd_unit_serial"
	echo 1 > "$b/enable" || return 1
	for p in $2; do add_port "$1" "$p" || return 1; done
}

# Add port $2 (initiator letter too) to LU $1.
add_port() {
	w=$(port "$1" "$2")
	mkdir -p "$w/lun/lun_0" || return 1
	echo "naa.5001405ffff00${2}00" > "$w/nexus" || return 1
	ln -s "$CFG/core/fileio_$1/lu$1" "$w/lun/lun_0/lu$1"
}

# "sdX sgN" behind LU $1 port $2 (its SCSI host number is in address).
port_devs() {
	h=$(cut -d: -f1 < "$(port "$1" "$2")/address")
	for d in /sys/bus/scsi/devices/$h:*; do
		[ -d "$d/block" ] && [ -d "$d/scsi_generic" ] || continue
		echo "$(ls "$d/block") $(ls "$d/scsi_generic")"
		return 0
	done
	return 1
}

# Take LU $1 port $2 down (offline) or up (online).
path_state() { echo "$3" > "$(port "$1" "$2")/transport_status"; }

# Whether multipathd reports path $1 (sdX) in dm state $2 (active|failed).
mpd_path_is() {
	multipathd show paths format "%d %t" 2>/dev/null | grep -q "^$1 $2"
}

# The keys READ KEYS shows through node $1, one per line (asked again
# after a unit attention).
keys_on() {
	ko=$(sg_persist -n -k "$1" 2> /dev/null) ||
	    ko=$(sg_persist -n -k "$1" 2> /dev/null)
	echo "$ko" | sed -n 's/^ *\(0x[0-9a-f]*\)$/\1/p'
}

# Take the unit attentions waiting on path nodes $@ (sdX): at most 5 s
# each.
take_ua() {
	for ua in "$@"; do
		wait_for 5 eval "sg_turs /dev/$ua > /dev/null 2>&1"
	done
}

# Whether READ KEYS through node $1 lists key $2 exactly $3 times: once
# per I_T nexus registered with it.
nexuses_are() { [ "$(keys_on "$1" | grep -cx "$2")" = "$3" ]; }

# A 4 KiB direct write to block device $1 (0: it took it).
write_ok() {
	dd if=/dev/zero of="$1" bs=4096 count=1 oflag=direct 2>/dev/null
}

# qemu-pr-client through helper socket $1 ($2... its arguments); prints
# its output on one line, returns its exit status.
client() {
	s=$1
	shift
	o=$(qemu-pr-client -k "$s" "$@" 2>&1)
	r=$?
	echo "$o" | tr '\n' ' '
	return $r
}

# Expect client exit status $1 for the rest; output goes to the log.
expect() {
	want=$1
	shift
	o=$(client "$@")
	r=$?
	echo "[$*] rc=$r $o" >> /tmp/client.log
	[ "$r" = "$want" ]
}

# Start a helper ([--netns]: in a network namespace of its own, where
# multipathd's abstract socket is out of reach) on socket $1, stderr to
# file $2, options $3...; its pid in HPID.
helper() {
	ns=
	[ "$1" = --netns ] && ns=$1 && shift
	s=$1 log=$2
	shift 2
	rm -f "$s"
	HPID=$(e2e-driver start --notify $ns -- qemu-pr-helper -k "$s" "$@" \
	    2>> "$log")
	[ -n "$HPID" ]
}

# Write /etc/multipath.conf; $1, if set, a devnode pattern that multipath
# also leaves alone.
mpconf() {
	{
		cat <<-'EOF'
		defaults {
			user_friendly_names yes
			find_multipaths off
			uid_attribute ""
			reservation_key file
			polling_interval 2
			max_polling_interval 4
		}
		blacklist {
			devnode "^(ram|loop|fd|md|dm-|sr|scd|st|nvme|vd)"
		EOF
		[ -z "$1" ] || echo "	devnode \"$1\""
		echo "}"
	} > /etc/multipath.conf
}

setup() {
	mkdir -p /etc/target/pr /var/target/pr /run/udev/data /etc/multipath
	for m in $(cat /e2e/modules-core.list /e2e/modules-mpath.list); do
		insmod "$m" 2>/dev/null || echo "e2e: insmod $m failed"
	done
	mount -t configfs none /sys/kernel/config 2>/dev/null
	make_lu 0 "a b" && make_lu 1 "a b" || return 1
	for m in $(cat /e2e/modules-disk.list); do insmod "$m"; done
	set -- $(port_devs 0 a) && A_SD=$1 A_SG=/dev/$2 &&
	    set -- $(port_devs 0 b) && B_SD=$1 B_SG=/dev/$2 &&
	    set -- $(port_devs 1 a) && A1_SD=$1 A1_SG=/dev/$2 &&
	    set -- $(port_devs 1 b) && B1_SD=$1 B1_SG=/dev/$2 || return 1
	for d in /sys/block/sd*; do : > "/run/udev/data/b$(cat "$d/dev")"; done
	mpconf
	export DM_DISABLE_UDEV=1
	multipath -v0 || return 1
	# the map holding each LU's paths
	for dm in /sys/block/dm-*; do
		[ -e "$dm/slaves/$A_SD" ] &&
		    MAP0=/dev/mapper/$(cat "$dm/dm/name") DM0=${dm##*/}
		[ -e "$dm/slaves/$A1_SD" ] &&
		    MAP1=/dev/mapper/$(cat "$dm/dm/name") DM1=${dm##*/}
	done
	[ -b "$MAP0" ] && [ -b "$MAP1" ] || return 1
	multipathd -d -s > "$MPLOG" 2>&1 &
	MPD=$!
	wait_for 20 mpd_path_is "$B1_SD" active
}

# Story 1: both paths up, REGISTER then RESERVE ten times.
story_both_up() {
	good=0
	for i in 1 2 3 4 5 6 7 8 9 10; do
		expect 0 $S "$MAP0" register 0 $KA && good=$((good + 1))
		expect 0 $S "$MAP0" reserve $KA we-ro && good=$((good + 1))
		expect 0 $S "$MAP0" release $KA we-ro
		expect 0 $S "$MAP0" register $KA 0
	done
	check "both paths up: REGISTER then RESERVE through the map ten times, $good of 20 GOOD" \
	    [ $good = 20 ]
}

# Story 2: REGISTER with one path down, the path back, RESERVE.
story_path_back() {
	path_state 0 b offline
	wait_for 20 mpd_path_is "$B_SD" failed ||
	    echo "multipathd did not see $B_SD fail" | diag
	check "REGISTER through the map with one path down answers GOOD" \
	    expect 0 $S "$MAP0" register 0 $KA
	check "the key is registered on the one live nexus" \
	    nexuses_are "$A_SG" $KA 1
	path_state 0 b online
	pb_t0=$(date +%s)
	check "the path that came back ($B_SD) got the key from multipathd" \
	    wait_for 30 nexuses_are "$A_SG" $KA 2
	echo "second registration after $(($(date +%s) - pb_t0)) s" | diag
	wait_for 20 mpd_path_is "$B_SD" active
	check "RESERVE (write exclusive, registrants only) after the path came back answers GOOD" \
	    expect 0 $S "$MAP0" reserve $KA we-ro
	check "sg_persist on every path node shows the key on every nexus (2 registrations)" \
	    eval 'nexuses_are "$A_SG" $KA 2 && nexuses_are "$B_SG" $KA 2'
}

# Story 3: either path down, the reserved LU still takes writes.
story_failover() {
	for p in a b; do
		eval "sd=\$$(echo $p | tr ab AB)_SD"
		path_state 0 $p offline
		check "path $p ($sd) down: the reserved map still takes writes" \
		    write_ok "$MAP0"
		path_state 0 $p online
		wait_for 30 mpd_path_is "$sd" active ||
		    echo "multipathd did not reinstate $sd" | diag
	done
}

# Story 4: a path added later gets the key.
story_add_path() {
	add_port 0 c || { bad "add a third port"; return; }
	set -- $(port_devs 0 c)
	C_SD=$1 C_SG=/dev/$2
	: > "/run/udev/data/b$(cat "/sys/block/$C_SD/dev")"
	multipathd add path "$C_SD" > /dev/null 2>&1
	check "a path added later ($C_SD, through multipathd add path) got the key (3 registrations)" \
	    wait_for 30 nexuses_are "$C_SG" $KA 3
}

# Story 5: PREEMPT from host B fences host A on all of its paths.
story_preempt() {
	add_port 0 d || { bad "add host B's port"; return; }
	set -- $(port_devs 0 d)
	D_SD=$1 D_SG=/dev/$2
	sg_persist -n --out --register --param-sark=$KB "$D_SG" > /dev/null 2>&1
	check "host B (its own nexus) preempts host A's key" \
	    sg_persist -n --out --preempt --param-rk=$KB --param-sark=$KA \
	    --prout-type=5 "$D_SG"
	check "host B's key is the only one left" \
	    [ "$(keys_on "$D_SG" | tr '\n' ' ')" = "$KB " ]
	check "host A's map no longer takes writes" eval '! write_ok "$MAP0"'
	for sd in $A_SD $B_SD $C_SD; do
		check "host A's path $sd no longer takes writes" \
		    eval '! write_ok /dev/$sd'
	done
	check "host A's RESERVE through the helper answers RESERVATION CONFLICT" \
	    expect 24 $S "$MAP0" reserve $KA we-ro
	sg_persist -n --out --clear --param-rk=$KB "$D_SG" > /dev/null 2>&1
}

# Story 6: the same through plain SG_IO (the fd of one path) fails.
story_plain_sgio() {
	check "plain SG_IO on one path's fd: REGISTER and RESERVE answer GOOD" \
	    eval 'expect 0 $S /dev/$A1_SD register 0 $KA &&
		expect 0 $S /dev/$A1_SD reserve $KA we-ro'
	check "plain SG_IO: the key is registered on that path's nexus only (1 registration)" \
	    nexuses_are "$B1_SG" $KA 1
	path_state 1 a offline
	check "plain SG_IO: with that path down the VM is fenced by its own reservation (writes fail)" \
	    eval '! write_ok "$MAP1"'
	path_state 1 a online
	wait_for 30 mpd_path_is "$A1_SD" active
	sg_persist -n --out --clear --param-rk=$KA "$A1_SG" > /dev/null 2>&1
	# through the map with --multipath=off: one nexus only
	helper /tmp/off.sock /tmp/off.log --multipath=off ||
	    { bad "start a helper with --multipath=off"; return; }
	expect 0 /tmp/off.sock "$MAP1" register 0 $KA
	check "--multipath=off: REGISTER through the map reached one nexus of two (plain SG_IO goes to one path)" \
	    nexuses_are "$A1_SG" $KA 1
	kill "$HPID"
	sg_persist -n --out --clear --param-rk=$KA "$A1_SG" > /dev/null 2>&1 ||
	    sg_persist -n --out --clear --param-rk=$KA "$B1_SG" > /dev/null 2>&1
}

# Whether the guest's kernel is Linux $1.$2 or later.
kernel_at_least() {
	set -- "$1" "$2" $(uname -r | sed 's/^\([0-9]*\)\.\([0-9]*\).*/\1 \2/')
	[ "$3" -gt "$1" ] || { [ "$3" = "$1" ] && [ "$4" -ge "$2" ]; }
}

# Story 6b: privileges.  As root the helper keeps CAP_SYS_RAWIO and
# CAP_SYS_ADMIN; with -u another user it keeps CAP_SYS_RAWIO only, cannot
# ask device-mapper, and serves the map in the kernel mode (sysfs names
# it): PR IN by SG_IO, PR OUT by the kernel's ioctls, which Linux before
# 6.5 allows only with CAP_SYS_ADMIN.
story_privileges() {
	check "the helper as root keeps CAP_SYS_RAWIO and CAP_SYS_ADMIN only (CapEff 0x220000)" \
	    grep -q "^CapEff:.*0000000000220000" "/proc/$MAIN/status"
	: > /tmp/nobody.log
	helper /tmp/nobody.sock /tmp/nobody.log -u 65534 -g 65534 ||
	    { bad "start a helper with -u 65534"; return; }
	check "with -u 65534: CAP_SYS_RAWIO only (CapEff 0x20000)" \
	    grep -q "^CapEff:.*0000000000020000" "/proc/$HPID/status"
	check "with -u 65534: READ KEYS on the map answers GOOD (the kernel mode, by SG_IO)" \
	    expect 0 /tmp/nobody.sock "$MAP0" read-keys
	check "with -u 65534: one notice says auto chose the kernel mode (not uid 0)" \
	    [ "$(grep -c "served through the kernel's PR ioctls (the helper is not uid 0)" /tmp/nobody.log)" = 1 ]
	o=$(client /tmp/nobody.sock "$MAP0" register 0 $KB)
	if kernel_at_least 6 5; then
		check "with -u 65534 on Linux $(uname -r): REGISTER through the map answers GOOD without CAP_SYS_ADMIN ($o)" \
		    eval 'echo "$o" | grep -q GOOD'
		expect 0 /tmp/nobody.sock "$MAP0" register $KB 0
	else
		check "with -u 65534 on Linux $(uname -r) (before 6.5): REGISTER answers ILLEGAL REQUEST 20/00 ($o)" \
		    eval 'echo "$o" | grep -q "ILLEGAL REQUEST.*(20/00)"'
		check "with -u 65534 on Linux before 6.5: one warning names CAP_SYS_ADMIN" \
		    grep -q "Linux before 6.5 needs CAP_SYS_ADMIN" /tmp/nobody.log
	fi
	check "with -u 65534: a plain path is still served" \
	    expect 0 /tmp/nobody.sock "/dev/$A_SD" read-keys
	kill "$HPID"
}

# Story 7: no library (auto falls back to the kernel mode), no multipathd
# (--multipath=on): clear answers, the helper serves on.
story_missing() {
	mv /lib/libmpathpersist.so.0 /lib/libmpathpersist.so.0.hidden
	: > /tmp/nolib.log
	helper /tmp/nolib.sock /tmp/nolib.log ||
	    { bad "start a helper without the library"; return; }
	check "without libmpathpersist: READ KEYS on the map answers GOOD through the kernel mode" \
	    expect 0 /tmp/nolib.sock "$MAP0" read-keys
	client /tmp/nolib.sock "$MAP0" read-keys > /dev/null
	check "without libmpathpersist: one notice says the kernel mode serves the map because the library is missing" \
	    [ "$(grep -c "served through the kernel's PR ioctls (libmpathpersist cannot be used: cannot load libmpathpersist.so.0" /tmp/nolib.log)" = 1 ]
	check "without libmpathpersist: a plain path is still served" \
	    expect 0 /tmp/nolib.sock "/dev/$A_SD" read-keys
	kill "$HPID"
	mv /lib/libmpathpersist.so.0.hidden /lib/libmpathpersist.so.0
	kill "$MPD"
	wait "$MPD" 2>/dev/null
	: > /tmp/on.log
	helper /tmp/on.sock /tmp/on.log --multipath=on ||
	    { bad "start a helper with --multipath=on"; return; }
	o=$(client /tmp/on.sock "$MAP0" register 0 $KA)
	check "--multipath=on without multipathd: REGISTER on the map answers NOT READY 04/03 ($o)" \
	    eval 'echo "$o" | grep -q "NOT READY.*(04/03)"'
	check "--multipath=on without multipathd: one log line says so" \
	    grep -q "multipathd is not running" /tmp/on.log
	kill "$HPID"
}

# Story 8: the kernel mode.  Without multipathd the main helper (auto)
# serves the second map through the kernel's PR ioctls: device-mapper
# registers the key on both paths, a failed path does not fence the VM,
# and a path added to the map later has no key until the operator
# registers it (qemu-pr-helper(8), MULTIPATH).
story_kernel() {
	check "auto without multipathd: REGISTER through $MAP1 answers GOOD" \
	    expect 0 $S "$MAP1" register 0 $KC
	check "one notice says $DM1 is served by the kernel mode (multipathd does not answer)" \
	    [ "$(grep -c "multipath: map $DM1 (mpath-[^)]*) served through the kernel's PR ioctls (multipathd does not answer)" "$HLOG")" = 1 ]
	check "the kernel mode: sg_persist -k on each path node shows the key on both nexuses" \
	    eval 'nexuses_are "$A1_SG" $KC 2 && nexuses_are "$B1_SG" $KC 2'
	check "the kernel mode: RESERVE (write exclusive, registrants only) through the map answers GOOD" \
	    expect 0 $S "$MAP1" reserve $KC we-ro
	path_state 1 a offline
	check "the kernel mode: path a down, the reserved map still takes writes" \
	    write_ok "$MAP1"
	path_state 1 a online
	# no multipathd to reinstate the path: as it would
	dmsetup message "${MAP1##*/}" 0 reinstate_path "$(cat "/sys/block/$A1_SD/dev")" \
	    > /dev/null 2>&1
	add_port 1 c || { bad "add a third port to the second LU"; return; }
	set -- $(port_devs 1 c)
	E_SD=$1 E_SG=/dev/$2
	: > "/run/udev/data/b$(cat "/sys/block/$E_SD/dev")"
	multipath -v0 > /dev/null 2>&1
	check "the kernel mode: a path added to the map later ($E_SD) has no key (2 registrations of 3 nexuses)" \
	    eval '[ -e "/sys/block/$DM1/slaves/$E_SD" ] && nexuses_are "$E_SG" $KC 2'
	sg_persist -n --out --register-ignore --param-sark=$KC "$E_SG" > /dev/null 2>&1
	check "after the operator registers the key on the new path (sg_persist --register-ignore), all 3 nexuses have it" \
	    nexuses_are "$E_SG" $KC 3
	check "the kernel mode: CLEAR through the map answers GOOD and removes every key" \
	    eval 'expect 0 $S "$MAP1" clear $KC && [ -z "$(keys_on "$E_SG")" ]'
}

# Host B: ports d and e of the second LU, with initiators of their own,
# left alone by multipath (blacklisted) and made a map of their own with
# dmsetup (a "mpath-" uuid, as multipath names its maps): HB_MAP, and
# HB_SG one of its path nodes.
hostb_map() {
	if [ -z "$HB_SG" ]; then
		add_port 1 d && add_port 1 e || return 1
		set -- $(port_devs 1 d) $(port_devs 1 e)
		[ $# = 4 ] || return 1
		HB_SD="$1 $3" HB_SG=/dev/$2
		mpconf "^($1|$3)\$"
	fi
	t=
	for sd in $HB_SD; do t="$t $(cat "/sys/block/$sd/dev") 1"; done
	HB_MAP=/dev/mapper/e2e-hostb
	dmsetup create e2e-hostb -u mpath-e2e-hostb \
	    --table "0 32768 multipath 0 0 1 1 service-time 0 2 1$t" &&
	    [ -b "$HB_MAP" ]
}

# Host B preempts host A's key $2 (A's helper on socket $1 holds a write
# exclusive, registrants only reservation through MAP1) through its own
# map and a helper of its own in the kernel mode ($3: --netns or empty;
# $4 names the round in the checks), then clears; its map goes away
# again so that multipath never sees it.
kernel_preempt() {
	kp_a=$1 kp_k=$2 kp_ns=$3 kp_w=$4
	hostb_map || { bad "$kp_w: make host B's map over two ports of its own"; return; }
	: > /tmp/hb.log
	if helper $kp_ns /tmp/hb.sock /tmp/hb.log --multipath=kernel; then
		HB=$HPID
		check "$kp_w: host B's REGISTER through its own map answers GOOD and reaches both of its nexuses" \
		    eval 'expect 0 /tmp/hb.sock "$HB_MAP" register 0 $KB &&
			nexuses_are "$HB_SG" $KB 2'
		check "$kp_w: host B's PREEMPT of host A's key through its own map answers GOOD" \
		    expect 0 /tmp/hb.sock "$HB_MAP" preempt $KB "$kp_k" we-ro
		check "$kp_w: host B's key is the only one left (2 registrations)" \
		    [ "$(keys_on "$HB_SG" | tr '\n' ' ')" = "$KB $KB " ]
		check "$kp_w: host A's map no longer takes writes" \
		    eval '! write_ok "$MAP1"'
		# the PREEMPT left a unit attention on A's paths (see story 9)
		take_ua $(ls "/sys/block/$DM1/slaves")
		check "$kp_w: host A's RESERVE through its helper answers RESERVATION CONFLICT" \
		    expect 24 "$kp_a" "$MAP1" reserve "$kp_k" we-ro
		o=$(client /tmp/hb.sock "$HB_MAP" read-reservation)
		check "$kp_w: host B holds the reservation ($o)" \
		    eval 'echo "$o" | grep -q "reserved by key $KB, type"'
		check "$kp_w: host B's CLEAR through its map answers GOOD and leaves no key" \
		    eval 'expect 0 /tmp/hb.sock "$HB_MAP" clear $KB &&
			[ -z "$(keys_on "$A1_SG")" ]'
		kill "$HB"
	else
		bad "$kp_w: start host B's helper (--multipath=kernel)"
	fi
	dmsetup remove e2e-hostb > /dev/null 2>&1
}

# Story 9: the kernel mode, with host B preempting (after story 8, no
# multipathd).
story_kernel_preempt() {
	# Story 8's CLEAR left a unit attention (RESERVATIONS PREEMPTED) on
	# the map's other paths, and host B's CLEAR on its other path:
	# Linux 6.1's PR ioctls do not retry one (the helper answers ABORTED
	# COMMAND 00/06, a guest tries again); take them first.
	take_ua $(ls "/sys/block/$DM1/slaves") $HB_SD
	check "the kernel mode: REGISTER and RESERVE through $MAP1 answer GOOD" \
	    eval 'expect 0 $S "$MAP1" register 0 $KC &&
		expect 0 $S "$MAP1" reserve $KC we-ro'
	kernel_preempt $S $KC "" "the kernel mode"
}

# Story 10: in a network namespace of its own, as in a container, while
# multipathd runs: multipathd's abstract socket is out of reach, auto
# serves the map through the kernel's PR ioctls (the key on both
# nexuses, a failed path does not fence the VM, host B preempts), and
# --multipath=on answers NOT READY 04/03 as without multipathd.
story_netns() {
	w="another network namespace"
	: > /tmp/ns.log
	helper --netns /tmp/ns.sock /tmp/ns.log -v ||
	    { bad "start a helper in a network namespace of its own"; return; }
	NSPID=$HPID
	check "$w: the helper's network namespace is not the guest's" \
	    [ "$(readlink "/proc/$NSPID/ns/net")" != "$(readlink /proc/self/ns/net)" ]
	check "$w, auto with multipathd running: REGISTER through $MAP1 answers GOOD" \
	    expect 0 /tmp/ns.sock "$MAP1" register 0 $KN
	check "$w: one notice says $DM1 is served by the kernel mode (multipathd does not answer)" \
	    [ "$(grep -c "multipath: map $DM1 (mpath-[^)]*) served through the kernel's PR ioctls (multipathd does not answer)" /tmp/ns.log)" = 1 ]
	check "$w: sg_persist -k on each path node shows the key on both nexuses" \
	    eval 'nexuses_are "$A1_SG" $KN 2 && nexuses_are "$B1_SG" $KN 2'
	check "$w: RESERVE (write exclusive, registrants only) through the map answers GOOD" \
	    expect 0 /tmp/ns.sock "$MAP1" reserve $KN we-ro
	path_state 1 a offline
	check "$w: path a down, the reserved map still takes writes" \
	    write_ok "$MAP1"
	path_state 1 a online
	# as its checker would, a few seconds later
	multipathd reinstate path "$A1_SD" > /dev/null 2>&1
	wait_for 30 mpd_path_is "$A1_SD" active ||
	    echo "multipathd did not reinstate $A1_SD" | diag
	kernel_preempt /tmp/ns.sock $KN --netns "$w"
	kill "$NSPID"
	: > /tmp/nson.log
	helper --netns /tmp/nson.sock /tmp/nson.log --multipath=on ||
	    { bad "start a helper with --multipath=on in a network namespace"; return; }
	o=$(client /tmp/nson.sock "$MAP0" register 0 $KA)
	check "$w, --multipath=on with multipathd running: REGISTER on the map answers NOT READY 04/03 ($o)" \
	    eval 'echo "$o" | grep -q "NOT READY.*(04/03)"'
	check "$w, --multipath=on: one log line says multipathd does not answer" \
	    [ "$(grep -c "multipathd is not running" /tmp/nson.log)" = 1 ]
	kill "$HPID"
}

# Whether a thread of process $1 waits in device-mapper's ioctl path (for
# a usable path of a map).
waits_in_dm() { cat /proc/"$1"/task/*/stack 2>/dev/null | grep -q 'dm_blk_ioctl\|dm_prepare_ioctl'; }

# Run the rest in the background for at most $1 seconds: its exit status,
# or 1 when it took longer (then it is left to finish by itself).
within() {
	wi_n=$1
	shift
	"$@" &
	wi_p=$!
	wait_for "$wi_n" eval '! kill -0 $wi_p 2> /dev/null' || return 1
	wait "$wi_p"
}

# Story 11: a slow map does not delay another.  Every path of the first
# map failed in device-mapper, with queue_if_no_path: a command on it
# waits in the kernel (device-mapper tries again until a path is back)
# on one of the helper's workers, while commands on the second map are
# answered.  No multipathd: nothing reinstates the paths behind the test.
story_slow_map() {
	name=${MAP0##*/}
	paths=$(cat /sys/block/"$DM0"/slaves/*/dev)
	dmsetup message "$name" 0 queue_if_no_path
	for p in $paths; do dmsetup message "$name" 0 fail_path "$p"; done
	: > /tmp/slow.out
	client $S "$MAP0" read-keys > /tmp/slow.out &
	SLOW=$!
	check "slow map: with every path of $MAP0 failed, its READ KEYS waits in device-mapper on a helper worker" \
	    wait_for 30 waits_in_dm "$MAIN" ||
	    { echo "$paths"; dmsetup status "$name"; } | diag
	sm_t0=$(date +%s)
	check "slow map: meanwhile READ KEYS, REGISTER and unregister through $MAP1 answer GOOD (within 60 s)" \
	    within 60 eval 'expect 0 $S "$MAP1" read-keys &&
		expect 0 $S "$MAP1" register 0 $KC &&
		expect 0 $S "$MAP1" register $KC 0'
	sm_t=$(($(date +%s) - sm_t0))
	check "slow map: the command on $MAP0 is still waiting after those ($sm_t s)" \
	    eval 'kill -0 $SLOW 2> /dev/null && [ ! -s /tmp/slow.out ]'
	for p in $paths; do dmsetup message "$name" 0 reinstate_path "$p"; done
	wait_for 30 eval '! kill -0 $SLOW 2> /dev/null'
	wait "$SLOW"
	r=$?
	check "slow map: with its paths back, its READ KEYS answers GOOD ($(cat /tmp/slow.out))" \
	    [ "$r" = 0 ]
	dmsetup message "$name" 0 fail_if_no_path
}

# Summarise what the helper did after start-up (strace -f output $1).
strace_summary() {
	out "E2E-STRACE syscalls $(grep -oE '^[0-9]+ +[a-z0-9_]+\(' "$1" |
	    sed 's/^[0-9]* *//; s/($//' | sort | uniq -c | sort -rn |
	    awk '{ printf "%s=%s ", $2, $1 }')"
	out "E2E-STRACE ioctls $(grep -o 'ioctl([0-9]*, [A-Z_0-9x]*' "$1" |
	    sed 's/.*, //' | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }')"
	out "E2E-STRACE sockets $(grep -oE '(socket|connect)\([^)]*\)' "$1" |
	    sed 's/[0-9]*, //' | sort -u | tr '\n' ' ')"
	grep -oE 'open(at)?\([^"]*"[^"]*"[^)]*\)' "$1" |
	    sed 's/^[^"]*"\([^"]*\)".*, \(O_[A-Z_|]*\).*/\1 \2/' |
	    sed 's/[0-9][0-9]*/N/g' | sort -u |
	    sed 's/^/E2E-STRACE open /' > /dev/ttyS1
	grep -E 'prlimit|setrlimit|prctl|capset|clone' "$1" |
	    sed 's/^[0-9]* //; s/= [0-9]*$//' | sort | uniq -c | sort -rn |
	    head -20 | sed 's/^/E2E-STRACE other /' > /dev/ttyS1
}

mode_mpath() {
	t0=$(date +%s)
	if ! setup; then
		bad "set up two LIO LUs with two paths each and their multipath maps"
		tail -20 "$MPLOG" 2>/dev/null | diag
		return
	fi
	ok "set up: map $MAP0 over $A_SD $B_SD, map $MAP1 over $A1_SD $B1_SD, multipathd running ($(($(date +%s) - t0)) s)"
	: > "$HLOG"
	helper $S "$HLOG" -v || { bad "start our helper"; return; }
	MAIN=$HPID
	if [ "$(arg e2e.strace)" = 1 ] && command -v strace > /dev/null; then
		strace -f -qq -p "$MAIN" -o /tmp/strace.txt &
		STRACE=$!
		wait_for 10 traced "$MAIN" ||
		    echo "strace did not attach within 10 s" | diag
	fi
	story_both_up
	grep "multipath: loaded" "$HLOG" | diag
	check "-v logs which libmpathpersist was loaded" \
	    grep -q "multipath: loaded .*libmpathpersist.so.0 (LIBMPATHPERSIST_" "$HLOG"
	story_path_back
	story_failover
	story_add_path
	story_preempt
	story_plain_sgio
	story_privileges
	story_netns
	story_missing
	story_kernel
	story_kernel_preempt
	story_slow_map
	kill "$MAIN"
	if [ -n "$STRACE" ]; then
		kill "$STRACE" 2>/dev/null
		wait "$STRACE" 2>/dev/null
		strace_summary /tmp/strace.txt
	fi
	grep -v "^\[.*rc=0 " /tmp/client.log | diag
	out "E2E-MPATH-TIME $(($(date +%s) - t0))"
}
