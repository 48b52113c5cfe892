#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Run libFuzzer targets side by side for a fixed time.
# Usage: run-fuzz.sh SECONDS CORPUS_ROOT WORKDIR BINARY...
# Each BINARY (fuzz_NAME or fuzz_NAME_msan) starts from CORPUS_ROOT/fuzz_NAME
# (read-only) and keeps what it finds in WORKDIR/NAME/corpus; a crashing
# input is saved in WORKDIR/NAME/crash/.  Prints one PASS/FAIL line per
# target, then "N passed, N failed, 0 skipped"; exits 1 if any failed.
set -u
secs=$1 corpus_root=$2 work=$3
shift 3

# Largest input worth trying for a target.
max_len() {
	case $1 in
	fuzz_proto*) echo 128 ;;
	fuzz_result*) echo 160 ;;
	fuzz_mpath*) echo 8194 ;;
	fuzz_kmpath*) echo 8194 ;;
	fuzz_escape*) echo 1024 ;;
	fuzz_prpolicy*) echo 8196 ;;
	fuzz_keyguard*) echo 2048 ;;
	*) echo 4096 ;;
	esac
}

for bin in "$@"; do
	name=$(basename "$bin")
	seeds=$corpus_root/${name%_msan}
	mkdir -p "$work/$name/corpus" "$work/$name/crash"
	UBSAN_OPTIONS=print_stacktrace=1 "$bin" -max_total_time="$secs" \
	    -timeout=25 -max_len="$(max_len "$name")" -print_final_stats=1 \
	    -artifact_prefix="$work/$name/crash/" \
	    "$work/$name/corpus" "$seeds" >"$work/$name/log" 2>&1 &
	echo $! >"$work/$name/pid"
done

passed=0 failed=0
for bin in "$@"; do
	name=$(basename "$bin")
	rc=0
	wait "$(cat "$work/$name/pid")" || rc=$?
	log=$work/$name/log
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | sed 's/cov: //')
	crash=$(ls "$work/$name/crash" 2>/dev/null | head -n 1)
	if [ "$rc" -eq 0 ] && [ -z "$crash" ]; then
		echo "PASS: $name: ${runs:-?} runs in ${secs} s, coverage ${cov:-?}"
		passed=$((passed + 1))
	else
		echo "FAIL: $name: exit $rc${crash:+, input $work/$name/crash/$crash}"
		tail -n 40 "$log" | sed 's/^/    /'
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
