"""Recurrent deep agents (``agent=stpn|stpn_snn|lstm|rnn``): sizes, fit, act, save/load, errors."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
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
    counts = {n: RecurrentAgent(RecurrentAgentConfig(name=n), MAZE).n_params
              for n in ("stpn", "lstm", "rnn")}
    assert counts == {"stpn": 3 * 55 * 72 + 55 + 5 * 56,
                      "lstm": 4 * 47 * 64 + 8 * 47 + 5 * 48,
                      "rnn": 100 * 117 + 200 + 5 * 101}
    assert all(12_000 < c < 12_700 for c in counts.values()), counts


def _config(agent: str, env: str, *extra: str):
    register_schemas()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return to_objects(compose("train", overrides=[f"agent={agent}", f"env={env}", *extra]))


@pytest.mark.parametrize("name", ["stpn", "stpn_snn", "lstm", "rnn"])
def test_fit_act_save_load_round_trip(name: str, tmp_path: Path) -> None:
    c = _config(name, "cartpole", "agent.n_steps=8", "agent.ticks=2")
    env = make_env(c.env, 4, "cpu")
    info = EnvInfo(env.single_observation_space, env.single_action_space, tuple(c.env.obs_low),
                   tuple(c.env.obs_high))
    agent = RecurrentAgent(c.agent, info)
    records: list[dict] = []
    steps = agent.fit(env, 64, seed=3, log=records.append, log_every=8, run_dir=tmp_path)
    assert steps == 64 and records and records[-1]["step"] == 64
    obs, _ = env.reset(seed=0)
    start = torch.tensor([True, False, True, False])
    a, state = agent.policy_act(obs, agent.initial_state(4), start)
    assert a.shape == (4,) and a.dtype == torch.long and set(a.tolist()) <= {0, 1}
    agent.save(tmp_path / "w.pt")
    other = RecurrentAgent(c.agent, info)
    other.load(tmp_path / "w.pt")
    b, _ = other.policy_act(obs, other.initial_state(4), start)
    assert torch.equal(a, b)
    again = RecurrentAgent(c.agent, info)  # same seed → same training → same weights
    again.fit(env, 64, seed=3, log=lambda r: None, log_every=8, run_dir=tmp_path)
    for p, q in zip(agent.net.parameters(), again.net.parameters(), strict=True):
        assert torch.equal(p, q)
    env.close()


def test_box_actions_with_ppo_stay_in_bounds(tmp_path: Path) -> None:
    info = EnvInfo(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-2.0, 2.0, (2,)), (), ())
    agent = RecurrentAgent(RecurrentAgentConfig(name="lstm", algo="ppo"), info)
    a, _ = agent.policy_act(torch.randn(5, 3), agent.initial_state(5), torch.ones(5, dtype=bool),
                            deterministic=False)
    assert a.shape == (5, 2) and (a.abs() <= 2.0).all()


def test_unsupported_spaces_and_bad_config() -> None:
    bad = EnvInfo(gym.spaces.Box(-1, 1, (3,)), gym.spaces.MultiBinary(3), (), ())
    with pytest.raises(Unsupported, match="Discrete or 1-d Box"):
        RecurrentAgent(RecurrentAgentConfig(name="rnn"), bad)
    with pytest.raises(ConfigError, match="agent.algo"):
        RecurrentAgentConfig(name="rnn", algo="sac")
    with pytest.raises(ConfigError, match="agent.name"):
        RecurrentAgentConfig(name="gru")
