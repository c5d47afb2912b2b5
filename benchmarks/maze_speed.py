#!/usr/bin/env python3
"""Env-step throughput of the grid maze: native batched torch vs Gymnasium vectorisation.

Arms, each stepping ``B`` mazes (size 9, 200-step episodes, autoreset) with uniformly random
actions drawn each step (included in the time):

- ``TorchMaze``: the native batched env, :class:`snnrl.envs.maze.TorchMaze(num_envs=B)`,
  actions drawn with ``torch.randint``;
- ``vector entry point``: ``gym.make_vec("snnrl/Maze-v0", num_envs=B,
  vectorization_mode="vector_entry_point")``, the same batched env behind Gymnasium's vector
  API (numpy in and out, SAME_STEP ``final_obs`` layout), actions from ``action_space.sample()``;
- ``SyncVectorEnv``: ``gym.make_vec("snnrl/Maze-v0", num_envs=B, vectorization_mode="sync")``,
  B single ``MazeEnv`` objects (each with Gymnasium's ``TimeLimit``, ``OrderEnforcing`` and
  ``PassiveEnvChecker`` wrappers) stepped one after another, as a user of the single env would
  vectorise it.

Reported: env-steps/s = B × steps / time (transitions of all envs together), µs per batched
step, and the speed-up over ``SyncVectorEnv`` at the same B. Each figure is the best of
``--repeats`` timings (median in brackets) after a warm-up; slow arms time fewer steps so that
one timing stays near ``--max-seconds``, and the table says how many.

    python benchmarks/maze_speed.py --threads 1 --batch 1 1024
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

from snnrl.envs.maze import TorchMaze, register_maze


def _loadavg() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "n/a"


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def torch_arm(b: int, size: int) -> Callable[[int], None]:
    """Native batched env."""
    env = TorchMaze(b, size=size)
    env.reset(seed=0)
    g = torch.Generator().manual_seed(0)

    def run(steps: int) -> None:
        for _ in range(steps):
            env.step(torch.randint(0, 4, (b,), generator=g))

    return run


def gym_arm(b: int, size: int, mode: str) -> Callable[[int], None]:
    """Gymnasium vector env, ``vector_entry_point`` or ``sync``."""
    envs = gym.make_vec("snnrl/Maze-v0", num_envs=b, vectorization_mode=mode, size=size)
    envs.reset(seed=0)
    envs.action_space.seed(0)

    def run(steps: int) -> None:
        for _ in range(steps):
            envs.step(envs.action_space.sample())

    return run


def time_arm(run: Callable[[int], None], steps: int, repeats: int, max_s: float):
    """(steps timed, best seconds, median seconds)."""
    t0 = time.perf_counter()
    run(3)  # warm-up, and an estimate of the cost of one step
    per_step = (time.perf_counter() - t0) / 3
    n = max(5, min(steps, int(max_s / max(per_step, 1e-9))))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(n)
        times.append(time.perf_counter() - t0)
    return n, min(times), statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 1024])
    ap.add_argument("--size", type=int, default=9)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-seconds", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    register_maze()
    print(
        f"CPU: {_cpu()} ({os.cpu_count()} logical); Python {platform.python_version()}, "
        f"torch {torch.__version__}, Gymnasium {gym.__version__}, numpy {np.__version__}; "
        f"torch threads {a.threads}"
    )
    print(f"load average at start: {_loadavg()}\n")
    arms = [
        ("TorchMaze", lambda b: torch_arm(b, a.size)),
        ("vector entry point", lambda b: gym_arm(b, a.size, "vector_entry_point")),
        ("SyncVectorEnv", lambda b: gym_arm(b, a.size, "sync")),
    ]
    rows = []
    for b in a.batch:
        res = {}
        for name, make in arms:
            n, best, med = time_arm(make(b), a.steps, a.repeats, a.max_seconds)
            res[name] = (n, best, med)
        base = res["SyncVectorEnv"][1] / res["SyncVectorEnv"][0]  # s per step, best
        for name, (n, best, med) in res.items():
            sps, sps_med = b * n / best, b * n / med
            rows.append(
                f"| {name} | {b} | {n} | {sps:,.0f} ({sps_med:,.0f}) | {best / n * 1e6:,.1f} "
                f"| {base / (best / n):,.1f}× |"
            )
    print(f"size {a.size}, random actions; best of {a.repeats} (median in brackets)\n")
    print("| arm | B | steps timed | env-steps/s | µs per batched step | vs SyncVectorEnv |")
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(f"\nload average at end: {_loadavg()}")


if __name__ == "__main__":
    main()
