"""Mirror a run to Weights & Biases (imported only when ``logger=wandb``).

Local run directories are the source of truth; W&B is a mirror. Offline by default: the mode is
set *before* ``wandb.init`` (never try online and fall back, which can hang without network),
W&B's files go inside the run directory, and error reporting is off. ``wandb sync RUN_DIR/wandb``
uploads an offline run later.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class WandbMirror:
    """Thin wrapper over a W&B run: ``log`` and ``finish``."""

    def __init__(
        self,
        run_dir: Path,
        config: dict[str, Any],
        project: str,
        mode: str | None,
        group: str | None,
        tags: list[str],
        name: str,
        job_type: str = "train",
    ) -> None:
        mode = mode or os.environ.get("WANDB_MODE") or "offline"
        os.environ["WANDB_MODE"] = mode
        os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
        os.environ.setdefault("WANDB_SILENT", "true")
        os.environ["WANDB_DIR"] = str(run_dir)
        import wandb  # lazy: wandb is imported only when tracking is on

        self._wandb = wandb
        self.run = wandb.init(
            project=project,
            dir=str(run_dir),
            config=config,
            mode=mode,
            group=group,
            tags=tags or None,
            name=name,
            job_type=job_type,
            reinit="finish_previous",
        )
        if self.run is not None:
            self.run.define_metric("*", step_metric="step")

    def log(self, record: dict[str, Any]) -> None:
        """Log one record (its ``step`` is the x-axis)."""
        if self.run is not None:
            self.run.log(record)

    def summary(self, metrics: dict[str, Any]) -> None:
        """Set final scalars."""
        if self.run is not None:
            for k, v in metrics.items():
                self.run.summary[k] = v

    def finish(self, exit_code: int = 0) -> None:
        """Close the run (always called, also after a failure)."""
        if self.run is not None:
            self.run.finish(exit_code=exit_code)
            self.run = None
