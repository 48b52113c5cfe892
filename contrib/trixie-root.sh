#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A Debian 13 (trixie) root for the tests, made with mmdebstrap and kept:
#
#   contrib/trixie-root.sh fetch [qemu|build]   make it (once; reused when
#                                              already there); prints the dir
#   contrib/trixie-root.sh dir [qemu|build]     print the dir, made or not
#
# qemu (the default): QEMU 11.1 from trixie-backports (qemu-system-x86,
#   qemu-system-common with its qemu-pr-helper, qemu-utils), about 490 MB;
#   DIR/VERSION holds QEMU's version.
# build: trixie's compiler and the project's build and test dependencies,
#   with trixie's own QEMU helper (qemu-system-common, 10.0) as the
#   reference peer, to build, check and package the project in it;
#   DIR/VERSION holds gcc's.
#
# The root is DIR/root.  DIR is $PRH_TRIXIE_DIR_FLAVOUR if that is set,
# else /var/cache/qemu-pr-helper/trixie-FLAVOUR as root,
# ${XDG_CACHE_HOME:-$HOME/.cache}/qemu-pr-helper/trixie-FLAVOUR otherwise
# (fetch needs root: mmdebstrap's root mode).  The archive's addresses are
# those the system's apt sources use for bookworm and bookworm-security
# (contrib/apt-archive.sh), with trixie's suites: a local mirror or proxy
# keeps working.  Concurrent fetches wait for each other (flock).
#
# Run a command in it: contrib/trixie-root.sh run FLAVOUR CMD...  (a
# private mount namespace in which the root is a mount point of its own,
# so that tests inside may make / private and mount in namespaces of
# their own; /proc, /sys and /dev mounted, /work-like
# directories are not shared: bind what you need with PRH_TRIXIE_BIND=DIR,
# mounted at the same path inside).  The command runs with a clean
# environment but for socket activation: LISTEN_FDS (and LISTEN_FDNAMES)
# are kept when LISTEN_PID names the process that runs this script, which
# becomes the command (unshare, chroot and env each exec in the same
# process), so that a helper in the root gets a socket its holder keeps
# (systemd-socket-activate, or a shell that sets LISTEN_PID=$$ and execs
# this script).
#
# Exit status: 0, 1 on failure (message on stderr), 2 on a usage error.
set -eu

die() { echo "trixie-root.sh: $*" >&2; exit 1; }

# shellcheck source=contrib/apt-archive.sh
. "$(dirname "$0")/apt-archive.sh"

cmd=${1:-}
flavour=${2:-qemu}
case $flavour in
qemu | build) ;;
*) echo "usage: $0 fetch|dir|run [qemu|build] [CMD...]" >&2; exit 2 ;;
esac

dir=$(eval "echo \${PRH_TRIXIE_DIR_$flavour:-}")
if [ -z "$dir" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		dir=/var/cache/qemu-pr-helper/trixie-$flavour
	else
		dir=${XDG_CACHE_HOME:-$HOME/.cache}/qemu-pr-helper/trixie-$flavour
	fi
fi

# Whether the root is complete.
ready() { [ -s "$dir/VERSION" ] && [ -x "$dir/root/usr/bin/apt-get" ]; }

# Make the root under $dir (caller holds the lock).
make_root() {
	[ "$(id -u)" -eq 0 ] || die "making the root needs root (mmdebstrap)"
	command -v mmdebstrap >/dev/null ||
	    die "mmdebstrap is not installed (apt-get install mmdebstrap)"
	archive=$(apt_archive bookworm)
	[ -n "$archive" ] ||
	    die "no Debian archive for bookworm in the system's apt sources"
	security=$(apt_archive bookworm-security)
	rm -rf "$dir/root" "$dir/VERSION"
	mkdir -p "$dir"
	set -- "deb $archive trixie main" "deb $archive trixie-updates main" \
	    "deb $archive trixie-backports main"
	[ -z "$security" ] || set -- "$@" "deb $security trixie-security main"
	if [ "$flavour" = qemu ]; then
		install="apt-get install -y -qq --no-install-recommends \
		    -t trixie-backports qemu-system-x86 qemu-system-common \
		    qemu-utils"
		version='qemu-system-x86_64 --version | head -n 1'
	else
		install="apt-get install -y -qq --no-install-recommends \
		    build-essential autoconf automake libtool pkg-config \
		    libevent-dev libcap-dev libsystemd-dev libseccomp-dev \
		    libcriterion-dev groff-base python3 sg3-utils \
		    debhelper dpkg-dev lintian fakeroot systemd kmod \
		    qemu-system-common"
		version='gcc --version | head -n 1'
	fi
	mmdebstrap --quiet --variant=minbase --include=ca-certificates \
	    --components=main \
	    --customize-hook="chroot \"\$1\" sh -c 'export DEBIAN_FRONTEND=noninteractive; $install'" \
	    --customize-hook="chroot \"\$1\" sh -c '$version' > \"$dir/VERSION.tmp\"" \
	    trixie "$dir/root" "$@" >"$dir/mmdebstrap.log" 2>&1 ||
	    die "mmdebstrap failed: $(tail -n 3 "$dir/mmdebstrap.log")"
	mv "$dir/VERSION.tmp" "$dir/VERSION"
	chmod a+rx "$dir" "$dir/root"
}

case $cmd in
dir)
	echo "$dir"
	;;
fetch)
	ready && { echo "$dir"; exit 0; }
	mkdir -p "$dir"
	exec 9>"$dir.lock"
	flock 9
	ready || make_root
	echo "$dir"
	;;
run)
	shift 2
	[ $# -gt 0 ] || die "run: no command"
	ready || die "no root in $dir: run $0 fetch $flavour first"
	[ "$(id -u)" -eq 0 ] || die "run needs root (chroot)"
	exec unshare --mount --propagation private sh -c '
		r=$1; shift
		mount --bind "$r" "$r"
		mount -t proc proc "$r/proc"
		mount --rbind /sys "$r/sys"
		mount --rbind /dev "$r/dev"
		for d in ${PRH_TRIXIE_BIND:-}; do
			mkdir -p "$r$d"
			mount --bind "$d" "$r$d"
		done
		if [ -n "${LISTEN_FDS:-}" ] && [ "${LISTEN_PID:-}" = $$ ]; then
			[ -z "${LISTEN_FDNAMES+set}" ] ||
			    set -- "LISTEN_FDNAMES=$LISTEN_FDNAMES" "$@"
			set -- "LISTEN_FDS=$LISTEN_FDS" "LISTEN_PID=$$" "$@"
		fi
		exec chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		    HOME=/root LANG=C.UTF-8 "$@"' sh "$dir/root" "$@"
	;;
*)
	echo "usage: $0 fetch|dir|run [qemu|build] [CMD...]" >&2
	exit 2
	;;
esac
