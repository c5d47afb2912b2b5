"""``snnrl zoo``: what the zoo holds.

- ``snnrl zoo --rules``: every plasticity rule, the signals it reads, and whether it is local
  (presynaptic and postsynaptic signals, the synapse's own state and a broadcast modulator only).
- ``snnrl zoo [--env NAME ...]``: agents × envs (default: one env per family,
  :data:`ENV_FAMILIES`). ``runs``: the agent builds on the env's spaces; ``tuned``: it
  also has tuned hyper-parameters in ``conf/tuned/<agent>__<env>.yaml``; ``unsupported``: it
  cannot run there (``snnrl train`` refuses the pair at start, naming the alternatives).
"""

from __future__ import annotations

import argparse
from typing import Any

from snnrl.config import ConfigError


def rules_table() -> str:
    """The locality report as a Markdown table (also recorded in every run's summary)."""
    from snnrl.plasticity import LOCAL_SIGNALS, RULES

    rows = ["| rule | signals read | local | reference |", "|---|---|---|---|"]
    for name, info in sorted(RULES.items()):
        nonlocal_ = [s for s in info.signals if s not in LOCAL_SIGNALS]
        local = "yes" if info.local else f"no ({', '.join(nonlocal_)})"
        rows.append(f"| {name} | {', '.join(info.signals)} | {local} | {info.reference} |")
    rows.append("")
    rows.append("Local signals: " + ", ".join(sorted(LOCAL_SIGNALS)) + ".")
    return "\n".join(rows)


ENV_FAMILIES: dict[str, tuple[str, ...]] = {
    "cartpole": ("cartpole_random", "cartpole_long"),
    "maze": ("maze_lifetime",),
    "ant": ("ant_long", "ant_crippled", "ant_crippled_long"),
    "minatar_breakout": ("minatar_space_invaders", "minatar_freeway", "minatar_asterix",
                         "minatar_seaquest", "minatar_breakout_long",
                         "minatar_space_invaders_long", "minatar_freeway_long",
                         "minatar_asterix_long", "minatar_seaquest_long"),
    "pong": ("pong_long", "breakout", "breakout_long"),
}
"""The table's default columns: one env per family of identical observation and action space
kinds; the variants listed share the column's support (same spaces, other dynamics or lengths).
``snnrl zoo --env NAME`` builds any env's column."""


def _env_names() -> list[str]:
    from snnrl.cli.app import conf_dir

    return sorted(p.stem for p in (conf_dir() / "env").glob("*.yaml") if p.stem != "gym")


def _compose(overrides: list[str]) -> Any:
    from hydra import compose, initialize_config_dir

    from snnrl.cli.app import conf_dir
    from snnrl.config import register_schemas

    register_schemas()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return compose("train", overrides=overrides)


def support(agent: str, env: str) -> tuple[str, str]:
    """``(status, detail)`` of one agent × env pair, by building the agent on the env's spaces."""
    from snnrl.agents import make_agent
    from snnrl.agents.plastic import ZOO_PLASTIC
    from snnrl.cli.app import conf_dir
    from snnrl.cli.train import _env_info
    from snnrl.config import to_objects
    from snnrl.envs import make_env

    learner = "es" if agent in ZOO_PLASTIC else "none"
    try:
        c = to_objects(_compose([f"agent={agent}", f"env={env}", f"learner={learner}"]))
        e = make_env(c.env, 1, "cpu")
        try:
            make_agent(c.agent, _env_info(e, c), "cpu")
        finally:
            e.close()
    except ConfigError as err:
        return "unsupported", err.expected
    except ImportError as err:
        return "unavailable", f"missing package: {err.name}"
    tuned = conf_dir() / "tuned" / f"{agent}__{env}.yaml"
    return ("tuned", str(tuned.relative_to(conf_dir().parent))) if tuned.is_file() else ("runs", "")


def run_zoo(argv: list[str]) -> int:
    """Entry point of ``snnrl zoo``."""
    p = argparse.ArgumentParser(prog="snnrl zoo", description=__doc__.splitlines()[0])
    p.add_argument("--rules", action="store_true", help="the plasticity rules' locality report")
    p.add_argument("--env", action="append", default=None,
                   help="limit the table to these envs (repeatable)")
    args = p.parse_args(argv)
    if args.rules:
        print(rules_table())
        return 0
    from snnrl.agents import AGENTS

    envs = args.env or list(ENV_FAMILIES)
    known = _env_names()
    for e in envs:
        if e not in known:
            raise ConfigError("--env", e, f"one of {known}")
    print("| agent | " + " | ".join(envs) + " |")
    print("|---|" + "---|" * len(envs))
    details: list[str] = []
    for agent in sorted(AGENTS):
        cells = []
        for env in envs:
            status, detail = support(agent, env)
            cells.append(status)
            if detail and status != "runs":
                details.append(f"- {agent} × {env}: {status}: {detail}")
        print(f"| {agent} | " + " | ".join(cells) + " |")
    if details:
        print("\n" + "\n".join(details))
    if not args.env:
        print("\nVariants with the same support as their column: " + "; ".join(
            f"{k}: {', '.join(v)}" for k, v in ENV_FAMILIES.items()))
    return 0
