"""``snnrl zoo``: the rules' locality report and the agents x envs table."""

from __future__ import annotations

import pytest

from snnrl.cli.main import main
from snnrl.plasticity import RULES


def table(text: str) -> dict[str, list[str]]:
    """Markdown table rows → first cell: the other cells."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_rules_report_lists_every_rule_as_local(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zoo", "--rules"]) == 0
    rows = table(capsys.readouterr().out)
    assert rows.pop("rule") == ["signals read", "local", "reference"]
    assert set(rows) == set(RULES)
    assert set(RULES) >= {"hebb", "oja", "abcd", "neuromod", "stdp", "rstdp"}
    for name, (signals, local, reference) in rows.items():
        assert local == "yes", name
        assert signals == ", ".join(RULES[name].signals) and reference


def test_zoo_marks_plastic_agents_runnable_on_cartpole(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zoo", "--env", "cartpole"]) == 0
    rows = table(capsys.readouterr().out)
    assert rows.pop("agent") == ["cartpole"]
    assert rows["rstdp"] == ["runs"] and rows["abcd_snn"] == ["runs"]
    assert {"abcd_ann", "neuromod_snn", "stdp_ann"} <= set(rows)


def test_zoo_refuses_an_unknown_env(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zoo", "--env", "nosuch"]) == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("snnrl: error:"), err
    assert "--env" in lines[0] and "nosuch" in lines[0] and "cartpole" in lines[0]


def test_tuned_files_load_by_themselves_and_zoo_names_them(
        capsys: pytest.CaptureFixture[str]) -> None:
    from hydra import compose, initialize_config_dir

    from snnrl.cli.app import conf_dir
    from snnrl.config import register_schemas

    register_schemas()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        tuned = compose("train", overrides=["agent=ppo", "env=cartpole"])
        plain = compose("train", overrides=["agent=ppo", "env=cartpole", "~tuned"])
        override = compose("train", overrides=["agent=ppo", "env=cartpole",
                                               "agent.hyperparams.n_steps=64"])
        maze = compose("train", overrides=["agent=ppo", "env=maze"])
    assert tuned.agent.hyperparams.n_steps == 32 and tuned.train.num_envs == 8
    assert tuned.agent.hyperparams.learning_rate == "lin_0.001"
    assert dict(plain.agent.hyperparams) == {} and plain.train.num_envs == 64
    assert override.agent.hyperparams.n_steps == 64  # the command line wins over the file
    assert dict(maze.agent.hyperparams) == {}  # no ppo__maze file
    assert main(["zoo", "--env", "cartpole", "--env", "maze"]) == 0
    out = capsys.readouterr().out
    rows = table(out)
    assert rows["ppo"] == ["tuned", "runs"] and rows["dqn"] == ["tuned", "runs"]
    assert rows["a2c"] == ["runs", "runs"]
    assert "ppo × cartpole: tuned: conf/tuned/ppo__cartpole.yaml" in out


def test_stpn_on_pong_loads_the_papers_atari_settings() -> None:
    from hydra import compose, initialize_config_dir

    from snnrl.cli.app import conf_dir
    from snnrl.config import register_schemas, to_objects

    register_schemas()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        pong = to_objects(compose("train", overrides=["agent=stpn", "env=pong"]))
        maze = to_objects(compose("train", overrides=["agent=stpn", "env=maze"]))
    assert (pong.agent.n_steps, pong.agent.clamp, pong.agent.hidden) == (50, None, 64)
    assert (pong.agent.lr, pong.agent.grad_clip, pong.agent.row_norm) == (7e-4, 40.0, True)
    assert (maze.agent.n_steps, maze.agent.clamp) == (200, 1.0)  # the file is Pong's only
