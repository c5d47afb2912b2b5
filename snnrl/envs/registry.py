"""Build a batched env from its config (``env=NAME``).

Three backends: ``native`` (a batched torch implementation, looked up by Gymnasium id in
:data:`NATIVE_ENVS`), ``gym`` (any registered Gymnasium id through :class:`GymAdapter`) and
``factory`` (a builder in :data:`ENV_FACTORIES`, for envs that need wrappers). Only these
registered names can be built: a config never names a Python object to import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from snnrl.envs.ant import FACTORIES as ANT_FACTORIES
from snnrl.envs.atari import FACTORIES as ATARI_FACTORIES
from snnrl.envs.cartpole import TorchCartPole
from snnrl.envs.cartpole_random import TorchCartPoleRandom
from snnrl.envs.gym_adapter import GymAdapter
from snnrl.envs.maze import TorchMaze
from snnrl.envs.protocol import BatchedEnv

NATIVE_ENVS: dict[str, Callable[..., BatchedEnv]] = {
    "snnrl/CartPole-v1": TorchCartPole,
    "snnrl/CartPoleRandom-v1": TorchCartPoleRandom,
    "snnrl/Maze-v0": TorchMaze,
}
"""Gymnasium id → native batched torch implementation, called as
``factory(num_envs=, max_episode_steps=, device=, **kwargs)``."""

ENV_FACTORIES: dict[str, Callable[..., BatchedEnv]] = {**ANT_FACTORIES, **ATARI_FACTORIES}
"""Config name → builder ``factory(num_envs=, max_episode_steps=, device=, **kwargs)``."""


def make_env(cfg: Any, num_envs: int, device: torch.device | str = "cpu") -> BatchedEnv:
    """Batched env for an :class:`snnrl.config.EnvConfig`."""
    from snnrl.config import ConfigError

    kwargs = dict(getattr(cfg, "kwargs", {}) or {})
    if cfg.backend == "native":
        try:
            factory = NATIVE_ENVS[cfg.id]
        except KeyError:
            raise ConfigError("env.id", cfg.id,
                              f"one of {sorted(NATIVE_ENVS)} for env.backend=native") from None
    elif cfg.backend == "factory":
        try:
            factory = ENV_FACTORIES[cfg.name]
        except KeyError:
            raise ConfigError("env.name", cfg.name,
                              f"one of {sorted(ENV_FACTORIES)} for env.backend=factory") from None
    else:
        import gymnasium as gym

        if cfg.id not in gym.registry:
            raise ConfigError("env.id", cfg.id, "a registered Gymnasium id")
        # Gymnasium reads max_episode_steps=None as "the registered limit" and -1 as "none"
        limit = -1 if cfg.max_episode_steps is None else cfg.max_episode_steps
        return GymAdapter(cfg.id, num_envs=num_envs, device=device, max_episode_steps=limit,
                          **kwargs)
    try:
        env = factory(num_envs=num_envs, max_episode_steps=cfg.max_episode_steps, device=device,
                      **kwargs)
    except TypeError as e:  # an unknown or missing constructor argument in env.kwargs
        raise ConfigError("env.kwargs", kwargs, f"arguments the env accepts ({e})") from None
    except ValueError as e:  # a constructor argument out of range
        raise ConfigError("env.kwargs", kwargs, str(e)) from None
    env.env_id = cfg.id
    return env
