"""Training jobs with an outer learner (``learner=es|bptt``) and their evaluation.

What a run directory of a meta-learned agent holds, beside the common files:

- ``learner_state.pt``: the learner's state every ``learner.checkpoint_every`` generations /
  updates (``weights_only``-loadable). Re-running the same command into the same run directory
  resumes from it, with ``metrics.jsonl`` truncated back to it; the result equals an
  uninterrupted run's.
- ``checkpoint.pt``: the final meta-parameters ``theta`` and their layout.
- ``eval_curves.json`` / ``within_lifetime.png``: the within-lifetime learning curve of the
  evaluation lifetimes, plastic vs the plasticity-off control (same initial weights, same envs).
- ``eval/long_horizon/``: long-horizon stability (``eval.horizons``), as ``snnrl eval`` writes
  it.
- ``energy_counts.json``: exact operation counts (:mod:`snnrl.networks.plastic_net`) of the
  evaluation lifetimes with plasticity on (frozen meta-parameters), the mean per env step and
  lifetime, so ``snnrl energy RUN_DIR`` prices the run; the summary gets
  ``energy/<chip>/J_per_step`` / ``J_per_episode`` and the per-chip flags
  (:func:`snnrl.cli.train.write_energy`). Only that arm is counted: the plasticity-off control
  and the long-horizon evaluations are not. Counted only when ``eval.enabled``.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import torch

from snnrl.config import ConfigError, TrainConfig
from snnrl.eval.rollout import RolloutResult
from snnrl.tracking import RunDir, write_json
from snnrl.tracking.plots import learning_curve


def train_meta(c: TrainConfig, agent: Any, env: Any, rd: RunDir, mirror: Any,
               device: torch.device, cfg_hash: str) -> dict[str, Any]:
    """Meta-train ``agent`` with ``c.learner``, then evaluate it; return summary fields."""
    from snnrl.cli.train import _progress

    t0 = time.perf_counter()
    bar = _progress(c, c.train.env_steps, "train")
    status, reason = "ok", None
    try:
        if c.learner.name == "es":
            theta, steps, train_metrics = _train_es(c, agent, env, rd, mirror, bar, cfg_hash)
        else:
            from snnrl.learners.bptt import train_bptt

            theta, steps, train_metrics = train_bptt(c, agent, env, rd, mirror, bar, cfg_hash)
    except FloatingPointError as e:
        status, reason = "diverged", str(e)
        theta, steps, train_metrics = None, 0, {}
    finally:
        if bar is not None:
            bar.close()
    train_time = time.perf_counter() - t0
    metrics: dict[str, Any] = {**train_metrics, "perf/train_time_s": train_time,
                               "perf/train_sps": steps / max(train_time, 1e-9)}
    out: dict[str, Any] = {"env_steps": steps, "metrics": metrics, "energy": {}}
    if theta is None:
        return out | {"status": status, "reason": reason}
    if not bool(torch.isfinite(theta).all()):
        return out | {"status": "diverged", "reason": "non-finite meta-parameters"}
    agent.set_theta(theta)
    layout = {k: list(v) for k, v in agent.net.layout.shapes.items()}
    rd.save_checkpoint({"agent": c.agent.name, "env_id": c.env.id, "env_steps": steps,
                        "theta": theta.detach().cpu(), "layout": layout})
    records = [{"step": r["step"], "train/episode_return": r["train/fitness_mean"]}
               for r in rd.read_metrics() if r.get("train/fitness_mean") is not None]
    learning_curve(records, rd.path / "learning_curve.png",
                   f"{c.agent.name} + {c.learner.name} on {c.env.id}, seed {c.seed}: "
                   "mean lifetime fitness")
    if c.eval.enabled:
        ev, res = evaluate_with_control(c, agent, device, rd.path)
        metrics |= ev
        rd.log({"step": steps, **{k: v for k, v in ev.items() if k.startswith("eval/")}})
        energy_metrics, out["energy"] = record_energy(rd.path, agent, res, c)
        metrics |= energy_metrics
    if c.eval.horizons:
        from snnrl.eval.longhorizon import evaluate_horizons

        metrics |= evaluate_horizons(c, agent, rd.path, c.eval.horizons, device)
    return out | {"status": status}


def _train_es(c: TrainConfig, agent: Any, env: Any, rd: RunDir, mirror: Any, bar: Any,
              cfg_hash: str) -> tuple[torch.Tensor, int, dict[str, Any]]:
    from snnrl.learners.es import ESLearner, run_es, summarise_generation

    e, t_life = c.train.num_envs, c.lifetime_steps
    per_gen = c.learner.popsize * e * t_life
    generations = c.train.env_steps // per_gen
    learner = ESLearner(c.learner, agent, env, t_life, e, c.seed)
    ckpt = rd.path / "learner_state.pt"
    if ckpt.is_file():
        tree = learner.load(ckpt)
        if tree.get("config_hash") != cfg_hash:
            raise ConfigError(str(ckpt), tree.get("config_hash"),
                              f"a learner state written by this config (hash {cfg_hash}); "
                              "use a fresh hydra.run.dir")
        rd.truncate_metrics(learner.generation * per_gen)
        if bar is not None:
            bar.update(learner.generation * per_gen)
    else:
        rd.reset_metrics()
    last: dict[str, float] = {}

    def on_generation(rec: Any) -> None:
        m = summarise_generation(rec)
        m = {k.replace("es/fitness", "train/fitness"): v for k, v in m.items()}
        last.update(m)
        full = {"step": (rec.index + 1) * per_gen, **m,
                "perf/sps": per_gen / max(rec.seconds, 1e-9)}
        rd.log(full)
        if mirror is not None:
            mirror.log(full)
        if bar is not None:
            bar.update(per_gen)
            bar.set_postfix(gen=rec.index + 1, fit=f"{m['train/fitness_mean']:.1f}",
                            refresh=False)

    run_es(learner, generations, ckpt, on_generation, extra={"config_hash": cfg_hash})
    metrics = {"train/generations": learner.generation,
               "train/fitness_mean_last_gen": last.get("train/fitness_mean"),
               "train/fitness_max_last_gen": last.get("train/fitness_max")}
    return learner.center.detach().clone(), learner.generation * per_gen, metrics


def _curve(episodes: Any, n: int, lifetime_steps: int, bins: int = 20) -> list[float | None]:
    """Mean return of the episodes ending in each of ``bins`` equal parts of the lifetime.

    Averaged within each lifetime first.
    """
    width = lifetime_steps / bins
    sums = [[0.0] * bins for _ in range(n)]
    counts = [[0] * bins for _ in range(n)]
    for i, t, r in zip(episodes.env_index, episodes.end_step, episodes.ret, strict=True):
        k = min(int((t - 1) // width), bins - 1)
        sums[i][k] += r
        counts[i][k] += 1
    out: list[float | None] = []
    for k in range(bins):
        per = [sums[i][k] / counts[i][k] for i in range(n) if counts[i][k]]
        out.append(statistics.fmean(per) if per else None)
    return out


def counted_evaluation(c: TrainConfig, agent: Any, device: torch.device
                       ) -> tuple[dict[str, Any], RolloutResult]:
    """The protocol's evaluation lifetimes, with the agent's operations counted.

    :func:`snnrl.cli.train.evaluate_lifetimes` with ``agent.count_ops`` on (restored afterwards);
    counting changes no action, so the metrics are those of the uncounted evaluation.
    """
    from snnrl.cli.train import evaluate_lifetimes

    counting = agent.count_ops
    agent.count_ops = True
    try:
        return evaluate_lifetimes(c, agent, device)
    finally:
        agent.count_ops = counting


def record_energy(run_dir: Path, agent: Any, res: RolloutResult, c: TrainConfig
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write ``energy_counts.json`` of counted evaluation lifetimes; return metrics and flags.

    The summary metrics and per-chip flags of :func:`snnrl.cli.train.write_energy`; both empty
    (and nothing written) when nothing was counted or a count is not finite
    (:func:`snnrl.eval.counted.from_lifetimes`).
    """
    from snnrl.cli.train import write_energy
    from snnrl.eval.counted import META_SOURCE, from_lifetimes

    ce = from_lifetimes({}, res, agent.layers, c,
                        META_SOURCE.format("on" if agent.plastic else "off"))
    if ce is None:
        return {}, {}
    return write_energy(run_dir, ce.ops, ce.layers, ce.episode_length, ce.source, c)


def evaluate_with_control(c: TrainConfig, agent: Any, device: torch.device,
                          run_dir: Path) -> tuple[dict[str, Any], RolloutResult]:
    """Protocol evaluation with plasticity on, and the same lifetimes with it off.

    Both arms use the same evaluation streams, so they start from the same initial weights (drawn
    at random per lifetime in rules-only meta-learning) in the same envs. Only the first arm's
    operations are counted (:func:`counted_evaluation`). Writes ``eval_curves.json`` and
    ``within_lifetime.png``. Returns the metrics and the first arm's rollout.
    """
    from snnrl.cli.train import evaluate_lifetimes

    plastic = agent.plastic
    n, t_life = c.eval.lifetimes, c.lifetime_steps
    m_on, res_on = counted_evaluation(c, agent, device)
    agent.plastic = False
    try:
        m_off, res_off = evaluate_lifetimes(c, agent, device)
    finally:
        agent.plastic = plastic
    on, off = m_on["eval/return_mean"], m_off["eval/return_mean"]
    metrics = dict(m_on)
    metrics |= {"eval/control_return_mean": off,
                "eval/control_fitness_mean": m_off["eval/fitness_mean"],
                "eval/control_reward_rate_mean": m_off["eval/reward_rate_mean"],
                "eval/return_vs_control": (on / off) if (on is not None and off) else None}
    curves = {"bins": 20, "lifetime_steps": t_life, "lifetimes": n,
              "plastic": _curve(res_on.episodes, n, t_life),
              "control": _curve(res_off.episodes, n, t_life)}
    write_json(run_dir / "eval_curves.json", curves)
    _plot_curves(curves, run_dir / "within_lifetime.png",
                 f"{c.agent.name} on {c.env.id}, seed {c.seed}: within-lifetime return")
    return metrics, res_on


def _plot_curves(curves: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins, t_life = curves["bins"], curves["lifetime_steps"]
    xs = [(k + 0.5) * t_life / bins for k in range(bins)]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for key, style in (("plastic", "-"), ("control", "--")):
        pts = [(x, y) for x, y in zip(xs, curves[key], strict=True) if y is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), style, lw=1.5,
                    label="plasticity on" if key == "plastic" else "plasticity off (control)")
    ax.set_xlabel("lifetime step")
    ax.set_ylabel("mean return of episodes ending here")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no episode ended in the evaluation lifetimes", ha="center",
                transform=ax.transAxes)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
