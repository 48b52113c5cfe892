#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Run every end-to-end test (tests/e2e/t-*.sh, or those named in $E2E_TESTS)
# and print one TAP stream: the tests' lines numbered, the plan at the end
# and a summary line "N passed, N failed, N skipped".  Exit 1 if any failed.
set -u
: "${PRH_TOP_BUILDDIR:?}" "${PRH_TOP_SRCDIR:?}"
dir=$PRH_TOP_SRCDIR/tests/e2e
tests=${E2E_TESTS:-$(cd "$dir" && ls t-*.sh | sort)}
n=0 passed=0 failed=0 skipped=0

echo "TAP version 13"
for t in $tests; do
	t=${t##*/}
	echo "# $t"
	start=$(date +%s)
	# a test that dies early must still show up as a failure
	got=0
	while IFS= read -r line; do
		case $line in
		"ok - "*"# SKIP"*)
			n=$((n + 1)) skipped=$((skipped + 1)) got=1
			echo "ok $n ${line#ok }" ;;
		"ok - "*)
			n=$((n + 1)) passed=$((passed + 1)) got=1
			echo "ok $n ${line#ok }" ;;
		"not ok - "*)
			n=$((n + 1)) failed=$((failed + 1)) got=1
			echo "not ok $n ${line#not ok }" ;;
		*)	echo "# ${line#\# }" ;;
		esac
	done < <(bash "$dir/$t" 2>&1; echo "# exit status $?")
	if [ $got -eq 0 ]; then
		n=$((n + 1)) failed=$((failed + 1))
		echo "not ok $n - $t reported no result"
	fi
	echo "# $t took $(($(date +%s) - start)) s"
done
echo "1..$n"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
