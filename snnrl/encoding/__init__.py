"""Encoders (observation → spikes/currents) and decoders (spikes/potentials → action)."""

from snnrl.encoding.decoding import group_sum, membrane_action, spike_count_action
from snnrl.encoding.population import GaussianPopulation, bernoulli_spikes

__all__ = [
    "GaussianPopulation",
    "bernoulli_spikes",
    "group_sum",
    "membrane_action",
    "spike_count_action",
]
