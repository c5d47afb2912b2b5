"""``verify``: re-run the protocol evaluation of every stored seed and compare.

Each seed's agent is rebuilt from its stored config by the loader ``snnrl eval`` uses
(:func:`snnrl.cli.evaluate.load_agent`: ``yaml.safe_load``, no interpolation, only snnrl's own
schemas, nothing named in the file imported or instantiated; ``torch.load(weights_only=True)``),
and evaluated exactly as training did (:func:`snnrl.cli.train.evaluate_lifetimes`) with the
run's seed and torch thread count:

- online agents (R-STDP, learner ``none``): fresh lifetimes from new initial weights, their
  streams derived from the seed (docs/PROTOCOL.md v1), so the stored checkpoint (the final
  training state) is checked and loaded but does not enter the figure;
- meta-learned agents (learner ``es``/``bptt``): the stored ``theta`` is set, then the same
  evaluation lifetimes with the rule on (the plasticity-off control arm is not re-run);
- entries whose energy was counted from their checkpoints (``snnrl board energy``): the
  evaluation runs with the operation counter on and every count must equal the stored one too.

The recomputed ``eval/`` figures (:data:`~snnrl.leaderboard.schema.COMPARE_KEYS` that the
stored summary records) must equal the stored ones within ``tolerance`` (default 0: bit for bit,
which is what the same code on the same device and thread count gives). A match raises the
entry's level to ``re-evaluated``; a mismatch leaves the level and records the differences. Either
way the entry is rewritten atomically with the new history item and the ledger gets its line.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snnrl.config import ConfigError
from snnrl.leaderboard.checks import checked_entry
from snnrl.leaderboard.schema import COMPARE_KEYS, EVENTS
from snnrl.leaderboard.store import (
    LEVELS,
    append_ledger,
    dump_yaml,
    load_data,
    now_utc,
    root_of,
    write_text,
)


@dataclass
class VerifyResult:
    """The outcome of :func:`verify`.

    Attributes:
        ok: Every compared figure matched within the tolerance.
        level: The entry's level afterwards.
        compared: ``(seed, metric, stored, recomputed)`` for every figure compared.
        mismatches: One line per figure that did not match.
        seconds: Wall time of the re-evaluation.
        details: The text recorded in the entry's history.
    """

    ok: bool
    level: str
    compared: list[tuple[int, str, float, float]] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0
    details: str = ""


def _reevaluate(root: Path, run: dict[str, Any], device: Any) -> dict[str, Any]:
    """The protocol evaluation of one stored seed; returns the eval metrics.

    A seed with a stored energy file (``snnrl board energy``) is evaluated with its operations
    counted; the counts are returned under ``"ops_per_step"``.
    """
    import torch

    from snnrl.cli.evaluate import load_agent
    from snnrl.cli.train import evaluate_lifetimes

    if "energy" in run["files"]:
        from dataclasses import asdict

        from snnrl.leaderboard.energy import counted_seed

        ce, _ = counted_seed(root, run, device)
        if ce is None:
            return {"counted": None}
        # the JSON round trip the stored counts went through (floats survive it exactly)
        counted = {"ops_per_step": ce.ops, "episode_length": ce.episode_length,
                   "layers": {k: asdict(v) for k, v in ce.layers.items()}}
        return ce.metrics | {"counted": json.loads(json.dumps(counted))}
    with tempfile.TemporaryDirectory(prefix="snnrl-verify-") as tmp:
        shutil.copyfile(root / run["files"]["config"]["path"], Path(tmp) / "config.yaml")
        shutil.copyfile(root / run["files"]["checkpoint"]["path"], Path(tmp) / "checkpoint.pt")
        torch.load(Path(tmp) / "checkpoint.pt", map_location="cpu", weights_only=True)
        c, agent = load_agent(Path(tmp), device)
    c.progress = False
    metrics, _ = evaluate_lifetimes(c, agent, device)
    return metrics


def _matches(stored: Any, got: Any, tolerance: float) -> bool:
    if got is None or (isinstance(got, float) and math.isnan(got)) or stored is None:
        return False
    if tolerance == 0:
        return bool(stored == got)
    return abs(float(stored) - float(got)) <= tolerance


def _count_difference(stored: dict[str, Any], got: Any, tolerance: float) -> str | None:
    """The first difference between a stored energy file and a recount (None: all match).

    Every count (within ``tolerance``), the episode length (likewise) and the layers (exactly):
    with the stored figures re-priced from the stored counts by ``check``, this ties the
    figures to the checkpoint.
    """
    if not isinstance(got, dict):
        return "the agent counted nothing"
    ops_a, ops_b = stored.get("ops_per_step") or {}, got["ops_per_step"]
    for layer in sorted(set(ops_a) | set(ops_b)):
        a, b = ops_a.get(layer) or {}, ops_b.get(layer) or {}
        for key in sorted(set(a) | set(b)):
            if not _matches(a.get(key), b.get(key), tolerance):
                return f"{layer}.{key} stored {a.get(key)!r}, recounted {b.get(key)!r}"
    if not _matches(stored.get("episode_length"), got["episode_length"], tolerance):
        return (f"episode_length stored {stored.get('episode_length')!r}, recounted "
                f"{got['episode_length']!r}")
    if stored.get("layers") != got["layers"]:
        return f"layers stored {stored.get('layers')!r}, recounted {got['layers']!r}"
    return None


def add_history(entry_path: Path, event: str, by: str, details: str) -> str:
    """Append a history item for ``event`` to an entry, rewrite it atomically, add a ledger line.

    Returns:
        The entry's level afterwards.
    """
    root = root_of(entry_path)
    entry = load_data(entry_path, "entry")
    v = entry["verification"]
    sets = EVENTS[event]
    level = v["level"] if sets is None else max(v["level"], sets, key=LEVELS.index)
    v["history"].append({"event": event, "level": level, "date": now_utc(), "by": by,
                         "details": details})
    v["level"] = level
    write_text(entry_path, dump_yaml(entry))
    append_ledger(root, entry_path, event)
    return level


def verify(entry_path: Path, device: str = "cpu", *, tolerance: float = 0.0,
           by: str = "snnrl board verify", record: bool = True) -> VerifyResult:
    """Re-evaluate every seed of an entry and compare with its stored figures.

    Args:
        entry_path: The entry file (it must pass :func:`~snnrl.leaderboard.checks.check`).
        device: Where to evaluate (``cpu``, ``cuda``); another device than the runs' may need a
            tolerance.
        tolerance: Largest absolute difference accepted per figure; 0 means bit-identical.
        by: Who verifies, for the history.
        record: Write the outcome into the entry and the ledger.

    Raises:
        ConfigError: The entry does not pass ``check``, or a bad device or tolerance.
    """
    import torch

    from snnrl.config import resolve_device
    from snnrl.tracking import git_commit, versions

    if not (tolerance >= 0 and math.isfinite(tolerance)):
        raise ConfigError("--tolerance", tolerance, "a finite number >= 0")
    root, entry = checked_entry(entry_path)
    dev = resolve_device(device)
    result = VerifyResult(ok=True, level=entry["verification"]["level"])
    threads = torch.get_num_threads()
    t0 = time.perf_counter()
    try:
        for run in entry["runs"]:
            torch.set_num_threads(run["torch_threads"])
            got = _reevaluate(root, run, dev)
            stored = json.loads((root / run["files"]["summary"]["path"]).read_text())["metrics"]
            for key in COMPARE_KEYS:
                if stored.get(key) is None:
                    continue
                result.compared.append((run["seed"], key, stored[key], got.get(key)))
                if not _matches(stored[key], got.get(key), tolerance):
                    result.mismatches.append(f"seed {run['seed']} {key}: stored {stored[key]!r}, "
                                             f"recomputed {got.get(key)!r}")
            if "energy" in run["files"]:
                counts = json.loads((root / run["files"]["energy"]["path"]).read_text())
                diff = _count_difference(counts, got.get("counted"), tolerance)
                result.compared.append((run["seed"], "op counts", 0.0, 0.0 if diff is None
                                        else math.nan))
                if diff is not None:
                    result.mismatches.append(f"seed {run['seed']} op counts: {diff}")
    finally:
        torch.set_num_threads(threads)
    result.seconds = time.perf_counter() - t0
    result.ok = not result.mismatches
    keys = sorted({k for _, k, _, _ in result.compared})
    diff = max((abs(float(s) - float(g)) for _, _, s, g in result.compared
                if g is not None and not (isinstance(g, float) and math.isnan(g))), default=0.0)
    v = versions()
    run_devices = sorted({r["device"] for r in entry["runs"]})
    where = (f"seeds {entry['seeds']} on {dev} (runs: {', '.join(run_devices)}), "
             f"{sorted({r['torch_threads'] for r in entry['runs']})} torch thread(s), snnrl "
             f"{v['snnrl']}, torch {v['torch']}, git {git_commit()}")
    if result.ok:
        result.details = (f"re-ran the protocol evaluation of {where}: {', '.join(keys)} "
                          f"{'identical' if diff == 0 else f'max |diff| {diff:.3g}'} "
                          f"(tolerance {tolerance:g}); {result.seconds:.0f} s")
    else:
        shown = "; ".join(result.mismatches[:4])
        more = len(result.mismatches) - 4
        result.details = (f"re-evaluation FAILED ({len(result.mismatches)} of "
                          f"{len(result.compared)} figures differ, tolerance {tolerance:g}) for "
                          f"{where}: {shown}{f'; {more} more' if more > 0 else ''}; "
                          f"{result.seconds:.0f} s")
    if record:
        result.level = add_history(Path(entry_path),
                                   "re-evaluated" if result.ok else "re-evaluation-failed",
                                   by, result.details)
    return result


@dataclass
class ReproduceResult:
    """The outcome of :func:`reproduce`.

    Attributes:
        ok: The re-trained seeds' aggregate of the primary metric lies within the entry's CI.
        level: The entry's level afterwards.
        scores: ``(seed, recorded score, re-trained score)`` per re-trained seed.
        aggregate: The re-trained seeds' IQM (the single score when one seed was re-trained).
        seconds: Wall time of the training runs.
        details: The text recorded in the entry's history.
    """

    ok: bool
    level: str
    scores: list[tuple[int, float, float | None]] = field(default_factory=list)
    aggregate: float = math.nan
    seconds: float = 0.0
    details: str = ""


def reproduce(entry_path: Path, seeds: list[int] | None = None, device: str = "cpu", *,
              workdir: Path | None = None, by: str = "snnrl board reproduce",
              record: bool = True) -> ReproduceResult:
    """Re-train an entry's seeds from their stored configs and compare with its CI.

    Each chosen seed's stored ``config.yaml`` is read as data (:func:`snnrl.cli.train.
    load_run_dictconfig`: safe YAML, snnrl's own schemas, no interpolation, nothing
    instantiated), switched to ``logger=none``, ``progress=false`` and ``device``, and trained
    by :func:`snnrl.cli.train.train_job` into ``workdir/seedN`` (a temporary directory by
    default). The re-trained seeds' IQM of the entry's primary metric (their single score when
    one seed is re-trained) must lie inside the entry's recorded 95% CI; then the entry is
    raised to ``reproduced``. Otherwise a ``reproduction-failed`` event is recorded and the level
    stays. Per-seed scores are reported beside the recorded ones (identical when the same code,
    device and thread count re-run a deterministic training).

    Raises:
        ConfigError: The entry does not pass ``check``; a seed the entry does not hold.
    """
    import snnrl.cli.train as train
    from snnrl.eval.stats import interval_estimates

    root, entry = checked_entry(entry_path)
    chosen = list(entry["seeds"]) if not seeds else list(seeds)
    for s in chosen:
        if s not in entry["seeds"]:
            raise ConfigError("--seeds", s, f"seeds of the entry: {entry['seeds']}")
    primary = entry["aggregates"]["primary"]
    metric = primary["metric"]
    result = ReproduceResult(ok=False, level=entry["verification"]["level"])
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="snnrl-reproduce-") as tmp:
        base = Path(workdir) if workdir is not None else Path(tmp)
        for run in entry["runs"]:
            if run["seed"] not in chosen:
                continue
            src = Path(tmp) / f"src{run['seed']}"
            src.mkdir()
            shutil.copyfile(root / run["files"]["config"]["path"], src / "config.yaml")
            cfg = train.load_run_dictconfig(src)
            cfg.logger.name = "none"
            cfg.progress, cfg.device = False, device
            out = base / f"seed{run['seed']}"
            summary = train.train_job(cfg, out)
            got = summary.get("metrics", {}).get(metric) if summary["status"] == "ok" else None
            result.scores.append((run["seed"], run["scores"].get(metric), got))
    result.seconds = time.perf_counter() - t0
    got = [g for _, _, g in result.scores if g is not None and math.isfinite(g)]
    if len(got) == len(result.scores) and got:
        result.aggregate = (got[0] if len(got) == 1 else interval_estimates(
            {"x": got}, ("iqm",), reps=1000)["x"]["iqm"].point)
        result.ok = primary["ci_low"] <= result.aggregate <= primary["ci_high"]
    identical = sum(1 for _, r, g in result.scores if r == g)
    per_seed = ", ".join(f"seed {s}: {g!r} (recorded {r!r})" for s, r, g in result.scores)
    result.details = (
        f"re-trained {len(result.scores)} seed(s) on {device}: {metric} "
        f"{'IQM' if len(got) > 1 else 'score'} {result.aggregate:.6g} "
        f"{'inside' if result.ok else 'OUTSIDE'} the recorded 95% CI [{primary['ci_low']:.6g}, "
        f"{primary['ci_high']:.6g}]; {identical} of {len(result.scores)} seeds identical to the "
        f"recorded run; {per_seed}; {result.seconds:.0f} s")
    if record:
        result.level = add_history(Path(entry_path),
                                   "reproduced" if result.ok else "reproduction-failed",
                                   by, result.details)
    return result
