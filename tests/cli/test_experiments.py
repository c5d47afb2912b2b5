"""Every packaged experiment composes and validates (ES budgets are whole generations).

Its sweep names agents that exist in the zoo and a range of seeds.
"""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from snnrl.agents import AGENTS
from snnrl.agents.plastic import ZOO_PLASTIC
from snnrl.cli.app import conf_dir
from snnrl.cli.train import validate
from snnrl.config import register_schemas

EXPERIMENTS = sorted(p.stem for p in (conf_dir() / "experiment").glob("*.yaml"))


def test_there_are_experiments() -> None:
    assert "stable_lifelong_cartpole" in EXPERIMENTS
    assert "rules_only_cartpole" in EXPERIMENTS


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_validates(name: str) -> None:
    register_schemas()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        # device=cpu: the GPU-scale experiments compose here too (no GPU on the test machine)
        cfg = compose("train", overrides=[f"experiment={name}", "device=cpu"],
                      return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    agents = str(params["agent"]).split(",") if "agent" in params else [cfg.agent.name]
    assert set(agents) <= set(AGENTS), agents
    assert "range(" in str(params["seed"])
    for agent in agents:
        with initialize_config_dir(str(conf_dir()), version_base="1.3"):
            c = compose("train", overrides=[f"experiment={name}", f"agent={agent}", "device=cpu"])
        c = OmegaConf.masked_copy(c, [k for k in c if k != "hydra"]) if "hydra" in c else c
        obj = validate(c)
        assert obj.learner.name == ("es" if agent in ZOO_PLASTIC else "none")
        assert obj.agent.name == agent
