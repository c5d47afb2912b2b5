"""Mean episode return of a uniformly random policy on the native cart-pole.

    python scripts/random_baseline.py [--envs 1024] [--steps 5000] [--seed 0]

Episodes are counted when they end; the figure recorded as ``random_return`` in
``conf/env/cartpole.yaml`` came from the defaults.
"""

from __future__ import annotations

import argparse

import torch

from snnrl.envs import TorchCartPole


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--envs", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    env = TorchCartPole(a.envs)
    env.reset(seed=a.seed)
    g = torch.Generator().manual_seed(a.seed)
    ret = torch.zeros(a.envs)
    total, n = 0.0, 0
    for _ in range(a.steps):
        out = env.step(torch.randint(0, 2, (a.envs,), generator=g))
        ret += out.reward
        d = out.done
        total += float(ret[d].sum())
        n += int(d.sum())
        ret[d] = 0
    print(f"random policy: {total / n:.2f} mean return over {n} episodes")


if __name__ == "__main__":
    main()
