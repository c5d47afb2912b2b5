"""Reference returns on the grid maze: a uniformly random policy and a shortest-path oracle.

    python scripts/maze_references.py [--envs 4096] [--episodes 10] [--seed 0] [--sizes 9 11 13]
    python scripts/maze_references.py --lifetime   # per 200-step block of the lifetime variant

Runs ``--envs`` mazes of each size in one batch (:class:`snnrl.envs.maze.TorchMaze`, 200-step
episodes) for ``--episodes`` episodes per env and prints the mean total reward per episode of

- **random**: actions uniform over the four moves, drawn from a generator seeded with ``--seed``;
- **oracle**: an agent that knows the reward cell and always steps along a shortest path to it
  (BFS distances over the grid, :meth:`TorchMaze.oracle_action`). No agent can beat it in
  expectation: it is the ceiling that normalised maze scores divide by,
  ``(return - random) / (oracle - random)``.

With ``--lifetime`` the env has no time limit (``conf/env/maze_lifetime.yaml``): each env lives
``--episodes`` blocks of 200 steps in one run, the reward cell moving at every block boundary,
and the table gives the mean reward per block. Blocks after the first start wherever the agent
is, not at the centre, so these differ a little from the per-episode figures.

The ± column is the standard error over episodes (blocks). The figures recorded as ``random_return``
(and, in a comment, the oracle's) in ``conf/env/maze.yaml`` came from the defaults.
"""

from __future__ import annotations

import argparse
import math

import torch

from snnrl.envs.maze import TorchMaze


def episode_returns(
    size: int, policy: str, envs: int, episodes: int, seed: int, lifetime: bool = False
) -> torch.Tensor:
    """Total reward of each finished episode (or block), ``[envs * episodes]``."""
    env = TorchMaze(envs, size=size, max_episode_steps=None if lifetime else 200, block_steps=200)
    env.reset(seed=seed)
    g = torch.Generator().manual_seed(seed)
    ret = torch.zeros(envs)
    done_returns = []
    for t in range(1, 200 * episodes + 1):
        if policy == "random":
            action = torch.randint(0, 4, (envs,), generator=g)
        else:
            action = env.oracle_action()
        out = env.step(action)
        ret += out.reward
        if t % 200 == 0:  # one clock for the whole batch: every env ends a block together
            assert bool(out.truncated.all()) != lifetime
            done_returns.append(ret.clone())
            ret.zero_()
    return torch.cat(done_returns)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--envs", type=int, default=4096)
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", type=int, nargs="+", default=[9, 11, 13])
    ap.add_argument("--lifetime", action="store_true", help="per block, no time limit")
    a = ap.parse_args()
    torch.set_num_threads(1)
    n = a.envs * a.episodes
    what = "200-step blocks of lifetimes" if a.lifetime else "200-step episodes"
    print(f"{n} {what} per cell ({a.envs} envs x {a.episodes}), seed {a.seed}\n")
    print("| size | free cells | random | ± | oracle | ± |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size in a.sizes:
        row = [f"{size}×{size}", str(TorchMaze(1, size=size).n_free)]
        for policy in ("random", "oracle"):
            r = episode_returns(size, policy, a.envs, a.episodes, a.seed, a.lifetime)
            row += [f"{r.mean():.2f}", f"{r.std() / math.sqrt(len(r)):.2f}"]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
