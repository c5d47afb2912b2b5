"""The deep-agent runner path (:mod:`snnrl.cli.deep`): frozen-weight evaluation and train_deep.

A hand-written :class:`~snnrl.agents.deep.DeepAgent` (a fixed linear controller) stands in for the
SB3 and recurrent agents, so the runner's own logic is checked against known answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir

from snnrl.agents.deep import DeepAgent
from snnrl.cli.app import conf_dir
from snnrl.cli.deep import evaluate_episodes, load_weights, train_deep
from snnrl.config import register_schemas, to_objects
from snnrl.envs import make_env
from snnrl.seeding import derive_seed
from snnrl.tracking import RunDir


def _config(*overrides: str) -> Any:
    register_schemas()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return to_objects(compose("train", overrides=["progress=false", *overrides]))


class Controller(DeepAgent):
    """Push right when the pole leans right (``theta + 0.5 theta_dot > 0``): balances long."""

    def __init__(self, gain: float = 0.5, fail_after: int | None = None) -> None:
        self.name = "controller"
        self.gain = torch.tensor(gain)
        self.fail_after = fail_after
        self.calls = 0

    def fit(self, env, total_steps, seed, log, log_every, run_dir) -> int:
        steps = 0
        while steps < total_steps:
            steps += log_every * env.num_envs
            self.calls += 1
            if self.fail_after is not None and self.calls > self.fail_after:
                raise FloatingPointError("non-finite loss at update 3")
            log({"step": steps, "train/episode_return": float(self.calls)})
        return steps

    def initial_state(self, batch: int) -> Any:
        return torch.zeros(batch)

    def policy_act(self, obs, state, episode_start, deterministic=True):
        state = torch.where(episode_start, torch.zeros_like(state), state) + 1
        return (obs[:, 2] + self.gain * obs[:, 3] > 0).long(), state

    def save(self, path: Path) -> None:
        torch.save({"gain": self.gain}, path)

    def load(self, path: Path) -> None:
        self.gain = torch.load(path, weights_only=True)["gain"]

    @property
    def n_params(self) -> int:
        return 1


def _manual_returns(c: Any, policy: Any, n: int, cap: int) -> list[float]:
    """One episode per env, run one env at a time with the same seeds: the reference."""
    env = make_env(c.env, n, "cpu")
    obs, _ = env.reset(seed=derive_seed(c.seed, "eval/env"))
    out: list[float] = [0.0] * n
    alive = [True] * n
    for _ in range(cap):
        a = torch.stack([policy(obs[i]) for i in range(n)])
        step = env.step(a)
        for i in range(n):
            if alive[i]:
                out[i] += float(step.reward[i])
                alive[i] = not bool(step.done[i])
        obs = step.obs
    env.close()
    return out


def test_frozen_evaluation_scores_one_episode_per_env() -> None:
    c = _config("env=cartpole", "eval.episodes=6", "seed=4")
    weak = Controller(gain=-3.0)  # a bad controller: short episodes of different lengths
    metrics, episodes = evaluate_episodes(c, weak, torch.device("cpu"))
    ref = _manual_returns(c, lambda o: (o[2] - 3.0 * o[3] > 0).long(), 6, 500)
    assert episodes["return"] == ref
    assert metrics["eval/episodes"] == 6 and metrics["eval/cut"] == 0
    assert metrics["eval/return_mean"] == pytest.approx(sum(ref) / 6)
    assert episodes["length"] == [int(r) for r in ref]  # cart-pole: +1 per step


def test_episodes_longer_than_the_cap_are_cut_and_counted() -> None:
    c = _config("env=cartpole", "eval.episodes=3", "env.max_episode_steps=40")
    metrics, episodes = evaluate_episodes(c, Controller(), torch.device("cpu"))
    assert episodes["return"] == [40.0, 40.0, 40.0]
    assert metrics["eval/cut"] == 0  # the env's own time limit ended them
    c = _config("env=cartpole_long", "eval.episodes=2", "lifetime_steps=60")
    metrics, episodes = evaluate_episodes(c, Controller(), torch.device("cpu"))
    assert episodes["length"] == [60, 60] and metrics["eval/cut"] == 2


def test_train_deep_writes_checkpoint_metrics_and_evaluation(tmp_path: Path) -> None:
    c = _config("env=cartpole", "eval.episodes=2", "train.env_steps=400", "train.num_envs=2",
                "train.log_every=50")
    agent = Controller(gain=0.7)
    env = make_env(c.env, 2, "cpu")
    try:
        out = train_deep(c, agent, env, RunDir(tmp_path), None, torch.device("cpu"))
    finally:
        env.close()
    assert out["status"] == "ok" and out["env_steps"] == 400
    recs = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [100, 200, 300, 400, 400]
    assert out["metrics"]["train/return_last_10pct"] == 4.0
    assert out["metrics"]["eval/return_mean"] == 500.0
    assert json.loads((tmp_path / "eval_episodes.json").read_text())["return"] == [500.0, 500.0]
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["agent"] == c.agent.name and ckpt["env_id"] == "snnrl/CartPole-v1"
    assert ckpt["env_steps"] == 400
    again = Controller(gain=0.0)
    load_weights(again, tmp_path)
    assert float(again.gain) == pytest.approx(0.7)


def test_a_diverged_fit_is_recorded_without_checkpoint(tmp_path: Path) -> None:
    c = _config("env=cartpole", "train.env_steps=400", "train.num_envs=2", "train.log_every=50")
    env = make_env(c.env, 2, "cpu")
    try:
        out = train_deep(c, Controller(fail_after=2), env, RunDir(tmp_path), None,
                         torch.device("cpu"))
    finally:
        env.close()
    assert out["status"] == "diverged" and "update 3" in out["reason"]
    assert out["env_steps"] == 200
    assert not (tmp_path / "checkpoint.pt").exists()
