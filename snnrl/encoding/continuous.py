r"""Continuous actions decoded from populations of spiking output neurons.

Each of the ``A`` action dimensions is read from its own population of ``P`` output neurons; the
``A * P`` outputs are laid out as ``A`` consecutive groups of ``P`` (the layout of
:mod:`snnrl.encoding.decoding`). Over one env step of ``T`` ticks, neuron ``j`` of population
``i`` fires ``n_{i,j}`` spikes; its rate is

.. math::
    r_{i,j} = n_{i,j} / T \in [0, 1].

**Linear readout, squashed (PopSAN: Tang, Kumar, Michmizos & Agarwal 2020, "Deep reinforcement
learning with population-coded spiking neural network for continuous control", CoRL).** A
learnable weight per neuron and a bias per action dimension (PopSAN's grouped 1-D convolution),
then a squashing function onto the action bounds ``[low_i, high_i]``:

.. math::
    u_i = \sum_{j=1}^{P} w_{i,j}\, r_{i,j} + b_i, \qquad
    a_i = \text{low}_i + (\text{high}_i - \text{low}_i)\,\frac{\tanh(u_i) + 1}{2}.

For symmetric bounds ``[-L, L]`` this is PopSAN's ``a_i = L tanh(u_i)``.

**Population vector (preferred values; Georgopoulos, Schwartz & Kettner 1986, Science 233).**
Neuron ``j`` of population ``i`` prefers the value :math:`c_{i,j}` (by default spread evenly over
``[low_i, high_i]``); the action is the rate-weighted mean of the preferred values,

.. math::
    a_i = \frac{\sum_j r_{i,j}\, c_{i,j}}{\sum_j r_{i,j}}
    \quad\text{if } \sum_j r_{i,j} > 0, \qquad a_i = d_i \text{ (a default) otherwise},

a convex combination of the preferred values, so it lies in ``[min_j c_{i,j}, max_j c_{i,j}]``
(clamped there against float rounding) with no squashing and no learnable parameters (fit for
purely local learning rules).

Every function here is pure: it allocates its output and never writes to its inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def _as_bound(x: float | Sequence[float] | Tensor, like: Tensor, n: int, name: str) -> Tensor:
    t = torch.as_tensor(x, dtype=like.dtype, device=like.device)
    if t.ndim == 0:
        t = t.expand(n)
    if t.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have {n} values (one per action), "
                         f"got shape {tuple(t.shape)}")
    return t


def _check_order(low: object, high: object, lo: Tensor, hi: Tensor, strict: bool) -> None:
    """Raise unless ``high > low`` (``>=`` if not strict), checked only for non-tensor bounds.

    Python numbers and sequences are compared on the host, from CPU copies; tensor bounds are
    trusted (checked once where they are built), since comparing them would read a device
    tensor back to the host: a synchronisation on every call.
    """
    if isinstance(low, Tensor) or isinstance(high, Tensor):
        return
    lo_h = torch.as_tensor(low, dtype=torch.float64).expand(lo.shape)
    hi_h = torch.as_tensor(high, dtype=torch.float64).expand(hi.shape)
    if not bool((hi_h > lo_h).all() if strict else (hi_h >= lo_h).all()):
        raise ValueError("every high must exceed its low" if strict
                         else "every high must be >= its low")


def population_rates(counts: Tensor, n_actions: int, ticks: int) -> Tensor:
    """Rates ``r = n / T`` of ``A`` populations: ``[B, A * P]`` counts → ``[B, A, P]``.

    Args:
        counts: spike counts over one env step, ``[B, A * P]``.
        n_actions: number of action dimensions ``A`` (populations).
        ticks: ticks ``T`` per env step (> 0).

    >>> population_rates(torch.tensor([[2., 0., 4., 1.]]), n_actions=2, ticks=4)
    tensor([[[0.5000, 0.0000],
             [1.0000, 0.2500]]])
    """
    if ticks <= 0:
        raise ValueError(f"ticks must be > 0, got {ticks}")
    if n_actions <= 0 or counts.shape[-1] % n_actions:
        raise ValueError(
            f"counts' last dimension ({counts.shape[-1]}) must be a positive multiple of "
            f"n_actions ({n_actions})"
        )
    return counts.reshape(counts.shape[0], n_actions, -1) / ticks


def squash(u: Tensor, low: float | Sequence[float] | Tensor,
           high: float | Sequence[float] | Tensor) -> Tensor:
    """``low + (high - low) * (tanh(u) + 1) / 2`` per action dimension: ``[B, A]`` → ``[B, A]``.

    Bounds given as Python numbers or sequences are checked (``high >= low``, on the host) on
    every call and copied to ``u``'s device. Tensor bounds are not checked here, because that
    would synchronise with the device on every step: build them once, on ``u``'s device, and
    check them there (for instance against the env's action space).

    Raises:
        ValueError: a bound of the wrong size, or a non-tensor ``high`` below its ``low``.

    >>> squash(torch.tensor([[0.0, 100.0]]), -1.0, 1.0)
    tensor([[0., 1.]])
    """
    lo = _as_bound(low, u, u.shape[-1], "low")
    hi = _as_bound(high, u, u.shape[-1], "high")
    _check_order(low, high, lo, hi, strict=False)
    return lo + (hi - lo) * (torch.tanh(u) + 1.0) * 0.5


def linear_readout(rates: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """PopSAN's per-population readout ``u_i = sum_j w_ij r_ij + b_i``.

    Args:
        rates: ``[B, A, P]`` population rates.
        weight: ``[A, P]`` shared by the batch, or ``[B, A, P]`` per lifetime.
        bias: ``[A]`` or ``[B, A]``; zero if omitted.

    Returns:
        ``[B, A]`` pre-squash action values.

    >>> linear_readout(torch.tensor([[[1., 0.5]]]), torch.tensor([[2., -2.]]), torch.tensor([0.5]))
    tensor([[1.5000]])
    """
    if weight.shape[-2:] != rates.shape[-2:]:
        raise ValueError(f"weight's last two dimensions {tuple(weight.shape[-2:])} must be "
                         f"[A, P] = {tuple(rates.shape[-2:])}")
    u = (rates * weight).sum(-1)
    return u if bias is None else u + bias


def popsan_action(
    counts: Tensor,
    ticks: int,
    weight: Tensor,
    bias: Tensor | None,
    low: float | Sequence[float] | Tensor,
    high: float | Sequence[float] | Tensor,
) -> Tensor:
    """Continuous action from output spike counts, PopSAN's decoder (module docstring).

    Args:
        counts: ``[B, A * P]`` spike counts over the env step.
        ticks: ticks per env step.
        weight: ``[A, P]`` or ``[B, A, P]`` readout weights.
        bias: ``[A]`` or ``[B, A]`` biases, or None.
        low: action lower bounds (scalar or ``[A]``); tensors are not checked (:func:`squash`).
        high: action upper bounds (scalar or ``[A]``).

    Returns:
        ``[B, A]`` actions within ``[low, high]``.

    >>> c = torch.tensor([[4., 0., 0., 4.]])  # 2 actions, 2 neurons each, 4 ticks
    >>> w = torch.tensor([[1., -1.], [1., -1.]])
    >>> popsan_action(c, 4, w, None, -1.0, 1.0)
    tensor([[ 0.7616, -0.7616]])
    """
    rates = population_rates(counts, weight.shape[-2], ticks)
    return squash(linear_readout(rates, weight, bias), low, high)


def preferred_values(
    low: float | Sequence[float] | Tensor,
    high: float | Sequence[float] | Tensor,
    pop_size: int,
    n_actions: int | None = None,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Preferred values spread evenly over ``[low_i, high_i]``: ``[A, P]`` (end points included).

    Built once per agent, so the bounds are checked here (``high > low``; a one-off device sync
    when they are device tensors).

    Args:
        low: lower bounds, scalar or ``[A]``.
        high: upper bounds, scalar or ``[A]``.
        pop_size: neurons per population ``P`` (>= 2).
        n_actions: ``A`` when both bounds are scalars (default 1).
        device: device of the result; by default that of a tensor bound, else the CPU.
        dtype: floating dtype of the result.

    Raises:
        ValueError: ``pop_size < 2``, a bound of the wrong size, or a ``high`` not above its
            ``low``.

    >>> preferred_values(-1.0, 1.0, 3, n_actions=2)
    tensor([[-1.,  0.,  1.],
            [-1.,  0.,  1.]])
    """
    if pop_size < 2:
        raise ValueError(f"pop_size must be >= 2, got {pop_size}")
    if device is None:
        device = next((b.device for b in (low, high) if isinstance(b, Tensor)), "cpu")
    lo = torch.as_tensor(low, dtype=dtype, device=device)
    hi = torch.as_tensor(high, dtype=dtype, device=device)
    n = max(lo.numel() if lo.ndim else 1, hi.numel() if hi.ndim else 1, n_actions or 1)
    lo = _as_bound(lo, lo, n, "low")
    hi = _as_bound(hi, hi, n, "high")
    if isinstance(low, Tensor) or isinstance(high, Tensor):
        if not bool((hi > lo).all()):  # built once per agent: this sync is not per step
            raise ValueError("every high must exceed its low")
    else:
        _check_order(low, high, lo, hi, strict=True)
    frac = torch.linspace(0.0, 1.0, pop_size, dtype=dtype, device=lo.device)
    return lo[:, None] + (hi - lo)[:, None] * frac[None, :]


def population_vector(
    rates: Tensor, preferred: Tensor, default: float | Sequence[float] | Tensor | None = None
) -> Tensor:
    """Rate-weighted mean of preferred values ``a_i = sum_j r_ij c_ij / sum_j r_ij``.

    Args:
        rates: ``[B, A, P]`` non-negative rates (or counts: the result is scale-free).
        preferred: ``[A, P]`` preferred values; moved to the rates' device and dtype (build
            them there once, with :func:`preferred_values`'s ``device``/``dtype``, to avoid a
            copy per call).
        default: action where a population is silent (scalar or ``[A]``); the mean of the
            population's preferred values (the middle of the range) if omitted.

    Returns:
        ``[B, A]`` actions, each within its population's preferred-value range.

    >>> c = preferred_values(-1.0, 1.0, 3)
    >>> population_vector(torch.tensor([[[0., 1., 1.]], [[0., 0., 0.]]]), c)
    tensor([[0.5000],
            [0.0000]])
    """
    if preferred.shape != rates.shape[-2:]:
        raise ValueError(f"preferred must be [A, P] = {tuple(rates.shape[-2:])}, "
                         f"got {tuple(preferred.shape)}")
    pref = preferred.to(rates)
    total = rates.sum(-1)  # [B, A]
    silent = total <= 0
    num = (rates * pref).sum(-1)
    mean = num / torch.where(silent, torch.ones_like(total), total)
    # exactly a convex combination; the clamp only removes float rounding past the ends
    mean = torch.clamp(mean, pref.amin(-1), pref.amax(-1))
    d = pref.mean(-1) if default is None else _as_bound(default, rates, pref.shape[0], "default")
    return torch.where(silent, d.expand_as(mean), mean)
