"""Do fixed linear controllers keep the pole up on the random-physics cart-pole?

    python scripts/fixed_controller_cartpole_random.py [--candidates 512] [--lifetimes 32]
        [--rounds 6] [--elite 32] [--select-lifetimes 256] [--eval-lifetimes 500]
        [--lifetime-steps 500] [--max-episode-steps 500] [--top 3] [--seed 0]

A fixed (non-plastic) linear bang-bang controller pushes right when ``k . obs > 0``:
``action = int(k . obs > 0)``, ``k`` in R^4 (only its direction matters, so candidates live on
the unit sphere). For each task below the script searches such a ``k`` by random search:

1. ``--candidates`` directions uniform on the sphere, each run on the same ``--lifetimes``
   lifetimes (common random numbers: the physics and starting states are drawn once and tiled
   over the candidates, so all candidates of a round see the same cart-poles);
2. ``--rounds - 1`` more rounds: the ``--elite`` best of the previous round are kept and the
   rest of the round is filled with perturbed copies of them (Gaussian noise of scale 0.5,
   halved every round, renormalised); every round draws fresh lifetimes;
3. the last round's elite are re-run on ``--select-lifetimes`` fresh lifetimes and ranked again.

Fitness is the mean fraction of the lifetime the pole stayed up (steps before the first fall /
``--lifetime-steps``); ties keep the earlier candidate. Everything is batched over candidates ×
lifetimes (one env of ``candidates * lifetimes`` cart-poles); the only Python loop is over time.

The tasks (``TorchCartPole`` / ``TorchCartPoleRandom`` with these ``env.kwargs``):

- ``reference``: the standard cart-pole (``TorchCartPole``);
- ``default``: random physics with the default factor ranges (``DEFAULT_RANGES``);
- ``wide``: pole length, pole mass and cart mass factors in [0.25, 4] (push force fixed);
- ``flip``: default ranges and ``force_flip_prob=0.5`` (the push reversed in half the lifetimes);
- ``all10``: all four factor ranges, push force included, in [0.1, 10].

Every controller found (the ``--top`` best of the ``reference`` search, and the best of each other
search) is then evaluated on ``--eval-lifetimes`` fresh lifetimes of every task (the same
lifetimes for every controller; seeds disjoint from the search's) and the table gives the
fraction of lifetimes in which the pole **never fell** (no termination in ``--lifetime-steps``
steps; with ``--max-episode-steps`` < ``--lifetime-steps`` the lifetime spans several episodes,
autoreset in between, and any fall counts), ± its binomial standard error. Many directions keep
the pole up on the standard cart-pole in every search lifetime, so which of them rank first there
is arbitrary; a second table gives min / median / max over all of the ``reference`` search's final
elite that kept the pole up in every selection lifetime. The defaults take about 20 s on 2 idle
CPU cores, up to a minute on busy ones (search progress goes to stderr).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

import torch
from torch import Tensor

from snnrl.envs import TorchCartPole
from snnrl.envs.cartpole_random import DEFAULT_RANGES, TorchCartPoleRandom

TASKS: dict[str, dict[str, Any] | None] = {
    "reference": None,
    "default": dict(DEFAULT_RANGES),
    "wide": {**DEFAULT_RANGES, "length_range": (0.25, 4.0), "masspole_range": (0.25, 4.0),
             "masscart_range": (0.25, 4.0)},
    "flip": {**DEFAULT_RANGES, "force_flip_prob": 0.5},
    "all10": {"length_range": (0.1, 10.0), "masspole_range": (0.1, 10.0),
              "masscart_range": (0.1, 10.0), "force_range": (0.1, 10.0)},
}
"""Task name → ``TorchCartPoleRandom`` kwargs (``None``: the standard ``TorchCartPole``)."""

TASK_LABEL = {
    "reference": "reference cart-pole",
    "default": "default random physics",
    "wide": "length, masses ×[0.25, 4]",
    "flip": "default + `force_flip_prob=0.5`",
    "all10": "all four ×[0.1, 10]",
}

_PHYSICS = ("gravity", "masscart", "masspole", "length", "force_mag")


def make_env(task: str, num_envs: int, max_episode_steps: int | None) -> TorchCartPole:
    kwargs = TASKS[task]
    if kwargs is None:
        return TorchCartPole(num_envs, max_episode_steps)
    return TorchCartPoleRandom(num_envs, max_episode_steps, **kwargs)


def kept_up(
    k: Tensor, task: str, lifetimes: int, steps: int, max_episode_steps: int | None, seed: int
) -> Tensor:
    """Steps before the pole first fell, ``[C, lifetimes]`` (``steps`` if it never fell).

    Each of the ``C`` controllers ``k [C, 4]`` runs the same ``lifetimes`` lifetimes: their
    physics and starting states are drawn by a ``lifetimes``-env instance reset with ``seed``
    and tiled over the controllers.
    """
    c = k.shape[0]
    small = make_env(task, lifetimes, max_episode_steps)
    small.reset(seed=seed)
    env = make_env(task, c * lifetimes, max_episode_steps)
    env.reset(seed=seed)  # seeds the autoreset stream; the lifetimes themselves are tiled in
    for name in _PHYSICS:
        setattr(env, name, getattr(small, name).repeat(c))
    env.state = small.state.repeat(c, 1)
    obs = env.state.to(torch.float32)
    kf = k.to(torch.float32)[:, None, :]  # [C, 1, 4]
    alive = torch.ones(c * lifetimes, dtype=torch.bool)
    survived = torch.zeros(c * lifetimes, dtype=torch.long)
    for t in range(steps):
        action = ((obs.view(c, lifetimes, 4) * kf).sum(-1) > 0).long().view(-1)
        out = env.step(action)
        alive &= ~out.terminated
        survived += alive.long()
        obs = out.obs
        if t % 50 == 49 and not bool(alive.any()):
            break
    return survived.view(c, lifetimes)


def unit(x: Tensor) -> Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def search(task: str, a: argparse.Namespace, seed: int) -> tuple[Tensor, Tensor]:
    """Random search on ``task``: the re-ranked last elite ``[elite, 4]`` and its fitness."""
    g = torch.Generator().manual_seed(seed)
    k = unit(torch.randn(a.candidates, 4, generator=g, dtype=torch.float64))
    sigma = 0.5
    for r in range(a.rounds):
        fit = kept_up(k, task, a.lifetimes, a.lifetime_steps, a.max_episode_steps,
                      seed * 1000 + r).double().mean(1) / a.lifetime_steps
        order = torch.sort(fit, descending=True, stable=True).indices
        elite = k[order[: a.elite]]
        print(f"  {task:9s} round {r}: best {float(fit[order[0]]):.3f}, "
              f"elite mean {float(fit[order[: a.elite]].mean()):.3f}", file=sys.stderr)
        if r == a.rounds - 1:
            break
        parents = elite[torch.randint(0, a.elite, (a.candidates - a.elite,), generator=g)]
        noise = torch.randn(parents.shape, generator=g, dtype=torch.float64)
        k = torch.cat([elite, unit(parents + sigma * noise)])
        sigma /= 2
    fit = kept_up(elite, task, a.select_lifetimes, a.lifetime_steps, a.max_episode_steps,
                  seed * 1000 + 999).double().mean(1) / a.lifetime_steps
    order = torch.sort(fit, descending=True, stable=True).indices
    return elite[order], fit[order]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--candidates", type=int, default=512)
    ap.add_argument("--lifetimes", type=int, default=32, help="per candidate per search round")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--elite", type=int, default=32)
    ap.add_argument("--select-lifetimes", type=int, default=256)
    ap.add_argument("--eval-lifetimes", type=int, default=500)
    ap.add_argument("--lifetime-steps", type=int, default=500)
    ap.add_argument("--max-episode-steps", type=int, default=500, help="0: no time limit")
    ap.add_argument("--top", type=int, default=3, help="reference-tuned controllers reported")
    ap.add_argument("--tune-on", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--evaluate-on", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.max_episode_steps == 0:
        a.max_episode_steps = None
    if not 1 <= a.elite <= a.candidates:
        ap.error("--elite must be in [1, --candidates]")
    t0 = time.perf_counter()

    controllers: list[tuple[str, Tensor, float]] = []  # (label, k, selection fitness)
    ref_elite = torch.zeros(0, 4, dtype=torch.float64)  # reference elite perfect at selection
    for i, task in enumerate(a.tune_on):
        ks, fit = search(task, a, seed=a.seed * 100 + i + 1)
        n = min(a.top, len(ks)) if task == "reference" else 1
        for j in range(n):
            label = TASK_LABEL[task] + (f" (#{j + 1})" if n > 1 else "")
            controllers.append((label, ks[j], float(fit[j])))
        if task == "reference":
            ref_elite = ks[fit >= 1.0]
    k = torch.cat([torch.stack([c[1] for c in controllers]), ref_elite])

    eval_seed = 10**6 + a.seed  # disjoint from the search seeds (seed * 1000 + round)
    kept = {}
    for task in a.evaluate_on:
        s = kept_up(k, task, a.eval_lifetimes, a.lifetime_steps, a.max_episode_steps, eval_seed)
        kept[task] = (s >= a.lifetime_steps).double().mean(1)

    print("command: python scripts/fixed_controller_cartpole_random.py " + " ".join(sys.argv[1:]))
    print("args: " + ", ".join(f"{key}={val}" for key, val in vars(a).items()))
    print()
    print(f"Fraction of {a.eval_lifetimes} fresh lifetimes of {a.lifetime_steps} steps "
          f"(max_episode_steps {a.max_episode_steps}) in which the pole never fell; "
          "± binomial standard error.")
    print()
    print("| controller tuned on | k (unit) | "
          + " | ".join(TASK_LABEL[t] for t in a.evaluate_on) + " |")
    print("|---|---|" + "---:|" * len(a.evaluate_on))
    for i, (label, kk, _) in enumerate(controllers):
        cells = []
        for task in a.evaluate_on:
            p = float(kept[task][i])
            se = math.sqrt(p * (1 - p) / a.eval_lifetimes)
            cells.append(f"{100 * p:.1f} ± {100 * se:.1f} %")
        ks = "[" + ", ".join(f"{float(v):+.3f}" for v in kk) + "]"
        print(f"| {label} | {ks} | " + " | ".join(cells) + " |")
    if len(ref_elite):
        print()
        print(f"All {len(ref_elite)} reference-tuned elite controllers that kept the pole up in "
              f"every one of the {a.select_lifetimes} selection lifetimes (min / median / max):")
        print()
        print("| evaluated on | min | median | max |")
        print("|---|---:|---:|---:|")
        for task in a.evaluate_on:
            p = kept[task][len(controllers):]
            print(f"| {TASK_LABEL[task]} | {100 * float(p.min()):.1f} % | "
                  f"{100 * float(p.median()):.1f} % | {100 * float(p.max()):.1f} % |")
    print()
    print(f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
