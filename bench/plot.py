#!/usr/bin/env python3
"""Plot jobs/s against concurrency (the `sweep` item of results/latest.json)
for jobhost (one host, music-sync through Redis) and the seed design.

    bench/.venv/bin/python bench/plot.py [bench/results/latest.json]

Writes bench/results/concurrency.png next to the JSON file.
"""

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "results", "latest.json")
    doc = json.load(open(path))
    sweep = doc.get("items", {}).get("sweep")
    out = os.path.join(os.path.dirname(os.path.abspath(path)), "concurrency.png")
    if not sweep or "error" in sweep or not sweep.get("jobhost"):
        print(f"plot: no sweep results in {path}; {out} not written", file=sys.stderr)
        return 0
    meta = doc.get("meta", {})
    machine = meta.get("machine", {})
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    for name, label, style in (("jobhost", "jobhost, 1 host (Rust music-sync plugin)", "o-"),
                               ("seed", "seed design (Python asyncio + aiohttp + redis-py)", "s--")):
        points = [p for p in sweep.get(name, []) if p.get("jobs_per_s")]
        if points:
            ax.plot([p["concurrency"] for p in points], [p["jobs_per_s"] for p in points],
                    style, label=label)
    ceiling = doc.get("items", {}).get("wrk", {}).get("requests_per_s")
    if ceiling:
        ax.axhline(ceiling, color="grey", linestyle=":", label=f"fetch ceiling (wrk) {ceiling:,.0f}/s")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sweep.get("concurrency", None) or [p["concurrency"] for p in sweep["jobhost"]])
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("concurrency (jobhost --concurrency / seed coroutines)")
    ax.set_ylabel("music-sync jobs/s through Redis")
    ax.set_ylim(bottom=0)
    title = f"jobs/s against concurrency, {sweep.get('jobs')} jobs per point"
    if meta.get("mode") == "quick":
        title += " (quick smoke run: noisy)"
    ax.set_title(title, fontsize=10)
    ax.text(0.01, 0.01, f"{machine.get('nproc')} CPUs, {machine.get('cpu_model')}, "
            f"{meta.get('started', '')}", transform=ax.transAxes, fontsize=7, color="grey")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(out)
    print(f"plot: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
