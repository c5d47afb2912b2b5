#!/usr/bin/env python3
"""Env-only speed of the Atari tiers through snnrl's adapter (random actions, no agent).

Arms, each at every ``--num-envs`` value:

- MinAtar Breakout (:func:`snnrl.envs.atari.make_minatar`): ``sync`` and ``async`` vector envs;
- ALE Pong, v5 protocol, 84x84 grey, 4-frame stack (:func:`snnrl.envs.atari.make_ale`):
  ``sync``, ``async`` and ``native`` (ale-py's C++ vector env).

Each measurement steps the :class:`snnrl.envs.GymAdapter` (observations become torch tensors,
final observations are gathered, same-step autoreset) with uniformly random actions for up to
``--steps`` batched steps or ``--max-seconds``, after ``--warmup`` steps, ``--repeats`` times on
a freshly built env; the best repeat is reported (the median in brackets). Reported:
agent-steps/s (``B × steps / time``; one agent step = 4 emulator frames on the ALE, 1 frame on
MinAtar) and batched steps/s (``steps / time``).

    python benchmarks/atari_speed.py --threads 1 --out atari_speed.json

Run it on a quiet machine: the load average at start and end is printed with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

from snnrl.envs.atari import make_ale, make_minatar
from snnrl.envs.protocol import BatchedEnv


def loadavg() -> str:
    """The three load averages, or ``n/a``."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def measure(
    make: Callable[[], BatchedEnv], steps: int, warmup: int, max_seconds: float, seed: int = 0
) -> dict[str, float]:
    """Time ``steps`` random batched steps of a freshly built env."""
    t0 = time.perf_counter()
    env = make()
    env.reset(seed=seed)
    build_s = time.perf_counter() - t0
    n_actions = int(env.single_action_space.n)  # type: ignore[attr-defined]
    g = torch.Generator().manual_seed(seed)
    acts = torch.randint(0, n_actions, (warmup + steps, env.num_envs), generator=g)
    for a in acts[:warmup]:
        env.step(a)
    done = 0
    n = 0
    t0 = time.perf_counter()
    for a in acts[warmup:]:
        out = env.step(a)
        done += int(out.done.sum())
        n += 1
        if time.perf_counter() - t0 > max_seconds:
            break
    dt = time.perf_counter() - t0
    env.close()
    return {
        "num_envs": env.num_envs,
        "steps": n,
        "seconds": dt,
        "build_seconds": build_s,
        "agent_steps_per_s": env.num_envs * n / dt,
        "batched_steps_per_s": n / dt,
        "episodes_ended": done,
    }


def main() -> None:
    """Run every arm and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-envs", default="1,8,16")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--max-seconds", type=float, default=3.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [int(x) for x in args.num_envs.split(",")]

    import ale_py
    import gymnasium

    meta = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gymnasium": gymnasium.__version__,
        "ale_py": ale_py.__version__,
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "loadavg_start": loadavg(),
    }
    arms: list[tuple[str, str, Callable[[int], BatchedEnv]]] = []
    for mode in ("sync", "async"):
        arms.append(
            (
                "MinAtar Breakout",
                mode,
                lambda b, m=mode: make_minatar("breakout", b, vectorization_mode=m),
            )
        )
    for mode in ("sync", "async", "native"):
        arms.append(
            (
                "ALE Pong (84x84x4)",
                mode,
                lambda b, m=mode: make_ale("pong", b, vectorization_mode=m),
            )
        )
    rows = []
    for env_name, mode, make in arms:
        for b in sizes:
            reps = [
                measure(
                    lambda make=make, b=b: make(b),
                    args.steps,
                    args.warmup,
                    args.max_seconds,
                    seed=i,
                )
                for i in range(args.repeats)
            ]
            r = max(reps, key=lambda x: x["agent_steps_per_s"])
            r["median_agent_steps_per_s"] = statistics.median(x["agent_steps_per_s"] for x in reps)
            r.update(env=env_name, mode=mode)
            rows.append(r)
            rate = r["agent_steps_per_s"]
            print(f"{env_name:20s} {mode:6s} B={b:3d}: {rate:10.0f} agent-steps/s", flush=True)
    meta["loadavg_end"] = loadavg()

    print()
    print(
        f"load average at start {meta['loadavg_start']}, at end {meta['loadavg_end']}; "
        f"{meta['cpus']} CPUs; torch threads {args.threads}; ale-py {meta['ale_py']}, "
        f"gymnasium {meta['gymnasium']}"
    )
    print()
    print("| env | vectorization | B | agent-steps/s (median) | batched steps/s | steps timed |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['env']} | {r['mode']} | {r['num_envs']} | {r['agent_steps_per_s']:,.0f} "
            f"({r['median_agent_steps_per_s']:,.0f}) | {r['batched_steps_per_s']:,.0f} | "
            f"{r['steps']} |"
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
