"""``snnrl board energy``: energy for entries whose runs recorded none, counted from checkpoints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from snnrl.cli.main import main
from snnrl.config import ConfigError
from snnrl.leaderboard import check, submit, verify
from snnrl.leaderboard.energy import count_energy, reprice_energy
from snnrl.leaderboard.store import read_ledger, sha256_file

TINY = ["agent=lstm", "env=cartpole", "env.max_episode_steps=60", "train.env_steps=64",
        "train.num_envs=2", "eval.episodes=2", "progress=false", "torch_threads=1"]
SEEDS = (1, 2, 3, 4, 5)
_CACHE: dict[str, Path] = {}


def _trained(factory: pytest.TempPathFactory) -> Path:
    """Tiny lstm runs of seeds 1-5, trained once per session.

    Each ``s<k>`` has its energy stripped from ``summary.json`` (and ``energy_counts.json``
    moved to ``counts_at_training.json``), as in a run trained before deep agents counted.
    """
    if "runs" not in _CACHE:
        base = factory.mktemp("energy_runs")
        for s in SEEDS:
            run = base / f"s{s}"
            assert main(["train", *TINY, f"seed={s}", f"hydra.run.dir={run}"]) == 0
            summary = json.loads((run / "summary.json").read_text())
            assert summary["energy"], "deep agents count their evaluation now"
            summary["energy"] = {}
            summary["metrics"] = {k: v for k, v in summary["metrics"].items()
                                  if not k.startswith("energy/")}
            (run / "summary.json").write_text(json.dumps(summary))
            (run / "energy_counts.json").rename(run / "counts_at_training.json")
        _CACHE["runs"] = base
    return _CACHE["runs"]


@pytest.fixture
def entry(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path / "runs"
    shutil.copytree(_trained(tmp_path_factory), runs)
    path = submit([runs / f"s{s}" for s in SEEDS], tmp_path / "board", reps=1000)
    assert "energy" not in yaml.safe_load(path.read_text())["aggregates"]
    return path


def _root(entry: Path) -> Path:
    return entry.parents[2]


def _unchanged(entry: Path) -> Any:
    """What must stay as it was when counting is refused: entry bytes, ledger, stored files."""
    root = _root(entry)
    return (entry.read_bytes(), (root / "ledger.jsonl").read_bytes(),
            sorted(p.name for p in (root / "checkpoints").rglob("*")))


def test_counts_from_checkpoints_equal_the_counts_training_made(
        entry: Path, tmp_path: Path) -> None:
    assert main(["board", "energy", str(entry)]) == 0
    assert check(entry) == []
    data = yaml.safe_load(entry.read_text())
    root = _root(entry)
    for run in data["runs"]:
        stored = json.loads((root / run["files"]["energy"]["path"]).read_text())
        trained = json.loads((tmp_path / "runs" / f"s{run['seed']}" /
                              "counts_at_training.json").read_text())
        # the checkpoint's counted evaluation is the one training counted, count for count
        assert stored["ops_per_step"] == trained["ops_per_step"]
        assert stored["layers"] == trained["layers"]
        assert stored["seed"] == run["seed"] and stored["config_hash"] == run["config_hash"]
        assert run["energy"]["loihi"] == {"J_per_step": None, "fits": False,
                                          "lower_bound": False, "rankable": False}
        assert run["energy"]["horowitz45_fp32"]["J_per_step"] > 0
    agg = data["aggregates"]["energy"]["horowitz45_fp32"]
    assert agg["n_seeds"] == 5 and agg["J_per_step_mean"] == pytest.approx(
        sum(r["energy"]["horowitz45_fp32"]["J_per_step"] for r in data["runs"]) / 5)
    hist = data["verification"]["history"]
    assert [h["event"] for h in hist] == ["submitted", "energy-counted"]
    assert data["verification"]["level"] == "checked", "counting raises no level"
    assert [r["event"] for r in read_ledger(root)] == ["submitted", "energy-counted"]
    assert "does not fit" in (root / "README.md").read_text()

    res = verify(entry, record=False)
    assert res.ok, res.mismatches
    assert {k for _, k, _, _ in res.compared} >= {"op counts", "eval/return_mean"}


def test_verify_fails_when_the_recount_differs(entry: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import snnrl.leaderboard.energy as en

    assert count_energy(entry).level == "checked"
    real = en.counted_seed

    def one_more_op(root: Path, run: dict[str, Any], device: Any) -> Any:
        ce, c = real(root, run, device)
        if run["seed"] == 2:
            ce.ops["torso"]["synops_mac"] += 1.0
        return ce, c

    monkeypatch.setattr(en, "counted_seed", one_more_op)
    res = verify(entry)
    assert not res.ok and res.level == "checked"
    assert len(res.mismatches) == 1 and "seed 2 op counts: torso.synops_mac" in res.mismatches[0]
    assert check(entry) == []


def test_edited_energy_is_caught_by_check(entry: Path) -> None:
    count_energy(entry)
    root = _root(entry)
    data = yaml.safe_load(entry.read_text())
    energy_file = root / data["runs"][0]["files"]["energy"]["path"]
    original = energy_file.read_text()
    energy_file.write_text(original.replace('"agent": "lstm"', '"agent": "lstm" '))
    assert any("seed1.energy.json: sha256/size differ" in p for p in check(entry))
    energy_file.write_text(original)
    assert check(entry) == []
    text = entry.read_text()
    j = data["runs"][0]["energy"]["horowitz45_fp32"]["J_per_step"]
    entry.write_text(text.replace(repr(j), repr(j * 2), 1))
    assert any("runs[seed 1].energy.horowitz45_fp32.J_per_step" in p for p in check(entry))
    entry.write_text(text)


def _forge(entry: Path, change: Any) -> list[str]:
    """Edit seed 1's energy file, then make every hash, aggregate and ledger line agree with it
    (what a careful forger would do) and return what check finds."""
    from snnrl.leaderboard.schema import compute_aggregates, seed_energy
    from snnrl.leaderboard.store import dump_yaml

    root = _root(entry)
    data = yaml.safe_load(entry.read_text())
    run = data["runs"][0]
    path = root / run["files"]["energy"]["path"]
    stored = json.loads(path.read_text())
    change(stored)
    path.write_text(json.dumps(stored))
    run["files"]["energy"] |= {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    run["energy"] = seed_energy(stored)
    p = data["aggregates"]["primary"]
    data["aggregates"]["energy"] = compute_aggregates(data["runs"], data["primary_metric"],
                                                      p["reps"], p["random_state"])["energy"]
    entry.write_text(dump_yaml(data))
    lines = (root / "ledger.jsonl").read_text().splitlines()
    last = json.loads(lines[-1]) | {"sha256": sha256_file(entry)}
    (root / "ledger.jsonl").write_text("\n".join([*lines[:-1], json.dumps(last)]) + "\n")
    return check(entry)


def test_figures_must_follow_from_the_stored_counts(entry: Path) -> None:
    """A forged figure with every hash redone is caught: check re-prices the stored counts."""
    count_energy(entry)
    assert _forge(entry, lambda d: None) == []  # the forging itself leaves a genuine entry

    def cheaper(d: dict[str, Any]) -> None:
        d["metrics"]["energy/horowitz45_fp32/J_per_step"] /= 10

    assert any("re-pricing the stored counts" in p for p in _forge(entry, cheaper))


def test_forged_layers_fail_check_or_verify(entry: Path) -> None:
    """Declaring the ANN's layers spiking makes it 'fit' Loihi: the repricing then agrees with the
    forged figures, so check passes; verify's recount of the layers catches it."""
    from snnrl.cli.train import price_counts
    from snnrl.energy.model import Assumptions
    from snnrl.energy.report import layers_from_json

    count_energy(entry)

    def spiking(d: dict[str, Any]) -> None:
        for info in d["layers"].values():
            info["graded"] = False
        d["metrics"], d["energy"] = price_counts(
            d["ops_per_step"], layers_from_json(d["layers"]), d["episode_length"],
            Assumptions(**d["assumptions"]))
        d["metrics"] = json.loads(json.dumps(d["metrics"]))

    assert _forge(entry, spiking) == []
    assert yaml.safe_load(entry.read_text())["runs"][0]["energy"]["loihi"]["fits"]
    res = verify(entry, record=False)
    assert not res.ok and any("seed 1 op counts: layers stored" in m for m in res.mismatches)


def test_refusals_write_nothing(entry: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    import snnrl.leaderboard.energy as en
    import snnrl.leaderboard.verification as v

    before = _unchanged(entry)
    real = en.counted_seed

    def other_figures(root: Path, run: dict[str, Any], device: Any) -> Any:
        ce, c = real(root, run, device)
        if run["seed"] == 4:
            ce.metrics["eval/return_mean"] += 1.0
        return ce, c

    with monkeypatch.context() as m:  # the counted evaluation must give the scored figures
        m.setattr(en, "counted_seed", other_figures)
        with pytest.raises(ConfigError, match="seed 4 eval/return_mean"):
            count_energy(entry)
    assert _unchanged(entry) == before

    def boom(*args: Any, **kwargs: Any) -> str:
        raise OSError("disk full")

    with monkeypatch.context() as m:  # a failure while recording undoes every write
        m.setattr(v, "add_history", boom)
        with pytest.raises(OSError):
            count_energy(entry)
    assert _unchanged(entry) == before and check(entry) == []

    count_energy(entry)
    after = _unchanged(entry)
    assert main(["board", "energy", str(entry)]) == 2  # once only
    assert "records energy already" in capsys.readouterr().err
    assert _unchanged(entry) == after


def _rstdp_entry(tmp_path: Path, *extra: str) -> Path:
    runs = []
    for s in SEEDS:
        run = tmp_path / f"r{s}"
        assert main(["train", "lifetime_steps=100", "train.env_steps=200", "train.num_envs=2",
                     "train.log_every=50", "eval.lifetimes=2", "progress=false",
                     "torch_threads=1", *extra, f"seed={s}", f"hydra.run.dir={run}"]) == 0
        summary = json.loads((run / "summary.json").read_text())
        summary["energy"] = {}
        summary["metrics"] = {k: v for k, v in summary["metrics"].items()
                              if not k.startswith("energy/")}
        (run / "summary.json").write_text(json.dumps(summary))
        runs.append(run)
    return submit(runs, tmp_path / "board", reps=1000)


def test_online_learners_are_counted_over_their_evaluation_lifetimes(tmp_path: Path) -> None:
    """R-STDP's runs count training lifetimes; from an entry, its evaluation lifetimes."""
    path = _rstdp_entry(tmp_path)
    count_energy(path)
    assert check(path) == []
    run = yaml.safe_load(path.read_text())["runs"][0]
    stored = json.loads((_root(path) / run["files"]["energy"]["path"]).read_text())
    assert stored["source"].startswith("evaluation lifetimes, fresh, plasticity on, learning")
    assert stored["layers"]["actor"]["plastic"] and run["energy"]["loihi"]["fits"]
    assert verify(path, record=False).ok


def test_an_agent_that_counts_nothing_is_refused(tmp_path: Path) -> None:
    path = _rstdp_entry(tmp_path, "agent.count_ops=false")
    before = _unchanged(path)
    with pytest.raises(ConfigError, match="counted nothing"):
        count_energy(path)
    assert _unchanged(path) == before
    assert sha256_file(path) == read_ledger(_root(path))[-1]["sha256"]


def test_reprice_after_a_chip_data_change(entry: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A corrected price makes check fail for counted entries; --reprice mends it, runs nothing."""
    from dataclasses import replace

    import snnrl.energy.report as report
    import snnrl.leaderboard.energy as en

    count_energy(entry)
    with pytest.raises(ConfigError, match="priced with today's chips"):
        reprice_energy(entry)  # nothing to do yet
    real = report.load_chips

    def dearer_fp32(names: Any = None) -> Any:  # a corrected MAC price, as a new chip file
        chips = real(names)
        if "horowitz45_fp32" in chips:
            c = chips["horowitz45_fp32"]
            mac = replace(c.prices["mac"], value=c.prices["mac"].value * 2)
            chips["horowitz45_fp32"] = replace(c, prices={**c.prices, "mac": mac})
        return chips

    monkeypatch.setattr(report, "load_chips", dearer_fp32)
    problems = check(entry)
    assert problems and all("snnrl board energy --reprice" in p for p in problems)
    before = yaml.safe_load(entry.read_text())["runs"][0]["energy"]["horowitz45_fp32"]
    monkeypatch.setattr(en, "counted_seed", lambda *a: pytest.fail("reprice re-ran something"))
    assert main(["board", "energy", str(entry), "--reprice"]) == 0
    assert "energy re-priced" in capsys.readouterr().out
    assert check(entry) == []
    data = yaml.safe_load(entry.read_text())
    assert data["runs"][0]["energy"]["horowitz45_fp32"]["J_per_step"] > before["J_per_step"]
    assert [h["event"] for h in data["verification"]["history"]] == [
        "submitted", "energy-counted", "energy-repriced"]


def test_reprice_needs_stored_counts(entry: Path) -> None:
    with pytest.raises(ConfigError, match="no stored counts"):
        reprice_energy(entry)
