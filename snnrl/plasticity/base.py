"""What every plasticity rule declares about itself.

A rule is a pure function of local signals that returns a weight change (or an eligibility) and
its new trace state; it never applies the change. Each rule also declares which signals it reads,
so the suite can check and report locality: a rule is *local* when it reads only presynaptic
activity, postsynaptic activity and a broadcast neuromodulator.
"""

from __future__ import annotations

from dataclasses import dataclass

LOCAL_SIGNALS = frozenset(
    {
        "pre_spike", "pre_trace", "pre_activity",
        "post_spike", "post_trace", "post_activity", "post_membrane",
        "weight", "eligibility", "modulator",
    }
)
"""Signals available at a synapse on neuromorphic hardware: the activity (rate or spikes) and
traces of the two neurons it joins, its own weight and eligibility, and a broadcast modulator."""


@dataclass(frozen=True)
class RuleInfo:
    """Declaration of a plasticity rule: its name and the signals it reads."""

    name: str
    signals: tuple[str, ...]
    reference: str = ""

    @property
    def local(self) -> bool:
        """True when the rule reads only pre/post-synaptic signals and a broadcast modulator."""
        return set(self.signals) <= LOCAL_SIGNALS
