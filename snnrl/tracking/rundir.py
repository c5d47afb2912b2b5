"""The run directory: the contract every command reads and writes (docs/ARCHITECTURE.md).

Layout of a training run::

    RUN_DIR/
      config.yaml        resolved config (interpolations resolved)
      metrics.jsonl      one JSON object per logged event, each with "step"
      checkpoint.pt      agent state at the end of training (torch.save of tensors only)
      learning_curve.png
      summary.json       written last, once, by the training job only
      .hydra/            Hydra's own record of the composition and overrides
      wandb/             W&B offline files, when logger=wandb

Files are written atomically (temporary file in the same directory, then ``os.replace``), so a
crash never leaves a half-written file behind.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``write(fileobj)`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x


def write_json(path: Path, obj: Any) -> None:
    """Atomic, strict JSON (NaN written as null, infinities as strings)."""
    text = json.dumps(_jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def config_hash(resolved: dict[str, Any]) -> str:
    """SHA-256 of the resolved config, ignoring keys that do not change results."""
    cleaned = {k: v for k, v in resolved.items() if k not in ("progress", "logger")}
    blob = json.dumps(cleaned, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


DATA_PATHS = ("leaderboards",)
"""Folders of the checkout that hold results, not code: changes there do not make it dirty."""


def git_commit() -> str | None:
    """The commit of the snnrl source tree (40 hex digits); None if not a checkout.

    ``-dirty`` is appended when a tracked file outside :data:`DATA_PATHS` differs from it. Like
    ``git describe --always --dirty``, except that the leaderboard's own files (written by
    ``snnrl board`` while it works) do not count as a change to the code.
    """
    src = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0 or not head.stdout.strip():
            return None
        status = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no", "--",
             ".", *(f":(exclude){d}" for d in DATA_PATHS)],
            capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    dirty = status.returncode != 0 or bool(status.stdout.strip())
    return head.stdout.strip() + ("-dirty" if dirty else "")


def versions() -> dict[str, str]:
    """Versions of Python and the packages that decide results."""
    import gymnasium
    import numpy

    import snnrl

    v = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "gymnasium": gymnasium.__version__,
        "snnrl": snnrl.__version__,
    }
    try:
        import hydra

        v["hydra"] = hydra.__version__
    except ImportError:  # pragma: no cover - hydra is a dependency
        pass
    return v


class RunDir:
    """Writer for one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._metrics = self.path / "metrics.jsonl"

    def reset_metrics(self) -> None:
        """Start a fresh metrics file (a run that starts over)."""
        self._metrics.unlink(missing_ok=True)

    def truncate_metrics(self, max_step: int) -> int:
        """Keep only records with ``step <= max_step`` (a run resuming from a checkpoint).

        Returns the number of records dropped; the file is rewritten atomically.
        """
        records = self.read_metrics()
        keep = [r for r in records if r.get("step", 0) <= max_step]
        text = "".join(json.dumps(r, sort_keys=True, allow_nan=False) + "\n" for r in keep)
        atomic_write(self._metrics, lambda f: f.write(text.encode()))
        return len(records) - len(keep)

    def log(self, record: dict[str, Any]) -> None:
        """Append one event to ``metrics.jsonl`` (``record`` must hold ``step``)."""
        if "step" not in record:
            raise ValueError("every metrics record needs a 'step'")
        line = json.dumps(_jsonable(record), sort_keys=True, allow_nan=False) + "\n"
        with open(self._metrics, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()

    def read_metrics(self) -> list[dict[str, Any]]:
        """All records of ``metrics.jsonl``."""
        if not self._metrics.exists():
            return []
        return [json.loads(x) for x in self._metrics.read_text().splitlines() if x.strip()]

    def save_checkpoint(self, obj: dict[str, Any], name: str = "checkpoint.pt") -> Path:
        """``torch.save`` atomically.

        Holds tensors, numbers and strings only, so it loads with ``weights_only=True``.
        """
        path = self.path / name
        atomic_write(path, lambda f: torch.save(obj, f))
        return path

    def write_config(self, resolved_yaml: str) -> None:
        """Write the resolved config."""
        atomic_write(self.path / "config.yaml", lambda f: f.write(resolved_yaml.encode()))

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json`` (only the training job calls this)."""
        write_json(self.path / "summary.json", summary)
