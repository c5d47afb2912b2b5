"""Long-horizon evaluation: score kinds, the never-reset rollout, a hand-made failure rate."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from snnrl.agents.base import EnvInfo
from snnrl.agents.plastic import PlasticAgent, PlasticAgentConfig
from snnrl.config import EnvConfig, EvalSection, TrainConfig, to_objects
from snnrl.envs.protocol import BatchedEnv, EnvStep
from snnrl.envs.registry import ENV_FACTORIES
from snnrl.eval.longhorizon import evaluate_horizons, live_long, score_kind
from snnrl.learners.config import ESConfig

CARTPOLE_LOW = [-2.4, -3.0, -0.21, -3.5]
CARTPOLE_HIGH = [2.4, 3.0, 0.21, 3.5]



def composed(*overrides: str) -> TrainConfig:
    """The shipped config with ``overrides``, as schema objects."""
    from hydra import compose, initialize_config_dir

    from snnrl.cli.app import conf_dir
    from snnrl.config import register_schemas

    register_schemas()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return to_objects(compose("train", overrides=["agent=abcd_ann", "learner=es", *overrides]))


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        (["env=cartpole"], "failures"),
        (["env=cartpole_long"], "failures"),
        (["env=maze"], "reward"),
        (["env=gym", "env.id=CartPole-v1"], "raw_reward"),
    ],
)
def test_score_kind(overrides: list[str], kind: str) -> None:
    assert score_kind(composed(*overrides)) == kind


def test_score_kind_needs_both_references_for_reward() -> None:
    env = EnvConfig(name="x", id="x", random_return=1.0)
    c = TrainConfig(agent=plastic_cfg(), env=env, learner=ESConfig())
    assert score_kind(c) == "raw_reward"


class FailEvery10(BatchedEnv):
    """Every env terminates on every 10th step; reward 1 per step; actions are ignored."""

    env_id = "test/FailEvery10-v0"

    def __init__(
        self,
        num_envs: int,
        max_episode_steps: int | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.num_envs, self.device = num_envs, torch.device(device)
        self.single_observation_space = gym.spaces.Box(-1.0, 1.0, (4,), dtype=np.float32)
        self.single_action_space = gym.spaces.Discrete(2)
        self.t = 0

    def reset(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        self.t = 0
        return self._obs(), {}

    def _obs(self) -> torch.Tensor:
        return torch.full((self.num_envs, 4), (self.t % 10) / 10.0)

    def step(self, action: torch.Tensor) -> EnvStep:
        assert action.shape == (self.num_envs,)
        self.t += 1
        term = torch.full((self.num_envs,), self.t % 10 == 0)
        obs = self._obs()
        return EnvStep(
            obs, torch.ones(self.num_envs), term, torch.zeros_like(term), {"final_obs": obs}
        )


def plastic_cfg(**kw: Any) -> PlasticAgentConfig:
    base: dict[str, Any] = {"name": "abcd_ann", "rule": "abcd", "neuron": "rate", "hidden": [6]}
    return PlasticAgentConfig(**(base | kw))


def agent_for(env: BatchedEnv, low: list[float], high: list[float], plastic: bool) -> PlasticAgent:
    info = EnvInfo(env.single_observation_space, env.single_action_space, tuple(low), tuple(high))
    agent = PlasticAgent(plastic_cfg(plasticity=plastic), info)
    gen = torch.Generator().manual_seed(0)
    agent.set_theta(agent.theta[0] + 0.5 * torch.randn(agent.n_meta, generator=gen))
    return agent


def fake_config(lifetime: int, lifetimes: int, **env_kw: Any) -> TrainConfig:
    env = EnvConfig(
        name="fail_every_10",
        id=FailEvery10.env_id,
        backend="factory",
        max_episode_steps=None,
        obs_low=[-1.0] * 4,
        obs_high=[1.0] * 4,
        **env_kw,
    )
    return TrainConfig(
        agent=plastic_cfg(),
        env=env,
        learner=ESConfig(),
        lifetime_steps=lifetime,
        eval=EvalSection(lifetimes=lifetimes),
    )


def test_live_long_shapes_on_cartpole() -> None:
    c = composed("env=cartpole", "lifetime_steps=40")
    from snnrl.envs.cartpole import TorchCartPole

    agent = agent_for(TorchCartPole(1), CARTPOLE_LOW, CARTPOLE_HIGH, plastic=False)
    runs = [live_long(agent, c, 120, 40, torch.device("cpu"), 3) for _ in range(2)]
    run = runs[0]
    assert run["windows"] == 3 and run["diverged"] is None and run["has_health"]
    for key in ("reward", "silent", "saturated", "norms"):
        assert run[key].shape == (3, 3), key
        assert torch.equal(run[key], runs[1][key]), "same config, same streams"
    assert torch.all(run["reward"] == 40), "cart-pole pays 1 on every step"
    assert torch.all((run["silent"] >= 0) & (run["silent"] <= 1))
    # plasticity off: the weights keep their norm through every window
    assert torch.allclose(run["norms"], run["norms"][:, :1].expand(3, 3))
    assert run["log"].end_step == runs[1]["log"].end_step
    assert agent.record_health is False, "restored after the run"


def test_live_long_weights_drift_with_plasticity_on() -> None:
    c = composed("env=cartpole", "lifetime_steps=40")
    from snnrl.envs.cartpole import TorchCartPole

    agent = agent_for(TorchCartPole(1), CARTPOLE_LOW, CARTPOLE_HIGH, plastic=True)
    run = live_long(agent, c, 120, 40, torch.device("cpu"), 2)
    assert not torch.allclose(run["norms"][:, 0], run["norms"][:, 2])


def test_failures_every_tenth_step_by_hand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ENV_FACTORIES, "fail_every_10", FailEvery10)
    c = fake_config(50, 3, random_failures_per_1000=45.0)
    agent = agent_for(FailEvery10(1), [-1.0] * 4, [1.0] * 4, plastic=False)
    m = evaluate_horizons(c, agent, tmp_path, [3, 1], torch.device("cpu"))
    score = 1 - 100 / 45  # 5 failures in 50 steps = 100 per 1000; random: 45 per 1000
    out = tmp_path / "eval" / "long_horizon"
    results = json.loads((out / "results.json").read_text())
    assert results["score"] == "failures" and results["horizons"] == [1, 3]
    assert results["lifetimes"] == 3 and results["diverged"] is None
    for k in ("1", "3"):
        h = results["per_horizon"][k]
        assert h["stability/windows"] == int(k)
        assert h["stability/failures_per_1000_first"] == pytest.approx(100)
        assert h["stability/failures_per_1000_last"] == pytest.approx(100)
        assert h["stability/score_first"] == pytest.approx(score)
        assert h["stability/score_last"] == pytest.approx(score)
        assert h["stability/steps_to_first_failure"] == pytest.approx(10)
        assert h["stability/reward_per_step_last"] == pytest.approx(1.0)
        assert h["stability/weight_drift_last"] == pytest.approx(0.0, abs=1e-6)
    assert m["stability/h3/score_last"] == pytest.approx(score)
    assert m["stability/h1/failures_per_1000_last"] == pytest.approx(100)
    with open(out / "windows.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["end_step"]) for r in rows] == [50, 100, 150]
    for r in rows:
        assert float(r["score_mean"]) == pytest.approx(score, rel=1e-5)
        assert float(r["failures_per_1000_mean"]) == pytest.approx(100)
        assert float(r["reward_per_step_mean"]) == pytest.approx(1.0)
    assert (out / "stability.png").read_bytes()[:4] == b"\x89PNG"


def test_env_without_references_scores_raw_reward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ENV_FACTORIES, "fail_every_10", FailEvery10)
    c = fake_config(20, 2)
    agent = agent_for(FailEvery10(1), [-1.0] * 4, [1.0] * 4, plastic=True)
    evaluate_horizons(c, agent, tmp_path, [2], torch.device("cpu"), tag="raw")
    results = json.loads((tmp_path / "eval" / "raw" / "results.json").read_text())
    assert results["score"] == "raw_reward" and results["plasticity"] is True
    h = results["per_horizon"]["2"]
    assert h["stability/score_first"] == pytest.approx(1.0)  # reward per step
    assert h["stability/failures_per_1000_last"] == pytest.approx(100)
