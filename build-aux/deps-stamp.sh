#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Record which optional dependencies pkg-config finds, one "MODULE VERSION"
# line each ("MODULE none" when missing), in STAMP; the file is rewritten
# only when that changes, so its mtime marks the last change.  configure
# writes it, and the Makefile makes config.status depend on it: a build
# directory configured before libcriterion-dev (say) was installed is
# reconfigured by the next make instead of building without it.
# Usage: deps-stamp.sh PKG_CONFIG STAMP MODULE...
set -eu
pkg_config=$1 stamp=$2
shift 2
tmp=$stamp.tmp.$$
for m in "$@"; do
	v=$($pkg_config --modversion "$m" 2>/dev/null) || v=none
	echo "$m ${v:-none}"
done >"$tmp"
if cmp -s "$tmp" "$stamp" 2>/dev/null; then
	rm -f "$tmp"
else
	mv -f "$tmp" "$stamp"
fi
