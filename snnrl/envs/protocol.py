"""The batched environment protocol every snnrl env speaks.

One object runs ``num_envs`` environments in lockstep over torch tensors:

- ``reset(seed) -> (obs [B, *obs_shape], info)``;
- ``step(action [B, ...]) -> EnvStep(obs, reward [B], terminated [B], truncated [B], info)``.

**Autoreset happens in the same step** (Gymnasium's ``AutoresetMode.SAME_STEP``): when env ``b``
terminates or truncates at step ``t``, the ``obs[b]`` returned by that step is already the *new*
episode's first observation, the ended episode's last observation sits in
``info["final_obs"][b]``, and ``reward[b]``/``terminated[b]``/``truncated[b]`` belong to the ended
episode. So the reward and the done mask of a step line up with the same transition, and a
plastic agent can reset its per-episode state by mask before it sees the next observation.
``info["final_obs"]`` is always present, equal to ``obs`` where the env did not finish.
"""

from __future__ import annotations

import abc
from typing import Any, NamedTuple

import gymnasium as gym
import torch
from torch import Tensor


class EnvStep(NamedTuple):
    """What one batched step returns."""

    obs: Tensor  # [B, *obs_shape]; first obs of the next episode where done
    reward: Tensor  # [B] float32
    terminated: Tensor  # [B] bool
    truncated: Tensor  # [B] bool
    info: dict[str, Any]  # always holds "final_obs" [B, *obs_shape]

    @property
    def done(self) -> Tensor:
        """``terminated | truncated``, shape ``[B]``."""
        return self.terminated | self.truncated


class BatchedEnv(abc.ABC):
    """Base class of every batched env (native torch ones and the Gymnasium adapter).

    Attributes:
        num_envs: the batch size ``B``.
        single_observation_space: space of one env's observation.
        single_action_space: space of one env's action.
        device: where the returned tensors live.
        env_id: the Gymnasium id this env corresponds to (cited by results and leaderboards).
    """

    num_envs: int
    single_observation_space: gym.spaces.Space
    single_action_space: gym.spaces.Space
    device: torch.device
    env_id: str

    @abc.abstractmethod
    def reset(self, seed: int | None = None) -> tuple[Tensor, dict[str, Any]]:
        """Reset every env; a seed makes the whole batch reproducible."""

    @abc.abstractmethod
    def step(self, action: Tensor) -> EnvStep:
        """Advance every env by one step, autoresetting finished ones in the same step."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (processes, simulators)."""
