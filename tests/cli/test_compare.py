"""``snnrl compare`` on synthetic run directories with hand-computed answers."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from snnrl.cli.compare import pareto_front
from snnrl.cli.main import main

PNG = b"\x89PNG\r\n\x1a\n"
FAST = ["--reps", "50"]


def make_run(root: Path, name: str, agent: str, seed: int, value: float | None, *,
             env_id: str = "snnrl/Toy-v0", status: str = "ok", reason: str | None = None,
             refs: tuple[float, float] | None = None, energy: float | None = None,
             curve: bool = True, extra: dict[str, Any] | None = None) -> Path:
    """A run directory as snnrl train leaves it (only the parts compare reads)."""
    d = root / name
    d.mkdir(parents=True)
    metrics: dict[str, Any] = {"eval/return_mean": value, "train/return_last_10pct": value}
    if energy is not None:
        metrics["energy/loihi/J_per_step"] = energy / 100
        metrics["energy/loihi/J_per_episode"] = energy
        metrics["energy/truenorth/J_per_episode"] = None  # does not fit: no point
    summary = {"status": status, "agent": agent, "env_id": env_id, "seed": seed,
               "metrics": metrics, "config_hash": f"{agent}-{seed}", **(extra or {})}
    if reason:
        summary["reason"] = reason
    (d / "summary.json").write_text(json.dumps(summary))
    env: dict[str, Any] = {"id": env_id, "random_return": None, "oracle_return": None}
    if refs is not None:
        env["random_return"], env["oracle_return"] = refs
    (d / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "env": env}))
    if curve:
        rows = [{"step": 100 * i, "train/episode_return": (value or 0) * i / 4} for i in range(5)]
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Agent a: seeds 0..7 with per-seed means 1..8 (seed 0 = two runs, 0 and 2); a diverged run.

    Agent b: seeds 0..3 scoring 100..103, and an ok run with a null score (seed 4).
    """
    root = tmp_path / "sweep"
    make_run(root, "a-s0-r0", "a", 0, 0.0)
    make_run(root, "a-s0-r1", "a", 0, 2.0)
    for s in range(1, 8):
        make_run(root / "nested", f"a-s{s}", "a", s, float(s + 1))
    make_run(root, "a-s9", "a", 9, None, status="diverged", reason="non-finite weights at step 7")
    for s in range(4):
        make_run(root, f"b-s{s}", "b", s, 100.0 + s)
    make_run(root, "b-s4", "b", 4, None)
    return root


def table(md: str, heading: str) -> list[list[str]]:
    """Rows of the first Markdown table under ``## heading``."""
    part = md.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in part.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in r.strip("|").split("|")] for r in rows[2:]]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("snnrl: error: ")
    return err[0]


def test_compare_known_answers(sweep: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["compare", str(sweep), "--out", str(out), *FAST]) == 0
    stdout = capsys.readouterr().out
    assert "a, snnrl/Toy-v0: IQM 4.500" in stdout and f"report: {out / 'compare.md'}" in stdout

    rows = list(csv.DictReader((out / "compare.csv").open()))
    assert [r["agent"] for r in rows] == ["a", "b"]
    a, b = rows
    # per-seed means 1..8 -> IQM = mean(3, 4, 5, 6) = 4.5 (without averaging seed 0's two runs
    # first, the nine values 0, 2, 2..8 would give 4.0)
    assert float(a["iqm"]) == pytest.approx(4.5)
    assert float(a["mean"]) == pytest.approx(4.5)
    assert (a["n_seeds"], a["n_runs"], a["n_dropped"]) == ("8", "9", "0")
    assert float(a["iqm_low"]) <= 4.5 <= float(a["iqm_high"])
    assert float(b["iqm"]) == pytest.approx(101.5)  # seeds 100..103, the null seed dropped
    assert (b["n_seeds"], b["n_runs"], b["n_dropped"]) == ("4", "5", "1")

    md = (out / "compare.md").read_text()
    agg = table(md, "Aggregates")
    assert agg[0][:6] == ["a", "snnrl/Toy-v0", "8", "9", "0", agg[0][5]]
    assert agg[0][5].startswith("4.500 [")
    imp = table(md, "Probability of improvement")
    assert imp == [["snnrl/Toy-v0", "b", "a", "1.00 [1.00, 1.00]", "4", "8"]]
    excluded = table(md, "Excluded runs")
    assert len(excluded) == 1
    assert excluded[0][0].endswith("a-s9") and excluded[0][4:] == [
        "diverged", "non-finite weights at step 7"]
    missing = table(md, "Runs without a finite eval/return_mean")
    assert len(missing) == 1 and missing[0][0].endswith("b-s4") and missing[0][2] == "null"
    assert "b, snnrl/Toy-v0: seed(s) 4 dropped" in md

    data = json.loads((out / "compare.json").read_text())
    ga = data["groups"][0]
    assert ga["seeds"] == list(range(8)) and ga["scores"] == [[float(s)] for s in range(1, 9)]
    assert data["excluded"] == [{"run": str(sweep / "a-s9"), "status": "diverged",
                                 "reason": "non-finite weights at step 7"}]
    assert data["probability_of_improvement"][0]["probability"] == 1.0
    for name in ("learning_curves.png", "performance_profile.png"):
        assert (out / name).read_bytes().startswith(PNG)
    assert not (out / "energy_pareto.png").exists()  # no energy figures in these summaries
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["compare.md", "compare.csv", "compare.json", "learning_curves.png",
         "performance_profile.png"]), "temporary files left"


def test_compare_is_reproducible_and_takes_run_and_sweep_dirs(sweep: Path, tmp_path: Path) -> None:
    # a run dir given on its own and again inside its sweep counts once
    args = ["compare", str(sweep / "b-s0"), str(sweep), *FAST]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert main([*args, "--out", str(tmp_path / "two")]) == 0
    first = (tmp_path / "one" / "compare.csv").read_text()
    assert first == (tmp_path / "two" / "compare.csv").read_text()
    assert list(csv.DictReader(first.splitlines()))[1]["n_runs"] == "5"
    changed = [*args, "--random-state", "5", "--out", str(tmp_path / "three")]
    assert main(changed) == 0
    assert (tmp_path / "three" / "compare.csv").read_text() != first  # CI moves, points do not


def test_normalised_scores_and_other_groupings(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for s in range(8):  # maze-like env: random 0, oracle 10 -> scores 0.1 .. 0.8
        make_run(root, f"m{s}", "a", s, float(s + 1), env_id="Maze-v0", refs=(0.0, 10.0),
                 extra={"plasticity": s % 2 == 0})
    for s in range(3):  # no oracle: stays raw and the report says so
        make_run(root, f"c{s}", "a", s, 50.0 + s, env_id="Cart-v0", extra={"plasticity": True})
    out = tmp_path / "out"
    assert main(["compare", str(root), "--normalise", "--out", str(out), *FAST]) == 0
    rows = {r["envs"]: r for r in csv.DictReader((out / "compare.csv").open())}
    assert float(rows["Maze-v0"]["iqm"]) == pytest.approx(0.45)
    assert rows["Maze-v0"]["normalised"] == "True"
    assert float(rows["Cart-v0"]["iqm"]) == pytest.approx(51.0)
    assert rows["Cart-v0"]["normalised"] == "False"
    md = (out / "compare.md").read_text()
    assert "Left raw (no references): Cart-v0" in md and "Cart-v0: not normalised" in md

    # a key of summary.json splits groups: even seeds 1, 3, 5, 7 -> IQM 0.4; odd -> 0.5
    assert main(["compare", str(root), "--normalise", "--by", "env_id,plasticity",
                 "--out", str(out), *FAST]) == 0
    maze = {r["plasticity"]: r for r in csv.DictReader((out / "compare.csv").open())
            if r["env_id"] == "Maze-v0"}
    assert float(maze["True"]["iqm"]) == pytest.approx(0.4)
    assert float(maze["False"]["iqm"]) == pytest.approx(0.5)

    # grouped by agent alone, a group spans two envs: seeds 0..2 ran on both, 3..7 only on one
    assert main(["compare", str(root), "--by", "agent", "--out", str(out), *FAST]) == 0
    (row,) = csv.DictReader((out / "compare.csv").open())
    assert row["envs"] == "Cart-v0;Maze-v0"
    assert (row["n_seeds"], row["n_dropped"]) == ("3", "5")
    md = (out / "compare.md").read_text()
    assert "pools raw eval/return_mean over 2 envs" in md


def test_energy_pareto_and_stale_files(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for s in range(3):
        make_run(root, f"a{s}", "a", s, 10.0 + s, energy=1e-3)
        make_run(root, f"b{s}", "b", s, 20.0 + s, energy=5e-3)
    out = tmp_path / "out"
    assert main(["compare", str(root), "--out", str(out), *FAST]) == 0
    assert (out / "energy_pareto.png").read_bytes().startswith(PNG)
    md = (out / "compare.md").read_text()
    assert table(md, "Energy") == [["a, snnrl/Toy-v0", "0.001", "—"],
                                   ["b, snnrl/Toy-v0", "0.005", "—"]]
    # a later report without energy figures removes the old chart, and only compare's files
    (out / "notes.txt").write_text("mine")
    for p in root.glob("*/summary.json"):
        s = json.loads(p.read_text())
        s["metrics"] = {k: v for k, v in s["metrics"].items() if not k.startswith("energy/")}
        p.write_text(json.dumps(s))
    assert main(["compare", str(root), "--out", str(out), *FAST]) == 0
    assert not (out / "energy_pareto.png").exists()
    assert (out / "notes.txt").read_text() == "mine"


def test_pareto_front() -> None:
    assert pareto_front([(1.0, 1.0), (2.0, 3.0), (2.0, 0.5), (3.0, 3.0)]) == [0, 1]
    assert pareto_front([(1.0, 1.0), (1.0, 1.0)]) == [0, 1]  # equal points beat neither


def test_one_seed_groups_and_all_excluded(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    make_run(root, "a0", "a", 0, 3.0)
    make_run(root, "b0", "b", 0, None, status="failed", reason="RuntimeError: boom")
    out = tmp_path / "out"
    assert main(["compare", str(root), "--out", str(out), *FAST]) == 0
    md = (out / "compare.md").read_text()
    assert table(md, "Aggregates")[0][5] == "3.000 [—]"
    assert "a, snnrl/Toy-v0: one seed; no confidence interval" in md
    assert table(md, "Excluded runs")[0][4:] == ["failed", "RuntimeError: boom"]


@pytest.mark.parametrize("case, expected", [
    ("empty", "none found"),
    ("missing", "an existing run or sweep directory"),
    ("metric", "--metric='eval/no_such_metric'"),
    ("by", "--by='seedling': expected keys of every summary.json"),
    ("json", "summary.json"),
    ("option", "unrecognized arguments: --bogus"),
    ("normalise", "--normalise='perf/sps'"),
])
def test_bad_input_is_one_line_and_writes_nothing(
        case: str, expected: str, sweep: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = {"empty": [str(tmp_path / "empty")],
            "missing": [str(tmp_path / "nope")],
            "metric": [str(sweep), "--metric", "eval/no_such_metric"],
            "by": [str(sweep), "--by", "agent,seedling"],
            "json": [str(sweep)],
            "option": [str(sweep), "--bogus"],
            "normalise": [str(sweep), "--normalise", "--metric", "perf/sps"]}[case]
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    if case == "json":
        (sweep / "b-s1" / "summary.json").write_text("{not json")
    assert main(["compare", *args, "--out", str(out)]) == 2
    line = one_error_line(capsys)
    assert expected in line
    assert not out.exists()


def test_stability_curves_from_long_horizon_windows(tmp_path: Path) -> None:
    from snnrl.cli.compare import _stability_curve, compare

    root = tmp_path / "runs"
    for s in range(3):
        for agent, drop in (("a", 0.1), ("b", 0.5)):
            d = make_run(root, f"{agent}{s}", agent, s, 1.0)
            lh = d / "eval" / "long_horizon"
            lh.mkdir(parents=True)
            rows = ["window,end_step,score_mean"] + [
                f"{w + 1},{(w + 1) * 100},{1.0 - drop * w}" for w in range(4)]
            (lh / "windows.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    assert main(["compare", str(root), "--out", str(out), *FAST]) == 0
    assert (out / "stability_curves.png").read_bytes().startswith(PNG)
    c = compare([root], "eval/return_mean", ("agent", "env_id"), False, 200, 0)
    run = next(r for g in c.groups if g.label.startswith("b") for r in g.runs)
    xs, ys = _stability_curve(run)  # type: ignore[misc]
    assert xs.tolist() == [100.0, 200.0, 300.0, 400.0]
    assert ys.tolist() == pytest.approx([1.0, 0.5, 0.0, -0.5])
    # runs without a long-horizon evaluation: no chart
    out2 = tmp_path / "out2"
    plain = tmp_path / "plain"
    make_run(plain, "x0", "x", 0, 1.0)
    assert main(["compare", str(plain), "--out", str(out2), *FAST]) == 0
    assert not (out2 / "stability_curves.png").exists()
