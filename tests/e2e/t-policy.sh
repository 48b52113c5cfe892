#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The device policy on a real kernel: one TCG guest boot, a LIO fileio LU
# through one tcm_loop port, a partition of it made in the guest (an MBR
# written with dd, the table re-read).  Our helper, inside the guest,
# answers a REGISTER and a READ KEYS on the partition ABORTED COMMAND
# 00/06 without SG_IO (the LU's PR generation, read with sg_persist on the
# whole disk, is unchanged), logs the refusal once per connection, and
# serves the whole disk and the sg node.  QEMU's helper, for comparison,
# registers through the partition on the whole LU.  The guest PR policy
# on a second LU with two tcm_loop ports: REGISTER with SPEC_I_PT naming
# the other port's initiator, with ALL_TG_PT, and REGISTER AND MOVE
# answered ILLEGAL REQUEST and unseen by the LU (its READ FULL STATUS,
# read with sg_persist, unchanged), REPORT CAPABILITIES without SIP_C and
# ATP_C; with --guest-pr-policy=off the foreign initiator's registration
# appears in READ FULL STATUS.  guest-policy.sh has the steps.
. "$PRH_TOP_SRCDIR/tests/e2e/lib.sh"

e2e_begin policy "device policy in the LIO guest" "$(e2e_guest_missing)"
res=$E2E_LOGS/policy
e2e_run_guest "$res" 180 "e2e=policy" || exit 0
e2e_checks "$res"
exit 0
