"""Long-horizon stability: live far past the training lifetime, plastic state never reset.

An agent trained with lifetimes of ``T = lifetime_steps`` env steps is run for ``k·T`` steps in
``L`` fresh lifetimes (``eval.lifetimes``, at least 16 by default), with its rule on and its
plastic state carried through every episode. The run is cut into windows of ``T`` steps; each
window gets a normalised score (:mod:`snnrl.eval.stability`): 1 is the reference ceiling, 0 the
random policy.

- Failure envs (cart-pole family, Ant): failures per 1,000 steps (terminations, not time-limit
  truncations) → ``1 - rate / random_rate``. Cart-pole pays +1 per step, so its reward per
  window is the window's length for every agent and says nothing.
- Reward envs (the maze): reward per step normalised between the env's random and oracle
  references.

Horizons share one rollout: the state is never reset, so the first ``k`` windows of the
longest run *are* the horizon-``k`` run (same streams). Results go under
``RUN_DIR/eval/long_horizon/`` (``results.json``, ``windows.csv``, ``stability.png``); the
training job's ``summary.json`` is never rewritten.
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from snnrl.config import TrainConfig
from snnrl.envs import make_env
from snnrl.eval.rollout import EpisodeLog
from snnrl.seeding import derive_seed
from snnrl.tracking.rundir import atomic_write, write_json


def score_kind(c: TrainConfig) -> str:
    """The window score an env gets.

    ``failures`` where the env has a random failure rate, ``reward`` where it has random and
    oracle returns (normalised reward), else ``raw_reward`` (reward per step, unnormalised).
    """
    if c.env.random_failures_per_1000 is not None:
        return "failures"
    if c.env.random_return is not None and c.env.oracle_return is not None:
        return "reward"
    return "raw_reward"


def live_long(agent: Any, c: TrainConfig, steps: int, window: int, device: torch.device,
              lifetimes: int) -> dict[str, Any]:
    """Run ``lifetimes`` lifetimes for ``steps`` steps; per-window tensors ``[L, n_windows]``.

    Returns the episode log, reward sums per window, firing-rate health (mean silent /
    saturated fraction of units per window, where the agent reports them) and the mean
    weight norm per lifetime at each window's end.
    """
    n_win = steps // window
    env = make_env(c.env, lifetimes, device)
    gen = torch.Generator(device=device).manual_seed(derive_seed(c.seed, "longhorizon/agent"))
    record = getattr(agent, "record_health", None)
    if record is not None:
        agent.record_health = True
    try:
        state = agent.init_state(lifetimes, gen)
        obs, _ = env.reset(seed=derive_seed(c.seed, "longhorizon/env"))
        rew = torch.zeros(lifetimes, n_win, dtype=torch.float64, device=device)
        silent = torch.zeros(lifetimes, n_win, device=device)
        saturated = torch.zeros(lifetimes, n_win, device=device)
        norms = torch.full((lifetimes, n_win), math.nan, device=device)
        ep_ret = torch.zeros(lifetimes, dtype=torch.float64, device=device)
        ep_len = torch.zeros(lifetimes, dtype=torch.long, device=device)
        log = EpisodeLog()
        has_health = False
        diverged = None
        with torch.no_grad():
            for t in range(1, steps + 1):
                w = (t - 1) // window
                action, state, stats, _ = agent.act(state, obs, gen)
                out = env.step(action)
                state, _, _ = agent.learn(state, out.reward, out.terminated, out.truncated,
                                          out.info["final_obs"], gen)
                rew[:, w] += out.reward
                if "health/silent_frac" in stats:
                    has_health = True
                    silent[:, w] += stats["health/silent_frac"]
                    saturated[:, w] += stats["health/saturated_frac"]
                ep_ret += out.reward
                ep_len += 1
                if bool(out.done.any()):
                    idx = out.done.nonzero().squeeze(1)
                    log.extend(idx, t, ep_ret[idx], ep_len[idx], out.terminated[idx])
                    ep_ret[idx] = 0.0
                    ep_len[idx] = 0
                obs = out.obs
                if t % window == 0:
                    norms[:, w] = _weight_norm(agent, state, lifetimes)
                    if not bool(torch.isfinite(norms[:, w]).all()):
                        diverged = f"non-finite weights at step {t}"
                        break
    finally:
        env.close()
        if record is not None:
            agent.record_health = record
    return {"log": log, "reward": rew, "silent": silent / window,
            "saturated": saturated / window, "norms": norms, "has_health": has_health,
            "windows": n_win, "diverged": diverged}


def _weight_norm(agent: Any, state: Any, lifetimes: int) -> Tensor:
    """Per lifetime: Frobenius norm of all weights in the agent's state dict (``w*`` keys)."""
    sq = torch.zeros(lifetimes)
    for k, v in agent.state_dict(state).items():
        if k.startswith("w") and isinstance(v, Tensor):
            sq = sq.to(v.device) + v.reshape(lifetimes, -1).double().pow(2).sum(-1).float()
    return sq.sqrt()


def evaluate_horizons(c: TrainConfig, agent: Any, run_dir: Path, horizons: list[int],
                      device: torch.device, lifetimes: int | None = None,
                      tag: str = "long_horizon") -> dict[str, Any]:
    """Run the long-horizon evaluation; write ``eval/<tag>/``; return summary metrics.

    The metrics returned (``stability/h{k}/...``) are for the caller's own records (the training
    job puts them in its summary; ``snnrl eval`` prints them).
    """
    from snnrl.eval import stability as st

    horizons = sorted(set(horizons))
    t_life = c.lifetime_steps
    n = lifetimes or c.eval.lifetimes
    t0 = time.perf_counter()
    run = live_long(agent, c, max(horizons) * t_life, t_life, device, n)
    wall = time.perf_counter() - t0
    kind = score_kind(c)
    n_win = run["windows"]
    log = run["log"]
    fails = st.window_failures(log, n, t_life, n_win)
    if kind == "failures":
        score = st.failure_score(fails, c.env.random_failures_per_1000)
    elif kind == "reward":
        per_ep = c.env.max_episode_steps or t_life
        score = st.reward_score(run["reward"], t_life, c.env.random_return / per_ep,
                                c.env.oracle_return / per_ep)
    else:
        score = run["reward"] / t_life
    results: dict[str, Any] = {
        "agent": c.agent.name, "env_id": c.env.id, "seed": c.seed,
        "lifetime_steps": t_life, "lifetimes": n, "horizons": horizons, "score": kind,
        "plasticity": bool(getattr(agent, "plastic", True)),
        "diverged": run["diverged"], "wall_time_s": wall, "per_horizon": {}}
    metrics: dict[str, Any] = {}
    for k in horizons:
        prefix = _prefix(log, k * t_life)
        summ = st.summarise(
            score[:, :k], t_life, failures_per_1000=fails[:, :k],
            first_failure=st.steps_to_first_failure(prefix, n, k * t_life),
            weight_norms=run["norms"][:, :k],
            silent_frac=run["silent"][:, :k] if run["has_health"] else None,
            saturated_frac=run["saturated"][:, :k] if run["has_health"] else None)
        summ["stability/reward_per_step_last"] = float(run["reward"][:, k - 1].mean() / t_life)
        results["per_horizon"][str(k)] = summ
        metrics |= {key.replace("stability/", f"stability/h{k}/"): v for key, v in summ.items()}
    out = run_dir / "eval" / tag
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", results)
    _write_windows(out / "windows.csv", score, fails, run, t_life)
    from snnrl.tracking.plots import stability_curve

    mean, lo, hi = st.score_band(score)
    stability_curve([(w + 1) * t_life for w in range(n_win)], mean.tolist(), lo.tolist(),
                    hi.tolist(), t_life, out / "stability.png",
                    f"{c.agent.name} on {c.env.id}, seed {c.seed}: {kind} score, "
                    f"{n} lifetimes (IQR band)")
    return metrics


def _prefix(log: EpisodeLog, steps: int) -> EpisodeLog:
    """The episodes that ended within the first ``steps`` steps."""
    out = EpisodeLog()
    keep = [i for i, t in enumerate(log.end_step) if t <= steps]
    out.env_index = [log.env_index[i] for i in keep]
    out.end_step = [log.end_step[i] for i in keep]
    out.ret = [log.ret[i] for i in keep]
    out.length = [log.length[i] for i in keep]
    out.terminated = [log.terminated[i] for i in keep]
    return out


def _nanmean(x: Tensor) -> float:
    x = x[torch.isfinite(x)]
    return float(x.mean()) if x.numel() else math.nan


def _write_windows(path: Path, score: Tensor, fails: Tensor, run: dict[str, Any],
                   t_life: int) -> None:
    buf = io.StringIO()
    wr = csv.writer(buf)
    wr.writerow(["window", "end_step", "score_mean", "failures_per_1000_mean",
                 "reward_per_step_mean", "weight_norm_mean", "silent_frac", "saturated_frac"])
    for j in range(score.shape[1]):
        wr.writerow([j + 1, (j + 1) * t_life, f"{_nanmean(score[:, j]):.6g}",
                     f"{_nanmean(fails[:, j].float()):.6g}",
                     f"{float(run['reward'][:, j].mean()) / t_life:.6g}",
                     f"{_nanmean(run['norms'][:, j]):.6g}",
                     f"{float(run['silent'][:, j].mean()):.4g}" if run["has_health"] else "",
                     f"{float(run['saturated'][:, j].mean()):.4g}" if run["has_health"] else ""])
    atomic_write(path, lambda f: f.write(buf.getvalue().encode()))
