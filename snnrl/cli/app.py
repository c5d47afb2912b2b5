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


def sweep_agent_overrides(overrides: list[str]) -> list[str]:
    """Let ``snnrl train -m agent=a,b agent.KEY=V`` set a key of the swept agents.

    Hydra composes a multirun's sweep-level config with the sweep overrides left out, so there
    ``agent`` is the default (rstdp) and ``agent.KEY=V`` fails on rstdp's schema before any job
    starts. When the agent group is swept, each ``agent.KEY=V`` becomes ``++agent.KEY=V`` (set if
    present, added if not), and every job checks it against its own agent's schema
    (:func:`snnrl.config.to_objects`). So that no job is started only to fail, a KEY that some
    swept agent's schema lacks is refused here, before anything runs.
    """
    import dataclasses

    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType

    from snnrl.agents.registry import AGENT_SCHEMAS
    from snnrl.config import ConfigError

    if not any(a in ("-m", "--multirun") for a in overrides):
        return overrides
    plain = [a for a in overrides if not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(plain)
    except Exception:  # noqa: BLE001 - bad syntax: Hydra reports it in its own words
        return overrides
    swept = next((o for o in parsed if o.key_or_group == "agent" and o.is_sweep_override()
                  and o.is_discrete_sweep()), None)
    if swept is None:
        return overrides
    names = list(swept.sweep_string_iterator())
    rewrite: dict[str, str] = {}
    for o in parsed:
        if o.type != OverrideType.CHANGE or not o.key_or_group.startswith("agent."):
            continue
        key = o.key_or_group.split(".")[1]
        lacking = [n for n in names if n in AGENT_SCHEMAS and key not in
                   {f.name for f in dataclasses.fields(AGENT_SCHEMAS[n])}]
        if lacking:
            raise ConfigError(o.key_or_group, o.value(), f"a key every swept agent has; "
                              f"{', '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} "
                              f"no '{key}' (swept: agent={','.join(names)})")
        assert o.input_line is not None
        rewrite[o.input_line] = "++" + o.input_line
    return [rewrite.get(a, a) for a in overrides]


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
    sys.argv = ["snnrl-train", *sweep_agent_overrides(overrides)]
    GlobalHydra.instance().clear()
    try:
        _app()
    finally:
        sys.argv = saved
        GlobalHydra.instance().clear()
