#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The long options listed by --help and by the manual's OPTIONS section
# must be the same set, for each program (TAP output).  With arguments,
# check those "PROGRAM PAGE SECTION" triples instead of the project's own
# (paths; pages gzip-compressed or not), e.g. what a package installed.
srcdir=${PRH_TOP_SRCDIR:-.}
builddir=${PRH_TOP_BUILDDIR:-.}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# Long options in a --help text: option lines start with blanks and a dash.
help_opts() {
	"$1" --help | grep -E '^ +-' | grep -oE -- '--[a-z][a-z-]*' | sort -u
}

# Long options in the tags of the manual's OPTIONS (or DESCRIPTION) list:
# the lines of the section that start with a dash at the section's own
# indentation (5 columns with groff 1.22, 7 with 1.23), not deeper.
man_opts() {
	gzip -dcf "$1" | groff -mandoc -Tascii -P-cbou 2>/dev/null |
	    awk -v sec="$2" '$0 == sec {on = 1; next} /^[A-Z][A-Z ]+$/ {on = 0}
		on && /^ +-/ {
			i = match($0, /[^ ]/)
			if (min == "" || i < min) min = i
			tag[++n] = $0; ind[n] = i
		}
		END { for (k = 1; k <= n; k++) if (ind[k] == min) print tag[k] }' |
	    grep -oE -- '--[a-z][a-z-]*' | sort -u
}

n=0
check() {	# program page section
	n=$((n + 1))
	help_opts "$1" > "$tmp/help" || true
	man_opts "$2" "$3" > "$tmp/man"
	if [ -s "$tmp/help" ] && cmp -s "$tmp/help" "$tmp/man"; then
		echo "ok $n - ${1#"$builddir/"}: --help and ${2#"$srcdir/"} list the same $(wc -l < "$tmp/help") long options"
	else
		echo "not ok $n - ${1#"$builddir/"}: --help and ${2#"$srcdir/"} differ"
		diff "$tmp/help" "$tmp/man" | sed 's/^/# /'
	fi
}

if [ $# -eq 0 ]; then
	set -- "$builddir/qemu-pr-helper" "$srcdir/man/qemu-pr-helper.8" OPTIONS \
	    "$builddir/qemu-pr-client" "$srcdir/man/qemu-pr-client.1" DESCRIPTION \
	    "$builddir/lunsim" "$srcdir/man/lunsim.1" OPTIONS \
	    "$builddir/qemu-pr-bench" "$srcdir/man/qemu-pr-bench.1" OPTIONS
fi
if [ $(($# % 3)) -ne 0 ]; then
	echo "usage: $0 [PROGRAM PAGE SECTION]..." >&2
	exit 2
fi
echo "1..$(($# / 3))"
while [ $# -gt 0 ]; do
	check "$1" "$2" "$3"
	shift 3
done
