#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Lint the manual pages with groff's warnings (TAP output).  With
# arguments, lint those pages (paths, gzip-compressed or not) instead of
# the project's own, e.g. the pages a package installed.
srcdir=${PRH_TOP_SRCDIR:-.}
if [ $# -eq 0 ]; then
	set -- "$srcdir/man/qemu-pr-helper.8" "$srcdir/man/qemu-pr-client.1" \
	    "$srcdir/man/lunsim.1" "$srcdir/man/qemu-pr-bench.1"
fi
n=0
echo "1..$#"
for p in "$@"; do
	n=$((n + 1))
	out=$(gzip -dcf "$p" | groff -mandoc -ww -z 2>&1)
	if [ $? -eq 0 ] && [ -z "$out" ]; then
		echo "ok $n - ${p#"$srcdir/"} lints cleanly"
	else
		echo "not ok $n - ${p#"$srcdir/"}"
		printf '%s\n' "$out" | sed 's/^/# /'
	fi
done
