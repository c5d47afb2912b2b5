"""``count_energy``: energy figures for an entry whose runs were trained before their agent counted.

An entry's per-seed energy comes from the run's ``summary.json``. Deep agents counted their
operations only from a later version of the suite, and the meta-learned plastic agents later
still, so entries submitted from earlier runs record no energy. Their stored checkpoints hold
everything the count needs: for every seed, :func:`count_energy` rebuilds the agent from the
stored config and checkpoint (the loader ``verify`` uses: data only), re-runs the protocol
evaluation with the operation counter on (:func:`snnrl.eval.counted.counted_evaluation`),
requires its ``eval/`` figures to equal the stored summary's bit for bit (so the counts belong
to the behaviour that was scored), and prices the counts on every chip as training does
(:func:`snnrl.cli.train.write_energy`). The counts and prices are stored per seed as
``checkpoints/<id>/seed<k>.energy.json`` (hashed in the entry, like every stored file); the
entry's ``runs[*].energy`` and ``aggregates.energy`` are filled from them, and the history gets
one ``energy-counted`` event (the verification level stays). ``verify`` then re-counts these
entries and compares the counts exactly.

Online learners (R-STDP) are counted over their evaluation lifetimes (fresh, learning from
scratch; their training runs count the final round of training lifetimes instead): the energy
file's ``source`` says which.

:func:`reprice_energy` (``--reprice``) prices the stored counts again after a change to a chip's
data, which ``check`` reports for these entries (their figures no longer follow from today's
prices); it runs nothing and appends an ``energy-repriced`` event.

Refused, with one line and nothing written: an entry that fails ``check``, one that records
energy already, an agent that counts nothing, and a seed whose counted evaluation does not give
its stored figures.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snnrl.config import ConfigError
from snnrl.leaderboard.checks import check, checked_entry, stored_path
from snnrl.leaderboard.schema import COMPARE_KEYS, compute_aggregates, seed_energy
from snnrl.leaderboard.store import (
    LEDGER,
    dump_yaml,
    load_data,
    root_of,
    sha256_file,
    write_text,
)


@dataclass
class EnergyResult:
    """The outcome of :func:`count_energy`.

    Attributes:
        level: The entry's level afterwards (unchanged by counting).
        per_seed: Seed → chip → J per env step (None where the agent does not fit).
        seconds: Wall time of the counted evaluations.
        details: The text recorded in the entry's history.
    """

    level: str
    per_seed: dict[int, dict[str, float | None]] = field(default_factory=dict)
    seconds: float = 0.0
    details: str = ""


def _stage(root: Path, run: dict[str, Any], tmp: Path) -> Path:
    """Copy a seed's stored config and checkpoint into ``tmp`` as a run directory."""
    import torch

    shutil.copyfile(root / run["files"]["config"]["path"], tmp / "config.yaml")
    shutil.copyfile(root / run["files"]["checkpoint"]["path"], tmp / "checkpoint.pt")
    torch.load(tmp / "checkpoint.pt", map_location="cpu", weights_only=True)
    return tmp


def counted_seed(root: Path, run: dict[str, Any], device: Any) -> tuple[Any, dict[str, Any]]:
    """Counted protocol evaluation of one stored seed: ``(CountedEvaluation | None, config)``."""
    from snnrl.cli.evaluate import load_agent
    from snnrl.eval.counted import counted_evaluation

    with tempfile.TemporaryDirectory(prefix="snnrl-energy-") as tmp:
        c, agent = load_agent(_stage(root, run, Path(tmp)), device)
    c.progress = False
    return counted_evaluation(c, agent, device), c


def count_energy(entry_path: Path, device: str = "cpu", *,
                 by: str = "snnrl board energy") -> EnergyResult:
    """Count and price the stored checkpoints of an entry that records no energy; record it.

    Args:
        entry_path: The entry file (it must pass :func:`~snnrl.leaderboard.checks.check`).
        device: Where to evaluate; the figures must still equal the stored ones bit for bit.
        by: Who counts, for the history.

    Raises:
        ConfigError: See the module docstring; nothing is written.
    """
    import torch

    from snnrl.cli.train import write_energy
    from snnrl.config import resolve_device
    from snnrl.tracking import git_commit, versions

    entry_path = Path(entry_path)
    root, entry = checked_entry(entry_path)
    if any(r.get("energy") or "energy" in r["files"] for r in entry["runs"]):
        raise ConfigError(str(entry_path), "records energy already",
                          "an entry whose runs record no energy (their summaries have none)")
    dev = resolve_device(device)
    threads = torch.get_num_threads()
    counted: dict[int, dict[str, Any]] = {}
    result = EnergyResult(level=entry["verification"]["level"])
    t0 = time.perf_counter()
    try:
        for run in entry["runs"]:
            k = run["seed"]
            torch.set_num_threads(run["torch_threads"])
            ce, c = counted_seed(root, run, dev)
            if ce is None:
                raise ConfigError(f"{entry_path}: agent", entry["agent"],
                                  "an agent that counts its operations (this one counted "
                                  "nothing in its evaluation)")
            stored = json.loads((root / run["files"]["summary"]["path"]).read_text())["metrics"]
            for key in COMPARE_KEYS:
                if stored.get(key) is not None and stored[key] != ce.metrics.get(key):
                    raise ConfigError(f"{entry_path}: seed {k} {key}", ce.metrics.get(key),
                                      f"the stored {stored[key]!r}: the counted evaluation must "
                                      "give the scored figures (run snnrl board verify)")
            with tempfile.TemporaryDirectory(prefix="snnrl-energy-") as tmp:
                metrics, flags = write_energy(
                    Path(tmp), ce.ops, ce.layers, ce.episode_length,
                    f"{ce.source} (snnrl board energy, from the stored seed{k}.pt)", c)
                data = json.loads((Path(tmp) / "energy_counts.json").read_text())
            data |= {"seed": k, "config_hash": run["config_hash"], "metrics": metrics,
                     "energy": flags,
                     "eval": {key: ce.metrics.get(key) for key in COMPARE_KEYS}}
            counted[k] = data
            result.per_seed[k] = {chip: e["J_per_step"]
                                  for chip, e in seed_energy(data).items()}
    finally:
        torch.set_num_threads(threads)
    result.seconds = time.perf_counter() - t0

    v = versions()
    loihi = [result.per_seed[k].get("loihi") for k in counted]
    fits = "fits Loihi" if all(x is not None for x in loihi) else "does not fit Loihi"
    result.details = (f"counted the operations of the protocol evaluation of seeds "
                      f"{sorted(counted)} from the stored checkpoints on {dev}, eval figures "
                      f"identical to the stored summaries; priced on "
                      f"{len(next(iter(counted.values()))['energy'])} chips ({fits}); snnrl "
                      f"{v['snnrl']}, torch {v['torch']}, git {git_commit()}; "
                      f"{result.seconds:.0f} s")
    _record(entry_path, entry, counted, result, by, "energy-counted")
    return result


REPRICE_MARK = "(re-pricing the stored counts with conf/chip)"
"""How :func:`snnrl.leaderboard.checks.check` marks figures that today's chip data no longer
gives (the only problems :func:`reprice_energy` may start from)."""


def reprice_energy(entry_path: Path, *, by: str = "snnrl board energy --reprice"
                   ) -> EnergyResult:
    """Price an entry's stored counts again with today's ``conf/chip/``; record it.

    After a chip's data changes (a corrected price, a new constraint), ``check`` fails for
    entries whose energy was counted by :func:`count_energy`: their figures no longer follow
    from their counts. This re-prices the stored counts (nothing is re-run: the counts are the
    checkpoint's, as ``verify`` confirms), rewrites the energy files' figures, the entry's
    ``runs[*].energy`` and ``aggregates.energy``, and appends an ``energy-repriced`` event.

    Raises:
        ConfigError: The entry fails check for any other reason, has no stored counts, or its
            figures are today's already; nothing is written.
    """
    from snnrl.cli.train import price_counts
    from snnrl.energy.model import Assumptions
    from snnrl.energy.report import layers_from_json
    from snnrl.tracking import git_commit

    entry_path = Path(entry_path)
    other = [p for p in check(entry_path) if REPRICE_MARK not in p]
    if other:
        raise ConfigError(str(entry_path), "fails check",
                          f"an entry that passes snnrl board check but for its prices: {other[0]}")
    root = root_of(entry_path)
    entry = load_data(entry_path, "entry")
    if not all("energy" in r["files"] for r in entry["runs"]):
        raise ConfigError(str(entry_path), "no stored counts",
                          "an entry whose energy snnrl board energy counted (figures from a "
                          "summary cannot be re-priced: no counts are stored)")
    repriced: dict[int, dict[str, Any]] = {}
    changed = []
    for run in entry["runs"]:
        k = run["seed"]
        data = json.loads((root / run["files"]["energy"]["path"]).read_text())
        metrics, flags = price_counts(data["ops_per_step"], layers_from_json(data["layers"]),
                                      float(data["episode_length"]),
                                      Assumptions(**data["assumptions"]))
        new = data | json.loads(json.dumps({"metrics": metrics, "energy": flags}))
        if new != data:
            changed.append(k)
        repriced[k] = new
    if not changed:
        raise ConfigError(str(entry_path), "priced with today's chips",
                          "an entry whose figures today's conf/chip/ no longer gives")
    result = EnergyResult(level=entry["verification"]["level"])
    result.per_seed = {k: {chip: e["J_per_step"] for chip, e in seed_energy(d).items()}
                       for k, d in repriced.items()}
    result.details = (f"re-priced the stored counts of seeds {sorted(repriced)} with today's "
                      f"conf/chip/ (figures changed for seeds {changed}); git {git_commit()}")
    _record(entry_path, entry, repriced, result, by, "energy-repriced")
    return result


def _record(entry_path: Path, entry: dict[str, Any], counted: dict[int, dict[str, Any]],
            result: EnergyResult, by: str, event: str) -> None:
    """Write the energy files and the amended entry; undo everything if any step fails.

    ``energy-counted`` writes new files; ``energy-repriced`` rewrites the existing ones.
    """
    from snnrl.leaderboard.verification import add_history

    root = root_of(entry_path)
    old_entry = entry_path.read_bytes()
    ledger = root / LEDGER
    old_ledger = ledger.read_bytes() if ledger.is_file() else None
    written: dict[Path, bytes | None] = {}
    try:
        for run in entry["runs"]:
            k = run["seed"]
            rel = stored_path(entry["id"], "energy", k)
            path = root / rel
            if path.exists() and event == "energy-counted":
                raise ConfigError(str(path), "exists", "no stored energy file before counting")
            written[path] = path.read_bytes() if path.exists() else None
            write_text(path, json.dumps(counted[k], indent=1, sort_keys=True) + "\n")
            run["energy"] = seed_energy(counted[k])
            files = run["files"]
            files["energy"] = {"path": rel, "sha256": sha256_file(path),
                               "bytes": path.stat().st_size}
        p = entry["aggregates"]["primary"]
        entry["aggregates"]["energy"] = compute_aggregates(
            entry["runs"], entry["primary_metric"], p["reps"], p["random_state"])["energy"]
        write_text(entry_path, dump_yaml(entry))
        result.level = add_history(entry_path, event, by, result.details)
        problems = check(entry_path)
        if problems:  # pragma: no cover - what _record writes passes check
            raise ConfigError(str(entry_path), problems[0], "an entry that passes check")
    except BaseException:
        for path, before in written.items():
            if before is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(before)
        entry_path.write_bytes(old_entry)
        if old_ledger is None:
            ledger.unlink(missing_ok=True)
        else:
            ledger.write_bytes(old_ledger)
        raise
