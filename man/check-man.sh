#!/bin/sh
# Lint the manual pages with groff's warnings (TAP output).
srcdir=${PRH_TOP_SRCDIR:-.}
pages="man/qemu-pr-helper.8 man/qemu-pr-client.1"
n=0
echo "1..2"
for p in $pages; do
	n=$((n + 1))
	out=$(groff -mandoc -ww -z "$srcdir/$p" 2>&1)
	if [ $? -eq 0 ] && [ -z "$out" ]; then
		echo "ok $n - $p lints cleanly"
	else
		echo "not ok $n - $p"
		printf '%s\n' "$out" | sed 's/^/# /'
	fi
done
