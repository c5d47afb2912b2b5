"""Mirror a run to Weights & Biases (imported only when ``logger=wandb``).

Local run directories are the source of truth; W&B is a mirror. Offline by default: the mode is
set *before* ``wandb.init`` (never try online and fall back, which can hang without network),
W&B's files go inside the run directory, and error reporting is off. Upload offline runs later
with ``wandb sync RUN_DIR/wandb/offline-run-*`` (every W&B run of the job; ``RUN_DIR/wandb``
alone syncs only the latest), or for a whole sweep as docs/SWEEPS.md shows.

Every run carries the same identity, so runs from many machines and sweeps line up in one
project (and ``snnrl compare --wandb ENTITY/PROJECT`` can read them back):

- ``project``: ``logger.project`` (``snnrl``); ``job_type``: ``train`` (``eval`` for evaluations);
- ``group``: ``logger.group``, else the sweep's name in a multirun (the ``experiment=`` name, else
  the sweep directory's name), else ``AGENT-ENV`` (:func:`default_group`);
- ``tags``: ``logger.tags`` plus the agent, env and learner names (:func:`run_tags`);
- config: the resolved config with top-level ``agent`` (the agent's config, with ``name``),
  ``env_id`` and ``seed``; the W&B summary repeats ``summary.json``'s identity keys (``agent``
  as its name, ``env_id``, ``seed``, ``learner``, ``plasticity``, ``config_hash``) beside the
  final metrics. A job that is resumed (or rerun after a crash) starts a new W&B run with the same
  ``config_hash``; readers keep the latest one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

IDENTITY_KEYS = ("agent", "env_id", "seed", "learner", "plasticity", "config_hash")
"""``summary.json`` keys that the W&B summary repeats (see the module docstring)."""


def _name(node: Any) -> str | None:
    if isinstance(node, dict):
        node = node.get("name")
    return None if node is None else str(node)


def identity(config: dict[str, Any]) -> dict[str, Any]:
    """``summary.json``'s identity keys from a resolved config (``agent`` as its name).

    ``config`` is the resolved job config, plus ``env_id`` as ``snnrl train`` adds it; the
    config hash is that of the job config, as in ``summary.json``.
    """
    from snnrl.tracking.rundir import config_hash

    env = config.get("env") if isinstance(config.get("env"), dict) else {}
    agent = config.get("agent") if isinstance(config.get("agent"), dict) else {}
    return {
        "agent": _name(config.get("agent")),
        "env_id": config.get("env_id", env.get("id")),
        "seed": config.get("seed"),
        "learner": _name(config.get("learner")) or "none",
        "plasticity": bool(agent.get("plasticity", False)),
        "config_hash": config_hash({k: v for k, v in config.items() if k != "env_id"}),
    }


def default_group(config: dict[str, Any]) -> str:
    """The W&B group of a run whose ``logger.group`` is null.

    In a Hydra multirun: the ``experiment=`` name, else the sweep directory's name; otherwise
    ``AGENT-ENV`` (env as its config name, e.g. ``rstdp-cartpole``).
    """
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if HydraConfig.initialized():
            hc = HydraConfig.get()
            if hc.mode == RunMode.MULTIRUN:
                experiment = hc.runtime.choices.get("experiment")
                return str(experiment) if experiment else Path(str(hc.sweep.dir)).name
    except (ImportError, ValueError, AttributeError):  # not under Hydra: fall through
        pass
    env = config.get("env") if isinstance(config.get("env"), dict) else {}
    env_name = env.get("name") or str(config.get("env_id", "env")).replace("/", "-")
    return f"{_name(config.get('agent'))}-{env_name}"


def run_tags(config: dict[str, Any], tags: list[str]) -> list[str]:
    """``tags`` then the agent, env and learner names, without repeats (W&B caps a tag at 64)."""
    env = config.get("env") if isinstance(config.get("env"), dict) else {}
    auto = [_name(config.get("agent")), env.get("name"), _name(config.get("learner")) or "none"]
    out: list[str] = []
    for tag in [*tags, *auto]:
        if tag and str(tag) not in out:
            out.append(str(tag)[:64])
    return out


class WandbMirror:
    """Thin wrapper over a W&B run: ``log``, ``summary`` and ``finish``."""

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
        ident = identity(config)
        config = {**config, "env_id": ident["env_id"], "seed": ident["seed"]}
        self.group = group or default_group(config)
        self.tags = run_tags(config, list(tags))
        self._status_set = False
        # a reused process (joblib worker) may still hold the previous job's run: close it
        self.run = wandb.init(
            project=project,
            dir=str(run_dir),
            config=config,
            mode=mode,
            group=self.group,
            tags=self.tags,
            name=name,
            job_type=job_type,
            reinit="finish_previous",
        )
        if self.run is not None:
            self.run.define_metric("*", step_metric="step")
            for k, v in ident.items():
                self.run.summary[k] = v

    def log(self, record: dict[str, Any]) -> None:
        """Log one record (its ``step`` is the x-axis)."""
        if self.run is not None:
            self.run.log(record)

    def summary(self, metrics: dict[str, Any], **fields: Any) -> None:
        """Set final scalars, and ``summary.json`` fields such as ``status`` and ``reason``."""
        if self.run is not None:
            for k, v in {**metrics, **fields}.items():
                self.run.summary[k] = v
            self._status_set = self._status_set or "status" in fields

    def finish(self, exit_code: int = 0) -> None:
        """Close the run (always called, also after a failure).

        Without a ``status`` from :meth:`summary` the W&B summary gets ``failed`` for a non-zero
        ``exit_code``; otherwise the reader maps the W&B run state.
        """
        if self.run is not None:
            if exit_code and not self._status_set:
                self.run.summary["status"] = "failed"
            self.run.finish(exit_code=exit_code)
            self.run = None
