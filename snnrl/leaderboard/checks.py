"""``check``: is an entry what it claims, without running anything?

For one entry (:func:`check`): the file is plain YAML data of the schema; its id and place
match its content; every stored file exists, is within the size caps and has the recorded
SHA-256 and size; each stored ``summary.json`` is an ``ok`` run of the recorded seed, protocol,
code and config hash, and yields exactly the recorded per-seed figures (energy from the stored
``seed<k>.energy.json`` instead where ``snnrl board energy`` counted it); each stored config is
one the suite's safe loader accepts, hashes to the run's config hash and, seed removed, to the
entry's ``config_hash_without_seed``, and matches the recorded env, agent, learner and budget;
each checkpoint loads with ``torch.load(weights_only=True)``; the aggregates recompute from the
per-seed scores (relative tolerance 1e-9); the verification history is consistent; and the
ledger's latest line for the entry holds the entry's current SHA-256, with one ledger line per
history event.

For a whole leaderboard (:func:`check_all`): every entry, every ledger line well-formed and
naming an existing entry, the ledger at git ``HEAD`` a prefix of the working ledger (skipped
outside a git checkout or before the ledger is committed), and ``README.md`` up to date.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from snnrl.config import ConfigError
from snnrl.leaderboard.schema import (
    EVENTS,
    choose_primary,
    compute_aggregates,
    first_difference,
    seed_energy,
    seed_scores,
    seed_stability,
    structure_problems,
)
from snnrl.leaderboard.store import (
    LEDGER,
    MAX_ENTRY_BYTES,
    MAX_FILE_BYTES,
    MIN_SEEDS,
    README,
    entry_rel,
    env_slug,
    load_data,
    mib,
    name_part,
    read_ledger,
    root_of,
    sha256_file,
)
from snnrl.tracking import config_hash

FILE_KINDS = {"checkpoint": "seed{k}.pt", "config": "seed{k}.config.yaml",
              "summary": "seed{k}.summary.json", "energy": "seed{k}.energy.json"}
"""Stored files per seed, by name pattern inside ``checkpoints/<entry id>/``."""
OPTIONAL_KINDS = ("energy",)
"""Stored files a run may lack: ``energy`` is written by ``snnrl board energy`` (the operation
counts of a stored checkpoint, for runs whose summary records no energy)."""


def hash_without_seed(config: dict[str, Any]) -> str:
    """The config hash of a resolved run config with its ``seed`` removed.

    :func:`snnrl.tracking.config_hash` (which also ignores ``progress`` and ``logger``) over
    everything but ``seed``: runs of one configuration that differ only in their seed share it.
    """
    return config_hash({k: v for k, v in config.items() if k != "seed"})


def common_commit(runs: list[dict[str, Any]]) -> str | None:
    """The git commit every run records, or None when they differ (each run keeps its own)."""
    commits = {r["git_commit"] for r in runs}
    return commits.pop() if len(commits) == 1 else None


def entry_name(agent: str, tier: str, env_steps: int, cfg_hash: str) -> str:
    """``<agent>__<tier or env steps>__<hash12>``."""
    budget = str(env_steps) if tier == "custom" else name_part(tier)
    return f"{name_part(agent)}__{budget}__{cfg_hash[:12]}"


def budget_tier(tiers: dict[str, int], env_steps: int) -> str:
    """The name of the budget tier ``env_steps`` equals, else ``custom``."""
    for name in sorted(tiers):
        if tiers[name] == env_steps:
            return name
    return "custom"


def stored_path(entry_id: str, kind: str, seed: int) -> str:
    """Where a stored file of ``seed`` lives, relative to the leaderboard root."""
    return f"checkpoints/{entry_id}/{FILE_KINDS[kind].format(k=seed)}"


def validated_config(config_path: Path) -> Any:
    """The stored config through :func:`snnrl.cli.train.load_run_config` (schema objects).

    The file is copied as ``config.yaml`` into a temporary directory, because the loader reads a
    run directory.
    """
    from snnrl.cli.train import load_run_config

    with tempfile.TemporaryDirectory(prefix="snnrl-board-") as tmp:
        shutil.copyfile(config_path, Path(tmp) / "config.yaml")
        return load_run_config(Path(tmp))


def _files(entry: dict[str, Any], root: Path) -> list[str]:
    out: list[str] = []
    total = 0
    expected_names: set[str] = set()
    for run in entry["runs"]:
        k = run["seed"]
        for kind in FILE_KINDS:
            if kind in OPTIONAL_KINDS and kind not in run["files"]:
                continue
            rec = run["files"][kind]
            want = stored_path(entry["id"], kind, k)
            expected_names.add(Path(want).name)
            if rec["path"] != want:
                out.append(f"runs[seed {k}].files.{kind}.path: {rec['path']!r} (expected "
                           f"{want!r})")
                continue
            p = root / want
            if not p.is_file():
                out.append(f"{want}: missing")
                continue
            size = p.stat().st_size
            total += size
            if size > MAX_FILE_BYTES:
                out.append(f"{want}: {mib(size)} exceeds the cap of {mib(MAX_FILE_BYTES)} per "
                           "stored file")
            if size != rec["bytes"] or sha256_file(p) != rec["sha256"]:
                out.append(f"{want}: sha256/size differ from the entry's record (the file was "
                           "changed)")
    if total > MAX_ENTRY_BYTES:
        out.append(f"stored files: {mib(total)} exceed the cap of {mib(MAX_ENTRY_BYTES)} per "
                   "entry")
    d = root / "checkpoints" / entry["id"]
    if d.is_dir():
        extra = sorted(p.name for p in d.iterdir() if p.name not in expected_names)
        if extra:
            out.append(f"checkpoints/{entry['id']}/: files no run records: {', '.join(extra)}")
    return out


def _energy_file(entry: dict[str, Any], run: dict[str, Any], path: Path
                 ) -> tuple[dict[str, Any] | None, list[str]]:
    """The stored ``seed<k>.energy.json`` of a run (written by ``snnrl board energy``)."""
    k = run["seed"]
    where = f"seed {k} energy"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return None, [f"{where}: not JSON ({type(e).__name__})"]
    if not isinstance(data, dict):
        return None, [f"{where}: not a JSON object"]
    out = []
    expect = {"seed": k, "agent": entry["agent"], "env_id": entry["env"]["id"],
              "config_hash": run["config_hash"]}
    for key, want in expect.items():
        if data.get(key) != want:
            out.append(f"{where}: {key} is {data.get(key)!r}, the entry records {want!r}")
    ops, layers = data.get("ops_per_step"), data.get("layers")
    if not (isinstance(ops, dict) and isinstance(layers, dict)
            and all(isinstance(c, dict) and all(
                _finite_number(v) and v >= 0 for v in c.values()) for c in ops.values())):
        return None, out + [f"{where}: expected ops_per_step (layer → count key → count >= 0) "
                            "and layers: the counts it was priced from"]
    out += _repricing_problems(data, where)
    return data, out


def _finite_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _repricing_problems(data: dict[str, Any], where: str) -> list[str]:
    """Do the stored figures follow from the stored counts, priced with today's ``conf/chip``?

    The figures an entry shows come from ``metrics`` and ``energy`` in the file; pricing its
    ``ops_per_step``, ``layers``, ``episode_length`` and ``assumptions`` again must give them
    (relative tolerance 1e-9), so a figure cannot be edited apart from the counts. After a
    change to a chip's data the message says the figures no longer follow from today's prices.
    """
    from snnrl.cli.train import price_counts
    from snnrl.energy.model import Assumptions
    from snnrl.energy.report import layers_from_json

    try:
        layers = layers_from_json(data["layers"])
        assume = Assumptions(**data["assumptions"])
        metrics, flags = price_counts(data["ops_per_step"], layers,
                                      float(data["episode_length"]), assume)
    except Exception as e:  # noqa: BLE001 - any malformed part is the finding itself
        return [f"{where}: its counts cannot be priced ({type(e).__name__}: {e})"]
    def figures(m: Any, f: Any) -> dict[str, Any]:
        # the flags without ``reason``: a message naming the first layer that does not fit,
        # which depends on the layers' order (the stored file sorts its keys)
        return {"metrics": m, "energy": {chip: {k: v for k, v in fl.items() if k != "reason"}
                                         for chip, fl in (f or {}).items()}
                if isinstance(f, dict) else f}

    d = first_difference(figures(data.get("metrics"), data.get("energy")),
                         figures(metrics, flags), where)
    if d:
        return [f"{d} (re-pricing the stored counts with conf/chip); after a change to a "
                "chip's data: snnrl board energy --reprice FILE"]
    return []


def _summary_problems(entry: dict[str, Any], run: dict[str, Any], s: Any,
                      energy: dict[str, Any] | None = None) -> list[str]:
    """Does the stored summary (and the stored energy file, if any) give the run's figures?"""
    k = run["seed"]
    where = f"seed {k} summary"
    if not isinstance(s, dict):
        return [f"{where}: not a JSON object"]
    out: list[str] = []
    expect = {"status": "ok", "seed": k, "protocol": entry["protocol"], "agent": entry["agent"],
              "env_id": entry["env"]["id"], "config_hash": run["config_hash"],
              "git_commit": run["git_commit"], "versions": entry["versions"],
              "torch_threads": run["torch_threads"], "device": run["device"]}
    for key, want in expect.items():
        if s.get(key) != want:
            out.append(f"{where}: {key} is {s.get(key)!r}, the entry records {want!r}")
    if s.get("env_steps_budget", entry["budget"]["env_steps"]) != entry["budget"]["env_steps"]:
        out.append(f"{where}: env_steps_budget {s.get('env_steps_budget')!r} is not the budget "
                   f"{entry['budget']['env_steps']}")
    figures = {"scores": seed_scores(s), "stability": seed_stability(s),
               "energy": seed_energy(s)}
    for key, got in figures.items():
        rec = run.get(key, {})
        if key == "energy" and "energy" in run["files"]:
            if got:
                out.append(f"{where}: records energy, and so does files.energy (one source "
                           "per run: board energy counts only runs whose summary has none)")
            if energy is None:
                continue
            d = first_difference(rec, seed_energy(energy), f"runs[seed {k}].energy")
            if d:
                out.append(f"{d} (from the stored energy file)")
            continue
        d = first_difference(rec, got, f"runs[seed {k}].{key}")
        if d:
            out.append(f"{d} (from the stored summary)")
    return out


def _config_problems(entry: dict[str, Any], run: dict[str, Any], path: Path) -> list[str]:
    k = run["seed"]
    where = f"seed {k} config"
    try:
        data = load_data(path, "stored config")
    except ConfigError as e:
        return [str(e)]
    if not isinstance(data, dict):
        return [f"{where}: not a mapping"]
    out: list[str] = []
    if config_hash(data) != run["config_hash"]:
        out.append(f"{where}: its config hash is not the run's {run['config_hash'][:12]}... "
                   "(the stored config is not the one the run was made with)")
    if hash_without_seed(data) != entry["config_hash_without_seed"]:
        out.append(f"{where}: its hash without seed differs from config_hash_without_seed "
                   "(not the entry's config)")
    if data.get("seed") != k:
        out.append(f"{where}: seed {data.get('seed')!r}, the run records {k}")
    if data.get("env") != entry["env"]["spec"]:
        out.append(f"{where}: env differs from the entry's env.spec")
    try:
        c = validated_config(path)
    except ConfigError as e:
        return out + [f"{where}: {e}"]
    checks = {"agent": (c.agent.name, entry["agent"]),
              "learner": (c.learner.name, entry["learner"]),
              "env.id": (c.env.id, entry["env"]["id"]),
              "budget.env_steps": (c.train.env_steps, entry["budget"]["env_steps"]),
              "budget.tier": (budget_tier(dict(c.env.budget_tiers), c.train.env_steps),
                              entry["budget"]["tier"]),
              "lifetime_steps": (c.lifetime_steps, entry["lifetime_steps"]),
              "plasticity": (bool(getattr(c.agent, "plasticity", False)),
                             entry["plasticity"])}
    for key, (got, want) in checks.items():
        if got != want:
            out.append(f"{where}: gives {key} {got!r}, the entry records {want!r}")
    return out


def _checkpoint_problems(entry: dict[str, Any], run: dict[str, Any], path: Path) -> list[str]:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any failure to load as weights is the finding itself
        return [f"{path.name}: does not load with torch.load(weights_only=True) "
                f"({type(e).__name__})"]
    if not isinstance(obj, dict):
        return [f"{path.name}: not a checkpoint snnrl train wrote (a {type(obj).__name__})"]
    out = []
    for key, want in (("agent", entry["agent"]), ("env_id", entry["env"]["id"])):
        if obj.get(key) != want:
            out.append(f"{path.name}: {key} {obj.get(key)!r}, the entry records {want!r}")
    return out


def _identity(entry: dict[str, Any], entry_path: Path, root: Path) -> list[str]:
    out: list[str] = []
    slug = env_slug(entry["env"]["id"])
    name = entry_name(entry["agent"], entry["budget"]["tier"], entry["budget"]["env_steps"],
                      entry["config_hash_without_seed"])
    want_id = f"{slug}/{name}"
    if entry["id"] != want_id:
        out.append(f"id: {entry['id']!r} (its content gives {want_id!r})")
    if entry_rel(root, entry_path) != f"entries/{entry['id']}.yaml":
        out.append(f"file: at {entry_rel(root, entry_path)}, the id says "
                   f"entries/{entry['id']}.yaml")
    return out


def _consistency(entry: dict[str, Any]) -> list[str]:
    out: list[str] = []
    seeds = entry["seeds"]
    if seeds != [r["seed"] for r in entry["runs"]]:
        out.append(f"seeds: {seeds} are not the runs' seeds {[r['seed'] for r in entry['runs']]}")
    if seeds != sorted(set(seeds)):
        out.append(f"seeds: {seeds} (expected sorted, distinct)")
    if len(seeds) < MIN_SEEDS:
        out.append(f"seeds: {len(seeds)} (expected at least {MIN_SEEDS})")
    if entry["git_commit"] != common_commit(entry["runs"]):
        out.append(f"git_commit: {entry['git_commit']!r} (the runs' common commit is "
                   f"{common_commit(entry['runs'])!r}; null when they differ)")
    prim = choose_primary([r["scores"] for r in entry["runs"]], entry.get("learner", "none"))
    if prim != entry["primary_metric"]:
        out.append(f"primary_metric: {entry['primary_metric']!r} (the runs' scores give "
                   f"{prim!r})")
    return out


def _aggregate_problems(entry: dict[str, Any]) -> list[str]:
    p = entry["aggregates"]["primary"]
    try:
        got = compute_aggregates(entry["runs"], entry["primary_metric"], p["reps"],
                                 p["random_state"])
    except (KeyError, ValueError) as e:
        return [f"aggregates: cannot be recomputed ({e})"]
    d = first_difference(entry["aggregates"], got, "aggregates")
    return [f"{d} (from the per-seed scores)"] if d else []


def _ledger_problems(entry: dict[str, Any], entry_path: Path, root: Path) -> list[str]:
    try:
        ledger = read_ledger(root)
    except ConfigError as e:
        return [str(e)]
    rel = entry_rel(root, entry_path)
    mine = [r for r in ledger if r["entry"] == rel]
    if not mine:
        return [f"{LEDGER}: no line for {rel} (submit with snnrl board submit)"]
    out = []
    if mine[-1]["sha256"] != sha256_file(entry_path):
        out.append(f"{LEDGER}: the latest line for {rel} records another sha256 (the entry was "
                   "edited by hand; entries change only through snnrl board)")
    events = [h["event"] for h in entry["verification"]["history"]]
    if [r["event"] for r in mine] != events:
        out.append(f"{LEDGER}: events {[r['event'] for r in mine]} for {rel} are not the "
                   f"entry's history {events}")
    return out


def check(entry_path: Path) -> list[str]:
    """Problems of one entry file (empty: it passes); see the module docstring.

    Each problem is one line starting with the entry's path.
    """
    entry_path = Path(entry_path)
    try:
        root = root_of(entry_path)
        entry = load_data(entry_path, "entry")
    except ConfigError as e:
        return [str(e)]
    label = str(entry_path)
    problems = structure_problems(entry)
    if problems:
        return [f"{label}: {p}" for p in problems]
    problems = _identity(entry, entry_path, root)
    if not problems:  # paths are built from the id: only once it is the canonical one
        problems = _files(entry, root)
    content_ok = not problems
    problems += _consistency(entry)
    if content_ok:
        for run in entry["runs"]:
            files = {kind: root / run["files"][kind]["path"] for kind in FILE_KINDS
                     if kind in run["files"]}
            energy = None
            if "energy" in files:
                energy, more = _energy_file(entry, run, files["energy"])
                problems += more
            try:
                summary = json.loads(files["summary"].read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as e:
                problems.append(f"seed {run['seed']} summary: not JSON ({type(e).__name__})")
            else:
                problems += _summary_problems(entry, run, summary, energy)
            problems += _config_problems(entry, run, files["config"])
            problems += _checkpoint_problems(entry, run, files["checkpoint"])
    problems += _aggregate_problems(entry)
    problems += _ledger_problems(entry, entry_path, root)
    return [f"{label}: {p}" for p in problems]


def checked_entry(entry_path: Path) -> tuple[Path, dict[str, Any]]:
    """``(leaderboard root, entry)`` of an entry that passes :func:`check`.

    What ``verify``, ``reproduce`` and ``energy`` start from.

    Raises:
        ConfigError: The entry fails check (the first problem is named).
    """
    problems = check(entry_path)
    if problems:
        raise ConfigError(str(entry_path), "fails check",
                          f"an entry that passes snnrl board check first: {problems[0]}")
    return root_of(entry_path), load_data(entry_path, "entry")


def entry_files(root: Path) -> list[Path]:
    """Every entry file under ``root/entries``, sorted."""
    d = root / "entries"
    return sorted(d.glob("*/*.yaml")) if d.is_dir() else []


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None


def ledger_head_problems(root: Path) -> tuple[list[str], str]:
    """Whether the ledger at git ``HEAD`` is a prefix of the working ledger.

    Returns:
        ``(problems, note)``: the note says what was compared, or why it was skipped (not a git
        checkout, no ``HEAD``, the ledger not committed yet).
    """
    path = root / LEDGER
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or top.returncode != 0:
        return [], "ledger history: skipped (not a git checkout)"
    rel = path.resolve().relative_to(Path(top.stdout.strip()).resolve()).as_posix()
    head = _git(root, "show", f"HEAD:{rel}")
    if head is None or head.returncode != 0:
        return [], f"ledger history: skipped ({rel} is not in git HEAD yet)"
    old = head.stdout.splitlines()
    new = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    for i, line in enumerate(old):
        if i >= len(new) or new[i] != line:
            return ([f"{LEDGER}:{i + 1}: the line committed at HEAD was changed or removed (the "
                     "ledger is append-only)"], f"ledger history: compared with HEAD:{rel}")
    return [], f"ledger history: HEAD's {len(old)} lines are a prefix ({len(new)} now)"


def check_all(root: Path, *, per_entry: bool = True) -> tuple[list[str], list[str]]:
    """Check a whole leaderboard root.

    Args:
        root: The leaderboard root (``leaderboards/``).
        per_entry: Run :func:`check` on every entry (the bootstraps make this the slow part);
            False checks only what spans entries: the ledger, append-only history, README.md.
            The test suite checks each entry in its own test case and passes False here.

    Returns:
        ``(problems, notes)``; no problems when ``root`` holds no entries and no ledger.
    """
    from snnrl.leaderboard.tables import render

    root = Path(root)
    problems: list[str] = []
    notes: list[str] = []
    entries = entry_files(root)
    for e in entries if per_entry else ():
        problems += check(e)
    try:
        ledger = read_ledger(root)
    except ConfigError as e:
        ledger = []
        problems.append(str(e))
    for i, rec in enumerate(ledger, 1):
        if not (root / rec["entry"]).is_file():
            problems.append(f"{LEDGER}:{i}: names {rec['entry']}, which does not exist (entries "
                            "are never removed)")
        if rec["event"] not in EVENTS:
            problems.append(f"{LEDGER}:{i}: event {rec['event']!r} (expected one of "
                            f"{', '.join(EVENTS)})")
    head_problems, note = ledger_head_problems(root)
    problems += head_problems
    notes.append(note)
    if entries or (root / README).is_file():
        try:
            text = render(root)
        except ConfigError as e:
            problems.append(f"{README}: cannot be rendered ({e})")
        else:
            readme = root / README
            if not readme.is_file() or readme.read_text(encoding="utf-8") != text:
                problems.append(f"{README}: stale (run snnrl board render --root {root})")
    notes.append(f"{len(entries)} entries checked" if per_entry
                 else f"{len(entries)} entries (not checked one by one)")
    return problems, notes
