"""``submit``: turn finished runs of one configuration (one per seed) into a leaderboard entry.

What is refused, each with one line naming the run and what was expected: a run whose
``status`` is not ``ok``; a ``config.yaml`` that is not plain data (``!!python`` tags,
``_target_``, ``${...}``) or not one of snnrl's schemas, or that does not hash to the run's
``summary.json`` config hash; runs that differ in anything but the seed (names the differing
keys); two runs of one seed; fewer than :data:`~snnrl.leaderboard.store.MIN_SEEDS` seeds; runs
of different protocol versions, code (git commit) or package versions; runs without an
evaluation figure; a stored file over 4 MiB or an entry over 20 MiB; an entry that exists
already (entries are append-only).

The stored files are copied byte for byte into a temporary directory beside their place, checked
against the hashes of the sources, and renamed into place; then the entry is written atomically
and the ledger gets its line. A failure on the way removes what was written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from snnrl.config import ConfigError
from snnrl.leaderboard.checks import (
    FILE_KINDS,
    budget_tier,
    check,
    common_commit,
    entry_name,
    hash_without_seed,
    stored_path,
    validated_config,
)
from snnrl.leaderboard.schema import (
    choose_primary,
    compute_aggregates,
    seed_energy,
    seed_scores,
    seed_stability,
)
from snnrl.leaderboard.store import (
    BOOTSTRAP_REPS,
    LEDGER,
    MAX_ENTRY_BYTES,
    MAX_FILE_BYTES,
    MIN_REPS,
    MIN_SEEDS,
    RANDOM_STATE,
    SCHEMA_VERSION,
    append_ledger,
    dump_yaml,
    env_slug,
    load_data,
    mib,
    now_utc,
    sha256_file,
    write_text,
)
from snnrl.tracking import config_hash

_SOURCES = {"checkpoint": "checkpoint.pt", "config": "config.yaml", "summary": "summary.json"}


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out |= _flat(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return {prefix: node}


def _differing_keys(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    fa, fb = _flat(a), _flat(b)
    return sorted(k for k in fa.keys() | fb.keys()
                  if k not in ("seed", "progress") and not k.startswith("logger.")
                  and fa.get(k, "<absent>") != fb.get(k, "<absent>"))


def _read_run(d: Path) -> dict[str, Any]:
    """Everything submit needs from one run directory, checked."""
    spath = d / "summary.json"
    try:
        summary = json.loads(spath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(str(spath), type(e).__name__, "the JSON snnrl train writes") from None
    if not isinstance(summary, dict):
        raise ConfigError(str(spath), type(summary).__name__, "a JSON object")
    if summary.get("status") != "ok":
        raise ConfigError(f"{spath}: status", summary.get("status"),
                          "'ok' (only finished runs that did not diverge are submitted)")
    for key in ("seed", "agent", "env_id", "protocol", "config_hash", "metrics"):
        if key not in summary:
            raise ConfigError(str(spath), f"no {key!r}", "a summary.json written by snnrl train")
    config = load_data(d / "config.yaml", "run config")
    if not isinstance(config, dict):
        raise ConfigError(str(d / "config.yaml"), type(config).__name__, "a mapping")
    c = validated_config(d / "config.yaml")
    if config_hash(config) != summary["config_hash"]:
        raise ConfigError(str(d / "config.yaml"), "a config of another hash",
                          f"the config of summary.json's config_hash "
                          f"{summary['config_hash'][:12]}... (was config.yaml changed?)")
    if config.get("seed") != summary["seed"]:
        raise ConfigError(str(d / "config.yaml"), config.get("seed"),
                          f"seed {summary['seed']} as in summary.json")
    files: dict[str, dict[str, Any]] = {}
    for kind, name in (*_SOURCES.items(), ("metrics_jsonl", "metrics.jsonl")):
        p = d / name
        if not p.is_file():
            raise ConfigError(str(d), f"no {name}", f"a finished run directory with {name}")
        size = p.stat().st_size
        if kind != "metrics_jsonl" and size > MAX_FILE_BYTES:
            raise ConfigError(str(p), mib(size), f"at most {mib(MAX_FILE_BYTES)} per stored file "
                              "(leaderboard size cap)")
        files[kind] = {"sha256": sha256_file(p), "bytes": size}
    return {"dir": d, "summary": summary, "config": config, "c": c, "files": files}


def _same(runs: list[dict[str, Any]], key: str, what: str) -> Any:
    first = runs[0]
    for r in runs[1:]:
        if r["summary"].get(key) != first["summary"].get(key):
            raise ConfigError(str(r["dir"]), f"{key} {r['summary'].get(key)!r}",
                              f"the {what} of {first['dir']} ({first['summary'].get(key)!r}): "
                              "one entry is one protocol and one software environment")
    return first["summary"].get(key)


def _build(run_dirs: Sequence[Path]) -> tuple[list[dict[str, Any]], str]:
    from snnrl.cli.compare import find_run_dirs

    runs = [_read_run(d) for d in find_run_dirs([Path(d) for d in run_dirs])]
    ref = runs[0]
    cfg_hash = hash_without_seed(ref["config"])
    for r in runs[1:]:
        if hash_without_seed(r["config"]) != cfg_hash:
            keys = _differing_keys(ref["config"], r["config"]) or ["(key order or types)"]
            raise ConfigError(str(r["dir"]), "another config",
                              f"runs of one config up to the seed; it differs from "
                              f"{ref['dir']} in {', '.join(keys[:5])}")
    seen: dict[int, Path] = {}
    for r in runs:
        s = r["summary"]["seed"]
        if s in seen:
            raise ConfigError(str(r["dir"]), f"seed {s}", f"one run per seed ({seen[s]} has it)")
        seen[s] = r["dir"]
    if len(runs) < MIN_SEEDS:
        raise ConfigError("runs", f"{len(runs)} seeds", f"at least {MIN_SEEDS} seeds (runs of "
                          "one config with different seeds)")
    for key, what in (("protocol", "protocol version"), ("versions", "package versions")):
        _same(runs, key, what)
    total = sum(r["files"][k]["bytes"] for r in runs for k in _SOURCES)
    if total > MAX_ENTRY_BYTES:
        raise ConfigError("runs", mib(total), f"at most {mib(MAX_ENTRY_BYTES)} of stored files "
                          "per entry (leaderboard size cap)")
    return sorted(runs, key=lambda r: r["summary"]["seed"]), cfg_hash


def _run_record(r: dict[str, Any], entry_id: str) -> dict[str, Any]:
    s = r["summary"]
    k = s["seed"]
    rec: dict[str, Any] = {"seed": k, "source": r["dir"].resolve().name,
                           "config_hash": s["config_hash"], "git_commit": s.get("git_commit"),
                           "torch_threads": s.get("torch_threads", 1),
                           "device": s.get("device", "cpu"), "scores": seed_scores(s)}
    if stab := seed_stability(s):
        rec["stability"] = stab
    if energy := seed_energy(s):
        rec["energy"] = energy
    rec["files"] = {kind: {"path": stored_path(entry_id, kind, k), **r["files"][kind]}
                    for kind in _SOURCES}
    rec["files"]["metrics_jsonl"] = r["files"]["metrics_jsonl"]
    return rec


def submit(run_dirs: Sequence[Path], out_root: Path, *, reps: int = BOOTSTRAP_REPS,
           by: str = "snnrl board submit") -> Path:
    """Make an entry of ``run_dirs`` (runs, or sweep directories holding them) in ``out_root``.

    Args:
        run_dirs: Run directories (or directories above them); one run per seed, one config.
        out_root: The leaderboard root (``leaderboards``); created if missing.
        reps: Bootstrap resamples of the CIs (at least 1,000).
        by: Who submits, for the verification history.

    Returns:
        The entry file written.

    Raises:
        ConfigError: Bad input (see the module docstring); nothing is written.
    """
    if reps < MIN_REPS:
        raise ConfigError("reps", reps, f"an integer >= {MIN_REPS}")
    runs, cfg_hash = _build(run_dirs)
    ref, c = runs[0]["summary"], runs[0]["c"]
    root = Path(out_root)
    tier = budget_tier(dict(c.env.budget_tiers), c.train.env_steps)
    slug = env_slug(c.env.id)
    name = entry_name(c.agent.name, tier, c.train.env_steps, cfg_hash)
    entry_id = f"{slug}/{name}"
    entry_path = root / "entries" / slug / f"{name}.yaml"
    store_dir = root / "checkpoints" / slug / name
    for p in (entry_path, store_dir):
        if p.exists():
            raise ConfigError(str(p), "exists", "a new entry (entries are append-only; this "
                              "config is on the leaderboard already)")
    records = [_run_record(r, entry_id) for r in runs]
    primary = choose_primary([rec["scores"] for rec in records], c.learner.name)
    if primary is None:
        raise ConfigError("runs", "no evaluation figure", "eval/fitness_mean (meta-learned "
                          "agents), or eval/return_mean or eval/reward_rate_mean, in every run "
                          "(eval.enabled=true)")
    entry: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "id": entry_id, "agent": c.agent.name,
        "plasticity": bool(getattr(c.agent, "plasticity", False)), "learner": c.learner.name}
    if isinstance(ref.get("rules"), list) and ref["rules"]:
        entry["rules"] = [{"name": str(x["name"]), "local": bool(x["local"]),
                           "signals": [str(s) for s in x["signals"]]} for x in ref["rules"]]
    entry |= {
        "env": {"id": c.env.id, "spec": runs[0]["config"]["env"]},
        "protocol": ref["protocol"],
        "budget": {"env_steps": c.train.env_steps, "tier": tier},
        "lifetime_steps": c.lifetime_steps,
        "primary_metric": primary,
        "config_hash_without_seed": cfg_hash,
        "git_commit": common_commit(records),
        "versions": ref.get("versions") or {},
        "min_seeds": MIN_SEEDS,
        "seeds": [rec["seed"] for rec in records],
        "runs": records,
        "aggregates": compute_aggregates(records, primary, reps, RANDOM_STATE),
        "verification": {"level": "checked", "history": [{
            "event": "submitted", "level": "checked", "date": now_utc(), "by": by,
            "details": f"{len(records)} runs; schema, file hashes, aggregates and config "
                       "consistency checked (snnrl board check)"}]},
    }
    _write(root, entry_path, store_dir, runs, dump_yaml(entry))
    return entry_path


def _write(root: Path, entry_path: Path, store_dir: Path, runs: list[dict[str, Any]],
           text: str) -> None:
    store_dir.parent.mkdir(parents=True, exist_ok=True)
    ledger = root / LEDGER
    old_ledger = ledger.read_bytes() if ledger.is_file() else None
    tmp = Path(tempfile.mkdtemp(prefix=f".{store_dir.name}.", dir=store_dir.parent))
    moved = False
    try:
        for r in runs:
            k = r["summary"]["seed"]
            for kind, src in _SOURCES.items():
                dst = tmp / FILE_KINDS[kind].format(k=k)
                shutil.copyfile(r["dir"] / src, dst)
                if sha256_file(dst) != r["files"][kind]["sha256"]:
                    raise ConfigError(str(r["dir"] / src), "changed while copying",
                                      "a finished run that nothing writes to")
        os.chmod(tmp, 0o755)
        os.rename(tmp, store_dir)
        moved = True
        write_text(entry_path, text)
        append_ledger(root, entry_path, "submitted")
        problems = check(entry_path)
        if problems:  # pragma: no cover - submit writes what check accepts
            raise ConfigError(str(entry_path), problems[0], "an entry that passes check")
    except BaseException:
        shutil.rmtree(store_dir if moved else tmp, ignore_errors=True)
        if moved:
            entry_path.unlink(missing_ok=True)
            if old_ledger is None:
                ledger.unlink(missing_ok=True)
            else:
                ledger.write_bytes(old_ledger)
        raise
