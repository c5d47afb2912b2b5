"""Quadruped: Gymnasium ``Ant-v5`` (MuJoCo) for spiking, plastic agents.

## Description
Gymnasium's ``Ant-v5`` (a torso on four two-joint legs; reward for running along +x), run as
``num_envs`` copies in a Gymnasium ``SyncVectorEnv`` or ``AsyncVectorEnv`` (MuJoCo steps on the
CPU, outside torch; the async one runs each env in a subprocess) and seen through
:class:`snnrl.envs.GymAdapter` under snnrl's batched protocol with same-step autoreset
(``info["final_obs"]`` holds a finished episode's last observation). Three variants:

- ``ant``: ``Ant-v5`` with its 1000-step limit and a fixed observation normalisation;
- ``ant_long``: the same without the time limit (``max_episode_steps=None``), for evaluation at
  k × the training lifetime; an episode then ends only when the Ant is unhealthy;
- ``ant_crippled``: one leg's two joints stop producing torque from step ``cripple_at`` of each
  lifetime on (:class:`CrippledLeg`): the agent must adapt its gait within its life.

## Action Space
``Box(-1, 1, (8,), float32)``: torques of the eight hinge joints, in Gymnasium's actuator order
``hip_4, ankle_4, hip_1, ankle_1, hip_2, ankle_2, hip_3, ankle_3`` (times gear 150). Spiking
agents decode them with :mod:`snnrl.encoding.continuous` (e.g. PopSAN's population decoder).

## Observation Space
``Box(-5, 5, (105,), float64)`` with ``normalise=True`` (the adapter returns float32): the 105
``Ant-v5`` observations (13 positions without x/y, 14 velocities, 78 clipped contact forces),
each mapped through a **fixed** affine normalisation and clipped,

    ``o' = clip((o - mean) / std, -5, 5)``,

with ``mean``/``std`` measured once from random-policy rollouts by ``scripts/ant_obs_stats.py``
and stored in this module (:data:`OBS_MEAN`, :data:`OBS_STD`, provenance in
:data:`OBS_STATS_SOURCE`). Dimensions that never varied there (the contact forces of bodies that
never touched the ground: std < 1e-6) are only centred (scale 1); ``Ant-v5`` already clips every
contact force to [-1, 1]. The normalisation is deliberately **not** a running one: a running
normaliser would change an agent's inputs during its life and confound what plasticity learns.
Receptive-field encoders cover :data:`OBS_LOW`/:data:`OBS_HIGH` (``[-5, 5]`` per dimension).
A walking agent moves faster than a random one, so its velocities may sit near the clip.
``normalise=False`` passes the raw observations (unbounded ``Box``).

## Rewards
``Ant-v5``'s: ``healthy_reward + forward_reward - ctrl_cost - contact_cost`` (1 per healthy step,
+x velocity, 0.5‖a‖², 5e-4‖F‖²). Under :class:`CrippledLeg` the control cost is computed from the
applied (zeroed) action.

## Starting State
``Ant-v5``'s (uniform noise 0.1 on positions, Gaussian 0.1 on velocities), seeded per env with
``seed + i`` by the vector env.

## Episode End
Termination when the torso's height leaves ``[0.2, 1.0]`` (unhealthy; kept in every variant).
Truncation at ``max_episode_steps`` (1000, ``Ant-v5``'s registered limit); ``None`` removes the
``TimeLimit`` wrapper altogether (``gym.make(..., max_episode_steps=-1)``).

## Lifetimes
Plastic state lives in the agent, persists across episodes and is reset only at a lifetime's
start; the env's own per-lifetime state is :class:`CrippledLeg`'s step counter and drawn leg.
A lifetime starts (in every env of the batch at once) when the adapter's ``reset(seed)`` is
called (:func:`snnrl.eval.rollout.run_lifetimes` calls it at each lifetime's start): the factories
return a :class:`LifetimeGymAdapter`, whose ``reset`` passes ``options={"lifetime_start": True}``
down to every env. The per-episode autoresets inside a step call ``reset()`` without options and
so continue the lifetime; each env autoresets on its own (per-env masks).

## Arguments
Factories (:data:`FACTORIES`, called as ``factory(num_envs=, max_episode_steps=, device=,
**kwargs)``): ``num_envs``, ``max_episode_steps`` (1000; ``None`` = no limit), ``device``,
``vectorization_mode`` (``"sync"`` | ``"async"``), ``normalise`` (True); the crippled variant adds
``cripple_at`` (500), ``leg`` (``"random"`` | 0-3) and ``intact_prob`` (0.0).

## Version History
* ``Ant-v5`` as registered by Gymnasium 1.4 (MuJoCo bindings 4.0); obs statistics in this
  module (regenerate them, and say so, if either changes).

>>> envs = make_ant(num_envs=2)
>>> obs, _ = envs.reset(seed=0)
>>> obs.shape, bool(obs.abs().max() <= 5)
(torch.Size([2, 105]), True)
>>> envs.close()
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import Tensor

from snnrl.envs.gym_adapter import GymAdapter
from snnrl.envs.protocol import BatchedEnv

ANT_ID = "Ant-v5"
OBS_DIM = 105
OBS_CLIP = 5.0
"""Normalised observations are clipped to ``[-OBS_CLIP, OBS_CLIP]``."""
OBS_LOW: tuple[float, ...] = (-OBS_CLIP,) * OBS_DIM
"""Encoder range hint (lower end per dimension) of the normalised observation."""
OBS_HIGH: tuple[float, ...] = (OBS_CLIP,) * OBS_DIM
"""Encoder range hint (upper end per dimension) of the normalised observation."""
STD_FLOOR = 1e-6
"""Dimensions whose measured std is below this are centred but not scaled."""
LEGS: tuple[tuple[str, str], ...] = (
    ("hip_1", "ankle_1"),  # 0: front_left_leg
    ("hip_2", "ankle_2"),  # 1: front_right_leg
    ("hip_3", "ankle_3"),  # 2: back_leg (back left)
    ("hip_4", "ankle_4"),  # 3: right_back_leg
)
"""Joints of leg ``k`` in ``Ant-v5``'s model (its actuator indices are looked up by joint)."""

# --- begin obs stats: generated by `python scripts/ant_obs_stats.py --write`; do not edit ---
OBS_STATS_SOURCE = ("Ant-v5, uniform random actions, 1000 episodes of <= 1000 steps, "
                    "reset seeds 0..999, 155155 observations, gymnasium 1.4.0, "
                    "mujoco 4.0.0")
OBS_MEAN: tuple[float, ...] = (
    0.506911, 0.405188, -0.0032859, 0.0069465, -0.00258474, 0.000663595, 0.867883, 0.000644555,
    -0.865977, -0.000806263, -0.866623, -0.00208069, 0.866601, 0.000888436, -0.00364317,
    0.0329141, 0.00303316, 0.00153295, -0.039408, -0.00156325, 0.0893389, -0.00208325,
    -0.0866391, 0.00158142, -0.0913102, 0.000627356, 0.0904509, -0.00010353, 0.00036697,
    0.000259871, -0.000630079, -0.000565529, 0.257861, 0, 0, 0, 0, 0, 0, -3.19321e-05,
    0.000496591, -3.45876e-06, -8.36422e-07, -0.00014487, 0.0121312, 0.0163721, -0.0161097,
    0.000131403, 0.000917891, -3.25558e-05, 0.0581339, 0, 0, 0, 0, 0, 0, 0.000955925,
    -4.14479e-05, 5.80459e-05, 0.000268653, -0.000197023, 0.0124686, 0.0176962, 0.0143759,
    -1.97621e-05, 0.00104265, -0.000531897, 0.0570909, 0, 0, 0, 0, 0, 0, -6.71461e-05,
    -0.000757717, 0.000247899, -0.000150458, 0.000118539, 0.0120374, -0.0160902, 0.015366,
    0.000431624, 0.00038307, 0.000916822, 0.0561792, 0, 0, 0, 0, 0, 0, -0.000924191,
    -0.000119666, 0.000104577, 0.000195379, -3.62633e-05, 0.0119836, -0.0181874, -0.0151478,
    -0.000807413, -0.000565961, 0.000682376, 0.0574054,
)
OBS_STD: tuple[float, ...] = (
    0.221757, 0.482158, 0.467273, 0.485366, 0.386568, 0.408487, 0.293734, 0.408636, 0.293586,
    0.409204, 0.293164, 0.408477, 0.293322, 0.654164, 0.649377, 0.727034, 1.48794, 1.49412,
    1.74579, 4.55385, 4.16255, 4.55264, 4.16636, 4.54411, 4.16346, 4.57041, 4.15985, 0.342795,
    0.342263, 0.0781444, 0.447905, 0.447613, 0.437336, 0, 0, 0, 0, 0, 0, 0.0963358, 0.0958566,
    0.0949209, 0.103194, 0.102444, 0.108763, 0.225605, 0.225163, 0.219092, 0.230966, 0.23121,
    0.233189, 0, 0, 0, 0, 0, 0, 0.0975773, 0.0980136, 0.0960593, 0.104429, 0.104129, 0.110222,
    0.222717, 0.2227, 0.216977, 0.22853, 0.228766, 0.231261, 0, 0, 0, 0, 0, 0, 0.0960541,
    0.095475, 0.0940059, 0.102149, 0.101901, 0.108344, 0.220946, 0.22128, 0.215815, 0.227608,
    0.227371, 0.229496, 0, 0, 0, 0, 0, 0, 0.0950805, 0.0946863, 0.0932785, 0.102146, 0.10193,
    0.108083, 0.223179, 0.223492, 0.217584, 0.229868, 0.229443, 0.231853,
)
# --- end obs stats ---


class FixedObsNormalisation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """``o' = clip((o - mean) / scale, -clip, clip)`` with constants fixed at construction.

    Args:
        env: the env whose ``Box`` observations are normalised.
        mean: per-dimension mean (default :data:`OBS_MEAN`).
        std: per-dimension std (default :data:`OBS_STD`); below :data:`STD_FLOOR` → scale 1.
        clip: clip bound (> 0).
    """

    def __init__(
        self,
        env: gym.Env,
        mean: tuple[float, ...] | np.ndarray = OBS_MEAN,
        std: tuple[float, ...] | np.ndarray = OBS_STD,
        clip: float = OBS_CLIP,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, mean=mean, std=std, clip=clip)
        gym.ObservationWrapper.__init__(self, env)
        m = np.asarray(mean, dtype=np.float64)
        s = np.asarray(std, dtype=np.float64)
        shape = env.observation_space.shape
        if m.shape != shape or s.shape != shape:
            raise ValueError(f"mean and std must have the observation's shape {shape}, got "
                             f"{m.shape} and {s.shape}")
        if not clip > 0:
            raise ValueError(f"clip must be > 0, got {clip}")
        if (s < 0).any() or not np.isfinite(s).all() or not np.isfinite(m).all():
            raise ValueError("std must be finite and >= 0, mean finite")
        self.mean = m
        self.scale = np.where(s < STD_FLOOR, 1.0, s)
        self.clip = float(clip)
        self.observation_space = gym.spaces.Box(-self.clip, self.clip, shape, np.float64)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """Normalised, clipped observation."""
        return np.clip((observation - self.mean) / self.scale, -self.clip, self.clip)


LEG_STREAM_SALT = 0x1E6_C819
"""Second entropy word of :class:`CrippledLeg`'s generator: keeps it off MuJoCo's noise stream."""


class CrippledLeg(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Zero one leg's joint torques from step ``cripple_at`` of each lifetime on.

    The action reaching ``Ant-v5`` has the entries of the leg's two actuators (hip and ankle,
    found by joint name in the MuJoCo model, so they reach ``data.ctrl`` as 0) set to zero when
    the lifetime's step index (counted from 0 at the lifetime's start, across episodes) is
    ``>= cripple_at``; the caller's action array is never modified. ``cripple_at=0`` cripples
    from the first step.

    **Lifetime boundaries.** A ``reset`` starts a lifetime when ``options["lifetime_start"]`` is
    given (its value decides), else when it carries a seed, or when it is the first reset after
    construction. A lifetime's start zeroes :attr:`lifetime_step` and picks the leg: ``leg`` if an
    int, else uniformly among the four from the wrapper's own generator; with probability
    ``intact_prob`` no leg is crippled in that lifetime
    (:attr:`crippled_leg` = -1). A plain ``reset()`` (an autoreset inside a lifetime) keeps both.

    **Seeding.** A seeded reset re-seeds that generator from
    ``SeedSequence([seed, LEG_STREAM_SALT])``, so a seeded lifetime is reproducible. It is not
    ``default_rng(seed)``: Gymnasium seeds MuJoCo's reset noise with ``PCG64(SeedSequence(seed))``,
    which is that same stream, and the leg would then be a function of the initial pose (with
    ``intact_prob=0.5``, intact exactly when the torso's x offset is negative).

    **What Schmidgall's public code does** (SamuelSchmidgall/ES-OnlineMetaLearning, read, not
    copied; ``pybullet_envs/gym_locomotion_envs.py``, ``CrippledAntBulletEnv``): a PyBullet Ant
    (``action_dim=8``), leg drawn at *every* episode reset (probabilities 0.4 none, 0.15 each of
    legs 0-3) and crippled from the episode's first step by setting the action slice
    ``a[3*leg : 3*leg + 3]`` to 0 (in place) before ``apply_action``, which sends ``a[n]`` to
    the ``n``-th joint in the loaded MJCF's joint order (the model file is not in that
    repository; with the usual body order ``hip_1, ankle_1, hip_2, ...`` leg 0 zeroes hip 1,
    ankle 1 and hip 2). The training scripts
    reset plastic traces with each episode (a lifetime is one episode there) and use an id
    ``CrippledAnt-v0`` registered outside that repository (its ``crippled_leg_id`` /
    ``cripple_prob`` attributes suggest the same design; not verifiable). Differences here, on
    purpose: the zeroed entries are the leg's own two actuators (a slice of three out of eight
    actions straddles two legs, and for leg 3 the slice ``a[9:12]`` of an 8-vector is empty, so
    that "crippled" Ant is intact); the cripple can
    start part-way through a lifetime (``cripple_at``); the leg is drawn per lifetime; and
    ``intact_prob=0.4, cripple_at=0`` with one-episode lifetimes approximates that set-up.

    Args:
        env: an ``Ant-v5`` env (possibly wrapped).
        cripple_at: lifetime step from which the leg is crippled (>= 0).
        leg: 0-3 (:data:`LEGS`), or ``"random"`` (drawn per lifetime).
        intact_prob: probability in [0, 1] that a lifetime has no crippled leg.

    Raises:
        ValueError: bad ``cripple_at``, ``leg`` or ``intact_prob``, or an env without the Ant's
            leg joints.
    """

    def __init__(
        self,
        env: gym.Env,
        cripple_at: int = 500,
        leg: int | str = "random",
        intact_prob: float = 0.0,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, cripple_at=cripple_at, leg=leg, intact_prob=intact_prob
        )
        gym.Wrapper.__init__(self, env)
        _check_cripple_args(cripple_at, leg, intact_prob)
        model = env.unwrapped.model
        joint_of_actuator = [model.joint(int(model.actuator_trnid[i, 0])).name
                             for i in range(model.nu)]
        try:
            self.leg_actuators = np.array(
                [[joint_of_actuator.index(j) for j in joints] for joints in LEGS]
            )  # [4, 2]
        except ValueError:
            raise ValueError(f"env has no actuators on the Ant's leg joints {LEGS}; "
                             f"found {joint_of_actuator}") from None
        self.cripple_at = int(cripple_at)
        self.leg_choice = leg
        self.intact_prob = float(intact_prob)
        self.lifetime_step = 0
        self.crippled_leg = -1
        self._rng = np.random.default_rng()
        self._started = False

    @property
    def crippled(self) -> bool:
        """Whether the next step's action will have the leg zeroed."""
        return self.crippled_leg >= 0 and self.lifetime_step >= self.cripple_at

    def _start_lifetime(self, seed: int | None) -> None:
        if seed is not None:
            self._rng = np.random.default_rng(np.random.SeedSequence([seed, LEG_STREAM_SALT]))
        intact = self._rng.random() < self.intact_prob  # both drawn always: a fixed stream
        drawn = int(self._rng.integers(len(LEGS)))
        leg = drawn if self.leg_choice == "random" else int(self.leg_choice)
        self.crippled_leg = -1 if intact else leg
        self.lifetime_step = 0
        self._started = True

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the episode; a lifetime's start also restarts the counter and picks the leg."""
        opts = dict(options or {})  # a vector env shares one options dict between its envs
        start = bool(opts.pop("lifetime_start", seed is not None or not self._started))
        if start:
            self._start_lifetime(seed)
        obs, info = self.env.reset(seed=seed, options=opts or None)
        return obs, {**info, "crippled_leg": self.crippled_leg}

    def step(self, action: np.ndarray):
        """Step with the crippled leg's actions zeroed once the lifetime reached ``cripple_at``."""
        crippled = self.crippled
        if crippled:
            action = np.array(action, copy=True)
            action[self.leg_actuators[self.crippled_leg]] = 0.0
        self.lifetime_step += 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, "crippled": crippled}


class LifetimeGymAdapter(GymAdapter):
    """:class:`GymAdapter` whose ``reset`` starts a lifetime in every env.

    It passes ``options={"lifetime_start": True}`` to the vector env's reset, which hands them to
    every env (:class:`CrippledLeg` restarts its counter there); autoresets inside ``step`` pass
    no options and continue the lifetime.
    """

    def reset(self, seed: int | None = None) -> tuple[Tensor, dict[str, Any]]:
        """Start a lifetime in every env; ``seed`` seeds env ``i`` with ``seed + i``."""
        obs, info = self.venv.reset(seed=seed, options={"lifetime_start": True})
        return self._obs(obs), info


def _check_cripple_args(cripple_at: int, leg: int | str, intact_prob: float) -> None:
    if isinstance(cripple_at, bool) or not isinstance(cripple_at, int | np.integer) \
            or cripple_at < 0:
        raise ValueError(f"cripple_at must be an int >= 0 (a lifetime step), got {cripple_at!r}")
    if leg != "random" and (isinstance(leg, bool) or not isinstance(leg, int | np.integer)
                            or not 0 <= leg < len(LEGS)):
        raise ValueError(f"leg must be 0, 1, 2, 3 or 'random', got {leg!r}")
    try:
        ok = 0.0 <= float(intact_prob) <= 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"intact_prob must be a number in [0, 1], got {intact_prob!r}")


def make_ant_env(
    max_episode_steps: int | None = 1000,
    normalise: bool = True,
    cripple: dict[str, Any] | None = None,
) -> gym.Env:
    """One ``Ant-v5`` env with this module's wrappers (the vector envs' builder).

    Args:
        max_episode_steps: time limit; ``None`` removes the ``TimeLimit`` wrapper.
        normalise: apply :class:`FixedObsNormalisation`.
        cripple: :class:`CrippledLeg` arguments, or ``None`` for an intact Ant.

    >>> env = make_ant_env(max_episode_steps=None, cripple={"cripple_at": 0, "leg": 2})
    >>> env.spec.max_episode_steps is None
    True
    """
    if max_episode_steps is not None and (
        isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, int | np.integer)
        or max_episode_steps < 1
    ):
        raise ValueError(f"max_episode_steps must be a positive int or None (no limit), got "
                         f"{max_episode_steps!r}")
    env = gym.make(ANT_ID, max_episode_steps=-1 if max_episode_steps is None
                   else int(max_episode_steps))
    if cripple is not None:
        env = CrippledLeg(env, **cripple)
    if normalise:
        env = FixedObsNormalisation(env)
    return env


def _vector(
    num_envs: int,
    max_episode_steps: int | None,
    device: torch.device | str,
    vectorization_mode: str,
    normalise: bool,
    cripple: dict[str, Any] | None,
) -> LifetimeGymAdapter:
    if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
        raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
    if vectorization_mode not in ("sync", "async"):
        raise ValueError(f"vectorization_mode must be 'sync' or 'async', got "
                         f"{vectorization_mode!r}")
    if not isinstance(normalise, bool):
        raise ValueError(f"normalise must be a bool, got {normalise!r}")
    if cripple is not None:
        _check_cripple_args(**cripple)
    make_one: Callable[[], gym.Env] = functools.partial(
        make_ant_env, max_episode_steps=max_episode_steps, normalise=normalise, cripple=cripple
    )
    make_one().close()  # fail here, in the caller's process, on an argument the env rejects
    cls = gym.vector.SyncVectorEnv if vectorization_mode == "sync" else gym.vector.AsyncVectorEnv
    venv = cls([make_one] * int(num_envs), autoreset_mode=AutoresetMode.SAME_STEP)
    adapter = LifetimeGymAdapter(venv, device=device)
    adapter.env_id = ANT_ID
    return adapter


def make_ant(
    num_envs: int = 1,
    max_episode_steps: int | None = 1000,
    device: torch.device | str = "cpu",
    vectorization_mode: str = "sync",
    normalise: bool = True,
) -> BatchedEnv:
    """``num_envs`` intact ``Ant-v5`` envs under the batched protocol (module docstring).

    Args:
        num_envs: batch size ``B``.
        max_episode_steps: time limit (1000); ``None`` runs until the Ant is unhealthy.
        device: torch device of the returned tensors.
        vectorization_mode: ``"sync"`` (one process) or ``"async"`` (one subprocess per env;
            pays off only with more free cores than envs need: see benchmarks/ant_speed.py).
        normalise: fixed observation normalisation into ``[-5, 5]``.

    Raises:
        ValueError: an argument out of its range.
    """
    return _vector(num_envs, max_episode_steps, device, vectorization_mode, normalise, None)


def make_ant_crippled(
    num_envs: int = 1,
    max_episode_steps: int | None = 1000,
    device: torch.device | str = "cpu",
    vectorization_mode: str = "sync",
    normalise: bool = True,
    cripple_at: int = 500,
    leg: int | str = "random",
    intact_prob: float = 0.0,
) -> BatchedEnv:
    """:func:`make_ant` with a leg crippled from lifetime step ``cripple_at`` (see CrippledLeg).

    Args:
        num_envs: batch size ``B``.
        max_episode_steps: time limit (1000); ``None`` runs until the Ant is unhealthy.
        device: torch device of the returned tensors.
        vectorization_mode: ``"sync"`` or ``"async"``.
        normalise: fixed observation normalisation into ``[-5, 5]``.
        cripple_at: lifetime step from which the leg is crippled.
        leg: 0-3, or ``"random"`` (per env and lifetime, from the env's reset seed).
        intact_prob: probability that a lifetime has no crippled leg.

    Raises:
        ValueError: an argument out of its range.
    """
    cripple = {"cripple_at": cripple_at, "leg": leg, "intact_prob": intact_prob}
    return _vector(num_envs, max_episode_steps, device, vectorization_mode, normalise, cripple)


# The long variants: the same builders without a time limit by default (k x lifetime runs).
make_ant_long = functools.partial(make_ant, max_episode_steps=None)
make_ant_crippled_long = functools.partial(make_ant_crippled, max_episode_steps=None)


FACTORIES: dict[str, Callable[..., BatchedEnv]] = {
    "ant": make_ant,
    "ant_long": make_ant_long,
    "ant_crippled": make_ant_crippled,
    "ant_crippled_long": make_ant_crippled_long,
}
"""Config name → builder, to merge into :data:`snnrl.envs.registry.ENV_FACTORIES`."""
