"""Cart-pole whose physics are re-drawn at each lifetime's start (``snnrl/CartPoleRandom-v1``).

## Description
The cart-pole of :mod:`snnrl.envs.cartpole` (Gymnasium ``CartPole-v1`` dynamics, float64 state),
except that every env of the batch gets its own pole half-length, pole mass and cart mass (and,
optionally, push force and push direction), drawn when a **lifetime** starts, so that a
controller tuned for one cart-pole is not tuned for the next (REFERENCES.md: evolution solves
fixed cart-pole with plasticity switched off).

How much that asks of plasticity was measured (``python
scripts/fixed_controller_cartpole_random.py``: fixed linear bang-bang controllers
``a = [k . s > 0]``, ``k`` found by batched random search, 500 fresh lifetimes of 500 steps;
docs/ENVIRONMENTS.md): controllers that never drop the pole on the reference cart-pole keep it
up in 54-100 % (median 86 %) of lifetimes under the default ranges, and one tuned on the random
draws themselves keeps it up in 100 % (also 100 % with every factor range widened to
[0.25, 4], 89 % at [0.1, 10]). Cart-pole is robustly stabilisable, so random masses and lengths
test robustness more than adaptation. ``force_flip_prob`` (reversed push direction in a
fraction of lifetimes; off by default) is what makes a fixed controller fail: with 0.5 the best
fixed controller managed about 50 %; only an agent that adapts within its life can do better.

Each parameter is the ``CartPole-v1`` value times a factor drawn **log-uniformly** from
``[lo, hi]``: ``factor = exp(U(log lo, log hi))``. With the default ``[0.5, 2]`` halving and
doubling are equally likely and the median is the reference cart-pole. Defaults:

=================  =========  ============  =====================================================
parameter          reference  factor range  why
=================  =========  ============  =====================================================
pole half-length   0.5 m      [0.5, 2]      the pole's time scale ``sqrt(l/g)`` changes by up to
                                            ×1.41 either way (0.16-0.32 s, i.e. 8-16 steps of
                                            20 ms), so the gain a controller needs changes too,
                                            while the shortest pole is still slow against the
                                            50 Hz control rate
pole mass          0.1 kg     [0.5, 2]      changes the coupling ``m_p l / (m_p + m_c)`` between
                                            the pole and the cart's acceleration
cart mass          1.0 kg     [0.5, 2]      the cart's response to the 10 N push: a factor 4
                                            between the lightest and the heaviest cart
push force         10 N       [1, 1]        off by default (it only rescales the action's
                                            effect, which the masses already vary); give a
                                            range to switch it on
push direction     +          flip prob. 0  ``force_flip_prob``: the chance that action 1
                                            pushes left for a whole lifetime
=================  =========  ============  =====================================================

Derived constants (``total_mass``, ``polemass_length``) stay properties of the drawn ``[B]``
tensors, never stored. With every range ``[1, 1]`` the env equals :class:`TorchCartPole` step
for step (``tests/envs/test_cartpole_random.py``).

## Action Space
``Discrete(2)``: 0 pushes the cart left, 1 right, with force ``force_mag``.

## Observation Space
``Box(4,)`` float32 as in ``CartPole-v1``: cart position, cart velocity, pole angle, pole angular
velocity. The physics parameters are **not** observed: the agent has to infer them.

## Rewards
+1 for every step, the terminating one included.

## Starting State
All four state variables uniform in (-0.05, 0.05), from the same random stream as
:class:`TorchCartPole` (the physics are drawn from a second, independent stream).

## Episode End
Termination when ``|x| > 2.4`` or ``|theta| > 12°``; truncation after ``max_episode_steps``
(500; ``None`` never truncates, for long-horizon evaluation). Finished envs autoreset in the same
step (:mod:`snnrl.envs.protocol`).

## Lifetimes
``reset(seed)`` starts a lifetime in every env: new starting states **and new physics** (the
physics stream is seeded from ``seed``; without a seed it continues, so every call still draws
new physics). The per-episode autoresets inside ``step`` keep each env's physics: one lifetime,
one cart-pole. Plastic state lives in the agent, which resets it at a lifetime's start too.
For the single-env Gymnasium class every ``reset`` is a lifetime start (there is no autoreset
inside it), so each episode gets new physics; the vector class re-draws only at its ``reset``.

## Arguments
``num_envs``, ``max_episode_steps`` (500), ``device``, ``autoreset`` (True), and the factor
ranges ``length_range``, ``masspole_range``, ``masscart_range``, ``force_range`` (each
``(lo, hi)`` with ``0 < lo <= hi``), ``force_flip_prob`` (0.0).

## Version History
* v1: ``CartPole-v1`` dynamics, log-uniform factors (and an optional push reversal) drawn per
  env at each lifetime's start.

>>> env = TorchCartPoleRandom(num_envs=3)
>>> obs, _ = env.reset(seed=0)
>>> obs.shape, env.length.shape
(torch.Size([3, 4]), torch.Size([3]))
>>> bool(((env.length >= 0.25) & (env.length <= 1.0)).all())
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from snnrl.envs.cartpole import TorchCartPole
from snnrl.envs.gym_vector import TorchVectorEnv

_F64 = torch.float64
_PHYSICS_STREAM = 0x9E3779B9  # mixes the reset seed into the physics stream's seed

DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "length_range": (0.5, 2.0),
    "masspole_range": (0.5, 2.0),
    "masscart_range": (0.5, 2.0),
    "force_range": (1.0, 1.0),
}
"""Factor ranges (times the ``CartPole-v1`` value) used when none is given."""


def _check_range(name: str, value: Sequence[float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (lo, hi) of numbers, got {value!r}") from None
    if not (0.0 < lo <= hi and math.isfinite(hi)):
        raise ValueError(f"{name} must satisfy 0 < lo <= hi < inf, got ({lo}, {hi})")
    return lo, hi


def _physics_seed(seed: int) -> int:
    state = np.random.SeedSequence([int(seed), _PHYSICS_STREAM]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


class TorchCartPoleRandom(TorchCartPole):
    """``num_envs`` cart-poles with per-env physics re-drawn at every ``reset`` (module docs).

    Args:
        num_envs: batch size ``B``.
        max_episode_steps: truncation horizon (``None``: never truncate).
        device: torch device of the state and of the returned tensors.
        autoreset: reset finished envs inside ``step`` (same-step rule); keeps the physics.
        length_range: factor range of the pole half-length (reference 0.5 m).
        masspole_range: factor range of the pole mass (reference 0.1 kg).
        masscart_range: factor range of the cart mass (reference 1.0 kg).
        force_range: factor range of the push force (reference 10 N).
        force_flip_prob: probability that a lifetime has its push reversed (action 1 pushes
            left): ``force_mag`` is then negative.

    Raises:
        ValueError: a range that is not ``0 < lo <= hi``, or a probability outside [0, 1].
    """

    env_id = "snnrl/CartPoleRandom-v1"

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int | None = 500,
        device: torch.device | str = "cpu",
        autoreset: bool = True,
        length_range: Sequence[float] = DEFAULT_RANGES["length_range"],
        masspole_range: Sequence[float] = DEFAULT_RANGES["masspole_range"],
        masscart_range: Sequence[float] = DEFAULT_RANGES["masscart_range"],
        force_range: Sequence[float] = DEFAULT_RANGES["force_range"],
        force_flip_prob: float = 0.0,
    ) -> None:
        super().__init__(num_envs, max_episode_steps, device, autoreset)
        if not 0.0 <= float(force_flip_prob) <= 1.0:
            raise ValueError(f"force_flip_prob must be in [0, 1], got {force_flip_prob!r}")
        self.force_flip_prob = float(force_flip_prob)
        ranges = {
            "length": _check_range("length_range", length_range),
            "masspole": _check_range("masspole_range", masspole_range),
            "masscart": _check_range("masscart_range", masscart_range),
            "force_mag": _check_range("force_range", force_range),
        }
        self.ranges = ranges
        # the reference values, taken from the parent so they are written once
        self.reference = {k: float(getattr(self, k)[0]) for k in ranges}
        self.physics_generator = torch.Generator(device=self.device)
        self.physics_generator.manual_seed(_physics_seed(0))

    def draw_physics(self) -> None:
        """Draw new per-env physics ``[B]`` from the physics stream (a lifetime's start)."""
        b = self.num_envs
        for name, (lo, hi) in self.ranges.items():  # four parameters, not the batch
            u = torch.rand(b, generator=self.physics_generator, dtype=_F64, device=self.device)
            log_f = math.log(lo) + (math.log(hi) - math.log(lo)) * u
            # the reference value times exactly 1.0 when lo == hi == 1 (exp(0) == 1)
            setattr(self, name, self.reference[name] * torch.exp(log_f))
        # drawn even when the probability is 0, so the stream does not depend on it
        u = torch.rand(b, generator=self.physics_generator, dtype=_F64, device=self.device)
        self.force_mag = torch.where(u < self.force_flip_prob, -self.force_mag, self.force_mag)

    def reset(self, seed: int | None = None) -> tuple[Tensor, dict[str, Any]]:
        """Start a lifetime in every env: new physics, then new starting states.

        Args:
            seed: seeds both the starting-state stream (as :class:`TorchCartPole`) and the
                physics stream; ``None`` continues both.
        """
        if seed is not None:
            self.physics_generator.manual_seed(_physics_seed(seed))
        self.draw_physics()
        return super().reset(seed)


class CartPoleRandomEnv(gym.Env):
    """Single-env Gymnasium face of :class:`TorchCartPoleRandom` (``snnrl/CartPoleRandom-v1``).

    Every ``reset`` starts a lifetime and so draws new physics (a single env has no autoreset in
    which a lifetime could go on); truncation comes from the ``TimeLimit`` of ``gym.make``.
    ``info`` of ``reset`` holds the drawn ``length``, ``masspole``, ``masscart``, ``force_mag``.

    >>> import snnrl, gymnasium as gym
    >>> from snnrl.envs.cartpole_random import register_cartpole_random
    >>> register_cartpole_random()
    >>> env = gym.make("snnrl/CartPoleRandom-v1")
    >>> obs, info = env.reset(seed=1)
    >>> obs.shape, sorted(info)
    ((4,), ['force_mag', 'length', 'masscart', 'masspole'])
    """

    metadata = {"render_modes": []}

    def __init__(self, render_mode: str | None = None, **ranges: Sequence[float]) -> None:
        self._env = TorchCartPoleRandom(num_envs=1, max_episode_steps=None, autoreset=False,
                                        **ranges)
        self.observation_space = self._env.single_observation_space
        self.action_space = self._env.single_action_space
        self.render_mode = render_mode
        self._seeded = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Gymnasium reset: a new lifetime, so new physics."""
        super().reset(seed=seed)
        if seed is None and not self._seeded:
            seed = int(self.np_random.integers(2**62))
        self._seeded = True
        obs, _ = self._env.reset(seed=seed)
        info = {k: float(getattr(self._env, k)[0]) for k in self._env.ranges}
        return obs[0].numpy(), info

    def step(self, action):
        """Gymnasium step (no autoreset; call reset after termination)."""
        out = self._env.step(torch.tensor([int(action)]))
        return (out.obs[0].numpy(), float(out.reward[0]), bool(out.terminated[0]), False, {})


class CartPoleRandomVectorEnv(TorchVectorEnv):
    """Gymnasium vector face of :class:`TorchCartPoleRandom`; SAME_STEP autoreset.

    Physics are re-drawn at ``reset`` (a lifetime's start in every env), never at the
    autoresets inside ``step``.

    >>> import snnrl, gymnasium as gym
    >>> from snnrl.envs.cartpole_random import register_cartpole_random
    >>> register_cartpole_random()
    >>> envs = gym.make_vec("snnrl/CartPoleRandom-v1", num_envs=4,
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
        **ranges: Sequence[float],
    ) -> None:
        env = TorchCartPoleRandom(num_envs, max_episode_steps, device=device, autoreset=True,
                                  **ranges)
        super().__init__(env, render_mode)


def register_cartpole_random() -> None:
    """Register ``snnrl/CartPoleRandom-v1`` with Gymnasium (idempotent)."""
    if "snnrl/CartPoleRandom-v1" not in gym.registry:
        gym.register(
            id="snnrl/CartPoleRandom-v1",
            entry_point="snnrl.envs.cartpole_random:CartPoleRandomEnv",
            vector_entry_point="snnrl.envs.cartpole_random:CartPoleRandomVectorEnv",
            max_episode_steps=500,
            reward_threshold=475.0,
        )
