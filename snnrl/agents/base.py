"""The interface every agent in the zoo implements, and what the runner needs to know of it."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import torch
from torch import Tensor

from snnrl.plasticity import RuleInfo

Stats = dict[str, Tensor]
"""Per-step ``[B]`` tensors to log, by slash-namespaced key."""
Ops = dict[str, dict[str, Any]]
"""Operation counts of one step: layer → count key → ``[B]`` tensor or number."""


@dataclass(frozen=True)
class EnvInfo:
    """What an agent is told about its env before it is built (sizes known only from the env)."""

    observation_space: gym.spaces.Space
    action_space: gym.spaces.Space
    obs_low: tuple[float, ...]
    obs_high: tuple[float, ...]


class Agent(abc.ABC):
    """A network plus its learner, batched over ``B`` lifetimes.

    Class attributes:
        name: the zoo name (``agent=NAME``).
        learns_within_lifetime: True for agents whose weights change during a lifetime
            (evaluated over fresh lifetimes with plasticity on; docs/PROTOCOL.md).
        rules: the plasticity rules the agent uses, with their declared signals.
    """

    name: str
    learns_within_lifetime: bool
    rules: tuple[RuleInfo, ...] = ()

    @abc.abstractmethod
    def init_state(self, batch: int, generator: torch.Generator) -> Any:
        """State at a lifetime's start, for ``batch`` lifetimes."""

    @abc.abstractmethod
    def act(
        self, state: Any, obs: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Any, Stats, Ops]:
        """One env step of the network: ``(action [B], new_state, stats, op_counts)``.

        ``stats``: slash-namespaced ``[B]`` tensors to log. ``op_counts``: layer → count key →
        ``[B]`` tensor or number (:mod:`snnrl.networks.counts`); empty when not counting.
        """

    @abc.abstractmethod
    def learn(
        self,
        state: Any,
        reward: Tensor,
        terminated: Tensor,
        truncated: Tensor,
        final_obs: Tensor,
        generator: torch.Generator,
    ) -> tuple[Any, Stats, Ops]:
        """Online learning from the last transition, and per-episode resets by mask."""

    @property
    def layers(self) -> dict[str, Any]:
        """Counted layers (name → :class:`snnrl.networks.LayerInfo`); empty if none."""
        return {}

    @abc.abstractmethod
    def state_dict(self, state: Any) -> dict[str, Tensor]:
        """Tensors that make up the state (for checkpoints)."""

    @abc.abstractmethod
    def health(self, state: Any) -> dict[str, float]:
        """Scalars that reveal divergence (norms); every one must be finite in a healthy run."""

    @property
    @abc.abstractmethod
    def n_synapses(self) -> int:
        """Synapses per lifetime (after encoding)."""
