"""Every registered id and every env config: Gymnasium/SB3 checks and a smoke rollout."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

import snnrl  # noqa: F401  (registers the snnrl/* ids)
from snnrl.cli.app import conf_dir
from snnrl.cli.train import validate
from snnrl.config import register_schemas
from snnrl.envs import make_env

SNNRL_IDS = sorted(k for k in gym.registry if k.startswith("snnrl/"))
ENV_CONFIGS = sorted(p.stem for p in (conf_dir() / "env").glob("*.yaml") if p.stem != "gym")


def test_every_id_is_registered() -> None:
    assert {"snnrl/CartPole-v1", "snnrl/CartPoleRandom-v1", "snnrl/Maze-v0"} <= set(SNNRL_IDS)


@pytest.mark.parametrize("env_id", SNNRL_IDS)
def test_gymnasium_and_sb3_check_env(env_id: str) -> None:
    from gymnasium.utils.env_checker import check_env

    check_env(gym.make(env_id).unwrapped, skip_render_check=True)
    sb3 = pytest.importorskip("stable_baselines3.common.env_checker")
    sb3.check_env(gym.make(env_id), warn=True)


@pytest.mark.parametrize("env_id", SNNRL_IDS)
def test_vector_entry_point_autoresets_in_the_same_step(env_id: str) -> None:
    envs = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point")
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    envs.reset(seed=0)
    for _ in range(300):
        _, _, term, trunc, info = envs.step(envs.action_space.sample())
        done = term | trunc
        if done.any():
            assert all(info["final_obs"][i] is not None for i in done.nonzero()[0])
            break
    envs.close()


@pytest.mark.parametrize("name", ENV_CONFIGS)
def test_every_env_config_composes_builds_and_steps(name: str) -> None:
    register_schemas()
    with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir())):
        cfg = compose("train", overrides=[f"env={name}"])
    c = validate(cfg)
    assert c.env.name == name
    env = make_env(c.env, num_envs=2)
    try:
        obs, _ = env.reset(seed=1)
        assert obs.shape[0] == 2
        for _ in range(3):
            actions = torch.as_tensor(np.stack([env.single_action_space.sample()
                                                for _ in range(2)]))
            out = env.step(actions)
            assert out.obs.shape == obs.shape and out.reward.shape == (2,)
            assert out.info["final_obs"].shape == obs.shape
            assert not bool((out.terminated & out.truncated).any())
    finally:
        env.close()
