#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# One sg_persist step on the passthrough disk of the test guest, named by a
# word: rk (read keys), rr (read reservation), reg-NEW, regx-OLD-NEW,
# regi-NEW (REGISTER AND IGNORE EXISTING KEY), res-KEY-TYPE, rel-KEY-TYPE,
# clr-KEY, pre-KEY-VICTIM-TYPE; TYPE is the PR type number; wr writes the
# first 4 KiB (O_DIRECT).  A word may end in
# @LUN (the disk the caller chose).  Prints "E2E-STEP step=WORD rc=RC
# out='LINE|LINE...'".
dev=$1 step=$2
IFS=- read -r verb a b c <<END
${step%@*}
END
case $verb in
rk)	set -- -n -k ;;
rr)	set -- -n -r ;;
reg)	set -- -n --out --register --param-sark="$a" ;;
regx)	set -- -n --out --register --param-rk="$a" --param-sark="$b" ;;
regi)	set -- -n --out --register-ignore --param-sark="$a" ;;
res)	set -- -n --out --reserve --param-rk="$a" --prout-type="$b" ;;
rel)	set -- -n --out --release --param-rk="$a" --prout-type="$b" ;;
clr)	set -- -n --out --clear --param-rk="$a" ;;
pre)	set -- -n --out --preempt --param-rk="$a" --param-sark="$b" \
	    --prout-type="$c" ;;
wr)	;;
*)	echo "E2E-STEP step=$step rc=-1 out='unknown step'"; exit 0 ;;
esac
if [ "$verb" = wr ]; then
	txt=$(dd if=/dev/zero of="$dev" bs=4096 count=1 oflag=direct 2>&1)
else
	txt=$(sg_persist "$@" "$dev" 2>&1)
fi
rc=$?
echo "E2E-STEP step=$step rc=$rc out='$(echo "$txt" | tr '\n' '|')'"
