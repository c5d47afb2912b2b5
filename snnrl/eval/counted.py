"""The protocol evaluation of a trained agent with its operations counted (energy of a checkpoint).

Deep agents (frozen weights) are counted over their evaluation episodes by
:class:`snnrl.networks.op_counter.OpCounter`; meta-learned plastic agents (``learner`` es or
bptt) over their evaluation lifetimes with the rule on, by the network itself
(``agent.count_ops``). Either way the evaluation is the one ``snnrl train`` runs at the end of
training, with the same streams, so its figures equal the run's recorded ``eval/`` figures and
the counts are those of the behaviour that was scored (counting changes no action). Online
learners (R-STDP, ``learner=none``), whose training runs count their final round of training
lifetimes, are counted here over their evaluation lifetimes: fresh lifetimes in which they learn
from scratch, as in training (the checkpoint does not enter them).

Counts are the mean per env step (docs/ENERGY.md): over the (env, step) pairs of the episodes
for deep agents, over every step of every evaluation lifetime for plastic ones.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import torch

DEEP_SOURCE = "frozen-weight evaluation episodes"
META_SOURCE = "evaluation lifetimes, plasticity {} (frozen meta-parameters)"
ONLINE_SOURCE = "evaluation lifetimes, fresh, plasticity {} (online learner)"


@dataclass
class CountedEvaluation:
    """What :func:`counted_evaluation` returns."""

    metrics: dict[str, Any]
    """The evaluation's figures (``eval/...``), as training records them."""
    ops: dict[str, dict[str, float]]
    """Mean count per env step: layer → key → count."""
    layers: dict[str, Any]
    """:class:`~snnrl.networks.LayerInfo` of every counted layer."""
    episode_length: float
    """Mean episode length of the evaluation (J per episode = J per step × this)."""
    source: str
    """Where the counts were taken."""


def counted_evaluation(c: Any, agent: Any, device: torch.device) -> CountedEvaluation | None:
    """Run the protocol evaluation of a trained ``agent`` with op counting; None if it cannot.

    Args:
        c: The run's :class:`~snnrl.config.TrainConfig`.
        agent: The agent with its trained weights / meta-parameters loaded.
        device: Where to evaluate.

    Returns:
        The figures and counts, or None for an agent that counts nothing (a deep agent without
        a counter; an online learner whose config turns counting off).
    """
    from snnrl.cli.train import evaluate_lifetimes

    if not agent.learns_within_lifetime:
        from snnrl.cli.deep import evaluate_episodes

        counter = agent.op_counter()
        if counter is None:
            return None
        metrics, _ = evaluate_episodes(c, agent, device, counter)
        ops = counter.per_step()
        if not finite_counts(ops):
            return None
        return CountedEvaluation(metrics, ops, counter.layers, metrics["eval/length_mean"],
                                 DEEP_SOURCE)
    if c.learner.name in ("es", "bptt"):
        if not hasattr(agent, "count_ops"):
            return None
        from snnrl.cli.meta import counted_evaluation as counted_lifetimes

        source = META_SOURCE.format("on" if agent.plastic else "off")
        metrics, res = counted_lifetimes(c, agent, device)
    else:  # online learners count every lifetime they live (agent.count_ops in their config)
        source = ONLINE_SOURCE.format(
            "on, learning from scratch" if getattr(c.agent, "plasticity", True) else "off")
        metrics, res = evaluate_lifetimes(c, agent, device)
    return from_lifetimes(metrics, res, agent.layers, c, source)


def finite_counts(ops: dict[str, dict[str, float]]) -> bool:
    """Something was counted, and every count is finite."""
    return bool(ops) and all(math.isfinite(v) for n in ops.values() for v in n.values())


def from_lifetimes(metrics: dict[str, Any], res: Any, layers: dict[str, Any], c: Any,
                   source: str) -> CountedEvaluation | None:
    """A counted rollout of lifetimes as a :class:`CountedEvaluation` (None: nothing finite).

    ``res`` is a :class:`~snnrl.eval.rollout.RolloutResult`. J per episode uses the mean
    length of the episodes that ended in those lifetimes (the lifetime's length where none
    did).
    """
    if not finite_counts(res.ops):
        return None
    lengths = res.episodes.length
    length = statistics.fmean(lengths) if lengths else float(c.lifetime_steps)
    return CountedEvaluation(metrics, res.ops, layers, length, source)
