"""Action decoders: spikes or membrane potentials of output groups → discrete action.

Output neurons are arranged in ``n_actions`` consecutive groups of ``group_size`` neurons
(population vote; e.g. Frémaux, Sprekeler & Gerstner 2013, PLoS Comput. Biol. 9, who read the
action out of a population of actor neurons).
"""

from __future__ import annotations

import torch
from torch import Tensor


def group_sum(x: Tensor, n_actions: int) -> Tensor:
    """Sum ``[B, n_actions * group]`` over each group → ``[B, n_actions]``."""
    return x.view(x.shape[0], n_actions, -1).sum(-1)


def spike_count_action(counts: Tensor, n_actions: int, tie_break: Tensor | None = None) -> Tensor:
    """Action whose group fired most spikes.

    Args:
        counts: ``[B, n_actions * group]`` spike counts over the env step.
        n_actions: number of groups.
        tie_break: ``[B, n_actions]`` small values (e.g. group membrane potentials, or uniform
            noise) that decide between groups with equal counts; lowest index wins if omitted.

    >>> spike_count_action(torch.tensor([[1., 0., 2., 0.]]), 2)
    tensor([1])
    """
    g = group_sum(counts, n_actions)
    if tie_break is not None:
        g = g + 1e-3 * torch.tanh(tie_break)  # < 1 spike: only decides ties
    return g.argmax(-1)


def membrane_action(v: Tensor, n_actions: int) -> Tensor:
    """Action whose group has the highest summed (for equal groups: mean) membrane potential.

    >>> membrane_action(torch.tensor([[0.1, 0.3, 0.2, 0.1]]), 2)
    tensor([0])
    """
    return group_sum(v, n_actions).argmax(-1)
