"""Environments under one batched torch protocol, and their Gymnasium registrations.

Importing :mod:`snnrl` registers every ``snnrl/...`` id with Gymnasium (Gymnasium 1.x has no
entry-point plugin loader), so ``gym.make("snnrl/CartPole-v1")`` and
``gym.make_vec("snnrl/CartPole-v1", num_envs=N, vectorization_mode="vector_entry_point")`` work.
"""

from __future__ import annotations

import gymnasium as gym

from snnrl.envs.cartpole import CartPoleEnv, CartPoleVectorEnv, TorchCartPole
from snnrl.envs.cartpole_random import TorchCartPoleRandom, register_cartpole_random
from snnrl.envs.gym_adapter import GymAdapter
from snnrl.envs.maze import MazeEnv, TorchMaze, register_maze
from snnrl.envs.protocol import BatchedEnv, EnvStep
from snnrl.envs.registry import ENV_FACTORIES, NATIVE_ENVS, make_env


def register_envs() -> None:
    """Register all ``snnrl/*`` ids with Gymnasium (idempotent)."""
    if "snnrl/CartPole-v1" not in gym.registry:
        gym.register(
            id="snnrl/CartPole-v1",
            entry_point="snnrl.envs.cartpole:CartPoleEnv",
            vector_entry_point="snnrl.envs.cartpole:CartPoleVectorEnv",
            max_episode_steps=500,
            reward_threshold=475.0,
        )
    register_cartpole_random()
    register_maze()


__all__ = [
    "BatchedEnv",
    "CartPoleEnv",
    "CartPoleVectorEnv",
    "ENV_FACTORIES",
    "EnvStep",
    "GymAdapter",
    "MazeEnv",
    "NATIVE_ENVS",
    "TorchCartPole",
    "TorchCartPoleRandom",
    "TorchMaze",
    "make_env",
    "register_envs",
]
