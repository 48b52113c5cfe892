#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Draw the latency distributions of a `make bench` run as PNG.

Reads OUT/results.json and the histograms qemu-pr-bench wrote (one per
run; the median run of each cell is drawn), and writes OUT/plots/CELL.png:
latency against percentile, ours and QEMU's (and the floor's, where it
ran) on one chart, in the HdrHistogram style (the x axis stretches the
tail: 90%, 99%, 99.9%...).
Needs gnuplot; installs Debian's gnuplot-nox when it is missing and that
is possible (root with apt-get).  Standard library only.
"""

import json
import os
import shutil
import subprocess
import sys


def ensure_gnuplot():
    """gnuplot's path, installing gnuplot-nox if we can."""
    g = shutil.which("gnuplot")
    if g:
        return g
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench-plot: installing gnuplot-nox", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-q", "gnuplot-nox"],
                       env=env, check=False, stdout=subprocess.DEVNULL)
        g = shutil.which("gnuplot")
    return g


def to_points(hist_file, dat_file):
    """Histogram lines -> 'x latency' with x = 1/(1-cumulative)."""
    n = 0
    with open(hist_file) as src, open(dat_file, "w") as dst:
        for line in src:
            if line.startswith("#"):
                continue
            lat, _count, cum = line.split()
            q = min(float(cum), 0.999999)
            dst.write("%.6f %s\n" % (1.0 / (1.0 - q), lat))
            n += 1
    return n


def plot_cell(gnuplot, cell, kinds, outdir):
    """One PNG for one cell."""
    series = []
    for k in kinds:
        s = cell.get(k)
        if not s or not s.get("hist_file") or \
                not os.path.exists(s["hist_file"]):
            continue
        dat = os.path.join(outdir, "%s.%s.dat" % (cell["name"], k))
        if to_points(s["hist_file"], dat) > 0:
            series.append((k, dat, s["throughput"]))
    if not series:
        return None
    png = os.path.join(outdir, cell["name"] + ".png")
    plots = ", ".join(
        "'%s' using 1:2 with steps lw 2 title '%s (%.0f/s)'" % (d, k, t)
        for k, d, t in series)
    script = "\n".join([
        "set terminal png size 900,560",
        "set output '%s'" % png,
        "set title '%s: %s, %d connections'" % (
            cell["name"], cell["placement"], cell["connections"]),
        "set logscale xy",
        "set xrange [1:1000000]",
        "set xtics ('0%%' 1, '50%%' 2, '90%%' 10, '99%%' 100, "
        "'99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000)",
        "set xlabel 'percentile'",
        "set ylabel 'latency (us)'",
        "set grid",
        "set key top left",
        "plot " + plots,
        ""])
    subprocess.run([gnuplot], input=script, text=True, check=True)
    return png


def main():
    """bench-plot OUT."""
    out = sys.argv[1] if len(sys.argv) > 1 else "bench"
    with open(os.path.join(out, "results.json")) as f:
        res = json.load(f)
    gnuplot = ensure_gnuplot()
    if gnuplot is None:
        print("bench-plot: gnuplot is not installed (Debian: gnuplot-nox)",
              file=sys.stderr)
        return 1
    outdir = os.path.join(out, "plots")
    os.makedirs(outdir, exist_ok=True)
    for cell in res["cells"]:
        png = plot_cell(gnuplot, cell, cell.get("kinds", res["kinds"]),
                        outdir)
        if png:
            print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
