r"""Short-term plasticity: the STPN fast-weight rule and Tsodyks–Markram synapses.

Both are *synaptic state* that a forward pass carries from one tick (or env step) to the next;
neither is a long-term rule. They are pure functions: the caller's state is never modified.

**STPN** (Rodriguez, Guo & Moraitis 2022, ICML, "Short-Term Plasticity Neurons Learning to Learn
and Forget", arXiv 2206.14048). Every synapse :math:`(i, j)` (post ``i``, pre ``j``) has a fast
weight :math:`F_{ij}` on top of its slow weight :math:`W_{ij}`; the effective efficacy is
:math:`G = W + F`. After the postsynaptic activity :math:`h` has been computed from the
presynaptic activity :math:`z` of the same step,

.. math::
    F_t = \mathrm{clip}\big(\lambda \odot F_{t-1} + \gamma \odot (h_t \otimes z_t),\; -c,\; c\big),

with a learned decay :math:`\lambda` and learned (signed) plasticity rate :math:`\gamma` per
synapse, and no clip when :math:`c` is ``None``. :func:`stpn_tick` computes exactly this.

**Tsodyks–Markram (TM)** (Tsodyks & Markram 1997, PNAS 94; Tsodyks, Pawelzik & Markram 1998,
Neural Computation 10; in the form of Mongillo, Barak & Tsodyks 2008, Science 319). A synapse
holds the fraction of available resources :math:`x \in [0, 1]` and the utilisation
:math:`u \in [0, 1]`:

.. math::
    \frac{du}{dt} = \frac{U - u}{\tau_F} + U (1 - u^-)\, \delta(t - t_{sp}), \qquad
    \frac{dx}{dt} = \frac{1 - x}{\tau_D} - u^+ x^-\, \delta(t - t_{sp}).

Discrete time, one tick of length ``dt`` (seconds), presynaptic spike :math:`s \in \{0, 1\}`, in
this exact order (between spikes the relaxation is integrated exactly, so ``dt`` may be large):

.. math::
    u' &= U + (u - U)\, e^{-dt/\tau_F}, \qquad x' = 1 + (x - 1)\, e^{-dt/\tau_D}
       &&\text{(relax over the tick)}\\
    u^+ &= u' + U (1 - u')\, s &&\text{(facilitate: a spike raises } u\text{ first)}\\
    e &= u^+ x' &&\text{(efficacy: fraction of resources a spike releases now)}\\
    x^+ &= x' - e\, s &&\text{(depress: the released resources are gone)}

and the new state is :math:`(u^+, x^+)`. The rest state is :math:`(u, x) = (U, 1)`, a fixed point
without spikes; from rest the first spike's efficacy is :math:`U(2 - U)` (Mongillo's ``u^+``
convention; Tsodyks & Markram 1997 release with ``u^-`` instead). The efficacy :math:`e` is
returned at every tick, spike or not: it is what a spike in this tick transmits, so a synapse's
contribution to the postsynaptic current is :math:`W e s` and the caller multiplies by ``s``.
A *fractional* :math:`s \in [0, 1]` (a rate: the expected spike count in the tick) gives the
mean-field update of Tsodyks, Pawelzik & Markram (1998): the same equations with the jumps scaled
by the rate. Depression dominates with a large ``U`` and a long :math:`\tau_D` (successive
efficacies fall); facilitation with a small ``U``, a long :math:`\tau_F` and a short
:math:`\tau_D` (successive efficacies rise).

Shapes broadcast: ``u, x`` may be per presynaptic neuron ``[B, pre]`` or per synapse
``[B, post, pre]``; ``spikes`` ``[B, pre]`` then needs ``spikes[:, None, :]`` for the latter;
``U``, ``tau_f``, ``tau_d`` are floats or tensors broadcasting against the state (learned per
synapse by :class:`snnrl.networks.stpn.SpikingSTPNCell`). Times in seconds.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from snnrl.config import ConfigError
from snnrl.plasticity.base import RuleInfo

STPN_INFO = RuleInfo(
    name="stpn",
    signals=("pre_activity", "post_activity"),
    reference="Rodriguez, Guo & Moraitis 2022 (ICML)",
)
TM_INFO = RuleInfo(
    name="tsodyks_markram",
    signals=("pre_spike",),
    reference="Tsodyks & Markram 1997; Tsodyks, Pawelzik & Markram 1998; Mongillo et al. 2008",
)


def stpn_tick(
    f: Tensor, post: Tensor, pre: Tensor, lam: Tensor, gamma: Tensor, clamp: float | None
) -> Tensor:
    r"""One STPN fast-weight update: :math:`\mathrm{clip}(\lambda F + \gamma\, post \otimes pre)`.

    Args:
        f: fast weights ``[B, post, pre]``.
        post: postsynaptic activity of this step ``[B, post]`` (``h_t`` or spikes).
        pre: presynaptic activity of this step ``[B, pre]`` (``z_t = [x_t; h_{t-1}]``).
        lam: decay per synapse ``[post, pre]`` (or anything broadcasting).
        gamma: plasticity rate per synapse ``[post, pre]``.
        clamp: bound ``c`` of ``|F|``; ``None``: no bound.

    Returns:
        The new fast weights ``[B, post, pre]`` (a new tensor).

    >>> f = torch.zeros(1, 1, 2)
    >>> stpn_tick(f, torch.tensor([[2.0]]), torch.tensor([[1.0, -1.0]]),
    ...           torch.ones(1, 2), torch.full((1, 2), 0.5), clamp=0.8)
    tensor([[[ 0.8000, -0.8000]]])
    """
    new = lam * f + gamma * torch.einsum("bi,bj->bij", post, pre)
    if clamp is not None:
        new = new.clamp(-clamp, clamp)
    return new


class TMState(NamedTuple):
    """Tsodyks–Markram synaptic state (per presynaptic neuron or per synapse)."""

    u: Tensor  # [B, pre] or [B, post, pre]: utilisation
    x: Tensor  # same shape: fraction of available resources


def tm_init(
    shape: tuple[int, ...] | torch.Size,
    U: float | Tensor,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> TMState:
    """The rest state ``u = U``, ``x = 1``.

    Args:
        shape: state shape, e.g. ``(B, pre)`` or ``(B, post, pre)``.
        U: baseline utilisation (float or a tensor broadcasting against ``shape``).
        device: where to allocate (``U``'s device when ``U`` is a tensor and this is ``None``).
        dtype: floating dtype (``U``'s dtype when ``U`` is a tensor).

    >>> tm_init((1, 2), 0.25)
    TMState(u=tensor([[0.2500, 0.2500]]), x=tensor([[1., 1.]]))
    """
    if isinstance(U, Tensor):
        device = U.device if device is None else device
        u = U.detach().to(device=device).expand(shape).clone()
        return TMState(u=u, x=torch.ones(shape, device=device, dtype=u.dtype))
    if not 0.0 < U <= 1.0:
        raise ConfigError("U", U, "a utilisation in (0, 1]")
    return TMState(
        u=torch.full(shape, float(U), device=device, dtype=dtype),
        x=torch.ones(shape, device=device, dtype=dtype),
    )


def _decay(tau: float | Tensor, dt: float, key: str) -> float | Tensor:
    """``exp(-dt / tau)`` for a float or a tensor of time constants (seconds)."""
    if isinstance(tau, Tensor):
        return torch.exp(-dt / tau)
    if not tau > 0:
        raise ConfigError(key, tau, "a time constant > 0 (seconds)")
    return math.exp(-dt / tau)


def tm_step(
    state: TMState,
    spikes: Tensor,
    U: float | Tensor,
    tau_f: float | Tensor,
    tau_d: float | Tensor,
    dt: float,
) -> tuple[Tensor, TMState]:
    r"""Advance Tsodyks–Markram synapses by one tick (relax, facilitate, release, depress).

    Args:
        state: ``(u, x)`` before this tick.
        spikes: presynaptic spikes (or rates in ``[0, 1]``) broadcasting against the state.
        U: baseline utilisation and facilitation increment, in ``(0, 1]``.
        tau_f: facilitation time constant (s): ``u`` relaxes to ``U`` with it.
        tau_d: depression (recovery) time constant (s): ``x`` relaxes to 1 with it.
        dt: tick length (s).

    Returns:
        ``(efficacy, new_state)``: ``efficacy = u^+ x'`` (what a spike in this tick releases;
        multiply by the spike for the transmitted amount) and ``(u^+, x^+)``.

    >>> e, s = tm_step(tm_init((1, 1), 0.5), torch.ones(1, 1), 0.5, 1.0, 1.0, 1e-3)
    >>> e, s.x  # first spike from rest: U (2 - U) = 0.75 released, 0.25 left
    (tensor([[0.7500]]), tensor([[0.2500]]))
    """
    if not dt > 0:
        raise ConfigError("dt", dt, "a tick length > 0 (seconds)")
    if not isinstance(U, Tensor) and not 0.0 < U <= 1.0:
        raise ConfigError("U", U, "a utilisation in (0, 1]")
    a_f = _decay(tau_f, dt, "tau_f")
    a_d = _decay(tau_d, dt, "tau_d")
    u = U + (state.u - U) * a_f
    x = 1.0 + (state.x - 1.0) * a_d
    u = u + U * (1.0 - u) * spikes
    eff = u * x
    x = x - eff * spikes
    return eff, TMState(u=u, x=x)
