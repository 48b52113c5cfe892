# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by contrib/qemu10.sh and contrib/trixie-root.sh: the address of
# the Debian archive that the system's apt sources use, so that a local
# mirror or proxy keeps working and no script writes an address of its
# own.

# apt_archive SUITE: the URI of the first deb source (one-line or deb822)
# that lists SUITE (e.g. bookworm, bookworm-security); empty if none.
apt_archive() {
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk -v suite="$1" '$1 == "deb" {
			i = 2
			if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i + 1) == suite) { print $i; exit }
		}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v suite="$1" 'BEGIN { RS = "" }
		{
			uri = ""; deb = 0; found = 0
			n = split($0, line, "\n")
			for (j = 1; j <= n; j++) {
				if (line[j] ~ /^Types:/ && line[j] ~ /[ \t]deb([ \t]|$)/)
					deb = 1
				if (line[j] ~ /^Suites:/) {
					m = split(line[j], s, /[ \t]+/)
					for (k = 2; k <= m; k++)
						if (s[k] == suite)
							found = 1
				}
				if (line[j] ~ /^URIs:/) {
					split(line[j], w, /[ \t]+/); uri = w[2]
				}
			}
			if (deb && found && uri != "") { print uri; exit }
		}' "$f"
	done | head -n 1
}
