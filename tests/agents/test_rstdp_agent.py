"""The R-STDP agent: same seed twice, learns beyond its plasticity-off control, validation."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

from snnrl.agents import EnvInfo, RSTDPAgent, RSTDPAgentConfig, make_agent
from snnrl.config import ConfigError
from snnrl.envs import TorchCartPole
from snnrl.eval import last_fraction_return, run_lifetimes

LOW, HIGH = (-2.4, -3.0, -0.21, -3.5), (2.4, 3.0, 0.21, 3.5)


def info(env: TorchCartPole) -> EnvInfo:
    return EnvInfo(env.single_observation_space, env.single_action_space, LOW, HIGH)


def live(plasticity: bool, seed: int, steps: int, b: int) -> tuple[float, torch.Tensor]:
    env = TorchCartPole(b)
    agent = RSTDPAgent(RSTDPAgentConfig(plasticity=plasticity), info(env))
    res = run_lifetimes(agent, env, steps, torch.Generator().manual_seed(seed), env_seed=seed,
                        interval=steps)
    return last_fraction_return(res.episodes, b, steps)[0], res.state.w


def test_same_seed_same_result() -> None:
    a, wa = live(True, 3, 300, 4)
    b, wb = live(True, 3, 300, 4)
    assert a == b and torch.equal(wa, wb)


@pytest.mark.slow
def test_learns_cartpole_beyond_its_control() -> None:
    """A short lifetime (6,000 steps, 16 lifetimes): clearly above the control and random."""
    on, _ = live(True, 11, 6000, 16)
    off, _ = live(False, 11, 6000, 16)
    assert on > 2 * off
    assert on > 30.0  # a random policy scores 22.2


def test_counts_synapses_after_encoding() -> None:
    agent = RSTDPAgent(RSTDPAgentConfig(n_per_dim=5, group_size=3), info(TorchCartPole(1)))
    assert agent.n_synapses == (4 * 5 + 1) * (2 * 3)


def test_unsupported_action_space_is_a_config_error() -> None:
    box = gym.spaces.Box(-1, 1, (2,))
    with pytest.raises(ConfigError, match="Discrete"):
        RSTDPAgent(RSTDPAgentConfig(), EnvInfo(box, box, (-1.0, -1.0), (1.0, 1.0)))


@pytest.mark.parametrize("field,value", [("dt", 0.0), ("tau_e", -1.0), ("group_size", 0),
                                          ("p_max", 0.0), ("gamma", 1.5), ("lr", -0.1),
                                          ("n_per_dim", 1)])
def test_config_ranges(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"agent.{field}"):
        RSTDPAgentConfig(**{field: value})


def test_registry_rejects_unknown_names() -> None:
    class Cfg:
        name = "nope"

    with pytest.raises(ConfigError, match="rstdp"):
        make_agent(Cfg(), info(TorchCartPole(1)))
