r"""Observation encoders: Gaussian receptive-field populations and Bernoulli rate coding.

Gaussian receptive fields (Bohte, Kok & La Poutré 2002, IEEE TNN 13; as in PopSAN, Tang et al.
2020, CoRL): each observation dimension :math:`o_d` is seen by ``n`` neurons with centres
:math:`c_{d,j}` spread evenly over ``[low_d, high_d]`` and width
:math:`\sigma_d = \text{width} \cdot (high_d - low_d)/(n-1)`:

.. math::
    r_{d,j} = \exp\!\left(-\frac{(o_d - c_{d,j})^2}{2\sigma_d^2}\right) \in (0, 1].

Values outside ``[low, high]`` are seen by the edge neurons (no clipping of the observation is
needed; the Gaussian simply decays). Bernoulli rate coding turns a rate in ``[0, 1]`` into a spike
per tick with probability :math:`p = r \cdot p_{max}`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class GaussianPopulation:
    """Gaussian receptive-field population encoder for a box observation.

    Args:
        low: per-dimension lower end of the covered range.
        high: per-dimension upper end.
        n_per_dim: receptive fields per dimension (>= 2).
        width: sigma as a fraction of the spacing between centres.
        device: where the centres live.

    >>> enc = GaussianPopulation([-1.0], [1.0], n_per_dim=3)
    >>> enc(torch.tensor([[0.0]]))
    tensor([[0.1353, 1.0000, 0.1353]])
    """

    def __init__(
        self,
        low: Sequence[float],
        high: Sequence[float],
        n_per_dim: int = 15,
        width: float = 0.5,
        device: torch.device | str | None = None,
    ) -> None:
        if len(low) != len(high):
            raise ValueError(f"low and high differ in length: {len(low)} vs {len(high)}")
        if n_per_dim < 2:
            raise ValueError(f"n_per_dim must be >= 2, got {n_per_dim}")
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width}")
        lo = torch.as_tensor(low, dtype=torch.float32, device=device)
        hi = torch.as_tensor(high, dtype=torch.float32, device=device)
        if not bool((hi > lo).all()):
            raise ValueError("every high must exceed its low")
        frac = torch.linspace(0.0, 1.0, n_per_dim, device=device)
        self.centres = lo[:, None] + (hi - lo)[:, None] * frac[None, :]  # [D, n]
        sigma = width * (hi - lo) / (n_per_dim - 1)  # [D]
        self.inv_two_sigma2 = (1.0 / (2.0 * sigma**2))[:, None]  # [D, 1]
        self.n_per_dim = n_per_dim
        self.obs_dim = len(low)

    @property
    def size(self) -> int:
        """Number of encoder neurons (``obs_dim * n_per_dim``)."""
        return self.obs_dim * self.n_per_dim

    def __call__(self, obs: Tensor) -> Tensor:
        """Rates ``[B, obs_dim * n_per_dim]`` in (0, 1] for observations ``[B, obs_dim]``."""
        diff = obs.to(self.centres.dtype)[:, :, None] - self.centres[None]  # [B, D, n]
        return torch.exp(-(diff * diff) * self.inv_two_sigma2).flatten(1)


def bernoulli_spikes(
    rates: Tensor, ticks: int, p_max: float, generator: torch.Generator | None = None
) -> Tensor:
    """Bernoulli rate coding: ``[ticks, *rates.shape]`` spikes with probability ``rates * p_max``.

    Args:
        rates: firing rates in [0, 1], any shape.
        ticks: number of ticks to sample (time-major leading axis).
        p_max: spike probability per tick at rate 1.
        generator: torch generator on the rates' device (for reproducibility).
    """
    p = (rates * p_max).clamp_(0.0, 1.0)
    u = torch.rand(
        (ticks, *rates.shape), generator=generator, device=rates.device, dtype=rates.dtype
    )
    return (u < p).to(rates.dtype)
