"""One Markdown row per (agent, env) from run directories: the zoo's rows in docs/RESULTS.md.

    python scripts/zoo_results.py runs/zoo/cartpole runs/zoo/maze [--reps 10000]

Each row: agent, env, budget (env steps per seed), seeds, the evaluation return
(``eval/return_mean``: the protocol's score, docs/PROTOCOL.md) as IQM with a 95%
stratified-bootstrap CI over seeds (:mod:`snnrl.eval.stats`, rliable, random_state 0) and per
seed, the normalised IQM where the env has random and oracle references, the last-10% training
return, and the mean wall time per seed (training plus evaluation). Runs whose status is not ok
are counted in the row, never dropped silently.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import yaml

from snnrl.eval.stats import interval_estimates


def _runs(dirs: list[str]) -> list[tuple[Path, dict]]:
    out = []
    for d in dirs:
        for p in sorted(Path(d).glob("**/summary.json")):
            out.append((p.parent, json.loads(p.read_text())))
    return out


def _refs(run_dir: Path) -> tuple[float | None, float | None]:
    env = yaml.safe_load((run_dir / "config.yaml").read_text()).get("env", {})
    return env.get("random_return"), env.get("oracle_return")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="+")
    p.add_argument("--reps", type=int, default=10_000, help="bootstrap resamples")
    args = p.parse_args()
    groups: dict[tuple[str, str], list[tuple[Path, dict]]] = {}
    for run_dir, s in _runs(args.dirs):
        groups.setdefault((s["agent"], s["env_id"]), []).append((run_dir, s))
    print("| agent | env | budget (steps/seed) | seeds | eval return IQM [95% CI] | per seed | "
          "normalised IQM | train return (last 10%) | wall time / seed |")
    print("|---|---|---:|---:|---|---|---:|---:|---:|")
    for (agent, env), runs in sorted(groups.items()):
        ok = [(d, s) for d, s in runs if s["status"] == "ok"
              and s["metrics"].get("eval/return_mean") is not None]
        bad = len(runs) - len(ok)
        ok.sort(key=lambda x: x[1]["seed"])
        scores = [s["metrics"]["eval/return_mean"] for _, s in ok]
        budget = sorted({s["env_steps_budget"] for _, s in runs})
        if scores:
            iv = interval_estimates({"x": scores}, ("iqm",), reps=args.reps)["x"]["iqm"]
            ci = f"{iv.point:.1f} [{iv.low:.1f}, {iv.high:.1f}]"
            rnd, orc = _refs(ok[0][0])
            norm = (f"{(iv.point - rnd) / (orc - rnd):.3f}"
                    if rnd is not None and orc is not None else "—")
            train = [s["metrics"].get("train/return_last_10pct") for _, s in ok]
            train = [t for t in train if t is not None]
            tr = f"{statistics.fmean(train):.1f}" if train else "—"
            wall = statistics.fmean(s["wall_time_s"] for _, s in ok)
        else:
            ci, norm, tr, wall = "—", "—", "—", float("nan")
        per = ", ".join(f"{x:.1f}" for x in scores)
        seeds = f"{len(ok)}" + (f" (+{bad} not ok)" if bad else "")
        print(f"| {agent} | {env} | {', '.join(f'{b:,}' for b in budget)} | {seeds} | {ci} | "
              f"{per} | {norm} | {tr} | {wall:.0f} s |")


if __name__ == "__main__":
    main()
