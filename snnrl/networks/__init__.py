"""Networks: neurons + synapses + rules mapping one observation to one action per env step."""

from snnrl.networks.rstdp_net import (
    LayerInfo,
    RSTDPNetConfig,
    RSTDPNetState,
    RSTDPNetwork,
    StepStats,
)

__all__ = ["LayerInfo", "RSTDPNetConfig", "RSTDPNetState", "RSTDPNetwork", "StepStats"]
