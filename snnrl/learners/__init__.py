"""Learners: the outer loops that change what survives a lifetime (``learner=none|es|bptt``).

- ``none``: agents that learn only within a lifetime by their online rule (R-STDP).
- ``es``: evolution strategies over meta-parameters (:mod:`snnrl.learners.es`, evotorch).
- ``bptt``: gradient descent through the lifetime (:mod:`snnrl.learners.bptt`).
"""

from snnrl.learners.config import (
    LEARNER_SCHEMAS,
    BPTTConfig,
    ESConfig,
    NoLearnerConfig,
)
from snnrl.learners.fitness import lifetime_fitness

__all__ = ["LEARNER_SCHEMAS", "BPTTConfig", "ESConfig", "NoLearnerConfig", "lifetime_fitness"]
