# SPDX-License-Identifier: GPL-2.0-or-later
# The upstream names of the helper, its manual page and its units, as this
# package installs them (debian/rules): /usr/sbin/qemu-prh, qemu-prh(8),
# qemu-prh.socket and qemu-prh.service.  The socket keeps its path.
s/^\.Dt QEMU-PR-HELPER 8$/.Dt QEMU-PRH 8/
s/^\.Nm qemu-pr-helper$/.Nm qemu-prh/
s/^\.Xr qemu-pr-helper 8/.Xr qemu-prh 8/
s/qemu-pr-helper(8)/qemu-prh(8)/g
s/qemu-pr-helper\.\(socket\|service\)/qemu-prh.\1/g
s/^qemu-pr-helper /qemu-prh /
s/ -- qemu-pr-helper / -- qemu-prh /
s|^ExecStart=.*/qemu-pr-helper$|ExecStart=/usr/sbin/qemu-prh|
