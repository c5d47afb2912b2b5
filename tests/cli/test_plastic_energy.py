"""Meta-learned plastic agents' energy: counted evaluation lifetimes → energy_counts.json →
``snnrl energy``, and the re-count of a run from its checkpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from snnrl.cli.energy import count_run
from snnrl.cli.main import main

# 1 generation of 2 candidates x 1 lifetime x 40 steps, then 2 evaluation lifetimes
TINY_ES = ["learner=es", "learner.popsize=2", "train.num_envs=1", "lifetime_steps=40",
           "train.env_steps=80", "eval.lifetimes=2", "agent.hidden=[6]", "agent.ticks_per_step=4",
           "progress=false", "seed=2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny neuromod_snn + ES run, never modified (tests copy it)."""
    out = tmp_path_factory.mktemp("plastic_energy") / "run"
    assert main(["train", "agent=neuromod_snn", *TINY_ES, f"hydra.run.dir={out}"]) == 0
    return out


def test_es_run_writes_counts_and_energy_metrics(trained: Path) -> None:
    data = json.loads((trained / "energy_counts.json").read_text())
    assert data["agent"] == "neuromod_snn"
    assert data["source"] == "evaluation lifetimes, plasticity on (frozen meta-parameters)"
    assert set(data["ops_per_step"]) == set(data["layers"]) == {
        "encoder", "layer0", "layer1", "modulator"}
    # cart-pole: 2 x 4 observations + 3 reward inputs -> 6 hidden -> 2 outputs, K = 4 ticks
    assert data["layers"]["layer0"] == {"placement": "chip", "neurons": 6, "fan_in": 11,
                                        "plastic": True, "graded": False}
    assert data["layers"]["modulator"]["placement"] == "host"
    l0 = data["ops_per_step"]["layer0"]
    assert l0["synops_dense"] == 4 * 11 * 6 and 0 < l0["synops_ac"] <= l0["synops_dense"]
    assert l0["neuron_updates_driven"] + l0["neuron_updates_idle"] == pytest.approx(4 * 6)
    assert l0["plasticity_step"] == 2 * 6 * 12, "the plastic arm is the one counted"
    curves = json.loads((trained / "eval_curves.json").read_text())
    assert curves["lifetimes"] == 2
    summary = json.loads((trained / "summary.json").read_text())
    m = summary["metrics"]
    assert m["energy/horowitz45_fp32/J_per_step"] > 0
    assert m["energy/loihi/J_per_step"] > 0 and summary["energy"]["loihi"]["fits"]
    assert m["energy/truenorth/J_per_step"] is None
    assert "on-chip learning" in summary["energy"]["truenorth"]["reason"]
    assert m["energy/loihi/J_per_episode"] == pytest.approx(
        m["energy/loihi/J_per_step"] * data["episode_length"])


def test_energy_recounts_a_plastic_run_from_its_checkpoint(
        trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a meta-learned run trained before plastic agents counted has no energy_counts.json
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    original = json.loads((run / "energy_counts.json").read_text())
    summary = (run / "summary.json").read_bytes()
    (run / "energy_counts.json").unlink()
    capsys.readouterr()
    assert main(["energy", str(run)]) == 0
    out = capsys.readouterr().out
    assert "counted 2 evaluation lifetimes" in out and "of neuromod_snn" in out
    assert "no chip-constrained evaluation for the meta-learned plastic agent" in out
    again = json.loads((run / "energy_counts.json").read_text())
    for key in ("ops_per_step", "layers", "episode_length", "assumptions", "agent", "env_id"):
        assert again[key] == original[key], key
    assert (run / "summary.json").read_bytes() == summary
    report = json.loads((run / "energy" / "report.json").read_text())
    assert report["chip_constrained"] == {} and report["chips"]["loihi"]["fits"]


def test_count_run_counts_a_rate_run_trained_without_evaluation(tmp_path: Path) -> None:
    run = tmp_path / "ann"
    assert main(["train", "agent=stdp_ann", *TINY_ES, "eval.enabled=false",
                 f"hydra.run.dir={run}"]) == 0
    assert not (run / "energy_counts.json").exists(), "energy is counted by the evaluation"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["energy"] == {} and not any(k.startswith("energy/") for k in
                                               summary["metrics"])
    assert count_run(run)
    data = json.loads((run / "energy_counts.json").read_text())
    assert data["layers"]["layer1"]["graded"] and "modulator" not in data["layers"]
    assert data["ops_per_step"]["layer0"]["ticks"] == 1
    assert data["ops_per_step"]["layer0"]["plasticity_tick"] == 6 * 12
    assert not count_run(tmp_path), "not a run directory"


def test_bptt_run_is_counted_and_recounted_identically(tmp_path: Path) -> None:
    # a gradient learner's theta carries a value head: load_agent must add it before checking
    run = tmp_path / "bptt"
    assert main(["train", "agent=abcd_snn", "agent.hidden=[6]", "agent.ticks_per_step=4",
                 "learner=bptt", "learner.window=20", "train.num_envs=2", "lifetime_steps=40",
                 "train.env_steps=160", "eval.lifetimes=2", "progress=false",
                 f"hydra.run.dir={run}"]) == 0
    original = json.loads((run / "energy_counts.json").read_text())
    assert original["layers"]["layer0"]["plastic"] and "modulator" not in original["layers"]
    assert count_run(run)
    again = json.loads((run / "energy_counts.json").read_text())
    assert again["ops_per_step"] == original["ops_per_step"]
    assert again["episode_length"] == original["episode_length"]
