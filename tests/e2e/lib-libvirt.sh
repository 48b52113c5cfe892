# SPDX-License-Identifier: GPL-2.0-or-later
# libvirt for the end-to-end tests (sourced by t-libvirt.sh, after lib.sh).
#
# lv_start runs Debian's libvirtd in the foreground, in a private mount
# namespace whose /etc/libvirt, /var/lib/libvirt, /var/log/libvirt,
# /var/cache/libvirt and /run/libvirt are copies under $LV: the test leaves
# the machine's libvirt configuration and state alone, and a libvirtd the
# machine runs is not disturbed.  virsh talks to it through its socket
# ($LV/run/libvirt-sock).  Guests are transient domains (virsh create)
# booting the e2e guest; their second serial port is the session pipe pair
# of lib.sh, so e2e_session_until/e2e_session_send work on them.
#
# Inside the namespace /dev/kvm, if the machine has one, is a node of the
# same device with Debian's usual owner and mode (root:kvm 0660): with the
# machine's root-only node, libvirt 9.0 finds KVM enabled in its QEMU probe
# but not usable by libvirt-qemu, takes its capability cache for outdated
# and probes QEMU again on every lookup (over a minute per domain start).
# The domains use TCG all the same (type='qemu').

LV=
LV_PID=
LV_JOB=

# The reason libvirt cannot be tested here, or nothing.
lv_missing() {
	[ "$(id -u)" -eq 0 ] || { echo "needs root"; return; }
	[ -x /usr/sbin/libvirtd ] || { echo "libvirtd is not installed"; return; }
	command -v virsh >/dev/null || { echo "virsh is not installed"; return; }
	command -v unshare >/dev/null || { echo "unshare is not installed"; return; }
	id libvirt-qemu >/dev/null 2>&1 || { echo "no libvirt-qemu user"; return; }
	[ -d /etc/libvirt ] || echo "no /etc/libvirt"
}

# virsh on the test's libvirtd.
lv_virsh() {
	virsh -q -c "qemu+unix:///system?socket=$LV/run/libvirt-sock" "$@"
}

# Make $LV (in $E2E_TMP, which QEMU as libvirt-qemu must traverse) with
# the private libvirt dirs, a qemu.conf of its own naming pr helper $1
# (QEMU runs as libvirt-qemu, libvirt's default), and libvirtd's
# start script; then start libvirtd and wait for READY=1.  0 or 1.
lv_start() {
	local d f=$E2E_TMP/libvirtd.pidfifo
	LV=$E2E_TMP/lv
	chmod 755 "$E2E_TMP"
	mkdir -p "$LV/run" "$LV/dev" "$LV/bin"
	cp -a /etc/libvirt "$LV/etc"
	for d in lib:/var/lib/libvirt log:/var/log/libvirt \
	    cache:/var/cache/libvirt; do
		if [ -d "${d#*:}" ]; then
			cp -a "${d#*:}" "$LV/${d%%:*}"
		else
			mkdir -p "$LV/${d%%:*}"
		fi
	done
	# the machine's qemu.conf may say anything: only these settings
	cat > "$LV/etc/qemu.conf" <<-EOF
	# t-libvirt.sh
	pr_helper = "$1"
	stdio_handler = "file"
	EOF
	chmod 600 "$LV/etc/qemu.conf"
	# The mount point, made if missing and never removed: another run's
	# libvirtd may have its private /run/libvirt mounted on it, and
	# removing the directory would detach that mount (libvirt's pid files
	# would then be out of that run's reach).
	mkdir -p /run/libvirt
	cat > "$LV/libvirtd.sh" <<-'EOF'
	#!/bin/sh
	# libvirtd with the private dirs of $1 (run in a private mount namespace)
	lv=$1
	for d in etc:/etc/libvirt lib:/var/lib/libvirt log:/var/log/libvirt \
	    cache:/var/cache/libvirt run:/run/libvirt; do
		mount --bind "$lv/${d%%:*}" "${d#*:}" || exit 1
	done
	if [ -c /dev/kvm ]; then
		mount -t tmpfs -o mode=0755 tmpfs "$lv/dev" &&
		    mknod -m 0660 "$lv/dev/kvm" c "$(stat -c '0x%t' /dev/kvm)" \
		    "$(stat -c '0x%T' /dev/kvm)" &&
		    chgrp kvm "$lv/dev/kvm" &&
		    mount --bind "$lv/dev/kvm" /dev/kvm || exit 1
	fi
	exec /usr/sbin/libvirtd -p "$lv/libvirtd.pid"
	EOF
	chmod 755 "$LV/libvirtd.sh"
	rm -f "$f" && mkfifo "$f"
	"$E2E_DRIVER" start --notify --wait -- unshare -m --propagation private \
	    "$LV/libvirtd.sh" "$LV" > "$f" 2> "$LV/libvirtd.log" &
	LV_JOB=$!
	E2E_PIDS+=($!)
	read -r -t 30 LV_PID < "$f" || true
	rm -f "$f"
	[ -n "$LV_PID" ]
}

# Destroy the domains still running (libvirtd leaves them running when it
# stops), stop libvirtd (SIGTERM) and wait for it: 0, or its exit status.
lv_stop() {
	local rc=0 d
	[ -n "$LV_PID" ] || return 0
	for d in $(lv_virsh list --name 2>/dev/null); do
		lv_virsh destroy "$d" > /dev/null 2>&1
	done
	kill -TERM "$LV_PID" 2>/dev/null
	wait "$LV_JOB" || rc=$?
	LV_PID=
	return $rc
}

# The XML of disk sdX at SCSI target 0, LUN $3 (X its letter $4): LUN
# file $1 with the <reservations> element $2.  The LUN is shareable
# (share-rw): cluster nodes share it, and two domains of the unmanaged
# tests open it at once.
lv_disk_xml() {
	cat <<-EOF
	    <disk type='block' device='lun'>
	      <driver name='qemu' type='raw' cache='none'/>
	      <source dev='$1'>
	        $2
	      </source>
	      <target dev='sd$4' bus='scsi'/>
	      <address type='drive' controller='0' bus='0' target='0' unit='$3'/>
	      <shareable/>
	    </disk>
	EOF
}

# The XML of transient domain $1: emulator $2, the disk on LUN $3 with the
# <reservations> element $4, kernel arguments $5; serial 0 to file
# $6.console, serial 1 the session pipes of session $1; further pairs of
# arguments (LUN file, <reservations>) are disks at LUNs 1, 2...
lv_domain_xml() {
	local lun=1 l=b
	cat <<-EOF
	<domain type='qemu'>
	  <name>$1</name>
	  <memory unit='MiB'>512</memory>
	  <vcpu>1</vcpu>
	  <os>
	    <type arch='x86_64' machine='q35'>hvm</type>
	    <kernel>$LV/vmlinux</kernel>
	    <initrd>$LV/initrd</initrd>
	    <cmdline>console=ttyS0 panic=-1 quiet loglevel=4 $5</cmdline>
	  </os>
	  <features><acpi/></features>
	  <cpu mode='maximum'/>
	  <on_poweroff>destroy</on_poweroff>
	  <on_reboot>destroy</on_reboot>
	  <on_crash>destroy</on_crash>
	  <devices>
	    <emulator>$2</emulator>
	EOF
	lv_disk_xml "$3" "$4" 0 a
	cat <<-EOF
	    <controller type='scsi' model='virtio-scsi'/>
	    <serial type='file'><source path='$6.console'/><target port='0'/></serial>
	    <serial type='pipe'><source path='$E2E_TMP/$1.ctl'/><target port='1'/></serial>
	    <memballoon model='none'/>
	EOF
	shift 6
	while [ $# -ge 2 ]; do
		lv_disk_xml "$1" "$2" $lun $l
		shift 2
		lun=$((lun + 1))
		l=$(echo $l | tr a-y b-z)
	done
	cat <<-EOF
	  </devices>
	</domain>
	EOF
}

# Start domain $1 (lv_domain_xml's arguments) as a session with prefix $6:
# 0 or 1 (virsh's error in $6.virsh).
lv_session_start() {
	local pid
	e2e_session_pipes "$1" "$6"
	lv_domain_xml "$@" > "$6.xml"
	lv_virsh create "$6.xml" > "$6.virsh" 2>&1 || return 1
	pid=$(cat "$LV/run/qemu/$1.pid" 2>/dev/null)
	[ -n "$pid" ] || return 1
	e2e_session_attach "$1" "$6" "$pid"
}

# End session $1: read its lines until the guest ends (at most $2 s, when
# given) or now, destroy the domain if it still runs, keep its log.
lv_session_end() {
	[ -n "${2:-}" ] && { e2e_session_until "$1" 'E2E-GUEST-END*' "$2" || true; }
	lv_virsh destroy "$1" > /dev/null 2>&1
	e2e_session_close "$1"
	cp "$LV/log/qemu/$1.log" "${E2E_SPFX[$1]}.qemu.log" 2>/dev/null
	return 0
}

# The pid in pid file $1, or nothing.
lv_pidof() {
	cat "$1" 2>/dev/null
}

# Does process $1 hold, on an fd it inherited, the POSIX write lock of
# file $2 (libvirt's pid file lock)?  The fd's number goes to stdout.
lv_holds_lock() {
	local fd
	for fd in /proc/"$1"/fd/*; do
		[ "$(readlink "$fd")" = "$2" ] || continue
		if grep -qE "^lock:.*POSIX +ADVISORY +WRITE +$1 " \
		    "/proc/$1/fdinfo/${fd##*/}"; then
			echo "${fd##*/}"
			return 0
		fi
	done
	return 1
}

# Is any process running with $1 in its command line?
lv_any_process_with() {
	local f
	for f in /proc/[0-9]*/cmdline; do
		{ tr '\0' ' ' < "$f"; } 2>/dev/null | grep -qF -- "$1" &&
		    return 0
	done
	return 1
}
