# SPDX-License-Identifier: GPL-2.0-or-later
# Shared shell functions of the end-to-end tests (sourced, bash).
#
# Every test prints TAP lines without numbers ("ok - ...", "not ok - ...",
# "ok - ... # SKIP reason", "# diagnostics"); check-e2e.sh numbers them.

E2E_B=${PRH_TOP_BUILDDIR:?PRH_TOP_BUILDDIR is not set}
E2E_S=${PRH_TOP_SRCDIR:?PRH_TOP_SRCDIR is not set}
E2E_CACHE=${E2E_CACHE:-$E2E_B/tests/e2e/cache}
E2E_LOGS=${E2E_LOGS:-$E2E_B/tests/e2e/logs}
E2E_DRIVER=$E2E_B/tests/e2e/e2e-driver
E2E_QEMU=${E2E_QEMU:-qemu-system-x86_64}
mkdir -p "$E2E_CACHE" "$E2E_LOGS"

E2E_PIDS=()
E2E_TMP=

pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; }
skip() { echo "ok - $1 # SKIP $2"; }
diag() { sed 's/^/# /'; }

# ok/not ok for description $1 by the exit status of the rest.
check() {
	local d=$1
	shift
	if "$@"; then pass "$d"; else fail "$d"; fi
}

# Kill every process this test started and remove its files.
e2e_cleanup() {
	local p
	for p in "${E2E_PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
	for p in "${E2E_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	E2E_PIDS=()
	[ -n "$E2E_TMP" ] && rm -rf "$E2E_TMP"
	return 0
}

# A private temporary directory in $E2E_TMP, removed at exit.
e2e_tmpdir() {
	E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/e2e.XXXXXX")
	trap e2e_cleanup EXIT
	trap 'exit 1' INT TERM
}

# Begin test script $1 (its results are $E2E_LOGS/$1.*): skip it as
# description $2 and exit when $3 says why it cannot run; else make the
# temporary directory and remove the old results.
e2e_begin() {
	if [ -n "$3" ]; then
		skip "$2" "$3"
		exit 0
	fi
	e2e_tmpdir
	rm -f "$E2E_LOGS/$1".*
}

# The reason the guest cannot be built or booted, or nothing.
e2e_guest_missing() {
	command -v "$E2E_QEMU" >/dev/null || { echo "$E2E_QEMU not installed"; return; }
	command -v timeout >/dev/null || { echo "timeout(1) not installed"; return; }
	[ -x "$E2E_DRIVER" ] || { echo "e2e-driver not built"; return; }
	[ -x "$E2E_B/qemu-pr-helper" ] || { echo "qemu-pr-helper not built"; return; }
	[ -x "$E2E_B/qemu-pr-client" ] || { echo "qemu-pr-client not built"; return; }
	local log=$E2E_LOGS/guest-build.log rc=0
	"$E2E_S/tests/e2e/guest-build.sh" base "$E2E_CACHE" > "$log" 2>&1 ||
	    rc=$?
	if [ $rc -eq 77 ]; then
		sed -n 's/^SKIP: //p' "$log" | tail -1
	elif [ $rc -ne 0 ]; then
		echo "guest build failed: $(tail -1 "$log")"
	fi
}

# QEMU 10.0's qemu-system-x86_64 (the wrapper contrib/qemu10.sh wrote):
# its path, or the reason it is missing and status 1.
e2e_qemu10() {
	local d
	d=$("$E2E_S/contrib/qemu10.sh" dir)
	if [ -x "$d/qemu-system-x86_64" ] && [ -f "$d/VERSION" ]; then
		echo "$d/qemu-system-x86_64"
	else
		echo "QEMU 10.0 is not fetched (contrib/qemu10.sh fetch)"
		return 1
	fi
}

# The Debian 13 root holding QEMU 11.1 (contrib/trixie-root.sh, flavour
# qemu; the tests that need it never make it): its directory (the root is
# DIR/root, QEMU's version in DIR/VERSION), or the reason it is missing
# and status 1.
e2e_qemu11() {
	local d
	d=$("$E2E_S/contrib/trixie-root.sh" dir qemu)
	if [ -x "$d/root/usr/bin/qemu-system-x86_64" ] &&
	    [ -x "$d/root/usr/bin/qemu-pr-helper" ] &&
	    grep -q '^QEMU emulator version 11\.1\.' "$d/VERSION" 2>/dev/null; then
		echo "$d"
	else
		echo "QEMU 11.1 is not in a Debian 13 root (contrib/trixie-root.sh fetch qemu)"
		return 1
	fi
}

# Write DIR $2/qemu-system-x86_64: QEMU 11.1 of the Debian 13 root in
# DIR $1 (e2e_qemu11) run from the host, without chroot (a user such as
# libvirt-qemu cannot chroot), through the root's dynamic loader and
# libraries.  QEMU takes the directory of /proc/self/exe, here the loader,
# for its own: the loader is copied into $2, and $2/qemu-bundle (QEMU's
# relocation of its install paths, a link to the root) makes QEMU find
# the root's modules, firmware (seabios too) and data, and never the
# host's: a module of the host's QEMU aborts 11.1 ("Only modules from the
# same build can be loaded").  Everything in $2 is readable by all.
e2e_qemu11_wrapper() {
	local root=$1/root dir=$2
	mkdir -p "$dir"
	cp -L "$root/usr/lib64/ld-linux-x86-64.so.2" "$dir/" &&
	    ln -sfn "$root" "$dir/qemu-bundle" || return 1
	cat > "$dir/qemu-system-x86_64" <<-EOF
	#!/bin/sh
	# QEMU $(sed 's/^QEMU emulator version //' "$1/VERSION") in $root
	exec '$dir/ld-linux-x86-64.so.2' \\
	    --library-path '$root/usr/lib/x86_64-linux-gnu' \\
	    '$root/usr/bin/qemu-system-x86_64' "\$@"
	EOF
	chmod -R a+rX "$dir" && chmod 755 "$dir/qemu-system-x86_64"
}

# Build initrd $1 for mode files: the binaries under test, init and data,
# and the SRC:DEST pairs $2... if any.
e2e_initrd() {
	local out=$1
	shift
	"$E2E_S/tests/e2e/guest-build.sh" initrd "$E2E_CACHE" "$out" "$@" \
	    "$E2E_B/qemu-pr-helper:/usr/bin/qemu-pr-helper" \
	    "$E2E_B/qemu-pr-client:/usr/bin/qemu-pr-client" \
	    "$E2E_DRIVER:/usr/bin/e2e-driver" \
	    "$E2E_S/tests/e2e/guest-init.sh:/init" \
	    "$E2E_S/tests/e2e/guest-step.sh:/e2e/guest-step.sh" \
	    "$E2E_S/tests/e2e/guest-mpath.sh:/e2e/guest-mpath.sh" \
	    "$E2E_S/tests/e2e/guest-policy.sh:/e2e/guest-policy.sh" \
	    "$E2E_S/tests/e2e/scenario-multi.txt:/e2e/scenario-multi.txt" \
	    "$E2E_S/tests/e2e/scenario-table.txt:/e2e/scenario-table.txt"
}

# Boot the guest in the background: $1 prefix of the .console/.results
# files, $2 timeout in seconds, $3 extra kernel arguments, the rest extra
# QEMU arguments.  The pid goes to E2E_PIDS and E2E_GUEST_PID.
e2e_boot_bg() {
	local pfx=$1 t=$2 append=$3
	shift 3
	timeout -k 5 "$t" "$E2E_QEMU" -accel tcg -cpu max -machine q35 \
	    -m 512 -smp 1 -display none -nodefaults -no-reboot \
	    -kernel "$E2E_CACHE/guest/vmlinux" -initrd "$E2E_TMP/initrd" \
	    -append "console=ttyS0 panic=-1 quiet loglevel=4 $append" \
	    -serial "file:$pfx.console" -serial "file:$pfx.results" \
	    "$@" > "$pfx.qemu.log" 2>&1 &
	E2E_GUEST_PID=$!
	E2E_PIDS+=("$E2E_GUEST_PID")
}

# Strip the carriage returns the guest's serial line adds.
e2e_crlf() {
	[ -f "$1" ] && sed -i 's/\r$//' "$1"
	return 0
}

# Boot the guest and wait for it: exit status of QEMU (124 on timeout).
e2e_boot() {
	local rc=0
	e2e_boot_bg "$@"
	wait "$E2E_GUEST_PID" || rc=$?
	e2e_crlf "$1.results"
	return $rc
}

# Boot the guest built in $E2E_TMP/initrd with kernel arguments $3 for
# at most $2 s, results in $1.*, QEMU's exit status in E2E_RC; check that
# it ran to the end: a failure line for "$4 ran to the end" (with the end
# of the console) and status 1 otherwise.
e2e_boot_to_end() {
	E2E_RC=0
	e2e_boot "$1" "$2" "$3" || E2E_RC=$?
	if ! grep -q '^E2E-GUEST-END' "$1.results" 2>/dev/null; then
		fail "$4 ran to the end (QEMU exit $E2E_RC)"
		tail -n 30 "$1.console" "$1.qemu.log" 2>/dev/null | diag
		return 1
	fi
}

# Build the initramfs (extra SRC:DEST pairs $4...), boot the guest with
# kernel arguments $3 for at most $2 s, results in $1.*, and check that
# it ran to the end; a failure line (with the build log or the end of
# the console) and status 1 otherwise.
e2e_run_guest() {
	local res=$1 t=$2 append=$3
	shift 3
	if ! e2e_initrd "$E2E_TMP/initrd" "$@" > "$res.build.log" 2>&1; then
		fail "build the test initramfs for $append"
		diag < "$res.build.log"
		return 1
	fi
	e2e_boot_to_end "$res" "$t" "$append" "guest ($append)"
}

# The guest's E2E-CHECK (and E2E-SKIP) lines of results file $1 as TAP
# lines, E2E-DIAG and the lines matching the extended regex $2 (if any)
# as diagnostics; a failure when there was no check.
e2e_checks() {
	local res=$1 extra=${2:-} n=0 line
	while IFS= read -r line; do
		case $line in
		"E2E-CHECK ok - "*) pass "${line#E2E-CHECK ok - }" ;;
		"E2E-CHECK FAIL - "*) fail "${line#E2E-CHECK FAIL - }" ;;
		"E2E-SKIP "*) skip "${line#E2E-SKIP }" "${line#*: }" ;;
		"E2E-DIAG "*) echo "# $line"; continue ;;
		*) [ -n "$extra" ] && [[ $line =~ $extra ]] && echo "# $line"
		   continue ;;
		esac
		n=$((n + 1))
	done < "$res.results"
	[ $n -gt 0 ] || { fail "the guest reported checks"; tail -n 30 "$res.console" | diag; }
}

# --- Interactive guests and helpers on the host -------------------------
# A session is a guest whose second serial port is a pipe pair
# $E2E_TMP/NAME.ctl.in/.out: the test reads its result lines as they come
# (into PFX.results) and answers its E2E-WAIT lines.

declare -A E2E_SOUT E2E_SIN E2E_SPID E2E_SPFX E2E_SBUF

# Make the control pipes of session $1 (prefix $2), before its QEMU starts;
# QEMU's argument is -serial pipe:$E2E_TMP/$1.ctl.
e2e_session_pipes() {
	local ctl=$E2E_TMP/$1.ctl
	rm -f "$2".* "$ctl".*
	mkfifo "$ctl.in" "$ctl.out"
}

# Attach session $1 (prefix $2) to its QEMU, pid $3, started on the pipes.
e2e_session_attach() {
	local n=$1 pfx=$2 o i ctl=$E2E_TMP/$1.ctl
	E2E_SPID[$n]=$3
	E2E_SPFX[$n]=$pfx
	E2E_SBUF[$n]=
	exec {o}<>"$ctl.out" {i}<>"$ctl.in"
	E2E_SOUT[$n]=$o
	E2E_SIN[$n]=$i
	: > "$pfx.results"
}

# Start session $1: prefix $2, timeout $3 s, kernel arguments $4, the rest
# QEMU arguments; the command runs under the words of E2E_WRAP (an array).
e2e_session_start() {
	local n=$1 pfx=$2 t=$3 append=$4
	shift 4
	e2e_session_pipes "$n" "$pfx"
	timeout -k 5 "$t" "${E2E_WRAP[@]}" "$E2E_QEMU" -accel tcg -cpu max \
	    -machine q35 -m 512 -smp 1 -display none -nodefaults -no-reboot \
	    -kernel "$E2E_CACHE/guest/vmlinux" -initrd "$E2E_TMP/initrd" \
	    -append "console=ttyS0 panic=-1 quiet loglevel=4 $append" \
	    -serial "file:$pfx.console" -serial "pipe:$E2E_TMP/$n.ctl" \
	    "$@" > "$pfx.qemu.log" 2>&1 &
	E2E_PIDS+=($!)
	e2e_session_attach "$n" "$pfx" $!
}

# Read session $1's lines into its results until one matches the glob $2;
# at most $3 s.  0 when found, 1 when QEMU ended or time ran out first.
e2e_session_until() {
	local n=$1 pat=$2 end=$((SECONDS + $3)) line fd=${E2E_SOUT[$1]}
	while [ $SECONDS -lt $end ]; do
		if IFS= read -r -t 1 -u "$fd" line; then
			line=${E2E_SBUF[$n]}$line
			E2E_SBUF[$n]=
			line=${line%$'\r'}
			echo "$line" >> "${E2E_SPFX[$n]}.results"
			# shellcheck disable=SC2053
			[[ $line == $pat ]] && return 0
			continue
		fi
		E2E_SBUF[$n]+=$line
		kill -0 "${E2E_SPID[$n]}" 2>/dev/null || break
	done
	# QEMU is gone (or late): keep what it wrote last
	while IFS= read -r -t 0.2 -u "$fd" line; do
		echo "${line%$'\r'}" >> "${E2E_SPFX[$n]}.results"
		[[ ${line%$'\r'} == $pat ]] && return 0
	done
	return 1
}

# Wait (120 s at most) until session $1's guest reaches its E2E-WAIT;
# when it does not, fail as $2, end the session and return 1.
e2e_session_wait() {
	e2e_session_until "$1" 'E2E-WAIT' 120 && return 0
	fail "$2"
	e2e_session_end "$1"
	return 1
}

# Answer session $1's E2E-WAIT with the line $2.
e2e_session_send() {
	echo "$2" >&"${E2E_SIN[$1]}"
}

# Close session $1's pipes.
e2e_session_close() {
	exec {E2E_SOUT[$1]}>&- {E2E_SIN[$1]}>&-
}

# Wait for session $1's guest to end: QEMU's exit status (124: timeout).
e2e_session_end() {
	local n=$1 rc=0
	e2e_session_until "$n" 'E2E-GUEST-END*' 600 || true
	wait "${E2E_SPID[$n]}" || rc=$?
	e2e_session_close "$n"
	return $rc
}

declare -A E2E_HPID E2E_HJOB

# Start helper $1 (our qemu-pr-helper under lunsim as initiator $2) on
# socket $3, and return once it is ready (READY=1); further arguments are
# lunsim options (--port PATH=NAME), then, after a "--", the helper's
# options.  Its stderr, with one lunsim line per command, is appended to
# $E2E_TMP/$1.log.  0 or 1.
e2e_helper_start() {
	local n=$1 ini=$2 sock=$3 f=$E2E_TMP/$1.pidfifo pid= lo=()
	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		lo+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	rm -f "$f" && mkfifo "$f"
	"$E2E_DRIVER" start --notify --wait -- "$E2E_B/lunsim" --debug \
	    --initiator "$ini" "${lo[@]}" -- "$E2E_B/qemu-pr-helper" \
	    -k "$sock" "$@" > "$f" 2>> "$E2E_TMP/$n.log" &
	E2E_HJOB[$n]=$!
	E2E_PIDS+=($!)
	read -r -t 30 pid < "$f" || true
	rm -f "$f"
	E2E_HPID[$n]=$pid
	[ -n "$pid" ]
}

# Start helper $1 like e2e_helper_start, under systemd-socket-activate
# (the helper is executed on the first connection).  0 or 1.
e2e_helper_start_activated() {
	local n=$1 f=$E2E_TMP/$1.errfifo line
	rm -f "$f" "$3" && mkfifo "$f"
	systemd-socket-activate -l "$3" "$E2E_B/lunsim" --debug \
	    --initiator "$2" -- "$E2E_B/qemu-pr-helper" 2> "$f" &
	E2E_HJOB[$n]=$!
	E2E_HPID[$n]=$!
	E2E_PIDS+=($!)
	exec {fd}< "$f"
	rm -f "$f"
	while IFS= read -r -t 30 -u $fd line; do
		echo "$line" >> "$E2E_TMP/$n.log"
		[[ $line == Listening* ]] && break
	done
	# the rest of its stderr keeps going to the log
	cat <&$fd >> "$E2E_TMP/$n.log" &
	E2E_PIDS+=($!)
	exec {fd}<&-
	[[ $line == Listening* ]]
}

# Stop helper $1 with SIGTERM and wait for it: its exit status.
e2e_helper_stop() {
	local rc=0
	kill -TERM "${E2E_HPID[$1]}" 2>/dev/null
	wait "${E2E_HJOB[$1]}" || rc=$?
	return $rc
}

# Check the E2E-STEP lines of results file $1 against "WORD RC GLOB"
# expectations $3...: ok/not ok with description $2.
check_steps() {
	local f=$1 d=$2 i=0 bad= word rc glob line
	shift 2
	mapfile -t got < <(grep '^E2E-STEP ' "$f")
	for e in "$@"; do
		read -r word rc glob <<< "$e"
		line=${got[$i]:-<missing>}
		i=$((i + 1))
		# shellcheck disable=SC2053
		if [[ $line != "E2E-STEP step=$word rc=$rc out="* ]] ||
		    [[ $line != *$glob* ]]; then
			bad+="step $i: want '$e', got '$line'"$'\n'
		fi
	done
	[ ${#got[@]} -ne $# ] && bad+="${#got[@]} steps ran, $# expected"$'\n'
	if [ -z "$bad" ]; then
		pass "$d: $# sg_persist steps as expected"
	else
		fail "$d"
		printf '%s' "$bad" | diag
	fi
}

# How many PR commands (CDB 5E/5F) initiator $2 ran, per lunsim log $1.
pr_count() {
	grep -cE "lunsim\[[0-9]+\] $2: cdb 5[ef]/" "$1" 2>/dev/null
}

# Does our helper know socket activation (LISTEN_FDS)?
e2e_helper_activatable() {
	grep -aq 'sd_listen_fds\|LISTEN_FDS' "$E2E_B/qemu-pr-helper"
}
