# SPDX-License-Identifier: GPL-2.0-or-later
# Test counts of one step, for contrib/check.sh, tsan.sh and valgrind.sh
# (sourced, POSIX sh).
#
# prh_counts NAME FILE RC reads the counts of a finished step from FILE,
# automake's summary ("# PASS: N" ...; the last one if make printed
# several) or else its last "N passed, N failed, N skipped" line, into
# p, f and s.  A step that exited non-zero counts at least one failure.  A
# step whose output holds no counts is one failure, said in one line,
# never a shell arithmetic error.

# The last number automake's summary gives for KEY in FILE, or nothing.
prh_summary_value() {
	sed -n "s/^# $1: *\\([0-9][0-9]*\\).*/\\1/p" "$2" | tail -n 1
}

prh_counts() {
	_name=$1 _file=$2 _rc=$3
	p='' f='' s=''
	if grep -q '^# TOTAL:' "$_file" 2>/dev/null; then
		p=$(prh_summary_value PASS "$_file")
		s=$(prh_summary_value SKIP "$_file")
		_fail=$(prh_summary_value FAIL "$_file")
		_err=$(prh_summary_value ERROR "$_file")
		_xpass=$(prh_summary_value XPASS "$_file")
		if [ -n "$_fail" ] && [ -n "$_err" ] && [ -n "$_xpass" ]; then
			f=$((_fail + _err + _xpass))
		fi
	else
		_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' \
		    "$_file" 2>/dev/null | tail -n 1)
		if [ -n "$_line" ]; then
			p=$(echo "$_line" | sed 's/^\([0-9]*\) passed.*/\1/')
			f=$(echo "$_line" | sed 's/.* \([0-9]*\) failed.*/\1/')
			s=$(echo "$_line" | sed 's/.* \([0-9]*\) skipped.*/\1/')
		fi
	fi
	if [ -z "$p" ] || [ -z "$f" ] || [ -z "$s" ]; then
		echo "   FAILED: $_name printed no test counts (exit status" \
		    "$_rc; output in $_file)"
		p=${p:-0} s=${s:-0} f=1
	fi
	if [ "$_rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
}
