r"""Hebbian-family rules for rate (ANN) and spiking (LIF) networks alike.

Every rule here is a pure function of per-synapse local signals: presynaptic activity ``pre``,
postsynaptic activity ``post``, the synapse's own weight (Oja), its eligibility trace and a
broadcast neuromodulator. For a rate network the activity is the unit's output; for a spiking
network it is the firing rate in the env step (spikes / ticks), or the spikes themselves for the
timing-based STDP window. Shapes: ``pre [..., n_pre]``, ``post [..., n_post]``, weight changes
``[..., n_post, n_pre]`` with arbitrary leading batch axes (candidates, lifetimes); coefficients
broadcast against ``[..., n_post, n_pre]``, so they can be per layer (scalars) or per synapse.

Rules (all increments are *returned*, never applied):

- Hebb (Hebb 1949): :math:`\Delta w_{ij} = \eta\, y_i x_j`.
- Oja (Oja 1982, J. Math. Biol. 15): :math:`\Delta w_{ij} = \eta\, y_i (x_j - y_i w_{ij})`.
- Generalised "ABCD" Hebbian (Soltoggio et al. 2007/2018; Najarro & Risi 2020, NeurIPS):
  :math:`\Delta w_{ij} = \eta\,(A\, y_i x_j + B\, x_j + C\, y_i + D)`.
- Neuromodulated Hebbian with an eligibility trace (Miconi et al. 2019 "Backpropamine", ICLR;
  Schmidgall et al. 2021 "SpikePropamine", Front. Neurorobotics):
  :math:`E \leftarrow (1 - \eta_E) E + \eta_E\, (y \otimes x)`,
  :math:`\Delta w = \alpha \odot (M \otimes \mathbf{1}) \odot E`, with the modulator ``M`` (one
  value per postsynaptic neuron) emitted by the network itself.
- STDP over one env step's window of ``K`` ticks, with exponential traces carried across steps
  (pair-based, all-to-all; Song, Miller & Abbott 2000; Morrison et al. 2008):
  :math:`x \leftarrow \lambda x + s` each tick, and
  :math:`\Delta w = \eta\,\big(A_+ \sum_t s_{post}(t) \otimes x_{pre}(t)
  - A_- \sum_t x_{post}(t) \otimes s_{pre}(t)\big)`. A rate network runs it with ``K = 1`` and its
  activities in place of spikes (a temporal-difference Hebbian rule); the window is computed in
  closed form with one ``[K, K]`` decay matrix, so there is no Python loop over ticks.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from snnrl.plasticity.base import RuleInfo
from snnrl.plasticity.stdp import STDP_INFO

HEBB_INFO = RuleInfo("hebb", ("pre_activity", "post_activity"), "Hebb 1949")
OJA_INFO = RuleInfo("oja", ("pre_activity", "post_activity", "weight"), "Oja 1982")
ABCD_INFO = RuleInfo(
    "abcd", ("pre_activity", "post_activity"), "Soltoggio et al. 2007; Najarro & Risi 2020"
)
NEUROMOD_INFO = RuleInfo(
    "neuromod",
    ("pre_activity", "post_activity", "eligibility", "modulator"),
    "Miconi et al. 2019 (Backpropamine); Schmidgall et al. 2021 (SpikePropamine)",
)

HEBBIAN_RULES: dict[str, RuleInfo] = {
    r.name: r for r in (HEBB_INFO, OJA_INFO, ABCD_INFO, NEUROMOD_INFO, STDP_INFO)
}
"""The rules of this module by name (``agent.rule=NAME``)."""

RULE_COEFFS: dict[str, tuple[str, ...]] = {
    "hebb": ("eta",),
    "oja": ("eta",),
    "abcd": ("eta", "a", "b", "c", "d"),
    "neuromod": ("alpha", "eta_e"),
    "stdp": ("eta", "a_plus", "a_minus"),
}
"""Learnable coefficients of each rule (per layer or per synapse)."""


def outer(post: Tensor, pre: Tensor) -> Tensor:
    """Batched outer product ``post ⊗ pre`` of shape ``[..., n_post, n_pre]``.

    >>> outer(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 0.0, 1.0]))
    tensor([[3., 0., 1.],
            [6., 0., 2.]])
    """
    return post.unsqueeze(-1) * pre.unsqueeze(-2)


def hebb_dw(pre: Tensor, post: Tensor, eta: Tensor | float) -> Tensor:
    """Plain Hebb: ``eta * post ⊗ pre``."""
    return eta * outer(post, pre)


def oja_dw(pre: Tensor, post: Tensor, w: Tensor, eta: Tensor | float) -> Tensor:
    """Oja's rule: ``eta * y_i (x_j - y_i w_ij)`` (Hebb with a decay that bounds the norm)."""
    y = post.unsqueeze(-1)
    return eta * y * (pre.unsqueeze(-2) - y * w)


def abcd_dw(
    pre: Tensor,
    post: Tensor,
    eta: Tensor | float,
    a: Tensor | float,
    b: Tensor | float,
    c: Tensor | float,
    d: Tensor | float,
) -> Tensor:
    """Generalised Hebbian: ``eta * (A y x + B x + C y + D)``."""
    x = pre.unsqueeze(-2)
    y = post.unsqueeze(-1)
    return eta * (a * (y * x) + b * x + c * y + d)


def eligibility_update(e: Tensor, pre: Tensor, post: Tensor, eta_e: Tensor | float) -> Tensor:
    """Neuromodulated rule's trace: ``E <- (1 - eta_e) E + eta_e (post ⊗ pre)``."""
    return (1.0 - eta_e) * e + eta_e * outer(post, pre)


def neuromod_dw(e: Tensor, modulator: Tensor, alpha: Tensor | float) -> Tensor:
    """Neuromodulated weight change ``alpha * M_i * E_ij`` (``modulator [..., n_post]``)."""
    return alpha * modulator.unsqueeze(-1) * e


class STDPWindowTraces(NamedTuple):
    """Pre/post traces carried from one env step's window to the next."""

    x_pre: Tensor  # [..., n_pre]
    x_post: Tensor  # [..., n_post]


def decay_matrix(decay: float, ticks: int, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """``(D, p)`` with ``D[t, u] = decay^(t-u)`` for ``u <= t`` and ``p[t] = decay^(t+1)``.

    The trace after tick ``t`` of a window is ``x(t) = p[t] x0 + sum_u D[t, u] s(u)``.
    """
    t = torch.arange(ticks, device=device, dtype=dtype)
    diff = t.unsqueeze(1) - t.unsqueeze(0)
    lam = torch.as_tensor(decay, dtype=dtype, device=device)
    zero = torch.zeros((), dtype=dtype, device=device)
    d = torch.where(diff >= 0, lam ** diff.clamp(min=0), zero)
    return d, lam ** (t + 1)


def stdp_window_dw(
    s_pre: Tensor,
    s_post: Tensor,
    traces: STDPWindowTraces,
    decay_pre: float,
    decay_post: float,
    eta: Tensor | float,
    a_plus: Tensor | float,
    a_minus: Tensor | float,
) -> tuple[Tensor, STDPWindowTraces]:
    """STDP summed over a window of ``K`` ticks; returns ``(dw, traces after the window)``.

    Args:
        s_pre: presynaptic spikes (or activities) ``[..., K, n_pre]``.
        s_post: postsynaptic spikes ``[..., K, n_post]``.
        traces: traces before the window.
        decay_pre: per-tick trace decay ``exp(-dt / tau_plus)``.
        decay_post: per-tick trace decay ``exp(-dt / tau_minus)``.
        eta: learning rate (scalar or broadcastable to ``[..., n_post, n_pre]``, as below).
        a_plus: amplitude of potentiation (pre before post).
        a_minus: amplitude of depression (post before pre).

    Traces take each tick's spikes before the pairing term is read, so a coincident pair gives
    ``A+ - A-`` (as in :mod:`snnrl.plasticity.stdp`).
    """
    if not (s_pre.is_floating_point() and s_post.is_floating_point()):
        raise TypeError("stdp_window_dw needs floating-point spike tensors (got "
                        f"{s_pre.dtype}, {s_post.dtype}); cast with .float()")
    k = s_pre.shape[-2]
    d_pre, p_pre = decay_matrix(decay_pre, k, s_pre.device, s_pre.dtype)
    d_post, p_post = decay_matrix(decay_post, k, s_post.device, s_post.dtype)
    x_pre = d_pre @ s_pre + p_pre.unsqueeze(-1) * traces.x_pre.unsqueeze(-2)  # [..., K, n_pre]
    x_post = d_post @ s_post + p_post.unsqueeze(-1) * traces.x_post.unsqueeze(-2)
    ltp = s_post.transpose(-1, -2) @ x_pre  # sum_t s_post(t) ⊗ x_pre(t)
    ltd = x_post.transpose(-1, -2) @ s_pre  # sum_t x_post(t) ⊗ s_pre(t)
    dw = eta * (a_plus * ltp - a_minus * ltd)
    return dw, STDPWindowTraces(x_pre[..., -1, :], x_post[..., -1, :])
