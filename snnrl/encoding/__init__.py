"""Encoders (observation → spikes/currents) and decoders (spikes/potentials → action).

- :mod:`~snnrl.encoding.population`: Gaussian receptive fields and Bernoulli rate coding for
  box observations;
- :mod:`~snnrl.encoding.conv`: rate and event (frame-difference) coding of images and a
  spiking convolutional encoder (MinAtar, Atari);
- :mod:`~snnrl.encoding.decoding`: discrete actions from spike counts or membranes;
- :mod:`~snnrl.encoding.continuous`: continuous actions from populations (PopSAN, population
  vector).
"""

from snnrl.encoding.continuous import (
    linear_readout,
    popsan_action,
    population_rates,
    population_vector,
    preferred_values,
    squash,
)
from snnrl.encoding.conv import (
    EventState,
    SpikingConvEncoder,
    event_init,
    frame_events,
    rate_code,
    stack_events,
    step_events,
)
from snnrl.encoding.decoding import group_sum, membrane_action, spike_count_action
from snnrl.encoding.population import GaussianPopulation, bernoulli_spikes

__all__ = [
    "EventState",
    "GaussianPopulation",
    "SpikingConvEncoder",
    "bernoulli_spikes",
    "event_init",
    "frame_events",
    "group_sum",
    "linear_readout",
    "membrane_action",
    "popsan_action",
    "population_rates",
    "population_vector",
    "preferred_values",
    "rate_code",
    "spike_count_action",
    "squash",
    "stack_events",
    "step_events",
]
