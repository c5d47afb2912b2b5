"""``snnrl compare DIR... [--wandb ENTITY/PROJECT] [--metric KEY] [--by agent,env_id] ...``.

Aggregates training runs over seeds. Each ``DIR`` is a run directory (it holds ``summary.json``)
or a sweep directory, searched recursively for run directories (a run directory's own
sub-directories are not searched). Runs are grouped by the ``--by`` keys of their
``summary.json``; within a group, runs of the same seed are averaged first (docs/PROTOCOL.md),
then the seeds are aggregated with :mod:`snnrl.eval.stats` (rliable): IQM, mean and median with
95% stratified-bootstrap CIs (fixed ``--random-state``), the probability of improvement between
groups on the same envs, and performance profiles.

A group's tasks are its env ids: with ``env_id`` among the ``--by`` keys each group has one; without
it, a group's scores form a ``[seeds, envs]`` matrix (rliable's runs x tasks) and a seed missing on
one of its envs is dropped and counted. ``--normalise`` maps a return to
``(x - env.random_return) / (env.oracle_return - env.random_return)`` using each run's
``config.yaml``, for envs whose runs all have both references; other envs stay raw and the report
says so.

Runs whose status is not ``ok`` (diverged, failed, running) are listed as excluded with their
status and reason; ok runs without a finite value of the metric are listed too, and their seeds
are dropped and counted. Nothing is left out silently.

Writes into ``--out`` (default ``./compare``): ``compare.md``, ``compare.csv`` (one row per group),
``compare.json`` (everything, for later tools), ``learning_curves.png`` (from each run's
``metrics.jsonl``), ``performance_profile.png`` and, when the summaries hold ``energy/...``
figures, ``energy_pareto.png``. Every file is written atomically after all input was read and
checked; bad input writes nothing.

Local run directories are the primary source. ``--wandb ENTITY/PROJECT`` (repeatable) adds the
training runs a W&B project holds (``wandb.Api().runs``, filtered to ``jobType: train`` and
``--wandb-filters``), read from their W&B summary and config as a run directory's
``summary.json`` is (status from the summary's ``status``, else the W&B run state); a W&B run
whose id a local run directory's ``wandb/`` also holds is counted once, from the directory,
and of W&B runs with the same ``config_hash`` (a job resumed or rerun into a new W&B run) only the
latest is read.
W&B runs have no learning curves here (history is not fetched); ``--normalise`` reads their
references from their W&B config.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snnrl.config import ConfigError

OUTPUT_FILES = ("compare.md", "compare.csv", "compare.json", "learning_curves.png",
                "performance_profile.png", "energy_pareto.png", "stability_curves.png")
"""Every file ``snnrl compare`` may write; ones a new report does not produce are removed."""
_ENERGY_SUFFIX = "/J_per_episode"
_CURVE_FALLBACK = "train/episode_return"
_PROFILE_REPS = 2_000  # rliable's default for profiles and probability of improvement


class _UsageError(ConfigError):
    """A bad command line, as one line (argparse would print usage and exit itself)."""

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, f"snnrl compare: {message} (see snnrl compare --help)")
        self.key, self.got, self.expected = "argv", None, message


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # noqa: D102 - argparse hook
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="snnrl compare",
                description="Aggregate training runs over seeds (per-seed means first): IQM, "
                            "mean and median with 95%% stratified-bootstrap CIs, probability of "
                            "improvement, performance profiles, learning curves, energy.")
    p.add_argument("dirs", type=Path, nargs="*", metavar="DIR",
                   help="run directories (with summary.json) and/or sweep directories")
    p.add_argument("--wandb", action="append", default=[], metavar="ENTITY/PROJECT",
                   help="also read the training runs of this W&B project (needs network; "
                        "repeatable)")
    p.add_argument("--wandb-filters", default=None, metavar="JSON",
                   help='W&B run filters (MongoDB-style), e.g. \'{"group": "my_sweep"}\'; '
                        'jobType defaults to "train"')
    p.add_argument("--metric", default="eval/return_mean",
                   help="summary.json metric to aggregate (default: eval/return_mean)")
    p.add_argument("--by", default="agent,env_id",
                   help="comma-separated summary.json keys that define a group "
                        "(default: agent,env_id)")
    p.add_argument("--normalise", "--normalize", action="store_true",
                   help="normalise returns between env.random_return and env.oracle_return")
    p.add_argument("--out", type=Path, default=Path("compare"),
                   help="output directory (default: ./compare)")
    p.add_argument("--curve-metric", default=None,
                   help="metrics.jsonl key of the learning curves (default: --metric when logged "
                        f"over training, else {_CURVE_FALLBACK})")
    p.add_argument("--reps", type=int, default=50_000,
                   help="bootstrap resamples of the aggregate CIs (default 50000, rliable's); "
                        f"probability of improvement and profiles use min(reps, {_PROFILE_REPS})")
    p.add_argument("--random-state", type=int, default=0,
                   help="seed of the bootstrap resampling (default 0)")
    return p


# ----------------------------------------------------------------------------------- input


@dataclass
class Run:
    """One run directory as ``snnrl compare`` reads it."""

    path: Path
    summary: dict[str, Any]
    value: float
    """Raw value of the metric; NaN when missing or not finite."""
    problem: str | None = None
    """Why ``value`` is unusable (None when finite)."""
    score: float = math.nan
    """``value``, normalised when its env is."""
    refs: tuple[float, float] | None = None
    """``(random_return, oracle_return)`` from ``config.yaml``, when both are present."""
    source: str | None = None
    """``wandb:ENTITY/PROJECT/RUN_ID`` for a run read from W&B; None for a run directory."""
    config: dict[str, Any] | None = None
    """The W&B run's config (runs read from W&B only)."""

    @property
    def where(self) -> str:
        """Where the run was read: its directory, or its W&B source."""
        return self.source or str(self.path)

    @property
    def status(self) -> str:
        """``summary.json``'s status."""
        return str(self.summary["status"])

    @property
    def env_id(self) -> str:
        """``summary.json``'s env id."""
        return str(self.summary["env_id"])

    @property
    def seed(self) -> Any:
        """``summary.json``'s seed."""
        return self.summary["seed"]


def find_run_dirs(dirs: Sequence[Path]) -> list[Path]:
    """Run directories (holding ``summary.json``) in or under ``dirs``, sorted, without repeats.

    Raises:
        ConfigError: A ``DIR`` that does not exist, is not a directory or holds no run.
    """
    found: dict[Path, Path] = {}
    for d in dirs:
        if not d.is_dir():
            raise ConfigError("DIR", str(d), "an existing run or sweep directory")
        runs: list[Path] = []
        for root, subdirs, files in os.walk(d, followlinks=False):
            if "summary.json" in files:
                runs.append(Path(root))
                subdirs.clear()  # eval/<tag>/ and the like belong to this run
            else:
                subdirs[:] = sorted(s for s in subdirs if not s.startswith("."))
        if not runs:
            raise ConfigError("DIR", str(d),
                              "a run directory with summary.json, or a sweep directory holding "
                              "some (none found)")
        for r in runs:
            found.setdefault(r.resolve(), r)
    return sorted(found.values(), key=str)


_REQUIRED = ("status", "env_id", "seed", "metrics")


def _load_summary(run_dir: Path, by: Sequence[str]) -> dict[str, Any]:
    path = run_dir / "summary.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(str(path), type(e).__name__, "the JSON snnrl train writes") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), type(data).__name__, "a JSON object")
    for key in _REQUIRED:
        if key not in data:
            raise ConfigError(str(path), f"no {key!r}", "a summary.json written by snnrl train "
                              f"(with {', '.join(_REQUIRED)})")
    for key in by:
        if key not in data:
            raise ConfigError("--by", key, f"keys of every summary.json; {path} has: "
                              f"{', '.join(sorted(data))}")
    if not isinstance(data["metrics"], dict):
        raise ConfigError(f"{path}: metrics", type(data["metrics"]).__name__, "a mapping")
    for key in by:
        if not (data[key] is None or isinstance(data[key], str | int | float | bool)):
            raise ConfigError(f"{path}: {key}", data[key], "a scalar to group by (--by)")
    return data


def _as_float(v: Any) -> float | None:
    """A summary value as float: numbers, and the strings write_json uses for infinities."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if v in ("inf", "-inf"):
        return float(v)
    return None


def _metric_of(summary: dict[str, Any], metric: str) -> tuple[float, str | None]:
    m = summary["metrics"]
    if metric not in m:
        return math.nan, "not in summary metrics"
    if m[metric] is None:
        return math.nan, "null"
    x = _as_float(m[metric])
    if x is None:
        return math.nan, f"not a number ({m[metric]!r})"
    if not math.isfinite(x):
        return math.nan, f"not finite ({m[metric]})"
    return x, None


def _references(run_dir: Path, config: dict[str, Any] | None = None
                ) -> tuple[float, float] | None:
    """``(env.random_return, env.oracle_return)`` of a run's ``config.yaml``, if both are set.

    ``config``: a W&B run's config, read instead of ``config.yaml``.
    """
    import yaml

    path = run_dir / "config.yaml"
    if config is not None:
        data: Any = config
    elif not path.is_file():
        return None
    else:
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise ConfigError(str(path), type(e).__name__, "valid YAML") from None
    env = data.get("env") if isinstance(data, dict) else None
    if not isinstance(env, dict):
        return None
    lo, hi = _as_float(env.get("random_return")), _as_float(env.get("oracle_return"))
    if lo is None or hi is None:
        return None
    if not (math.isfinite(lo) and math.isfinite(hi) and hi != lo):
        where = path if config is None else run_dir
        raise ConfigError(f"{where}: env.oracle_return", hi,
                          f"a finite value different from env.random_return={lo}")
    return lo, hi


# ------------------------------------------------------------------------------ W&B input

_WANDB_STATUS = {"finished": "ok", "running": "running", "crashed": "failed", "failed": "failed",
                 "killed": "failed", "preempted": "failed"}
"""W&B run state -> ``summary.json`` status, for runs whose W&B summary has no ``status``."""


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def _wandb_api() -> Any:
    """``wandb.Api()`` (network); a missing package is bad input, as one line."""
    try:
        import wandb
    except ImportError:
        raise ConfigError("--wandb", "wandb", "the wandb package installed (pip install "
                          "'snnrl[full]')") from None
    return wandb.Api(timeout=60)


def local_wandb_ids(run_dirs: Sequence[Path]) -> set[str]:
    """W&B run ids that local run directories hold (``wandb/[offline-]run-DATE-ID/``)."""
    ids = set()
    for d in run_dirs:
        for sub in (d / "wandb").glob("*run-*"):
            if sub.is_dir() and not sub.is_symlink():
                ids.add(sub.name.rsplit("-", 1)[-1])
    return ids


def _wandb_summary(wr: Any, source: str, by: Sequence[str]) -> dict[str, Any] | None:
    """A W&B run as the ``summary.json`` ``snnrl train`` would have written; None: not one."""
    summary = {str(k): v for k, v in wr.summary.items() if not str(k).startswith("_")}
    cfg = dict(wr.config or {})
    agent, env = cfg.get("agent"), cfg.get("env")
    data: dict[str, Any] = {k: v for k, v in summary.items() if "/" not in k and _scalar(v)}
    data.setdefault("agent", agent.get("name") if isinstance(agent, dict) else agent)
    data.setdefault("env_id", cfg.get("env_id", env.get("id") if isinstance(env, dict) else None))
    data.setdefault("seed", cfg.get("seed"))
    if any(data.get(k) is None for k in ("agent", "env_id", "seed")):
        return None
    state = str(getattr(wr, "state", "") or "")
    if "status" not in data:
        data["status"] = _WANDB_STATUS.get(state, state or "unknown")
        if data["status"] != "ok":
            data["reason"] = f"W&B run state {state!r}"
    data["metrics"] = {k: v for k, v in summary.items() if "/" in k and _scalar(v)}
    data["wandb_group"] = getattr(wr, "group", None)
    for key in by:
        if key in data:
            continue
        node: Any = cfg  # a config key, dotted for nested ones (train.num_envs)
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            raise ConfigError("--by", key, f"keys of every run's summary (or W&B config); "
                              f"{source} has: {', '.join(sorted(data))}")
        data[key] = node
    for key in by:
        if not _scalar(data[key]):
            raise ConfigError(f"{source}: {key}", data[key], "a scalar to group by (--by)")
    return data


def wandb_runs(project: str, metric: str, by: Sequence[str],
               filters: dict[str, Any] | None = None, api: Any = None,
               skip_ids: frozenset[str] | set[str] = frozenset()
               ) -> tuple[list[Run], list[str]]:
    """Training runs of a W&B project (``ENTITY/PROJECT``) as :class:`Run` s, and notes.

    ``api`` stands in for ``wandb.Api()`` (tests); ``skip_ids``: runs already read from local
    run directories.

    Raises:
        ConfigError: A bad project path, no wandb package, or a project that cannot be read.
    """
    parts = project.split("/")
    if len(parts) != 2 or not all(x.strip() for x in parts):
        raise ConfigError("--wandb", project, "ENTITY/PROJECT")
    query = {"jobType": "train", **(filters or {})}
    if api is None:
        api = _wandb_api()
    try:
        found = list(api.runs(project, filters=query, order="+created_at"))
    except Exception as e:  # noqa: BLE001 - network, auth, unknown project: one line
        first = (str(e).splitlines() or [""])[0][:200]
        raise ConfigError("--wandb", project, f"a W&B project that can be read "
                          f"({type(e).__name__}: {first})") from None
    runs: list[Run] = []
    notes: list[str] = []
    n_local = 0
    latest: dict[str, Any] = {}  # api.runs lists runs oldest first: the last one wins
    for wr in found:
        h = wr.summary.get("config_hash")
        if isinstance(h, str):
            latest[h] = wr
    superseded = [str(wr.id) for wr in found if isinstance(wr.summary.get("config_hash"), str)
                  and latest[wr.summary["config_hash"]] is not wr]
    if superseded:
        notes.append(f"wandb:{project}: run(s) {', '.join(superseded)} superseded by a later "
                     "run of the same config (a resumed or rerun job); left out")
    for wr in found:
        if str(wr.id) in superseded:
            continue
        if str(wr.id) in skip_ids:
            n_local += 1
            continue
        source = f"wandb:{project}/{wr.id}"
        s = _wandb_summary(wr, source, by)
        if s is None:
            notes.append(f"{source}: not an snnrl train run (no agent, env_id or seed); "
                         "left out")
            continue
        v, problem = _metric_of(s, metric)
        runs.append(Run(Path(source), s, v, problem, source=source,
                        config=dict(wr.config or {})))
    if n_local:
        notes.append(f"wandb:{project}: {n_local} run(s) also in local run directories; "
                     "the directories' records are used")
    return runs, notes


# ----------------------------------------------------------------------------- aggregation


@dataclass
class Group:
    """Runs sharing the ``--by`` values, as a ``[seeds, envs]`` matrix of per-seed means."""

    key: tuple[Any, ...]
    label: str
    tasks: tuple[str, ...]
    seeds: list[Any]
    scores: np.ndarray
    """``[n_seeds, n_tasks]`` per-seed means (NaN: missing or not finite)."""
    runs: list[Run]
    estimates: dict[str, Any] = field(default_factory=dict)
    """``{"iqm" | "mean" | "median": Interval}``; empty when no seed is left."""
    n_dropped: int = 0
    energy: dict[str, float | None] = field(default_factory=dict)
    """``{chip: J per episode}``, median over seeds of per-seed means; None: no figure (the
    agent does not fit the chip)."""
    normalised: bool = False


@dataclass
class Comparison:
    """Everything a report shows."""

    metric: str
    by: tuple[str, ...]
    normalise: bool
    reps: int
    random_state: int
    inputs: list[str]
    runs: list[Run]
    groups: list[Group]
    excluded: list[Run]
    missing: list[Run]
    improvements: list[dict[str, Any]]
    profiles: dict[str, dict[str, Any]]
    """``{env_id: {group label: Profile}}``."""
    notes: list[str]
    raw_envs: list[str]
    """Envs left raw under ``--normalise`` (no references)."""


def _seed_key(s: Any) -> tuple[int, Any]:
    return (0, s) if isinstance(s, int | float) and not isinstance(s, bool) else (1, str(s))


def _label(by: Sequence[str], key: tuple[Any, ...], skip: Sequence[str] = ()) -> str:
    parts = [str(v) if k in ("agent", "env_id") else f"{k}={v}"
             for k, v in zip(by, key, strict=True) if k not in skip]
    return ", ".join(parts) or "all"


def _per_seed_matrix(runs: list[Run], tasks: tuple[str, ...], values: dict[int, float]
                     ) -> tuple[list[Any], np.ndarray]:
    """Mean of the runs of each (seed, task); NaN where a run's value is NaN or none ran."""
    cells: dict[tuple[Any, str], list[float]] = {}
    for r in runs:
        cells.setdefault((r.seed, r.env_id), []).append(values[id(r)])
    seeds = sorted({s for s, _ in cells}, key=_seed_key)
    m = np.full((len(seeds), len(tasks)), np.nan)
    for i, s in enumerate(seeds):
        for j, t in enumerate(tasks):
            v = cells.get((s, t))
            if v:
                m[i, j] = float(np.mean(v))  # NaN when any run of the seed has none
    return seeds, m


def compare(
    dirs: Sequence[Path],
    metric: str = "eval/return_mean",
    by: Sequence[str] = ("agent", "env_id"),
    normalise: bool = False,
    reps: int = 50_000,
    random_state: int = 0,
    wandb: Sequence[str] = (),
    wandb_filters: dict[str, Any] | None = None,
    api: Any = None,
) -> Comparison:
    """Read, group and aggregate the runs in ``dirs`` (see the module docstring).

    ``wandb``: W&B projects (``ENTITY/PROJECT``) to read runs from as well, with
    ``wandb_filters``; ``api`` stands in for ``wandb.Api()``.

    Raises:
        ConfigError: No run found, an unknown metric or ``--by`` key, or a malformed file.
    """
    from snnrl.eval.stats import interval_estimates, performance_profile
    from snnrl.eval.stats import probability_of_improvement as p_improve

    by = tuple(by)
    if not by or any(not k for k in by) or len(set(by)) != len(by):
        raise ConfigError("--by", ",".join(by), "distinct summary.json keys, comma-separated")
    if isinstance(reps, bool) or reps < 1:
        raise ConfigError("--reps", reps, "an integer >= 1")
    if random_state < 0:
        raise ConfigError("--random-state", random_state, "an integer >= 0")
    if normalise and "return" not in metric:
        raise ConfigError("--normalise", metric, "a return metric (it rescales returns between "
                          "env.random_return and env.oracle_return)")
    if not dirs and not wandb:
        raise _UsageError("give a run or sweep DIR, or --wandb ENTITY/PROJECT")
    run_dirs = find_run_dirs(dirs) if dirs else []
    runs = []
    for d in run_dirs:
        s = _load_summary(d, by)
        v, problem = _metric_of(s, metric)
        runs.append(Run(d, s, v, problem))
    notes: list[str] = []
    skip = local_wandb_ids(run_dirs) if wandb else set()
    for project in wandb:
        w_runs, w_notes = wandb_runs(project, metric, by, wandb_filters, api, skip)
        runs += w_runs
        notes += w_notes
        skip |= {r.source.rsplit("/", 1)[-1] for r in w_runs if r.source}
    if not runs:
        query = json.dumps({"jobType": "train", **(wandb_filters or {})})
        raise ConfigError("--wandb", ",".join(wandb),
                          f"a project holding snnrl train runs that match the filters {query}")
    known = sorted({k for r in runs for k in r.summary["metrics"]})
    if metric not in known:
        raise ConfigError("--metric", metric,
                          f"a metric of the runs' summary.json; found: {', '.join(known)}")

    included = [r for r in runs if r.status == "ok"]
    excluded = [r for r in runs if r.status != "ok"]
    missing = [r for r in included if r.problem is not None]
    raw_envs: list[str] = []
    env_normalised: dict[str, bool] = {}
    if normalise:
        refs = {id(r): _references(r.path, r.config) for r in included}
        for env in sorted({r.env_id for r in included}):
            env_runs = [r for r in included if r.env_id == env]
            env_normalised[env] = all(refs[id(r)] is not None for r in env_runs)
            if not env_normalised[env]:
                raw_envs.append(env)
                lacking = next(r for r in env_runs if refs[id(r)] is None)
                where = lacking.source or lacking.path / "config.yaml"
                notes.append(f"{env}: not normalised (no env.random_return and env.oracle_return "
                             f"in {where}); raw {metric} shown")
            elif len({refs[id(r)] for r in env_runs}) > 1:
                notes.append(f"{env}: runs have different references; each run is normalised "
                             "with its own config.yaml")
        for r in included:
            r.refs = refs[id(r)]
    for r in included:
        r.score = r.value
        if env_normalised.get(r.env_id) and r.refs is not None:
            lo, hi = r.refs
            r.score = (r.value - lo) / (hi - lo)

    by_key: dict[tuple[Any, ...], list[Run]] = {}
    for r in included:
        by_key.setdefault(tuple(r.summary[k] for k in by), []).append(r)
    groups: list[Group] = []
    for key in sorted(by_key, key=lambda k: tuple(str(x) for x in k)):
        g_runs = by_key[key]
        tasks = tuple(sorted({r.env_id for r in g_runs}))
        seeds, m = _per_seed_matrix(g_runs, tasks, {id(r): r.score for r in g_runs})
        g = Group(key, _label(by, key), tasks, seeds, m, g_runs,
                  normalised=all(env_normalised.get(t, False) for t in tasks))
        if len(tasks) > 1 and not g.normalised:
            notes.append(f"{g.label}: pools raw {metric} over {len(tasks)} envs "
                         f"({', '.join(tasks)}); use --normalise or add env_id to --by")
        bad_rows = np.isnan(m).any(axis=1)
        g.n_dropped = int(bad_rows.sum())
        if bad_rows.any():
            dropped = [seeds[i] for i in np.flatnonzero(bad_rows)]
            notes.append(f"{g.label}: seed(s) {', '.join(map(str, dropped))} dropped (no finite "
                         f"{metric}{' on every env' if len(tasks) > 1 else ''})")
        groups.append(g)
        _group_energy(g)

    usable = {g.label: g.scores for g in groups if g.n_dropped < len(g.seeds)}
    est = interval_estimates(usable, reps=reps, random_state=random_state)
    for g in groups:
        g.estimates = dict(est.get(g.label, {}))
        if g.estimates and not g.estimates["iqm"].has_ci:
            notes.append(f"{g.label}: one seed; no confidence interval")

    small_reps = min(reps, _PROFILE_REPS)
    improvements: list[dict[str, Any]] = []
    for i, g1 in enumerate(groups):
        for g2 in groups[i + 1:]:
            gx, gy = g1, g2
            if gx.tasks != gy.tasks or gx.label not in usable or gy.label not in usable:
                continue
            if gx.estimates["iqm"].point < gy.estimates["iqm"].point:
                gx, gy = gy, gx  # X is the group with the higher IQM: P(X > Y) >= 0.5 mostly
            imp = p_improve(gx.scores, gy.scores, reps=small_reps, random_state=random_state)
            improvements.append({"tasks": gx.tasks, "x": gx.label, "y": gy.label,
                                 "x_short": _label(by, gx.key, skip=("env_id",)),
                                 "y_short": _label(by, gy.key, skip=("env_id",)),
                                 "result": imp})
    profiles: dict[str, dict[str, Any]] = {}
    for env in sorted({t for g in groups for t in g.tasks}):
        cols = {g.label: g.scores[:, g.tasks.index(env)] for g in groups if env in g.tasks
                and not np.isnan(g.scores[:, g.tasks.index(env)]).all()}
        if cols:
            profiles[env] = performance_profile(cols, reps=small_reps, random_state=random_state)
    inputs = [str(d) for d in dirs] + [f"wandb:{p}" for p in wandb]
    return Comparison(metric, by, normalise, reps, random_state, inputs, runs,
                      groups, excluded, missing, improvements, profiles, notes, raw_envs)


def _group_energy(g: Group) -> None:
    """Median over seeds of per-seed mean J per episode, per chip with figures."""
    chips = sorted({k[len("energy/"):-len(_ENERGY_SUFFIX)] for r in g.runs
                    for k in r.summary["metrics"]
                    if k.startswith("energy/") and k.endswith(_ENERGY_SUFFIX)})
    for chip in chips:
        key = f"energy/{chip}{_ENERGY_SUFFIX}"
        per_seed: dict[Any, list[float]] = {}
        for r in g.runs:
            v = _as_float(r.summary["metrics"].get(key))
            if v is not None and math.isfinite(v):
                per_seed.setdefault(r.seed, []).append(v)
        g.energy[chip] = (float(np.median([np.mean(v) for v in per_seed.values()]))
                          if per_seed else None)


# -------------------------------------------------------------------------------- outputs


def _num(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    if x == 0:
        return "0"
    digits = max(0, 3 - math.floor(math.log10(abs(x))))
    return f"{x:,.{min(digits, 6)}f}"


def _ci(iv: Any) -> str:
    if iv is None:
        return "—"
    if not iv.has_ci:
        return f"{_num(iv.point)} [—]"
    return f"{_num(iv.point)} [{_num(iv.low)}, {_num(iv.high)}]"


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def _rliable_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rliable")
    except PackageNotFoundError:  # pragma: no cover - a dependency
        return "?"


def markdown(c: Comparison, figures: Sequence[str]) -> str:
    """The report ``compare.md``."""
    score = ("normalised " if c.normalise else "") + c.metric
    lines = [f"# snnrl compare: {score}", ""]
    lines.append(f"Inputs: {', '.join(f'`{d}`' for d in c.inputs)}. {len(c.runs)} runs found, "
                 f"{len(c.runs) - len(c.excluded)} with status ok, {len(c.excluded)} excluded.")
    lines.append("")
    lines.append(f"Runs of the same seed are averaged first; then IQM, mean and median over seeds "
                 f"with 95% stratified-bootstrap CIs (rliable {_rliable_version()}, "
                 f"{c.reps:,} resamples, random_state {c.random_state}; Agarwal et al. 2021). "
                 f"Groups by {', '.join(c.by)}.")
    if c.normalise:
        lines.append("")
        lines.append("Normalised score: (x - env.random_return) / (env.oracle_return - "
                     "env.random_return): 0 is random, 1 the oracle."
                     + (f" Left raw (no references): {', '.join(c.raw_envs)}." if c.raw_envs
                        else ""))
    lines += ["", "## Aggregates", ""]
    head = [*c.by, "envs" if "env_id" not in c.by else None, "seeds", "runs", "dropped",
            "IQM [95% CI]", "mean [95% CI]", "median [95% CI]",
            "score" if c.normalise else None]
    head = [h for h in head if h is not None]
    lines.append("| " + " | ".join(head) + " |")
    align = ["---"] * len(c.by) + (["---"] if "env_id" not in c.by else [])
    align += ["---:"] * 3 + ["---:"] * 3 + (["---"] if c.normalise else [])
    lines.append("|" + "|".join(align) + "|")
    for g in c.groups:
        e = g.estimates
        row = [str(v) for v in g.key]
        if "env_id" not in c.by:
            row.append(", ".join(g.tasks))
        row += [str(len(g.seeds) - g.n_dropped), str(len(g.runs)), str(g.n_dropped),
                _ci(e.get("iqm")), _ci(e.get("mean")), _ci(e.get("median"))]
        if c.normalise:
            row.append("normalised" if g.normalised else "raw")
        lines.append("| " + " | ".join(_md_escape(x) for x in row) + " |")
    if not c.groups:
        lines.append("| " + " | ".join(["—"] * len(head)) + " |")
    lines += ["", "seeds: seeds aggregated; runs: runs with status ok (several runs of one seed "
              "are averaged); dropped: seeds without a finite score."]
    if c.improvements:
        lines += ["", "## Probability of improvement", "",
                  "P(X > Y): chance that a random seed of X scores higher than one of Y (ties "
                  f"count half), with a 95% bootstrap CI ({min(c.reps, _PROFILE_REPS):,} "
                  "resamples).", "",
                  "| envs | X | Y | P(X > Y) [95% CI] | seeds X | seeds Y |",
                  "|---|---|---|---:|---:|---:|"]
        for imp in c.improvements:
            r = imp["result"]
            p = (f"{r.probability:.2f} [{r.low:.2f}, {r.high:.2f}]" if r.has_ci
                 else f"{r.probability:.2f} [—]")
            lines.append("| " + " | ".join(_md_escape(x) for x in (
                ", ".join(imp["tasks"]), imp["x_short"], imp["y_short"], p, str(r.n_x),
                str(r.n_y))) + " |")
    chips = sorted({chip for g in c.groups for chip in g.energy})
    if chips:
        lines += ["", "## Energy", "", "J per episode on each chip (energy/<chip>/J_per_episode), "
                  "median over seeds; — where the agent does not fit the chip.", "",
                  "| group | " + " | ".join(chips) + " |",
                  "|---|" + "---:|" * len(chips)]
        for g in c.groups:
            lines.append(f"| {_md_escape(g.label)} | "
                         + " | ".join("—" if g.energy.get(ch) is None else f"{g.energy[ch]:.3g}"
                                      for ch in chips) + " |")
    lines += ["", "## Excluded runs", ""]
    if c.excluded:
        lines += ["| run | agent | env_id | seed | status | reason |", "|---|---|---|---:|---|---|"]
        for r in c.excluded:
            lines.append("| " + " | ".join(_md_escape(str(x)) for x in (
                r.where, r.summary.get("agent", "?"), r.env_id, r.seed, r.status,
                r.summary.get("reason", "") or "")) + " |")
    else:
        lines.append("None: every run has status ok.")
    if c.missing:
        lines += ["", f"## Runs without a finite {c.metric}", "",
                  "| run | seed | problem |", "|---|---:|---|"]
        for r in c.missing:
            lines.append(f"| {_md_escape(r.where)} | {r.seed} | {r.problem} |")
    if c.notes:
        lines += ["", "## Notes", ""] + [f"- {_md_escape(n)}" for n in c.notes]
    if figures:
        lines += ["", "## Figures", ""] + [f"![{f}]({f})" for f in figures]
    return "\n".join(lines) + "\n"


def csv_text(c: Comparison) -> str:
    """``compare.csv``: one row per group."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    aggs = ("iqm", "mean", "median")
    w.writerow([*c.by, "envs", "metric", "normalised", "n_seeds", "n_runs", "n_dropped",
                *[f"{a}{s}" for a in aggs for s in ("", "_low", "_high")]])
    for g in c.groups:
        vals: list[Any] = []
        for a in aggs:
            iv = g.estimates.get(a)
            vals += ["", "", ""] if iv is None else [
                repr(x) if math.isfinite(x) else "" for x in (iv.point, iv.low, iv.high)]
        w.writerow([*g.key, ";".join(g.tasks), c.metric, g.normalised,
                    len(g.seeds) - g.n_dropped, len(g.runs), g.n_dropped, *vals])
    return buf.getvalue()


def as_json(c: Comparison) -> dict[str, Any]:
    """``compare.json``: the inputs, every group's per-seed scores and all estimates."""
    from dataclasses import asdict

    return {
        "metric": c.metric, "by": list(c.by), "normalise": c.normalise, "reps": c.reps,
        "random_state": c.random_state, "rliable": _rliable_version(), "inputs": c.inputs,
        "groups": [{
            "key": dict(zip(c.by, g.key, strict=True)), "label": g.label, "envs": list(g.tasks),
            "normalised": g.normalised, "seeds": g.seeds,
            "scores": [[None if math.isnan(x) else x for x in row] for row in g.scores.tolist()],
            "n_runs": len(g.runs), "n_dropped": g.n_dropped,
            "runs": [r.where for r in g.runs],
            "estimates": {k: asdict(v) for k, v in g.estimates.items()},
            "energy_J_per_episode": g.energy} for g in c.groups],
        "probability_of_improvement": [
            {"envs": list(i["tasks"]), "x": i["x"], "y": i["y"], **asdict(i["result"])}
            for i in c.improvements],
        "excluded": [{"run": r.where, "status": r.status,
                      "reason": r.summary.get("reason")} for r in c.excluded],
        "missing_metric": [{"run": r.where, "problem": r.problem} for r in c.missing],
        "notes": c.notes,
    }


# ---------------------------------------------------------------------------------- plots


def _read_curve(run: Run, key: str, notes: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    path = run.path / "metrics.jsonl"
    if run.source is not None or not path.is_file():  # W&B runs: history is not fetched
        return None
    xs, ys = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                notes.append(f"{path}: line {n} is not JSON; its learning curve is left out")
                return None
            v = _as_float(rec.get(key)) if isinstance(rec, dict) else None
            step = _as_float(rec.get("step")) if isinstance(rec, dict) else None
            if v is not None and step is not None and math.isfinite(v):
                xs.append(step)
                ys.append(v)
    if len(xs) < 2:
        return None
    order = np.argsort(xs, kind="stable")
    return np.asarray(xs)[order], np.asarray(ys)[order]


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 3)
    return (n + cols - 1) // cols, cols


def _colours(c: Comparison) -> dict[str, Any]:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10")
    return {g.label: cmap(i % 10) for i, g in enumerate(c.groups)}


def learning_curves_png(c: Comparison, curve_key: str | None) -> tuple[bytes | None, str]:
    """Per env: each group's IQM over seeds of the curve, band = 25-75% of seeds."""
    from snnrl.eval.stats import _rliable

    iqm = _rliable()[1].aggregate_iqm
    if curve_key is None:
        curve_key = c.metric
        probe = [_read_curve(r, c.metric, []) for g in c.groups for r in g.runs[:1]]
        if not any(p is not None for p in probe):
            curve_key = _CURVE_FALLBACK
    envs = sorted({t for g in c.groups for t in g.tasks})
    series: dict[str, list[tuple[str, np.ndarray, np.ndarray, np.ndarray | None]]] = {}
    for env in envs:
        for g in c.groups:
            runs = [r for r in g.runs if r.env_id == env]
            curves = {id(r): _read_curve(r, curve_key, c.notes) for r in runs}
            ok = [r for r in runs if curves[id(r)] is not None]
            if not ok:
                continue
            end = min(curves[id(r)][0][-1] for r in ok)  # type: ignore[index]
            start = max(curves[id(r)][0][0] for r in ok)  # type: ignore[index]
            grid = np.linspace(start, end, 200) if end > start else np.array([start])
            per_seed: dict[Any, list[np.ndarray]] = {}
            for r in ok:
                x, y = curves[id(r)]  # type: ignore[misc]
                if (c.normalise and "return" in curve_key and r.refs is not None
                        and g.normalised):
                    y = (y - r.refs[0]) / (r.refs[1] - r.refs[0])
                per_seed.setdefault(r.seed, []).append(np.interp(grid, x, y))
            ys = np.stack([np.mean(v, axis=0) for v in per_seed.values()])
            centre = np.array([iqm(ys[:, k]) for k in range(ys.shape[1])])
            band = np.percentile(ys, [25, 75], axis=0) if len(ys) > 1 else None
            series.setdefault(env, []).append((g.label, grid, centre, band))
    if not series:
        c.notes.append(f"no learning curves: no run's metrics.jsonl logs {curve_key} at two "
                       "or more steps")
        return None, curve_key
    plt = _pyplot()
    colours = _colours(c)
    rows, cols = _grid(len(series))
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.6 * rows), dpi=100,
                             squeeze=False)
    for ax, (env, lines) in zip(axes.flat, series.items(), strict=False):
        for label, grid, centre, band in lines:
            ax.plot(grid, centre, lw=1.5, color=colours[label], label=label)
            if band is not None:
                ax.fill_between(grid, band[0], band[1], color=colours[label], alpha=0.2, lw=0)
        ax.set_title(env, fontsize=10)
        ax.set_xlabel("env steps (all envs)")
        ax.set_ylabel(curve_key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(series):]:
        ax.set_visible(False)
    fig.suptitle("learning curves: IQM over seeds, band 25-75%", fontsize=10)
    fig.tight_layout()
    return _png(fig), curve_key


def _stability_curve(run: Run) -> tuple[np.ndarray, np.ndarray] | None:
    """``(end step, mean score)`` per window from ``eval/long_horizon/windows.csv``."""
    if run.path is None:
        return None
    path = Path(run.path) / "eval" / "long_horizon" / "windows.csv"
    if not path.is_file():
        return None
    try:
        with path.open() as f:
            rows = list(csv.DictReader(f))
        xs = np.array([float(r["end_step"]) for r in rows])
        ys = np.array([float(r["score_mean"]) for r in rows])
    except (OSError, KeyError, ValueError):
        return None
    return (xs, ys) if len(xs) else None


def stability_png(c: Comparison) -> bytes | None:
    """Per env: each group's long-horizon score per window (``snnrl eval``), IQM over seeds.

    Windows are one training lifetime long; the x axis is lifetime steps with plastic state never
    reset (docs/PROTOCOL.md v2). None when no run has a long-horizon evaluation.
    """
    from snnrl.eval.stats import _rliable

    iqm = _rliable()[1].aggregate_iqm
    series: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}
    for env in sorted({t for g in c.groups for t in g.tasks}):
        for g in c.groups:
            per_seed: dict[Any, list[np.ndarray]] = {}
            xs = None
            for r in g.runs:
                cur = _stability_curve(r) if r.env_id == env else None
                if cur is None:
                    continue
                if xs is None or len(cur[0]) < len(xs):
                    xs = cur[0]
                per_seed.setdefault(r.seed, []).append(cur[1])
            if xs is None:
                continue
            n = len(xs)
            ys = np.stack([np.mean([v[:n] for v in vals], axis=0) for vals in per_seed.values()])
            series.setdefault(env, []).append(
                (g.label, xs, np.array([iqm(ys[:, k]) for k in range(n)])))
    if not series:
        return None
    plt = _pyplot()
    colours = _colours(c)
    rows, cols = _grid(len(series))
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.6 * rows), dpi=100,
                             squeeze=False)
    for ax, (env, lines) in zip(axes.flat, series.items(), strict=False):
        for label, xs, ys in lines:
            ax.plot(xs, ys, lw=1.4, color=colours[label], label=label)
        ax.axhline(0.0, color="0.6", lw=0.8)
        if len(lines[0][1]) > 20:
            ax.set_xscale("log")
        ax.set_title(env, fontsize=10)
        ax.set_xlabel("lifetime steps (plastic state never reset)")
        ax.set_ylabel("normalised score per window")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(series):]:
        ax.set_visible(False)
    fig.suptitle("long-horizon stability: IQM over seeds", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def profile_png(c: Comparison) -> bytes | None:
    """Per env: fraction of seeds scoring above tau, with 95% bootstrap bands."""
    if not c.profiles:
        return None
    plt = _pyplot()
    colours = _colours(c)
    rows, cols = _grid(len(c.profiles))
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.6 * rows), dpi=100,
                             squeeze=False)
    for ax, (env, profs) in zip(axes.flat, c.profiles.items(), strict=False):
        for label, p in profs.items():
            ax.plot(p.taus, p.fraction, lw=1.5, color=colours[label], label=label)
            if not np.isnan(p.low).all():
                ax.fill_between(p.taus, p.low, p.high, color=colours[label], alpha=0.2, lw=0)
        ax.set_title(env, fontsize=10)
        ax.set_xlabel(("normalised " if c.normalise and env not in c.raw_envs else "")
                      + f"{c.metric} (tau)")
        ax.set_ylabel("fraction of seeds > tau")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(c.profiles):]:
        ax.set_visible(False)
    fig.suptitle("performance profiles (score distributions)", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points no other point beats (energy no higher and score no lower, one strictly).

    Example:
        >>> pareto_front([(1.0, 1.0), (2.0, 3.0), (2.0, 0.5), (3.0, 3.0)])
        [0, 1]
    """
    keep = []
    for i, (e, s) in enumerate(points):
        beaten = any((e2 <= e and s2 >= s) and (e2 < e or s2 > s)
                     for j, (e2, s2) in enumerate(points) if j != i)
        if not beaten:
            keep.append(i)
    return keep


def pareto_png(c: Comparison) -> bytes | None:
    """Per chip: J per episode (log) against the IQM score; the Pareto front joined."""
    chips = sorted({chip for g in c.groups for chip in g.energy})
    pts = {chip: [(g, e) for g in c.groups
                  if (e := g.energy.get(chip)) is not None and e > 0 and "iqm" in g.estimates]
           for chip in chips}
    pts = {k: v for k, v in pts.items() if v}
    if not pts:
        return None
    plt = _pyplot()
    colours = _colours(c)
    rows, cols = _grid(len(pts))
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), dpi=100, squeeze=False)
    for ax, (chip, gs) in zip(axes.flat, pts.items(), strict=False):
        xy = [(e, g.estimates["iqm"].point) for g, e in gs]
        front = pareto_front(xy)
        for i, (g, e) in enumerate(gs):
            iv = g.estimates["iqm"]
            yerr = ([[iv.point - iv.low], [iv.high - iv.point]] if iv.has_ci else None)
            ax.errorbar([e], [iv.point], yerr=yerr, fmt="o",
                        mfc=colours[g.label] if i in front else "none",
                        color=colours[g.label], label=g.label, capsize=3)
        fx = sorted(xy[i] for i in front)
        if len(fx) > 1:
            ax.plot([p[0] for p in fx], [p[1] for p in fx], "k--", lw=0.8, alpha=0.6)
        ax.set_xscale("log")
        ax.set_title(chip, fontsize=10)
        ax.set_xlabel("J per episode (median over seeds)")
        ax.set_ylabel(("normalised " if c.normalise else "") + f"{c.metric} (IQM)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(pts):]:
        ax.set_visible(False)
    fig.suptitle("energy vs score: filled = Pareto-optimal (less energy, higher score)",
                 fontsize=10)
    fig.tight_layout()
    return _png(fig)


# ------------------------------------------------------------------------------- command


def _write_outputs(out: Path, files: dict[str, bytes]) -> None:
    """Each file atomically; remove this command's files a previous report left and this lacks."""
    from snnrl.tracking import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        atomic_write(out / name, lambda f, d=data: f.write(d))
    for name in OUTPUT_FILES:
        if name not in files:
            (out / name).unlink(missing_ok=True)


def run_compare(argv: list[str], api: Any = None) -> int:
    """Entry point of ``snnrl compare``; returns the exit status.

    ``api`` stands in for ``wandb.Api()`` (tests).

    Raises:
        ConfigError: Bad input (nothing is written then).
    """
    try:
        a = _parser().parse_args(argv)
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    if a.out.exists() and not a.out.is_dir():
        raise ConfigError("--out", str(a.out), "a directory (or a path to create one at)")
    by = tuple(k.strip() for k in a.by.split(","))
    filters = None
    if a.wandb_filters is not None:
        try:
            filters = json.loads(a.wandb_filters)
        except ValueError:
            filters = None
        if not isinstance(filters, dict):
            raise ConfigError("--wandb-filters", a.wandb_filters,
                              "a JSON object (W&B's MongoDB-style run filters)")
    c = compare(a.dirs, a.metric, by, a.normalise, a.reps, a.random_state, a.wandb, filters, api)

    figures: dict[str, bytes] = {}
    curves, _ = learning_curves_png(c, a.curve_metric)
    for name, png in (("learning_curves.png", curves), ("performance_profile.png",
                                                        profile_png(c)),
                      ("energy_pareto.png", pareto_png(c)),
                      ("stability_curves.png", stability_png(c))):
        if png is not None:
            figures[name] = png
    text = json.dumps(_jsonable(as_json(c)), indent=2, sort_keys=True, allow_nan=False) + "\n"
    files = {"compare.md": markdown(c, list(figures)).encode(),
             "compare.csv": csv_text(c).encode(), "compare.json": text.encode(), **figures}
    _write_outputs(a.out, files)

    for g in c.groups:
        iv = g.estimates.get("iqm")
        print(f"{g.label}: IQM {_ci(iv)} over {len(g.seeds) - g.n_dropped} seeds"
              + (f" ({g.n_dropped} dropped)" if g.n_dropped else ""))
    for r in c.excluded:
        print(f"excluded: {r.where} ({r.status})")
    print(f"\nreport: {a.out / 'compare.md'}")
    return 0


def _jsonable(x: Any) -> Any:
    """NaN as null, NumPy scalars as Python numbers, tuples as lists."""
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x
