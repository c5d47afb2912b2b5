"""Leaderboards: submit, check, verify and render on tiny real runs, and what they refuse."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from snnrl.cli.main import main
from snnrl.config import ConfigError
from snnrl.leaderboard import check, check_all, render, submit, verify
from snnrl.leaderboard.store import dump_yaml, read_ledger, sha256_file
from snnrl.tracking import config_hash

TINY = ["lifetime_steps=200", "train.env_steps=800", "train.num_envs=4", "train.log_every=100",
        "eval.lifetimes=3", "progress=false", "torch_threads=1"]
SEEDS = (1, 2, 3, 4, 5)
REPS = 1000
_CACHE: dict[str, Path] = {}


def _trained(factory: pytest.TempPathFactory) -> Path:
    """Tiny runs of seeds 1-5, trained once per session, and ``other``: seed 5's run with
    another ``agent.lr`` in its config (and the summary's config hash to match)."""
    if "runs" not in _CACHE:
        base = factory.mktemp("trained")
        for s in SEEDS:
            assert main(["train", *TINY, f"seed={s}", f"hydra.run.dir={base / f's{s}'}"]) == 0
        other = base / "other"
        shutil.copytree(base / "s5", other)
        cfg = (other / "config.yaml").read_text().replace("lr: 0.001", "lr: 0.002", 1)
        (other / "config.yaml").write_text(cfg)
        summary = json.loads((other / "summary.json").read_text())
        summary |= {"seed": 6, "config_hash": config_hash(yaml.safe_load(cfg.replace(
            "seed: 5", "seed: 6")))}
        (other / "config.yaml").write_text(cfg.replace("seed: 5", "seed: 6"))
        (other / "summary.json").write_text(json.dumps(summary))
        _CACHE["runs"] = base
    return _CACHE["runs"]


@pytest.fixture
def runs(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh copy of the trained runs for this test."""
    dst = tmp_path / "runs"
    shutil.copytree(_trained(tmp_path_factory), dst)
    return dst


def five(runs: Path) -> list[Path]:
    return [runs / f"s{s}" for s in SEEDS]


@pytest.fixture
def entry(runs: Path, tmp_path: Path) -> Path:
    return submit(five(runs), tmp_path / "board", reps=REPS)


def edit(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(dump_yaml(data))


def root_of_entry(entry: Path) -> Path:
    return entry.parents[2]


def test_genuine_entry_passes_check_and_verify(entry: Path, runs: Path) -> None:
    root = root_of_entry(entry)
    assert entry.relative_to(root).parts[:2] == ("entries", "snnrl-CartPole-v1")
    assert entry.name.startswith("rstdp__800__")  # no tier for 800 steps: custom
    assert check(entry) == []
    data = yaml.safe_load(entry.read_text())
    assert data["seeds"] == list(SEEDS) and data["budget"] == {"env_steps": 800, "tier": "custom"}
    assert data["verification"]["level"] == "checked"
    run1 = data["runs"][0]
    stored = root / run1["files"]["checkpoint"]["path"]
    assert stored.read_bytes() == (runs / "s1" / "checkpoint.pt").read_bytes()
    assert run1["files"]["metrics_jsonl"]["sha256"] == sha256_file(runs / "s1" / "metrics.jsonl")
    summary = json.loads((runs / "s1" / "summary.json").read_text())
    assert run1["scores"]["eval/return_mean"] == summary["metrics"]["eval/return_mean"]
    assert run1["energy"]["loihi"]["lower_bound"] is True

    res = verify(entry, record=False)
    assert res.ok and res.level == "checked", res.mismatches
    assert {k for _, k, _, _ in res.compared} >= {"eval/return_mean", "eval/return_std"}
    assert all(s == g for _, _, s, g in res.compared), "same code, same seed: bit-identical"
    assert check(entry) == [], "record=False writes nothing"
    assert main(["board", "verify", str(entry)]) == 0  # re-evaluates again and records it
    assert "| re-evaluated |" in (root / "README.md").read_text()
    assert check(entry) == []
    hist = yaml.safe_load(entry.read_text())["verification"]["history"]
    assert [h["event"] for h in hist] == ["submitted", "re-evaluated"]
    ledger = read_ledger(root)
    assert [r["event"] for r in ledger] == ["submitted", "re-evaluated"]
    assert ledger[-1]["sha256"] == sha256_file(entry)
    problems, _ = check_all(root)
    assert problems == []


def test_verify_records_a_mismatch_and_keeps_the_level(entry: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import snnrl.leaderboard.verification as v

    real = v._reevaluate

    def off_by_a_bit(root: Path, run: dict[str, Any], device: Any) -> dict[str, Any]:
        m = real(root, run, device)
        if run["seed"] == 3:
            m["eval/return_mean"] += 1e-6
        return m

    monkeypatch.setattr(v, "_reevaluate", off_by_a_bit)
    res = verify(entry)
    assert not res.ok and res.level == "checked"
    assert len(res.mismatches) == 1 and res.mismatches[0].startswith("seed 3 eval/return_mean")
    data = yaml.safe_load(entry.read_text())
    assert data["verification"]["level"] == "checked"
    assert data["verification"]["history"][-1]["event"] == "re-evaluation-failed"
    assert "seed 3 eval/return_mean" in data["verification"]["history"][-1]["details"]
    assert check(entry) == [], "a recorded failure is a consistent entry"


def test_reproduce_retrains_seeds_and_raises_the_level(entry: Path, tmp_path: Path) -> None:
    from snnrl.leaderboard.verification import reproduce

    res = reproduce(entry, [2, 4], workdir=tmp_path / "again")
    assert res.ok and res.level == "reproduced", res.details
    assert [(s, r == g) for s, r, g in res.scores] == [(2, True), (4, True)], "deterministic"
    assert (tmp_path / "again" / "seed2" / "summary.json").is_file()
    data = yaml.safe_load(entry.read_text())
    assert data["verification"]["history"][-1]["event"] == "reproduced"
    assert "2 of 2 seeds identical" in data["verification"]["history"][-1]["details"]
    assert check(entry) == []
    assert [r["event"] for r in read_ledger(root_of_entry(entry))][-1] == "reproduced"
    with pytest.raises(ConfigError, match="--seeds"):
        reproduce(entry, [9])


def test_reproduce_outside_the_ci_is_recorded_and_keeps_the_level(
        entry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import snnrl.cli.train as train
    from snnrl.leaderboard.verification import reproduce

    real = train.train_job

    def worse(cfg: Any, run_dir: Path) -> dict[str, Any]:
        summary = real(cfg, run_dir)
        summary["metrics"]["eval/return_mean"] = -1e9
        return summary

    monkeypatch.setattr(train, "train_job", worse)
    res = reproduce(entry, [1])
    assert not res.ok and res.level == "checked" and "OUTSIDE" in res.details
    data = yaml.safe_load(entry.read_text())
    assert data["verification"]["history"][-1]["event"] == "reproduction-failed"
    assert check(entry) == []


def test_check_rejects_an_edited_score(entry: Path) -> None:
    edit(entry, lambda d: d["runs"][0]["scores"].__setitem__("eval/return_mean", 500.0))
    problems = check(entry)
    assert any("runs[seed 1].scores.eval/return_mean: recorded 500.0" in p for p in problems)
    assert any("aggregates" in p for p in problems)
    assert any("edited by hand" in p for p in problems)


def test_check_rejects_an_edited_aggregate(entry: Path) -> None:
    edit(entry, lambda d: d["aggregates"]["primary"].__setitem__("ci_high", 499.0))
    assert any("aggregates.primary.ci_high" in p for p in check(entry))


def test_check_rejects_an_edited_seed_list(entry: Path) -> None:
    edit(entry, lambda d: d.__setitem__("seeds", [1, 2, 3, 4, 6]))
    assert any("are not the runs' seeds" in p for p in check(entry))


def test_check_rejects_a_dropped_seed(entry: Path) -> None:
    def drop(d: dict[str, Any]) -> None:
        d["seeds"].pop()
        d["runs"].pop()

    problems = check_after(entry, drop)
    assert any("expected at least 5" in p for p in problems)
    assert any("files no run records: seed5" in p for p in problems)


def check_after(entry: Path, change: Any) -> list[str]:
    edit(entry, change)
    return check(entry)


def test_check_and_verify_reject_a_flipped_checkpoint_byte(entry: Path) -> None:
    ckpt = next(root_of_entry(entry).glob("checkpoints/*/*/seed3.pt"))
    raw = bytearray(ckpt.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    ckpt.write_bytes(bytes(raw))
    assert any("seed3.pt: sha256/size differ" in p for p in check(entry))
    with pytest.raises(ConfigError, match="passes snnrl board check"):
        verify(entry)


def test_check_rejects_a_stored_config_that_differs(entry: Path) -> None:
    """A stored config of another configuration, with its hash updated in the entry."""
    root = root_of_entry(entry)
    cfg = next(root.glob("checkpoints/*/*/seed2.config.yaml"))
    cfg.write_text(cfg.read_text().replace("lr: 0.001", "lr: 0.002"))

    def rehash(d: dict[str, Any]) -> None:
        f = d["runs"][1]["files"]["config"]
        f["sha256"], f["bytes"] = sha256_file(cfg), cfg.stat().st_size

    problems = check_after(entry, rehash)
    assert not any("sha256/size differ" in p for p in problems)
    assert any("seed 2 config: its config hash is not the run's" in p for p in problems)
    assert any("hash without seed differs" in p for p in problems)


def test_python_tag_is_rejected_as_data(entry: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = entry.read_text().replace(
        "agent: rstdp", f"agent: !!python/object/apply:os.system ['touch {marker}']", 1)
    entry.write_text(text)
    problems = check(entry)
    assert len(problems) == 1 and "plain YAML data" in problems[0]
    with pytest.raises(ConfigError, match="plain YAML data"):
        render(root_of_entry(entry))
    with pytest.raises(ConfigError):
        verify(entry)
    assert not marker.exists()
    entry.write_text("a: &x [1, 2]\nb: *x\n")
    assert "no & or *" in check(entry)[0]


def test_python_tag_in_a_stored_config_is_rejected(entry: Path, tmp_path: Path) -> None:
    """Even with its hash updated in the entry, the config is read as data and refused."""
    marker = tmp_path / "pwned"
    cfg = next(root_of_entry(entry).glob("checkpoints/*/*/seed1.config.yaml"))
    cfg.write_text(cfg.read_text().replace(
        "name: rstdp", f"name: !!python/object/apply:os.system ['touch {marker}']", 1))

    def rehash(d: dict[str, Any]) -> None:
        f = d["runs"][0]["files"]["config"]
        f["sha256"], f["bytes"] = sha256_file(cfg), cfg.stat().st_size

    problems = check_after(entry, rehash)
    assert any("seed1.config.yaml" in p and "plain YAML data" in p for p in problems)
    assert not marker.exists()


def test_target_key_anywhere_is_refused(entry: Path, runs: Path) -> None:
    edit(entry, lambda d: d["env"]["spec"]["kwargs"].__setitem__(
        "wrapper", {"_target_": "os.system", "command": "true"}))
    problems = check(entry)
    assert len(problems) == 1 and "env.spec.kwargs.wrapper._target_='os.system': expected " \
        "plain data without '_target_' keys" in problems[0]
    cfg = runs / "s2" / "config.yaml"
    cfg.write_text(cfg.read_text().replace("kwargs: {}", "kwargs: {_target_: os.system}"))
    with pytest.raises(ConfigError, match="_target_"):
        submit(five(runs), entry.parents[3] / "board2", reps=REPS)


def test_submit_refuses_fewer_than_five_seeds(runs: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 5 seeds"):
        submit(five(runs)[:4], tmp_path / "board", reps=REPS)
    assert not (tmp_path / "board").exists()


def test_submit_refuses_runs_of_different_configs(runs: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"differs from .* in agent\.lr"):
        submit([*five(runs), runs / "other"], tmp_path / "board", reps=REPS)
    assert not (tmp_path / "board").exists()


def test_submit_refuses_a_run_that_is_not_ok(runs: Path, tmp_path: Path) -> None:
    s = runs / "s3" / "summary.json"
    s.write_text(s.read_text().replace('"status": "ok"', '"status": "diverged"'))
    with pytest.raises(ConfigError, match="status='diverged': expected 'ok'"):
        submit(five(runs), tmp_path / "board", reps=REPS)


def test_submit_refuses_an_existing_entry(entry: Path, runs: Path) -> None:
    with pytest.raises(ConfigError, match="append-only"):
        submit(five(runs), root_of_entry(entry), reps=REPS)
    assert len(read_ledger(root_of_entry(entry))) == 1


def test_size_cap_is_named_and_nothing_is_written(runs: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import snnrl.leaderboard.submission as sub

    monkeypatch.setattr(sub, "MAX_FILE_BYTES", 4096)
    with pytest.raises(ConfigError, match=r"at most 0.00391 MiB per stored file \(leaderboard "
                       r"size cap\)"):
        submit(five(runs), tmp_path / "board", reps=REPS)
    monkeypatch.undo()
    monkeypatch.setattr(sub, "MAX_ENTRY_BYTES", 100_000)
    with pytest.raises(ConfigError, match="per entry"):
        submit(five(runs), tmp_path / "board", reps=REPS)
    assert not (tmp_path / "board").exists()


def test_render_check_catches_a_stale_readme(entry: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    root = str(root_of_entry(entry))
    assert main(["board", "render", "--root", root]) == 0
    assert main(["board", "render", "--root", root, "--check"]) == 0
    text = (root_of_entry(entry) / "README.md").read_text()
    assert "| 1 | rstdp |" in text and "| checked |" in text
    assert "entries/snnrl-CartPole-v1/rstdp__800__" in text
    (root_of_entry(entry) / "README.md").write_text(text.replace("| checked |", "| reproduced |"))
    capsys.readouterr()
    assert main(["board", "render", "--root", root, "--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert main(["board", "check", "--root", root]) == 1
    assert "README.md: stale" in capsys.readouterr().err


def test_cli_submit_check_and_bad_input(runs: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "board"
    dirs = [str(d) for d in five(runs)]
    assert main(["board", "submit", *dirs[:4], "--root", str(root), "--reps", str(REPS)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnrl: error: runs='4 seeds'")
    assert main(["board", "submit", *dirs, "--root", str(root), "--reps", str(REPS)]) == 0
    entry = next(root.glob("entries/*/*.yaml"))
    assert "| checked |" in (root / "README.md").read_text()
    assert main(["board", "check", "--root", str(root)]) == 0
    assert main(["board", "check", str(entry)]) == 0
    assert main(["board", "frobnicate"]) == 2
    assert main(["board", "verify", str(tmp_path / "nope.yaml")]) == 2


def test_empty_root_passes(tmp_path: Path) -> None:
    assert check_all(tmp_path / "nothing")[0] == []
    assert "No entries yet." in render(tmp_path / "nothing")


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                   check=True, capture_output=True)


def test_ledger_is_append_only_against_git_head(entry: Path) -> None:
    root = root_of_entry(entry)
    (root / "README.md").write_text(render(root))
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "entry")
    problems, notes = check_all(root)
    assert problems == [] and "prefix" in notes[0]
    ledger = root / "ledger.jsonl"
    line = ledger.read_text()
    ledger.write_text(line.replace('"submitted"', '"reproduced"'))
    problems, _ = check_all(root)
    assert any("ledger.jsonl:1: the line committed at HEAD was changed or removed" in p
               for p in problems)
    ledger.write_text("")
    assert any("append-only" in p for p in check_all(root)[0])


def test_only_agents_with_a_plasticity_switch_are_labelled_as_the_control() -> None:
    from snnrl.leaderboard.tables import _agent

    assert _agent({"agent": "rstdp", "learner": "none", "plasticity": False}) == (
        "rstdp (plasticity off)")
    assert _agent({"agent": "neuromod_snn", "learner": "es", "plasticity": False}) == (
        "neuromod_snn + es (plasticity off)")
    # deep agents record plasticity: false, but they have no rule to switch off
    assert _agent({"agent": "ppo", "learner": "none", "plasticity": False}) == "ppo"
    assert _agent({"agent": "stpn", "learner": "none", "plasticity": False}) == "stpn"
