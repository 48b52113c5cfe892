#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Every source file of the project names its licence in an SPDX line
# (TAP): C, scripts, build fragments, manual pages, units and the Debian
# packaging's scripts.  Add "SPDX-License-Identifier: GPL-2.0-or-later"
# in the file's comment syntax, after a #! line if there is one.
srcdir=${PRH_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$srcdir" || exit 1
echo "1..1"
files=$(
	find src include tests contrib man \( -name corpus -prune \) -o \
	    -type f \( -name '*.[ch]' -o -name '*.sh' -o -name '*.py' \
	    -o -name '*.am' -o -name '*.supp' -o -name '*.version' \) -print
	find man contrib/systemd -type f \( -name '*.[18]' -o -name '*.in' \)
	for f in Makefile.am configure.ac .ci/run debian/rules \
	    debian/rename.sed debian/qemu-prh-select debian/qemu-prh-select.8 \
	    debian/qemu-prh.postrm debian/qemu-prh.prerm; do
		[ -f "$f" ] && echo "$f"
	done
)
missing=$(for f in $files; do
	head -n 3 "$f" | grep -q 'SPDX-License-Identifier: GPL-2.0-or-later' ||
	    echo "$f"
done)
n=$(echo "$files" | wc -l)
if [ -z "$missing" ]; then
	echo "ok 1 - $n source files carry an SPDX line"
else
	echo "not ok 1 - $(echo "$missing" | wc -l) of $n source files have no SPDX line in their first 3 lines:"
	echo "$missing" | sed 's/^/#   /' | head -n 40
fi
