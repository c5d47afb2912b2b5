"""SB3 baselines as zoo agents: config validation, space checks, tiny fits of every algorithm on
cart-pole, frozen-policy actions, save/load, determinism, divergence detection, MinAtarCNN."""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from snnrl.agents.base import EnvInfo
from snnrl.agents.sb3 import (
    ZOO_SB3,
    MinAtarCNN,
    SB3Agent,
    SB3AgentConfig,
    resolve_hyperparams,
)
from snnrl.config import ConfigError, Unsupported
from snnrl.envs.cartpole import TorchCartPole

CONF = Path(__file__).resolve().parents[2] / "conf" / "agent"
TINY = {
    "ppo": {"n_steps": 32, "batch_size": 64, "n_epochs": 2},
    "a2c": {"n_steps": 8},
    "recurrent_ppo": {"n_steps": 32, "batch_size": 64, "n_epochs": 2},
    "dqn": {"learning_starts": 64, "buffer_size": 1000},
    "popsan_ppo": {"n_steps": 32, "batch_size": 64, "n_epochs": 2},
}
NET = {"ppo": {"net_arch": [16]}, "a2c": {"net_arch": [16]}, "dqn": {"net_arch": [16]},
       "recurrent_ppo": {"net_arch": [16], "lstm_hidden_size": 8},
       "popsan_ppo": {"hidden": [16], "pop_in": 4, "pop_out": 4, "ticks": 2}}


def _info(env) -> EnvInfo:
    return EnvInfo(env.single_observation_space, env.single_action_space, (), ())


def _agent(name: str, env, **hp) -> SB3Agent:
    cfg = SB3AgentConfig(name=name, hyperparams={**TINY[name], **hp}, policy_kwargs=NET[name],
                         policy="popsan" if name == "popsan_ppo" else "auto")
    return SB3Agent(cfg, _info(env))


# -- config ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ZOO_SB3))
def test_default_config_for_every_zoo_name(name):
    cfg = SB3AgentConfig(name=name)
    assert cfg.algo == ZOO_SB3[name]


@pytest.mark.parametrize("name", sorted(ZOO_SB3))
def test_yaml_files_build_the_schema(name):
    raw = OmegaConf.to_container(OmegaConf.load(CONF / f"{name}.yaml"))
    assert raw.pop("defaults") == [f"{name}_schema"]
    # as Hydra builds it: the structured schema merged with the file, then to_object
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(SB3AgentConfig), raw))
    assert isinstance(cfg, SB3AgentConfig)
    assert cfg.name == name and cfg.algo == ZOO_SB3[name]
    assert cfg.policy == ("popsan" if name == "popsan_ppo" else "auto")


def test_unknown_hyperparam_is_named():
    with pytest.raises(ConfigError) as e:
        SB3AgentConfig(name="ppo", hyperparams={"n_step": 64})
    assert e.value.key == "agent.hyperparams.n_step" and "n_steps" in e.value.expected
    # a key valid for another algorithm is not valid here
    with pytest.raises(ConfigError, match="agent.hyperparams.buffer_size"):
        SB3AgentConfig(name="a2c", hyperparams={"buffer_size": 10})
    SB3AgentConfig(name="a2c", hyperparams={"n_steps": 10, "use_rms_prop": False})


@pytest.mark.parametrize("key", ["seed", "device", "verbose", "env", "policy",
                                 "tensorboard_log"])
def test_runner_keys_are_forbidden(key):
    with pytest.raises(ConfigError, match=f"agent.hyperparams.{key}"):
        SB3AgentConfig(name="ppo", hyperparams={key: 1})


def test_bad_name_algo_policy():
    with pytest.raises(ConfigError, match="agent.name"):
        SB3AgentConfig(name="ppo2")
    with pytest.raises(ConfigError, match="agent.algo"):
        SB3AgentConfig(name="ppo", algo="TRPO")
    with pytest.raises(ConfigError, match="agent.policy"):
        SB3AgentConfig(name="ppo", policy="snnrl.networks.popsan:PopSANPolicy")
    with pytest.raises(ConfigError, match="agent.policy"):
        SB3AgentConfig(name="dqn", policy="popsan")
    with pytest.raises(ConfigError, match="activation_fn"):
        SB3AgentConfig(name="ppo", policy_kwargs={"activation_fn": "os.system"})


def test_dqn_buffer_rules():
    cfg = SB3AgentConfig(name="dqn")
    assert cfg.hyperparams["buffer_size"] == 100_000
    assert SB3AgentConfig(name="dqn", hyperparams={"buffer_size": 5e4}).hyperparams[
        "buffer_size"] == 50_000
    assert cfg.hyperparams["optimize_memory_usage"] is True
    assert cfg.hyperparams["replay_buffer_kwargs"] == {"handle_timeout_termination": False}
    with pytest.raises(ConfigError) as e:
        SB3AgentConfig(name="dqn", hyperparams={"buffer_size": 100_001})
    assert e.value.key == "agent.hyperparams.buffer_size"
    with pytest.raises(ConfigError, match="handle_timeout_termination"):
        SB3AgentConfig(name="dqn", hyperparams={
            "replay_buffer_kwargs": {"handle_timeout_termination": True}})
    cfg = SB3AgentConfig(name="dqn", hyperparams={"optimize_memory_usage": False})
    assert "replay_buffer_kwargs" not in cfg.hyperparams


def test_linear_schedules():
    hp = resolve_hyperparams({"learning_rate": "lin_3e-4", "clip_range": "lin_0.2", "gamma": 0.9})
    assert hp["gamma"] == 0.9
    assert hp["learning_rate"](1.0) == pytest.approx(3e-4)
    assert hp["learning_rate"](0.25) == pytest.approx(7.5e-5)
    assert hp["clip_range"](0.5) == pytest.approx(0.1)
    assert hp["clip_range"](0.0) == 0.0
    for bad in ("lin_x", "linear_0.1", "3e-4"):
        with pytest.raises(ConfigError, match="agent.hyperparams.learning_rate"):
            SB3AgentConfig(name="ppo", hyperparams={"learning_rate": bad})


def test_linear_schedule_reaches_the_optimizer():
    env = TorchCartPole(num_envs=2)
    agent = _agent("ppo", env, learning_rate="lin_1e-3", n_steps=16, batch_size=32)
    records: list[dict] = []
    agent.fit(env, 64, seed=0, log=records.append, log_every=16, run_dir=Path("."))
    # two rollouts of 32 steps: the first update runs at progress_remaining = 1 - 32/64, the
    # second at 0 (SB3 updates the progress before each training phase)
    assert records[-1]["train/learning_rate"] == pytest.approx(5e-4)
    assert agent.model.policy.optimizer.param_groups[0]["lr"] == 0.0


# -- spaces ---------------------------------------------------------------------------------------


def _box_info(action_space) -> EnvInfo:
    return EnvInfo(gym.spaces.Box(-1.0, 1.0, (3,), np.float32), action_space, (), ())


def test_unsupported_spaces():
    box = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    with pytest.raises(Unsupported) as e:
        SB3Agent(SB3AgentConfig(name="dqn"), _box_info(box))
    assert e.value.key == "env.action_space"
    for name in ("ppo", "a2c", "recurrent_ppo"):
        SB3Agent(SB3AgentConfig(name=name), _box_info(box))
        SB3Agent(SB3AgentConfig(name=name), _box_info(gym.spaces.Discrete(3)))
    SB3Agent(SB3AgentConfig(name="dqn"), _box_info(gym.spaces.Discrete(3)))
    with pytest.raises(Unsupported, match="env.observation_space"):
        SB3Agent(SB3AgentConfig(name="ppo", policy="CnnPolicy"), _box_info(box))
    with pytest.raises(ConfigError, match="agent.hyperparams.buffer_size"):
        SB3AgentConfig(name="dqn", hyperparams={"buffer_size": "big"})
    dict_obs = EnvInfo(gym.spaces.Dict({"a": box}), gym.spaces.Discrete(2), (), ())
    with pytest.raises(Unsupported, match="env.observation_space"):
        SB3Agent(SB3AgentConfig(name="ppo"), dict_obs)


def test_box_actions_are_clamped_to_the_space():
    agent = SB3Agent(SB3AgentConfig(name="ppo", policy_kwargs={"net_arch": [4]}),
                     _box_info(gym.spaces.Box(-1.0, 1.0, (2,), np.float32)))
    with torch.no_grad():
        agent.policy.action_net.weight.zero_()
        agent.policy.action_net.bias.copy_(torch.tensor([5.0, -0.25]))
    act, _ = agent.policy_act(torch.zeros(3, 3), None, torch.ones(3, dtype=torch.bool))
    assert act.shape == (3, 2) and act.dtype == torch.float32
    assert torch.equal(act, torch.tensor([[1.0, -0.25]] * 3))


# -- fits -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ZOO_SB3))
def test_tiny_fit_act_save_load(name, tmp_path):
    env = TorchCartPole(num_envs=4)
    agent = _agent(name, env)
    records: list[dict] = []
    steps = agent.fit(env, 512, seed=0, log=records.append, log_every=32, run_dir=tmp_path)
    assert 512 <= steps < 512 + 4 * 32
    assert records and records[-1]["step"] == steps
    assert all(b["step"] > a["step"] for a, b in zip(records, records[1:], strict=False))
    assert all(set(r) >= {"step", "train/episode_return", "train/episodes"} for r in records)
    assert sum(r["train/episodes"] for r in records) > 0  # random cart-pole episodes are short
    assert any(k.startswith("train/") and "loss" in k for k in records[-1])
    assert agent.policy_class_name == {"recurrent_ppo": "MlpLstmPolicy",
                                       "popsan_ppo": "PopSANPolicy"}.get(name, "MlpPolicy")

    obs, _ = env.reset(seed=5)
    start = torch.ones(4, dtype=torch.bool)
    act, state = agent.policy_act(obs, agent.initial_state(4), start)
    assert act.shape == (4,) and act.dtype == torch.int64 and act.device == obs.device
    assert ((act >= 0) & (act < 2)).all()

    agent.save(tmp_path / "w.pt")
    fresh = _agent(name, env)
    fresh.load(tmp_path / "w.pt")
    assert fresh.model is None and fresh.n_params == agent.n_params
    for _ in range(3):
        act2, _ = fresh.policy_act(obs, fresh.initial_state(4), start)
        a1, _ = agent.policy_act(obs, agent.initial_state(4), start)
        assert torch.equal(a1, act2)
        obs = env.step(a1).obs
    # a fresh, untrained policy differs from the trained one
    untrained = _agent(name, env)
    assert not all(torch.equal(p, q) for p, q in zip(
        untrained.policy.state_dict().values(), fresh.policy.state_dict().values(),
        strict=True))


def test_extra_policy_is_imported_by_registered_name_only(monkeypatch):
    import snnrl.agents.sb3 as sb3

    monkeypatch.setitem(sb3.EXTRA_POLICIES, "plain_ac",
                        "stable_baselines3.common.policies:ActorCriticPolicy")
    env = TorchCartPole(num_envs=2)
    cfg = SB3AgentConfig(name="ppo", policy="plain_ac", policy_kwargs={"net_arch": [16]},
                         hyperparams=TINY["ppo"])
    agent = SB3Agent(cfg, _info(env))
    assert agent.policy_class_name == "ActorCriticPolicy"
    agent.fit(env, 128, seed=0, log=lambda r: None, log_every=1000, run_dir=Path("."))
    assert type(agent.policy).__name__ == "ActorCriticPolicy" and agent.n_params == 211


def test_n_params_hand_counted():
    env = TorchCartPole(num_envs=1)
    # MlpPolicy net_arch [16], 4 inputs, 2 actions: pi (4*16+16) + vf (4*16+16) + action 16*2+2
    # + value 16+1
    assert _agent("ppo", env).n_params == 80 + 80 + 34 + 17
    # DQN: q_net only (the target copy is not trained): 4*16+16 + 16*2+2
    assert _agent("dqn", env).n_params == 80 + 34


def test_same_seed_same_parameters():
    def params(seed):
        env = TorchCartPole(num_envs=4)
        agent = _agent("ppo", env)
        agent.fit(env, 512, seed=seed, log=lambda r: None, log_every=1000, run_dir=Path("."))
        return [p.detach().clone() for p in agent.policy.parameters()]

    a, b, c = params(0), params(0), params(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_recurrent_state_is_carried_and_reset():
    env = TorchCartPole(num_envs=3)
    agent = _agent("recurrent_ppo", env)
    h0 = agent.initial_state(3)
    assert h0[0].shape == (1, 3, 8) and not h0[0].any()
    obs, _ = env.reset(seed=0)
    no = torch.zeros(3, dtype=torch.bool)
    _, s1 = agent.policy_act(obs, h0, torch.ones(3, dtype=torch.bool))
    assert s1[0].abs().sum() > 0
    _, s2 = agent.policy_act(obs, s1, no)
    assert not torch.equal(s2[0], s1[0])  # the state carries: same obs, different state
    # episode_start zeroes the state first: equal to starting from the initial state
    _, s3 = agent.policy_act(obs, s2, torch.tensor([True, False, True]))
    assert torch.allclose(s3[0][:, 0], s1[0][:, 0]) and torch.allclose(s3[1][:, 2], s1[1][:, 2])
    assert not torch.allclose(s3[0][:, 1], s1[0][:, 1])


def test_non_finite_parameter_raises():
    env = TorchCartPole(num_envs=2)
    agent = _agent("ppo", env)

    def corrupt(record):
        with torch.no_grad():
            next(agent.model.policy.parameters()).view(-1)[0] = math.nan

    with pytest.raises(FloatingPointError):
        agent.fit(env, 512, seed=0, log=corrupt, log_every=8, run_dir=Path("."))


def test_minatar_ppo_uses_minatar_cnn():
    pytest.importorskip("minatar")
    from snnrl.envs.atari import FACTORIES

    env = FACTORIES["minatar_breakout"](num_envs=2, max_episode_steps=1000, device="cpu")
    agent = SB3Agent(SB3AgentConfig(name="ppo", hyperparams={"n_steps": 64, "batch_size": 64,
                                                             "n_epochs": 1}), _info(env))
    assert agent.policy_class_name == "CnnPolicy(MinAtarCNN)"
    steps = agent.fit(env, 256, seed=0, log=lambda r: None, log_every=64, run_dir=Path("."))
    assert steps == 256
    policy = agent.policy
    assert isinstance(policy.features_extractor, MinAtarCNN)
    assert policy.normalize_images is False
    c = env.single_observation_space.shape[0]
    # conv 16@3x3 over C channels, then 16*8*8 -> 128 (Young & Tian 2019)
    n_extractor = sum(p.numel() for p in policy.features_extractor.parameters())
    assert n_extractor == (c * 16 * 9 + 16) + (16 * 8 * 8 * 128 + 128)
    obs, _ = env.reset(seed=0)
    # frames in {0, 1} reach the conv unscaled (no division by 255)
    feats = policy.extract_features(obs, policy.pi_features_extractor)
    assert torch.allclose(feats, policy.features_extractor(obs.float()))
    act, _ = agent.policy_act(obs, None, torch.ones(2, dtype=torch.bool))
    assert act.shape == (2,) and ((act >= 0) & (act < env.single_action_space.n)).all()
    env.close()
