"""A Stable-Baselines3 ``VecEnv`` over one of our batched torch envs.

SB3 algorithms (``agent=ppo|a2c|recurrent_ppo|dqn``, :mod:`snnrl.agents.sb3`) train on
:class:`SB3VecEnv`, which speaks SB3's VecEnv API over a :class:`~snnrl.envs.protocol.BatchedEnv`:

- observations, rewards and dones leave as numpy arrays (one ``.cpu().numpy()`` per tensor per
  step; the final observations are converted only on steps where some env finished);
- actions arrive as numpy and go to the env's device as ``int64`` (Discrete, MultiDiscrete,
  MultiBinary) or ``float32`` (Box);
- both APIs autoreset in the same step, so where env ``i`` is done, ``obs[i]`` is already the next
  episode's first observation and ``infos[i]["terminal_observation"]`` is the ended episode's last
  one (from ``info["final_obs"]``); ``infos[i]["TimeLimit.truncated"]`` is
  ``truncated and not terminated`` (SB3 bootstraps the value there);
- ``infos[i]["episode"] = {"r": return, "l": length, "t": 0.0}`` where an episode ended (what
  SB3's ``Monitor`` writes, so ``model.ep_info_buffer`` fills as usual);
- :meth:`seed` sets the seed of the next reset (the whole batch is seeded by one integer).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from snnrl.envs.protocol import BatchedEnv


def _action_dtype(space: gym.spaces.Space) -> torch.dtype:
    """Torch dtype our envs take for actions of ``space``."""
    if isinstance(space, gym.spaces.Box):
        return torch.float32
    return torch.int64


class SB3VecEnv(VecEnv):
    """SB3 ``VecEnv`` adapter around a :class:`BatchedEnv` (see the module docstring).

    Args:
        env: the batched env; its ``num_envs`` and single-env spaces become the VecEnv's.
    """

    def __init__(self, env: BatchedEnv) -> None:
        self.env = env
        self._action_dtype = _action_dtype(env.single_action_space)
        self._actions: np.ndarray | None = None
        self._ep_return = np.zeros(env.num_envs, dtype=np.float64)
        self._ep_length = np.zeros(env.num_envs, dtype=np.int64)
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)

    # -- core API -----------------------------------------------------------------------------

    def reset(self) -> VecEnvObs:
        """Reset every env with the seed set by :meth:`seed` (if any), then forget that seed."""
        seed = self._seeds[0]
        obs, _ = self.env.reset(seed=seed)
        self._reset_seeds()
        self._reset_options()
        self._ep_return[:] = 0.0
        self._ep_length[:] = 0
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs.cpu().numpy()

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions of the next :meth:`step_wait`."""
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        """Step the batched env; ``(obs, rewards, dones, infos)`` as SB3 expects them."""
        assert self._actions is not None, "step_async must come before step_wait"
        action = torch.as_tensor(np.asarray(self._actions), device=self.env.device)
        action = action.to(self._action_dtype)
        self._actions = None
        out = self.env.step(action)
        obs = out.obs.cpu().numpy()
        rewards = out.reward.to(torch.float32).cpu().numpy()
        terminated = out.terminated.cpu().numpy()
        truncated = out.truncated.cpu().numpy()
        dones = terminated | truncated
        self._ep_return += rewards
        self._ep_length += 1
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        done_idx = np.flatnonzero(dones)
        if done_idx.size:
            final_obs = out.info["final_obs"].cpu().numpy()
            time_limit = truncated & ~terminated
            for i in done_idx:
                infos[i]["terminal_observation"] = final_obs[i]
                infos[i]["TimeLimit.truncated"] = bool(time_limit[i])
                infos[i]["episode"] = {"r": float(self._ep_return[i]),
                                       "l": int(self._ep_length[i]), "t": 0.0}
            self._ep_return[done_idx] = 0.0
            self._ep_length[done_idx] = 0
        return obs, rewards, dones, infos

    def close(self) -> None:
        """Close the wrapped env."""
        self.env.close()

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seed the next reset (env ``i`` is reported as ``seed + i``, SB3's convention)."""
        if seed is None:
            seed = int(np.random.randint(0, np.iinfo(np.uint32).max, dtype=np.uint32))
        self._seeds = [seed + i for i in range(self.num_envs)]
        return self._seeds

    # -- minimal attribute access (one shared object behind all indices) -------------------------

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """``getattr(env, attr_name)`` once per index (``render_mode`` defaults to None)."""
        if attr_name == "render_mode":
            value = getattr(self.env, "render_mode", None)
        else:
            value = getattr(self.env, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the wrapped env (shared by all envs of the batch)."""
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        """Call a method of the wrapped env once; its result is repeated for every index."""
        result = getattr(self.env, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper],
                       indices: VecEnvIndices = None) -> list[bool]:
        """Our batched envs are not Gymnasium wrappers: always False."""
        return [False for _ in self._indices(indices)]

    def _indices(self, indices: VecEnvIndices) -> Iterable[int]:
        return list(self._get_indices(indices))
