"""Atari in two tiers: MinAtar (CPU scale) and the full ALE (GPU scale), as batched envs.

Both factories return a :class:`AtariAdapter` (a :class:`~snnrl.envs.gym_adapter.GymAdapter`
that also records the protocol it was built with) over a Gymnasium vector env in
``AutoresetMode.SAME_STEP``, so they speak snnrl's batched protocol
(:mod:`snnrl.envs.protocol`): the step in which env ``b`` ends returns the ended episode's reward
and done flags, the new episode's first observation in ``obs[b]`` and the last one in
``info["final_obs"][b]``.

**CPU tier: MinAtar** (Young & Tian 2019, arXiv 1903.03176; package ``minatar`` 1.0.15).

Description
    10×10 miniatures of Breakout, Space Invaders, Freeway, Asterix and Seaquest, where every
    object class has its own binary channel. Small enough that a spiking agent learns on 2 CPU
    cores. The package registers its Gymnasium ids only when
    ``minatar.gym.register_envs()`` is called (``import minatar`` alone does not, hence the
    ``NamespaceNotFound`` for a bare ``gym.make("MinAtar/Breakout-v1")``); :func:`make_minatar`
    does this once.

Action Space
    ``Discrete(n)``: MinAtar's minimal action set (``MinAtar/<Game>-v1``: Breakout 3,
    Space Invaders 4, Freeway 3, Asterix 5, Seaquest 6) by default; ``minimal_action_set=False``
    gives all 6 actions (``-v0``), as in the MinAtar paper.

Observation Space
    ``Box(0, 1, (C, 10, 10), float32)``, channels first, values exactly 0.0 or 1.0 (MinAtar
    itself returns ``bool [10, 10, C]``; transposed and cast here, once, in the env process).
    Channels: Breakout 4, Space Invaders 6, Freeway 7, Asterix 4, Seaquest 10.

Rewards
    The games' own: +1 per brick, alien, crossing, treasure, enemy; Seaquest's surfacing bonus.

Starting State / Episode End
    As in MinAtar, with its defaults: sticky actions with probability 0.1 and difficulty ramping
    on (Young & Tian 2019). A seeded reset (a lifetime's start) also clears MinAtar's
    sticky-action memory (``last_action`` back to 0, its value at construction), which MinAtar's
    own ``reset(seed)`` keeps, so ``reset(seed)`` restarts the env exactly; autoresets keep it,
    as in MinAtar. MinAtar has **no time limit**, except Freeway's own 2500-frame game
    clock, a game rule that *terminates* the episode (it stays in the long variant). With
    ``max_episode_steps=None`` nothing else ends an episode; an integer adds Gymnasium's
    ``TimeLimit`` (truncation). One MinAtar step is one frame (no frame skip).

**Full tier: ALE** (Bellemare et al. 2013, JAIR 47) through ale-py 0.12 (ROMs bundled; nothing is
downloaded), ``ALE/<Game>-v5``, with the evaluation protocol of Machado et al. (2018, JAIR 61,
"Revisiting the Arcade Learning Environment"):

- **sticky actions** with ``repeat_action_probability=0.25`` (applied per emulator frame inside
  the ALE) and **4 frames per agent step** (v5 defaults, both kept);
- **no no-op starts** (``noop_max=0``): sticky actions are the protocol's source of
  stochasticity; set ``noop_max=30`` for the DQN-style (Mnih et al. 2015) starts;
- **episodes end at game over**, not at a life loss (``terminal_on_life_loss=False``), and no
  FIRE press at reset: the agent must learn to serve in Breakout;
- rewards are the raw game score (no clipping here: clipping is the learner's choice);
- **action set**: v5's minimal one (Pong 6, Breakout 4 actions); ``full_action_space=True``
  gives all 18.

Preprocessing is Gymnasium's standard pipeline: ``AtariPreprocessing`` (grey, ``screen_size``²
with OpenCV's area interpolation) with ``frame_skip=1`` on the wrapper because the v5 env already
repeats each action for 4 frames (so the observation is the last of the 4 frames, not a max over
the last two), then ``FrameStackObservation(frame_stack, padding_type="zero")``. Setting
``max_pool=True`` moves the frame skip from the env (``frameskip=1``) into the wrapper
(``frame_skip=4``), which then max-pools the last two frames against sprite flicker as in Mnih et
al. (2015); stickiness is per frame either way, so the protocol is unchanged.

Observation Space (ALE)
    ``Box(0, 255, (frame_stack, screen_size, screen_size), uint8)``, oldest frame first; at an
    episode's start the missing frames are zeros. **Kept as uint8** on the tensor side
    (``[B, 4, 84, 84]`` uint8 is 28 KiB per env, a quarter of float32): the spiking encoder
    (:mod:`snnrl.encoding.conv`) converts to intensities in [0, 1].

Episode End (ALE)
    Termination at game over. Truncation: v5's default cap is ``max_num_frames_per_episode=
    108000`` frames (30 minutes of play = 27,000 agent steps). Here ``max_episode_steps=N``
    sets the ALE's cap to ``N × 4`` frames (the ALE truncates; frames spent in no-op starts
    count), and ``max_episode_steps=None`` removes the cap (ALE: 0 = no limit; ale-py's native
    vector env has no "no limit" value, so it gets 2^31−1 frames, about 414 days of play).

Vectorisation (``vectorization_mode``)
    ``"sync"`` (Gymnasium ``SyncVectorEnv``, one process), ``"async"`` (``AsyncVectorEnv``, one
    subprocess per env) or, for the ALE, ``"native"``: ale-py's C++ ``AtariVectorEnv`` (threads;
    its own grey/resize/stack/max-pool, same settings). ale-py 0.12's vector env supports
    ``SAME_STEP`` autoreset (with ``info["final_obs"]``) but not ``DISABLED``. With
    ``repeat_action_probability=0`` its observations are pixel-identical to the Gymnasium pipeline
    (tested); with sticky actions the two draw from different random streams, so the same seed
    gives different (equally distributed) episodes on the two paths.

Version History
    * v0: first version (MinAtar 1.0.15 ``-v1`` ids, ale-py 0.12 ``-v5`` ids).

>>> env = make_minatar("breakout", num_envs=2)
>>> obs, _ = env.reset(seed=0)
>>> obs.shape, obs.dtype, env.env_id
(torch.Size([2, 4, 10, 10]), torch.float32, 'MinAtar/Breakout-v1')
>>> env.close()
>>> env = make_ale("pong", num_envs=2)
>>> obs, _ = env.reset(seed=0)
>>> obs.shape, obs.dtype, env.settings["repeat_action_probability"]
(torch.Size([2, 4, 84, 84]), torch.uint8, 0.25)
>>> env.close()
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import Tensor

from snnrl.envs.gym_adapter import GymAdapter
from snnrl.envs.protocol import BatchedEnv, EnvStep

MINATAR_GAMES: dict[str, str] = {
    "asterix": "Asterix",
    "breakout": "Breakout",
    "freeway": "Freeway",
    "seaquest": "Seaquest",
    "space_invaders": "SpaceInvaders",
}
"""MinAtar game name → the CamelCase part of its Gymnasium id ``MinAtar/<Name>-v1``."""

ALE_FRAMES_PER_STEP = 4
"""Emulator frames per agent step (the v5 default ``frameskip``)."""

ALE_V5_MAX_FRAMES = 108_000
"""ale-py's v5 default ``max_num_frames_per_episode`` (30 min of play = 27,000 steps)."""

_NATIVE_NO_LIMIT = 2**31 - 1  # frames; ale-py's vector env truncates at 0, so "none" is int32 max


class AtariAdapter(GymAdapter):
    """A :class:`GymAdapter` that also records the protocol its env was built with.

    Attributes:
        settings: the settings actually used (game, Gymnasium id, tier, sticky-action
            probability, frames per step, preprocessing, time limit, vectorisation), for run
            metadata and tests.
    """

    settings: Mapping[str, Any]

    def __init__(
        self,
        venv: gym.vector.VectorEnv,
        env_id: str,
        settings: Mapping[str, Any],
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(venv, device=device)
        self.env_id = env_id
        self.settings = dict(settings)

    def reset(self, seed: int | None = None) -> tuple[Tensor, dict[str, Any]]:
        """Reset every env (env ``i`` gets ``seed + i``).

        MinAtar seeds NumPy's legacy ``RandomState`` (seeds below 2**32) and ale-py's vector env
        takes int32 seeds, so snnrl's 63-bit seeds (:func:`snnrl.seeding.derive_seed`) are folded
        below 2**31 here.
        """
        if seed is not None:
            seed = seed % (2**31 - self.num_envs)
        return super().reset(seed=seed)

    def step(self, action: Tensor | np.ndarray) -> EnvStep:
        """Step every env with integer actions ``[B]`` (any integer dtype or ``[B, 1]``).

        ale-py's native vector env itself accepts only int32/int64 of exactly shape ``[B]``.
        """
        act = torch.as_tensor(action)
        if act.is_floating_point() or act.dtype == torch.bool or act.numel() != self.num_envs:
            raise ValueError(
                f"actions must be {self.num_envs} integers (one per env), got dtype {act.dtype} "
                f"and shape {tuple(act.shape)}"
            )
        return super().step(act.reshape(self.num_envs).to(torch.int64))


def _check_common(
    num_envs: int, max_episode_steps: int | None, vectorization_mode: str, modes: tuple[str, ...]
) -> None:
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
    if max_episode_steps is not None and (
        isinstance(max_episode_steps, bool)
        or not isinstance(max_episode_steps, int)
        or max_episode_steps < 1
    ):
        raise ValueError(
            f"max_episode_steps must be an int >= 1 or None (no limit), got {max_episode_steps!r}"
        )
    if vectorization_mode not in modes:
        raise ValueError(
            f"vectorization_mode must be one of {list(modes)}, got {vectorization_mode!r}"
        )


def _vector_env(fns: list[Callable[[], gym.Env]], vectorization_mode: str) -> gym.vector.VectorEnv:
    cls = gym.vector.SyncVectorEnv if vectorization_mode == "sync" else gym.vector.AsyncVectorEnv
    return cls(fns, autoreset_mode=AutoresetMode.SAME_STEP)


# ---------------------------------------------------------------------------------------------
# MinAtar
# ---------------------------------------------------------------------------------------------


def _register_minatar() -> None:
    if "MinAtar/Breakout-v1" not in gym.registry:
        import minatar.gym

        minatar.gym.register_envs()


class _SeededResetClearsStickyAction(gym.Wrapper):
    """A seeded ``reset`` also forgets MinAtar's sticky-action memory (module level: picklable).

    ``minatar.Environment.act`` repeats ``last_action`` with probability ``sticky_action_prob``,
    and neither its ``seed`` nor its ``reset`` clears it, so a seeded reset would not restart the
    env: a new lifetime's first sticky repeats would replay the previous one's last action.
    Unseeded resets (the vector env's autoresets) keep it, as MinAtar itself does.
    """

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset; with a seed, also set the game's ``last_action`` back to its initial 0."""
        if seed is not None:
            self.env.unwrapped.game.last_action = 0  # type: ignore[attr-defined]
        return self.env.reset(seed=seed, options=options)


def _channels_first(obs: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(obs, -1, 0), dtype=np.float32)


def _minatar_env(
    gym_id: str,
    max_episode_steps: int | None,
    sticky_action_prob: float,
    difficulty_ramping: bool,
) -> gym.Env:
    """One MinAtar env with channels-first float32 observations (module level: picklable)."""
    _register_minatar()
    with warnings.catch_warnings():
        # "-v0 is out of date": in MinAtar v0 is the full action set, not an older version
        warnings.filterwarnings("ignore", message=".*is out of date", category=DeprecationWarning)
        env = gym.make(
            gym_id,
            max_episode_steps=max_episode_steps,
            sticky_action_prob=sticky_action_prob,
            difficulty_ramping=difficulty_ramping,
        )
    h, w, c = env.observation_space.shape  # type: ignore[misc]
    space = gym.spaces.Box(0.0, 1.0, (c, h, w), np.float32)
    env = _SeededResetClearsStickyAction(env)
    return gym.wrappers.TransformObservation(env, _channels_first, space)


def make_minatar(
    game: str,
    num_envs: int = 1,
    max_episode_steps: int | None = None,
    device: torch.device | str = "cpu",
    *,
    vectorization_mode: str = "sync",
    minimal_action_set: bool = True,
    sticky_action_prob: float = 0.1,
    difficulty_ramping: bool = True,
) -> AtariAdapter:
    """Batched MinAtar game (CPU tier); see the module docstring for the protocol.

    Args:
        game: one of :data:`MINATAR_GAMES` (``"breakout"``, ``"space_invaders"``, ...).
        num_envs: batch size ``B``.
        max_episode_steps: truncation horizon in steps (= frames); ``None`` for none (MinAtar
            has no time limit of its own; Freeway's game clock terminates regardless).
        device: torch device of the returned tensors.
        vectorization_mode: ``"sync"`` (one process; fastest for MinAtar's microsecond steps)
            or ``"async"`` (one subprocess per env).
        minimal_action_set: ``MinAtar/<Game>-v1`` (the game's minimal actions) if true, else
            ``-v0`` (all 6 actions).
        sticky_action_prob: MinAtar's probability of repeating the previous action.
        difficulty_ramping: MinAtar's gradual speed-up (Asterix, Seaquest, Space Invaders).

    Returns:
        An :class:`AtariAdapter`; observations ``[B, C, 10, 10]`` float32 in {0, 1}.

    Raises:
        ValueError: on an unknown game or an out-of-range argument.
    """
    if game not in MINATAR_GAMES:
        raise ValueError(f"game must be one of {sorted(MINATAR_GAMES)}, got {game!r}")
    _check_common(num_envs, max_episode_steps, vectorization_mode, ("sync", "async"))
    if not 0.0 <= sticky_action_prob <= 1.0:
        raise ValueError(f"sticky_action_prob must be in [0, 1], got {sticky_action_prob!r}")
    gym_id = f"MinAtar/{MINATAR_GAMES[game]}-v{1 if minimal_action_set else 0}"
    fn = functools.partial(
        _minatar_env, gym_id, max_episode_steps, float(sticky_action_prob), bool(difficulty_ramping)
    )
    venv = _vector_env([fn] * num_envs, vectorization_mode)
    settings = {
        "tier": "minatar",
        "game": game,
        "gym_id": gym_id,
        "sticky_action_prob": float(sticky_action_prob),
        "difficulty_ramping": bool(difficulty_ramping),
        "max_episode_steps": max_episode_steps,
        "vectorization_mode": vectorization_mode,
    }
    return AtariAdapter(venv, gym_id, settings, device=device)


# ---------------------------------------------------------------------------------------------
# ALE
# ---------------------------------------------------------------------------------------------


def _ale_env(
    gym_id: str,
    env_kwargs: dict[str, Any],
    wrapper_frame_skip: int,
    noop_max: int,
    screen_size: int,
    frame_stack: int,
) -> gym.Env:
    """One preprocessed ALE env (module level: picklable for ``AsyncVectorEnv``)."""
    import ale_py

    gym.register_envs(ale_py)
    # obs_type="grayscale": AtariPreprocessing reads the screen from the ALE itself, so the env
    # need not render an RGB frame nobody uses.
    env = gym.make(gym_id, obs_type="grayscale", **env_kwargs)
    env = gym.wrappers.AtariPreprocessing(
        env,
        noop_max=noop_max,
        frame_skip=wrapper_frame_skip,
        screen_size=screen_size,
        terminal_on_life_loss=False,
        grayscale_obs=True,
        scale_obs=False,
    )
    return gym.wrappers.FrameStackObservation(env, frame_stack, padding_type="zero")


def make_ale(
    game: str,
    num_envs: int = 1,
    max_episode_steps: int | None = None,
    device: torch.device | str = "cpu",
    *,
    frame_stack: int = 4,
    screen_size: int = 84,
    vectorization_mode: str = "sync",
    noop_max: int = 0,
    repeat_action_probability: float = 0.25,
    full_action_space: bool = False,
    max_pool: bool = False,
) -> AtariAdapter:
    """Batched ALE game (full tier) under the Machado et al. (2018) protocol; see the module doc.

    Args:
        game: ALE ROM name in snake case (``"pong"``, ``"breakout"``, ``"ms_pacman"``).
        num_envs: batch size ``B``.
        max_episode_steps: truncation horizon in agent steps (``× 4`` emulator frames);
            ``None`` for none (v5's own default is 27,000 steps).
        device: torch device of the returned tensors.
        frame_stack: frames per observation (>= 1), oldest first.
        screen_size: side of the square grey frame (84 in DQN and its successors).
        vectorization_mode: ``"sync"``, ``"async"`` or ``"native"`` (ale-py's C++ vector env).
        noop_max: maximum number of random no-ops at reset (0: none, the Machado protocol).
        repeat_action_probability: sticky-action probability per frame (0.25: Machado).
        full_action_space: all 18 actions instead of the game's minimal set.
        max_pool: max-pool the last two of the 4 frames of a step (Mnih et al. 2015).

    Returns:
        An :class:`AtariAdapter`; observations ``[B, frame_stack, screen_size, screen_size]``
        uint8 in [0, 255].

    Raises:
        ValueError: on an unknown ROM or an out-of-range argument.
    """
    import ale_py
    from ale_py.registration import rom_id_to_name

    roms = ale_py.roms.get_all_rom_ids()
    if game not in roms:
        raise ValueError(f"game must be an ALE ROM name in snake case such as 'pong', got {game!r}")
    _check_common(num_envs, max_episode_steps, vectorization_mode, ("sync", "async", "native"))
    for key, value, low in (
        ("frame_stack", frame_stack, 1),
        ("screen_size", screen_size, 8),
        ("noop_max", noop_max, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{key} must be an int >= {low}, got {value!r}")
    if not 0.0 <= repeat_action_probability <= 1.0:
        raise ValueError(
            f"repeat_action_probability must be in [0, 1], got {repeat_action_probability!r}"
        )
    gym_id = f"ALE/{rom_id_to_name(game)}-v5"
    frames = max_episode_steps * ALE_FRAMES_PER_STEP if max_episode_steps is not None else None
    if vectorization_mode == "native":
        from ale_py.vector_env import AtariVectorEnv

        venv: gym.vector.VectorEnv = AtariVectorEnv(
            game,
            num_envs,
            max_num_frames_per_episode=frames if frames is not None else _NATIVE_NO_LIMIT,
            repeat_action_probability=float(repeat_action_probability),
            full_action_space=full_action_space,
            autoreset_mode=AutoresetMode.SAME_STEP,
            img_height=screen_size,
            img_width=screen_size,
            grayscale=True,
            stack_num=frame_stack,
            frameskip=ALE_FRAMES_PER_STEP,
            maxpool=max_pool,
            noop_max=noop_max,
            episodic_life=False,
            life_loss_info=False,
            reward_clipping=False,
            use_fire_reset=False,
        )
    else:
        env_kwargs = {
            "repeat_action_probability": float(repeat_action_probability),
            "frameskip": 1 if max_pool else ALE_FRAMES_PER_STEP,
            "full_action_space": full_action_space,
            "max_num_frames_per_episode": frames if frames is not None else 0,  # ALE: 0 = none
        }
        fn = functools.partial(
            _ale_env,
            gym_id,
            env_kwargs,
            ALE_FRAMES_PER_STEP if max_pool else 1,
            noop_max,
            screen_size,
            frame_stack,
        )
        venv = _vector_env([fn] * num_envs, vectorization_mode)
    settings = {
        "tier": "ale",
        "game": game,
        "gym_id": gym_id,
        "ale_py": ale_py.__version__,
        "repeat_action_probability": float(repeat_action_probability),
        "frames_per_step": ALE_FRAMES_PER_STEP,
        "max_pool": max_pool,
        "noop_max": noop_max,
        "terminal_on_life_loss": False,
        "fire_reset": False,
        "reward_clipping": False,
        "full_action_space": full_action_space,
        "frame_stack": frame_stack,
        "screen_size": screen_size,
        "max_episode_steps": max_episode_steps,
        "max_num_frames_per_episode": frames,
        "vectorization_mode": vectorization_mode,
    }
    return AtariAdapter(venv, gym_id, settings, device=device)


# ---------------------------------------------------------------------------------------------
# Registry entries
# ---------------------------------------------------------------------------------------------

_GAMES: dict[str, Callable[..., BatchedEnv]] = {
    **{f"minatar_{g}": functools.partial(make_minatar, g) for g in MINATAR_GAMES},
    "pong": functools.partial(make_ale, "pong"),
    "breakout": functools.partial(make_ale, "breakout"),
}

FACTORIES: dict[str, Callable[..., BatchedEnv]] = {
    **_GAMES,
    **{f"{name}_long": fn for name, fn in _GAMES.items()},
}
"""Config name → builder ``factory(num_envs=, max_episode_steps=, device=, **kwargs)``, to be
merged into :data:`snnrl.envs.registry.ENV_FACTORIES`. A ``*_long`` name builds the same env;
its config sets ``max_episode_steps: null`` so that no time limit cuts a lifetime short."""

__all__ = [
    "ALE_FRAMES_PER_STEP",
    "ALE_V5_MAX_FRAMES",
    "AtariAdapter",
    "FACTORIES",
    "MINATAR_GAMES",
    "make_ale",
    "make_minatar",
]
