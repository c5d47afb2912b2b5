"""``snnrl eval RUN_DIR [--horizons 1,10,100]``: long-horizon stability of a trained run.

Rebuilds the run's agent from its ``config.yaml`` (read as data: ``yaml.safe_load``, no
interpolation, only snnrl's own schemas) and ``checkpoint.pt`` (``weights_only=True``), runs it
for ``k × lifetime_steps`` steps with plastic state never reset (:mod:`snnrl.eval.longhorizon`),
and writes ``RUN_DIR/eval/long_horizon/`` (``--control``: also the plasticity-off arm, in
``eval/long_horizon_control/``). ``summary.json`` is never touched.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from snnrl.config import ConfigError, resolve_device


def _horizons(text: str) -> list[int]:
    try:
        ks = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError("--horizons", text, "comma-separated integers >= 1, e.g. 1,10,100"
                          ) from None
    if not ks or any(k < 1 for k in ks):
        raise ConfigError("--horizons", text, "comma-separated integers >= 1, e.g. 1,10,100")
    return ks


def load_agent(run_dir: Path, device: torch.device) -> tuple[Any, Any]:
    """``(config, agent)`` of a finished run, with its checkpoint's meta-parameters or weights.

    A gradient learner's (``learner=bptt``) meta-parameters include a value head: the agent
    gets one before ``theta``'s size is checked.
    """
    from snnrl.agents import make_agent
    from snnrl.cli.train import _env_info, load_run_config
    from snnrl.envs import make_env

    c = load_run_config(run_dir)
    env = make_env(c.env, 1, device)
    try:
        agent = make_agent(c.agent, _env_info(env, c), device)
    finally:
        env.close()
    ckpt = run_dir / "checkpoint.pt"
    if not agent.learns_within_lifetime:  # deep agents: trained weights (weights_only)
        from snnrl.cli.deep import load_weights

        load_weights(agent, run_dir)
    elif hasattr(agent, "set_theta"):
        if not ckpt.is_file():
            raise ConfigError("RUN_DIR", str(run_dir), "a run dir with checkpoint.pt (meta-"
                              "learned agents are evaluated from their final meta-parameters)")
        try:
            obj = torch.load(ckpt, map_location="cpu", weights_only=True)
        except Exception as e:  # a corrupt or foreign file: one line, not a traceback
            raise ConfigError(str(ckpt), type(e).__name__, "a checkpoint snnrl train wrote"
                              ) from None
        theta = obj.get("theta") if isinstance(obj, dict) else None
        if c.learner.name == "bptt" and hasattr(agent, "with_value_head"):
            agent.with_value_head()  # gradient learners' theta holds a value head too
        if not isinstance(theta, torch.Tensor) or theta.shape != (agent.n_meta,):
            raise ConfigError(str(ckpt), getattr(theta, "shape", None),
                              f"a 'theta' tensor of shape ({agent.n_meta},) for {c.agent.name}")
        agent.set_theta(theta.to(device))
    return c, agent


def run_eval(argv: list[str]) -> int:
    """Entry point of ``snnrl eval``."""
    p = argparse.ArgumentParser(prog="snnrl eval", description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--horizons", default="1,10,100",
                   help="multiples of the training lifetime (default 1,10,100)")
    p.add_argument("--lifetimes", type=int, default=None,
                   help="lifetimes in parallel (default: the run's eval.lifetimes)")
    p.add_argument("--device", default=None, help="cpu | cuda (default: the run's device)")
    p.add_argument("--control", action="store_true",
                   help="also run the plasticity-off arm (same initial weights)")
    args = p.parse_args(argv)
    horizons = _horizons(args.horizons)
    if args.lifetimes is not None and args.lifetimes < 1:
        raise ConfigError("--lifetimes", args.lifetimes, "an integer >= 1")
    run_dir: Path = args.run_dir
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError("RUN_DIR", str(run_dir), "a run directory with config.yaml")
    cpu = torch.device("cpu")
    c, _ = load_agent(run_dir, cpu)
    device = resolve_device(args.device or c.device)
    torch.set_num_threads(c.torch_threads)
    c, agent = load_agent(run_dir, device)
    if not agent.learns_within_lifetime:
        raise ConfigError("RUN_DIR", str(run_dir), f"a run of an agent that lives lifetimes "
                          f"({c.agent.name} is a frozen-weight deep agent: train it on a _long "
                          "env variant to test it far past its training episodes)")
    from snnrl.eval.longhorizon import evaluate_horizons

    if args.control and not hasattr(agent, "plastic"):
        raise ConfigError("--control", True, f"an agent with a switchable rule ({c.agent.name} "
                          "has its own control run: agent.plasticity=false)")
    arms = [("long_horizon", True)] + ([("long_horizon_control", False)] if args.control else [])
    for tag, plastic in arms:
        if hasattr(agent, "plastic"):
            agent.plastic = plastic
        m = evaluate_horizons(c, agent, run_dir, horizons, device, args.lifetimes, tag=tag)
        print(f"\nsnnrl eval: {run_dir} ({'plasticity on' if plastic else 'control: off'})")
        for k in horizons:
            keys = ("score_first", "score_last", "ratio", "time_to_collapse_steps",
                    "max_drawdown", "failures_per_1000_last", "weight_drift")
            row = ", ".join(f"{key}={m[f'stability/h{k}/{key}']:.3g}" for key in keys
                            if m.get(f"stability/h{k}/{key}") is not None)
            print(f"  h={k}: {row}")
        print(f"  written: {run_dir / 'eval' / tag}")
    return 0
