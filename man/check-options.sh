#!/bin/sh
# The long options listed by --help and by the manual's OPTIONS section
# must be the same set, for each program (TAP output).
srcdir=${PRH_TOP_SRCDIR:-.}
builddir=${PRH_TOP_BUILDDIR:-.}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# Long options in a --help text: option lines start with blanks and a dash.
help_opts() {
	"$1" --help | grep -E '^ +-' | grep -oE -- '--[a-z][a-z-]*' | sort -u
}

# Long options in the tags of the manual's OPTIONS (or DESCRIPTION) list.
man_opts() {
	groff -mandoc -Tascii -P-cbou "$1" 2>/dev/null |
	    awk -v sec="$2" '$0 == sec {on = 1; next} /^[A-Z][A-Z ]+$/ {on = 0} on' |
	    grep -E '^     -' | grep -oE -- '--[a-z][a-z-]*' | sort -u
}

n=0
check() {	# program page section
	n=$((n + 1))
	help_opts "$builddir/$1" > "$tmp/help" || true
	man_opts "$srcdir/$2" "$3" > "$tmp/man"
	if [ -s "$tmp/help" ] && cmp -s "$tmp/help" "$tmp/man"; then
		echo "ok $n - $1: --help and $2 list the same $(wc -l < "$tmp/help") long options"
	else
		echo "not ok $n - $1: --help and $2 differ"
		diff "$tmp/help" "$tmp/man" | sed 's/^/# /'
	fi
}

echo "1..2"
check qemu-pr-helper man/qemu-pr-helper.8 OPTIONS
check qemu-pr-client man/qemu-pr-client.1 DESCRIPTION
