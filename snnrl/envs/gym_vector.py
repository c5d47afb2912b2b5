"""Gymnasium vector-env face of any native batched env (the ``vector_entry_point`` of snnrl ids).

One class does the work for every native env: numpy in and out, SAME_STEP autoreset, and the
final observation of finished episodes as Gymnasium lays it out in that mode (``info
["final_obs"]``, an object array holding ``None`` where an env did not finish, with
``info["_final_obs"]`` its mask). Subclasses only build their :class:`BatchedEnv`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from snnrl.envs.protocol import BatchedEnv


class TorchVectorEnv(gym.vector.VectorEnv):
    """A native :class:`BatchedEnv` (built with ``autoreset=True``) as a Gymnasium VectorEnv."""

    metadata = {"render_modes": [], "autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}

    def __init__(self, env: BatchedEnv, render_mode: str | None = None) -> None:
        self._env = env
        self.num_envs = env.num_envs
        self.render_mode = render_mode
        self.single_observation_space = env.single_observation_space
        self.single_action_space = env.single_action_space
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self._seeded = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset all envs (a fresh entropy seed on the first unseeded reset)."""
        if seed is None and not self._seeded:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        self._seeded = True
        obs, _ = self._env.reset(seed=seed)
        return obs.cpu().numpy(), {}

    def step(self, actions):
        """Step all envs; finished ones restart in the same step."""
        out = self._env.step(torch.as_tensor(np.asarray(actions), device=self._env.device))
        done = out.done.cpu().numpy()
        info: dict[str, Any] = {}
        if done.any():  # Gymnasium's SAME_STEP layout: an object array, None where not done
            final = out.info["final_obs"].cpu().numpy()
            final_obs = np.full(self.num_envs, None, dtype=object)
            # Gymnasium's format is an array of per-env objects: filled env by env (finished
            # ones only), in this Gymnasium-facing wrapper, never in snnrl's own batched path
            for i in np.flatnonzero(done):
                final_obs[i] = final[i]
            info = {"final_obs": final_obs, "_final_obs": done, "final_info": {},
                    "_final_info": done}
        return (out.obs.cpu().numpy(), out.reward.cpu().numpy().astype(np.float64),
                out.terminated.cpu().numpy(), out.truncated.cpu().numpy(), info)
