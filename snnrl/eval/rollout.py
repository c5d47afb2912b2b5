"""Run ``B`` lifetimes of an agent on a batched env, recording every finished episode.

This one loop serves training (agents without an outer learner train by living) and the
evaluation protocol (fresh lifetimes with plasticity on). Python loops over env steps only;
everything inside a step is batched over ``B``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from snnrl.agents.base import Agent
from snnrl.envs.protocol import BatchedEnv
from snnrl.networks.counts import OpTotals


@dataclass
class EpisodeLog:
    """Every finished episode of a rollout, as parallel lists."""

    env_index: list[int] = field(default_factory=list)
    end_step: list[int] = field(default_factory=list)  # lifetime step at which it ended (1-based)
    ret: list[float] = field(default_factory=list)
    length: list[int] = field(default_factory=list)
    terminated: list[bool] = field(default_factory=list)

    def extend(
        self, env_index: Tensor, end_step: int, ret: Tensor, length: Tensor, terminated: Tensor
    ) -> None:
        """Append the episodes that ended at ``end_step``."""
        self.env_index += env_index.tolist()
        self.end_step += [end_step] * env_index.numel()
        self.ret += ret.tolist()
        self.length += length.tolist()
        self.terminated += terminated.tolist()


@dataclass
class RolloutResult:
    """What :func:`run_lifetimes` returns."""

    episodes: EpisodeLog
    state: Any
    steps: int
    diverged: str | None = None
    ops: dict[str, dict[str, float]] = field(default_factory=dict)
    window_reward_rate: list[float] = field(default_factory=list)
    """Per lifetime: mean reward per step over the last 10% of the lifetime (defined even for
    envs whose episodes never end inside a lifetime, such as the long variants)."""
    """Mean operation counts per env step and lifetime, by layer (empty if not counted)."""
    fitness: list[float] = field(default_factory=list)
    """Per lifetime: reward summed over the lifetime / episodes begun in it (the running one
    counts): the mean episode return, the score outer learners maximise
    (:mod:`snnrl.learners.fitness`)."""


def last_fraction_return(
    episodes: EpisodeLog, num_envs: int, lifetime_steps: int, fraction: float = 0.1
) -> tuple[float, list[float]]:
    """Mean return of episodes ending in the last ``fraction`` of each lifetime.

    Averaged within each lifetime first, then over lifetimes (lifetimes in which no episode
    ended inside the window are left out). Returns ``(mean, per_lifetime_means)``.
    """
    start = lifetime_steps - int(round(fraction * lifetime_steps))
    sums = [0.0] * num_envs
    counts = [0] * num_envs
    for i, t, r in zip(episodes.env_index, episodes.end_step, episodes.ret, strict=True):
        if t > start:
            sums[i] += r
            counts[i] += 1
    per = [s / c for s, c in zip(sums, counts, strict=True) if c > 0]
    return (sum(per) / len(per) if per else math.nan), per


def run_lifetimes(
    agent: Agent,
    env: BatchedEnv,
    steps: int,
    generator: torch.Generator,
    env_seed: int,
    on_interval: Callable[[int, dict[str, float]], bool | None] | None = None,
    interval: int = 1000,
) -> RolloutResult:
    """Live ``env.num_envs`` fresh lifetimes of ``steps`` env steps each.

    Args:
        agent: the agent; its state is created fresh (a lifetime's start).
        env: batched env; reset with ``env_seed``.
        steps: lifetime length in env steps.
        generator: the agent's random stream (initial weights, spikes).
        env_seed: seed of the env's reset stream.
        on_interval: called every ``interval`` steps with ``(step, record)``; may return True
            to stop early.
        interval: steps between calls.

    Returns:
        Episodes, final state, steps lived, and a divergence reason if state became non-finite.
    """
    b = env.num_envs
    device = env.device
    state = agent.init_state(b, generator)
    obs, _ = env.reset(seed=env_seed)
    ep_ret = torch.zeros(b, device=device)
    ep_len = torch.zeros(b, dtype=torch.long, device=device)
    log = EpisodeLog()
    acc: dict[str, Tensor] = {}
    n_acc = 0
    first_episode = 0
    diverged = None
    totals = OpTotals()
    window_start = steps - int(round(0.1 * steps))
    window_reward = torch.zeros(b, dtype=torch.float64, device=device)
    total_reward = torch.zeros(b, dtype=torch.float64, device=device)
    begun = torch.ones(b, dtype=torch.float64, device=device)
    t = 0
    for t in range(1, steps + 1):
        action, state, stats, ops = agent.act(state, obs, generator)
        out = env.step(action)
        state, lstats, lops = agent.learn(
            state, out.reward, out.terminated, out.truncated, out.info["final_obs"], generator
        )
        totals.add(ops)
        totals.add(lops)
        totals.step()
        ep_ret += out.reward
        total_reward += out.reward
        if t < steps:
            begun += out.done.to(torch.float64)
        if t > window_start:
            window_reward += out.reward
        ep_len += 1
        done = out.done
        for k, v in (stats | lstats).items():  # accumulated on device: no sync per step
            acc[k] = acc[k] + v.float().mean() if k in acc else v.float().mean()
        n_acc += 1
        if bool(done.any()):
            idx = done.nonzero().squeeze(1)
            log.extend(idx, t, ep_ret[idx], ep_len[idx], out.terminated[idx])
            ep_ret = torch.where(done, torch.zeros_like(ep_ret), ep_ret)
            ep_len = torch.where(done, torch.zeros_like(ep_len), ep_len)
        obs = out.obs
        if t % interval == 0 or t == steps:
            rets = log.ret[first_episode:]
            record = {k: float(v) / n_acc for k, v in acc.items()}
            record["train/episodes"] = float(len(rets))
            if rets:
                record["train/episode_return"] = sum(rets) / len(rets)
            health = agent.health(state)
            record.update(health)
            bad = [k for k, v in record.items() if not math.isfinite(v)]
            if bad:
                diverged = f"non-finite {', '.join(sorted(bad))} at lifetime step {t}"
            first_episode, acc, n_acc = len(log.ret), {}, 0
            if on_interval is not None and on_interval(t, record):
                break
            if diverged:
                break
    window = max(t - window_start, 0)
    rate = (window_reward / window).tolist() if window else []
    return RolloutResult(episodes=log, state=state, steps=t, diverged=diverged,
                         ops=totals.per_step(), window_reward_rate=rate,
                         fitness=(total_reward / begun).tolist())
