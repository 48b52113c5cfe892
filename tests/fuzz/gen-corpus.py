#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write the seed corpus of the fuzz targets into tests/fuzz/corpus/.

Each seed is a small binary file in the input format its target documents
(tests/fuzz/fuzz_*.c).  Run from anywhere; existing seeds of the same name
are overwritten, others (e.g. minimised crash reproducers) are kept.
"""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

PR_IN, PR_OUT = 0x5E, 0x5F


def cdb(op, sa=0, length=0, scope_type=0):
    """A 16-byte PR CDB with the BE16 length at bytes 7..8."""
    b = bytearray(16)
    b[0], b[1], b[2] = op, sa, scope_type
    b[7:9] = struct.pack(">H", length & 0xFFFF)
    return bytes(b)


def fixed_sense(key, asc, ascq):
    """96 sense bytes: 18-byte fixed format, then zeros."""
    s = bytearray(96)
    s[0], s[2], s[7], s[12], s[13] = 0x70, key, 10, asc, ascq
    return bytes(s)


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def proto():
    def seed(c, hello=b"\0\0\0\0", status=0, size=0, sense=bytes(96)):
        return c + hello + struct.pack("<II", status, size) + sense

    write("fuzz_proto", "pr-in-read-keys",
          seed(cdb(PR_IN, 0, 0x200), status=0, size=8))
    write("fuzz_proto", "pr-out-register",
          seed(cdb(PR_OUT, 0, 24), status=2,
               sense=fixed_sense(0x0B, 0, 6)))
    write("fuzz_proto", "len-8192", seed(cdb(PR_IN, 1, 8192)))
    write("fuzz_proto", "len-8193", seed(cdb(PR_OUT, 1, 8193)))
    write("fuzz_proto", "opcode-inquiry", seed(cdb(0x12, 0, 36)))
    write("fuzz_proto", "hello-nonzero",
          seed(cdb(PR_IN), hello=b"\0\0\0\1", status=0x18))
    write("fuzz_proto", "short", cdb(PR_IN, 3, 0xFFFF)[:9])


def result():
    def seed(sel, host, driver, status, dxfer, resid, alloc, err=0,
             sense=bytes(96), garbage=0xA5):
        b = bytes([sel, garbage])
        for bit, v in ((1, host), (2, driver), (4, status)):
            b += struct.pack("<I", v) if sel & bit else bytes([v])
        b += struct.pack("<IiI", dxfer, resid, alloc) + sense
        b += struct.pack("<I", err) if sel & 0x20 else bytes([err])
        return b

    kernel = fixed_sense(0x06, 0x2A, 0x03)
    write("fuzz_result", "good-in",
          seed(0x10, 0, 0, 0, 8192, 8192 - 16, 0x200))
    write("fuzz_result", "good-in-alloc-cap",
          seed(0x00, 0, 0, 0, 8192, 0, 8))
    write("fuzz_result", "good-in-resid-negative",
          seed(0x00, 0, 0, 0, 8192, -5, 0x2000))
    write("fuzz_result", "good-in-resid-huge",
          seed(0x00, 0, 0, 0, 100, 1000, 50))
    write("fuzz_result", "good-out", seed(0x18, 0, 0, 0, 24, 0, 24))
    write("fuzz_result", "check-kernel-sense",
          seed(0x00, 0, 0, 2, 8192, 0, 0x200, sense=kernel))
    write("fuzz_result", "reservation-conflict",
          seed(0x08, 0, 0, 0x18, 24, 0, 24))
    write("fuzz_result", "driver-busy",
          seed(0x00, 0, 2, 0, 8192, 0, 0x200, sense=kernel))
    for host in (1, 2, 3, 4, 5, 8, 0x0B, 0x0C, 0x0D, 0x0E, 0x10, 0x11,
                 0x12, 0x13, 0x14):
        write("fuzz_result", "host-%02x" % host,
              seed(0x00, host, 0, 0, 8192, 0, 0x200, sense=kernel))
    write("fuzz_result", "host-wide",
          seed(0x01, 0x10000, 0, 0, 8192, 0, 0x200))
    for name, err in (("EDOM", 33), ("EBADE", 52), ("EREMOTEIO", 121),
                      ("ENODEV", 19), ("ENOMEM", 12), ("ENODATA", 61),
                      ("ENOMEDIUM", 123), ("EINVAL", 22), ("ENOSPC", 28),
                      ("ENOTTY", 25)):
        write("fuzz_result", "errno-" + name,
              seed(0x00, 0, 0, 0, 0, 0, 0, err=err))


def conn():
    def chunk(data, nfds=0, kind=0, kind2=0, pump=False):
        assert len(data) < 256
        h = nfds | (kind << 2) | (kind2 << 5) | (0x80 if pump else 0)
        return bytes([h, len(data)]) + data

    hello = chunk(b"\0\0\0\0", pump=True)
    param = bytes(8) + struct.pack(">Q", 0xA) + bytes(8)
    write("fuzz_conn", "hello-only", hello)
    write("fuzz_conn", "hello-nonzero", chunk(b"\0\0\0\1"))
    write("fuzz_conn", "pr-in-devnull",
          hello + chunk(cdb(PR_IN, 0, 0x200), 1, 0, pump=True))
    write("fuzz_conn", "pr-in-len0",
          hello + chunk(cdb(PR_IN, 1, 0), 1, 3, pump=True))
    write("fuzz_conn", "pr-out-rdonly",
          hello + chunk(cdb(PR_OUT, 0, 24), 1, 2) + chunk(param))
    write("fuzz_conn", "pr-out-rdwr",
          hello + chunk(cdb(PR_OUT, 0, 24), 1, 3, pump=True) +
          chunk(param, pump=True))
    write("fuzz_conn", "pr-out-short-param",
          hello + chunk(cdb(PR_OUT, 0, 24), 1, 1) + chunk(param[:10]))
    write("fuzz_conn", "no-fd", hello + chunk(cdb(PR_IN, 0, 0x200)))
    write("fuzz_conn", "two-fds",
          hello + chunk(cdb(PR_IN, 0, 0x200), 2, 0, 1))
    write("fuzz_conn", "bad-opcode",
          hello + chunk(cdb(0x12, 0, 36), 1, 0))
    write("fuzz_conn", "len-8193",
          hello + chunk(cdb(PR_OUT, 0, 8193), 1, 3))
    write("fuzz_conn", "split-cdb",
          hello + chunk(cdb(PR_IN, 0, 0x100)[:5], 0, pump=True) +
          chunk(cdb(PR_IN, 0, 0x100)[5:], 1, 4, pump=True))
    write("fuzz_conn", "fd-on-param",
          hello + chunk(cdb(PR_OUT, 1, 24), 1, 3) + chunk(param, 1, 0))
    write("fuzz_conn", "second-fd-mid-cdb",
          hello + chunk(cdb(PR_IN)[:8], 1, 0, pump=True) +
          chunk(cdb(PR_IN)[8:], 1, 1))
    reqs = b"".join(chunk(cdb(PR_IN, 0, 0x200), 1, k, pump=bool(k & 1))
                    for k in range(8))
    write("fuzz_conn", "each-fd-kind", hello + reqs)
    piped = (cdb(PR_IN, 0, 0x200) + cdb(PR_OUT, 0, 24) + param +
             cdb(PR_IN, 2, 8))
    write("fuzz_conn", "pipelined-one-fd",
          chunk(b"\0\0\0\0" + piped[:60], 1, 3) + chunk(piped[60:], 1, 0))
    write("fuzz_conn", "pipelined",
          hello + chunk(cdb(PR_IN, 0, 0x200), 1, 0) +
          chunk(cdb(PR_OUT, 0, 24), 1, 3) + chunk(param) +
          chunk(cdb(PR_IN, 2, 8), 1, 4))


def plist(key=0, sakey=0, flags=0, ids=b"", tidlen=None):
    """A PR OUT parameter list: keys, flags, then a transport ID list."""
    p = struct.pack(">QQ", key, sakey) + bytes(4) + bytes([flags, 0, 0, 0])
    if ids or tidlen is not None:
        p += struct.pack(">I", len(ids) if tidlen is None else tidlen)
        p += ids
    return p


def mpath():
    """fuzz_mpath: CDB byte 1, CDB byte 2, then the parameter list."""

    def fc(name=b"FCNAME88"):
        return bytes([0x00]) + bytes(7) + name + bytes(8)

    def sas(addr=b"SASADDR8"):
        return bytes([0x06]) + bytes(3) + addr + bytes(12)

    def iscsi(name, fmt=0x05):
        n = len(name) + 1
        n += -n % 4
        return bytes([fmt, 0]) + struct.pack(">H", n) + name.ljust(n, b"\0")

    write("fuzz_mpath", "register", bytes([0, 0]) + plist(0, 0x123abc))
    write("fuzz_mpath", "reserve-we-ro", bytes([1, 5]) + plist(0x123abc))
    write("fuzz_mpath", "preempt", bytes([4, 5]) + plist(0xb, 0x123abc))
    write("fuzz_mpath", "register-ignore-aptpl",
          bytes([6, 0]) + plist(0, 7, 0x01))
    write("fuzz_mpath", "register-and-move", bytes([7, 0]) + plist(1, 2))
    write("fuzz_mpath", "short", bytes([0, 0]) + bytes(20))
    write("fuzz_mpath", "spec-i-pt-fc-sas-iscsi",
          bytes([0, 0]) + plist(0, 9, 0x08, fc() + sas() +
                                iscsi(b"iqn.2003-01.org.example:a") +
                                iscsi(b"iqn.x,i,0x1", 0x45)))
    write("fuzz_mpath", "tid-list-too-long",
          bytes([0, 0]) + plist(0, 9, 0x08, fc(), tidlen=200))
    write("fuzz_mpath", "32-fc-ids", bytes([0, 0]) + plist(0, 9, 0x08, fc() * 32))
    write("fuzz_mpath", "33-fc-ids", bytes([0, 0]) + plist(0, 9, 0x08, fc() * 33))
    big = iscsi(b"iqn." + b"n" * 247)
    write("fuzz_mpath", "iscsi-252", bytes([0, 0]) + plist(0, 9, 0x08, big))
    write("fuzz_mpath", "iscsi-no-nul",
          bytes([0, 0]) + plist(0, 9, 0x08, bytes([5, 0, 0, 8]) + b"abcdefgh"))
    write("fuzz_mpath", "srp", bytes([0, 0]) + plist(0, 9, 0x08, bytes([4]) + bytes(39)))


def kmpath():
    """fuzz_kmpath: CDB byte 1, CDB byte 2, then the parameter list."""
    t = "fuzz_kmpath"
    write(t, "register", bytes([0, 0]) + plist(0, 0x123abc))
    write(t, "register-ignore-aptpl", bytes([6, 0]) + plist(0, 7, 0x01))
    write(t, "reserve-we-ro", bytes([1, 5]) + plist(0x123abc))
    write(t, "release-ea-ar", bytes([2, 8]) + plist(0x123abc))
    write(t, "clear", bytes([3, 0]) + plist(0x123abc))
    write(t, "preempt", bytes([4, 5]) + plist(0xb, 0x123abc))
    write(t, "preempt-abort-ea", bytes([5, 3]) + plist(0xb, 0x123abc))
    write(t, "preempt-type-0", bytes([4, 0]) + plist(0xb, 0x123abc))
    write(t, "reserve-type-2", bytes([1, 2]) + plist(0x123abc))
    write(t, "reserve-element-scope", bytes([1, 0x21]) + plist(0x123abc))
    write(t, "register-and-move", bytes([7, 0]) + plist(1, 2))
    write(t, "short", bytes([0, 0]) + bytes(20))
    write(t, "long", bytes([0, 0]) + plist(0, 9) + bytes(4))
    write(t, "spec-i-pt", bytes([0, 0]) + plist(0, 9, 0x08, bytes(24)))
    write(t, "all-tg-pt", bytes([0, 0]) + plist(0, 9, 0x04))
    write(t, "reserve-all-tg-pt-ignored", bytes([1, 1]) + plist(0x123abc, 0, 0x04))


def escape():
    """fuzz_escape: flags (1 label, 2 one word), LE16 size, the name."""
    def seed(name, flags=0, size=0xFFFF):
        return bytes([flags]) + struct.pack("<H", size) + name

    write("fuzz_escape", "ascii", seed(b"sdb"))
    write("fuzz_escape", "wwid-spaces",
          seed(b"t10.ATA     QEMU HARDDISK   QM00001", 2))
    write("fuzz_escape", "quote-backslash-newline",
          seed(b'naa.6001405"x\\y\n', 1))
    write("fuzz_escape", "controls", seed(bytes(range(0x20)) + b"\x7f", 1))
    write("fuzz_escape", "utf8-each-length",
          seed("\u00e9\u20ac\U0001d11e\U0010ffff".encode(), 0, 9))
    write("fuzz_escape", "c1-bidi-separators",
          seed("\u0085\u009b\u061c\u200f\u2028\u202e\u2066".encode(), 1,
               20))
    write("fuzz_escape", "invalid",
          seed(b"\x80\xc0\xaf\xe0\x80\xaf\xed\xa0\x80\xf4\x90\x80\x80"
               b"\xf5\xff\xe2\x82", 3))
    write("fuzz_escape", "cut-short", seed(b"ab\xf0\x9d\x84", 0, 7))
    write("fuzz_escape", "size-0", seed(b"sdb", 0, 0))


def prpolicy():
    """fuzz_prpolicy: selector (1 PR OUT, 2 PR IN CHECK CONDITION), CDB
    byte 1, BE16 length, then the list or the device's answer."""
    def seed(sel, sa, length, rest=b""):
        return bytes([sel, sa]) + struct.pack(">H", length) + rest

    def plist(flags, tail=b""):
        b = bytearray(24)
        b[15], b[20] = 0x42, flags
        return bytes(b) + tail

    iscsi = b"\x05\0\0\x18" + b"iqn.2026-12.test:foreign"
    write("fuzz_prpolicy", "register-spec-i-pt",
          seed(1, 0, 56, plist(0x08, struct.pack(">I", 28) + iscsi)))
    write("fuzz_prpolicy", "register-ignore-all-tg-pt",
          seed(1, 6, 24, plist(0x04)))
    write("fuzz_prpolicy", "register-aptpl", seed(1, 0, 24, plist(0x01)))
    write("fuzz_prpolicy", "register-short", seed(1, 0, 20, plist(0x0C)[:20]))
    write("fuzz_prpolicy", "register-and-move",
          seed(1, 7, 24, plist(0x0C)))
    write("fuzz_prpolicy", "reserve-flags", seed(1, 1, 24, plist(0x0C)))
    write("fuzz_prpolicy", "report-capabilities",
          seed(0, 2, 8, bytes.fromhex("00081d81ff010000")))
    write("fuzz_prpolicy", "report-capabilities-3",
          seed(0, 2, 3, bytes.fromhex("00081d")))
    write("fuzz_prpolicy", "report-capabilities-2",
          seed(0, 2, 2, bytes.fromhex("0008")))
    write("fuzz_prpolicy", "report-capabilities-check",
          seed(2, 2, 8, bytes.fromhex("00081d81ff010000")))
    write("fuzz_prpolicy", "read-keys", seed(0, 0, 8, bytes(8)))


def keyguard():
    """fuzz_keyguard: operations, each an opcode and its operands: get
    (0, peer), put (1, ref), hold (2, ref), check (3, ref, device, service
    action, flags, length, list), settle (4, command, status), forget (5,
    command)."""
    t = "fuzz_keyguard"
    vm_a, vm_b, unit_a, pid0 = 0x01, 0x05, 0x02, 0x20

    def get(peer):
        return bytes([0, peer])

    def put(ref):
        return bytes([1, ref])

    def check(ref, sa, sakey=0, key=0, lu=0, flags=0, length=24,
              unreg=False):
        lst = bytearray(plist(key, sakey))
        lst[17] = 0x02 if unreg else 0
        lst = bytes(lst[:length])
        return bytes([3, ref, lu, sa, flags, length]) + lst

    def settle(status=0, cmd=0):
        return bytes([4, cmd, status])

    def forget(cmd=0):
        return bytes([5, cmd])

    two = get(vm_a) + get(vm_b)
    write(t, "neighbour-refused",
          two + check(0, 0, 0xa1) + settle() + check(1, 6, 0xb2) +
          check(1, 0, 0) + check(1, 3) + check(1, 7) + check(1, 4, 0xa1) +
          check(1, 5, 0xa1, 0xb2) + check(1, 6, 0xb2, lu=1) + settle() +
          put(1) + put(0))
    write(t, "migration-follows",
          two + check(0, 0, 0xa1) + settle() + check(1, 6, 0xa1) +
          settle() + check(1, 4, 0xa1, 0xa1) + settle() +
          check(1, 6, 0xb2) + check(0, 0, 0, 0xa1) + settle() +
          check(1, 6, 0xb2) + settle() + put(0) + put(0))
    write(t, "racing-register",
          two + check(0, 0, 0xa1) + check(1, 6, 0xb2) + settle(2) +
          check(1, 6, 0xb2) + settle(0x18) + check(1, 6, 0xb2) +
          settle() + put(0) + put(0))
    write(t, "clear",
          two + check(0, 0, 0xa1) + settle() + check(0, 3, 0, 0xa1) +
          settle() + check(1, 6, 0xb2) + settle() + put(0) + put(0))
    write(t, "move-unreg",
          two + check(0, 0, 0xa1) + settle() + check(0, 7, 0, 0xa1) +
          settle() + check(1, 6, 0xb2) +
          check(0, 0, 0xa1) + check(0, 7, 0, 0xa1, unreg=True) + settle() +
          settle() + check(1, 6, 0xb2) + settle())
    write(t, "short-lists",
          two + check(0, 0, 0xa1) + settle() + check(1, 6, 0xa1, length=15) +
          check(1, 6, 0xa1, length=9) + check(1, 6, length=8) +
          check(1, 6, length=0) + check(1, 7, length=17) +
          check(1, 4, 0xa1, length=16) + settle() + settle())
    write(t, "pid-0-peers",
          get(pid0) + get(pid0) + get(unit_a) + check(0, 0, 0xa1) +
          settle() + check(1, 6, 0xb2) + check(2, 6, 0xb2) + put(0) +
          check(1, 6, 0xb2) + settle())
    write(t, "forget-and-hold",
          get(vm_a) + bytes([2, 0]) + get(vm_b) + check(0, 0, 0xa1) +
          forget() + put(0) + check(2, 6, 0xb2) + put(0) +
          check(1, 6, 0xb2) + settle())
    write(t, "one-bucket",
          two + check(0, 0, 0xa1, lu=0) + settle() +
          check(1, 6, 0xb2, lu=1) + settle() + check(1, 3, lu=0) +
          check(0, 3, lu=1))
    write(t, "pr-in-and-small-keys",
          two + check(0, 0, flags=0x0A) + settle() +
          check(1, 0, flags=0x01) + check(1, 6, flags=0x0A, length=12) +
          check(1, 6, flags=0x0E) + settle(3))
    # commands of one VM overlapping: settling the earlier one leaves
    # the claim the later one made
    write(t, "unregister-then-register",
          two + check(0, 0, 0xa1) + settle() + check(0, 6, 0) +
          check(0, 6, 0xa1) + settle(0, 0) + check(1, 6, 0xb2) + settle())
    write(t, "refused-then-changed",
          two + check(0, 0, 0xa1) + settle() + check(0, 6, 0xa2) +
          check(0, 6, 0xa3) + settle(2, 0) + settle() + check(1, 6, 0xa1))
    write(t, "clear-then-register",
          two + check(0, 3) + check(1, 6, 0xb2) + settle(0, 1) +
          settle(0, 0) + check(0, 6, 0xa1) + settle())


if __name__ == "__main__":
    proto()
    result()
    conn()
    mpath()
    kmpath()
    escape()
    prpolicy()
    keyguard()
