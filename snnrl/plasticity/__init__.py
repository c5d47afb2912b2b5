"""Plasticity rules: pure functions returning weight changes and their new trace state."""

from snnrl.plasticity.base import LOCAL_SIGNALS, RuleInfo
from snnrl.plasticity.hebbian import (
    ABCD_INFO,
    HEBB_INFO,
    HEBBIAN_RULES,
    NEUROMOD_INFO,
    OJA_INFO,
    RULE_COEFFS,
    STDPWindowTraces,
    abcd_dw,
    eligibility_update,
    hebb_dw,
    neuromod_dw,
    oja_dw,
    outer,
    stdp_window_dw,
)
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

RULES: dict[str, RuleInfo] = {r.name: r for r in (STDP_INFO, RSTDP_INFO)} | HEBBIAN_RULES
"""Every rule the suite knows, by name, with its declared signals."""

__all__ = [
    "ABCD_INFO",
    "HEBBIAN_RULES",
    "HEBB_INFO",
    "NEUROMOD_INFO",
    "OJA_INFO",
    "RULE_COEFFS",
    "STDPWindowTraces",
    "abcd_dw",
    "eligibility_update",
    "hebb_dw",
    "neuromod_dw",
    "oja_dw",
    "outer",
    "stdp_window_dw",
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
