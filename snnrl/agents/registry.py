"""The zoo: ``agent=NAME`` → agent class and config schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from snnrl.agents.base import Agent, EnvInfo
from snnrl.agents.plastic import ZOO_PLASTIC, PlasticAgent, PlasticAgentConfig
from snnrl.agents.recurrent import ZOO_RECURRENT, RecurrentAgent, RecurrentAgentConfig
from snnrl.agents.rstdp import RSTDPAgent, RSTDPAgentConfig
from snnrl.agents.sb3 import ZOO_SB3, SB3Agent, SB3AgentConfig
from snnrl.config import ConfigError, Unsupported

AGENTS: dict[str, Callable[..., Agent]] = {"rstdp": RSTDPAgent} | {
    name: PlasticAgent for name in ZOO_PLASTIC}
AGENT_SCHEMAS: dict[str, type] = {"rstdp": RSTDPAgentConfig} | {
    name: PlasticAgentConfig for name in ZOO_PLASTIC}
AGENTS |= {name: RecurrentAgent for name in ZOO_RECURRENT}
AGENT_SCHEMAS |= {name: RecurrentAgentConfig for name in ZOO_RECURRENT}
AGENTS |= {name: SB3Agent for name in ZOO_SB3}
AGENT_SCHEMAS |= {name: SB3AgentConfig for name in ZOO_SB3}
DEEP_AGENTS: set[str] = set(ZOO_RECURRENT) | set(ZOO_SB3)
"""Agents trained by gradient RL with frozen weights at test time (:mod:`snnrl.agents.deep`)."""


def make_agent(cfg: Any, env: EnvInfo, device: Any = "cpu") -> Agent:
    """Build the agent named by ``cfg.name`` from its schema object."""
    try:
        cls = AGENTS[cfg.name]
    except KeyError:
        raise ConfigError("agent", cfg.name, f"one of {sorted(AGENTS)}") from None
    return cls(cfg, env, device)


def supporting_agents(env: EnvInfo) -> list[str]:
    """Zoo agents that build on ``env``'s spaces (each with its schema's default config)."""
    out = []
    for name, schema in sorted(AGENT_SCHEMAS.items()):
        try:
            AGENTS[name](schema(name=name), env, "cpu")
        except ConfigError:
            continue
        out.append(name)
    return out


def unsupported_error(agent: str, env_name: str, env: EnvInfo, err: Unsupported) -> ConfigError:
    """The one-line refusal of an unsupported agent × env pair, naming the alternatives."""
    alternatives = [a for a in supporting_agents(env) if a != agent]
    return ConfigError(
        "agent", agent,
        f"an agent that runs on env={env_name}: {agent} x {env_name} is unsupported "
        f"({err.key}={err.got!r}: expected {err.expected}); agents that run on {env_name}: "
        f"{', '.join(alternatives) or 'none'} (snnrl zoo --env {env_name})")
