"""W&B as a second source of ``snnrl compare`` (a local stand-in for ``wandb.Api``), and the
project / group / job_type / tags conventions of :class:`WandbMirror` (a stand-in ``wandb``)."""

from __future__ import annotations

import json
import math
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from snnrl.cli.compare import compare, run_compare
from snnrl.cli.main import main
from snnrl.config import ConfigError

ENV = "snnrl/Toy-v0"
REPS = 200


# ----------------------------------------------------------------- a stand-in for wandb.Api


@dataclass
class FakeRun:
    """The part of ``wandb.apis.public.Run`` that compare reads."""

    id: str
    summary: dict[str, Any]
    config: dict[str, Any]
    state: str = "finished"
    group: str | None = "sweep"
    job_type: str = "train"


@dataclass
class FakeApi:
    """``runs(path, filters)`` over a fixed list; equality filters on jobType and group."""

    projects: dict[str, list[FakeRun]]
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    error: Exception | None = None

    def runs(self, path: str, filters: dict[str, Any] | None = None, **kw: Any) -> list[FakeRun]:
        self.calls.append((path, dict(filters or {})))
        if self.error is not None:
            raise self.error
        out = []
        for r in self.projects.get(path, []):
            f = filters or {}
            if "jobType" in f and r.job_type != f["jobType"]:
                continue
            if "group" in f and r.group != f["group"]:
                continue
            out.append(r)
        return out


def wandb_run(run_id: str, agent: str, seed: int, value: float | None, *, status: str | None
              = "ok", state: str = "finished", job_type: str = "train",
              refs: tuple[float, float] | None = None, group: str = "sweep") -> FakeRun:
    """A run as WandbMirror leaves it: identity + final metrics in the summary, full config."""
    summary: dict[str, Any] = {"_step": 3, "_runtime": 1.5, "agent": agent, "env_id": ENV,
                               "seed": seed, "learner": "none", "plasticity": True,
                               "eval/return_mean": value, "train/return_last_10pct": value,
                               "step": 400, "_wandb": {"runtime": 1}}
    if status is not None:
        summary["status"] = status
    env = {"id": ENV, "name": "toy", "random_return": None, "oracle_return": None}
    if refs is not None:
        env["random_return"], env["oracle_return"] = refs
    config = {"agent": {"name": agent, "lr": 0.01}, "env": env, "env_id": ENV, "seed": seed,
              "train": {"num_envs": 4}}
    return FakeRun(run_id, summary, config, state, group, job_type)


def local_run(root: Path, name: str, agent: str, seed: int, value: float | None) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps({
        "status": "ok", "agent": agent, "env_id": ENV, "seed": seed,
        "metrics": {"eval/return_mean": value, "train/return_last_10pct": value}}))
    return d


SCORES = {"a": [1.0, 2.0, 3.0, 4.0, 5.0], "b": [10.0, 12.0, 11.0, 13.0, 9.0]}


def same_runs_both_ways(root: Path) -> tuple[Path, FakeApi]:
    runs = []
    for agent, values in SCORES.items():
        for seed, v in enumerate(values):
            local_run(root, f"{agent}-s{seed}", agent, seed, v)
            runs.append(wandb_run(f"{agent}{seed}", agent, seed, v))
    return root, FakeApi({"me/snnrl": runs})


# -------------------------------------------------------------------------------- compare


def test_wandb_runs_aggregate_like_run_directories(tmp_path: Path) -> None:
    root, api = same_runs_both_ways(tmp_path / "runs")
    local = compare([root], reps=REPS)
    remote = compare([], reps=REPS, wandb=["me/snnrl"], api=api)
    assert api.calls == [("me/snnrl", {"jobType": "train"})]
    assert [g.label for g in remote.groups] == [g.label for g in local.groups]
    for g_l, g_r in zip(local.groups, remote.groups, strict=True):
        assert g_r.seeds == g_l.seeds and g_r.tasks == g_l.tasks
        np.testing.assert_array_equal(g_r.scores, g_l.scores)
        for k in ("iqm", "mean", "median"):
            assert g_r.estimates[k] == g_l.estimates[k]
    assert remote.inputs == ["wandb:me/snnrl"]
    assert all(r.where.startswith("wandb:me/snnrl/") for r in remote.runs)
    assert not remote.excluded and not remote.missing


def test_wandb_statuses_filters_and_foreign_runs(tmp_path: Path) -> None:
    runs = [wandb_run(f"a{s}", "a", s, float(s)) for s in range(3)]
    runs += [
        wandb_run("crash", "a", 7, None, status=None, state="crashed"),
        wandb_run("div", "a", 8, None, status="diverged"),
        wandb_run("live", "a", 9, 5.0, status=None, state="running"),
        wandb_run("old", "a", 10, 5.0, status=None, state="finished"),  # before status existed
        wandb_run("ev", "a", 11, 99.0, job_type="eval"),
        wandb_run("other", "a", 12, 99.0, group="elsewhere"),
        FakeRun("notours", {"loss": 0.1, "acc/top1": 0.9}, {"lr": 0.1}),
    ]
    api = FakeApi({"me/snnrl": runs})
    c = compare([], reps=REPS, wandb=["me/snnrl"], wandb_filters={"group": "sweep"}, api=api)
    assert api.calls == [("me/snnrl", {"jobType": "train", "group": "sweep"})]
    (g,) = c.groups
    assert g.seeds == [0, 1, 2, 10], "an old run without status: state finished = ok"
    excluded = {r.seed: (r.status, r.summary.get("reason")) for r in c.excluded}
    assert excluded == {7: ("failed", "W&B run state 'crashed'"), 8: ("diverged", None),
                        9: ("running", "W&B run state 'running'")}
    assert any("wandb:me/snnrl/notours" in n and "left out" in n for n in c.notes)


def test_local_run_directories_come_first(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    d = local_run(root, "a-s0", "a", 0, 1.0)
    (d / "wandb" / "offline-run-20260101_000000-abc123").mkdir(parents=True)
    local_run(root, "a-s1", "a", 1, 2.0)
    api = FakeApi({"me/snnrl": [wandb_run("abc123", "a", 0, 1000.0),  # the same run, synced
                                wandb_run("zzz", "a", 2, 3.0)]})
    c = compare([root], reps=REPS, wandb=["me/snnrl"], api=api)
    (g,) = c.groups
    assert g.seeds == [0, 1, 2] and len(g.runs) == 3
    np.testing.assert_array_equal(g.scores[:, 0], [1.0, 2.0, 3.0])
    assert any("1 run(s) also in local run directories" in n for n in c.notes)


def test_a_resumed_job_counts_once_from_its_latest_wandb_run(tmp_path: Path) -> None:
    """An interrupted job's W&B run ends "finished" without a status or eval metrics; its
    resumed continuation is a new W&B run with the same config hash."""
    first = wandb_run("part", "a", 0, None, status=None)
    resumed = wandb_run("full", "a", 0, 4.0)
    other = wandb_run("s1", "a", 1, 6.0)
    for r, h in ((first, "h0"), (resumed, "h0"), (other, "h1")):
        r.summary["config_hash"] = h
    api = FakeApi({"me/snnrl": [first, other, resumed]})  # oldest first
    c = compare([], reps=REPS, wandb=["me/snnrl"], api=api)
    (g,) = c.groups
    assert g.seeds == [0, 1] and g.n_dropped == 0 and len(g.runs) == 2
    np.testing.assert_array_equal(g.scores[:, 0], [4.0, 6.0])
    assert not c.missing
    assert any("part superseded" in n for n in c.notes)


def test_normalise_and_by_read_the_wandb_config(tmp_path: Path) -> None:
    api = FakeApi({"me/snnrl": [wandb_run(f"a{s}", "a", s, 10.0 * s, refs=(0.0, 20.0))
                                for s in range(3)]})
    c = compare([], reps=REPS, by=("agent", "train.num_envs"), normalise=True,
                wandb=["me/snnrl"], api=api)
    (g,) = c.groups
    assert g.key == ("a", 4) and g.normalised
    np.testing.assert_allclose(g.scores[:, 0], [0.0, 0.5, 1.0])
    with pytest.raises(ConfigError, match="--by"):
        compare([], reps=REPS, by=("agent", "no_such"), wandb=["me/snnrl"], api=api)


def test_compare_command_with_wandb_writes_the_report(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    root, api = same_runs_both_ways(tmp_path / "runs")
    api.projects["me/snnrl"].append(wandb_run("bad", "a", 9, None, status="failed"))
    out = tmp_path / "cmp"
    assert run_compare(["--wandb", "me/snnrl", "--out", str(out), "--reps", str(REPS)],
                       api=api) == 0
    md = (out / "compare.md").read_text()
    assert "`wandb:me/snnrl`" in md and "wandb:me/snnrl/bad" in md
    data = json.loads((out / "compare.json").read_text())
    assert data["inputs"] == ["wandb:me/snnrl"]
    assert data["excluded"] == [{"run": "wandb:me/snnrl/bad", "status": "failed",
                                 "reason": None}]
    assert sorted(data["groups"][0]["runs"]) == [f"wandb:me/snnrl/a{s}" for s in range(5)]
    assert "excluded: wandb:me/snnrl/bad (failed)" in capsys.readouterr().out
    # both sources at once: local directories and W&B runs of other seeds
    api2 = FakeApi({"me/other": [wandb_run("c0", "c", 0, 7.0), wandb_run("c1", "c", 1, 8.0)]})
    assert run_compare([str(root), "--wandb", "me/other", "--wandb-filters",
                        '{"group": "sweep"}', "--out", str(out), "--reps", str(REPS)],
                       api=api2) == 0
    labels = [g["label"] for g in json.loads((out / "compare.json").read_text())["groups"]]
    assert labels == [f"a, {ENV}", f"b, {ENV}", f"c, {ENV}"]


def one_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("snnrl: error:"), err
    assert "Traceback" not in err
    return lines[0]


def test_bad_wandb_input_is_one_line_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "cmp"
    for argv, key in ((["--wandb", "no-entity"], "--wandb"),
                      (["--wandb", "a/b/c"], "--wandb"),
                      (["--wandb", "me/p", "--wandb-filters", "[1]"], "--wandb-filters"),
                      (["--wandb", "me/p", "--wandb-filters", "{not json"], "--wandb-filters"),
                      ([], "DIR")):
        assert main(["compare", *argv, "--out", str(out)]) == 2
        assert key in one_error(capsys)

    import snnrl.cli.compare as cmp

    down = FakeApi({}, error=ConnectionError("Max retries exceeded with url: /graphql\nmore"))
    monkeypatch.setattr(cmp, "_wandb_api", lambda: down)
    assert main(["compare", "--wandb", "me/snnrl", "--out", str(out)]) == 2
    line = one_error(capsys)
    assert "me/snnrl" in line and "ConnectionError" in line and "more" not in line
    monkeypatch.setattr(cmp, "_wandb_api", lambda: FakeApi({}))
    assert main(["compare", "--wandb", "me/empty", "--out", str(out)]) == 2
    assert "jobType" in one_error(capsys)
    assert not out.exists()


# ------------------------------------------------------------------- WandbMirror conventions


class StubRun:
    def __init__(self) -> None:
        self.summary: dict[str, Any] = {}
        self.logged: list[dict[str, Any]] = []
        self.exit_code: int | None = None

    def define_metric(self, *a: Any, **kw: Any) -> None:
        pass

    def log(self, rec: dict[str, Any]) -> None:
        self.logged.append(rec)

    def finish(self, exit_code: int = 0) -> None:
        self.exit_code = exit_code


@pytest.fixture
def stub_wandb(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A ``wandb`` module whose ``init`` records its arguments; no Hydra job around."""
    from hydra.core.hydra_config import HydraConfig

    seen: dict[str, Any] = {"runs": []}

    def init(**kw: Any) -> StubRun:
        seen["init"] = kw
        run = StubRun()
        seen["runs"].append(run)
        return run

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)
    for k in ("WANDB_MODE", "WANDB_DIR"):
        monkeypatch.setenv(k, "disabled" if k == "WANDB_MODE" else "/nowhere")
    return seen


CONFIG = {"agent": {"name": "rstdp", "plasticity": False}, "env": {"name": "cartpole",
          "id": "snnrl/CartPole-v1"}, "learner": {"name": "none"}, "seed": 3}


def test_mirror_identity_group_tags_and_status(tmp_path: Path, stub_wandb: dict[str, Any],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from snnrl.tracking.wandb_logger import WandbMirror

    m = WandbMirror(tmp_path, dict(CONFIG), "snnrl", "offline", None, ["ablation", "rstdp"],
                    name="rstdp-cartpole-s3")
    kw = stub_wandb["init"]
    assert kw["project"] == "snnrl" and kw["job_type"] == "train" and kw["mode"] == "offline"
    assert kw["group"] == "rstdp-cartpole", "no sweep: AGENT-ENV"
    assert kw["tags"] == ["ablation", "rstdp", "cartpole", "none"]
    assert kw["config"]["env_id"] == "snnrl/CartPole-v1" and kw["config"]["seed"] == 3
    assert kw["config"]["agent"]["name"] == "rstdp"
    assert kw["reinit"] == "finish_previous", "a reused worker closes the previous job's run"
    run = stub_wandb["runs"][0]
    from snnrl.tracking import config_hash

    assert run.summary == {"agent": "rstdp", "env_id": "snnrl/CartPole-v1", "seed": 3,
                           "learner": "none", "plasticity": False,
                           "config_hash": config_hash(CONFIG)}
    m.summary({"eval/return_mean": 9.5}, status="diverged", reason="nan")
    m.finish(0)
    assert run.summary["status"] == "diverged" and run.summary["eval/return_mean"] == 9.5
    assert run.exit_code == 0 and m.run is None
    m.finish(0)  # idempotent

    monkeypatch.setenv("WANDB_MODE", "disabled")  # mode null: $WANDB_MODE decides
    m = WandbMirror(tmp_path, dict(CONFIG), "snnrl", None, "mine", [], name="x")
    assert stub_wandb["init"]["group"] == "mine" and stub_wandb["init"]["mode"] == "disabled"
    m.summary({"eval/return_mean": math.nan})
    m.finish(1)
    assert stub_wandb["runs"][1].summary["status"] == "failed"


def test_default_group_in_a_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from snnrl.tracking.wandb_logger import default_group

    choices: dict[str, Any] = {"experiment": None}
    hc = types.SimpleNamespace(mode=RunMode.MULTIRUN, runtime=types.SimpleNamespace(
        choices=choices), sweep=types.SimpleNamespace(dir="runs/sweeps/20260101-120000"))
    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: True))
    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: hc))
    assert default_group(CONFIG) == "20260101-120000"
    choices["experiment"] = "stable_lifelong_cartpole"
    assert default_group(CONFIG) == "stable_lifelong_cartpole"
    hc.mode = RunMode.RUN
    assert default_group(CONFIG) == "rstdp-cartpole"
