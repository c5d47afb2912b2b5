"""The sweep summary: one table of every job in a sweep directory, written when a sweep ends.

Hydra's ``on_multirun_end`` receives no job results (and a launcher may run jobs on other
machines), so each job writes its own record, ``summary.json`` (docs/ARCHITECTURE.md). At the end
of a sweep :class:`SweepSummary` scans the sweep directory for them and writes, atomically:

- ``sweep_summary.csv``: one row per job (subdir, agent, env, seed, status, reason, the main
  metrics, wall time);
- ``sweep_summary.md``: the same as a Markdown table, with a count per status.

A job directory that Hydra made (it holds ``.hydra/``) but that has no ``summary.json`` (killed,
or stopped before training) is listed with status ``no summary``, so nothing is lost silently.
The same files can be written by hand for any sweep directory::

    python -m snnrl.tracking.sweep SWEEP_DIR

Only the standard library is imported here: the callback is created in every Hydra process.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

SUMMARY_FILES = ("sweep_summary.md", "sweep_summary.csv")
"""What :func:`write_sweep_summary` writes into the sweep directory."""

DEFAULT_METRICS = (
    "eval/return_mean",
    "eval/return_std",
    "eval/reward_rate_mean",
    "eval/control_return_mean",
    "train/return_last_10pct",
    "train/fitness_mean_last_gen",
)
"""Summary metrics shown when at least one job has them (others are left out of the table)."""

NO_SUMMARY = "no summary"


def find_jobs(sweep_dir: Path) -> list[Path]:
    """Job directories under ``sweep_dir``: those with ``summary.json`` or Hydra's ``.hydra/``.

    A job directory's own sub-directories (``eval/<tag>/``, ``wandb/``) are not searched, nor
    are hidden ones (``.submitit/``).
    """
    jobs: list[Path] = []
    for root, subdirs, files in os.walk(sweep_dir, followlinks=False):
        if "summary.json" in files or ".hydra" in subdirs:
            jobs.append(Path(root))
            subdirs.clear()
        else:
            subdirs[:] = sorted(s for s in subdirs if not s.startswith("."))
    return sorted(jobs, key=str)


def _read(job: Path) -> dict[str, Any]:
    path = job / "summary.json"
    if not path.is_file():
        return {"status": NO_SUMMARY, "reason": "no summary.json (killed, or not run yet)"}
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return {"status": "unreadable", "reason": f"summary.json: {type(e).__name__}"}
    if not isinstance(data, dict):
        return {"status": "unreadable", "reason": "summary.json is not a JSON object"}
    return data


def _value(x: Any) -> str:
    """A cell: numbers with 6 significant digits, None as empty."""
    if x is None:
        return ""
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, float):
        return f"{x:.6g}" if math.isfinite(x) else str(x)
    return str(x)


def sweep_rows(sweep_dir: Path, metrics: Sequence[str] = DEFAULT_METRICS
               ) -> tuple[list[str], list[dict[str, str]]]:
    """Column names and one row per job of ``sweep_dir`` (see the module docstring)."""
    jobs = [(j, _read(j)) for j in find_jobs(sweep_dir)]
    shown = [m for m in metrics
             if any(isinstance(s.get("metrics"), dict) and m in s["metrics"] for _, s in jobs)]
    columns = ["subdir", "agent", "env_id", "seed", "status", "reason", *shown, "env_steps",
               "wall_time_s"]
    rows = []
    for job, s in jobs:
        m = s.get("metrics") if isinstance(s.get("metrics"), dict) else {}
        rel = job.relative_to(sweep_dir).as_posix()
        row = {"subdir": "." if rel == "." else rel, **{k: _value(s.get(k)) for k in (
            "agent", "env_id", "seed", "status", "reason", "env_steps")}}
        row |= {k: _value(m.get(k)) for k in shown}
        wall = s.get("wall_time_s")
        row["wall_time_s"] = f"{wall:.1f}" if isinstance(wall, int | float) else ""
        rows.append(row)
    return columns, rows


def _markdown(sweep_dir: Path, columns: list[str], rows: list[dict[str, str]]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    tally = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no jobs"
    lines = [f"# Sweep summary: {sweep_dir.name}", "",
             f"`{sweep_dir}`: {len(rows)} job(s): {tally}.", "",
             "One row per job directory, read from its summary.json; metrics are the job's "
             "final figures (docs/PROTOCOL.md). Aggregate over seeds with "
             f"`snnrl compare {sweep_dir}`.", ""]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "|".join("---:" if c in ("seed", "env_steps", "wall_time_s") or "/" in c
                                else "---" for c in columns) + "|")
    for r in rows:
        lines.append("| " + " | ".join(r[c].replace("|", "\\|").replace("\n", " ")
                                       for c in columns) + " |")
    return "\n".join(lines) + "\n"


def write_sweep_summary(sweep_dir: Path, metrics: Sequence[str] = DEFAULT_METRICS) -> Path:
    """Write ``sweep_summary.md`` and ``sweep_summary.csv`` into ``sweep_dir``; return the .md."""
    from snnrl.tracking.rundir import atomic_write

    sweep_dir = Path(sweep_dir)
    columns, rows = sweep_rows(sweep_dir, metrics)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    md = _markdown(sweep_dir, columns, rows)
    atomic_write(sweep_dir / "sweep_summary.csv", lambda f: f.write(buf.getvalue().encode()))
    atomic_write(sweep_dir / "sweep_summary.md", lambda f: f.write(md.encode()))
    return sweep_dir / "sweep_summary.md"


class SweepSummary(Callback):
    """Hydra callback: write the sweep summary when a multirun ends (``hydra.callbacks``).

    Args:
        metrics: summary metrics to show, in this order, when some job has them.
    """

    def __init__(self, metrics: Sequence[str] = DEFAULT_METRICS) -> None:
        self.metrics = tuple(metrics)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        """Scan ``hydra.sweep.dir`` and write the summary (runs where the sweep was launched)."""
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():  # no job ran (an empty sweep)
            return
        try:
            path = write_sweep_summary(sweep_dir, self.metrics)
        except OSError as e:  # the jobs' own records stand; the table can be rewritten later
            print(f"snnrl train: sweep summary not written ({type(e).__name__}: {e}); run "
                  f"python -m snnrl.tracking.sweep {sweep_dir}", file=sys.stderr, flush=True)
            return
        print(f"snnrl train: sweep summary: {path}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m snnrl.tracking.sweep SWEEP_DIR...``: (re)write sweep summaries."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m snnrl.tracking.sweep SWEEP_DIR...")
        return 0 if args else 2
    for d in args:
        if not Path(d).is_dir():
            print(f"snnrl: error: SWEEP_DIR={d!r}: expected an existing directory",
                  file=sys.stderr)
            return 2
    for d in args:
        print(write_sweep_summary(Path(d)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
