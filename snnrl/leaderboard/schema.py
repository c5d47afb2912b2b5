"""The entry schema (version 1), the per-seed figures and the aggregates an entry records.

An entry is one YAML mapping; every key below is required unless marked optional::

    schema_version: 1
    id: <env-slug>/<agent>__<tier or env steps>__<hash12>
    agent: rstdp                      # zoo name (agent=NAME)
    plasticity: true                  # false: the agent's plasticity-off control
    learner: none                     # none | es | bptt
    rules: [{name, local, signals}]   # optional: the plasticity rules and their locality
    env: {id: snnrl/CartPole-v1, spec: {...the resolved env config...}}
    protocol: v1                      # docs/PROTOCOL.md version the runs were made under
    budget: {env_steps: 1280000, tier: custom}   # tier from env.budget_tiers, else "custom"
    lifetime_steps: 20000
    primary_metric: eval/return_mean  # the ranked figure
    config_hash_without_seed: <sha256>  # the one config every run shares, seed removed
    git_commit: <git describe of the runs' code; null when the runs' commits differ>
    versions: {python, torch, numpy, gymnasium, snnrl, ...}
    min_seeds: 5
    seeds: [1, 2, ...]                # sorted, distinct, >= min_seeds
    runs:                             # one per seed, in the order of seeds
    - seed: 1
      source: <the run directory's name>
      config_hash: <the run's own config hash (with its seed)>
      git_commit: <git describe of this run's code>
      torch_threads: 1
      device: cpu
      scores: {eval/return_mean: ..., train/return_last_10pct: ..., ...}
      stability: {stability/h10/ratio: ..., ...}            # optional
      energy: {loihi: {J_per_step, fits, lower_bound, rankable}, ...}   # optional: from the
                                  # summary, or from files.energy (snnrl board energy)
      files:
        checkpoint: {path: checkpoints/<id>/seed1.pt, sha256, bytes}
        config: {path: checkpoints/<id>/seed1.config.yaml, sha256, bytes}
        summary: {path: checkpoints/<id>/seed1.summary.json, sha256, bytes}
        energy: {path: checkpoints/<id>/seed1.energy.json, sha256, bytes}   # optional
        metrics_jsonl: {sha256, bytes}     # the run's metrics.jsonl (not stored)
    aggregates:
      primary: {metric, estimator: iqm, point, ci_low, ci_high, confidence: 0.95, reps,
                random_state: 0, method, n_seeds}
      means: {<score>: mean over seeds}     # every score all seeds have
      stability: {<stability/hK/ratio|score_last>: {point, ci_low, ci_high, n_seeds}}
      energy: {<chip>: {J_per_step_mean, fits, lower_bound, rankable, n_seeds}}
    verification:
      level: checked                  # checked | re-evaluated | reproduced
      history:
      - {event: submitted, level: checked, date, by, details}
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from typing import Any

from snnrl.leaderboard.store import CONFIDENCE, LEVELS

SCORE_KEYS = ("eval/return_mean", "eval/fitness_mean", "eval/reward_rate_mean",
              "train/return_last_10pct")
"""Per-seed scores an entry records, where the run has them (finite)."""
PRIMARY_ORDER = ("eval/return_mean", "eval/reward_rate_mean")
META_PRIMARY = "eval/fitness_mean"
"""What meta-learned agents (``learner`` es or bptt; protocol v2) are ranked by: the mean episode
return in fresh lifetimes, defined in every lifetime (v1's last-10% return is not where no
episode ends in the window)."""
"""The ranked figure: the first of these that every seed has (the reward rate is the figure of
long variants whose episodes never end inside a lifetime; docs/PROTOCOL.md)."""
COMPARE_KEYS = ("eval/return_mean", "eval/return_std", "eval/reward_rate_mean",
                "eval/fitness_mean", "eval/lifetimes")
"""Figures ``verify`` recomputes and compares with each stored summary (where recorded)."""
STABILITY_AGGREGATED = re.compile(r"^stability/h\d+/(ratio|score_last)$")
"""Stability figures that get an IQM with a CI over seeds."""
EVENTS = {"submitted": "checked", "re-evaluated": "re-evaluated",
          "re-evaluation-failed": None, "reproduced": "reproduced",
          "reproduction-failed": None, "energy-counted": None, "energy-repriced": None}
"""Ledger/history events and the level each sets (None: the level stays as it was)."""
METHOD = "percentile stratified bootstrap over seeds (rliable via snnrl.eval.stats)"
REL_TOL = 1e-9
"""Relative tolerance when recomputed aggregates are compared with recorded ones."""


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def seed_scores(summary: dict[str, Any]) -> dict[str, float]:
    """The scores of one run's ``summary.json`` (:data:`SCORE_KEYS` it has, finite)."""
    m = summary.get("metrics") or {}
    return {k: float(m[k]) for k in SCORE_KEYS if _finite(m.get(k))}


def seed_stability(summary: dict[str, Any]) -> dict[str, Any]:
    """The long-horizon figures of one summary (``stability/h{k}/...``), as recorded."""
    m = summary.get("metrics") or {}
    return {k: m[k] for k in sorted(m) if k.startswith("stability/")}


def seed_energy(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Energy per chip: ``energy/<chip>/J_per_step`` with the summary's flags for that chip."""
    m = summary.get("metrics") or {}
    flags = summary.get("energy") or {}
    out: dict[str, dict[str, Any]] = {}
    for chip in sorted(flags):
        f = flags[chip] if isinstance(flags[chip], dict) else {}
        j = m.get(f"energy/{chip}/J_per_step")
        out[chip] = {"J_per_step": float(j) if _finite(j) else None,
                     "fits": bool(f.get("fits", False)),
                     "lower_bound": bool(f.get("lower_bound", False)),
                     "rankable": bool(f.get("rankable", False))}
    return out


def choose_primary(scores: Sequence[dict[str, float]], learner: str = "none") -> str | None:
    """The ranked figure of an entry, or None if the runs have none.

    :data:`META_PRIMARY` for meta-learned agents, else the first of :data:`PRIMARY_ORDER` that
    every seed has.
    """
    order = (META_PRIMARY,) if learner in ("es", "bptt") else PRIMARY_ORDER
    for key in order:
        if scores and all(key in s for s in scores):
            return key
    return None


def _interval(values: Sequence[float | None], reps: int, random_state: int
              ) -> dict[str, Any]:
    from snnrl.eval.stats import interval_estimates

    x = [math.nan if v is None else float(v) for v in values]
    if all(math.isnan(v) for v in x):
        return {"point": None, "ci_low": None, "ci_high": None, "n_seeds": 0}
    est = interval_estimates({"x": x}, ("iqm",), reps=reps, confidence=CONFIDENCE,
                             random_state=random_state)["x"]["iqm"]

    def num(v: float) -> float | None:
        return None if math.isnan(v) else float(v)

    return {"point": num(est.point), "ci_low": num(est.low), "ci_high": num(est.high),
            "n_seeds": est.n_seeds}


def compute_aggregates(runs: Sequence[dict[str, Any]], primary: str, reps: int,
                       random_state: int) -> dict[str, Any]:
    """The ``aggregates`` block, from the per-seed records of ``runs`` only.

    Args:
        runs: Per-seed records (``scores``, optional ``stability`` and ``energy``).
        primary: The ranked score.
        reps: Bootstrap resamples.
        random_state: Seed of the bootstrap.
    """
    scores = [r["scores"] for r in runs]
    prim = _interval([s.get(primary) for s in scores], reps, random_state)
    out: dict[str, Any] = {
        "primary": {"metric": primary, "estimator": "iqm", "point": prim["point"],
                    "ci_low": prim["ci_low"], "ci_high": prim["ci_high"],
                    "confidence": CONFIDENCE, "reps": reps, "random_state": random_state,
                    "method": METHOD, "n_seeds": prim["n_seeds"]},
        "means": {k: statistics.fmean(s[k] for s in scores) for k in SCORE_KEYS
                  if all(k in s for s in scores)},
    }
    stab_keys = sorted({k for r in runs for k in (r.get("stability") or {})
                        if STABILITY_AGGREGATED.match(k)})
    if stab_keys:
        out["stability"] = {
            k: _interval([v if _finite(v := (r.get("stability") or {}).get(k)) else None
                          for r in runs], reps, random_state) for k in stab_keys}
    chips = sorted({c for r in runs for c in (r.get("energy") or {})})
    if chips:
        energy: dict[str, Any] = {}
        for chip in chips:
            per = [(r.get("energy") or {}).get(chip) for r in runs]
            js = [p["J_per_step"] for p in per if p and _finite(p.get("J_per_step"))]
            energy[chip] = {"J_per_step_mean": statistics.fmean(js) if js else None,
                            "fits": all(bool(p and p.get("fits")) for p in per),
                            "lower_bound": any(bool(p and p.get("lower_bound")) for p in per),
                            "rankable": all(bool(p and p.get("rankable")) for p in per),
                            "n_seeds": len(js)}
        out["energy"] = energy
    return out


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """Where ``a`` (recorded) and ``b`` (recomputed) differ, or None.

    Floats are compared with relative tolerance :data:`REL_TOL`; everything else exactly.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                return f"{where}.{k}: recorded {a.get(k)!r}, recomputed {b.get(k)!r}"
            d = first_difference(a[k], b[k], f"{where}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: recorded {len(a)} items, recomputed {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = first_difference(x, y, f"{where}[{i}]")
            if d:
                return d
        return None
    if _finite(a) and _finite(b) and not (isinstance(a, int) and isinstance(b, int)):
        if math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12):
            return None
    elif a == b and type(a) is type(b):
        return None
    return f"{where}: recorded {a!r}, recomputed {b!r}"


# --- structure ----------------------------------------------------------------------------------
# A spec is a type token ("int", "float", "str", "bool", "null", "hex64", "any"), a tuple of
# tokens (any of them), a list [item spec], or a dict {key: spec} ("key?" optional, "*" any key).

_FILE = {"path": "str", "sha256": "hex64", "bytes": "int"}
_NUM = ("float", "null")
_INTERVAL = {"point": _NUM, "ci_low": _NUM, "ci_high": _NUM, "n_seeds": "int"}
ENTRY_SPEC: dict[str, Any] = {
    "schema_version": "int",
    "id": "str",
    "agent": "str",
    "plasticity": "bool",
    "learner": "str",
    "rules?": [{"name": "str", "local": "bool", "signals": ["str"]}],
    "env": {"id": "str", "spec": {"*": "any"}},
    "protocol": "str",
    "budget": {"env_steps": "int", "tier": "str"},
    "lifetime_steps": "int",
    "primary_metric": "str",
    "config_hash_without_seed": "hex64",
    "git_commit": ("str", "null"),
    "versions": {"*": "str"},
    "min_seeds": "int",
    "seeds": ["int"],
    "runs": [{
        "seed": "int",
        "source": "str",
        "config_hash": "hex64",
        "git_commit": ("str", "null"),
        "torch_threads": "int",
        "device": "str",
        "scores": {"*": "float"},
        "stability?": {"*": ("float", "null", "str")},
        "energy?": {"*": {"J_per_step": _NUM, "fits": "bool", "lower_bound": "bool",
                          "rankable": "bool"}},
        "files": {"checkpoint": _FILE, "config": _FILE, "summary": _FILE, "energy?": _FILE,
                  "metrics_jsonl": {"sha256": "hex64", "bytes": "int"}},
    }],
    "aggregates": {
        "primary": {"metric": "str", "estimator": "str", "point": _NUM, "ci_low": _NUM,
                    "ci_high": _NUM, "confidence": "float", "reps": "int",
                    "random_state": "int", "method": "str", "n_seeds": "int"},
        "means": {"*": "float"},
        "stability?": {"*": _INTERVAL},
        "energy?": {"*": {"J_per_step_mean": _NUM, "fits": "bool", "lower_bound": "bool",
                          "rankable": "bool", "n_seeds": "int"}},
    },
    "verification": {
        "level": "str",
        "history": [{"event": "str", "level": "str", "date": "str", "by": "str",
                     "details": "str"}],
    },
}

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _is(node: Any, token: str) -> bool:
    if token == "any":
        return True
    if token == "null":
        return node is None
    if token == "bool":
        return isinstance(node, bool)
    if token == "int":
        return isinstance(node, int) and not isinstance(node, bool)
    if token == "float":
        return _finite(node)
    if token == "str":
        return isinstance(node, str)
    if token == "hex64":
        return isinstance(node, str) and bool(_HEX64.match(node))
    raise AssertionError(token)


def _walk(node: Any, spec: Any, where: str, out: list[str]) -> None:
    if isinstance(spec, dict):
        if not isinstance(node, dict):
            out.append(f"{where or 'entry'}: expected a mapping, got {type(node).__name__}")
            return
        if "*" in spec:
            for k, v in node.items():
                _walk(v, spec["*"], f"{where}.{k}", out)
            return
        names = {k.rstrip("?") for k in spec}
        for key, sub in spec.items():
            k = key.rstrip("?")
            if k in node:
                _walk(node[k], sub, f"{where}.{k}" if where else k, out)
            elif not key.endswith("?"):
                out.append(f"{where}.{k}: missing" if where else f"{k}: missing")
        extra = sorted(str(k) for k in node if k not in names)
        if extra:
            out.append(f"{where or 'entry'}: unknown key(s) {', '.join(extra)}")
    elif isinstance(spec, list):
        if not isinstance(node, list):
            out.append(f"{where}: expected a list, got {type(node).__name__}")
            return
        for i, v in enumerate(node):
            _walk(v, spec[0], f"{where}[{i}]", out)
    else:
        tokens = spec if isinstance(spec, tuple) else (spec,)
        if not any(_is(node, t) for t in tokens):
            out.append(f"{where}: {node!r} is not {' or '.join(tokens)}")


def structure_problems(entry: Any) -> list[str]:
    """Keys and types of an entry against :data:`ENTRY_SPEC`, plus the fixed values."""
    out: list[str] = []
    _walk(entry, ENTRY_SPEC, "", out)
    if out:
        return out
    from snnrl.leaderboard.store import MIN_REPS, MIN_SEEDS, RANDOM_STATE, SCHEMA_VERSION

    if entry["schema_version"] != SCHEMA_VERSION:
        out.append(f"schema_version: {entry['schema_version']} (this snnrl reads "
                   f"{SCHEMA_VERSION})")
    if entry["min_seeds"] != MIN_SEEDS:
        out.append(f"min_seeds: {entry['min_seeds']} (expected {MIN_SEEDS})")
    p = entry["aggregates"]["primary"]
    if p["metric"] != entry["primary_metric"]:
        out.append(f"aggregates.primary.metric: {p['metric']!r} is not primary_metric "
                   f"{entry['primary_metric']!r}")
    if p["estimator"] != "iqm" or p["method"] != METHOD:
        out.append("aggregates.primary: expected estimator 'iqm' and the rliable bootstrap")
    if p["random_state"] != RANDOM_STATE or p["confidence"] != CONFIDENCE:
        out.append(f"aggregates.primary: expected random_state {RANDOM_STATE} and confidence "
                   f"{CONFIDENCE}")
    if p["reps"] < MIN_REPS:
        out.append(f"aggregates.primary.reps: {p['reps']} (expected >= {MIN_REPS})")
    v = entry["verification"]
    if v["level"] not in LEVELS:
        out.append(f"verification.level: {v['level']!r} (expected one of {', '.join(LEVELS)})")
    hist = v["history"]
    if not hist:
        out.append("verification.history: empty (expected the submission first)")
    for i, h in enumerate(hist):
        if h["event"] not in EVENTS or h["level"] not in LEVELS:
            out.append(f"verification.history[{i}]: event {h['event']!r} / level "
                       f"{h['level']!r} (expected events {', '.join(EVENTS)}; levels "
                       f"{', '.join(LEVELS)})")
    if out or not hist:
        return out
    if hist[0]["event"] != "submitted" or any(h["event"] == "submitted" for h in hist[1:]):
        out.append("verification.history: expected one 'submitted' event, first")
    level = LEVELS[0]
    for i, h in enumerate(hist):
        sets = EVENTS[h["event"]]
        if sets is not None:
            level = max(level, sets, key=LEVELS.index)
        if h["level"] != level:
            out.append(f"verification.history[{i}].level: {h['level']!r} (after event "
                       f"{h['event']!r} the level is {level!r})")
            break
    if not out and v["level"] != level:
        out.append(f"verification.level: {v['level']!r} (the history reaches {level!r})")
    counted = [h for h in hist if h["event"] == "energy-counted"]
    with_file = [r["seed"] for r in entry["runs"] if "energy" in r["files"]]
    if len(counted) > 1:
        out.append("verification.history: more than one 'energy-counted' event")
    events = [h["event"] for h in hist]
    if "energy-repriced" in events and (
            not counted or events.index("energy-repriced") < events.index("energy-counted")):
        out.append("verification.history: 'energy-repriced' before any 'energy-counted' event")
    if with_file and len(with_file) != len(entry["runs"]):
        out.append(f"runs: seeds {with_file} have files.energy and the others not (snnrl board "
                   "energy counts every seed)")
    if bool(with_file) != bool(counted):
        out.append("runs[*].files.energy: present without an 'energy-counted' event, or the "
                   "event without the files")
    return out
