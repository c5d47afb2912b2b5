"""Mean episode return of a uniformly random policy, on the native cart-pole or any env config.

    python scripts/random_baseline.py [--envs 1024] [--steps 5000] [--seed 0]
    python scripts/random_baseline.py --env NAME [--envs 16] [--steps 5000] [--seed 0]
        [--override env.kwargs.KEY=VALUE ...]

Without ``--env``: the native cart-pole (:class:`snnrl.envs.TorchCartPole`, 500-step limit),
actions uniform over {0, 1} from a ``torch.Generator`` seeded with ``--seed``; the figure recorded
as ``random_return`` in ``conf/env/cartpole.yaml`` came from the defaults.

With ``--env NAME``: any env config in ``conf/env/`` (``snnrl train env=NAME``), composed with
Hydra (plus any ``--override``, e.g. ``env.kwargs.vectorization_mode=sync``) and built by
:func:`snnrl.envs.make_env` with ``--envs`` envs on the CPU, under the config's own time limit
and settings. ``env.reset(seed=--seed)``; each step every env gets an action sampled from
``env.single_action_space`` (seeded with ``--seed``), so continuous action spaces work too.

Either way episodes are counted when they end (terminated or truncated) within ``--steps`` steps
of every env; episodes still running at the end are not counted. ± is the standard error of the
mean over the counted episodes.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from snnrl.envs import TorchCartPole


def cartpole(a: argparse.Namespace) -> None:
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


def any_env(a: argparse.Namespace) -> None:
    from hydra import compose, initialize_config_dir

    from snnrl.cli.app import conf_dir
    from snnrl.cli.train import validate
    from snnrl.config import register_schemas
    from snnrl.envs import make_env

    register_schemas()
    with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir())):
        cfg = compose("train", overrides=[f"env={a.env}", *a.override])
    c = validate(cfg)
    t0 = time.perf_counter()
    env = make_env(c.env, a.envs, "cpu")
    space = env.single_action_space
    space.seed(a.seed)
    returns: list[torch.Tensor] = []
    try:
        env.reset(seed=a.seed)
        ret = torch.zeros(a.envs, dtype=torch.float64)
        for _ in range(a.steps):
            actions = torch.as_tensor(np.stack([space.sample() for _ in range(a.envs)]))
            out = env.step(actions)
            ret += out.reward.double().cpu()
            d = out.done.cpu()
            if bool(d.any()):
                returns.append(ret[d].clone())
                ret[d] = 0
    finally:
        env.close()
    r = torch.cat(returns) if returns else torch.zeros(0, dtype=torch.float64)
    n = len(r)
    limit = c.env.max_episode_steps
    setup = (f"{a.envs} envs x {a.steps} steps, seed {a.seed}, time limit {limit}, "
             f"{time.perf_counter() - t0:.0f} s")
    if n == 0:
        print(f"{a.env}: no episode ended ({setup})")
        return
    se = float(r.std()) / math.sqrt(n) if n > 1 else float("nan")
    print(f"{a.env}: random policy: {float(r.mean()):.3f} ± {se:.3f} mean return over {n} "
          f"episodes ({setup})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default=None,
                    help="env config name (conf/env/NAME.yaml); default: the native cart-pole")
    ap.add_argument("--envs", type=int, default=None, help="1024 without --env, 16 with it")
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--override", action="append", default=[],
                    help="extra Hydra override for the config, e.g. env.kwargs.KEY=VALUE")
    a = ap.parse_args()
    if a.env is None:
        if a.override:
            ap.error("--override needs --env")
        a.envs = 1024 if a.envs is None else a.envs
        cartpole(a)
    else:
        a.envs = 16 if a.envs is None else a.envs
        any_env(a)


if __name__ == "__main__":
    main()
