#!/usr/bin/env python3
"""Ant-v5 env steps per second through snnrl's adapter: Sync vs Async vector env.

    python benchmarks/ant_speed.py [--num-envs 1 8 16] [--seconds 3] [--no-normalise]

Each arm builds :func:`snnrl.envs.ant.make_ant` (fixed observation normalisation, 1000-step limit,
same-step autoreset), resets it, takes ``--warmup`` steps, then steps it with uniform random
actions (a torch tensor, as an agent would pass) for at least ``--seconds`` seconds. Beside it,
the same vector env made by Gymnasium alone (``gym.make_vec("Ant-v5", ...)``, SAME_STEP, no
normalisation, no adapter, numpy actions) shows what the adapter and wrappers cost. Reported:
env-steps/s summed over the batch (``num_envs * steps / time``), batched steps/s, and the
1-minute load average before and after the run (other work on the machine slows every arm).
Random Ants fall within ~150 steps, so the autoreset path is in the timing.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from snnrl.envs.ant import make_ant


def _load() -> str:
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def measure(mode: str, n: int, seconds: float, warmup: int, normalise: bool) -> tuple[float, int]:
    """Batched steps/s and the number of batched steps timed."""
    env = make_ant(num_envs=n, vectorization_mode=mode, normalise=normalise)
    env.reset(seed=0)
    g = torch.Generator().manual_seed(0)
    for _ in range(warmup):
        env.step(torch.rand(n, 8, generator=g) * 2 - 1)
    steps, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        for _ in range(50):
            env.step(torch.rand(n, 8, generator=g) * 2 - 1)
        steps += 50
    env.close()
    return steps / elapsed, steps


def measure_raw(mode: str, n: int, seconds: float, warmup: int) -> float:
    """Batched steps/s of Gymnasium's own vector env (no adapter, no wrappers)."""
    env = gym.make_vec("Ant-v5", num_envs=n, vectorization_mode=mode,
                       vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(warmup):
        env.step(rng.uniform(-1, 1, (n, 8)).astype(np.float32))
    steps, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        for _ in range(50):
            env.step(rng.uniform(-1, 1, (n, 8)).astype(np.float32))
        steps += 50
    env.close()
    return steps / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-envs", type=int, nargs="+", default=[1, 8, 16])
    ap.add_argument("--modes", nargs="+", default=["sync", "async"])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--no-normalise", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    before = _load()
    rows = []
    for n in a.num_envs:
        for mode in a.modes:
            bps, steps = measure(mode, n, a.seconds, a.warmup, not a.no_normalise)
            raw = measure_raw(mode, n, a.seconds, a.warmup)
            rows.append((mode, n, bps * n, bps, steps, raw * n))
            print(f"  {mode:5s} B={n:3d}: {bps * n:9.0f} env-steps/s (Gymnasium alone "
                  f"{raw * n:.0f})", flush=True)
    after = _load()
    print(f"\nAnt-v5 via snnrl GymAdapter ({platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch threads 1, load average {before} before / {after} "
          f"after, normalise={not a.no_normalise})\n")
    print("| vector env | num_envs | env-steps/s | batched steps/s | steps timed "
          "| Gymnasium alone, env-steps/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for mode, n, sps, bps, steps, raw in rows:
        print(f"| {mode} | {n} | {sps:,.0f} | {bps:,.0f} | {steps} | {raw:,.0f} |")


if __name__ == "__main__":
    main()
