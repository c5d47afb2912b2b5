r"""Exact operation counts, per layer, in NeuroBench's definitions plus what NeuroBench cannot see.

NeuroBench (Yik et al. 2025, Nature Communications 16:1545; ``neurobench/metrics/workload/``)
defines, for a layer with weights :math:`W \in \mathbb{R}^{post \times pre}` and an input
:math:`x` at one time step:

- **dense synaptic operations**: :math:`pre \cdot post` (every weight, every input, zeros
  included);
- **effective synaptic operations**: :math:`\sum_j [x_j \ne 0] \cdot nnz(W_{:,j})` (products
  with a non-zero input and a non-zero weight); they are **ACs** (accumulates) when every input
  is in :math:`\{-1, 0, 1\}` (spikes), else **MACs**;
- **membrane updates**: neuron state updates.

Summed over ticks for spiking layers: a tick is NeuroBench's time step. NeuroBench's documented
example, :math:`W = [[1.3,0,-3.2],[0,1.2,-5.1],[-1.1,2.7,0]]`, :math:`x = [0, 1.3, -1]`,
gives 4 effective MACs and 9 dense operations (``tests/networks/test_counts.py``).

What NeuroBench cannot see, and snnrl counts itself: neuron updates split into *driven* (the
neuron received non-zero synaptic input in that tick) and *idle* (leak only: every neuron is
updated every tick in a time-driven simulation); plasticity updates split by what triggers them
(a presynaptic spike, a postsynaptic spike, every tick unconditionally, once per env step);
trace updates; and reads and writes of synaptic state words. ``stpn_proxy`` is the physical
energy proxy of the STPN paper (Rodriguez, Guo & Moraitis 2022, ICML):
:math:`\sum_t \sum_{ij} x_j^2 |W_{ij}|` (inputs as voltages, efficacies as conductances;
arbitrary units), so that STPN's energy ranking can be reproduced.

Counts are per lifetime (a ``[B]`` tensor per key) and per env step; the rollout sums them.
"""

from __future__ import annotations

from torch import Tensor

COUNT_KEYS = (
    "synops_dense",
    "synops_ac",
    "synops_mac",
    "spikes",
    "neuron_updates_driven",
    "neuron_updates_idle",
    "plasticity_pre",
    "plasticity_post",
    "plasticity_tick",
    "plasticity_step",
    "trace_updates",
    "state_reads",
    "state_writes",
    "ticks",
    "stpn_proxy",
)
"""Every counter a layer may report (absent keys count zero)."""

LayerCounts = dict[str, Tensor]
"""One layer's counts for one env step: key → ``[B]`` tensor."""


def is_binary(x: Tensor) -> bool:
    """NeuroBench's test for spiking input: every element in {-1, 0, 1}."""
    return bool(((x == 0) | (x == 1) | (x == -1)).all())


def synaptic_ops(x: Tensor, nnz_per_input: Tensor, n_post: int) -> tuple[Tensor, Tensor]:
    """Effective and dense synaptic operations of one layer over ``T`` time steps.

    Args:
        x: inputs ``[T, B, pre]`` (spikes, or graded values).
        nnz_per_input: ``[B, pre]`` (or ``[pre]``) number of non-zero weights leaving each input.
        n_post: neurons the layer feeds.

    Returns:
        ``(effective [B], dense [B])``; effective ops are ACs if :func:`is_binary` holds for
        ``x``, MACs otherwise (the caller decides where to file them).
    """
    t, b, pre = x.shape
    effective = ((x != 0).to(nnz_per_input.dtype) * nnz_per_input).sum((0, 2))
    dense = effective.new_full((b,), float(t * pre * n_post))
    return effective, dense


def neuron_updates(drive: Tensor) -> tuple[Tensor, Tensor]:
    """Driven and idle neuron updates from the synaptic input ``drive [T, B, N]``.

    A neuron's update in a tick is *driven* when its synaptic input is non-zero, *idle* (leak
    only) otherwise; every neuron is updated every tick.
    """
    driven = (drive != 0).sum((0, 2)).to(drive.dtype)
    total = drive.shape[0] * drive.shape[2]
    return driven, total - driven


class OpTotals:
    """Sums of per-step operation counts over a rollout, kept on the device (no sync per step).

    ``add`` takes one step's counts (layer → key → ``[B]`` tensor or number); ``per_step``
    returns the mean count per env step and per lifetime, as plain floats.
    """

    def __init__(self) -> None:
        self.sums: dict[str, dict[str, Tensor | float]] = {}
        self.steps = 0

    def add(self, ops: dict[str, dict[str, Tensor | float]]) -> None:
        """Accumulate one step's counts (call once per env step, also with ``{}``)."""
        for layer, counts in ops.items():
            dst = self.sums.setdefault(layer, {})
            for key, v in counts.items():
                dst[key] = dst[key] + v if key in dst else v

    def step(self) -> None:
        """Count one env step."""
        self.steps += 1

    def per_step(self) -> dict[str, dict[str, float]]:
        """Mean count per env step and per lifetime: layer → key → float."""
        if self.steps == 0:
            return {}
        out: dict[str, dict[str, float]] = {}
        for layer, counts in self.sums.items():
            out[layer] = {k: float(v.double().mean()) / self.steps if isinstance(v, Tensor)
                          else float(v) / self.steps for k, v in counts.items()}
        return out
