"""``snnrl energy`` end to end, in-process, on a tiny training run; and energy in the summary."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from snnrl.cli.main import main

TINY = ["lifetime_steps=200", "train.env_steps=800", "train.num_envs=4", "train.log_every=100",
        "eval.lifetimes=2", "progress=false"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny training run, never modified (tests copy it before running ``snnrl energy``)."""
    out = tmp_path_factory.mktemp("energy_cli") / "run"
    assert main(["train", *TINY, "seed=3", f"hydra.run.dir={out}"]) == 0
    return out


@pytest.fixture
def run_dir(trained: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(trained, dst)
    return dst


def test_training_summary_has_energy(trained: Path) -> None:
    summary = json.loads((trained / "summary.json").read_text())
    m = summary["metrics"]
    assert m["energy/loihi/J_per_step"] > 0
    assert m["energy/loihi/J_per_episode"] > m["energy/loihi/J_per_step"]
    assert m["energy/truenorth/J_per_step"] is None
    assert m["energy/truenorth/J_per_episode"] is None
    tn = summary["energy"]["truenorth"]
    assert tn["fits"] is False and "on-chip learning" in tn["reason"]
    assert summary["energy"]["loihi"]["fits"] is True
    assert summary["energy"]["loihi"]["quantised_bits"] == 8
    assert not any(k.startswith("energy/ann_twin") for k in m)

    counts = json.loads((trained / "energy_counts.json").read_text())
    assert {"ops_per_step", "layers", "episode_length", "assumptions"} <= set(counts)
    actor = counts["ops_per_step"]["actor"]
    pre, post, k = 61, 20, 8  # default agent on cart-pole: 4 x 15 fields + bias, 2 x 10 neurons
    assert counts["layers"]["actor"] == {"placement": "chip", "neurons": post, "fan_in": pre,
                                         "plastic": True, "graded": False}
    assert actor["ticks"] == pytest.approx(k)
    assert actor["synops_dense"] == pytest.approx(k * pre * post)
    assert actor["plasticity_tick"] == pytest.approx(k * pre * post)
    assert actor["plasticity_step"] == pytest.approx(pre * post)
    assert actor["neuron_updates_driven"] + actor["neuron_updates_idle"] == pytest.approx(k * post)
    assert 0 < actor["synops_ac"] <= actor["synops_dense"]

    # the summary's figure is the model applied to the recorded counts
    from snnrl.energy.chips import load_chips
    from snnrl.energy.model import Assumptions, estimate
    from snnrl.energy.report import layers_from_json

    chips = load_chips(["loihi", "horowitz45_fp32"])
    e = estimate(chips["loihi"], counts["ops_per_step"], layers_from_json(counts["layers"]),
                 chips["horowitz45_fp32"], Assumptions(**counts["assumptions"]))
    assert e.total_J == pytest.approx(m["energy/loihi/J_per_step"], rel=1e-9)


def test_energy_command_writes_the_report(run_dir: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from snnrl.networks import RSTDPNetwork

    seen: list[tuple[int | None, bool]] = []  # (weight_bits, stochastic) of each quantise call
    original = RSTDPNetwork.quantise

    def spy(self, w, generator):  # noqa: ANN001, ANN202
        seen.append((self.cfg.weight_bits, generator is not None))
        return original(self, w, generator)

    monkeypatch.setattr(RSTDPNetwork, "quantise", spy)
    summary_before = (run_dir / "summary.json").read_bytes()
    counts_before = (run_dir / "energy_counts.json").read_bytes()
    assert main(["energy", str(run_dir), "--chip", "loihi"]) == 0
    out = capsys.readouterr().out
    assert "loihi:" in out and "J/step" in out
    assert "op   synaptic_op" in out and "layer actor" in out, "breakdown by op and by layer"
    assert "chip-constrained (8-bit weights)" in out

    energy = run_dir / "energy" / "chips-loihi"  # a subset never overwrites the full report
    for name in ("report.json", "report.md", "chips.png"):
        assert (energy / name).is_file(), name
    assert (energy / "chips.png").read_bytes()[:8] == PNG
    assert not [p for p in energy.parent.iterdir() if p.name.startswith(".")
                or ".tmp" in p.name], "temporary directories left behind"
    report = json.loads((energy / "report.json").read_text())
    assert set(report["chips"]) == {"loihi"}
    loihi = report["chips"]["loihi"]
    assert loihi["fits"] is True and loihi["quantised_bits"] == 8
    m = json.loads(summary_before)["metrics"]
    assert loihi["total_J"] == pytest.approx(m["energy/loihi/J_per_step"], rel=1e-9)
    cc = report["chip_constrained"]["loihi"]
    assert cc["weight_bits"] == 8
    assert isinstance(cc["eval/return_mean"], float) and math.isfinite(cc["eval/return_mean"])
    assert cc["eval/return_mean"] > 0
    assert cc["J_per_step"] > 0 and cc["J_per_episode"] > 0
    # the constrained evaluation ran with 8-bit weights, stochastic rounding of plastic updates
    assert (8, True) in seen and (8, False) in seen, "initial weights nearest, updates stochastic"
    assert {bits for bits, _ in seen} == {8}
    md = (energy / "report.md").read_text()
    assert "| loihi | yes |" in md

    assert (run_dir / "summary.json").read_bytes() == summary_before, "summary.json rewritten"
    assert (run_dir / "energy_counts.json").read_bytes() == counts_before


def test_energy_command_all_chips_without_eval(run_dir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["energy", str(run_dir), "--no-eval"]) == 0
    out = capsys.readouterr().out
    assert "chip-constrained" not in out
    assert "truenorth: does not fit" in out
    report = json.loads((run_dir / "energy" / "report.json").read_text())
    assert report["chip_constrained"] == {}
    assert report["chips"]["truenorth"]["fits"] is False
    assert report["chips"]["truenorth"]["total_J"] is None
    assert "ann_twin@horowitz45_fp32" in report["chips"]
    assert (run_dir / "energy" / "chips.png").read_bytes()[:8] == PNG
    md = (run_dir / "energy" / "report.md").read_text()
    assert "does not fit" in md and "lower bound" in md


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("snnrl: error:"), lines[0]
    assert "Traceback" not in err
    return lines[0]


def test_missing_run_dir_is_one_line(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["energy", str(tmp_path / "nope")]) == 2
    line = _one_error_line(capsys)
    assert "nope" in line and "energy_counts.json" in line
    assert not (tmp_path / "nope").exists()


def test_unknown_chip_is_one_line(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["energy", str(run_dir), "--chip", "nope"]) == 2
    line = _one_error_line(capsys)
    assert "nope" in line and "loihi" in line
    assert not (run_dir / "energy").exists(), "nothing written on bad input"


@pytest.mark.parametrize("args", [["--tick-duration", "0"], ["--hops-per-spike", "-1"]])
def test_bad_assumption_is_one_line(run_dir: Path, capsys: pytest.CaptureFixture[str],
                                    args: list[str]) -> None:
    assert main(["energy", str(run_dir), "--no-eval", *args]) == 2
    line = _one_error_line(capsys)
    assert args[0] in line
    assert not (run_dir / "energy").exists()


def test_corrupt_counts_file_is_one_line(run_dir: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (run_dir / "energy_counts.json").write_text("{not json")
    assert main(["energy", str(run_dir), "--no-eval"]) == 2
    assert "energy_counts.json" in _one_error_line(capsys)
    (run_dir / "energy_counts.json").write_text(json.dumps({"layers": {}}))
    assert main(["energy", str(run_dir), "--no-eval"]) == 2
    _one_error_line(capsys)


@pytest.mark.parametrize("edit", [
    lambda d: d["assumptions"].update(tick_duration=1.0),
    lambda d: d["assumptions"].update(static_scope="galaxy"),
    lambda d: d.update(episode_length=float("nan")),
    lambda d: d["ops_per_step"]["actor"].update(synops_ac=-1),
    lambda d: d["layers"]["actor"].update(colour="red"),
])
def test_energy_rejects_a_malformed_counts_file(run_dir: Path, edit,  # noqa: ANN001
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = run_dir / "energy_counts.json"
    d = json.loads(path.read_text())
    edit(d)
    path.write_text(json.dumps(d))
    assert main(["energy", str(run_dir), "--no-eval"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnrl: error:")
    assert not (run_dir / "energy").exists()
