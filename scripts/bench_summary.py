#!/usr/bin/env python3
"""Summarises a bench-vs-coturn.sh results directory (one cvbench JSON per run).

  bench_summary.py table DIR                 the comparison table (Markdown) on stdout
  bench_summary.py latency-rates DIR F1,F2   total packet rates at fractions of coturn's median
                                             capacity, for cvbench --latency-rates

Files are named <phase>-<pair>-<server>.json, server "coturn" or "cvrelay". For every figure the
table gives each server's median over the pairs, the median of the per-pair ratios
(cvrelay / coturn, so the ratio of a "lower is better" figure should be small) and their range,
and the target of ../shared/BENCHMARKS.md with whether the median ratio meets it.
"""

import json
import math
import os
import re
import statistics
import sys

SERVERS = ("coturn", "cvrelay")


class Figure:
    """One row: where the value is in a phase's JSON, and what is hoped of the ratio."""

    def __init__(self, phase, key, label, unit, target=None, rate_index=None, absolute=None):
        self.phase = phase
        self.key = key
        self.label = label
        self.unit = unit
        # ("<=", x) or (">=", x): cvrelay/coturn must be at most / at least x.
        self.target = target
        # latency: which entry of the phase's "runs" list (0 = lowest rate).
        self.rate_index = rate_index
        # ("==", x): an absolute target for cvrelay's own value (loss 0), not a ratio.
        self.absolute = absolute

    def value(self, run):
        phase = run.get("phases", {}).get(self.phase)
        if phase is None:
            return None
        if self.rate_index is not None:
            rates = phase.get("runs") or []
            if self.rate_index >= len(rates):
                return None
            phase = rates[self.rate_index]
        v = phase.get(self.key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            return float(v)
        return None


FIGURES = [
    Figure("efficiency", "server_cpu_us_per_packet", "CPU per forwarded packet", "µs",
           target=("<=", 1 / 2.5)),
    Figure("efficiency", "loss_ratio", "loss at 1000 × 50 pkt/s each way", "ratio"),
    Figure("capacity", "capacity_pps", "forwarded packets/s per core at < 0.1% loss", "pkt/s",
           target=(">=", 2.0)),
    Figure("latency", "added_p50_us", "added p50 latency at 20% of coturn's capacity", "µs",
           rate_index=0),
    Figure("latency", "added_p99_us", "added p99 latency at 50% of coturn's capacity", "µs",
           rate_index=1),
    Figure("latency", "added_p50_us", "added p50 latency at 80% of coturn's capacity", "µs",
           rate_index=2),
    Figure("latency", "added_p99_us", "added p99 latency at 80% of coturn's capacity", "µs",
           target=("<=", 1 / 5), rate_index=2),
    Figure("latency", "added_p999_us", "added p99.9 latency at 80% of coturn's capacity", "µs",
           rate_index=2),
    Figure("idle", "rss_bytes_per_allocation", "memory per idle allocation", "bytes",
           target=("<=", 1 / 8)),
    Figure("idle", "idle_server_cpu_share", "CPU while 10,000 allocations idle", "core"),
    Figure("churn", "allocations_per_s", "authenticated allocations/s", "alloc/s",
           target=(">=", 5.0)),
    Figure("churn", "allocate_p99_ms", "authenticated allocation p99", "ms"),
    Figure("bursts", "loss_ratio", "loss on bursty video flows", "ratio", absolute=("==", 0.0)),
    Figure("binding", "binding_per_s", "STUN Binding responses/s", "resp/s"),
]

NAME = re.compile(r"^(?P<phase>[a-z]+)-(?P<pair>\d+)-(?P<server>coturn|cvrelay)\.json$")


def load_runs(directory):
    """{phase: {pair: {server: run}}} for every well-named JSON file in `directory`."""
    runs = {}
    for name in sorted(os.listdir(directory)):
        m = NAME.match(name)
        if not m:
            continue
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            run = json.load(f)
        runs.setdefault(m["phase"], {}).setdefault(int(m["pair"]), {})[m["server"]] = run
    return runs


def ratio(a, b):
    """cvrelay / coturn; None when coturn's value is 0 (a ratio says nothing then)."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def summarise(figure, runs):
    """Medians, per-pair ratios and the verdict for one figure, or None without data."""
    pairs = runs.get(figure.phase, {})
    values = {s: [] for s in SERVERS}
    ratios = []
    for pair in sorted(pairs):
        per = {s: figure.value(pairs[pair][s]) if s in pairs[pair] else None for s in SERVERS}
        for s in SERVERS:
            if per[s] is not None:
                values[s].append(per[s])
        r = ratio(per["cvrelay"], per["coturn"])
        if r is not None:
            ratios.append(r)
    if not values["coturn"] and not values["cvrelay"]:
        return None
    row = {
        "figure": figure.label,
        "unit": figure.unit,
        "coturn": statistics.median(values["coturn"]) if values["coturn"] else None,
        "cvrelay": statistics.median(values["cvrelay"]) if values["cvrelay"] else None,
        "ratio": statistics.median(ratios) if ratios else None,
        "ratio_min": min(ratios) if ratios else None,
        "ratio_max": max(ratios) if ratios else None,
        "pairs": len(ratios),
        "target": "",
        "met": None,
    }
    if figure.target is not None:
        op, x = figure.target
        row["target"] = f"{op} {fmt(x)}"
        if row["ratio"] is not None:
            row["met"] = row["ratio"] <= x if op == "<=" else row["ratio"] >= x
    elif figure.absolute is not None:
        op, x = figure.absolute
        row["target"] = f"cvrelay {op} {fmt(x)}"
        if values["cvrelay"]:
            row["met"] = max(values["cvrelay"]) == x
    return row


def fmt(v):
    if v is None:
        return "n/a"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 0.01:
        return f"{v:.3f}"
    return f"{v:.2e}"


def table(directory):
    runs = load_runs(directory)
    lines = [
        "| figure | unit | coturn median | cvrelay median | ratio median (min–max) | target | met |",
        "|---|---|---:|---:|---|---|---|",
    ]
    for figure in FIGURES:
        row = summarise(figure, runs)
        if row is None:
            continue
        spread = f"{fmt(row['ratio'])} ({fmt(row['ratio_min'])}–{fmt(row['ratio_max'])})"
        if row["ratio"] is None:
            spread = "n/a"
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        lines.append(f"| {row['figure']} | {row['unit']} | {fmt(row['coturn'])} | "
                     f"{fmt(row['cvrelay'])} | {spread} | {row['target']} | {met} |")
    return "\n".join(lines) + "\n"


def latency_rates(directory, fractions):
    runs = load_runs(directory)
    capacity = [figure for figure in FIGURES if figure.key == "capacity_pps"][0]
    row = summarise(capacity, runs)
    if row is None or not row["coturn"]:
        raise SystemExit("bench_summary: no coturn capacity in " + directory)
    return ",".join(str(int(row["coturn"] * float(f))) for f in fractions.split(","))


def main(argv):
    if len(argv) == 3 and argv[1] == "table":
        sys.stdout.write(table(argv[2]))
        return 0
    if len(argv) == 4 and argv[1] == "latency-rates":
        print(latency_rates(argv[2], argv[3]))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
