"""Recurrent deep agents (``agent=stpn|stpn_snn|lstm|rnn``): sizes, fit, act, save/load, errors."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from snnrl.agents.base import EnvInfo
from snnrl.agents.recurrent import RecurrentAgent, RecurrentAgentConfig
from snnrl.cli.app import conf_dir
from snnrl.config import ConfigError, Unsupported, register_schemas, to_objects
from snnrl.envs import make_env

MAZE = EnvInfo(gym.spaces.Box(0, 10, (17,)), gym.spaces.Discrete(4), (0.0,) * 17, (1.0,) * 17)


def test_maze_sizes_match_the_stpn_paper() -> None:
    """STPN 55 / LSTM 47 / RNN 100 hidden units: about 12.4k parameters each (with heads)."""
    counts = {
        n: RecurrentAgent(RecurrentAgentConfig(name=n), MAZE).n_params
        for n in ("stpn", "lstm", "rnn")
    }
    assert counts == {
        "stpn": 3 * 55 * 72 + 55 + 5 * 56,
        "lstm": 4 * 47 * 64 + 8 * 47 + 5 * 48,
        "rnn": 100 * 117 + 200 + 5 * 101,
    }
    assert all(12_000 < c < 12_700 for c in counts.values()), counts


def _config(agent: str, env: str, *extra: str):
    register_schemas()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return to_objects(compose("train", overrides=[f"agent={agent}", f"env={env}", *extra]))


def _env_info(env, c) -> EnvInfo:
    return EnvInfo(
        env.single_observation_space,
        env.single_action_space,
        tuple(c.env.obs_low),
        tuple(c.env.obs_high),
    )


@pytest.mark.parametrize("name", ["stpn", "stpn_snn", "lstm", "rnn"])
@pytest.mark.parametrize("env_name", ["cartpole", "maze"])
def test_fit_act_save_load_round_trip(name: str, env_name: str, tmp_path: Path) -> None:
    c = _config(name, env_name, "agent.n_steps=16", "agent.ticks=2")
    env = make_env(c.env, 4, "cpu")
    info = _env_info(env, c)
    agent = RecurrentAgent(c.agent, info)
    records: list[dict] = []
    steps = agent.fit(env, 256, seed=3, log=records.append, log_every=16, run_dir=tmp_path)
    assert steps == 256 and len(records) == 4 and records[-1]["step"] == 256
    assert all(np.isfinite(r["train/loss"]) for r in records)
    n_act = int(env.single_action_space.n)
    obs, _ = env.reset(seed=0)
    start = torch.tensor([True, False, True, False])
    a, state = agent.policy_act(obs, agent.initial_state(4), start)
    assert a.shape == (4,) and a.dtype == torch.long and set(a.tolist()) <= set(range(n_act))
    # deterministic = argmax of the policy head
    with torch.no_grad():
        logits, _, _ = agent.net(obs, agent.initial_state(4))
    assert torch.equal(a, logits.argmax(-1))
    agent.save(tmp_path / "w.pt")
    other = RecurrentAgent(c.agent, info)
    other.load(tmp_path / "w.pt")
    b, _ = other.policy_act(obs, other.initial_state(4), start)
    assert torch.equal(a, b)
    assert other.n_params == agent.n_params
    again = RecurrentAgent(c.agent, info)  # same seed → same training → same weights
    again_records: list[dict] = []
    again.fit(env, 256, seed=3, log=again_records.append, log_every=16, run_dir=tmp_path)
    for p, q in zip(agent.net.parameters(), again.net.parameters(), strict=True):
        assert torch.equal(p, q)
    strip = [{k: v for k, v in r.items() if k != "perf/sps"} for r in records]
    assert strip == [{k: v for k, v in r.items() if k != "perf/sps"} for r in again_records]
    env.close()


@pytest.mark.parametrize("name", ["lstm", "stpn"])
def test_policy_act_carries_the_state_and_resets_it_where_an_episode_starts(name: str) -> None:
    agent = RecurrentAgent(RecurrentAgentConfig(name=name, hidden=8), MAZE)
    torch.manual_seed(0)
    obs = torch.rand(3, 17)
    yes, no = torch.ones(3, dtype=torch.bool), torch.zeros(3, dtype=torch.bool)
    _, fresh = agent.policy_act(obs, agent.initial_state(3), yes)
    _, carried = agent.policy_act(obs, fresh, no)
    _, reset = agent.policy_act(obs, carried, torch.tensor([False, True, False]))
    _, cont = agent.policy_act(obs, carried, no)
    assert not torch.allclose(carried[0], fresh[0])  # the state moves on without a reset
    torch.testing.assert_close(reset[0][1], fresh[0][1])  # env 1 restarted
    torch.testing.assert_close(reset[0][[0, 2]], cont[0][[0, 2]])


def test_minatar_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("minatar")
    c = _config("rnn", "minatar_breakout", "agent.n_steps=8", "agent.hidden=16")
    env = make_env(c.env, 2, "cpu")
    agent = RecurrentAgent(c.agent, _env_info(env, c))
    assert agent.net.torso.out_dim == 128
    agent.fit(env, 32, seed=0, log=lambda r: None, log_every=8, run_dir=tmp_path)
    obs, _ = env.reset(seed=0)
    a, _ = agent.policy_act(obs, agent.initial_state(2), torch.ones(2, dtype=torch.bool))
    assert a.shape == (2,)
    agent.save(tmp_path / "w.pt")
    agent.load(tmp_path / "w.pt")
    env.close()


@pytest.mark.parametrize(
    ("name", "cell", "hidden"),
    [("stpn", "stpn", 55), ("stpn_snn", "stpn_snn", 55), ("lstm", "lstm", 47), ("rnn", "rnn", 100)],
)
def test_agent_configs_compose_with_the_paper_sizes(name: str, cell: str, hidden: int) -> None:
    a = _config(name, "maze").agent
    assert isinstance(a, RecurrentAgentConfig)
    assert (a.name, a.cell, a.hidden, a.algo, a.n_steps, a.grad_clip) == (
        name,
        cell,
        hidden,
        "a2c",
        200,
        4.0,
    )
    assert _config(name, "maze", "agent.hidden=9", "agent.cell=rnn").agent.hidden == 9


def test_box_actions_with_ppo_stay_in_bounds(tmp_path: Path) -> None:
    info = EnvInfo(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-2.0, 2.0, (2,)), (), ())
    agent = RecurrentAgent(RecurrentAgentConfig(name="lstm", algo="ppo"), info)
    assert agent.n_params == 4 * 47 * (3 + 47) + 8 * 47 + 3 * 48 + 2  # heads and log_std
    start = torch.ones(5, dtype=torch.bool)
    a, _ = agent.policy_act(
        torch.randn(5, 3) * 10, agent.initial_state(5), start, deterministic=False
    )
    assert a.shape == (5, 2) and (a.abs() <= 2.0).all()
    obs = torch.randn(5, 3)
    mean, _ = agent.policy_act(obs, agent.initial_state(5), start)
    with torch.no_grad():
        mu, _, _ = agent.net(obs, agent.initial_state(5))
    torch.testing.assert_close(mean, 2.0 * mu.clamp(-1, 1))  # [-1, 1] mapped onto [-2, 2]


def test_unsupported_spaces_and_bad_config() -> None:
    bad = EnvInfo(gym.spaces.Box(-1, 1, (3,)), gym.spaces.MultiBinary(3), (), ())
    with pytest.raises(Unsupported, match="Discrete or 1-d Box"):
        RecurrentAgent(RecurrentAgentConfig(name="rnn"), bad)
    with pytest.raises(ConfigError, match="agent.algo"):
        RecurrentAgentConfig(name="rnn", algo="sac")
    with pytest.raises(ConfigError, match="agent.name"):
        RecurrentAgentConfig(name="gru")
    for key, value in (
        ("gamma", 1.5),
        ("lr", 0.0),
        ("n_steps", 0),
        ("clip_range", -0.1),
        ("entropy_coef", -1.0),
        ("synapse", "ampa"),
        ("cell", "gru"),
        ("clamp", 0.0),
        ("beta", 2.0),
    ):
        with pytest.raises(ConfigError, match=f"agent.{key}"):
            RecurrentAgentConfig(name="stpn", **{key: value})
    with pytest.raises(Unsupported):
        RecurrentAgent(
            RecurrentAgentConfig(name="rnn"),
            EnvInfo(gym.spaces.Box(0, 1, (2, 3)), gym.spaces.Discrete(2), (), ()),
        )
