"""Plasticity rules: pure functions returning weight changes and their new trace state."""

from snnrl.plasticity.base import LOCAL_SIGNALS, RuleInfo
from snnrl.plasticity.rstdp import (
    RSTDP_INFO,
    RSTDPParams,
    RSTDPState,
    rstdp_dw,
    rstdp_eligibility_window,
    rstdp_init,
    rstdp_tick,
)
from snnrl.plasticity.stdp import (
    STDP_INFO,
    STDPParams,
    STDPTraces,
    stdp_dw,
    stdp_init,
    stdp_traces_tick,
)

RULES: dict[str, RuleInfo] = {r.name: r for r in (STDP_INFO, RSTDP_INFO)}
"""Every rule the suite knows, by name, with its declared signals."""

__all__ = [
    "LOCAL_SIGNALS",
    "RSTDP_INFO",
    "RULES",
    "STDP_INFO",
    "RSTDPParams",
    "RSTDPState",
    "RuleInfo",
    "STDPParams",
    "STDPTraces",
    "rstdp_dw",
    "rstdp_eligibility_window",
    "rstdp_init",
    "rstdp_tick",
    "stdp_dw",
    "stdp_init",
    "stdp_traces_tick",
]
