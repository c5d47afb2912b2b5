"""The zoo: ``agent=NAME`` → agent class and config schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from snnrl.agents.base import Agent, EnvInfo
from snnrl.agents.plastic import ZOO_PLASTIC, PlasticAgent, PlasticAgentConfig
from snnrl.agents.rstdp import RSTDPAgent, RSTDPAgentConfig
from snnrl.config import ConfigError

AGENTS: dict[str, Callable[..., Agent]] = {"rstdp": RSTDPAgent} | {
    name: PlasticAgent for name in ZOO_PLASTIC}
AGENT_SCHEMAS: dict[str, type] = {"rstdp": RSTDPAgentConfig} | {
    name: PlasticAgentConfig for name in ZOO_PLASTIC}


def make_agent(cfg: Any, env: EnvInfo, device: Any = "cpu") -> Agent:
    """Build the agent named by ``cfg.name`` from its schema object."""
    try:
        cls = AGENTS[cfg.name]
    except KeyError:
        raise ConfigError("agent", cfg.name, f"one of {sorted(AGENTS)}") from None
    return cls(cfg, env, device)
