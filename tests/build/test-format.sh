#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Every C file of the project is in the one format .clang-format defines
# (TAP).  Fix a failure with: clang-format -i FILE.
srcdir=${PRH_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cf=${CLANG_FORMAT:-clang-format}
echo "1..1"
if ! command -v "$cf" >/dev/null 2>&1; then
	echo "ok 1 - # SKIP $cf is not installed (Debian: clang-format)"
	exit 0
fi
files=$(find "$srcdir/src" "$srcdir/include" "$srcdir/tests" \
    -name '*.[ch]' -type f | sort)
out=$(cd "$srcdir" && "$cf" --dry-run --Werror $files 2>&1)
if [ $? -eq 0 ] && [ -z "$out" ]; then
	echo "ok 1 - $(echo "$files" | wc -l) C files are formatted"
else
	echo "not ok 1 - clang-format would change:"
	echo "$out" | grep -E '^[^ ].*error:' | sed 's/^/#   /' | head -n 40
fi
