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
