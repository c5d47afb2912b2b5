"""Agents trained by gradient RL, weights frozen at test time (the deep-RL side of the zoo).

Two families implement :class:`DeepAgent`:

- Stable-Baselines3 / sb3-contrib baselines (``agent=ppo|a2c|recurrent_ppo|dqn|popsan_ppo|...``,
  :mod:`snnrl.agents.sb3`): SB3 trains them on our batched env through a VecEnv adapter.
- Recurrent agents trained by BPTT through time with our own recurrent A2C / PPO
  (``agent=stpn|stpn_snn|lstm|rnn``, :mod:`snnrl.agents.recurrent`): SB3 cannot carry a plastic
  recurrent state (STPN's fast weights ``F``) through its rollout buffer.

The runner (:func:`snnrl.cli.deep.train_deep`) calls :meth:`DeepAgent.fit` with the run's
budget, then evaluates the frozen agent with :meth:`DeepAgent.policy_act` over ``eval.episodes``
episodes (docs/PROTOCOL.md), so every deep agent writes the same run directory and metrics as
the online and meta-learned agents.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from snnrl.agents.base import EnvInfo
from snnrl.envs.protocol import BatchedEnv

LogFn = Callable[[dict[str, Any]], None]
"""Receives one metrics record: ``{"step": env steps so far, "train/...": value, ...}``."""


class DeepAgent(abc.ABC):
    """A network trained by gradient RL; frozen weights at evaluation.

    Class attributes:
        name: the zoo name (``agent=NAME``).
        trainer: ``"deep"`` (tells the runner to call :meth:`fit`).
        learns_within_lifetime: False: evaluated over ``eval.episodes`` episodes.
    """

    name: str
    trainer = "deep"
    learns_within_lifetime = False
    rules: tuple = ()

    def __init__(self, cfg: Any, env: EnvInfo, device: torch.device | str = "cpu") -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.env_info = env
        self.device = torch.device(device)

    @abc.abstractmethod
    def fit(self, env: BatchedEnv, total_steps: int, seed: int, log: LogFn,
            log_every: int, run_dir: Path) -> int:
        """Train on ``env`` (``env.num_envs`` envs) for ``total_steps`` env steps over all envs.

        Calls ``log(record)`` about every ``log_every`` steps of each env with
        ``{"step": env steps so far, "train/episode_return": mean return of the episodes that
        ended since the last record (None if none), ...}``. Deterministic given ``seed``.

        Returns:
            Env steps done (may exceed ``total_steps`` by less than one rollout).

        Raises:
            FloatingPointError: a loss or parameter became NaN/Inf (the run is diverged).
        """

    @abc.abstractmethod
    def initial_state(self, batch: int) -> Any:
        """Recurrent state at an episode's start for ``batch`` envs (None if feed-forward)."""

    @abc.abstractmethod
    def policy_act(self, obs: Tensor, state: Any, episode_start: Tensor,
                   deterministic: bool = True) -> tuple[Tensor, Any]:
        """``(action [B] or [B, dim], new state)`` for a batch of observations.

        ``episode_start [B]`` bool: True where ``obs`` is an episode's first observation (the
        agent resets its recurrent state there). Runs under ``torch.no_grad``.
        """

    @abc.abstractmethod
    def save(self, path: Path) -> None:
        """Write the trained weights (loadable with ``torch.load(weights_only=True)``)."""

    @abc.abstractmethod
    def load(self, path: Path) -> None:
        """Read what :meth:`save` wrote, as data only (``weights_only=True``)."""

    @property
    @abc.abstractmethod
    def n_params(self) -> int:
        """Trainable parameters."""

    def op_counter(self) -> Any:
        """An :class:`~snnrl.networks.op_counter.OpCounter` over the frozen policy, or None.

        The runner counts the frozen-weight evaluation with it and writes
        ``energy_counts.json``; None (the default): the agent's operations are not counted.
        """
        return None

    @property
    def n_synapses(self) -> int:
        """Weights of the network (the runner reports it beside the plastic agents' counts)."""
        return self.n_params
