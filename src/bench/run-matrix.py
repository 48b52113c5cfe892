#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The benchmark matrix behind `make bench`.

Runs qemu-pr-bench against the project's helper and, when it is installed
and we are root, against QEMU's /usr/bin/qemu-pr-helper, alternating them
in the same run on the same device files with the same CPU pinning, and
writes one table with both and their ratio (results.txt) and everything
measured (results.json) into the output directory.  In file-cross-64 a
third server takes its turns with them: the floor (src/bench/floor), a
minimal single-threaded server of the protocol, the ceiling of one CPU.

Every helper is started by this script, pinned with taskset, and stopped
again (SIGTERM, then SIGKILL); the temporary directory is removed at the
end.  Standard library only.
"""

import argparse
import contextlib
import json
import os
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

QEMU_HELPER = "/usr/bin/qemu-pr-helper"
CPU_BENCH = "0"
CPUS = {"cross": ("1", CPU_BENCH), "same": (CPU_BENCH, CPU_BENCH)}


def log(msg):
    """Progress on stderr."""
    print(msg, file=sys.stderr, flush=True)


class Helper:
    """One helper process under test, pinned, with its socket."""

    def __init__(self, kind, binary, sock, cpu, logpath, lunsim=None,
                 env=None, extra=()):
        self.kind = kind
        self.sock = sock
        argv = ["taskset", "-c", cpu]
        if lunsim is not None:
            # lunsim execs the helper: the pid stays the helper's.
            argv = [lunsim, "--initiator", "bench-" + kind, "--"] + argv
        argv += [binary, "-k", sock] + list(extra)
        self.logf = open(logpath, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.logf,
                                     stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        self.pid = self.proc.pid
        self._wait_ready()

    def _wait_ready(self, timeout=10.0):
        """Wait until the socket answers with its hello."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("%s helper exited with %s" %
                                   (self.kind, self.proc.returncode))
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(1.0)
                    s.connect(self.sock)
                    if len(s.recv(4)) == 4:
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("%s helper did not come up on %s" %
                           (self.kind, self.sock))

    def stop(self):
        """SIGTERM, then SIGKILL after 3 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.logf.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.sock)


class Matrix:
    """The whole run: tools, helpers, cells, results."""

    def __init__(self, args):
        self.args = args
        b = args.builddir
        self.bench = os.path.join(b, "qemu-pr-bench")
        self.ours = args.ours or os.path.join(b, "qemu-pr-helper")
        self.lunsim = os.path.join(b, "lunsim")
        if not (os.access(self.lunsim, os.X_OK) and
                (os.path.exists(os.path.join(b, ".libs", "lunsim.so")) or
                 os.path.exists(os.path.join(b, "lunsim.so")))):
            self.lunsim = None
        self.shim = os.path.join(b, "tests", "shim", ".libs",
                                 "sgio_shim.so")
        if not os.path.exists(self.shim):
            self.shim = None
        self.floor = os.path.join(b, "src", "bench", "floor")
        if not os.access(self.floor, os.X_OK):
            self.floor = None
        self.kinds = ["ours"]
        if (os.access(QEMU_HELPER, os.X_OK) and os.geteuid() == 0 and
                not args.no_qemu):
            self.kinds.append("qemu")
        self.out = args.out
        self.tmp = tempfile.mkdtemp(prefix="prh-bench.")
        self.logdir = os.path.join(self.out, "logs")
        self.histdir = os.path.join(self.out, "hist")
        for d in (self.logdir, self.histdir):
            os.makedirs(d, exist_ok=True)
        self.helpers = []
        self.cells = []
        self.extra = {}
        self.regfile = os.path.join(self.tmp, "regular.img")
        with open(self.regfile, "wb") as f:
            f.truncate(4096)

    # -- helpers ---------------------------------------------------------

    def start(self, kind, cpu, lun=False, env=None, tag=""):
        """Start a fresh helper of kind ('ours', 'qemu' or 'floor')."""
        binary = {"ours": self.ours, "qemu": QEMU_HELPER,
                  "floor": self.floor}[kind]
        sock = os.path.join(self.tmp, "%s%s.sock" % (kind, tag))
        h = Helper(kind, binary, sock, cpu,
                   os.path.join(self.logdir, kind + ".log"),
                   lunsim=self.lunsim if lun else None, env=env,
                   extra=shlex.split(self.args.ours_args)
                   if kind == "ours" else ())
        self.helpers.append(h)
        return h

    def stop_all(self):
        """Stop every helper still running."""
        while self.helpers:
            self.helpers.pop().stop()

    def lun(self, name, *faults):
        """A fresh simulated LUN file, with faults applied."""
        path = os.path.join(self.tmp, name)
        subprocess.run([self.lunsim, "create", path, "--size", "1M",
                        "--force"], check=True, stdout=subprocess.DEVNULL)
        if faults:
            self.fault(path, *faults)
        return path

    def run_sim_cost(self):
        """The CPU one SG_IO on a simulated LUN costs its caller
        (tests/lunsim/lunsim-cost), into extra["lunsim_cost"]:

        "zero": one thread, commands on a LUN without latency in a loop:
            {"cpu_us_per_cmd", "wall_us_per_cmd", "commands"};
        "latency": {"<L>_ms": ...} for each --latencies L: 64 threads on
            one CPU alternate blocks of commands on a LUN with the fault
            latency=L ("lun_cpu_us" per command) and blocks of commands on
            the LUN without latency each followed by a bare L ms sleep
            ("sleep_cpu_us"), medians over the rounds; "extra_cpu_us" is
            the median of the rounds' differences, what lunsim's latency
            path costs beyond the wait a device imposes; plus "threads"
            and "rounds"."""
        cost = os.path.join(self.args.builddir, "tests", "lunsim",
                            "lunsim-cost")
        if self.lunsim is None or not os.access(cost, os.X_OK):
            return
        zero = self.lun("cost0.lun")
        out = {"latency": {}}

        def run(*argv):
            r = subprocess.run([self.lunsim, "--", cost, "--cpu", "0"] +
                               list(argv), capture_output=True, text=True,
                               check=False, timeout=600)
            lines = {}
            for line in r.stdout.splitlines() if r.returncode == 0 else ():
                w = line.split()
                if len(w) >= 2 and len(w) % 2 == 0:
                    lines[w[0]] = {k: float(v) for k, v in
                                   zip(w[::2], w[1::2])}
            return lines

        z = run("--count", "20000", zero).get("commands")
        if z:
            out["zero"] = {"cpu_us_per_cmd": z["cpu_us_per_cmd"],
                           "wall_us_per_cmd": z["wall_us_per_cmd"],
                           "commands": int(z["commands"])}
        for ms in self.args.latencies:
            slow = self.lun("cost%d.lun" % ms, "latency=%d" % ms)
            v = run("--count", "0", zero, slow, str(ms)).get("latency_ms")
            if v:
                out["latency"]["%d_ms" % ms] = {
                    "lun_cpu_us": v["lun_cpu_us"],
                    "sleep_cpu_us": v["sleep_cpu_us"],
                    "extra_cpu_us": v["extra_cpu_us"],
                    "threads": int(v["threads"]),
                    "rounds": int(v["rounds"])}
        self.extra["lunsim_cost"] = out

    def fault(self, path, *words):
        """lunsim fault PATH WORDS."""
        subprocess.run([self.lunsim, "fault", path] + list(words),
                       check=True, stdout=subprocess.DEVNULL)

    # -- one run of the load generator ------------------------------------

    def bench_run(self, helper, bench_cpu, argv, hist=None):
        """Run qemu-pr-bench pinned, return its JSON."""
        cmd = ["taskset", "-c", bench_cpu, self.bench, "-k", helper.sock,
               "-p", str(helper.pid), "--json"] + argv
        if hist is not None:
            cmd += ["--hist", hist]
        t0 = cpu_ticks()
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True,
                           timeout=self.args.duration * 4 + 120)
        if p.returncode != 0 or not p.stdout.strip():
            raise RuntimeError("qemu-pr-bench failed (%d): %s" %
                               (p.returncode, p.stderr.strip()))
        r = json.loads(p.stdout)
        r["steal_pct"] = steal_pct(t0, cpu_ticks())
        return r

    def load_args(self, conns, devs, extra=()):
        """The load options every cell shares."""
        a = ["-c", str(conns), "-d", str(self.args.duration),
             "-w", str(self.args.warmup)]
        for d in devs:
            a += ["-f", d]
        return a + list(extra)

    def cell(self, name, place, conns, devs, lun=False, extra=(),
             device_label="file", reps=None, floor=False):
        """One cell: fresh helpers, reps alternating between them,
        medians, and the ratios of each repetition's pair.  With floor,
        the floor server (if built) takes its turn in each repetition
        too."""
        if self.args.only and not any(name.startswith(o)
                                      for o in self.args.only):
            return None
        helper_cpu, bench_cpu = CPUS[place]
        kinds = list(self.kinds)
        if floor and self.floor is not None:
            kinds.append("floor")
        elif floor:
            log("src/bench/floor not built: %s without the floor" % name)
        log("cell %s: %s, %d connections" % (name, place, conns))
        runs = {k: [] for k in kinds}
        hs = {k: self.start(k, helper_cpu, lun=lun) for k in kinds}
        try:
            for rep in range(reps or self.args.reps):
                order = kinds if rep % 2 == 0 else kinds[::-1]
                for k in order:
                    hist = os.path.join(self.histdir, "%s.%s.%d.txt" %
                                        (name, k, rep))
                    r = self.bench_run(hs[k], bench_cpu,
                                       self.load_args(conns, devs, extra),
                                       hist=hist)
                    r["hist_file"] = hist
                    runs[k].append(r)
        finally:
            for h in hs.values():
                h.stop()
                self.helpers.remove(h)
        c = {"name": name, "placement": place, "connections": conns,
             "device": device_label, "kinds": kinds}
        for k in kinds:
            c[k] = summarize(runs[k])
        if "qemu" in runs:
            c["paired"] = paired(runs["ours"], runs["qemu"])
        if "floor" in runs:
            c["paired_floor"] = paired(runs["ours"], runs["floor"])
        self.cells.append(c)
        return c

    # -- the scenarios -----------------------------------------------------

    def run_load_cells(self):
        """Throughput and latency cells on zero-latency devices."""
        for n in self.args.conns:
            self.cell("file-cross-%d" % n, "cross", n, [self.regfile],
                      floor=n == 64)
        for n in (1, 64):
            self.cell("file-same-%d" % n, "same", n, [self.regfile])
        if self.lunsim is None:
            log("lunsim not built: simulated-LUN cells skipped")
            return
        lun0 = self.lun("zero.lun")
        for n in self.args.lun_conns:
            self.cell("lun-cross-%d" % n, "cross", n, [lun0], lun=True,
                      device_label="lun")
        self.run_device_cells()

    def run_device_cells(self):
        """What users have: LUNs that take 1 ms and 10 ms to answer, at
        1, 64 and 256 connections, on one LUN and spread over 16."""
        for ms in self.args.latencies:
            one = [self.lun("slow%d.lun" % ms, "latency=%d" % ms)]
            many = [self.lun("slow%d-%d.lun" % (ms, i), "latency=%d" % ms)
                    for i in range(16)]
            for devs, tag in ((one, ""), (many, "x16")):
                for n in self.args.lun_conns:
                    self.cell("lun%dms%s-cross-%d" % (ms, tag, n), "cross",
                              n, devs, lun=True, reps=max(self.args.reps, 5),
                              device_label="%d lun%s, %d ms" % (
                                  len(devs), "s" if len(devs) > 1 else "",
                                  ms))

    def run_hung(self):
        """64 connections, half on a hung LUN, half on a healthy one."""
        if self.lunsim is not None:
            hung, good = self.lun("hung.lun"), self.lun("good.lun")
            devs, lun, env = [hung, good], True, None
            hang = lambda: self.fault(hung, "hang")      # noqa: E731
            unhang = lambda: self.fault(hung, "clear")   # noqa: E731
        elif self.shim is not None:
            hung = os.path.join(self.tmp, "hung.img")
            good = os.path.join(self.tmp, "good.img")
            ctl = os.path.join(self.tmp, "shim.ctl")
            for p in (hung, good):
                open(p, "wb").close()
            open(ctl, "w").close()
            devs, lun = [hung, good], False
            env = dict(os.environ, LD_PRELOAD=self.shim, PRH_SHIM_CTL=ctl)

            def write_ctl(text):
                with open(ctl + ".new", "w") as f:
                    f.write(text)
                os.rename(ctl + ".new", ctl)
            hang = lambda: write_ctl("%s hang=1\n" % hung)  # noqa: E731
            unhang = lambda: write_ctl("%s errno=25\n" % hung)  # noqa
        else:
            log("neither lunsim nor the SG_IO shim: hung-LUN cell skipped")
            return
        if self.args.only and "hung" not in self.args.only:
            return
        log("cell hung-lun: cross, 64 connections")
        res = {}
        helper_cpu, bench_cpu = CPUS["cross"]
        for k in self.kinds:
            res[k] = {"normal": [], "hung": []}
        hs = {k: self.start(k, helper_cpu, lun=lun, env=env, tag="-hung")
              for k in self.kinds}
        try:
            # The healthy LUN's throughput alone and beside the hung one
            # are measured in pairs, one right after the other, and the
            # share kept is the median of the pairs' ratios: the machine's
            # drift between pairs cancels out.
            for rep in range(max(self.args.reps, 5)):
                order = self.kinds if rep % 2 == 0 else self.kinds[::-1]
                for k in order:
                    # Normal: the healthy LUN's 32 connections alone.
                    r = self.bench_run(hs[k], bench_cpu,
                                       self.load_args(32, [good]))
                    res[k]["normal"].append(r)
                    hang()
                    try:
                        r = self.bench_run(hs[k], bench_cpu,
                                           self.load_args(64, devs) +
                                           ["--timeout", "0.2"])
                    finally:
                        unhang()
                    res[k]["hung"].append(r)
                    time.sleep(0.3)   # let the helper finish the hung ones
        finally:
            for h in hs.values():
                h.stop()
                self.helpers.remove(h)
        out = {}
        for k in self.kinds:
            norm = [r["per_device"][0]["throughput"]
                    for r in res[k]["normal"]]
            hung_thr = [r["per_device"][1]["throughput"]
                        for r in res[k]["hung"]]
            p99 = [r["per_device"][1]["latency_us"]["p99"]
                   for r in res[k]["hung"]]
            out[k] = {"healthy_normal": statistics.median(norm),
                      "healthy_hung": statistics.median(hung_thr),
                      "healthy_hung_p99_us": statistics.median(p99),
                      "kept": statistics.median(
                          h / max(n, 1e-9) for h, n in zip(hung_thr, norm)),
                      "runs": res[k]}
        self.extra["hung"] = out

    def run_idle(self):
        """RSS per idle connection, and 10,000 connections under load."""
        helper_cpu, bench_cpu = CPUS["cross"]
        idle = {}
        for k in self.kinds:
            idle[k] = {}
            for n in self.args.idle:
                if k == "qemu" and n > 1000 and self.args.quick:
                    continue
                log("idle: %s, %d connections" % (k, n))
                h = self.start(k, helper_cpu, tag="-idle")
                try:
                    r = self.bench_run(h, bench_cpu,
                                       ["--idle", str(n),
                                        "--connect-timeout", "60"])
                finally:
                    h.stop()
                    self.helpers.remove(h)
                idle[k][str(n)] = r
        self.extra["idle"] = idle
        n = max(self.args.idle)
        log("load: ours, %d connections" % n)
        h = self.start("ours", helper_cpu, tag="-10k")
        try:
            r = self.bench_run(h, bench_cpu,
                               ["-c", str(n), "-n", str(2 * n),
                                "--connect-timeout", "60", "--timeout",
                                "30", "-f", self.regfile])
        finally:
            h.stop()
            self.helpers.remove(h)
        self.extra["many"] = r

    def cleanup(self):
        """Stop helpers, remove the temporary directory."""
        self.stop_all()
        shutil.rmtree(self.tmp, ignore_errors=True)


def summarize(runs):
    """Medians over the repetitions of one helper in one cell."""
    def med(f):
        return statistics.median(f(r) for r in runs)

    def cpu(r):
        h = r.get("helper") or {}
        return h.get("cpu_us_per_command", 0.0)

    def util(r):
        h = r.get("helper") or {}
        return h.get("cpu_s", 0.0) / max(r["elapsed_s"], 1e-9)
    thr = [r["throughput"] for r in runs]
    mid = sorted(range(len(runs)), key=lambda i: thr[i])[len(runs) // 2]
    return {
        "throughput": med(lambda r: r["throughput"]),
        "throughput_runs": thr,
        "p99_us_runs": [r["latency_us"]["p99"] for r in runs],
        "p50_us": med(lambda r: r["latency_us"]["p50"]),
        "p90_us": med(lambda r: r["latency_us"]["p90"]),
        "p99_us": med(lambda r: r["latency_us"]["p99"]),
        "p999_us": med(lambda r: r["latency_us"]["p99.9"]),
        "max_us": med(lambda r: r["latency_us"]["max"]),
        "cpu_us_per_command": med(cpu),
        "helper_cpu_util": med(util),
        "vmhwm_kib": max((r.get("helper") or {}).get("vmhwm_kib", 0)
                         for r in runs),
        "unanswered": sum(r["unanswered"] for r in runs),
        "errors": sum(r["transport_errors"]["total"] +
                      r["connect_failures"]["total"] for r in runs),
        "steal_pct": max(r.get("steal_pct", 0.0) for r in runs),
        "statuses": runs[mid]["statuses"],
        "hist_file": runs[mid].get("hist_file"),
    }


def cpu_ticks():
    """The machine's CPU time as (steal, total) ticks from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is in user)
    return v[7] if len(v) > 7 else 0, sum(v[:8])


def steal_pct(a, b):
    """The share of CPU time the hypervisor took between a and b: time
    the helpers could not run, for reasons outside this machine."""
    return 100.0 * (b[0] - a[0]) / max(b[1] - a[1], 1)


def paired(ours, other):
    """Medians of the ratios ours/other (QEMU's helper, or the floor) of
    each repetition's two runs.

    A repetition runs both helpers one right after the other, so the
    machine's drift over the cell (other load, a CPU's clock) hits both
    alike and cancels in their ratio; the ratio of the two medians would
    keep it.  On a device-bound cell, where both helpers are as fast as
    the device lets them be, that drift is larger than any difference
    between them."""
    def med(f):
        return statistics.median(f(o) / max(f(q), 1e-9)
                                 for o, q in zip(ours, other))
    return {"throughput": med(lambda r: r["throughput"]),
            "p50_us": med(lambda r: r["latency_us"]["p50"]),
            "p99_us": med(lambda r: r["latency_us"]["p99"]),
            "cpu_us_per_command": med(
                lambda r: (r.get("helper") or {}).get(
                    "cpu_us_per_command", 0.0)),
            "reps": len(ours)}


def cell_steal(c):
    """The largest steal share of a cell's runs, any server's."""
    if not c:
        return 0.0
    return max(c[k].get("steal_pct", 0.0) for k in ("ours", "qemu", "floor")
               if k in c)


def ratio(a, b):
    """a/b, or None."""
    return a / b if a and b else None


def pr(c, key, other="paired"):
    """A cell's paired ratio ours/QEMU (or ours/floor with other
    "paired_floor") of key, or None."""
    return (c.get(other) or {}).get(key)


def fmt_ratio(r):
    """A ratio for the table."""
    return "%.2fx" % r if r is not None else "-"


def render(m):
    """The results table as text."""
    q = "qemu" in m.kinds
    lines = []
    w = lines.append
    w("qemu-pr-helper benchmark matrix (%s s runs, median of %d, of %d "
      "on the device-bound lunNms cells, warm-up %s s)" % (
          m.args.duration, m.args.reps, max(m.args.reps, 5),
          m.args.warmup))
    w("ratio, p99 q/o: medians of the ratios of each repetition's pair of "
      "runs (ours and QEMU's back to back)")
    w("cross-core: helper on CPU 1, qemu-pr-bench on CPU 0; same-core: "
      "both on CPU 0")
    w("steal: the largest share of CPU time the hypervisor took during one "
      "of the cell's runs (/proc/stat); above 5% the cell measured the host")
    w("baseline: %s" % (QEMU_HELPER if q else "none (QEMU's helper not "
                        "available or not root)"))
    w("")
    hdr = "%-18s %5s %10s %10s %7s %9s %9s %9s %9s %7s %8s %8s %6s" % (
        "cell", "conns", "ours/s", "qemu/s", "ratio", "p50 ours",
        "p50 qemu", "p99 ours", "p99 qemu", "p99 q/o", "us/cmd o",
        "us/cmd q", "steal")
    w(hdr)
    w("-" * len(hdr))
    for c in m.cells:
        o = c["ours"]
        qq = c.get("qemu", {})
        steal = cell_steal(c)
        w("%-18s %5d %10.0f %10s %7s %9.1f %9s %9.1f %9s %7s %8.2f %8s "
          "%5.1f%%" % (
            c["name"].rsplit("-", 1)[0], c["connections"], o["throughput"],
            "%.0f" % qq["throughput"] if qq else "-",
            fmt_ratio(pr(c, "throughput")),
            o["p50_us"], "%.1f" % qq["p50_us"] if qq else "-",
            o["p99_us"], "%.1f" % qq["p99_us"] if qq else "-",
            fmt_ratio(ratio(1.0, pr(c, "p99_us"))),
            o["cpu_us_per_command"],
            "%.2f" % qq["cpu_us_per_command"] if qq else "-", steal))
    w("")
    render_floor(m, w)
    hung = m.extra.get("hung")
    if hung:
        w("hung LUN + healthy LUN, 64 connections (32 each); healthy LUN "
          "alone with its 32 as normal:")
        for k, v in hung.items():
            w("  %-5s normal %9.0f/s  with hang %9.0f/s (%5.1f%% kept, "
              "median of pairs)  p99 %9.1f us" % (
                  k, v["healthy_normal"], v["healthy_hung"],
                  100 * v["kept"], v["healthy_hung_p99_us"]))
        w("")
    idle = m.extra.get("idle", {})
    if idle:
        w("RSS per idle connection (VmRSS delta / connections):")
        for k, v in idle.items():
            for n, r in v.items():
                h = r.get("helper") or {}
                w("  %-5s %6s connections: %7.0f bytes  (%d connected, "
                  "RSS %s -> %s KiB)" % (k, n,
                                         h.get("bytes_per_connection", 0),
                                         r["connected"],
                                         h.get("rss_before_kib"),
                                         h.get("rss_after_kib")))
        w("")
    many = m.extra.get("many")
    if many:
        w("ours, %d connections, %d commands: %d connected, %d answered, "
          "%d unanswered, %d errors, %d connect failures" % (
              many["connections"], many["count"], many["connected"],
              many["answered"], many["unanswered"],
              many["transport_errors"]["total"],
              many["connect_failures"]["total"]))
        w("")
    w("peak RSS under load (VmHWM, 256-connection cell): " + ", ".join(
        "%s %s KiB" % (k, c[k]["vmhwm_kib"]) for c in m.cells
        if c["name"] == "file-cross-256" for k in m.kinds))
    w("")
    tg = targets(m)
    if tg:
        w("targets:")
        for t in tg:
            w("  [%s] %-67s %s" % ("ok" if t["ok"] else (
                "--" if t["ok"] is None else "NO"), t["what"], t["value"]))
    return "\n".join(lines) + "\n"


def render_floor(m, w):
    """The cells the floor server took part in, beside ours."""
    cells = [c for c in m.cells if "floor" in c]
    if not cells:
        return
    w("floor: a minimal single-threaded server (src/bench/floor: recvmsg, "
      "fstat, close, sendmsg")
    w("per request), pinned as the helpers, in turn with them; ours/floor "
      "and p99 f/o paired")
    hdr = "%-18s %5s %10s %10s %10s %9s %9s %7s %8s %8s %6s %6s" % (
        "cell", "conns", "floor/s", "ours/s", "ours/floor", "p99 floor",
        "p99 ours", "p99 f/o", "us/cmd f", "us/cmd o", "cpu f", "steal")
    w(hdr)
    w("-" * len(hdr))
    for c in cells:
        f, o = c["floor"], c["ours"]
        w("%-18s %5d %10.0f %10.0f %10s %9.1f %9.1f %7s %8.2f %8.2f %5.0f%% "
          "%5.1f%%" % (
              c["name"].rsplit("-", 1)[0], c["connections"], f["throughput"],
              o["throughput"], fmt_ratio(pr(c, "throughput", "paired_floor")),
              f["p99_us"], o["p99_us"],
              fmt_ratio(ratio(1.0, pr(c, "p99_us", "paired_floor"))),
              f["cpu_us_per_command"], o["cpu_us_per_command"],
              100 * f["helper_cpu_util"], cell_steal(c)))
    w("")


def targets(m):
    """The project's performance targets, checked against this run."""
    cells = {c["name"]: c for c in m.cells}
    out = []

    def add(what, ok, value, name=None):
        st = cell_steal(cells.get(name))
        if st > 5.0:
            value += " (steal %.0f%%)" % st
        out.append({"what": what, "ok": ok, "value": value})

    def thr_ratio(name):
        c = cells.get(name)
        if c is None or "qemu" not in c:
            return None
        return pr(c, "throughput")

    for name, want in (("file-cross-64", 2.5), ("file-cross-256", 2.5),
                       ("file-same-1", 1.6), ("file-same-64", 1.6)):
        r = thr_ratio(name)
        add("%s throughput >= %.1fx QEMU" % (name, want),
            None if r is None else r >= want, fmt_ratio(r), name)
    c = cells.get("file-cross-64")
    if c and "floor" in c:
        r = pr(c, "throughput", "paired_floor")
        add("file-cross-64 throughput >= 80% of a minimal single-threaded "
            "server", r >= 0.8, fmt_ratio(r), "file-cross-64")
    if c and "qemu" in c:
        r = pr(c, "p99_us")
        add("file-cross-64 p99 <= 0.5x QEMU", r <= 0.5, fmt_ratio(r),
            "file-cross-64")
    c = cells.get("file-cross-1")
    if c and "qemu" in c:
        r = pr(c, "p50_us")
        add("file-cross-1 p50 <= QEMU", r <= 1.0, fmt_ratio(r),
            "file-cross-1")
    c = cells.get("file-cross-256")
    if c and "qemu" in c:
        r = pr(c, "cpu_us_per_command")
        add("CPU per command at saturation <= 0.4x QEMU", r <= 0.4,
            fmt_ratio(r))
    idle = m.extra.get("idle", {}).get("ours", {})
    for n, r in idle.items():
        b = (r.get("helper") or {}).get("bytes_per_connection")
        add("RSS per idle connection <= 1024 bytes (%s)" % n,
            None if b is None else b <= 1024, "%.0f bytes" % (b or 0))
    many = m.extra.get("many")
    if many:
        ok = (many["connected"] == many["connections"] and
              many["answered"] == many["count"])
        add("%d connections, every command answered" % many["connections"],
            ok, "%d/%d" % (many["answered"], many["count"]))
    hung = m.extra.get("hung", {}).get("ours")
    if hung:
        add("healthy LUN keeps >= 95% with a hung LUN", hung["kept"] >= 0.95,
            "%.1f%%" % (100 * hung["kept"]))
    # Device-bound: well ahead of QEMU where 256 commands wait on the
    # device at once, never behind it with fewer.  Each: the cell,
    # throughput at least that times QEMU's, p99 at most that times QEMU's
    # (None: not checked).  A cell not run (or run without QEMU) has no
    # line.
    for name, thr, p99 in (("lun1ms-cross-256", 1.6, 0.7),
                           ("lun1msx16-cross-256", 1.6, 0.7),
                           ("lun1ms-cross-64", 1.0, 1.0),
                           ("lun10ms-cross-256", 1.8, 0.7),
                           ("lun10msx16-cross-256", 1.8, 0.7),
                           ("lun10ms-cross-64", 1.0, None),
                           ("lun10msx16-cross-64", 1.0, None),
                           ("lun10ms-cross-1", 1.0, None),
                           ("lun10msx16-cross-1", 1.0, None)):
        c = cells.get(name)
        if c is None or "qemu" not in c:
            continue
        r, p = thr_ratio(name), pr(c, "p99_us")
        what = "%s throughput >= %.1fx QEMU" % (name, thr)
        ok = None if r is None else r >= thr
        if p99 is not None:
            what += ", p99 <= %.1fx QEMU" % p99
            ok = None if ok is None or p is None else ok and p <= p99
        add(what, ok, "%s, p99 %s" % (fmt_ratio(r), fmt_ratio(p)), name)
    return out


def parse_args():
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--builddir", default=".")
    p.add_argument("--out", default="bench")
    p.add_argument("--duration", type=float, default=2.5)
    p.add_argument("--warmup", type=float, default=0.3)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--conns", type=int, nargs="+", default=[1, 16, 64, 256])
    p.add_argument("--lun-conns", type=int, nargs="+", default=[1, 64, 256])
    p.add_argument("--latencies", type=int, nargs="+", default=[1, 10],
                   help="device latencies (ms) of the device-bound cells")
    p.add_argument("--idle", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--quick", action="store_true",
                   help="short runs, one repetition, for trying it out")
    p.add_argument("--no-qemu", action="store_true")
    p.add_argument("--ours", default=None,
                   help="the helper binary measured as 'ours' (default: "
                   "the build's), e.g. an older build to compare with")
    p.add_argument("--ours-args", default="",
                   help="more options for the helper measured as 'ours', "
                   "e.g. '--threads=32 --max-per-device=16'")
    p.add_argument("--only", nargs="*", default=[],
                   help="run only the cells whose names start so "
                   "('hung' for the hung-LUN cell)")
    p.add_argument("--skip", nargs="*", default=[],
                   choices=["load", "hung", "idle"])
    a = p.parse_args()
    if a.quick:
        a.duration, a.reps, a.warmup = 0.5, 1, 0.1
    a.builddir = os.path.abspath(a.builddir)
    a.out = os.path.abspath(a.out)
    return a


def raise_nofile():
    """The helpers inherit our fd limit: make room for 10,000 clients."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (max(want, hard), max(want, hard)))
        return
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main():
    """Run the matrix and write the results."""
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    raise_nofile()
    m = Matrix(args)
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        m.run_sim_cost()
        if "load" not in args.skip:
            m.run_load_cells()
        if "hung" not in args.skip:
            m.run_hung()
        if "idle" not in args.skip:
            m.run_idle()
    finally:
        m.cleanup()
    text = render(m)
    cost = m.extra.get("lunsim_cost", {})
    if cost.get("zero"):
        text += ("lunsim CPU per SG_IO at latency 0: %.2f us (one thread; "
                 "at most 5 us wanted)\n" % cost["zero"]["cpu_us_per_cmd"])
    for k, v in sorted(cost.get("latency", {}).items(),
                       key=lambda kv: int(kv[0].split("_")[0])):
        ms = k.replace("_", " ")
        text += ("lunsim CPU per SG_IO at latency %s: %+.2f us over a "
                 "zero-latency SG_IO and a bare %s sleep (%.2f against "
                 "%.2f us; %d threads on one CPU, median of %d rounds; at "
                 "most 1 us wanted)\n" %
                 (ms, v["extra_cpu_us"], ms, v["lun_cpu_us"],
                  v["sleep_cpu_us"], v["threads"], v["rounds"]))
    text += "\n(%.0f s)\n" % (time.monotonic() - started)
    doc = {"duration_s": args.duration, "reps": args.reps,
           "warmup_s": args.warmup, "kinds": m.kinds,
           "qemu_helper": QEMU_HELPER if "qemu" in m.kinds else None,
           "floor": m.floor,
           "lunsim": m.lunsim is not None, "cells": m.cells,
           "targets": targets(m), **m.extra,
           "wall_s": time.monotonic() - started}
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(doc, f, indent=1)
    with open(os.path.join(args.out, "results.txt"), "w") as f:
        f.write(text)
    sys.stdout.write(text)
    print("results in %s/results.{txt,json}" % args.out)


if __name__ == "__main__":
    main()
