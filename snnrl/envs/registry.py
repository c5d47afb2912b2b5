"""Build a batched env from its config (``env=NAME``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from snnrl.envs.cartpole import TorchCartPole
from snnrl.envs.gym_adapter import GymAdapter
from snnrl.envs.protocol import BatchedEnv

NATIVE_ENVS: dict[str, Callable[..., BatchedEnv]] = {"snnrl/CartPole-v1": TorchCartPole}
"""Gymnasium id → native batched torch implementation."""


def make_env(cfg: Any, num_envs: int, device: torch.device | str = "cpu") -> BatchedEnv:
    """Batched env for an :class:`snnrl.config.EnvConfig` (``backend`` native or gym)."""
    from snnrl.config import ConfigError

    if cfg.backend == "native":
        try:
            factory = NATIVE_ENVS[cfg.id]
        except KeyError:
            raise ConfigError(
                "env.id", cfg.id, f"one of {sorted(NATIVE_ENVS)} for env.backend=native"
            ) from None
        env = factory(num_envs=num_envs, max_episode_steps=cfg.max_episode_steps, device=device)
        env.env_id = cfg.id
        return env
    import gymnasium as gym

    if cfg.id not in gym.registry:
        raise ConfigError("env.id", cfg.id, "a registered Gymnasium id")
    return GymAdapter(
        cfg.id, num_envs=num_envs, device=device, max_episode_steps=cfg.max_episode_steps
    )
