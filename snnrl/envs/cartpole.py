"""Batched cart-pole in torch, step-for-step identical to Gymnasium's ``CartPole-v1``.

## Description
The cart-pole of Barto, Sutton & Anderson (1983, IEEE SMC 13): a pole hinged on a cart moving
on a frictionless track; push the cart left or right to keep the pole upright. The dynamics,
constants, Euler integration, thresholds and rewards are those of Gymnasium 1.x
``gymnasium/envs/classic_control/cartpole.py``; the physics state is float64 as there, and the
observation is its float32 copy. ``tests/envs/test_cartpole.py`` checks parity step by step.

Physics parameters are ``[B]`` tensors, so each env of the batch may have its own (derived
constants such as ``polemass_length`` are computed from them, never written twice).

## Action Space
``Discrete(2)``: 0 pushes the cart left, 1 right, with force ``force_mag`` (10 N).

## Observation Space
``Box(4,)`` float32: cart position (terminates beyond ±2.4), cart velocity, pole angle
(terminates beyond ±12°), pole angular velocity.

## Rewards
+1 for every step, the terminating one included.

## Starting State
All four state variables uniform in (-0.05, 0.05).

## Episode End
Termination when ``|x| > 2.4`` or ``|theta| > 12°``; truncation after ``max_episode_steps``
(500) steps. In the batched env, finished envs autoreset in the same step (see
:mod:`snnrl.envs.protocol`).

## Lifetimes
The env knows nothing of lifetimes: plastic state that persists across episodes lives in the
agent, which resets it only at a lifetime's start.

## Arguments
``num_envs``, ``max_episode_steps`` (500), ``device``, ``autoreset`` (True; the single-env
Gymnasium class turns it off).

## Version History
* v1: parity with Gymnasium ``CartPole-v1`` (Gymnasium 1.x).

>>> env = TorchCartPole(num_envs=3)
>>> obs, _ = env.reset(seed=0)
>>> obs.shape
torch.Size([3, 4])
>>> out = env.step(torch.ones(3, dtype=torch.long))
>>> out.reward
tensor([1., 1., 1.])
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from snnrl.envs.gym_vector import TorchVectorEnv
from snnrl.envs.protocol import BatchedEnv, EnvStep

_F64 = torch.float64


class TorchCartPole(BatchedEnv):
    """``num_envs`` cart-poles in lockstep on ``device``.

    Args:
        num_envs: batch size ``B``.
        max_episode_steps: truncation horizon (``None``: never truncate).
        device: torch device of the state and of the returned tensors.
        autoreset: reset finished envs inside ``step`` (same-step rule).
    """

    env_id = "CartPole-v1"

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int | None = 500,
        device: torch.device | str = "cpu",
        autoreset: bool = True,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.device = torch.device(device)
        self.autoreset = autoreset
        b = (num_envs,)
        self.gravity = torch.full(b, 9.8, dtype=_F64, device=self.device)
        self.masscart = torch.full(b, 1.0, dtype=_F64, device=self.device)
        self.masspole = torch.full(b, 0.1, dtype=_F64, device=self.device)
        self.length = torch.full(b, 0.5, dtype=_F64, device=self.device)  # half the pole
        self.force_mag = torch.full(b, 10.0, dtype=_F64, device=self.device)
        self.tau = 0.02
        self.theta_threshold_radians = 12 * 2 * math.pi / 360
        self.x_threshold = 2.4
        high = np.array(
            [self.x_threshold * 2, np.inf, self.theta_threshold_radians * 2, np.inf],
            dtype=np.float32,
        )
        self.single_observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.single_action_space = gym.spaces.Discrete(2)
        self.state = torch.zeros(num_envs, 4, dtype=_F64, device=self.device)
        self.elapsed = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(0)

    @property
    def total_mass(self) -> Tensor:
        """Cart plus pole mass, ``[B]``."""
        return self.masspole + self.masscart

    @property
    def polemass_length(self) -> Tensor:
        """Pole mass times half-length, ``[B]``."""
        return self.masspole * self.length

    def _initial_states(self, n: int) -> Tensor:
        u = torch.rand(n, 4, generator=self.generator, dtype=_F64, device=self.device)
        return u * 0.1 - 0.05

    def reset(self, seed: int | None = None) -> tuple[Tensor, dict[str, Any]]:
        """Reset every env; ``seed`` reseeds the batch's generator."""
        if seed is not None:
            self.generator.manual_seed(int(seed))
        self.state = self._initial_states(self.num_envs)
        self.elapsed = torch.zeros_like(self.elapsed)
        return self.state.to(torch.float32), {}

    def dynamics(self, state: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """One Euler step of the physics: ``(next_state [B, 4], terminated [B])`` (pure)."""
        x, x_dot, theta, theta_dot = state.unbind(-1)
        force = torch.where(action == 1, self.force_mag, -self.force_mag)
        costheta, sintheta = torch.cos(theta), torch.sin(theta)
        temp = (force + self.polemass_length * theta_dot.square() * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * costheta.square() / self.total_mass)
        )
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        nxt = torch.stack(
            (
                x + self.tau * x_dot,
                x_dot + self.tau * xacc,
                theta + self.tau * theta_dot,
                theta_dot + self.tau * thetaacc,
            ),
            -1,
        )
        terminated = (
            (nxt[:, 0] < -self.x_threshold)
            | (nxt[:, 0] > self.x_threshold)
            | (nxt[:, 2] < -self.theta_threshold_radians)
            | (nxt[:, 2] > self.theta_threshold_radians)
        )
        return nxt, terminated

    def step(self, action: Tensor) -> EnvStep:
        """Advance every env one step (same-step autoreset when ``autoreset``)."""
        action = torch.as_tensor(action, device=self.device).reshape(self.num_envs)
        nxt, terminated = self.dynamics(self.state, action)
        self.elapsed = self.elapsed + 1
        if self.max_episode_steps is None:
            truncated = torch.zeros_like(terminated)
        else:
            truncated = (self.elapsed >= self.max_episode_steps) & ~terminated
        reward = torch.ones(self.num_envs, dtype=torch.float32, device=self.device)
        final_obs = nxt.to(torch.float32)
        if self.autoreset:
            done = terminated | truncated
            fresh = self._initial_states(self.num_envs)  # drawn for all: keeps the stream fixed
            nxt = torch.where(done[:, None], fresh, nxt)
            self.elapsed = torch.where(done, torch.zeros_like(self.elapsed), self.elapsed)
            obs = nxt.to(torch.float32)
        else:
            obs = final_obs
        self.state = nxt
        return EnvStep(obs, reward, terminated, truncated, {"final_obs": final_obs})


class CartPoleEnv(gym.Env):
    """Single-env Gymnasium face of :class:`TorchCartPole` (id ``snnrl/CartPole-v1``).

    Truncation comes from the ``TimeLimit`` that ``gym.make`` adds (``max_episode_steps=500``),
    as for Gymnasium's own ``CartPole-v1``.

    >>> import snnrl, gymnasium as gym
    >>> env = gym.make("snnrl/CartPole-v1")
    >>> obs, info = env.reset(seed=1)
    >>> obs.shape, obs.dtype
    ((4,), dtype('float32'))
    """

    metadata = {"render_modes": []}

    def __init__(self, render_mode: str | None = None) -> None:
        self._env = TorchCartPole(num_envs=1, max_episode_steps=None, autoreset=False)
        self.observation_space = self._env.single_observation_space
        self.action_space = self._env.single_action_space
        self.render_mode = render_mode

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Gymnasium reset."""
        super().reset(seed=seed)
        if seed is not None:
            self._env.generator.manual_seed(int(seed))
        elif not hasattr(self, "_seeded"):
            self._env.generator.manual_seed(int(self.np_random.integers(2**62)))
        self._seeded = True
        obs, _ = self._env.reset()
        return obs[0].numpy(), {}

    def step(self, action):
        """Gymnasium step (no autoreset; call reset after termination)."""
        out = self._env.step(torch.tensor([int(action)]))
        return (out.obs[0].numpy(), float(out.reward[0]), bool(out.terminated[0]), False, {})


class CartPoleVectorEnv(TorchVectorEnv):
    """Gymnasium vector face of :class:`TorchCartPole`, autoresetting in the same step.

    Made by ``gym.make_vec("snnrl/CartPole-v1", num_envs=N,
    vectorization_mode="vector_entry_point")``; the final observation of a finished episode is
    ``info["final_obs"]`` (an object array holding ``None`` where an env did not finish, with
    ``info["_final_obs"]`` its mask), as Gymnasium's SAME_STEP mode lays it out.

    >>> import snnrl, gymnasium as gym
    >>> envs = gym.make_vec("snnrl/CartPole-v1", num_envs=4,
    ...                     vectorization_mode="vector_entry_point")
    >>> obs, info = envs.reset(seed=0)
    >>> obs.shape
    (4, 4)
    """

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int | None = 500,
        render_mode: str | None = None,
        device: str = "cpu",
    ) -> None:
        super().__init__(
            TorchCartPole(num_envs, max_episode_steps, device=device, autoreset=True), render_mode
        )
