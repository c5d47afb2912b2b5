"""Spiking neuron models: pure tick functions over explicit ``[B, N]`` state."""

from snnrl.neurons.lif import (
    ALIFParams,
    ALIFState,
    LIFParams,
    LIFPropagator,
    LIFState,
    alif_init,
    alif_tick,
    lif_init,
    lif_propagator,
    lif_tick,
)
from snnrl.neurons.surrogate import spike_fn

__all__ = [
    "ALIFParams",
    "ALIFState",
    "LIFParams",
    "LIFPropagator",
    "LIFState",
    "alif_init",
    "alif_tick",
    "lif_init",
    "lif_propagator",
    "lif_tick",
    "spike_fn",
]
