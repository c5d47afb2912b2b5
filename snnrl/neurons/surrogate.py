r"""Surrogate-gradient spike function.

Forward: the Heaviside step :math:`s = \Theta(v - \vartheta)`.
Backward: the SuperSpike surrogate (Zenke & Ganguli 2018, Neural Computation 30(6)),

.. math::
    \frac{\partial s}{\partial v} \approx \frac{1}{(\alpha |v - \vartheta| + 1)^2},

so that networks of spiking neurons can be trained by backpropagation through time.
When no gradient is needed the plain comparison is used (no autograd node is built).
"""

from __future__ import annotations

import torch
from torch import Tensor


class _SuperSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, alpha: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_out / (ctx.alpha * x.abs() + 1.0) ** 2, None


def spike_fn(x: Tensor, alpha: float = 100.0) -> Tensor:
    """Heaviside of ``x`` (= v - threshold) with a SuperSpike surrogate gradient.

    Args:
        x: membrane potential minus threshold, any shape.
        alpha: steepness of the surrogate (per unit of voltage).

    Returns:
        Spikes (0.0 or 1.0) with the dtype of ``x``.

    >>> spike_fn(torch.tensor([-0.5, 0.0, 0.2]))
    tensor([0., 1., 1.])
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return _SuperSpike.apply(x, alpha)
    return (x >= 0).to(x.dtype)
