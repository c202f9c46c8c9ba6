#!/usr/bin/env python3
"""The scaling table from the logs of `scripts/scaling_table.sh --log-dir DIR` (one log per cell).

Every system's step time is read the same way: rank 0's median and best step (both benches
print them), and the efficiency is the 1-host step over the N-host step (same per-rank batch,
so = N-host global tokens/s / (N x 1-host tokens/s)) for each. gpt-dist's runs also give the
exposed communication (split after backward / in forward), bytes sent and peak RSS.

    python3 scripts/scaling_summary.py DIR [DIR...]
"""
import glob
import os
import re
import sys


def parse(path):
    text = open(path, encoding="utf-8", errors="replace").read()
    out = {}
    m = re.search(r"^ms/iter\s+([0-9.]+) best, ([0-9.]+) median", text, re.M)
    if m:
        out["best"], out["median"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"^ms/iter\s+([0-9.]+) mean \(slowest rank; ([0-9.]+) best, ([0-9.]+) median", text, re.M)
    if m:
        out["mean"], out["best"], out["median"] = float(m.group(1)), float(m.group(2)), float(m.group(3))
    m = re.search(r"^exposed comm ([0-9.]+) ms/iter .*: ([0-9.]+) after backward, ([0-9.]+) in forward", text, re.M)
    if m:
        out["exposed"], out["after_backward"], out["in_forward"] = (float(m.group(i)) for i in (1, 2, 3))
    m = re.search(r"^bytes/rank\s+([0-9.]+) MB", text, re.M)
    if m:
        out["bytes"] = float(m.group(1))
    m = re.search(r"^bytes/rank/step ([0-9.]+)", text, re.M)
    if m:
        out["bytes"] = float(m.group(1)) / 1e6
    m = re.search(r"^peak RSS\s+([0-9.]+) MiB", text, re.M)
    if m:
        out["rss"] = float(m.group(1))
    m = re.search(r"^multihost: doctor allreduce 16 MiB: ([0-9.]+) ms per allreduce, bus bandwidth ([0-9.]+) GB/s", text, re.M)
    if m:
        out["doctor"] = f"{m.group(2)} GB/s ({float(m.group(1)):.0f} ms)"
    return out


def main():
    rows = []
    for directory in sys.argv[1:]:
        logs = sorted(glob.glob(os.path.join(directory, "*.log")))
        base = {}
        for path in logs:
            name = os.path.basename(path)[:-4]
            m = re.match(r"(.+)-1host-(gd|pt)$", name)
            if m:
                base[(m.group(1), m.group(2))] = parse(path)
        for path in logs:
            name = os.path.basename(path)[:-4]
            m = re.match(r"(shakespeare-gpu|gpt2-124m)-([^-]+)-((gd|pt)-.+)$", name)
            if not m or m.group(2) == "1host":
                continue
            shape, link, variant, system = m.group(1), m.group(2), m.group(3), m.group(4)
            cell, one = parse(path), base.get((shape, system), {})
            if "median" not in cell or "median" not in one:
                rows.append((shape, link, variant, "failed or missing: " + path))
                continue
            rows.append((shape, link, variant, cell, one))
    print("| shape | link | doctor | system | variant | 1 host s/step (median, best) | 2 hosts s/step (median, best) "
          "| efficiency (median, best) | exposed comm ms/step (after backward + in forward) | MB sent/rank/step | peak RSS/rank |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    order = {"1gbit": 0, "10gbit": 1, "none": 2}
    for row in sorted(rows, key=lambda r: (r[0], order.get(r[1], 9), r[2])):
        if len(row) == 4:
            print(f"| {row[0]} | {row[1]} | | | {row[2]} | {row[3]} |")
            continue
        shape, link, variant, cell, one = row
        system = "gpt-dist" if variant.startswith("gd") else "PyTorch DDP"
        exposed = (f"{cell['exposed']:.0f} ({cell['after_backward']:.0f} + {cell['in_forward']:.0f})"
                   if "exposed" in cell else "")
        print(f"| {shape} | {link} | {cell.get('doctor', '')} | {system} | {variant} "
              f"| {one['median'] / 1e3:.2f}, {one['best'] / 1e3:.2f} | {cell['median'] / 1e3:.2f}, {cell['best'] / 1e3:.2f} "
              f"| **{one['median'] / cell['median']:.2f}**, {one['best'] / cell['best']:.2f} | {exposed} "
              f"| {cell.get('bytes', 0):.0f} | {cell.get('rss', 0):.0f} MiB |")


if __name__ == "__main__":
    main()
