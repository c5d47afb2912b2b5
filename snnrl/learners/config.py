"""Schemas of ``conf/learner/*.yaml`` (one per learner, so no learner has keys it ignores)."""

from __future__ import annotations

from dataclasses import dataclass

from snnrl.config import ConfigError, check_positive, check_range


@dataclass
class NoLearnerConfig:
    """``learner=none``: the agent learns only within its lifetimes (online rules)."""

    name: str = "none"

    def __post_init__(self) -> None:
        if self.name != "none":
            raise ConfigError("learner.name", self.name, "'none' for this schema")


@dataclass
class ESConfig:
    """``learner=es``: evolution strategies over the meta-parameters (evotorch, functional API).

    One generation evaluates ``popsize`` candidates × ``train.num_envs`` lifetimes each as one
    batched rollout of ``lifetime_steps`` steps; the budget ``train.env_steps`` must be a whole
    number of generations.
    """

    name: str = "es"
    algorithm: str = "openai_es"
    """``openai_es`` (PGPE with a fixed sigma and Adam, centred ranks, antithetic sampling:
    Salimans et al. 2017) or ``pgpe`` (adaptive per-parameter sigma, Sehnke et al. 2010)."""
    popsize: int = 64
    """Candidates per generation (even: antithetic pairs)."""
    sigma: float = 0.05
    lr: float = 0.03
    """Adam step size on the search centre."""
    stdev_lr: float = 0.1
    """PGPE only: learning rate of the search distribution's standard deviation."""
    checkpoint_every: int = 10
    """Generations between checkpoints (``learner_state.pt``; a re-run resumes from it)."""

    def __post_init__(self) -> None:
        if self.name != "es":
            raise ConfigError("learner.name", self.name, "'es' for this schema")
        if self.algorithm not in ("openai_es", "pgpe"):
            raise ConfigError("learner.algorithm", self.algorithm, "'openai_es' or 'pgpe'")
        check_positive("learner.popsize", self.popsize)
        if self.popsize % 2:
            raise ConfigError("learner.popsize", self.popsize, "an even number (antithetic pairs)")
        for k in ("sigma", "lr", "checkpoint_every"):
            check_positive(f"learner.{k}", getattr(self, k))
        if self.stdev_lr < 0:
            raise ConfigError("learner.stdev_lr", self.stdev_lr, "a value >= 0")


@dataclass
class BPTTConfig:
    """``learner=bptt``: gradient descent through the lifetime (surrogate gradients for spikes).

    ``train.num_envs`` lifetimes run in parallel; every ``window`` steps an actor-critic loss
    (A2C with n-step bootstrapped returns, or REINFORCE with a running baseline) over the window
    updates the meta-parameters; state is detached between windows (truncated BPTT), except the
    initial weights, which keep their gradient through ``W = clip(W0 + P)``.
    """

    name: str = "bptt"
    method: str = "a2c"
    """``a2c`` or ``reinforce``."""
    lr: float = 1e-3
    window: int = 50
    """Truncation window in env steps."""
    gamma: float = 0.99
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    grad_clip: float = 4.0
    checkpoint_every: int = 50
    """Updates between checkpoints (``learner_state.pt``)."""

    def __post_init__(self) -> None:
        if self.name != "bptt":
            raise ConfigError("learner.name", self.name, "'bptt' for this schema")
        if self.method not in ("a2c", "reinforce"):
            raise ConfigError("learner.method", self.method, "'a2c' or 'reinforce'")
        for k in ("lr", "window", "grad_clip", "checkpoint_every"):
            check_positive(f"learner.{k}", getattr(self, k))
        check_range("learner.gamma", self.gamma, 0.0, 1.0)
        for k in ("entropy_coef", "value_coef"):
            if getattr(self, k) < 0:
                raise ConfigError(f"learner.{k}", getattr(self, k), "a value >= 0")


LEARNER_SCHEMAS: dict[str, type] = {"none": NoLearnerConfig, "es": ESConfig, "bptt": BPTTConfig}
