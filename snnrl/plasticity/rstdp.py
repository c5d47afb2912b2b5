r"""Reward-modulated STDP: a three-factor rule with an eligibility trace.

Izhikevich (2007, Cerebral Cortex 17:2443) "Solving the distal reward problem through linkage of
STDP and dopamine signaling"; Florian (2007, Neural Computation 19:1468); Frémaux & Gerstner
(2016, Front. Neural Circuits 9:85).

Per tick, with the STDP term :math:`\zeta` of :mod:`snnrl.plasticity.stdp`:

.. math::
    e \leftarrow e\, e^{-dt/\tau_e} + \zeta ,

and, when the third factor :math:`M` (the neuromodulator: here a reward-prediction error)
arrives as a pulse of area :math:`M`,

.. math::
    \Delta w = \eta\, M\, e .

The rule returns :math:`\Delta w`; applying, clipping or only measuring it is the caller's job.

Fused window. Inside one environment step the modulator is constant (it arrives once, when the
reward does), so the eligibility after ``K`` ticks is

.. math::
    e_K = d^K e_0 + \sum_{k=1}^{K} d^{K-k}\,\zeta_k, \qquad d = e^{-dt/\tau_e},

and the sum is one batched matrix product of ``[B, post, 2K]`` by ``[B, 2K, pre]``
(:func:`rstdp_eligibility_window`). It touches the ``[B, post, pre]`` eligibility once per step
instead of once per tick, and equals the tick-by-tick recursion up to float rounding (tested).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from snnrl.plasticity.base import RuleInfo
from snnrl.plasticity.stdp import STDPParams, STDPTraces, stdp_dw, stdp_init, stdp_traces_tick

RSTDP_INFO = RuleInfo(
    name="rstdp",
    signals=("pre_spike", "pre_trace", "post_spike", "post_trace", "modulator"),
    reference="Izhikevich 2007; Florian 2007; Fremaux & Gerstner 2016",
)


class RSTDPParams(NamedTuple):
    """Parameters of R-STDP."""

    stdp: STDPParams = STDPParams()
    tau_e: float = 0.1
    """Eligibility-trace time constant (s)."""


class RSTDPState(NamedTuple):
    """Traces and eligibility of one plastic projection."""

    traces: STDPTraces
    elig: Tensor  # [B, post, pre]


def rstdp_init(
    batch: int,
    n_pre: int,
    n_post: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> RSTDPState:
    """Zero traces and eligibility."""
    return RSTDPState(
        traces=stdp_init(batch, n_pre, n_post, device=device, dtype=dtype),
        elig=torch.zeros(batch, n_post, n_pre, device=device, dtype=dtype),
    )


def rstdp_tick(
    params: RSTDPParams, state: RSTDPState, s_pre: Tensor, s_post: Tensor, dt: float
) -> RSTDPState:
    """Advance traces and eligibility by one tick (reference form; pure)."""
    traces = stdp_traces_tick(params.stdp, state.traces, s_pre, s_post, dt)
    zeta = stdp_dw(params.stdp, traces, s_pre, s_post)
    return RSTDPState(traces=traces, elig=state.elig * math.exp(-dt / params.tau_e) + zeta)


def rstdp_eligibility_window(
    params: RSTDPParams,
    state: RSTDPState,
    s_pre: Tensor,
    s_post: Tensor,
    dt: float,
) -> RSTDPState:
    """Advance traces and eligibility over ``K`` ticks at once (fused form; pure).

    Args:
        params: rule parameters.
        state: state before the window.
        s_pre: ``[K, B, pre]`` presynaptic spikes, time-major.
        s_post: ``[K, B, post]`` postsynaptic spikes, time-major.
        dt: tick length (s).

    Returns:
        The state after the ``K`` ticks, equal to ``K`` calls of :func:`rstdp_tick`.
    """
    k_ticks = s_pre.shape[0]
    sp = params.stdp
    d_pre, d_post = math.exp(-dt / sp.tau_plus), math.exp(-dt / sp.tau_minus)
    d_e = math.exp(-dt / params.tau_e)
    x_pre, x_post = state.traces.x_pre, state.traces.x_post
    xs_pre, xs_post = [], []
    for k in range(k_ticks):  # loop over time only: [B, pre] and [B, post] work
        x_pre = x_pre * d_pre + s_pre[k]
        x_post = x_post * d_post + s_post[k]
        xs_pre.append(x_pre)
        xs_post.append(x_post)
    # weights d^(K-k) for k = 1..K, shape [K, 1, 1]
    w = torch.tensor(
        [d_e ** (k_ticks - 1 - k) for k in range(k_ticks)], dtype=s_pre.dtype, device=s_pre.device
    ).view(k_ticks, 1, 1)
    left = torch.cat([sp.a_plus * w * s_post, -sp.a_minus * w * torch.stack(xs_post)], 0)
    right = torch.cat([torch.stack(xs_pre), s_pre], 0)
    # [B, post, 2K] @ [B, 2K, pre]
    elig = torch.baddbmm(
        state.elig, left.permute(1, 2, 0), right.transpose(0, 1), beta=d_e**k_ticks
    )
    return RSTDPState(traces=STDPTraces(x_pre=x_pre, x_post=x_post), elig=elig)


def rstdp_dw(state: RSTDPState, modulator: Tensor, lr: float) -> Tensor:
    """Weight change ``lr * M * e`` ``[B, post, pre]`` for a per-lifetime modulator ``M [B]``."""
    return (lr * modulator).view(-1, 1, 1) * state.elig
