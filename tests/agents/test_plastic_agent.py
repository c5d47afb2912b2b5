"""The plastic zoo agents: build and live on cart-pole, action decoding, config checks."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from snnrl.agents.base import EnvInfo
from snnrl.agents.plastic import ZOO_PLASTIC, PlasticAgent, PlasticAgentConfig
from snnrl.config import ConfigError
from snnrl.envs.cartpole import TorchCartPole
from snnrl.eval import run_lifetimes

CARTPOLE_LOW = (-2.4, -3.0, -0.21, -3.5)
CARTPOLE_HIGH = (2.4, 3.0, 0.21, 3.5)



def cfg_for(name: str, **kw: Any) -> PlasticAgentConfig:
    rule, neuron = ZOO_PLASTIC[name]
    return PlasticAgentConfig(name=name, rule=rule, neuron=neuron, **kw)


def cartpole_info(env: TorchCartPole) -> EnvInfo:
    return EnvInfo(
        env.single_observation_space, env.single_action_space, CARTPOLE_LOW, CARTPOLE_HIGH
    )


def box_info(low: list[float], high: list[float], n_obs: int = 3) -> EnvInfo:
    obs = gym.spaces.Box(-1.0, 1.0, (n_obs,), dtype=np.float32)
    act = gym.spaces.Box(np.array(low, dtype=np.float32), np.array(high, dtype=np.float32))
    return EnvInfo(obs, act, (-1.0,) * n_obs, (1.0,) * n_obs)


def test_zoo_names_cover_every_rule_and_neuron() -> None:
    assert set(ZOO_PLASTIC) == {
        f"{r}_{k}" for r in ("hebb", "oja", "abcd", "stdp", "neuromod") for k in ("ann", "snn")
    }
    assert all(
        n == ("rate" if name.endswith("_ann") else "lif") for name, (_, n) in ZOO_PLASTIC.items()
    )


@pytest.mark.parametrize("name", sorted(ZOO_PLASTIC))
def test_every_zoo_agent_lives_on_cartpole(name: str) -> None:
    env = TorchCartPole(4)
    agent = PlasticAgent(cfg_for(name, ticks_per_step=4), cartpole_info(env))
    assert agent.name == name and agent.learns_within_lifetime
    assert agent.rules[0].name == ZOO_PLASTIC[name][0]
    # switch every rule on (the layout's start has them off) so plastic state really changes
    gen = torch.Generator().manual_seed(0)
    theta = agent.theta + 0.3 * torch.randn(agent.theta.shape, generator=gen)
    agent.set_theta(theta[0])
    res = run_lifetimes(agent, env, 20, torch.Generator().manual_seed(1), env_seed=0, interval=10)
    assert res.steps == 20 and res.diverged is None
    assert len(res.fitness) == 4 and all(f > 0 for f in res.fitness)
    assert bool(agent.finite_lifetimes(res.state).all())
    assert any(torch.count_nonzero(p) > 0 for p in res.state.p), "the rule changed weights"
    weights = agent.state_dict(res.state)
    assert weights["w0"].shape[:2] == (1, 4)
    obs, _ = env.reset(seed=0)
    action, *_ = agent.act(res.state, obs, gen)
    assert action.shape == (4,) and set(action.tolist()) <= {0, 1}


@pytest.mark.parametrize("neuron", ["rate", "lif"])
def test_box_actions_are_decoded_within_bounds(neuron: str) -> None:
    low, high = [-2.0, 0.0], [1.0, 5.0]
    name = "abcd_ann" if neuron == "rate" else "abcd_snn"
    agent = PlasticAgent(cfg_for(name), box_info(low, high))
    n_out = agent.spec.n_out
    assert n_out == (2 if neuron == "rate" else 4), "LIF: one +/- unit pair per dimension"
    gen = torch.Generator().manual_seed(0)
    out = 4 * torch.randn(1, 64, n_out, generator=gen)
    act = agent.decode(out)
    lo, hi = torch.tensor(low), torch.tensor(high)
    assert act.shape == (64, 2)
    assert torch.all(act >= lo) and torch.all(act <= hi)
    assert torch.all((act > lo) & (act < hi), dim=1).any(), "not everything at a bound"
    # the extremes and the middle of the output range map onto the bounds and the midpoint
    if neuron == "rate":
        u = torch.tensor([[[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]])
    else:
        u = torch.tensor([[[0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0], [0.5, 0.2, 0.5, 0.2]]])
    torch.testing.assert_close(agent.decode(u), torch.stack([lo, hi, (lo + hi) / 2]))
    state = agent.init_state(5, gen)
    action, *_ = agent.act(state, torch.rand(5, 3, generator=gen) * 2 - 1, gen)
    assert action.shape == (5, 2) and torch.all(action >= lo) and torch.all(action <= hi)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("coeffs", "foo"),
        ("hidden", []),
        ("hidden", [4, 0]),
        ("beta", 2.0),
        ("rule_scale", 0.0),
        ("trace_decay", -0.1),
        ("ticks_per_step", 0),
    ],
)
def test_bad_config_values_name_the_key(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"agent.{key}") as err:
        cfg_for("abcd_snn", **{key: value})
    assert err.value.key == f"agent.{key}"


def test_unknown_name_rule_or_neuron_is_refused() -> None:
    with pytest.raises(ConfigError, match="agent.name"):
        PlasticAgentConfig(name="abcd_xnn")
    with pytest.raises(ConfigError, match="agent.rule"):
        PlasticAgentConfig(name="abcd_ann", rule="nope")
    with pytest.raises(ConfigError, match="agent.neuron"):
        PlasticAgentConfig(name="abcd_ann", neuron="izhikevich")


def test_image_observations_are_refused_with_a_clear_message() -> None:
    obs = gym.spaces.Box(0.0, 1.0, (4, 10, 10), dtype=np.float32)
    info = EnvInfo(obs, gym.spaces.Discrete(3), (), ())
    with pytest.raises(ConfigError, match="flat Box observation space") as err:
        PlasticAgent(cfg_for("abcd_snn"), info)
    assert "(4, 10, 10)" in str(err.value)


def test_obs_ranges_must_match_the_observation_size() -> None:
    env = TorchCartPole(1)
    info = EnvInfo(env.single_observation_space, env.single_action_space, (-1.0,) * 3, (1.0,) * 3)
    with pytest.raises(ConfigError, match="env.obs_low"):
        PlasticAgent(cfg_for("hebb_ann"), info)


def test_set_theta_with_candidates_requires_a_multiple_batch() -> None:
    env = TorchCartPole(1)
    agent = PlasticAgent(cfg_for("abcd_ann", hidden=[4]), cartpole_info(env))
    gen = torch.Generator().manual_seed(0)
    assert agent.theta.shape == (1, agent.n_meta)
    agent.set_theta(torch.randn(3, agent.n_meta, generator=gen))
    with pytest.raises(ValueError, match="multiple of 3 candidates"):
        agent.init_state(4, gen)
    state = agent.init_state(6, gen)
    assert state.p[0].shape[:2] == (3, 2)
    obs = torch.zeros(6, 4)
    action, state, _, _ = agent.act(state, obs, gen)
    assert action.shape == (6,)
    # lifetimes b = p * E + e: candidate p's rows follow theta row p
    solo = PlasticAgent(cfg_for("abcd_ann", hidden=[4]), cartpole_info(env))
    solo.set_theta(agent.theta[2])
    solo_action, *_ = solo.act(solo.init_state(2, gen), obs[4:], gen)
    assert torch.equal(action[4:], solo_action)


@pytest.mark.parametrize("name", ["neuromod_snn", "stdp_ann"])
def test_counted_lifetimes_act_alike_and_report_every_layer(name: str) -> None:
    env = TorchCartPole(3)
    agent = PlasticAgent(cfg_for(name, ticks_per_step=4, hidden=[6]), cartpole_info(env))
    theta = agent.theta + 0.3 * torch.randn(agent.theta.shape,
                                             generator=torch.Generator().manual_seed(0))
    agent.set_theta(theta[0])
    plain = run_lifetimes(agent, env, 15, torch.Generator().manual_seed(1), env_seed=0)
    assert plain.ops == {}, "counting is off by default"
    agent.count_ops = True
    counted = run_lifetimes(agent, env, 15, torch.Generator().manual_seed(1), env_seed=0)
    assert counted.episodes == plain.episodes and counted.fitness == plain.fitness
    for a, b in zip(agent.state_dict(plain.state).values(),
                    agent.state_dict(counted.state).values(), strict=True):
        assert torch.equal(a, b)
    assert set(counted.ops) == set(agent.layers)
    assert agent.layers["layer0"].plastic and agent.layers["layer0"].placement == "chip"
    assert counted.ops["layer0"]["synops_dense"] > 0 and counted.ops["layer0"]["plasticity_step"]
    state = agent.init_state(3, torch.Generator().manual_seed(1))
    _, _, _, ops = agent.act(state, env.reset(seed=0)[0], torch.Generator())
    assert all(v.shape == (3,) for c in ops.values() for v in c.values()
               if isinstance(v, torch.Tensor))
