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
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        summary = train_job(cfg, run_dir)
        return summary.get("metrics", {}).get("eval/return_mean")

    saved = sys.argv
    sys.argv = ["snnrl-train", *overrides]
    GlobalHydra.instance().clear()
    try:
        _app()
    finally:
        sys.argv = saved
        GlobalHydra.instance().clear()
