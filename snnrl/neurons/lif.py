r"""Current-based leaky integrate-and-fire neurons, with exact exponential integration.

Continuous dynamics (units: volts, seconds; the synaptic current is expressed in volts, i.e.
already multiplied by the membrane resistance):

.. math::
    \tau_{mem} \frac{dv}{dt} = (v_{leak} - v) + i, \qquad
    \tau_{syn} \frac{di}{dt} = -i,

with a spike when :math:`v \ge v_{th}`, after which ``v`` is reset to ``v_reset``. Input spikes
arrive as instantaneous jumps of the synaptic current, :math:`i \leftarrow i + I_{in}`, at the
start of a tick. Between jumps the linear system is integrated **exactly** over one tick of
length ``dt`` (no Euler error, whatever ``dt``), with :math:`a_m = e^{-dt/\tau_{mem}}`,
:math:`a_s = e^{-dt/\tau_{syn}}`:

.. math::
    v(t+dt) = v_{leak} + (v - v_{leak})\, a_m + i \cdot c, \qquad
    c = \frac{\tau_{syn}}{\tau_{syn} - \tau_{mem}} (a_s - a_m)
    \;\; (\tau_{syn} \ne \tau_{mem}), \qquad c = \frac{dt}{\tau_{mem}} a_m \;\; (\text{equal}),

    i(t+dt) = i\, a_s .

This is the propagator of Rotter & Diesmann (1999, Biol. Cybern. 81) used by NEST's
``iaf_psc_exp``; the spike test uses the membrane at the end of the tick.

The adaptive LIF (ALIF; Bellec et al. 2018, NeurIPS "Long short-term memory and learning-to-learn
in networks of spiking neurons") adds a threshold that rises by ``beta`` per spike and decays
with ``tau_adapt``: :math:`\vartheta = v_{th} + \beta a`,
:math:`a \leftarrow a\, e^{-dt/\tau_{adapt}} + s`.

All functions are pure: they never modify the state they are given.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from snnrl.neurons.surrogate import spike_fn


class LIFParams(NamedTuple):
    """Parameters of a current-based LIF neuron (SI units)."""

    tau_mem: float = 20e-3
    """Membrane time constant (s)."""
    tau_syn: float = 5e-3
    """Synaptic current time constant (s)."""
    v_th: float = 1.0
    """Firing threshold (V)."""
    v_reset: float = 0.0
    """Potential after a spike (V)."""
    v_leak: float = 0.0
    """Resting potential (V)."""
    surrogate_alpha: float = 100.0
    """Steepness of the surrogate gradient (1/V)."""


class LIFState(NamedTuple):
    """State of a population of LIF neurons."""

    v: Tensor  # [B, N] membrane potential
    i: Tensor  # [B, N] synaptic current


class LIFPropagator(NamedTuple):
    """Per-tick decay factors for a given ``dt`` (computed once, reused every tick)."""

    a_mem: float
    a_syn: float
    c_syn: float


def lif_propagator(params: LIFParams, dt: float) -> LIFPropagator:
    """Exact one-tick propagator of the linear sub-threshold dynamics.

    >>> p = lif_propagator(LIFParams(tau_mem=0.02, tau_syn=0.02), 1e-3)
    >>> round(p.c_syn, 6) == round(0.05 * math.exp(-0.05), 6)
    True
    """
    if dt <= 0 or params.tau_mem <= 0 or params.tau_syn <= 0:
        raise ValueError("dt, tau_mem and tau_syn must be > 0")
    a_m = math.exp(-dt / params.tau_mem)
    a_s = math.exp(-dt / params.tau_syn)
    if math.isclose(params.tau_mem, params.tau_syn, rel_tol=1e-9):
        c = dt / params.tau_mem * a_m
    else:
        c = params.tau_syn / (params.tau_syn - params.tau_mem) * (a_s - a_m)
    return LIFPropagator(a_m, a_s, c)


def lif_init(
    batch: int,
    n: int,
    params: LIFParams = LIFParams(),  # noqa: B008 - immutable NamedTuple
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> LIFState:
    """Resting state for ``batch`` × ``n`` neurons."""
    v = torch.full((batch, n), params.v_leak, device=device, dtype=dtype)
    return LIFState(v=v, i=torch.zeros_like(v))


def lif_tick(
    params: LIFParams,
    state: LIFState,
    input_current: Tensor,
    dt: float,
    propagator: LIFPropagator | None = None,
) -> tuple[Tensor, LIFState]:
    """Advance LIF neurons by one tick.

    Args:
        params: neuron parameters.
        state: current state (not modified).
        input_current: ``[B, N]`` jump added to the synaptic current at the start of the tick (V).
        dt: tick length (s).
        propagator: precomputed ``lif_propagator(params, dt)``; computed if omitted.

    Returns:
        ``(spikes [B, N], new_state)``.
    """
    p = propagator if propagator is not None else lif_propagator(params, dt)
    i = state.i + input_current
    v = params.v_leak + (state.v - params.v_leak) * p.a_mem + i * p.c_syn
    z = spike_fn(v - params.v_th, params.surrogate_alpha)
    v = v - z * (v - params.v_reset)
    return z, LIFState(v=v, i=i * p.a_syn)


class ALIFParams(NamedTuple):
    """Adaptive LIF: an LIF whose threshold rises with each spike."""

    lif: LIFParams = LIFParams()
    tau_adapt: float = 200e-3
    """Time constant of threshold adaptation (s)."""
    beta: float = 0.2
    """Threshold increase per unit of adaptation variable (V)."""


class ALIFState(NamedTuple):
    """State of a population of adaptive LIF neurons."""

    v: Tensor  # [B, N]
    i: Tensor  # [B, N]
    a: Tensor  # [B, N] adaptation variable (decaying spike count)


def alif_init(
    batch: int,
    n: int,
    params: ALIFParams = ALIFParams(),  # noqa: B008 - immutable NamedTuple
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> ALIFState:
    """Resting state for ``batch`` × ``n`` adaptive neurons."""
    s = lif_init(batch, n, params.lif, device=device, dtype=dtype)
    return ALIFState(v=s.v, i=s.i, a=torch.zeros_like(s.v))


def alif_tick(
    params: ALIFParams,
    state: ALIFState,
    input_current: Tensor,
    dt: float,
    propagator: LIFPropagator | None = None,
) -> tuple[Tensor, ALIFState]:
    """Advance adaptive LIF neurons by one tick; see the module docstring."""
    lp = params.lif
    p = propagator if propagator is not None else lif_propagator(lp, dt)
    if params.tau_adapt <= 0:
        raise ValueError("tau_adapt must be > 0")
    i = state.i + input_current
    v = lp.v_leak + (state.v - lp.v_leak) * p.a_mem + i * p.c_syn
    threshold = lp.v_th + params.beta * state.a
    z = spike_fn(v - threshold, lp.surrogate_alpha)
    v = v - z * (v - lp.v_reset)
    a = state.a * math.exp(-dt / params.tau_adapt) + z
    return z, ALIFState(v=v, i=i * p.a_syn, a=a)
