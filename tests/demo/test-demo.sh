#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The README's first command: the fencing story on a simulated LUN must
# print these answers, step by step (TAP).
set -u
out=$(PRH_DEMO_NO_BUILD=1 PRH_BUILDDIR="$PRH_TOP_BUILDDIR" \
    sh "$PRH_TOP_SRCDIR/contrib/demo.sh" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
n=0 failed=0
expect() {
	n=$((n + 1))
	if echo "$out" | grep -q -- "$1"; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}
n=$((n + 1))
if [ $rc -eq 0 ]; then echo "ok $n - demo exits 0"; else echo "not ok $n - demo exits 0 (rc $rc)"; fi
expect ' 1\. host A: register key 0xa .*-> GOOD$' "A registers"
expect ' 2\. host A: reserve.*-> GOOD$' "A reserves"
expect ' 3\. host B: register key 0xb .*-> GOOD$' "B registers"
expect ' 4\. host B: reserve.*-> RESERVATION CONFLICT$' "B's reserve conflicts"
expect ' 5\. host B: preempt.*-> GOOD$' "B preempts A"
# The unit attention 2A/05 that A's nexus is owed answers A's READ KEYS
# first; the helper sends the command again (--pr-ua-retries) and A gets
# the keys as they are now.
expect ' 6\. host A: read keys .*-> GOOD$' "A's next command is answered, not its unit attention"
expect ' 1 key(s) 0xb$' "A's key is gone"
expect ' 7\. host A: reserve again .*-> RESERVATION CONFLICT$' "A is fenced"
expect 'reserved by key 0xb, type we' "B holds the reservation"
echo "1..$n"
