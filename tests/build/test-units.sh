#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The shipped service unit never has the helper killed with a command in
# flight (TAP): on SIGTERM the helper answers what is out, giving a device
# the default --sg-timeout plus its drain slack (src/config.c, src/server.c)
# before it answers the rest ABORTED COMMAND, so TimeoutStopSec must be at
# least that; a WatchdogSec needs Type=notify (the helper pings from its
# event loop, which no SG_IO blocks: tests/integration/test_process_model.c
# checks the pings go on while a command hangs).
srcdir=${PRH_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$srcdir" || exit 1
unit=contrib/systemd/qemu-pr-helper.service.in
echo "1..3"

# The value of key $1 in the unit's [Service] section (the last one).
key() {
	sed -n "/^\[Service\]/,/^\[/s/^$1=//p" "$unit" | tail -n 1
}

# A systemd time span ("40s", "1min 30s", "40") in whole seconds (rounded
# up); empty when it cannot be read.
seconds() {
	echo "$1" | awk '{
		s = $0; t = 0; ok = 1
		while (s != "") {
			if (!match(s, /^ *[0-9]+ *[a-z]*/)) { ok = 0; break }
			w = substr(s, RSTART, RLENGTH); s = substr(s, RLENGTH + 1)
			n = w; gsub(/[^0-9]/, "", n); u = w; gsub(/[0-9 ]/, "", u)
			if (u == "" || u == "s" || u == "sec") t += n
			else if (u == "ms" || u == "msec") t += n / 1000
			else if (u == "us" || u == "usec") t += n / 1000000
			else if (u == "min" || u == "m") t += n * 60
			else if (u == "h" || u == "hr") t += n * 3600
			else { ok = 0; break }
		}
		if (ok) printf "%d\n", (t == int(t)) ? t : int(t) + 1
	}'
}

sg=$(sed -n 's/^#define DEFAULT_SG_TIMEOUT[[:space:]]*\([0-9]*\).*/\1/p' src/config.c)
slack=$(sed -n 's/^#define DRAIN_SLACK_S[[:space:]]*\([0-9]*\).*/\1/p' src/server.c)
stop=$(key TimeoutStopSec)
stop_s=$(seconds "$stop")
if [ -z "$sg" ] || [ -z "$slack" ]; then
	echo "not ok 1 - the default --sg-timeout and the drain slack are found in src/config.c and src/server.c"
elif [ -n "$stop_s" ] && [ "$stop_s" -ge $((sg + slack)) ]; then
	echo "ok 1 - TimeoutStopSec=$stop outlasts the drain: the default --sg-timeout ($sg s) + $slack s"
else
	echo "not ok 1 - TimeoutStopSec=${stop:-(unset)} must be at least the default --sg-timeout ($sg s) + $slack s"
fi

wd=$(key WatchdogSec)
type=$(key Type)
if [ -z "$wd" ] || [ "$(seconds "$wd")" = 0 ]; then
	echo "ok 2 - no WatchdogSec # SKIP the unit sets no watchdog"
elif [ "$type" = notify ] || [ "$type" = notify-reload ]; then
	echo "ok 2 - WatchdogSec=$wd with Type=$type: the helper pings"
else
	echo "not ok 2 - WatchdogSec=$wd needs Type=notify (Type=${type:-simple})"
fi

# The helper sends the pings itself, on WATCHDOG_USEC.
if [ -z "$wd" ] || grep -q '"WATCHDOG=1"' src/status.c; then
	echo "ok 3 - the helper sends WATCHDOG=1 (src/status.c)"
else
	echo "not ok 3 - WatchdogSec=$wd but the helper sends no WATCHDOG=1"
fi
