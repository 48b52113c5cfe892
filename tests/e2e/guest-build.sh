#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the end-to-end test guest from Debian packages: an uncompressed
# kernel (booted by QEMU through PVH), its SCSI/LIO/virtio modules, busybox,
# sg3-utils and QEMU's own qemu-pr-helper in a base initramfs, cached in
# CACHE; and per run an overlay initramfs with the binaries under test.
#
#   guest-build.sh base CACHE
#       -> CACHE/guest/vmlinux, CACHE/guest/base.cpio.gz (kept when current)
#   guest-build.sh mpath CACHE
#       -> CACHE/guest/mpath.cpio.gz: multipath-tools from Debian (multipath,
#          multipathd, mpathpersist, libmpathpersist.so.0, the path checker
#          and prioritizer plugins) with its libraries, libgcc_s.so.1
#          (multipathd aborts without it) and dmsetup if the host has it,
#          appended by the multipath test only; kept when current
#   guest-build.sh qemu11 CACHE DIR
#       -> CACHE/guest/qemu11.cpio.gz: QEMU 11.1's qemu-pr-helper from the
#          Debian 13 root DIR/root (contrib/trixie-root.sh) with the root's
#          dynamic loader and the libraries it names, under /opt/qemu11,
#          run by /usr/bin/qemu-pr-helper.qemu11; appended by the LIO test
#          only; kept when current
#   guest-build.sh initrd CACHE OUT SRC:DEST...
#       -> OUT = base + an overlay with each SRC at DEST (ELF files bring
#          their shared libraries, found by ldd)
#
# Exit 77 with the reason on stderr when something it needs is missing.
set -euo pipefail

skip() { echo "SKIP: $*" >&2; exit 77; }
die() { echo "guest-build: $*" >&2; exit 1; }

# Copy file $1 to $2/$3 (mode kept); for ELF files also every library ldd
# names, at its own path.
copy_in() {
	local src=$1 root=$2 dest=$3 lib
	mkdir -p "$root/$(dirname "$dest")"
	cp -L "$src" "$root/$dest"
	if head -c 4 "$src" | grep -q ELF; then
		for lib in $(ldd "$src" 2>/dev/null |
		    sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
			[ -e "$root$lib" ] && continue
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
	fi
}

# Pack directory $1 into the gzip'd newc cpio $2.
pack() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc \
	    --quiet -R 0:0) | gzip -1 > "$2.tmp"
	mv "$2.tmp" "$2"
}

# The ordered insmod list for modules $3... of kernel tree $1 version $2.
module_list() {
	local root=$1 kver=$2 m
	shift 2
	for m in "$@"; do
		modprobe -d "$root" -S "$kver" --show-depends "$m" ||
		    die "module $m not found"
	done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'
}

# Build the cached base: kernel, modules, busybox, sg3-utils, QEMU's helper.
build_base() {
	local cache=$1 g=$1/guest kpkg kver stamp off tool
	for tool in apt-get apt-cache dpkg-deb depmod modprobe cpio xz ldd; do
		command -v $tool >/dev/null || skip "$tool is not installed"
	done
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	    awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[ -n "$kpkg" ] || skip "apt-cache knows no linux-image-amd64"
	kver=${kpkg#linux-image-}
	stamp="$kpkg $(cksum < "$0" | cut -d' ' -f1)"
	if [ -f "$g/stamp" ] && [ "$(cat "$g/stamp")" = "$stamp" ] &&
	    [ -f "$g/vmlinux" ] && [ -f "$g/base.cpio.gz" ]; then
		return 0
	fi
	rm -rf "$g" && mkdir -p "$g/debs" "$g/x" "$g/root"
	(cd "$g/debs" && apt-get download "$kpkg" busybox-static \
	    >/dev/null 2>"$g/download.log") ||
	    skip "apt-get download $kpkg busybox-static failed: $(tail -1 "$g/download.log")"
	for d in "$g"/debs/*.deb; do dpkg-deb -x "$d" "$g/x"; done
	# the bzImage carries the kernel as an XZ stream: boot the ELF inside
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$g/x/boot/vmlinuz-$kver" |
	    head -1 | cut -d: -f1)
	[ -n "$off" ] || die "no XZ stream in vmlinuz-$kver"
	tail -c +$((off + 1)) "$g/x/boot/vmlinuz-$kver" | xz -dc \
	    > "$g/vmlinux.tmp" 2>/dev/null || true
	head -c 4 "$g/vmlinux.tmp" | grep -q ELF || die "vmlinux extraction failed"
	mv "$g/vmlinux.tmp" "$g/vmlinux"
	depmod -b "$g/x" "$kver"

	local r=$g/root
	mkdir -p "$r"/{bin,sbin,proc,sys,dev,tmp,run,var/run,etc/target/pr,var/target/pr,e2e,usr/bin}
	cp "$g/x/bin/busybox" "$r/bin/busybox"
	for a in $("$r/bin/busybox" --list); do
		[ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"
	done
	: > "$r/e2e/modules-core.list"
	for m in $(module_list "$g/x" "$kver" configfs scsi_mod \
	    target_core_mod target_core_file tcm_loop virtio_pci virtio_scsi); do
		copy_in "$m" "$r" "${m#$g/x}"
		echo "${m#$g/x}" >> "$r/e2e/modules-core.list"
	done
	: > "$r/e2e/modules-disk.list"
	for m in $(module_list "$g/x" "$kver" sd_mod sg); do
		grep -qx "${m#$g/x}" "$r/e2e/modules-core.list" && continue
		copy_in "$m" "$r" "${m#$g/x}"
		echo "${m#$g/x}" >> "$r/e2e/modules-disk.list"
	done
	# dm-multipath, for the multipath test (loaded by it only)
	: > "$r/e2e/modules-mpath.list"
	for m in $(module_list "$g/x" "$kver" scsi_dh_alua dm-multipath \
	    dm-service-time); do
		grep -qx "${m#$g/x}" "$r/e2e/modules-core.list" && continue
		copy_in "$m" "$r" "${m#$g/x}"
		echo "${m#$g/x}" >> "$r/e2e/modules-mpath.list"
	done
	for b in sg_persist sg_inq sg_turs; do
		command -v $b >/dev/null || skip "$b is not installed (sg3-utils)"
		copy_in "$(command -v $b)" "$r" "/usr/bin/$b"
	done
	# QEMU's helper, the reference (optional: tests that need it skip)
	if [ -x /usr/bin/qemu-pr-helper ]; then
		copy_in /usr/bin/qemu-pr-helper "$r" /usr/bin/qemu-pr-helper.qemu
	fi
	pack "$r" "$g/base.cpio.gz"
	rm -rf "$g/x" "$g/root" "$g/debs"
	echo "$stamp" > "$g/stamp"
}

# Copy ELF file $1 of the unpacked tree $2 to $3/$4 with every library ldd
# names, found in the tree first, each at its path without the tree.
copy_tree_elf() {
	local src=$1 x=$2 root=$3 dest=$4 lib
	mkdir -p "$root/$(dirname "$dest")"
	cp -L "$src" "$root/$dest"
	for lib in $(LD_LIBRARY_PATH=$x/lib:$x/lib/x86_64-linux-gnu:$x/usr/lib/x86_64-linux-gnu \
	    ldd "$src" 2>/dev/null |
	    sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
		local d=${lib#$x}
		[ -e "$root$d" ] && continue
		mkdir -p "$root$(dirname "$d")"
		cp -L "$lib" "$root$d"
	done
}

# Build the cached multipath overlay (see the top of this file).
build_mpath() {
	local cache=$1 g=$1/guest m=$1/guest/mpath ver stamp f
	ver=$(apt-cache policy multipath-tools 2>/dev/null |
	    awk '/Candidate:/ { print $2 }')
	[ -n "$ver" ] && [ "$ver" != "(none)" ] ||
	    skip "apt-cache knows no multipath-tools"
	stamp="multipath-tools $ver $(cksum < "$0" | cut -d' ' -f1)"
	if [ -f "$g/mpath.stamp" ] && [ "$(cat "$g/mpath.stamp")" = "$stamp" ] &&
	    [ -f "$g/mpath.cpio.gz" ]; then
		return 0
	fi
	rm -rf "$m" && mkdir -p "$m/debs" "$m/x" "$m/root"
	(cd "$m/debs" && apt-get download multipath-tools liburcu8 libaio1 \
	    libjson-c5 libedit2 >/dev/null 2>"$m/download.log") ||
	    skip "apt-get download multipath-tools failed: $(tail -1 "$m/download.log")"
	for f in "$m"/debs/*.deb; do dpkg-deb -x "$f" "$m/x"; done
	local x=$m/x r=$m/root
	for f in multipath multipathd mpathpersist; do
		copy_tree_elf "$x/sbin/$f" "$x" "$r" "/sbin/$f"
	done
	copy_tree_elf "$x/lib/libmpathpersist.so.0" "$x" "$r" \
	    /lib/libmpathpersist.so.0
	for f in "$x"/lib/multipath/*.so; do
		copy_tree_elf "$f" "$x" "$r" "/lib/multipath/${f##*/}"
	done
	# dmsetup: for looking into a failed run only
	if command -v dmsetup >/dev/null; then
		copy_tree_elf "$(command -v dmsetup)" "$x" "$r" /sbin/dmsetup
	fi
	for f in /lib/x86_64-linux-gnu/libgcc_s.so.1 \
	    /usr/lib/x86_64-linux-gnu/libgcc_s.so.1; do
		[ -e "$f" ] && { copy_tree_elf "$f" "$x" "$r" \
		    /lib/x86_64-linux-gnu/libgcc_s.so.1; break; }
	done
	[ -e "$r/lib/x86_64-linux-gnu/libgcc_s.so.1" ] ||
	    skip "libgcc_s.so.1 not found"
	pack "$r" "$g/mpath.cpio.gz"
	rm -rf "$m"
	echo "$stamp" > "$g/mpath.stamp"
}

# Build the cached QEMU 11.1 helper overlay from the root of trixie dir $2
# (see the top of this file).  The root's glibc is newer than the guest's,
# so the helper runs through the root's own loader and libraries, kept
# apart under /opt/qemu11.
build_qemu11() {
	local cache=$1 x=$2/root g=$1/guest o stamp ld lib
	ld=$x/usr/lib64/ld-linux-x86-64.so.2
	if [ ! -x "$x/usr/bin/qemu-pr-helper" ] || [ ! -x "$ld" ]; then
		skip "no QEMU 11.1 helper in $x (contrib/trixie-root.sh fetch qemu)"
	fi
	stamp="$(cat "$2/VERSION") $(cksum < "$0" | cut -d' ' -f1)"
	if [ -f "$g/qemu11.stamp" ] && [ "$(cat "$g/qemu11.stamp")" = "$stamp" ] &&
	    [ -f "$g/qemu11.cpio.gz" ]; then
		return 0
	fi
	mkdir -p "$g"
	o=$(mktemp -d "${TMPDIR:-/tmp}/e2e-qemu11.XXXXXX")
	mkdir -p "$o/opt/qemu11/lib" "$o/usr/bin"
	cp "$x/usr/bin/qemu-pr-helper" "$o/opt/qemu11/qemu-pr-helper"
	cp -L "$ld" "$o/opt/qemu11/lib/"
	for lib in $("$ld" --library-path "$x/usr/lib/x86_64-linux-gnu" \
	    --list "$x/usr/bin/qemu-pr-helper" |
	    sed -n 's/.*=> \(\/[^ ]*\) (.*/\1/p'); do
		case $lib in
		"$x"/*) cp -L "$lib" "$o/opt/qemu11/lib/" ;;
		*) rm -rf "$o"; die "qemu11: $lib is not in the root" ;;
		esac
	done
	printf '%s\n' '#!/bin/sh' \
	    'exec /opt/qemu11/lib/ld-linux-x86-64.so.2 --library-path /opt/qemu11/lib /opt/qemu11/qemu-pr-helper "$@"' \
	    > "$o/usr/bin/qemu-pr-helper.qemu11"
	chmod 0755 "$o/usr/bin/qemu-pr-helper.qemu11"
	pack "$o" "$g/qemu11.cpio.gz"
	rm -rf "$o"
	echo "$stamp" > "$g/qemu11.stamp"
}

# Build OUT = base + overlay of SRC:DEST pairs.
build_initrd() {
	local cache=$1 out=$2 o
	shift 2
	o=$(mktemp -d "${TMPDIR:-/tmp}/e2e-overlay.XXXXXX")
	for pair in "$@"; do
		[ -e "${pair%%:*}" ] || { rm -rf "$o"; die "${pair%%:*} missing"; }
		copy_in "${pair%%:*}" "$o" "${pair#*:}"
	done
	pack "$o" "$out.overlay"
	cat "$cache/guest/base.cpio.gz" "$out.overlay" > "$out"
	rm -rf "$o" "$out.overlay"
}

case "${1:-}" in
base)	[ $# -eq 2 ] || die "usage: $0 base CACHE"
	build_base "$2" ;;
mpath)	[ $# -eq 2 ] || die "usage: $0 mpath CACHE"
	build_mpath "$2" ;;
qemu11)	[ $# -eq 3 ] || die "usage: $0 qemu11 CACHE DIR"
	build_qemu11 "$2" "$3" ;;
initrd)	[ $# -ge 3 ] || die "usage: $0 initrd CACHE OUT SRC:DEST..."
	build_initrd "$2" "$3" "${@:4}" ;;
*)	die "usage: $0 base CACHE | mpath CACHE | qemu11 CACHE DIR | initrd CACHE OUT SRC:DEST..." ;;
esac
