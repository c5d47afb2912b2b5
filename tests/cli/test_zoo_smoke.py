"""Every zoo pair ``snnrl zoo`` marks runs (or tuned) trains in-process through ``snnrl train``;
every pair it marks unsupported is refused at start, with "unsupported" and the alternatives.

One env per family (:data:`snnrl.cli.zoo.ENV_FAMILIES`), a tiny budget per agent kind, episodes
capped short, so the whole matrix stays inside the test bound.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snnrl.agents import AGENTS
from snnrl.agents.plastic import ZOO_PLASTIC
from snnrl.agents.recurrent import ZOO_RECURRENT
from snnrl.cli.main import main
from snnrl.cli.zoo import ENV_FAMILIES, support

COMMON = ["progress=false", "train.log_every=4", "eval.episodes=2", "eval.lifetimes=1"]
CAP = {"cartpole": 30, "maze": 30, "ant": 20, "minatar_breakout": 30, "pong": 30}
"""Episode cap of the smoke runs (env.max_episode_steps), so a frozen-weight evaluation ends."""


def _kind_overrides(agent: str) -> list[str]:
    if agent == "rstdp":
        return ["lifetime_steps=8", "train.env_steps=16", "train.num_envs=2"]
    if agent in ZOO_PLASTIC:
        return ["learner=es", "learner.popsize=2", "train.num_envs=1", "lifetime_steps=8",
                "train.env_steps=16", "agent.ticks_per_step=2"]
    if agent in ZOO_RECURRENT:
        return ["agent.n_steps=4", "agent.ticks=2", "train.num_envs=2", "train.env_steps=8",
                "~tuned"]
    from snnrl.agents.sb3 import ZOO_SB3

    algo = ZOO_SB3[agent]
    base = ["train.num_envs=2", "train.env_steps=16", "~tuned"]
    if algo == "DQN":
        return base + ["+agent.hyperparams.learning_starts=4", "+agent.hyperparams.batch_size=4",
                       "agent.hyperparams.buffer_size=64", "+agent.hyperparams.train_freq=2"]
    hp = ["+agent.hyperparams.n_steps=4"]
    if algo in ("PPO", "RecurrentPPO"):
        hp += ["+agent.hyperparams.batch_size=8", "+agent.hyperparams.n_epochs=1"]
    return base + hp


PAIRS = [(a, e) for a in sorted(AGENTS) for e in ENV_FAMILIES]


@pytest.mark.parametrize(("agent", "env"), PAIRS)
def test_every_zoo_pair_runs_or_is_refused(agent: str, env: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    status, detail = support(agent, env)
    assert status in ("runs", "tuned", "unsupported"), (status, detail)
    run = tmp_path / "run"
    args = ["train", f"agent={agent}", f"env={env}", f"env.max_episode_steps={CAP[env]}",
            *COMMON, *_kind_overrides(agent), f"hydra.run.dir={run}"]
    rc = main(args)
    if status == "unsupported":
        assert rc == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "unsupported" in err[0] and "agents that run on" in err[0]
        assert not run.exists()
        return
    assert rc == 0, capsys.readouterr().err[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "ok", summary.get("reason")
    assert summary["metrics"].get("eval/return_mean") is not None or \
        summary["metrics"].get("eval/reward_rate_mean") is not None
