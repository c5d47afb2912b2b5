"""Rollouts, the evaluation protocol (docs/PROTOCOL.md) and aggregate statistics."""

from snnrl.eval.rollout import EpisodeLog, RolloutResult, last_fraction_return, run_lifetimes

__all__ = ["EpisodeLog", "RolloutResult", "last_fraction_return", "run_lifetimes"]
