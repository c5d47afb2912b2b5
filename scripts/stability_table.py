"""Tables and plots for docs/STABILITY.md from sweeps of meta-learned plastic agents.

    python scripts/stability_table.py runs/stable_lifelong_cartpole [--out docs/figures/x]

Reads every run directory under the given directories (``summary.json`` + the long-horizon
results the training job wrote in ``eval/long_horizon/``), groups runs by agent, env and
``meta_init``, averages within a seed first, then reports the IQM and 95% stratified-bootstrap CI
over seeds (rliable, ``random_state`` 0) of:

- ``fitness``: mean episode return in fresh evaluation lifetimes of the training length, rule on;
- ``control``: the same lifetimes with the rule off (same initial weights);
- ``score@hk``: the normalised score (1 = never fails / oracle, 0 = random) of the last window
  when living k x the training lifetime with plastic state never reset (h1 = the training
  lifetime itself);
- ``ratio@hk``: stability ratio, late windows / first window, where the first window is > 0.05;
- ``fail/1k@h100`` and ``drift@h100``: failures per 1,000 steps in the last window and the
  relative change of the weight norm.

Also writes ``stability_<env>.png``: mean score per window over seeds, one line per agent, and,
where runs have ``eval_curves.json``, ``within_<env>.png``: the within-lifetime return curve
(mean over seeds) of each agent with its rule on and off (the control).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np

from snnrl.cli.compare import find_run_dirs
from snnrl.eval.stats import interval_estimates

COLUMNS = [
    ("fitness", "eval/fitness_mean"),
    ("control", "eval/control_fitness_mean"),
    ("last10%", "eval/return_mean"),
    ("control last10%", "eval/control_return_mean"),
    ("score@h1", "stability/h1/score_last"),
    ("score@h10", "stability/h10/score_last"),
    ("score@h100", "stability/h100/score_last"),
    ("ratio@h10", "stability/h10/ratio"),
    ("ratio@h100", "stability/h100/ratio"),
    ("fail/1k@h100", "stability/h100/failures_per_1000_last"),
    ("drift@h100", "stability/h100/weight_drift_last"),
]


def _f(x: object) -> float:
    return float(x) if isinstance(x, int | float) and x is not None else math.nan


def collect(dirs: list[Path]) -> tuple[dict, list[str]]:
    """``{(env, meta_init, agent): {seed: [summary metrics, ...]}}`` and notes."""
    groups: dict = defaultdict(lambda: defaultdict(list))
    notes: list[str] = []
    for run in find_run_dirs(dirs):
        s = json.loads((run / "summary.json").read_text())
        if s.get("status") != "ok":
            notes.append(f"{run}: status {s.get('status')} ({s.get('reason', '')}) - excluded")
            continue
        import yaml

        cfg = yaml.safe_load((run / "config.yaml").read_text())
        meta = "rules-only" if cfg["agent"].get("meta_init") is False else "weights+rule"
        groups[(s["env_id"], meta, s["agent"])][s["seed"]].append(s.get("metrics", {}))
    return groups, notes


def _curve(run_dirs: list[Path]) -> tuple[list[int], list[float]] | None:
    rows_by_run = []
    for rd in run_dirs:
        p = rd / "eval" / "long_horizon" / "windows.csv"
        if p.is_file():
            with p.open() as f:
                rows_by_run.append(list(csv.DictReader(f)))
    if not rows_by_run:
        return None
    n = min(len(r) for r in rows_by_run)
    xs = [int(rows_by_run[0][j]["end_step"]) for j in range(n)]
    ys = [statistics.fmean(float(r[j]["score_mean"]) for r in rows_by_run) for j in range(n)]
    return xs, ys


def main() -> None:
    """Print the Markdown table; write the plot(s)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=None, help="plot prefix (default: first dir)")
    ap.add_argument("--reps", type=int, default=20_000)
    args = ap.parse_args()
    groups, notes = collect(args.dirs)
    if not groups:
        raise SystemExit("no finished runs found")
    header = "| env | meta-learned | agent | seeds | " + " | ".join(c for c, _ in COLUMNS) + " |"
    print(header)
    print("|---|---|---|---:|" + "---:|" * len(COLUMNS))
    for key in sorted(groups):
        env, meta, agent = key
        seeds = groups[key]
        cells = []
        for _, metric in COLUMNS:
            per_seed = [statistics.fmean(_f(m.get(metric)) for m in runs) for runs in
                        seeds.values()]
            arr = np.array([v for v in per_seed if math.isfinite(v)])
            if arr.size == 0:
                cells.append("–")
                continue
            if arr.size == 1:
                cells.append(f"{arr[0]:.3g}")
                continue
            iv = interval_estimates({"x": arr}, ("iqm",), reps=args.reps)["x"]["iqm"]
            extra = "" if arr.size == len(per_seed) else f" (n={arr.size})"
            cells.append(f"{iv.point:.3g} [{iv.low:.3g}, {iv.high:.3g}]{extra}")
        print(f"| {env} | {meta} | {agent} | {len(seeds)} | " + " | ".join(cells) + " |")
    print("\nIQM [95% stratified-bootstrap CI] over seeds (runs of one seed averaged first).")
    for n in notes:
        print(f"- {n}")
    _plots(args, groups)


def _plots(args: argparse.Namespace, groups: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_env: dict = defaultdict(list)
    for run in find_run_dirs(args.dirs):
        s = json.loads((run / "summary.json").read_text())
        if s.get("status") == "ok":
            by_env[s["env_id"]].append((s["agent"], run, s.get("lifetime_steps")))
    prefix = args.out or (args.dirs[0] / "stability")
    for env, runs in by_env.items():
        _within_plot(plt, env, runs, prefix)
        agents = sorted({a for a, _, _ in runs})
        if all(_curve([r for a, r, _ in runs if a == agent]) is None for agent in agents):
            continue  # no long-horizon evaluation in these runs
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        t_life = runs[0][2]
        for agent in agents:
            cur = _curve([r for a, r, _ in runs if a == agent])
            if cur is not None:
                ax.plot(*cur, lw=1.4, ls="--" if agent.endswith("_ann") else "-", label=agent)
        if t_life:
            ax.axvline(t_life, color="0.3", ls=":", lw=1, label="training lifetime")
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("lifetime steps (plastic state never reset)")
        ax.set_ylabel("normalised score (mean over seeds)")
        ax.set_title(f"{env}: score per window of one training lifetime", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        path = Path(f"{prefix}_{env.replace('/', '_')}.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
        plt.close(fig)
        print(f"wrote {path}")


def _within_plot(plt: object, env: str, runs: list, prefix: Path) -> None:
    curves: dict = defaultdict(lambda: {"plastic": [], "control": []})
    lifetime = None
    for agent, run, _ in runs:
        p = run / "eval_curves.json"
        if p.is_file():
            d = json.loads(p.read_text())
            lifetime = d["lifetime_steps"]
            for arm in ("plastic", "control"):
                curves[agent][arm].append(d[arm])
    if not curves or lifetime is None:
        return
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)  # type: ignore[attr-defined]
    for i, agent in enumerate(sorted(curves)):
        colour = f"C{i}"
        for arm, style in (("plastic", "-"), ("control", ":")):
            rows = curves[agent][arm]
            bins = len(rows[0])
            xs = [(k + 0.5) * lifetime / bins for k in range(bins)]
            ys = []
            for k in range(bins):
                vals = [r[k] for r in rows if r[k] is not None]
                ys.append(statistics.fmean(vals) if vals else math.nan)
            label = f"{agent} ({'rule on' if arm == 'plastic' else 'rule off'}, {len(rows)} seeds)"
            ax.plot(xs, ys, style, color=colour, lw=1.5, label=label)
    ax.set_xlabel("lifetime step")
    ax.set_ylabel("mean return of episodes ending here")
    ax.set_title(f"{env}: within-lifetime learning curve, mean over seeds", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(f"{prefix}_within_{env.replace('/', '_')}.png")
    fig.savefig(path)
    plt.close(fig)  # type: ignore[attr-defined]
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
