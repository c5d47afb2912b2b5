r"""Pair-based spike-timing-dependent plasticity (STDP) with exponential traces.

Traces (all-to-all interaction; Morrison, Diesmann & Gerstner 2008, Biol. Cybern. 98):

.. math::
    x_{pre} \leftarrow x_{pre}\, e^{-dt/\tau_+} + s_{pre}, \qquad
    x_{post} \leftarrow x_{post}\, e^{-dt/\tau_-} + s_{post},

STDP term (evaluated after the traces took this tick's spikes):

.. math::
    \zeta = A_+\, (s_{post} \otimes x_{pre}) - A_-\, (x_{post} \otimes s_{pre}).

A pre spike at :math:`t_{pre}` and a post spike at :math:`t_{post} = t_{pre} + \Delta` therefore
give :math:`A_+ e^{-\Delta/\tau_+}` for :math:`\Delta > 0`, :math:`-A_- e^{\Delta/\tau_-}` for
:math:`\Delta < 0` and :math:`A_+ - A_-` for coincident spikes: the classic exponential window
(Bi & Poo 1998, J. Neurosci. 18; Song, Miller & Abbott 2000, Nat. Neurosci. 3).

Weights are per lifetime: ``[B, post, pre]``, so the outer products are batched
(``einsum("bi,bj->bij")``), never summed over the batch.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from snnrl.plasticity.base import RuleInfo

STDP_INFO = RuleInfo(
    name="stdp",
    signals=("pre_spike", "pre_trace", "post_spike", "post_trace"),
    reference="Song, Miller & Abbott 2000; Morrison et al. 2008",
)


class STDPParams(NamedTuple):
    """Parameters of the pair-based STDP window."""

    tau_plus: float = 20e-3
    """Decay of the presynaptic trace (s)."""
    tau_minus: float = 20e-3
    """Decay of the postsynaptic trace (s)."""
    a_plus: float = 1.0
    """Amplitude of potentiation (pre before post)."""
    a_minus: float = 1.0
    """Amplitude of depression (post before pre)."""


class STDPTraces(NamedTuple):
    """Pre- and postsynaptic traces."""

    x_pre: Tensor  # [B, pre]
    x_post: Tensor  # [B, post]


def stdp_init(
    batch: int,
    n_pre: int,
    n_post: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> STDPTraces:
    """Zero traces."""
    return STDPTraces(
        x_pre=torch.zeros(batch, n_pre, device=device, dtype=dtype),
        x_post=torch.zeros(batch, n_post, device=device, dtype=dtype),
    )


def stdp_traces_tick(
    params: STDPParams, traces: STDPTraces, s_pre: Tensor, s_post: Tensor, dt: float
) -> STDPTraces:
    """Decay the traces by one tick and add this tick's spikes (pure)."""
    return STDPTraces(
        x_pre=traces.x_pre * math.exp(-dt / params.tau_plus) + s_pre,
        x_post=traces.x_post * math.exp(-dt / params.tau_minus) + s_post,
    )


def stdp_dw(params: STDPParams, traces: STDPTraces, s_pre: Tensor, s_post: Tensor) -> Tensor:
    """STDP term ``zeta [B, post, pre]`` from this tick's spikes and the updated traces.

    Args:
        params: window parameters.
        traces: traces *after* :func:`stdp_traces_tick` of this tick.
        s_pre: ``[B, pre]`` presynaptic spikes of this tick.
        s_post: ``[B, post]`` postsynaptic spikes of this tick.
    """
    ltp = torch.einsum("bi,bj->bij", s_post, traces.x_pre)
    ltd = torch.einsum("bi,bj->bij", traces.x_post, s_pre)
    return params.a_plus * ltp - params.a_minus * ltd
