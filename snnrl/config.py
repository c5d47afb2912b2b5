"""Config schemas, validation and the one error type bad input raises.

Every config group has a dataclass schema registered in Hydra's ``ConfigStore``, so a misspelt
key or a value of the wrong type fails when the config is composed, with the key named. Range
checks live in each schema's ``__post_init__``, which runs when the composed config is turned
into objects (:func:`to_objects`); they raise :class:`ConfigError`, which the CLI prints as one
line and a non-zero exit, before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import torch
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf


class ConfigError(ValueError):
    """Bad input: names the offending key, what was given and what was expected."""

    def __init__(self, key: str, got: Any, expected: str) -> None:
        self.key, self.got, self.expected = key, got, expected
        super().__init__(f"{key}={got!r}: expected {expected}")


class Unsupported(ConfigError):
    """An agent that cannot run on an env's spaces (``snnrl zoo`` marks the pair unsupported).

    ``snnrl train`` turns it into one line that says "unsupported" and names the agents that do
    run on the env (:func:`snnrl.agents.registry.unsupported_error`).
    """


def check_positive(key: str, value: float | int) -> None:
    """Raise :class:`ConfigError` unless ``value > 0``."""
    if not value > 0:
        raise ConfigError(key, value, "a value > 0")


def check_range(key: str, value: float, lo: float, hi: float, *, lo_open: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``lo <= value <= hi`` (``lo < value`` if ``lo_open``)."""
    ok = (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        raise ConfigError(key, value, f"a value in {'(' if lo_open else '['}{lo}, {hi}]")


_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def resolve_device(device: str) -> torch.device:
    """Check a ``device`` string and that the hardware exists; return the torch device."""
    if not _DEVICE.match(device):
        raise ConfigError("device", device, "'cpu', 'cuda' or 'cuda:N'")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("device", device, "'cpu' (CUDA is not available on this machine)")
        idx = int(device.split(":")[1]) if ":" in device else 0
        if idx >= torch.cuda.device_count():
            raise ConfigError("device", device, f"a CUDA index < {torch.cuda.device_count()}")
    return torch.device(device)


@dataclass
class EnvConfig:
    """Schema of ``conf/env/*.yaml``."""

    name: str = MISSING
    """Short name used by ``env=NAME``."""
    id: str = MISSING
    """Gymnasium id the results cite (``snnrl/CartPole-v1``, ``Ant-v5``, ...)."""
    backend: str = "native"
    """``native`` (batched torch implementation, by ``id``), ``gym`` (any Gymnasium id through
    :class:`GymAdapter`) or ``factory`` (a builder registered in
    :data:`snnrl.envs.registry.ENV_FACTORIES` under ``name``, e.g. wrapped MuJoCo/Atari envs)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra constructor arguments of the env (per env config; see each ``conf/env/*.yaml``)."""
    max_episode_steps: int | None = 500
    """Truncation horizon; ``null`` for long variants that a time limit must not cut short."""
    obs_low: list[float] = field(default_factory=list)
    """Encoder range hints: the range receptive fields cover, per observation dimension."""
    obs_high: list[float] = field(default_factory=list)
    random_return: float | None = None
    """Measured mean return of a uniformly random policy (for normalised scores)."""
    oracle_return: float | None = None
    """Measured mean return of an oracle policy (the ceiling of normalised scores), if any."""
    random_failures_per_1000: float | None = None
    """Failures (terminations) per 1,000 steps of a uniformly random policy, for envs where an
    episode ending by termination is a failure (cart-pole, Ant): the zero of the long-horizon
    stability score (:mod:`snnrl.eval.longhorizon`)."""
    budget_tiers: dict[str, int] = field(default_factory=dict)
    """Named training budgets (``train.env_steps``) that results and leaderboards cite."""
    gpu_tiers: list[str] = field(default_factory=list)
    """Budget tiers sized for a GPU machine (too long for 2 CPU cores)."""

    def __post_init__(self) -> None:
        if self.backend not in ("native", "gym", "factory"):
            raise ConfigError("env.backend", self.backend, "'native', 'gym' or 'factory'")
        if self.max_episode_steps is not None:
            check_positive("env.max_episode_steps", self.max_episode_steps)
        if len(self.obs_low) != len(self.obs_high):
            raise ConfigError(
                "env.obs_high", self.obs_high, f"{len(self.obs_low)} values, as many as env.obs_low"
            )
        if self.random_failures_per_1000 is not None:
            check_positive("env.random_failures_per_1000", self.random_failures_per_1000)
        for tier, steps in self.budget_tiers.items():
            check_positive(f"env.budget_tiers.{tier}", steps)
        for tier in self.gpu_tiers:
            if tier not in self.budget_tiers:
                raise ConfigError("env.gpu_tiers", tier, f"one of {sorted(self.budget_tiers)}")
        for i, (lo, hi) in enumerate(zip(self.obs_low, self.obs_high, strict=True)):
            if not hi > lo:
                raise ConfigError(f"env.obs_high[{i}]", hi, f"a value > env.obs_low[{i}]={lo}")


@dataclass
class TrainSection:
    """Schema of the ``train`` block."""

    env_steps: int = 1_280_000
    """Training budget: environment steps over all envs and candidates."""
    num_envs: int = 64
    """``B``: lifetimes (or envs) run in parallel."""
    log_every: int = 1000
    """Log a metrics record every this many steps of each env."""

    def __post_init__(self) -> None:
        check_positive("train.env_steps", self.env_steps)
        check_positive("train.num_envs", self.num_envs)
        check_positive("train.log_every", self.log_every)


@dataclass
class EvalSection:
    """Schema of the ``eval`` block (docs/PROTOCOL.md v1)."""

    lifetimes: int = 16
    """Fresh lifetimes for agents that learn within a lifetime."""
    horizons: list[int] = field(default_factory=list)
    """Long-horizon stability evaluation at the end of training: run each lifetime for
    k x lifetime_steps (k in this list) without resetting plastic state (``snnrl eval``)."""
    episodes: int = 10
    """Episodes for agents with frozen weights (deep agents), one per env, run in parallel."""
    deterministic: bool = True
    """Frozen-weight agents act by their deterministic policy (argmax / mean action); False:
    sampled from the policy, with the evaluation stream's seed."""
    enabled: bool = True

    def __post_init__(self) -> None:
        check_positive("eval.lifetimes", self.lifetimes)
        check_positive("eval.episodes", self.episodes)
        for k in self.horizons:
            if not (isinstance(k, int) and k >= 1):
                raise ConfigError("eval.horizons", self.horizons, "a list of integers >= 1")


@dataclass
class LoggerConfig:
    """Schema of ``conf/logger/*.yaml``."""

    name: str = "none"
    project: str = "snnrl"
    mode: str | None = None
    """W&B mode; ``None``: ``$WANDB_MODE`` if set, else ``offline``."""
    group: str | None = None
    tags: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.name not in ("none", "wandb"):
            raise ConfigError("logger.name", self.name, "'none' or 'wandb'")
        if self.mode not in (None, "online", "offline", "disabled"):
            raise ConfigError("logger.mode", self.mode, "online, offline or disabled")


@dataclass
class TrainConfig:
    """Schema of ``conf/train.yaml``: one training job."""

    agent: Any = MISSING
    env: EnvConfig = MISSING
    learner: Any = MISSING
    """Outer loop (``learner=none|es|bptt``; schemas in :mod:`snnrl.learners.config`)."""
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    train: TrainSection = field(default_factory=TrainSection)
    eval: EvalSection = field(default_factory=EvalSection)
    seed: int = 0
    device: str = "cpu"
    torch_threads: int = 1
    lifetime_steps: int = 20_000
    """Env steps a lifetime lasts (plastic state is reset only at a lifetime's start)."""
    progress: bool = True

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ConfigError("seed", self.seed, "an integer >= 0")
        resolve_device(self.device)
        check_positive("torch_threads", self.torch_threads)
        check_positive("lifetime_steps", self.lifetime_steps)


def register_schemas() -> None:
    """Register the schemas with Hydra's ConfigStore (idempotent)."""
    from snnrl.agents.registry import AGENT_SCHEMAS
    from snnrl.learners.config import LEARNER_SCHEMAS

    cs = ConfigStore.instance()
    for name, schema in LEARNER_SCHEMAS.items():
        cs.store(group="learner", name=f"{name}_schema", node=schema)
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(group="env", name="env_schema", node=EnvConfig)
    cs.store(group="logger", name="logger_schema", node=LoggerConfig)
    for name, schema in AGENT_SCHEMAS.items():
        cs.store(group="agent", name=f"{name}_schema", node=schema)


def _check_known_keys(node: DictConfig, prefix: str) -> None:
    """Raise :class:`ConfigError` for a key of a schema-typed node that its schema lacks."""
    import dataclasses

    schema = OmegaConf.get_type(node)
    names = ({f.name for f in dataclasses.fields(schema)}
             if isinstance(schema, type) and dataclasses.is_dataclass(schema) else None)
    for key in node.keys():
        where = f"{prefix}{key}"
        if names is not None and key not in names:
            raise ConfigError(where, node._get_node(key)._value(),  # type: ignore[union-attr]
                              f"a known key; {schema.__name__} has {', '.join(sorted(names))}")
        if OmegaConf.is_dict(child := node._get_node(key)):
            _check_known_keys(child, where + ".")  # type: ignore[arg-type]


def to_objects(cfg: DictConfig) -> TrainConfig:
    """Turn a composed config into schema objects, running every range check.

    A key that is not a field of its schema is refused here too: Hydra's ``+key=`` / ``++key=``
    add keys even to a schema-typed node, and ``OmegaConf.to_object`` would set them as stray
    attributes, so a misspelt ``++agent.lrr=0.1`` would otherwise be ignored silently.
    """
    _check_known_keys(cfg, "")
    obj = OmegaConf.to_object(cfg)
    assert isinstance(obj, TrainConfig)
    return obj
