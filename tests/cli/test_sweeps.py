"""Sweeps: joblib and submitit launchers, the sweep summary, and resumable sweeps (in-process)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from snnrl.cli.main import main
from snnrl.tracking.sweep import SweepSummary, find_jobs, write_sweep_summary
from snnrl.tracking.sweep import main as sweep_main

TINY = ["lifetime_steps=200", "train.env_steps=400", "train.num_envs=2", "eval.lifetimes=2",
        "progress=false"]
# 4 generations of 4 candidates x 1 lifetime x 50 steps, a learner checkpoint every 2
ES = ["agent=abcd_ann", "agent.hidden=[8]", "learner=es", "learner.popsize=4",
      "learner.sigma=0.3", "learner.checkpoint_every=2", "train.num_envs=1",
      "lifetime_steps=50", f"train.env_steps={4 * 1 * 50 * 4}", "eval.enabled=false",
      "progress=false"]



def summaries(sweep: Path) -> dict[str, dict[str, Any]]:
    """``{job subdir: summary.json}`` of every job of a sweep."""
    return {p.parent.relative_to(sweep).as_posix(): json.loads(p.read_text())
            for p in sweep.rglob("summary.json")}


def records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def final(summary: dict[str, Any]) -> dict[str, Any]:
    """Final metrics without wall-clock figures."""
    return {k: v for k, v in summary["metrics"].items()
            if not (k.startswith("perf/") or k.endswith("_s"))}


def wandb_records(path: Path) -> list[dict[str, Any]]:
    """The records of an offline ``.wandb`` file, read with ``wandb leet inspect --json``."""
    out = subprocess.run(["wandb", "leet", "inspect", "--json", str(path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]


def has_leet() -> bool:
    if shutil.which("wandb") is None:
        return False
    out = subprocess.run(["wandb", "leet", "inspect", "--help"], capture_output=True, timeout=60)
    return out.returncode == 0


# --------------------------------------------------------------------------------- joblib


@pytest.mark.slow
def test_joblib_sweep_every_job_seeded_one_thread_own_wandb_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """2 x 2 x 2 jobs on 2 reused joblib worker processes, each a full, independent job."""
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "disabled")  # the workers get offline from logger.mode
    sweep = tmp_path / "sweep"
    code = main(["train", "-m", *TINY, "agent.plasticity=true,false", "seed=1,2",
                 "train.log_every=100,200", "logger=wandb", "logger.mode=offline",
                 "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}"])
    assert code == 0
    jobs = summaries(sweep)
    assert len(jobs) == 8
    for sub, s in jobs.items():
        assert s["status"] == "ok", (sub, s.get("reason"))
        assert f"seed={s['seed']}" in sub.split(",")
        assert f"agent.plasticity={s['plasticity']}" in sub.split(",")
        assert s["torch_threads"] == 1
    # log_every changes logging only: the same (plasticity, seed) gives the same results in
    # whichever reused worker it ran, so each job was re-seeded; another seed differs
    by_cell: dict[tuple[bool, int], list[dict[str, Any]]] = {}
    for s in jobs.values():
        by_cell.setdefault((s["plasticity"], s["seed"]), []).append(final(s))
    assert sorted(by_cell) == [(False, 1), (False, 2), (True, 1), (True, 2)]
    for cell in by_cell.values():
        assert len(cell) == 2 and cell[0] == cell[1]
    assert by_cell[(True, 1)][0] != by_cell[(True, 2)][0]
    assert by_cell[(False, 1)][0] != by_cell[(False, 2)][0]

    # one W&B run per job, finished, with the sweep's group and the run's identity
    files = {sub: list((sweep / sub / "wandb").glob("offline-run-*/run-*.wandb"))
             for sub in jobs}
    assert all(len(f) == 1 for f in files.values()), files
    ids = {f[0].name for f in files.values()}
    assert len(ids) == 8, "every job has its own W&B run"
    if has_leet():
        for sub, (path,) in files.items():
            recs = wandb_records(path)
            run = next(r["run"] for r in recs if r["type"] == "run")
            assert run["run_group"] == "sweep" and run["job_type"] == "train"
            assert run["project"] == "snnrl" and "rstdp" in run["tags"]
            cfg = run["config"]["update"]
            assert cfg["seed"] == jobs[sub]["seed"] and cfg["agent"]["name"] == "rstdp"
            assert cfg["env_id"] == "snnrl/CartPole-v1"
            exits = [r["exit"] for r in recs if r["type"] == "exit"]
            assert len(exits) == 1 and exits[0].get("exit_code", 0) == 0, "finished"
            summary: dict[str, Any] = {}
            for r in recs:
                if r["type"] == "summary":
                    summary |= r["summary"].get("update", {})
            assert summary["config_hash"] == jobs[sub]["config_hash"]
            assert summary["seed"] == jobs[sub]["seed"] and summary["agent"] == "rstdp"
            assert summary["eval/return_mean"] == jobs[sub]["metrics"]["eval/return_mean"]

    rows = csv_rows(sweep / "sweep_summary.csv")
    assert sorted(r["subdir"] for r in rows) == sorted(jobs)
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["seed"] for r in rows} == {"1", "2"}
    md = (sweep / "sweep_summary.md").read_text()
    assert "8 job(s): 8 ok" in md


# ------------------------------------------------------------------------------ submitit


def test_slurm_preset_composes_and_makes_the_sbatch_script(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No cluster here: the preset's keys are checked against the plugin's schema and turned
    into an sbatch script by submitit, stopping before ``sbatch`` would be called."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    import submitit
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from submitit.slurm.slurm import SlurmExecutor

    from snnrl.cli.app import conf_dir
    from snnrl.config import register_schemas

    register_schemas()
    with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir())):
        cfg = compose("train", overrides=["hydra/launcher=slurm",
                                          f"hydra.sweep.dir={tmp_path}"],
                      return_hydra_config=True)
    launcher_cfg = cfg.hydra.launcher
    assert launcher_cfg._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher_cfg.cpus_per_task == 1 and launcher_cfg.partition is None
    assert launcher_cfg.timeout_min > 0 and launcher_cfg.mem_gb > 0
    assert launcher_cfg.array_parallelism >= 1

    captured: dict[str, Any] = {}

    def capture(self: Any, fn: Any, *args: Any) -> list[Any]:
        captured["executor"] = self
        return []

    monkeypatch.setattr(SlurmExecutor, "affinity", classmethod(lambda cls: 1))
    monkeypatch.setattr(submitit.AutoExecutor, "map_array", capture)
    launcher = instantiate(launcher_cfg)
    launcher.setup(hydra_context=None, task_function=lambda c: None, config=cfg)
    assert launcher.launch([["seed=1"]], initial_job_idx=0) == []
    script = captured["executor"]._executor._make_submission_file_text("true", "0")
    assert "#SBATCH --cpus-per-task=1" in script
    assert f"#SBATCH --mem={launcher_cfg.mem_gb}GB" in script
    assert f"#SBATCH --time={launcher_cfg.timeout_min}" in script
    assert "--partition" not in script
    assert str(captured["executor"].folder).startswith(str(tmp_path / ".submitit"))


@pytest.mark.slow
def test_submitit_local_sweep_runs_to_completion(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep = tmp_path / "sweep"
    code = main(["train", "-m", *TINY, "train.log_every=100", "seed=1,2",
                 "hydra/launcher=slurm_local", f"hydra.sweep.dir={sweep}"])
    assert code == 0
    jobs = summaries(sweep)
    assert len(jobs) == 2
    assert sorted(s["seed"] for s in jobs.values()) == [1, 2]
    assert all(s["status"] == "ok" and s["torch_threads"] == 1 for s in jobs.values())
    assert all((sweep / sub / "metrics.jsonl").is_file() for sub in jobs)
    assert (sweep / ".submitit").is_dir(), "submitit's own files stay in a hidden folder"
    assert len(csv_rows(sweep / "sweep_summary.csv")) == 2


# ------------------------------------------------------------------------- sweep summary


def _write(path: Path, data: Any) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "summary.json").write_text(json.dumps(data))


def fake_sweep(root: Path) -> Path:
    base = {"agent": "rstdp", "env_id": "snnrl/CartPole-v1", "env_steps": 400,
            "wall_time_s": 2.5}
    _write(root / "seed=1", base | {"seed": 1, "status": "ok",
                                    "metrics": {"eval/return_mean": 12.25, "other/x": 1.0}})
    _write(root / "seed=2", base | {"seed": 2, "status": "failed",
                                    "reason": "RuntimeError: boom | bang", "metrics": {}})
    _write(root / "seed=3", base | {"seed": 3, "status": "diverged",
                                    "reason": "train/actor_w_abs not finite",
                                    "metrics": {"train/return_last_10pct": None}})
    (root / "seed=4" / ".hydra").mkdir(parents=True)  # killed before it wrote anything
    _write(root / "seed=1" / "eval" / "long_horizon", {"status": "not a job"})
    (root / ".submitit" / "7").mkdir(parents=True)
    _write(root / ".submitit" / "7", {"status": "not a job"})
    return root


def test_sweep_summary_lists_every_job_with_its_status(tmp_path: Path) -> None:
    sweep = fake_sweep(tmp_path / "sw")
    assert [p.name for p in find_jobs(sweep)] == ["seed=1", "seed=2", "seed=3", "seed=4"]
    SweepSummary().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    rows = {r["subdir"]: r for r in csv_rows(sweep / "sweep_summary.csv")}
    assert list(rows) == ["seed=1", "seed=2", "seed=3", "seed=4"]
    assert rows["seed=1"]["status"] == "ok" and rows["seed=1"]["eval/return_mean"] == "12.25"
    assert rows["seed=1"]["wall_time_s"] == "2.5" and rows["seed=1"]["agent"] == "rstdp"
    assert rows["seed=2"]["status"] == "failed" and "boom" in rows["seed=2"]["reason"]
    assert rows["seed=3"]["status"] == "diverged"
    assert rows["seed=3"]["reason"] == "train/actor_w_abs not finite"
    assert rows["seed=4"]["status"] == "no summary"
    header = list(rows["seed=1"])
    assert header[:6] == ["subdir", "agent", "env_id", "seed", "status", "reason"]
    assert "eval/return_mean" in header and "train/return_last_10pct" in header
    assert "other/x" not in header and "eval/return_std" not in header, "only shown metrics"
    md = (sweep / "sweep_summary.md").read_text()
    assert "4 job(s): 1 diverged, 1 failed, 1 no summary, 1 ok" in md
    assert "boom \\| bang" in md, "a | in a reason does not break the table"
    assert not [p for p in sweep.iterdir() if p.name.startswith(".sweep_summary")], "temp files"


def test_sweep_summary_by_hand_and_for_a_missing_sweep(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweep = fake_sweep(tmp_path / "sw")
    assert sweep_main([str(sweep)]) == 0
    assert (sweep / "sweep_summary.md").is_file()
    assert sweep_main([str(tmp_path / "nope")]) == 2
    assert "SWEEP_DIR" in capsys.readouterr().err
    # the callback does nothing when no job made the sweep directory
    SweepSummary().on_multirun_end(
        OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "empty")}}}))
    assert not (tmp_path / "empty").exists()
    empty = tmp_path / "e"
    empty.mkdir()
    write_sweep_summary(empty)
    assert "0 job(s): no jobs" in (empty / "sweep_summary.md").read_text()


def test_callback_is_configured_and_cheap_to_import() -> None:
    import yaml

    from snnrl.cli.app import conf_dir

    cfg = yaml.safe_load((conf_dir() / "train.yaml").read_text())
    target = cfg["hydra"]["callbacks"]["sweep_summary"]["_target_"]
    assert target == "snnrl.tracking.sweep.SweepSummary"
    code = ("import sys; import snnrl.tracking.sweep\n"
            "heavy = {'wandb', 'matplotlib', 'pandas', 'rliable', 'evotorch', 'submitit'}\n"
            "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


# ----------------------------------------------------------------------- resumable sweeps


def test_crashed_job_is_recorded_the_sweep_goes_on_and_a_rerun_completes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import snnrl.cli.train as train_mod

    real = train_mod._train_and_eval

    def crash_when_asked(c: Any, agent: Any, env: Any, rd: Any, mirror: Any, device: Any
                         ) -> dict[str, Any]:
        out = real(c, agent, env, rd, mirror, device)  # metrics.jsonl written, then a crash
        if str(c.seed) in os.environ.get("SNNRL_TEST_CRASH_SEEDS", "").split(","):
            raise RuntimeError(f"simulated crash in seed {c.seed}")
        return out

    monkeypatch.setattr(train_mod, "_train_and_eval", crash_when_asked)
    monkeypatch.setenv("SNNRL_TEST_CRASH_SEEDS", "3")
    sweep = tmp_path / "sweep"
    argv = ["train", "-m", *TINY, "train.log_every=100", "seed=1,2,3,4",
            f"hydra.sweep.dir={sweep}"]
    assert main(argv) == 0, "a crashed job does not stop the sweep"
    assert "simulated crash in seed 3" in capsys.readouterr().err
    jobs = summaries(sweep)
    status = {s["seed"]: s["status"] for s in jobs.values()}
    assert status == {1: "ok", 2: "ok", 3: "failed", 4: "ok"}
    failed = next(s for s in jobs.values() if s["seed"] == 3)
    assert "RuntimeError: simulated crash in seed 3" in failed["reason"]
    rows = {r["seed"]: r for r in csv_rows(sweep / "sweep_summary.csv")}
    assert rows["3"]["status"] == "failed" and "simulated crash" in rows["3"]["reason"]

    paths = {s["seed"]: sweep / sub for sub, s in jobs.items()}
    before = {seed: (p / "summary.json").stat().st_mtime_ns for seed, p in paths.items()}
    metrics_before = {seed: (p / "metrics.jsonl").read_bytes() for seed, p in paths.items()}

    monkeypatch.setenv("SNNRL_TEST_CRASH_SEEDS", "")
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("already finished with this config") == 3
    again = summaries(sweep)
    assert set(again) == set(jobs), "the rerun uses the same job directories"
    assert {s["seed"]: s["status"] for s in again.values()} == {1: "ok", 2: "ok", 3: "ok",
                                                                  4: "ok"}
    for seed in (1, 2, 4):  # finished with the same config hash: skipped, nothing rewritten
        assert (paths[seed] / "summary.json").stat().st_mtime_ns == before[seed]
        assert (paths[seed] / "metrics.jsonl").read_bytes() == metrics_before[seed]
    assert (paths[3] / "summary.json").stat().st_mtime_ns > before[3]
    for p in paths.values():
        steps = [(r.get("lifetime"), r["step"], "eval/return_mean" in r) for r in records(p)]
        assert len(steps) == len(set(steps)), f"duplicated steps in {p}"
    assert [r["step"] for r in records(paths[3])] == [r["step"] for r in records(paths[1])]
    rows = {r["seed"]: r["status"] for r in csv_rows(sweep / "sweep_summary.csv")}
    assert rows == {"1": "ok", "2": "ok", "3": "ok", "4": "ok"}


def test_interrupted_es_sweep_resumes_from_the_learner_state(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep stopped mid-job (Ctrl-C, a kill) and rerun: the finished job is skipped, the
    interrupted one resumes from learner_state.pt with metrics.jsonl truncated back to it, the
    job that never started runs."""
    from snnrl.learners.es import ESLearner

    step = ESLearner.step
    calls = {"n": 0}

    def interrupt_in_generation_4_of_job_2(self: ESLearner) -> Any:
        calls["n"] += 1
        if calls["n"] == 4 + 4:
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(ESLearner, "step", interrupt_in_generation_4_of_job_2)
    sweep = tmp_path / "sweep"
    argv = ["train", "-m", *ES, "seed=1,2,3", f"hydra.sweep.dir={sweep}"]
    with pytest.raises(KeyboardInterrupt):
        main(argv)
    monkeypatch.undo()
    jobs = summaries(sweep)
    by_seed = {s["seed"]: (sweep / sub, s) for sub, s in jobs.items()}
    assert sorted(by_seed) == [1, 2], "the sweep stopped in job 2; job 3 never started"
    assert by_seed[1][1]["status"] == "ok"
    assert by_seed[2][1]["status"] == "running", "interrupted: not finished"
    job2 = by_seed[2][0]
    assert torch.load(job2 / "learner_state.pt", weights_only=True)["generation"] == 2
    # generation 3 was logged after the last learner checkpoint (2): the rerun drops it
    assert [r["step"] for r in records(job2)] == [200, 400, 600]
    done1 = (by_seed[1][0] / "summary.json").stat().st_mtime_ns

    assert main(argv) == 0
    jobs = summaries(sweep)
    by_seed = {s["seed"]: (sweep / sub, s) for sub, s in jobs.items()}
    assert sorted(by_seed) == [1, 2, 3]
    assert all(s["status"] == "ok" and s["env_steps"] == 800 for _, s in by_seed.values())
    assert (by_seed[1][0] / "summary.json").stat().st_mtime_ns == done1, "job 1 skipped"
    for run, _ in by_seed.values():
        assert [r["step"] for r in records(run)] == [200, 400, 600, 800], "no duplicated steps"
        state = torch.load(run / "learner_state.pt", weights_only=True)
        assert state["generation"] == 4
    rows = csv_rows(sweep / "sweep_summary.csv")
    assert sorted(r["status"] for r in rows) == ["ok", "ok", "ok"]
    assert {r["train/fitness_mean_last_gen"] != "" for r in rows} == {True}


# ------------------------------------------------------- keys of a swept agent group


RECURRENT_TINY = ["env=cartpole", "train.env_steps=64", "train.num_envs=2", "eval.episodes=2",
                  "progress=false"]


def test_multirun_sets_a_key_of_the_swept_agents(tmp_path: Path) -> None:
    # Hydra composes the sweep-level config with the default agent (rstdp), which has no
    # n_steps: without the rewrite this sweep stops before any job with "unknown key".
    sweep = tmp_path / "sweep"
    code = main(["train", "-m", "agent=lstm,rnn", "agent.n_steps=8", "agent.hidden=6",
                 *RECURRENT_TINY, f"hydra.sweep.dir={sweep}",
                 "hydra.sweep.subdir=${agent.name}"])
    assert code == 0
    for name in ("lstm", "rnn"):
        job = OmegaConf.load(sweep / name / ".hydra" / "config.yaml")
        assert job.agent.name == name
        assert job.agent.n_steps == 8 and job.agent.hidden == 6
        assert json.loads((sweep / name / "summary.json").read_text())["status"] == "ok"


def test_multirun_refuses_a_key_one_swept_agent_lacks_before_any_job(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweep = tmp_path / "sweep"
    code = main(["train", "-m", "agent=lstm,ppo", "agent.value_scale=5", *RECURRENT_TINY,
                 f"hydra.sweep.dir={sweep}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "agent.value_scale" in err[0] and "ppo has no 'value_scale'" in err[0]
    assert not sweep.exists()


def test_a_key_added_with_plus_plus_that_no_schema_has_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # ++ adds keys even to schema-typed nodes; a misspelt key must still fail, not be ignored
    run = tmp_path / "run"
    code = main(["train", "agent=lstm", "++agent.n_stepz=8", *RECURRENT_TINY,
                 f"hydra.run.dir={run}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "agent.n_stepz" in err[0] and "n_steps" in err[0]
    assert not (run / "summary.json").exists()
