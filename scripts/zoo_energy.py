"""One Markdown row per (agent, env): energy per env step on each chip, from run directories.

    python scripts/zoo_energy.py runs/zoo_cartpole runs/zoo_cartpole_recurrent [--chips ...]

For every run directory below the given ones (a ``config.yaml`` with ``checkpoint.pt`` or
``energy_counts.json``), makes ``energy/report.json`` with ``snnrl energy RUN_DIR --no-eval``
where it is missing (a deep run trained before deep agents counted is counted first from its
checkpoint: docs/ENERGY.md), then prints per (agent, env) the median over seeds of: dense and
effective synaptic operations (NeuroBench), spikes, and J per env step on each chip. "does not fit" carries the model's
reason in a footnote; "≥" marks a lower bound (a term with counts but no price). Nothing here is
new physics: the figures are ``snnrl energy``'s (snnrl/energy/model.py).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import json
import statistics
from pathlib import Path

import yaml

from snnrl.cli.main import main as snnrl_main

CHIPS = ("loihi", "spinnaker2", "truenorth", "horowitz45_fp32", "gpu_degnan")


def _run_dirs(roots: list[str]) -> list[Path]:
    out = []
    for r in roots:
        for cfg in sorted(Path(r).glob("**/config.yaml")):
            d = cfg.parent
            if d.name == ".hydra" or not (d / "summary.json").is_file():
                continue
            if (d / "checkpoint.pt").is_file() or (d / "energy_counts.json").is_file():
                out.append(d)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="+")
    p.add_argument("--chips", default=",".join(CHIPS))
    args = p.parse_args()
    chips = [c for c in args.chips.split(",") if c]
    groups: dict[tuple[str, str], list[dict]] = {}
    for d in _run_dirs(args.dirs):
        summary = json.loads((d / "summary.json").read_text())
        if summary.get("status") != "ok":
            continue
        report = d / "energy" / "report.json"
        if not report.is_file():
            with contextlib.redirect_stdout(io.StringIO()):
                if snnrl_main(["energy", str(d), "--no-eval"]) != 0:
                    continue
        if not report.is_file():
            continue
        rep = json.loads(report.read_text())
        env = yaml.safe_load((d / "config.yaml").read_text())["env"]["id"]
        groups.setdefault((rep["agent"], env), []).append(rep)
    reasons: dict[str, int] = {}
    head = " | ".join(chips)
    print(f"| agent | env | seeds | synops / step (dense) | effective | spikes / step | {head} |")
    print("|---|---|---:|---:|---:|---:|" + "---:|" * len(chips))
    for (agent, env), reps in sorted(groups.items(), key=lambda x: (x[0][1], x[0][0])):
        ops = [sum(v.get("synops_dense", 0) for v in r["ops_per_step"].values()) for r in reps]
        eff = [sum(v.get("synops_ac", 0) + v.get("synops_mac", 0)
                   for v in r["ops_per_step"].values()) for r in reps]
        spk = [sum(v.get("spikes", 0) for v in r["ops_per_step"].values()) for r in reps]
        cells = []
        for chip in chips:
            est = [r["chips"].get(chip) for r in reps]
            if any(e is None for e in est):
                cells.append("—")
            elif not all(e["fits"] for e in est):
                why = re.sub(r"layer '[^']*' (is|has)", r"a layer \1",
                             next(e["reason"] for e in est if not e["fits"]))
                n = reasons.setdefault(why, len(reasons) + 1)
                cells.append(f"does not fit ({n})")
            else:
                j = statistics.median(e["total_J"] for e in est)
                cells.append(("≥ " if any(e["lower_bound"] for e in est) else "") + f"{j:.3g} J")
        sp = statistics.median(spk)
        print(f"| {agent} | {env} | {len(reps)} | {statistics.median(ops):,.0f} | "
              f"{statistics.median(eff):,.0f} | "
              f"{f'{sp:,.0f}' if sp else '—'} | " + " | ".join(cells) + " |")
    for why, n in reasons.items():
        print(f"\n({n}) {why}")


if __name__ == "__main__":
    main()
