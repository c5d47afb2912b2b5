"""``snnrl train ... learner=es`` and ``snnrl eval`` end to end, in-process."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from snnrl.cli.main import main

# 3 generations of 4 candidates x 1 lifetime x 50 steps
ES = [
    "agent=abcd_ann",
    "learner=es",
    "learner.popsize=4",
    "train.num_envs=1",
    "lifetime_steps=50",
    f"train.env_steps={4 * 1 * 50 * 3}",
    "eval.lifetimes=2",
    "progress=false",
]
# 4 generations, a checkpoint every 2, no evaluation: what the resume tests need (sigma and
# seed chosen so that the candidates' fitnesses differ: the update depends on every stream)
RESUME = [
    "agent=abcd_ann",
    "agent.hidden=[8]",
    "learner=es",
    "learner.popsize=4",
    "learner.sigma=0.3",
    "learner.checkpoint_every=2",
    "train.num_envs=1",
    "lifetime_steps=50",
    f"train.env_steps={4 * 1 * 50 * 4}",
    "eval.enabled=false",
    "progress=false",
    "seed=1",
]



def train(out: Path, *overrides: str) -> int:
    return main(["train", *overrides, f"hydra.run.dir={out}"])


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("snnrl: error:") and "Traceback" not in err
    return lines[0]


def records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------- train, then eval


def test_es_run_directory_and_long_horizon_eval(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert train(run, *ES, "eval.horizons=[1,3]", "seed=1") == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["learner"] == "es"
    assert summary["agent"] == "abcd_ann" and summary["env_steps"] == 600
    assert summary["metrics"]["train/generations"] == 3
    for k in (1, 3):
        assert f"stability/h{k}/score_first" in summary["metrics"]
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["agent"] == "abcd_ann" and ckpt["theta"].ndim == 1
    assert ckpt["theta"].numel() == sum(
        torch.Size(shape).numel() for shape in ckpt["layout"].values()
    )
    assert torch.isfinite(ckpt["theta"]).all()
    state = torch.load(run / "learner_state.pt", weights_only=True)
    assert state["generation"] == 3 and state["config_hash"] == summary["config_hash"]
    train_steps = [r["step"] for r in records(run) if "train/fitness_mean" in r]
    assert train_steps == [200, 400, 600]
    curves = json.loads((run / "eval_curves.json").read_text())
    assert curves["lifetimes"] == 2 and curves["lifetime_steps"] == 50
    assert len(curves["plastic"]) == len(curves["control"]) == curves["bins"]
    assert is_png(run / "within_lifetime.png") and is_png(run / "learning_curve.png")
    lh = run / "eval" / "long_horizon"
    results = json.loads((lh / "results.json").read_text())
    assert set(results["per_horizon"]) == {"1", "3"}
    assert results["horizons"] == [1, 3] and results["lifetimes"] == 2
    assert results["score"] == "failures" and results["plasticity"] is True
    rows = csv_rows(lh / "windows.csv")
    assert [int(r["end_step"]) for r in rows] == [50, 100, 150]
    assert is_png(lh / "stability.png")

    # snnrl eval writes beside the run and leaves the training record alone
    before = (run / "summary.json").read_bytes()
    code = main(["eval", str(run), "--horizons", "1,2", "--lifetimes", "2", "--control"])
    assert code == 0
    assert (run / "summary.json").read_bytes() == before
    on = json.loads((lh / "results.json").read_text())
    off = json.loads((run / "eval" / "long_horizon_control" / "results.json").read_text())
    assert set(on["per_horizon"]) == set(off["per_horizon"]) == {"1", "2"}
    assert on["plasticity"] is True and off["plasticity"] is False
    assert len(csv_rows(lh / "windows.csv")) == 2
    assert is_png(run / "eval" / "long_horizon_control" / "stability.png")


def test_eval_refuses_bad_input_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", str(tmp_path)]) == 2
    assert "config.yaml" in one_error_line(capsys)

    run = tmp_path / "run"
    assert train(run, *RESUME, "train.env_steps=200") == 0
    capsys.readouterr()
    for bad in ("0", "1,-2", "x", ""):
        assert main(["eval", str(run), "--horizons", bad]) == 2
        assert "--horizons" in one_error_line(capsys)
    assert main(["eval", str(run), "--lifetimes", "0"]) == 2
    assert "--lifetimes" in one_error_line(capsys)

    ckpt = run / "checkpoint.pt"
    good = torch.load(ckpt, weights_only=True)
    torch.save(good | {"theta": torch.zeros(good["theta"].numel() + 1)}, ckpt)
    assert main(["eval", str(run), "--horizons", "1"]) == 2
    line = one_error_line(capsys)
    assert "theta" in line and str(good["theta"].numel()) in line
    ckpt.write_bytes(b"not a checkpoint")
    assert main(["eval", str(run), "--horizons", "1"]) == 2
    assert "checkpoint.pt" in one_error_line(capsys)
    ckpt.unlink()
    assert main(["eval", str(run), "--horizons", "1"]) == 2
    assert "checkpoint.pt" in one_error_line(capsys)
    assert not (run / "eval").exists(), "nothing written by refused evaluations"


# --------------------------------------------------------------------------------- resume


def test_crashed_run_resumes_to_the_uninterrupted_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from snnrl.learners.es import ESLearner

    full = tmp_path / "full"
    assert train(full, *RESUME) == 0

    step = ESLearner.step
    calls = {"n": 0}

    def crash_in_generation_4(self: ESLearner) -> Any:
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("simulated crash")
        return step(self)

    run = tmp_path / "run"
    monkeypatch.setattr(ESLearner, "step", crash_in_generation_4)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(run, *RESUME)
    monkeypatch.undo()
    crashed = json.loads((run / "summary.json").read_text())
    assert crashed["status"] == "failed" and "simulated crash" in crashed["reason"]
    assert torch.load(run / "learner_state.pt", weights_only=True)["generation"] == 2
    # generation 3 was logged after the last checkpoint: the resumed run must drop it
    assert [r["step"] for r in records(run)] == [200, 400, 600]

    assert train(run, *RESUME) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["env_steps"] == 800
    theta = torch.load(run / "checkpoint.pt", weights_only=True)["theta"]
    assert torch.equal(theta, torch.load(full / "checkpoint.pt", weights_only=True)["theta"])
    steps = [r["step"] for r in records(run)]
    assert steps == [200, 400, 600, 800], "no duplicated steps"

    def strip(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:  # wall-clock timings
        return [
            {k: v for k, v in r.items() if not (k.startswith("perf/") or k.endswith("_s"))}
            for r in recs
        ]

    resumed = strip(records(run))
    assert resumed == strip(records(full))
    assert len({r["train/fitness_max"] for r in resumed}) > 1, "fitness varies: a real test"


def test_resume_with_another_config_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert train(run, *RESUME, "train.env_steps=400") == 0
    capsys.readouterr()
    assert train(run, *RESUME, "train.env_steps=400", "seed=2") == 2
    line = one_error_line(capsys)
    assert "learner_state.pt" in line and "hydra.run.dir" in line


def test_refused_resume_leaves_the_run_directory_alone(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert train(run, *RESUME, "train.env_steps=400") == 0
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert train(run, *RESUME, "train.env_steps=400", "seed=2") == 2
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    changed = sorted(k for k in before if before[k] != after.get(k))
    assert changed == []


# ----------------------------------------------------------------------------- validation


BAD = [
    (["agent=abcd_ann", "learner=none"], "learner"),
    (["agent=rstdp", "learner=es"], "learner"),
    (["agent=rstdp", "learner=bptt"], "learner"),
    ([*ES, "train.env_steps=700"], "train.env_steps"),
    ([*ES, "learner.popsize=3"], "learner.popsize"),
    ([*ES, "learner.sigma=0"], "learner.sigma"),
    ([*ES, "eval.horizons=[0]"], "eval.horizons"),
]


@pytest.mark.parametrize(("overrides", "key"), BAD, ids=[" ".join(o[:2]) + f" {k}" for o, k in BAD])
def test_bad_meta_config_fails_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], overrides: list[str], key: str
) -> None:
    out = tmp_path / "run"
    assert train(out, *overrides) == 2
    assert key in one_error_line(capsys)
    assert not out.exists() or not any(out.iterdir()), "nothing half-written"
