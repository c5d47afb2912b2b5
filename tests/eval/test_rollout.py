"""run_lifetimes and the last-10% score."""

from __future__ import annotations

import math

import pytest
import torch

from snnrl.agents import EnvInfo, RSTDPAgent, RSTDPAgentConfig
from snnrl.envs import TorchCartPole
from snnrl.eval import EpisodeLog, last_fraction_return, run_lifetimes

LOW, HIGH = (-2.4, -3.0, -0.21, -3.5), (2.4, 3.0, 0.21, 3.5)


def make_agent(**kw) -> RSTDPAgent:
    env = TorchCartPole(1)
    return RSTDPAgent(RSTDPAgentConfig(**kw),
                      EnvInfo(env.single_observation_space, env.single_action_space, LOW, HIGH))


def test_last_fraction_return_hand_made() -> None:
    log = EpisodeLog()
    # lifetime of 100 steps: the window is steps 91..100
    # env 0: episodes ending at 50 (ret 50), 95 (ret 45), 100 (ret 5) -> mean of 45, 5 = 25
    # env 1: one episode ending at 90 (outside the window) and one at 91 (inside)
    # env 2: nothing ends inside the window -> left out
    for i, t, r in [(0, 50, 50.0), (0, 95, 45.0), (0, 100, 5.0), (1, 90, 90.0), (1, 91, 1.0),
                    (2, 60, 60.0)]:
        log.extend(torch.tensor([i]), t, torch.tensor([r]), torch.tensor([int(r)]),
                   torch.tensor([True]))
    mean, per = last_fraction_return(log, num_envs=3, lifetime_steps=100)
    assert per == [25.0, 1.0]
    assert mean == pytest.approx(13.0)
    empty, none = last_fraction_return(EpisodeLog(), 2, 100)
    assert math.isnan(empty) and none == []


def test_run_lifetimes_records_every_episode_and_steps() -> None:
    agent = make_agent()
    env = TorchCartPole(5)
    calls = []
    res = run_lifetimes(agent, env, 300, torch.Generator().manual_seed(0), env_seed=1,
                        on_interval=lambda t, rec: calls.append((t, rec)), interval=100)
    assert res.steps == 300 and res.diverged is None
    assert [t for t, _ in calls] == [100, 200, 300]
    assert all(r["train/episodes"] >= 0 for _, r in calls)
    log = res.episodes
    assert len(log.ret) == sum(int(r["train/episodes"]) for _, r in calls)
    # cart-pole pays 1 per step: an episode's return equals its length
    assert log.ret == [float(x) for x in log.length]
    # per env, episode lengths add up to the step at which the last one ended
    for i in range(5):
        ends = [t for j, t in zip(log.env_index, log.end_step, strict=True) if j == i]
        lens = [n for j, n in zip(log.env_index, log.length, strict=True) if j == i]
        assert sum(lens) == (ends[-1] if ends else 0)


def test_divergence_is_detected_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    agent = make_agent()
    monkeypatch.setattr(agent, "health", lambda state: {"train/actor_w_abs": float("nan")})
    res = run_lifetimes(agent, TorchCartPole(2), 500, torch.Generator().manual_seed(0),
                        env_seed=0, interval=100)
    assert res.diverged is not None and "train/actor_w_abs" in res.diverged
    assert res.steps == 100


def test_lifetimes_in_a_batch_do_not_interact() -> None:
    """Changing one env's observations leaves every other lifetime's trajectory unchanged."""
    agent = make_agent()
    state = agent.init_state(3, torch.Generator().manual_seed(0))
    obs = torch.zeros(3, 4)
    obs2 = obs.clone()
    obs2[1] = torch.tensor([1.0, 1.0, 0.1, 1.0])
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    s1 = s2 = state
    r = torch.ones(3)
    f = torch.zeros(3, dtype=torch.bool)
    for _ in range(30):
        _, s1, _, _ = agent.act(s1, obs, g1)
        _, s2, _, _ = agent.act(s2, obs2, g2)
        s1, _, _ = agent.learn(s1, r, f, f, obs)
        s2, _, _ = agent.learn(s2, r, f, f, obs2)
    assert torch.equal(s1.w[0], s2.w[0]) and torch.equal(s1.w[2], s2.w[2])
    assert not torch.equal(s1.w[1], s2.w[1])
