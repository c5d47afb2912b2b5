"""The agent zoo: networks plus learners, registered by name."""

from snnrl.agents.base import Agent, EnvInfo
from snnrl.agents.registry import AGENT_SCHEMAS, AGENTS, make_agent
from snnrl.agents.rstdp import RSTDPAgent, RSTDPAgentConfig

__all__ = [
    "AGENTS",
    "AGENT_SCHEMAS",
    "Agent",
    "EnvInfo",
    "RSTDPAgent",
    "RSTDPAgentConfig",
    "make_agent",
]
