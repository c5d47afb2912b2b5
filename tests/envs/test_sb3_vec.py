"""SB3VecEnv: SB3's VecEnv contract over our batched torch envs (numpy out, same-step autoreset,
terminal_observation / TimeLimit.truncated, episode infos, seeding, action dtypes)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from snnrl.envs.cartpole import TorchCartPole
from snnrl.envs.maze import TorchMaze
from snnrl.envs.protocol import BatchedEnv, EnvStep
from snnrl.envs.sb3_vec import SB3VecEnv


class _Recorder(BatchedEnv):
    """A fake env that records the actions it gets and ends env 1 by truncation at step 2."""

    def __init__(self, action_space: gym.spaces.Space) -> None:
        self.num_envs = 3
        self.single_observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.single_action_space = action_space
        self.device = torch.device("cpu")
        self.env_id = "fake"
        self.actions: list[torch.Tensor] = []
        self.t = 0
        self.seeds: list[int | None] = []

    def reset(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        self.seeds.append(seed)
        self.t = 0
        return torch.zeros(3, 2), {}

    def step(self, action: torch.Tensor) -> EnvStep:
        self.actions.append(action)
        self.t += 1
        obs = torch.full((3, 2), float(self.t))
        final = obs.clone()
        trunc = torch.tensor([False, self.t == 2, False])
        term = torch.tensor([False, False, self.t == 2])
        final[1] = final[2] = -0.5  # last obs of the ended episodes (obs is the new first one)
        final = torch.where((trunc | term)[:, None], final, obs)
        reward = torch.tensor([1.0, 2.0, 0.5])
        return EnvStep(obs, reward, term, trunc, {"final_obs": final})


def test_action_dtypes_and_infos_on_fake_env():
    env = _Recorder(gym.spaces.Discrete(3))
    venv = SB3VecEnv(env)
    obs = venv.reset()
    assert isinstance(obs, np.ndarray) and obs.shape == (3, 2)
    venv.step(np.array([0, 1, 2]))
    obs, rew, dones, infos = venv.step(np.array([2, 2, 2]))
    assert env.actions[0].dtype == torch.int64 and env.actions[0].tolist() == [0, 1, 2]
    assert isinstance(rew, np.ndarray) and rew.dtype == np.float32
    assert dones.tolist() == [False, True, True]
    assert "terminal_observation" not in infos[0] and "episode" not in infos[0]
    np.testing.assert_array_equal(infos[1]["terminal_observation"], [-0.5, -0.5])
    np.testing.assert_array_equal(obs[1], [2.0, 2.0])
    assert infos[1]["TimeLimit.truncated"] is True
    assert infos[2]["TimeLimit.truncated"] is False  # terminated, not a time limit
    assert infos[1]["episode"]["r"] == 4.0 and infos[1]["episode"]["l"] == 2
    assert infos[2]["episode"]["r"] == 1.0
    # returns restart after an episode ends, continue where it did not
    env.t = 0
    venv.step(np.array([0, 0, 0]))
    _, _, _, infos = venv.step(np.array([0, 0, 0]))
    assert infos[1]["episode"]["r"] == 4.0 and infos[1]["episode"]["l"] == 2

    box = _Recorder(gym.spaces.Box(-1.0, 1.0, (2,), np.float32))
    vbox = SB3VecEnv(box)
    vbox.reset()
    vbox.step(np.array([[0.5, -0.5]] * 3, dtype=np.float64))
    assert box.actions[0].dtype == torch.float32 and box.actions[0].shape == (3, 2)


def test_seed_feeds_next_reset_only():
    env = _Recorder(gym.spaces.Discrete(2))
    venv = SB3VecEnv(env)
    assert list(venv.seed(7)) == [7, 8, 9]
    venv.reset()
    venv.reset()
    assert env.seeds == [7, None]


def test_seeded_reset_matches_env_reset():
    venv = SB3VecEnv(TorchCartPole(num_envs=4))
    venv.seed(3)
    obs = venv.reset()
    ref, _ = TorchCartPole(num_envs=4).reset(seed=3)
    np.testing.assert_array_equal(obs, ref.numpy())


def test_cartpole_truncation_and_terminal_observation_match_the_env():
    """max_episode_steps=5: every episode ends by the time limit at step 5, and the adapter's
    terminal_observation / next obs are the batched env's final_obs / obs."""
    ref = TorchCartPole(num_envs=4, max_episode_steps=5)
    venv = SB3VecEnv(TorchCartPole(num_envs=4, max_episode_steps=5))
    venv.seed(0)
    venv.reset()
    ref.reset(seed=0)
    actions = np.array([0, 1, 0, 1])
    for t in range(1, 6):
        obs, rew, dones, infos = venv.step(actions)
        out = ref.step(torch.as_tensor(actions))
        np.testing.assert_allclose(obs, out.obs.numpy())
        if t < 5:
            assert not dones.any()
    assert dones.all()
    for i in range(4):
        assert infos[i]["TimeLimit.truncated"] is True
        assert infos[i]["episode"] == {"r": 5.0, "l": 5, "t": 0.0}
        np.testing.assert_allclose(infos[i]["terminal_observation"], out.info["final_obs"][i])
        assert not np.allclose(infos[i]["terminal_observation"], obs[i])


def test_cartpole_termination_is_not_a_time_limit():
    venv = SB3VecEnv(TorchCartPole(num_envs=2, max_episode_steps=500))
    venv.seed(1)
    venv.reset()
    t = 0
    while t < 50:  # pushing right every step drops the pole in ~10 steps
        t += 1
        _, _, dones, infos = venv.step(np.array([1, 1]))
        if dones.any():
            break
    assert dones.any() and t < 50
    for i in np.flatnonzero(dones):
        assert infos[i]["TimeLimit.truncated"] is False
        assert infos[i]["episode"]["l"] == t


def test_maze_all_truncate_at_200():
    venv = SB3VecEnv(TorchMaze(num_envs=3, max_episode_steps=200))
    venv.seed(0)
    obs = venv.reset()
    assert obs.shape == (3, 17)
    rng = np.random.default_rng(0)
    for t in range(1, 201):
        _, _, dones, infos = venv.step(rng.integers(0, 4, size=3))
        if t < 200:
            assert not dones.any()
    assert dones.all()
    assert all(info["TimeLimit.truncated"] is True for info in infos)
    assert all(info["episode"]["l"] == 200 for info in infos)


def test_attr_methods():
    env = TorchCartPole(num_envs=3)
    venv = SB3VecEnv(env)
    assert venv.get_attr("num_envs") == [3, 3, 3]
    assert venv.get_attr("num_envs", indices=1) == [3]
    assert venv.get_attr("render_mode") == [None, None, None]
    assert venv.env_is_wrapped(gym.Wrapper) == [False, False, False]
    venv.set_attr("foo", 5)
    assert env.foo == 5
    with pytest.raises(AttributeError):
        venv.get_attr("no_such_attribute")


def test_ppo_trains_on_adapter():
    from stable_baselines3 import PPO

    venv = SB3VecEnv(TorchCartPole(num_envs=4))
    model = PPO("MlpPolicy", venv, n_steps=16, batch_size=32, n_epochs=1, seed=0, verbose=0,
                policy_kwargs={"net_arch": [8]}, device="cpu")
    model.learn(128)
    assert model.num_timesteps == 128
    assert len(model.ep_info_buffer) > 0  # episode infos reach SB3's own buffer
