"""Tabulate the summary.json files of a sweep directory as Markdown (per seed, plasticity on/off).

    python scripts/results_table.py runs/results-rstdp-cartpole

A stop-gap until ``snnrl compare`` (IQM, bootstrap CIs) lands; it reads run directories only.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def main(root: str) -> None:
    runs = [json.loads(p.read_text()) for p in sorted(Path(root).glob("**/summary.json"))]
    by = {}
    for r in runs:
        by.setdefault(r["plasticity"], {})[r["seed"]] = r
    seeds = sorted({r["seed"] for r in runs})
    keys = ("train/return_last_10pct", "eval/return_mean")
    print("| seed | " + " | ".join(f"{k} (on) | {k} (off)" for k in keys) + " | wall s (on) |")
    print("|---" * (2 * len(keys) + 2) + "|")
    cols = {(k, p): [] for k in keys for p in (True, False)}
    for s in seeds:
        row = [str(s)]
        for k in keys:
            for p in (True, False):
                r = by.get(p, {}).get(s)
                v = r["metrics"].get(k) if r and r["status"] == "ok" else None
                row.append("—" if v is None else f"{v:.1f}")
                if v is not None:
                    cols[(k, p)].append(v)
        on = by.get(True, {}).get(s)
        row.append("—" if on is None else f"{on['wall_time_s']:.0f}")
        print("| " + " | ".join(row) + " |")
    row = ["**mean**"]
    for k in keys:
        for p in (True, False):
            v = cols[(k, p)]
            row.append(f"**{statistics.fmean(v):.1f}**" if v else "—")
    print("| " + " | ".join(row) + " | |")
    status = {r["status"] for r in runs}
    print(f"\n{len(runs)} runs; statuses: {sorted(status)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/results-rstdp-cartpole")
