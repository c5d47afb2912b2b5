"""The Hydra application behind ``snnrl train``.

The configs are the package ``snnrl.conf`` (the top-level ``conf/`` of the source tree, shipped
inside the wheel), found through the import system, so an installed snnrl needs no checkout.
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path

import hydra
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from snnrl.config import register_schemas


def conf_dir() -> Path:
    """Absolute path of the shipped config directory."""
    return Path(str(files("snnrl.conf")))


def run_train_app(overrides: list[str]) -> None:
    """Run ``snnrl train`` with Hydra command-line ``overrides`` (in this process)."""
    from snnrl.cli.train import train_job

    register_schemas()

    @hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="train")
    def _app(cfg: DictConfig) -> float | None:
        hc = HydraConfig.get()
        run_dir = Path(hc.runtime.output_dir)
        if hc.mode != RunMode.MULTIRUN:
            summary = train_job(cfg, run_dir)
        else:
            # In a sweep one job's crash must not take the others down: it is recorded in its
            # own summary.json (status failed, with the reason) and printed; the sweep goes on.
            from snnrl.config import ConfigError

            try:
                summary = train_job(cfg, run_dir)
            except ConfigError:
                raise  # bad input is the same for every job: stop at once
            except Exception as e:  # noqa: BLE001 - recorded by train_job, reported here
                print(f"snnrl train: job in {run_dir} failed: {type(e).__name__}: {e}",
                      file=sys.stderr, flush=True)
                return None
        return summary.get("metrics", {}).get("eval/return_mean")

    saved = sys.argv
    sys.argv = ["snnrl-train", *overrides]
    GlobalHydra.instance().clear()
    try:
        _app()
    finally:
        sys.argv = saved
        GlobalHydra.instance().clear()
