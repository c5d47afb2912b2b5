"""Run any Gymnasium env, single or vectorised, under snnrl's batched protocol.

The adapter is the one boundary module between Gymnasium's vector API (numpy, autoreset modes,
object arrays of final observations) and snnrl's torch protocol (:mod:`snnrl.envs.protocol`).
Autoreset modes of the wrapped vector env:

- ``SAME_STEP``: passed through; ``info["final_obs"]`` (an object array) becomes a dense tensor.
- ``DISABLED``: the adapter resets finished envs itself with ``reset(options={"reset_mask": ...})``
  inside the same ``step`` call, so the rule is the same.
- ``NEXT_STEP`` (Gymnasium's default): the step after a done would return a reset observation
  with reward 0, which cannot be aligned with a plastic agent's per-env reset; refused with a
  message saying how to build the env instead. Envs the adapter builds itself use SAME_STEP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import Tensor

from snnrl.envs.protocol import BatchedEnv, EnvStep


def _autoreset_mode(env: gym.vector.VectorEnv) -> AutoresetMode:
    mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    return AutoresetMode(mode) if isinstance(mode, str) else mode


class GymAdapter(BatchedEnv):
    """Batched-protocol view of a Gymnasium env.

    Args:
        env: a Gymnasium id (made with ``gym.make_vec`` in SAME_STEP mode), a ``gym.Env``
            (wrapped in a one-env ``SyncVectorEnv``), a callable returning a ``gym.Env``, or a
            ``gym.vector.VectorEnv`` in SAME_STEP or DISABLED autoreset mode.
        num_envs: number of envs when ``env`` is an id or a callable.
        vectorization_mode: ``"sync"`` or ``"async"`` (subprocesses) for ids and callables.
        device: torch device of the returned tensors.
        **make_kwargs: passed to ``gym.make`` for ids.

    >>> envs = GymAdapter("CartPole-v1", num_envs=2)
    >>> obs, _ = envs.reset(seed=0)
    >>> obs.shape, obs.dtype
    (torch.Size([2, 4]), torch.float32)
    >>> envs.close()
    """

    def __init__(
        self,
        env: str | gym.Env | gym.vector.VectorEnv | Callable[[], gym.Env],
        num_envs: int = 1,
        vectorization_mode: str = "sync",
        device: torch.device | str = "cpu",
        **make_kwargs: Any,
    ) -> None:
        if vectorization_mode not in ("sync", "async"):
            raise ValueError(
                f"vectorization_mode must be 'sync' or 'async', got {vectorization_mode!r}"
            )
        vkw = {"autoreset_mode": AutoresetMode.SAME_STEP}
        if isinstance(env, gym.vector.VectorEnv):
            venv = env
        elif isinstance(env, str):
            venv = gym.make_vec(
                env,
                num_envs=num_envs,
                vectorization_mode=vectorization_mode,
                vector_kwargs=vkw,
                **make_kwargs,
            )
        elif isinstance(env, gym.Env):
            single = env
            venv = gym.vector.SyncVectorEnv([lambda: single], **vkw)
        elif callable(env):
            fns = [env] * num_envs
            cls = (
                gym.vector.SyncVectorEnv
                if vectorization_mode == "sync"
                else gym.vector.AsyncVectorEnv
            )
            venv = cls(fns, **vkw)
        else:
            raise TypeError(f"cannot adapt {type(env).__name__}: expected an id, Env or VectorEnv")
        self.mode = _autoreset_mode(venv)
        if self.mode == AutoresetMode.NEXT_STEP:
            raise ValueError(
                "vector env autoresets on the NEXT_STEP, which misaligns per-env resets; build it "
                "with vector_kwargs={'autoreset_mode': AutoresetMode.SAME_STEP} (or DISABLED)"
            )
        self.venv = venv
        self.num_envs = venv.num_envs
        self.device = torch.device(device)
        self.single_observation_space = venv.single_observation_space
        self.single_action_space = venv.single_action_space
        spec = getattr(venv, "spec", None)
        self.env_id = spec.id if spec is not None else type(venv).__name__

    def _obs(self, obs: np.ndarray) -> Tensor:
        t = torch.as_tensor(np.asarray(obs), device=self.device)
        return t.float() if t.is_floating_point() else t

    def reset(self, seed: int | None = None) -> tuple[Tensor, dict[str, Any]]:
        """Reset every env; ``seed`` goes to the vector env, which seeds the whole batch."""
        obs, info = self.venv.reset(seed=seed)
        return self._obs(obs), info

    def step(self, action: Tensor) -> EnvStep:
        """Step every env; finished envs are reset within this call."""
        act = action.detach().cpu().numpy() if isinstance(action, Tensor) else np.asarray(action)
        obs, reward, terminated, truncated, info = self.venv.step(act)
        done = np.logical_or(terminated, truncated)
        if self.mode == AutoresetMode.SAME_STEP:
            final = np.array(obs, copy=True)
            if done.any():  # Gymnasium gives an object array holding None where not done
                final[done] = np.stack(info["final_obs"][done])
        else:  # DISABLED: reset the finished envs ourselves, in this same step
            final = np.array(obs, copy=True)
            if done.any():
                new_obs, _ = self.venv.reset(options={"reset_mask": done})
                obs = np.where(done.reshape((-1,) + (1,) * (np.ndim(obs) - 1)), new_obs, obs)
        info = dict(info)
        info["final_obs"] = self._obs(final)
        return EnvStep(
            obs=self._obs(obs),
            reward=torch.as_tensor(np.asarray(reward, dtype=np.float32), device=self.device),
            terminated=torch.as_tensor(np.asarray(terminated, dtype=bool), device=self.device),
            truncated=torch.as_tensor(np.asarray(truncated, dtype=bool), device=self.device),
            info=info,
        )

    def close(self) -> None:
        """Close the wrapped vector env."""
        self.venv.close()
