"""Training jobs of deep agents (gradient RL, frozen weights at test time) and their evaluation.

``snnrl train agent=ppo|a2c|recurrent_ppo|dqn|popsan_ppo|stpn|stpn_snn|lstm|rnn ...`` runs
:meth:`snnrl.agents.deep.DeepAgent.fit` on ``train.num_envs`` envs for ``train.env_steps`` env
steps, then the frozen-weight evaluation of docs/PROTOCOL.md: ``eval.episodes`` episodes, one per
env of a fresh batched env seeded from the evaluation stream, actions from the agent's
deterministic policy (``eval.deterministic``). What the run directory holds beside the common
files:

- ``checkpoint.pt``: ``{"agent", "env_id", "env_steps", "weights"}``, the trained weights as the
  agent's ``state_dict`` (``torch.load(weights_only=True)``).
- ``eval_episodes.json``: every evaluation episode's return and length.
- ``energy_counts.json`` (agents with :meth:`~snnrl.agents.deep.DeepAgent.op_counter`): exact
  operation counts of the frozen-weight evaluation (:mod:`snnrl.networks.op_counter`), the mean
  per env step over the evaluation episodes' steps, in the format of the plastic agents'
  (:func:`snnrl.cli.train.write_energy`), so ``snnrl energy RUN_DIR`` prices a deep run; the
  summary gets the same ``energy/<chip>/J_per_step`` / ``J_per_episode`` metrics and flags.

An interrupted deep job restarts from scratch when re-run (SB3 keeps optimiser and rollout
state that a weights-only checkpoint does not capture); a finished one is skipped as for every
agent.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from snnrl.agents.deep import DeepAgent
from snnrl.config import TrainConfig
from snnrl.envs import make_env
from snnrl.seeding import derive_seed
from snnrl.tracking import RunDir, write_json
from snnrl.tracking.plots import learning_curve

if TYPE_CHECKING:
    from snnrl.networks.op_counter import OpCounter


def train_deep(c: TrainConfig, agent: Any, env: Any, rd: RunDir, mirror: Any,
               device: torch.device) -> dict[str, Any]:
    """Train ``agent`` with its own algorithm, save it, evaluate it; return summary fields."""
    from snnrl.cli.train import _progress

    rd.reset_metrics()
    bar = _progress(c, c.train.env_steps, "train")
    last = {"step": 0}
    returns: list[float] = []

    def log(record: dict[str, Any]) -> None:
        rd.log(record)
        if mirror is not None:
            mirror.log(record)
        if record.get("train/episode_return") is not None:
            returns.append(float(record["train/episode_return"]))
        if bar is not None:
            bar.update(max(0, int(record["step"]) - last["step"]))
            ret = record.get("train/episode_return")
            bar.set_postfix(ret="-" if ret is None else f"{ret:.1f}", refresh=False)
        last["step"] = int(record["step"])

    t0 = time.perf_counter()
    status, reason = "ok", None
    try:
        steps = agent.fit(env, c.train.env_steps, c.seed, log, c.train.log_every, rd.path)
    except FloatingPointError as e:
        status, reason, steps = "diverged", str(e), last["step"]
    finally:
        if bar is not None:
            bar.close()
    train_time = time.perf_counter() - t0
    tail = returns[-max(1, len(returns) // 10):] if returns else []
    metrics: dict[str, Any] = {
        "train/return_last_10pct": statistics.fmean(tail) if tail else None,
        "train/n_params": agent.n_params,
        "perf/train_time_s": train_time,
        "perf/train_sps": steps / max(train_time, 1e-9),
    }
    out: dict[str, Any] = {"env_steps": steps, "metrics": metrics, "energy": {}}
    if status != "ok":
        return out | {"status": status, "reason": reason}
    tmp = rd.path / ".weights.tmp"
    agent.save(tmp)
    weights = torch.load(tmp, map_location="cpu", weights_only=True)
    tmp.unlink()
    rd.save_checkpoint({"agent": c.agent.name, "env_id": c.env.id, "env_steps": steps,
                        "weights": weights})
    learning_curve(rd.read_metrics(), rd.path / "learning_curve.png",
                   f"{c.agent.name} on {c.env.id}, seed {c.seed} ({c.train.num_envs} envs)")
    if c.eval.enabled:
        counter = agent.op_counter() if isinstance(agent, DeepAgent) else None
        ev, episodes = evaluate_episodes(c, agent, device, counter)
        metrics |= ev
        write_json(rd.path / "eval_episodes.json", episodes)
        ops = counter.per_step() if counter is not None else {}
        if ops and math.isfinite(ev["eval/return_mean"]):
            from snnrl.cli.train import write_energy

            assert counter is not None
            energy_metrics, out["energy"] = write_energy(
                rd.path, ops, counter.layers, ev["eval/length_mean"],
                "frozen-weight evaluation episodes", c)
            metrics |= energy_metrics
        rec = {"step": steps, **{k: v for k, v in ev.items() if k.startswith("eval/")}}
        rd.log(rec)
        if mirror is not None:
            mirror.log(rec)
        if not math.isfinite(ev["eval/return_mean"]):
            return out | {"status": "diverged", "reason": "non-finite evaluation return"}
    return out | {"status": "ok"}


def evaluate_episodes(c: TrainConfig, agent: Any, device: torch.device,
                      counter: OpCounter | None = None
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
    """docs/PROTOCOL.md, frozen weights: ``eval.episodes`` episodes, one per env, in parallel.

    Every env runs until its first episode ends; an episode still running after
    ``env.max_episode_steps`` steps (or ``lifetime_steps`` for envs without a limit, the long
    variants) is cut there and scored by the reward it collected (``cut`` counts them). The
    agent's recurrent state starts fresh. Actions come from the deterministic policy unless
    ``eval.deterministic=false`` (then from the torch stream seeded for evaluation).
    With ``counter`` (:class:`~snnrl.networks.op_counter.OpCounter`), every step's operations
    are counted for the envs whose episode is still running; counting changes no action.

    Returns:
        ``(metrics, episodes)``: ``eval/return_mean`` (mean over the episodes), ``eval/return_std``
        (their standard deviation), ``eval/episodes``, ``eval/length_mean``,
        ``eval/reward_rate_mean`` (reward per step), ``eval/cut``, ``perf/eval_time_s``; and
        ``{"return": [...], "length": [...], "cut": [...]}`` per episode.
    """
    n = c.eval.episodes
    cap = c.env.max_episode_steps or c.lifetime_steps
    env = make_env(c.env, n, device)
    t0 = time.perf_counter()
    torch.manual_seed(derive_seed(c.seed, "eval/agent"))
    try:
        obs, _ = env.reset(seed=derive_seed(c.seed, "eval/env"))
        state = agent.initial_state(n)
        start = torch.ones(n, dtype=torch.bool, device=obs.device)
        ret = torch.zeros(n, dtype=torch.float64, device=obs.device)
        length = torch.zeros(n, dtype=torch.long, device=obs.device)
        running = torch.ones(n, dtype=torch.bool, device=obs.device)
        with torch.no_grad(), counter if counter is not None else nullcontext():
            for _ in range(cap):
                action, state = agent.policy_act(obs, state, start, c.eval.deterministic)
                if counter is not None:
                    counter.end_step(running)
                out = env.step(action)
                ret += out.reward.to(torch.float64) * running
                length += running.long()
                running &= ~out.done
                start = out.done
                obs = out.obs
                if not bool(running.any()):
                    break
    finally:
        env.close()
    returns = ret.cpu().tolist()
    lengths = length.cpu().tolist()
    cut = running.cpu().tolist()
    total_steps = max(sum(lengths), 1)
    metrics = {
        "eval/return_mean": statistics.fmean(returns),
        "eval/return_std": statistics.pstdev(returns) if n > 1 else 0.0,
        "eval/episodes": n,
        "eval/length_mean": statistics.fmean(lengths),
        "eval/reward_rate_mean": sum(returns) / total_steps,
        "eval/cut": sum(cut),
        "perf/eval_time_s": time.perf_counter() - t0,
    }
    return metrics, {"return": returns, "length": lengths, "cut": cut}


def load_weights(agent: Any, run_dir: Path) -> None:
    """Load a deep run's ``checkpoint.pt`` into ``agent`` (weights only)."""
    from snnrl.config import ConfigError

    ckpt = run_dir / "checkpoint.pt"
    if not ckpt.is_file():
        raise ConfigError("RUN_DIR", str(run_dir), "a run dir with checkpoint.pt (deep agents are "
                          "evaluated from their trained weights)")
    try:
        obj = torch.load(ckpt, map_location="cpu", weights_only=True)
        if not isinstance(obj, dict) or not isinstance(obj.get("weights"), dict):
            raise ValueError("no 'weights' mapping")
        with tempfile.TemporaryDirectory(prefix="snnrl-weights-") as tmp:
            torch.save(obj["weights"], Path(tmp) / "weights.pt")
            agent.load(Path(tmp) / "weights.pt")
    except Exception as e:  # noqa: BLE001 - any unreadable file is bad input
        raise ConfigError(str(ckpt), type(e).__name__,
                          f"a checkpoint snnrl train wrote for {agent.name}") from None
