"""``snnrl tune``: hyper-parameter search with Optuna, one ``snnrl train`` per trial and seed.

::

    snnrl tune --study NAME [--storage DIR] [--trials N] [--seeds 100,101]
        --objective METRIC[:max|:min] [--objective ...] --param KEY=SPEC [--param ...]
        [--space FILE] [-- FIXED_OVERRIDES...]

A trial draws one value per ``--param`` and runs ``snnrl train`` in this process once per tuning
seed, into ``DIR/trials/NAME/<trial>/s<seed>``, with the fixed Hydra overrides given after
``--``; its value is the mean over the seeds of each objective, read from the runs'
``summary.json``. The study lives in an Optuna journal file, ``DIR/journal.log``: rerun the
command to resume it, or run the same command in several processes (on machines that share the
directory) to run trials in parallel. One objective: TPE sampler and median pruning after each
seed; several: NSGA-II (no pruning: Optuna cannot prune multi-objective studies) and the Pareto
front. The best trial's values go to ``DIR/NAME_best.yaml``, a Hydra config to copy into
``conf/``. docs/SWEEPS.md, "Hyperparameter search", is the manual.

Optuna is used directly: ``hydra-optuna-sweeper`` 1.3.0 pins ``optuna<3``.
"""

from __future__ import annotations

import argparse
import difflib
import math
import os
import re
import socket
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snnrl.cli.app import run_train_app
from snnrl.config import ConfigError

DEFAULT_SEEDS = (100, 101)
"""Tuning seeds; reported results use other seeds (docs/PROTOCOL.md: 1-10 on cart-pole)."""
JOURNAL = "journal.log"
ATTR = "snnrl_tune"
"""Study user attribute holding the search (params, objectives, seeds, fixed overrides)."""
PARAM_FORMS = ("KEY=float:LOW:HIGH[:log|:STEP], KEY=int:LOW:HIGH[:log|:STEP] or "
               "KEY=categorical:A,B[,...]")
_KEY = re.compile(r"^[A-Za-z_][\w-]*(?:[./][A-Za-z_][\w-]*)*$")
_METRIC = re.compile(r"^[\w.@-]+(?:/[\w.@-]+)*$")
_STUDY = re.compile(r"^[A-Za-z0-9][\w.-]*$")
_DIRECTIONS = {"max": "maximize", "maximize": "maximize", "min": "minimize",
               "minimize": "minimize"}
_HOST = socket.gethostname()


class TuneInputError(ConfigError):
    """Bad input to ``snnrl tune``, as one line (``snnrl: error: ...``, exit 2)."""

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.key, self.got, self.expected = "snnrl tune", None, message


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # noqa: D102 - argparse hook
        raise TuneInputError(f"snnrl tune: {message} (see snnrl tune --help)")


# ------------------------------------------------------------------------------ the search


def _num(text: str, kind: str) -> float | int:
    """``text`` as an int (``kind == "int"``) or a finite float, or ValueError."""
    value: float | int = int(text) if kind == "int" else float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _format(value: Any) -> str:
    """A sampled value as Hydra override text (floats exactly, via repr)."""
    return repr(value) if isinstance(value, float) else str(value)


def _split_choices(text: str) -> list[str]:
    """Split ``A,B,...`` at commas outside brackets and quotes: ``[16],[32, 32]`` is two."""
    parts, cur, depth, quote = [], [], 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


@dataclass(frozen=True)
class Param:
    """One searched config key and its range (an Optuna distribution)."""

    key: str
    kind: str  # float | int | categorical
    low: float | int = 0
    high: float | int = 0
    log: bool = False
    step: float | int | None = None
    choices: tuple[str, ...] = ()

    @property
    def spec(self) -> str:
        """Canonical ``TYPE:...`` text, as stored in the study."""
        if self.kind == "categorical":
            return "categorical:" + ",".join(self.choices)
        tail = ":log" if self.log else ("" if self.step is None else f":{self.step}")
        return f"{self.kind}:{self.low}:{self.high}{tail}"

    def distribution(self) -> Any:
        """The Optuna distribution of this parameter."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.kind == "categorical":
            return CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log,
                                   step=int(self.step or 1))
        return FloatDistribution(float(self.low), float(self.high), log=self.log,
                                 step=None if self.step is None else float(self.step))

    def override(self, value: Any) -> str:
        """The Hydra override that sets this key to ``value``."""
        return f"{self.key}={_format(value)}"

    def extremes(self) -> list[Any]:
        """The values checked before a study starts: both ends, or every choice."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]


def parse_param(text: str) -> Param:
    """Parse ``KEY=TYPE:...`` (see :data:`PARAM_FORMS`).

    Raises:
        ConfigError: a malformed spec, empty or reversed range, log scale over values <= 0,
            a step that does not divide the range, fewer than two or repeated choices, or a
            key that ``snnrl tune`` sets itself (``seed``, ``progress``, ``hydra.*``).
    """
    key, sep, spec = (s.strip() for s in text.partition("="))

    def bad(expected: str) -> ConfigError:
        return ConfigError("--param", text, expected)

    if not sep or not key or not spec:
        raise bad(PARAM_FORMS)
    if not _KEY.match(key):
        raise bad(f"a config key such as agent.init_gain before '=' ({PARAM_FORMS})")
    if key in ("seed", "progress") or key.split(".")[0].split("/")[0] == "hydra":
        raise bad("a key other than seed, progress and hydra.* (snnrl tune sets those; the "
                  "seeds are --seeds)")
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "categorical":
        choices = tuple(_split_choices(rest))
        if len(choices) < 2 or "" in choices:
            raise bad("categorical:A,B[,...] with at least two non-empty choices (a single "
                      "value is a fixed override after --)")
        if len(set(choices)) != len(choices):
            raise bad("categorical choices without repeats")
        _check_override_values(key, choices, text)
        return Param(key, "categorical", choices=choices)
    if kind not in ("float", "int"):
        raise bad(PARAM_FORMS)
    fields = [f.strip() for f in rest.split(":")]
    if len(fields) not in (2, 3):
        raise bad(PARAM_FORMS)
    try:
        low, high = _num(fields[0], kind), _num(fields[1], kind)
    except ValueError:
        raise bad(f"LOW and HIGH as {'integers' if kind == 'int' else 'finite numbers'} "
                  f"({PARAM_FORMS})") from None
    if not low < high:
        raise bad(f"LOW < HIGH ({PARAM_FORMS})")
    log, step = False, None
    if len(fields) == 3:
        if fields[2].lower() == "log":
            log = True
        else:
            try:
                step = _num(fields[2], kind)
            except ValueError:
                raise bad(f"'log' or a STEP > 0 as the last field ({PARAM_FORMS})") from None
            if not step > 0:
                raise bad(f"'log' or a STEP > 0 as the last field ({PARAM_FORMS})")
            n = (high - low) / step
            if abs(n - round(n)) > 1e-9 * max(1.0, abs(n)):
                raise bad(f"a STEP that divides HIGH - LOW = {high - low}")
    if log and not low > 0:
        raise bad("LOW > 0 on a log scale")
    return Param(key, kind, low, high, log, step)


def _check_override_values(key: str, values: tuple[str, ...], where: str) -> None:
    """Each ``KEY=value`` must be one Hydra override value (not a sweep, valid syntax)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for v in values:
        try:
            o = parser.parse_override(f"{key}={v}")
        except HydraException:
            raise ConfigError("--param", where, f"each choice a Hydra value; {v!r} is not "
                              "(lists as [16,16], strings with commas quoted)") from None
        if o.is_sweep_override():
            raise ConfigError("--param", where, f"each choice one value; {v!r} is a sweep")


@dataclass(frozen=True)
class Objective:
    """A metric of the runs' ``summary.json`` and its direction."""

    name: str
    direction: str  # maximize | minimize

    @property
    def spec(self) -> str:
        """Canonical ``METRIC:max|min`` text."""
        return f"{self.name}:{self.direction[:3]}"


def parse_objective(text: str) -> Objective:
    """Parse ``METRIC[:max|:min]`` (default ``max``).

    Raises:
        ConfigError: not a metric name, or another direction.
    """
    name, sep, direction = text.strip().rpartition(":")
    if not sep:
        name, direction = text.strip(), "max"
    d = _DIRECTIONS.get(direction.strip().lower())
    if d is None or not _METRIC.match(name):
        raise ConfigError("--objective", text, "METRIC[:max|:min] with METRIC a summary.json "
                          "metric such as eval/return_mean")
    return Objective(name, d)


def parse_seeds(text: str) -> tuple[int, ...]:
    """Parse ``100,101``: distinct integers >= 0.

    Raises:
        ConfigError: anything else.
    """
    try:
        seeds = tuple(int(s) for s in text.split(","))
    except ValueError:
        seeds = ()
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise ConfigError("--seeds", text, "distinct integers >= 0 separated by commas, e.g. "
                          "100,101 (tuning seeds, disjoint from the reported ones)")
    return seeds


@dataclass(frozen=True)
class Search:
    """What a study searches: it is stored in the study and must match when resumed."""

    params: tuple[Param, ...]
    objectives: tuple[Objective, ...]
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    overrides: tuple[str, ...] = ()

    @property
    def multi(self) -> bool:
        """Several objectives (a Pareto front, no pruning)."""
        return len(self.objectives) > 1

    def record(self) -> dict[str, Any]:
        """JSON-able form stored as the study's user attribute :data:`ATTR`."""
        return {"params": {p.key: p.spec for p in self.params},
                "objectives": [o.spec for o in self.objectives],
                "seeds": list(self.seeds), "overrides": list(self.overrides)}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Search:
        """Inverse of :meth:`record`."""
        return cls(tuple(parse_param(f"{k}={v}") for k, v in rec["params"].items()),
                   tuple(parse_objective(o) for o in rec["objectives"]),
                   tuple(int(s) for s in rec["seeds"]), tuple(rec["overrides"]))


def check_fixed(overrides: list[str], params: list[Param]) -> None:
    """Fixed overrides: valid Hydra syntax, one value each, none that ``snnrl tune`` sets.

    Raises:
        ConfigError: the first bad override, named.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from snnrl.cli.main import _one_line

    parser = OverridesParser.create()
    searched = {p.key for p in params}
    for text in overrides:
        if text.startswith("-"):
            raise ConfigError("override", text, "Hydra overrides KEY=VALUE after -- (no -m or "
                              "other flags: the trials are the sweep)")
        try:
            o = parser.parse_override(text)
        except HydraException as e:
            raise TuneInputError(_one_line(e)) from None
        key = o.key_or_group
        if o.is_sweep_override():
            raise ConfigError("override", text, "one value per key (search a key with --param)")
        if key == "seed":
            raise ConfigError("override", text, "no seed= override: the seeds are --seeds")
        if key.startswith(("hydra.run", "hydra.sweep")):
            raise ConfigError("override", text, "no hydra.run/hydra.sweep override: snnrl tune "
                              "puts each run in DIR/trials/STUDY/TRIAL/sSEED")
        if key in searched:
            raise ConfigError("override", text, f"a key not also searched by --param {key}")


def check_composes(search: Search) -> None:
    """Compose and validate the training config at every end of the search space.

    Catches, before anything is written, an unknown key, a value of the wrong type, a missing
    config group option or a budget that no trial could run (``snnrl.cli.train.validate``).

    Raises:
        ConfigError: the first config that fails, as one line naming the key.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from snnrl.cli.app import conf_dir
    from snnrl.cli.main import _one_line
    from snnrl.cli.train import validate
    from snnrl.config import register_schemas

    register_schemas()
    base = {p.key: p.extremes()[0] for p in search.params}
    points = [base, {p.key: p.extremes()[-1] for p in search.params}]
    for p in search.params:
        points += [base | {p.key: v} for v in p.extremes()[1:-1]]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(conf_dir()), version_base="1.3"):
            for point in points:
                values = [p.override(point[p.key]) for p in search.params]
                at = f" (checking the search space at {' '.join(values)})" if values else ""
                try:
                    validate(compose("train", overrides=[*search.overrides, *values,
                                                         f"seed={search.seeds[0]}"]))
                except ConfigError as e:
                    raise TuneInputError(f"{e}{at}") from None
                except (HydraException, OmegaConfBaseException) as e:
                    raise TuneInputError(f"{_one_line(e)}{at}") from None
    finally:
        GlobalHydra.instance().clear()


def load_space(path: Path) -> dict[str, Any]:
    """Read a search-space file (YAML; ``params``, ``objectives``, ``seeds``, ``overrides``).

    Raises:
        ConfigError: unreadable, not a mapping, an unknown key or a value of the wrong shape.
    """
    import yaml

    if not path.is_file():
        raise ConfigError("--space", str(path), "an existing YAML file")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError("--space", str(path), f"a readable YAML file ({type(e).__name__})"
                          ) from None
    if not isinstance(data, dict):
        raise ConfigError("--space", str(path), "a mapping with params, objectives, seeds, "
                          "overrides")
    unknown = sorted(set(data) - {"params", "objectives", "seeds", "overrides"})
    if unknown:
        raise ConfigError(f"{path}: {unknown[0]}", data[unknown[0]],
                          "one of params, objectives, seeds, overrides")
    out: dict[str, Any] = {}
    params = data.get("params") or {}
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise ConfigError(f"{path}: params", params, "a mapping KEY: SPEC, e.g. "
                          "agent.init_gain: float:0.25:4:log")
    out["params"] = [f"{k}={v}" for k, v in params.items()]
    objectives = data.get("objectives") or []
    objectives = [objectives] if isinstance(objectives, str) else objectives
    if not isinstance(objectives, list) or not all(isinstance(o, str) for o in objectives):
        raise ConfigError(f"{path}: objectives", objectives, "a list of METRIC[:max|:min]")
    out["objectives"] = objectives
    seeds = data.get("seeds")
    if seeds is not None:
        if isinstance(seeds, list) and all(isinstance(s, int) for s in seeds):
            seeds = ",".join(str(s) for s in seeds)
        if not isinstance(seeds, str | int):
            raise ConfigError(f"{path}: seeds", seeds, "a list of integers")
        out["seeds"] = parse_seeds(str(seeds))
    overrides = data.get("overrides") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError(f"{path}: overrides", overrides, "a list of Hydra overrides KEY=VALUE")
    out["overrides"] = overrides
    return out


def search_from_args(a: argparse.Namespace, fixed: list[str]) -> Search | None:
    """The search the command line (and ``--space``) describes; None if it describes none.

    Raises:
        ConfigError: a bad spec, a key searched twice, an objective given twice.
    """
    space = load_space(a.space) if a.space is not None else {}
    param_texts = [*space.get("params", []), *a.param]
    objective_texts = [*space.get("objectives", []), *a.objective]
    overrides = [*space.get("overrides", []), *fixed]
    if not (param_texts or objective_texts or overrides or a.space is not None):
        if a.seeds is not None:
            raise ConfigError("--seeds", a.seeds, "--objective and --param with it (a study's "
                              "seeds are fixed when it starts)")
        return None
    params = [parse_param(t) for t in param_texts]
    keys = [p.key for p in params]
    for k in keys:
        if keys.count(k) > 1:
            raise ConfigError("--param", k, "each key searched once")
    if not params:
        raise ConfigError("--param", None, f"at least one {PARAM_FORMS}")
    objectives = [parse_objective(t) for t in objective_texts]
    names = [o.name for o in objectives]
    for n in names:
        if names.count(n) > 1:
            raise ConfigError("--objective", n, "each metric once")
    if not objectives:
        raise ConfigError("--objective", None, "at least one METRIC[:max|:min], e.g. "
                          "--objective eval/return_mean:max")
    seeds = (parse_seeds(a.seeds) if a.seeds is not None
             else space.get("seeds", DEFAULT_SEEDS))
    check_fixed(overrides, params)
    return Search(tuple(params), tuple(objectives), tuple(seeds), tuple(overrides))


# ------------------------------------------------------------------------------ Optuna


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise TuneInputError("snnrl tune needs Optuna >= 4: pip install \"snnrl[full]\" (or "
                             "pip install \"optuna>=4\")") from None
    return optuna


def journal_storage(path: Path) -> Any:
    """An Optuna journal storage over the file ``path`` (created if absent).

    The file backend is ``optuna.storages.journal.JournalFileBackend`` from Optuna 4.0,
    ``optuna.storages.JournalFileStorage`` before; its lock lets several processes share it.
    """
    optuna = _optuna()
    try:
        from optuna.storages.journal import JournalFileBackend as Backend
    except ImportError:  # optuna 3.x
        Backend = optuna.storages.JournalFileStorage
    return optuna.storages.JournalStorage(Backend(str(path)))


def _counted(trials: list[Any]) -> int:
    """Trials that count towards ``--trials``: all but waiting and void ones."""
    from optuna.trial import TrialState

    return sum(1 for t in trials if t.state != TrialState.WAITING and not t.user_attrs.get("void"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _void(study: Any, trial: Any, reason: str, *, resume: bool) -> bool:
    """Fail a running trial that does not count (interrupted, surplus, stopped by bad input).

    With ``resume``, its parameters are queued again and the next trial to take them runs in
    its run directories, so finished seeds are skipped and ES/BPTT resume from their learner
    state. Returns False if another process finished the trial first.
    """
    from optuna.trial import TrialState

    storage = study._storage  # the public BaseStorage API, reached for trials we do not own
    try:
        storage.set_trial_user_attr(trial._trial_id, "void", reason)
        storage.set_trial_user_attr(trial._trial_id, "reason", reason)
        study.tell(trial.number, state=TrialState.FAIL)
    except (RuntimeError, ValueError):
        return False
    if resume and trial.params:
        runs_in = trial.user_attrs.get("resumes", trial.number)
        study.enqueue_trial(dict(trial.params), user_attrs={"resumes": runs_in})
    return True


def recover(study: Any, fail_running: bool) -> list[int]:
    """Void and queue again the trials left running by a process that is gone.

    A trial is known to be orphaned when it was started on this host by a process that no
    longer exists (or by this process); ``fail_running`` treats every running trial so (use it
    when no other process works on the study). Returns the numbers of the trials voided.
    """
    from optuna.trial import TrialState

    done = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        host, pid = t.user_attrs.get("host"), t.user_attrs.get("pid")
        orphan = host == _HOST and isinstance(pid, int) and (pid == os.getpid()
                                                             or not _alive(pid))
        if (orphan or fail_running) and _void(study, t, "interrupted (its process is gone)",
                                              resume=True):
            done.append(t.number)
    return done


# ------------------------------------------------------------------------------ trials


@dataclass
class Outcome:
    """How a trial ended."""

    state: str  # complete | pruned | fail
    values: list[float] | None = None
    reason: str = ""
    per_seed: dict[int, list[float]] = field(default_factory=dict)


def _hydra_value(path: Path) -> str:
    text = str(path)
    if re.fullmatch(r"[\w./-]+", text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _train(overrides: list[str]) -> None:
    """One ``snnrl train`` in this process; exceptions reach the caller (no Hydra report)."""
    from snnrl.cli.main import _DropHydraJobError

    saved_env = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    saved_stderr = sys.stderr
    sys.stderr = _DropHydraJobError(saved_stderr)  # type: ignore[assignment]
    try:
        run_train_app(overrides)
    finally:
        sys.stderr = saved_stderr
        if saved_env is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved_env


def _missing_metric(name: str, metrics: dict[str, Any], path: Path) -> TuneInputError:
    close = difflib.get_close_matches(name, list(metrics), n=3, cutoff=0.5)
    hint = f"; close: {', '.join(close)}" if close else ""
    return TuneInputError(
        f"--objective {name}: not a metric of {path}{hint} (stability/hK/... needs "
        "eval.horizons=[K] after --, energy/... an agent with op counters)")


def _why_null(name: str) -> str:
    if "/return" in name:
        return (" (no episode ended in the scored window; eval/reward_rate_mean or "
                "eval/fitness_mean score every run)")
    if name.startswith("energy/"):
        return " (the agent does not fit that chip)"
    return ""


def run_trial(trial: Any, search: Search, trial_dir: Path) -> Outcome:
    """Run one trial: ``snnrl train`` per seed, then the mean over seeds of each objective.

    Single-objective trials report the running mean after each seed and stop when the pruner
    says so.

    Raises:
        TuneInputError: a run refused its config (bad input, the same for every trial), or an
            objective is not a metric of the runs at all.
    """
    import json

    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from snnrl.cli.main import _one_line

    values = [p.override(trial.params[p.key]) for p in search.params]
    out = Outcome("complete")
    for i, seed in enumerate(search.seeds):
        run_dir = trial_dir / f"s{seed}"
        try:
            _train([*search.overrides, *values, f"seed={seed}",
                    f"hydra.run.dir={_hydra_value(run_dir)}", "progress=false"])
        except ConfigError as e:
            raise TuneInputError(f"{e} (trial {trial.number}, s{seed})") from None
        except (HydraException, OmegaConfBaseException) as e:
            raise TuneInputError(f"{_one_line(e)} (trial {trial.number}, s{seed})") from None
        except Exception as e:  # noqa: BLE001 - the run recorded it; the trial fails with it
            out.state, out.reason = "fail", f"s{seed}: {type(e).__name__}: {e}"
            return out
        try:
            summary = json.loads((run_dir / "summary.json").read_text())
        except (OSError, ValueError) as e:
            out.state, out.reason = "fail", f"s{seed}: no readable summary.json ({e})"
            return out
        status, why = summary.get("status"), summary.get("reason", "")
        if status == "diverged":
            out.state, out.reason = "pruned", f"s{seed} diverged: {why}"
            return out
        if status != "ok":
            out.state, out.reason = "fail", f"s{seed}: status {status}: {why}"
            return out
        metrics = summary.get("metrics") or {}
        got = []
        for o in search.objectives:
            if o.name not in metrics:
                raise _missing_metric(o.name, metrics, run_dir / "summary.json")
            v = metrics[o.name]
            if not isinstance(v, int | float) or not math.isfinite(v):
                out.state, out.reason = "fail", f"s{seed}: {o.name} is {v}{_why_null(o.name)}"
                return out
            got.append(float(v))
        out.per_seed[seed] = got
        trial.set_user_attr("per_seed", {str(s): v for s, v in out.per_seed.items()})
        if not search.multi:
            running = statistics.fmean(v[0] for v in out.per_seed.values())
            trial.report(running, i)
            if i < len(search.seeds) - 1 and trial.should_prune():
                out.state = "pruned"
                out.reason = f"pruned after s{seed}: running mean {running:.4g}"
                return out
    out.values = [statistics.fmean(v[j] for v in out.per_seed.values())
                  for j in range(len(search.objectives))]
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _trial_line(number: int, out: Outcome, search: Search, params: dict[str, Any]) -> str:
    given = ", ".join(f"{k}={_fmt(v)}" for k, v in params.items())
    if out.state == "complete":
        assert out.values is not None
        vals = ", ".join(f"{o.name}={_fmt(v)}" for o, v in zip(search.objectives, out.values,
                                                                strict=True))
        seeds = ", ".join(f"s{s} {_fmt(v[0])}" for s, v in out.per_seed.items())
        return f"snnrl tune: trial {number} complete: {vals} [{seeds}] ({given})"
    word = "pruned" if out.state == "pruned" else "failed"
    return f"snnrl tune: trial {number} {word}: {out.reason}; the study goes on ({given})"


def optimize(study: Any, search: Search, n_trials: int, trials_root: Path) -> int:
    """Run trials until the study holds ``n_trials`` counted ones; return how many ran here.

    Several processes may run this on one study: the journal numbers trials in order, and a
    trial that finds ``n_trials`` counted ones before it is voided (surplus) instead of run.
    """
    from optuna.trial import TrialState

    dists = {p.key: p.distribution() for p in search.params}
    ran = 0
    while _counted(study.get_trials(deepcopy=False)) < n_trials:
        trial = study.ask(dists)
        trial.set_user_attr("host", _HOST)
        trial.set_user_attr("pid", os.getpid())
        earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
        if _counted(earlier) >= n_trials:
            _void(study, trial, "surplus (another process ran the last trial)",
                  resume="resumes" in trial.user_attrs)
            break
        runs_in = trial.user_attrs.get("resumes", trial.number)
        trial.set_user_attr("run_dir", str(trials_root / str(runs_in)))
        try:
            out = run_trial(trial, search, trials_root / str(runs_in))
        except KeyboardInterrupt:
            _void(study, trial, "interrupted", resume=True)
            raise
        except BaseException as e:
            _void(study, trial, f"stopped: {e}", resume=False)
            raise
        if out.reason:
            trial.set_user_attr("reason", out.reason)
        if out.state == "complete":
            study.tell(trial, out.values)
        else:
            study.tell(trial, state=TrialState.PRUNED if out.state == "pruned"
                       else TrialState.FAIL)
        ran += 1
        print(_trial_line(trial.number, out, search, trial.params), flush=True)
    return ran


# ------------------------------------------------------------------------------ report


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, *rows]]
    return "\n".join("  " + x for x in lines)


def best_trials(study: Any, search: Search, top: int) -> list[Any]:
    """The best ``top`` complete trials (one objective), or the Pareto front (several)."""
    from optuna.trial import TrialState

    if search.multi:
        return sorted(study.best_trials, key=lambda t: (
            t.values[0] if search.objectives[0].direction == "minimize" else -t.values[0],
            t.number))
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    sign = 1.0 if search.objectives[0].direction == "minimize" else -1.0
    return sorted(done, key=lambda t: (sign * t.value, t.number))[:top]


def _state(t: Any) -> str:
    if t.user_attrs.get("void"):
        return "void"
    return {"FAIL": "failed"}.get(t.state.name, t.state.name.lower())


def report(study: Any, search: Search, best: list[Any]) -> str:
    """The counts per state, the best trials (or Pareto front) and why trials failed."""
    from optuna.trial import TrialState

    states = Counter(_state(t) for t in study.get_trials(deepcopy=False))
    n = sum(states.values())
    parts = ", ".join(f"{c} {s}" for s, c in sorted(states.items(), key=lambda x: -x[1]))
    lines = [f"snnrl tune: study {study.study_name}: {n} trials ({parts})"]
    seeds = ", ".join(str(s) for s in search.seeds)
    objs = ", ".join(f"{o.name} ({o.direction[:3]})" for o in search.objectives)
    if best:
        title = "Pareto front" if search.multi else "best trials"
        lines.append(f"{title}: {objs}, mean over tuning seeds {seeds}")
        header = ["trial", *(o.name for o in search.objectives)]
        if not search.multi:
            header += [f"s{s}" for s in search.seeds]
        header += [p.key for p in search.params]
        rows = []
        for t in best:
            row = [str(t.number), *(_fmt(v) for v in t.values)]
            if not search.multi:
                per = t.user_attrs.get("per_seed", {})
                row += [_fmt(per[str(s)][0]) if str(s) in per else "-" for s in search.seeds]
            row += [_fmt(t.params[p.key]) for p in search.params]
            rows.append(row)
        lines.append(_table(header, rows))
    else:
        lines.append("no trial has completed yet")
    failed = [t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,
                                                                     TrialState.PRUNED))
              if t.user_attrs.get("reason")]
    for t in failed[-5:]:
        lines.append(f"  trial {t.number} {_state(t)}: {t.user_attrs['reason']}")
    return "\n".join(lines)


def _nest(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, v in values.items():
        node = out
        *path, last = key.split(".")
        for k in path:
            node = node.setdefault(k, {})
        node[last] = v
    return out


def best_yaml(study: Any, search: Search, best: list[Any], storage: Path) -> str:
    """A Hydra config (``# @package _global_``) holding the best trial's values.

    Several objectives: the Pareto trial best on the first objective; every Pareto trial is
    listed in the header comments with its overrides.
    """
    import datetime

    import yaml
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from snnrl.cli.app import conf_dir

    t = best[0]
    parser = OverridesParser.create()
    groups, values = [], {}
    for p in search.params:
        text = _format(t.params[p.key])
        if "." not in p.key and (conf_dir() / p.key).is_dir():
            groups.append({f"override /{p.key}": text})
        else:
            values[p.key] = parser.parse_override(f"{p.key}={text}").value()
    objs = ", ".join(f"{o.name} ({o.direction[:3]}) = {_fmt(v)}"
                     for o, v in zip(search.objectives, t.values, strict=True))
    tuned = " ".join(p.override(t.params[p.key]) for p in search.params)
    n = len(study.get_trials(deepcopy=False))
    head = [
        "# @package _global_",
        f"# snnrl tune: study {study.study_name} in {storage}, trial {t.number} of {n}"
        + (" (Pareto front: best on the first objective)" if search.multi else ""),
        f"# {objs}; mean over tuning seeds {', '.join(str(s) for s in search.seeds)} "
        "(report on other seeds)",
        f"# fixed overrides: {' '.join(search.overrides) or '(none)'}",
        f"# tuned: {tuned}",
    ]
    if search.multi:
        for b in best:
            vals = ", ".join(_fmt(v) for v in b.values)
            head.append(f"# pareto trial {b.number} ({vals}): "
                        + " ".join(p.override(b.params[p.key]) for p in search.params))
    head.append(f"# written {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    body: dict[str, Any] = {}
    if groups:
        body["defaults"] = groups
    body |= _nest(values)
    return "\n".join(head) + "\n" + yaml.safe_dump(body, sort_keys=False,
                                                   default_flow_style=False)


# ------------------------------------------------------------------------------ command


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="snnrl tune", description="Hyper-parameter search with Optuna: one snnrl "
                "train per trial and tuning seed, the mean over seeds as the objective. Fixed "
                "Hydra overrides go after --.",
                epilog="e.g. snnrl tune --study rstdp-lr --trials 20 --objective "
                "eval/return_mean:max --param agent.lr=float:1e-4:1e-2:log -- env=cartpole")
    p.add_argument("--study", required=True, help="study name (resumed if it exists)")
    p.add_argument("--storage", type=Path, default=Path("runs/tune"),
                   help=f"directory of the journal ({JOURNAL}), the trials' runs and "
                   "STUDY_best.yaml (default runs/tune)")
    p.add_argument("--trials", type=int, default=20,
                   help="trials the study should hold in all (default 20); a rerun adds the "
                   "missing ones")
    p.add_argument("--seeds", default=None,
                   help="tuning seeds, e.g. 100,101 (default); disjoint from reported seeds")
    p.add_argument("--objective", action="append", default=[], metavar="METRIC[:max|:min]",
                   help="a summary.json metric (repeat for a multi-objective study)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=SPEC",
                   help=PARAM_FORMS.replace("%", "%%"))
    p.add_argument("--space", type=Path, default=None,
                   help="YAML file with params (KEY: SPEC), objectives, seeds, overrides")
    p.add_argument("--sampler", choices=("auto", "tpe", "random", "nsga2"), default="auto",
                   help="auto: tpe for one objective, nsga2 for several")
    p.add_argument("--sampler-seed", type=int, default=None,
                   help="seed of the sampler (each process derives its own from it)")
    p.add_argument("--population", type=int, default=None,
                   help="NSGA-II population (default: trials/4 in [4, 50], fixed at creation)")
    p.add_argument("--pruner", choices=("auto", "median", "none"), default="auto",
                   help="auto: median for one objective (after each seed), none for several")
    p.add_argument("--prune-startup", type=int, default=5,
                   help="complete trials before the median pruner prunes (default 5)")
    p.add_argument("--top", type=int, default=5, help="best trials listed (one objective)")
    p.add_argument("--fail-running", action="store_true",
                   help="void (and queue again) every trial left running, e.g. by a machine "
                   "that died; only when no other process works on the study")
    return p


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    head, fixed = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv \
        else (argv, [])
    a, extra = _parser().parse_known_args(head)
    if extra:
        raise TuneInputError(f"snnrl tune: unrecognized arguments: {' '.join(extra)} (fixed "
                             "Hydra overrides go after --)")
    if not _STUDY.match(a.study):
        raise ConfigError("--study", a.study, "a name of letters, digits, '_', '-', '.'")
    for name in ("trials", "prune_startup", "top"):
        if getattr(a, name) < (1 if name == "top" else 0):
            raise ConfigError(f"--{name.replace('_', '-')}", getattr(a, name),
                              "an integer >= " + ("1" if name == "top" else "0"))
    if a.population is not None and a.population < 2:
        raise ConfigError("--population", a.population, "an integer >= 2")
    return a, fixed


def _differences(stored: dict[str, Any], given: dict[str, Any]) -> str:
    return ", ".join(f"{k} {given[k]} (the study has {stored.get(k)})" for k in given
                     if stored.get(k) != given[k])


def open_study(a: argparse.Namespace, given: Search | None) -> tuple[Any, Search]:
    """Create or load the study; check a resumed one searches what the command says.

    Raises:
        ConfigError: no such study and no search given, a search that differs from the
            study's, or trial directories left by an earlier study of that name.
    """
    optuna = _optuna()
    path = a.storage / JOURNAL
    if given is None and not path.is_file():
        raise ConfigError("--study", a.study, f"a study in {path} (none there), or "
                          "--objective and --param to start one")
    if given is not None and a.storage.exists() and not a.storage.is_dir():
        raise ConfigError("--storage", str(a.storage), "a directory")
    a.storage.mkdir(parents=True, exist_ok=True)
    storage = journal_storage(path)
    exists = a.study in optuna.study.get_all_study_names(storage)
    if not exists and given is None:
        raise ConfigError("--study", a.study, f"a study in {path} (it has "
                          f"{', '.join(optuna.study.get_all_study_names(storage)) or 'none'}), "
                          "or --objective and --param to start one")
    if not exists:
        assert given is not None
        trials_dir = a.storage / "trials" / a.study
        if trials_dir.is_dir() and any(trials_dir.iterdir()):
            raise ConfigError("--study", a.study, f"a new name: {trials_dir} holds runs of an "
                              "earlier study of that name (not in the journal)")
        study = optuna.create_study(storage=storage, study_name=a.study, load_if_exists=True,
                                    directions=[o.direction for o in given.objectives])
        if ATTR not in study.user_attrs:  # another process may have made it a moment ago
            study.set_user_attr(ATTR, given.record())
            if given.multi:
                study.set_user_attr("nsga2_population", a.population
                                    or max(4, min(50, a.trials // 4)))
    study = optuna.load_study(study_name=a.study, storage=storage)
    stored = study.user_attrs.get(ATTR)
    if not isinstance(stored, dict):
        raise ConfigError("--study", a.study, f"a study made by snnrl tune ({path} holds one "
                          "of that name made otherwise)")
    if given is not None and given.record() != stored:
        raise ConfigError("--study", a.study, "the same search as when it started, or a new "
                          f"--study: {_differences(stored, given.record())}")
    search = Search.from_record(stored)
    if given is None:
        check_composes(search)  # configs in conf/ may have changed since
    return study, search


def check_pruner(a: argparse.Namespace, search: Search) -> None:
    """Refuse ``--pruner median`` on a multi-objective study.

    Raises:
        ConfigError: Optuna cannot prune multi-objective studies.
    """
    if a.pruner == "median" and search.multi:
        raise ConfigError("--pruner", "median", "none for a multi-objective study (Optuna "
                          "cannot prune those)")


def _sampler_and_pruner(a: argparse.Namespace, study: Any, search: Search) -> tuple[Any, Any]:
    optuna = _optuna()
    from snnrl.seeding import derive_seed

    name = a.sampler if a.sampler != "auto" else ("nsga2" if search.multi else "tpe")
    seed = None
    if a.sampler_seed is not None:  # a new stream per process and resume: no replayed points
        seed = derive_seed(a.sampler_seed, f"tune/{a.study}", len(study.trials)) % 2**32
    if name == "nsga2":
        pop = a.population or study.user_attrs.get("nsga2_population") or 50
        sampler = optuna.samplers.NSGAIISampler(population_size=pop, seed=seed)
        name = f"NSGA-II (population {pop})"
    elif name == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
        name = "TPE"
    check_pruner(a, search)
    pruner_name = a.pruner if a.pruner != "auto" else ("none" if search.multi else "median")
    if pruner_name == "median":
        pruner = optuna.pruners.MedianPruner(n_startup_trials=a.prune_startup)
        pruner_name = (f"median after each seed, from {a.prune_startup} complete trials"
                       if len(search.seeds) > 1 else "median (no effect with one seed)")
    else:
        pruner = optuna.pruners.NopPruner()
        if search.multi:
            pruner_name = "none (Optuna cannot prune multi-objective studies)"
    return (optuna.load_study(study_name=a.study, storage=study._storage, sampler=sampler,
                              pruner=pruner), f"sampler {name}, pruner {pruner_name}")


def run_tune(argv: list[str]) -> int:
    """Entry point of ``snnrl tune``; returns the exit status.

    Raises:
        ConfigError: bad input (before any trial runs), or a run that refused its config.
    """
    from snnrl.tracking import atomic_write

    try:
        a, fixed = _parse(argv)
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    optuna = _optuna()
    given = search_from_args(a, fixed)
    if given is not None:
        check_pruner(a, given)
        check_composes(given)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study, search = open_study(a, given)
        study, how = _sampler_and_pruner(a, study, search)
        voided = recover(study, a.fail_running)
        trials_root = a.storage / "trials" / a.study
        have = _counted(study.get_trials(deepcopy=False))
        print(f"snnrl tune: study {a.study} in {a.storage / JOURNAL}: {have} of {a.trials} "
              f"trials; {how}\n  objectives: {' '.join(o.spec for o in search.objectives)}, "
              f"mean over tuning seeds {','.join(str(s) for s in search.seeds)}\n  params: "
              + " ".join(f"{p.key}={p.spec}" for p in search.params)
              + f"\n  fixed: {' '.join(search.overrides) or '(none)'}", flush=True)
        if voided:
            print(f"snnrl tune: trials {', '.join(map(str, voided))} were left running by a "
                  "process that is gone: voided, their parameters queued again", flush=True)
        try:
            optimize(study, search, a.trials, trials_root)
        except KeyboardInterrupt:
            print("\nsnnrl tune: interrupted; the running trial is voided and queued again: "
                  "rerun the same command to resume", file=sys.stderr, flush=True)
            return 130
        best = best_trials(study, search, a.top)
        print(report(study, search, best), flush=True)
        if not best:
            return 1
        out = a.storage / f"{a.study}_best.yaml"
        text = best_yaml(study, search, best, a.storage)
        atomic_write(out, lambda f: f.write(text.encode()))
        print(f"snnrl tune: best config: {out}", flush=True)
        return 0
    finally:
        optuna.logging.set_verbosity(verbosity)
