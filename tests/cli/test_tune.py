"""``snnrl tune``: Optuna studies over in-process ``snnrl train`` runs, resumable, in a journal."""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

optuna = pytest.importorskip("optuna")

from optuna.trial import TrialState  # noqa: E402

from snnrl.cli import tune  # noqa: E402
from snnrl.cli.main import main  # noqa: E402

# R-STDP, 2 lifetimes x 50 steps and 2 evaluation lifetimes: well under a second a run
TINY = ["lifetime_steps=50", "train.env_steps=100", "train.num_envs=2", "train.log_every=50",
        "eval.lifetimes=2"]
LR = "agent.lr=float:1e-4:1e-2:log"
W = "agent.w_init=categorical:0.3,0.6"


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def run_tune(storage: Path, *args: str, fixed: list[str] | None = None) -> int:
    return main(["tune", "--storage", str(storage), *args, "--", *(TINY if fixed is None
                                                                   else fixed)])


def load(storage: Path, name: str) -> Any:
    return optuna.load_study(study_name=name,
                             storage=tune.journal_storage(storage / "journal.log"))


def metric(run_dir: Path, key: str) -> float:
    return json.loads((run_dir / "summary.json").read_text())["metrics"][key]


FakeResult = Callable[[int, int, dict[str, str]], dict[str, Any] | BaseException]


def fake_runner(monkeypatch: pytest.MonkeyPatch, result: FakeResult) -> list[tuple[int, int]]:
    """Replace ``snnrl train`` by ``result(trial dir number, seed, overrides)``: a summary.json
    to write, or an exception to raise. Returns the (trial dir, seed) of each call."""
    calls: list[tuple[int, int]] = []

    def run(overrides: list[str]) -> None:
        kv = dict(o.split("=", 1) for o in overrides)
        run_dir = Path(kv["hydra.run.dir"])
        calls.append((int(run_dir.parent.name), int(kv["seed"])))
        out = result(calls[-1][0], calls[-1][1], kv)
        if isinstance(out, BaseException):
            raise out
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "summary.json").write_text(json.dumps(out))

    monkeypatch.setattr(tune, "run_train_app", run)
    return calls


def compose_with(best_yaml: str, overrides: list[str]) -> Any:
    """The training config with ``best_yaml`` as ``experiment=tuned``."""
    import tempfile

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from snnrl.cli.app import conf_dir
    from snnrl.config import register_schemas

    register_schemas()
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "experiment").mkdir()
        (Path(d) / "experiment" / "tuned.yaml").write_text(best_yaml)
        GlobalHydra.instance().clear()
        with initialize_config_dir(str(conf_dir()), version_base="1.3"):
            return compose("train", overrides=[*overrides, "experiment=tuned",
                                               f"hydra.searchpath=[file://{d}]"])


def ok(value: float) -> dict[str, Any]:
    return {"status": "ok", "metrics": {"eval/fitness_mean": value}}


# ------------------------------------------------------------------------- real runs


def test_study_completes_writes_best_yaml_and_resumes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    storage = tmp_path / "tune"
    args = ["--study", "rstdp", "--trials", "3", "--objective", "eval/fitness_mean:max",
            "--param", LR, "--param", W]
    assert run_tune(storage, *args) == 0
    out = capsys.readouterr().out
    study = load(storage, "rstdp")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    for t in study.trials:  # the value is the mean over the tuning seeds of the runs' metric
        runs = storage / "trials" / "rstdp" / str(t.number)
        per = [metric(runs / f"s{s}", "eval/fitness_mean") for s in (100, 101)]
        assert t.value == pytest.approx(sum(per) / 2)
        assert json.loads((runs / "s101" / "summary.json").read_text())["seed"] == 101
        assert t.params["agent.w_init"] in ("0.3", "0.6")
        assert 1e-4 <= t.params["agent.lr"] <= 1e-2
        assert f"trial {t.number} complete" in out
    best = study.best_trial
    assert "best trials" in out and "snnrl tune: best config" in out

    text = (storage / "rstdp_best.yaml").read_text()
    assert text.startswith("# @package _global_\n")
    body = yaml.safe_load(text)
    assert body == {"agent": {"lr": best.params["agent.lr"],
                              "w_init": float(best.params["agent.w_init"])}}
    assert f"trial {best.number} of 3" in text
    assert f"# tuned: agent.lr={best.params['agent.lr']!r} " in text
    assert "# fixed overrides: " + " ".join(TINY) in text
    assert not [p for p in storage.iterdir() if p.name.startswith(".")], "temporary files left"
    cfg = compose_with(text, TINY)  # a Hydra config as it stands, e.g. as an experiment
    assert cfg.agent.lr == best.params["agent.lr"]
    assert cfg.agent.w_init == float(best.params["agent.w_init"])

    # the same command with --trials 4 resumes the study: one more trial, not four
    assert run_tune(storage, *[*args[:3], "4", *args[4:]]) == 0
    out = capsys.readouterr().out
    assert "3 of 4 trials" in out and "trial 3 complete" in out and "trial 0 complete" not in out
    study = load(storage, "rstdp")
    assert len(study.trials) == 4
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert sorted(p.name for p in (storage / "trials" / "rstdp").iterdir()) == list("0123")

    # no search given: the study's own; a different search is refused, with nothing run
    assert main(["tune", "--storage", str(storage), "--study", "rstdp", "--trials", "4"]) == 0
    assert len(load(storage, "rstdp").trials) == 4
    capsys.readouterr()
    assert run_tune(storage, *args[:4], "--objective", "eval/fitness_mean:max",
                    "--param", "agent.lr=float:1e-3:1e-2:log", "--param", W) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the same search" in err and "agent.lr" in err
    assert len(load(storage, "rstdp").trials) == 4


def test_multi_objective_study_reports_a_pareto_front(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    storage = tmp_path / "tune"
    assert run_tune(storage, "--study", "mo", "--trials", "2", "--seeds", "100",
                    "--objective", "eval/fitness_mean:max",
                    "--objective", "energy/loihi/J_per_step:min", "--param", LR) == 0
    out = capsys.readouterr().out
    study = load(storage, "mo")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    for t in study.trials:
        run = storage / "trials" / "mo" / str(t.number) / "s100"
        assert t.values == [metric(run, "eval/fitness_mean"),
                            metric(run, "energy/loihi/J_per_step")]
    assert "NSGA-II" in out and "Optuna cannot prune multi-objective" in out
    assert "Pareto front: eval/fitness_mean (max), energy/loihi/J_per_step (min)" in out
    front = {t.number for t in study.best_trials}
    text = (storage / "mo_best.yaml").read_text()
    assert {int(line.split()[3]) for line in text.splitlines()
            if line.startswith("# pareto trial")} == front
    assert yaml.safe_load(text)["agent"]["lr"] in [study.trials[n].params["agent.lr"]
                                                   for n in front]


def test_interrupted_trial_is_voided_and_resumed_in_its_run_dirs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    storage = tmp_path / "tune"
    real = tune.run_train_app

    def interrupt_trial_1_s101(overrides: list[str]) -> None:
        if any(o.endswith("/trials/int/1/s101") for o in overrides):
            raise KeyboardInterrupt
        real(overrides)

    monkeypatch.setattr(tune, "run_train_app", interrupt_trial_1_s101)
    args = ["--study", "int", "--trials", "2", "--objective", "eval/fitness_mean", "--param", LR]
    assert run_tune(storage, *args) == 130
    assert "rerun the same command to resume" in capsys.readouterr().err
    study = load(storage, "int")
    t0, t1, t2 = study.trials
    assert t0.state == TrialState.COMPLETE
    assert t1.state == TrialState.FAIL and t1.user_attrs["void"] == "interrupted"
    assert t2.state == TrialState.WAITING and t2.user_attrs["resumes"] == 1
    s100 = storage / "trials" / "int" / "1" / "s100" / "summary.json"
    before = s100.stat().st_mtime_ns

    monkeypatch.setattr(tune, "run_train_app", real)
    assert run_tune(storage, *args) == 0
    out = capsys.readouterr().out
    assert "already finished with this config" in out  # s100 of trial 1 is not run again
    assert s100.stat().st_mtime_ns == before
    study = load(storage, "int")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL,
                                               TrialState.COMPLETE]
    t2 = study.trials[2]
    assert t2.params == t1.params
    runs = storage / "trials" / "int" / "1"
    assert t2.value == pytest.approx((metric(runs / "s100", "eval/fitness_mean")
                                      + metric(runs / "s101", "eval/fitness_mean")) / 2)
    assert not (storage / "trials" / "int" / "2").exists()


# ------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("args", [
    ["--param", "agent.lr=float:1:0.1"],
    ["--param", "agent.lr=float:0:1:log"],
    ["--param", "agent.lr=float:0.1:1:0.4"],
    ["--param", "agent.lr=normal:0:1"],
    ["--param", "agent.lr"],
    ["--param", "agent.lr=float:a:1"],
    ["--param", "agent.n_per_dim=int:1.5:3"],
    ["--param", "agent.w_init=categorical:0.5"],
    ["--param", "agent.w_init=categorical:0.5,0.5"],
    ["--param", "agent.hidden=categorical:[16,[32]"],
    ["--param", "seed=int:1:5"],
    ["--param", "agent.lrr=float:0.1:1"],              # unknown key: found by composing
    ["--param", "agent.n_per_dim=float:1:3"],          # wrong type for the key
    ["--param", LR, "--param", "agent.lr=float:0.1:1"],
    ["--objective", "eval/return_mean:up"],
    ["--objective", "eval/fitness_mean", "--objective", "eval/fitness_mean:min"],
    ["--seeds", "1,1"],
    ["--seeds", "a"],
    ["--trials", "-1"],
    ["--sampler", "cmaes"],
    ["--pruner", "median", "--objective", "eval/fitness_mean",
     "--objective", "energy/loihi/J_per_step:min"],
    ["--", "seed=3"],
    ["--", "agent.w_init=0.1"],                       # also searched
    ["--", "agent.w_init=0.1,0.2"],
    ["--", "-m"],
    ["--", "hydra.run.dir=x"],
    ["--", "train.env_steps=99"],                     # not whole lifetimes: validate()
    ["agent=rstdp"],                                  # fixed overrides go after --
])
def test_bad_input_is_one_line_exit_2_nothing_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    storage = tmp_path / "tune"
    base = ["tune", "--storage", str(storage), "--study", "bad", "--trials", "1"]
    if "--objective" not in args:
        base += ["--objective", "eval/fitness_mean"]
    if not any(a.startswith("--param") for a in args) or "seed=3" in args:
        base += ["--param", W]
    if "--" in args:
        i = args.index("--")
        argv = [*base, *args[:i], "--", *TINY, *args[i + 1:]]
    else:
        argv = [*base, *args, "--", *TINY]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("snnrl: error: ") and err.count("\n") == 1, err
    assert not storage.exists(), "bad input writes nothing"


def test_unknown_study_without_search_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tune", "--storage", str(tmp_path), "--study", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--study='nope'" in err


def test_missing_objective_metric_stops_with_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    fake_runner(monkeypatch, lambda n, s, kv: ok(1.0))
    assert run_tune(tmp_path, "--study", "m", "--trials", "3", "--objective",
                    "stability/h10/score_last", "--param", LR) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "eval.horizons=[K]" in err
    (t,) = load(tmp_path, "m").trials  # the study stopped at its first trial, which is void
    assert t.state == TrialState.FAIL and t.user_attrs["void"].startswith("stopped")


# ------------------------------------------------------------------------- failures, pruning


def test_failed_and_diverged_trials_are_recorded_and_the_study_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def result(n: int, seed: int, kv: dict[str, str]) -> Any:
        if n == 1 and seed == 101:
            return RuntimeError("boom")
        if n == 2:
            return {"status": "diverged", "reason": "non-finite weight", "metrics": {}}
        if n == 3:
            return {"status": "ok", "metrics": {"eval/fitness_mean": None}}
        return ok(10.0 * n + seed - 100)

    calls = fake_runner(monkeypatch, result)
    assert run_tune(tmp_path, "--study", "f", "--trials", "5", "--objective",
                    "eval/fitness_mean", "--param", LR) == 0
    out = capsys.readouterr().out
    trials = load(tmp_path, "f").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL,
                                         TrialState.PRUNED, TrialState.FAIL,
                                         TrialState.COMPLETE]
    assert trials[1].user_attrs["reason"] == "s101: RuntimeError: boom"
    assert trials[2].user_attrs["reason"] == "s100 diverged: non-finite weight"
    assert trials[3].user_attrs["reason"].startswith("s100: eval/fitness_mean is None")
    assert "trial 1 failed: s101: RuntimeError: boom; the study goes on" in out
    assert trials[0].value == 0.5 and trials[4].value == 40.5
    assert calls == [(0, 100), (0, 101), (1, 100), (1, 101), (2, 100), (3, 100), (4, 100),
                     (4, 101)]
    assert "trial 4 of 5" in (tmp_path / "f_best.yaml").read_text()


def test_single_objective_trials_are_pruned_after_a_seed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    calls = fake_runner(monkeypatch, lambda n, s, kv: ok(10.0 if n == 0 else 0.0))
    assert run_tune(tmp_path, "--study", "p", "--trials", "3", "--seeds", "100,101,102",
                    "--prune-startup", "1", "--objective", "eval/fitness_mean:max",
                    "--param", LR) == 0
    trials = load(tmp_path, "p").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED,
                                         TrialState.PRUNED]
    assert trials[1].intermediate_values == {0: 0.0}
    assert trials[1].user_attrs["reason"] == "pruned after s100: running mean 0"
    assert calls == [(0, 100), (0, 101), (0, 102), (1, 100), (2, 100)]
    assert "trial 1 pruned" in capsys.readouterr().out


def test_orphaned_trial_of_a_dead_process_is_voided_and_run_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_runner(monkeypatch, lambda n, s, kv: ok(float(n)))
    args = ["--study", "o", "--objective", "eval/fitness_mean", "--param", LR, "--seeds", "100"]
    assert run_tune(tmp_path, *args, "--trials", "1") == 0
    study = load(tmp_path, "o")
    orphan = study.ask({"agent.lr": tune.parse_param(LR).distribution()})
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan.set_user_attr("host", tune._HOST)
    orphan.set_user_attr("pid", dead.pid)
    if dead.pid == os.getpid():  # pragma: no cover - cannot happen
        pytest.skip("pid reused")
    assert run_tune(tmp_path, *args, "--trials", "2") == 0
    trials = load(tmp_path, "o").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL,
                                         TrialState.COMPLETE]
    assert trials[1].user_attrs["void"].startswith("interrupted")
    assert trials[2].params == trials[1].params and trials[2].user_attrs["resumes"] == 1
    assert calls == [(0, 100), (1, 100)]  # the orphan's parameters, in its run directory


def test_search_space_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_runner(monkeypatch, lambda n, s, kv: ok(-abs(math.log10(float(kv["agent.lr"])) + 3)))
    space = tmp_path / "space.yaml"
    space.write_text("params:\n  agent.lr: float:1e-4:1e-2:log\n  agent.hidden_unused: x\n")
    assert run_tune(tmp_path / "a", "--study", "s", "--space", str(space)) == 2
    space.write_text("params:\n  agent.lr: float:1e-4:1e-2:log\n"
                     "  agent.w_init: categorical:0.3,0.6\n"
                     "objectives: [eval/fitness_mean:max]\nseeds: [7, 8]\n"
                     f"overrides: [{', '.join(TINY[:2])}]\n")
    assert run_tune(tmp_path / "b", "--study", "s", "--space", str(space), "--trials", "2",
                    fixed=TINY[2:]) == 0
    study = load(tmp_path / "b", "s")
    rec = study.user_attrs["snnrl_tune"]
    assert rec == {"params": {"agent.lr": "float:0.0001:0.01:log",
                              "agent.w_init": "categorical:0.3,0.6"},
                   "objectives": ["eval/fitness_mean:max"], "seeds": [7, 8],
                   "overrides": TINY}
    assert len(study.trials) == 2


def test_a_searched_config_group_becomes_a_defaults_override(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_runner(monkeypatch, lambda n, s, kv: ok(float(kv["agent.lr"])))
    assert run_tune(tmp_path, "--study", "g", "--trials", "3", "--seeds", "100", "--objective",
                    "eval/fitness_mean", "--param", "env=categorical:cartpole,cartpole_random",
                    "--param", LR) == 0
    best = load(tmp_path, "g").best_trial
    env = best.params["env"]
    text = (tmp_path / "g_best.yaml").read_text()
    assert yaml.safe_load(text) == {"defaults": [{"override /env": env}],
                                    "agent": {"lr": best.params["agent.lr"]}}
    cfg = compose_with(text, TINY)
    assert cfg.env.name == env and cfg.agent.lr == best.params["agent.lr"]
