r"""Evolution strategies over a plastic agent's meta-parameters, through evotorch.

OpenAI-ES (Salimans et al. 2017, arXiv 1703.03864) as used by Schmidgall & Hays (2021) and
Miconi (2023): antithetic Gaussian perturbations :math:`\theta \pm \sigma\epsilon`, centred
ranks of the fitnesses, and Adam on the search centre with the estimated gradient

.. math::
    g = \frac{1}{n\sigma} \sum_i \mathrm{rank}(F_i^+) - \mathrm{rank}(F_i^-)\, \epsilon_i .

``algorithm=pgpe`` also adapts a per-parameter :math:`\sigma` (Sehnke et al. 2010, Neural
Networks 23). Both come from evotorch's functional API (``pgpe`` / ``pgpe_ask`` /
``pgpe_tell``), whose state is a tuple of tensors: that is what makes exact resume possible.
We do not use evotorch's ``Problem``/``SearchAlgorithm`` objects: a generation here is *one*
batched rollout of every candidate × lifetime (``B = popsize × num_envs``) on a native torch
env, which is simpler to drive directly than through a vectorised ``Problem``; Ray-distributed
evaluation (evotorch's other strength) is not needed at this size.

Determinism and resume: generation ``g`` samples its perturbations, initial weights and env
seeds from streams derived from ``(seed, g)`` only, so the state after generation ``g`` is a
function of the state after ``g - 1``: a run resumed from a checkpoint reproduces the
uninterrupted run exactly (tested).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from snnrl.agents.plastic import PlasticAgent
from snnrl.envs.protocol import BatchedEnv
from snnrl.learners.checkpoint import LearnerCheckpoint
from snnrl.learners.config import ESConfig
from snnrl.learners.fitness import lifetime_fitness
from snnrl.seeding import derive_seed


def _import_evotorch() -> None:
    """Import evotorch without its import-time warning.

    At import evotorch warns that "the logger is already configured" whenever Hydra has set up
    logging, which is every ``snnrl train`` job.
    """
    import logging

    lg = logging.getLogger("evotorch")
    level = lg.level
    lg.setLevel(logging.ERROR)
    try:
        import evotorch.algorithms.functional  # noqa: F401
    finally:
        lg.setLevel(level)


def _leaves(x: Any) -> list[Any]:
    if isinstance(x, tuple):
        return [leaf for item in x for leaf in _leaves(item)]
    return [x]


def _rebuild(template: Any, leaves: list[Any]) -> Any:
    """Fill ``template``'s (named) tuple structure with ``leaves`` in order."""
    it = iter(leaves)

    def go(t: Any) -> Any:
        if isinstance(t, tuple):
            items = [go(i) for i in t]
            return type(t)(*items) if hasattr(t, "_fields") else tuple(items)
        return next(it)

    return go(template)


@dataclass
class Generation:
    """What one generation reports."""

    index: int
    fitness: Tensor  # [popsize], NaN → worst
    diverged: int
    seconds: float


class ESLearner(LearnerCheckpoint):
    """OpenAI-ES / PGPE over ``agent``'s meta-parameters, one batched rollout per generation."""

    def __init__(
        self,
        cfg: ESConfig,
        agent: PlasticAgent,
        env: BatchedEnv,
        lifetime_steps: int,
        envs_per_candidate: int,
        seed: int,
        theta0: Tensor | None = None,
    ) -> None:
        _import_evotorch()
        from evotorch.algorithms.functional import pgpe

        if env.num_envs != cfg.popsize * envs_per_candidate:
            raise ValueError(f"env has {env.num_envs} envs; expected popsize × num_envs = "
                             f"{cfg.popsize * envs_per_candidate}")
        self.cfg, self.agent, self.env = cfg, agent, env
        self.lifetime_steps, self.e, self.seed = lifetime_steps, envs_per_candidate, seed
        device = agent.device
        if theta0 is None:
            gen = torch.Generator(device=device).manual_seed(derive_seed(seed, "es/init"))
            theta0 = agent.net.layout.init(gen, device)
        self.state = pgpe(
            center_init=theta0,
            center_learning_rate=cfg.lr,
            stdev_learning_rate=0.0 if cfg.algorithm == "openai_es" else cfg.stdev_lr,
            objective_sense="max",
            ranking_method="centered",
            optimizer="adam",
            stdev_init=cfg.sigma,
            stdev_max_change=0.2,
            symmetric=True,
        )
        self.generation = 0

    @property
    def center(self) -> Tensor:
        """The search centre: the meta-parameters the run reports."""
        return self.state.optimizer_state.center

    def step(self) -> Generation:
        """Run one generation: sample, evaluate every candidate × lifetime, update."""
        from evotorch.algorithms.functional import pgpe_ask, pgpe_tell

        g = self.generation
        t0 = time.perf_counter()
        with torch.random.fork_rng(devices=[self.agent.device] if self.agent.device.type
                                   == "cuda" else []):
            torch.manual_seed(derive_seed(self.seed, "es/ask", g))
            pop = pgpe_ask(self.state, popsize=self.cfg.popsize)
        fit = self.evaluate(pop, g)
        bad = ~torch.isfinite(fit)
        if bool(bad.all()):
            raise FloatingPointError(f"every candidate diverged in generation {g}")
        ranked = torch.where(bad, fit[~bad].min() - 1.0, fit)
        self.state = pgpe_tell(self.state, pop, ranked)
        self.generation += 1
        return Generation(g, fit, int(bad.sum()), time.perf_counter() - t0)

    def evaluate(self, pop: Tensor, g: int) -> Tensor:
        """Fitness ``[P]`` of candidates ``pop [P, D]``: the mean over their lifetimes.

        NaN where any lifetime's weights became non-finite.
        """
        agent = self.agent
        agent.set_theta(pop)
        dev = agent.device
        gen = torch.Generator(device=dev).manual_seed(derive_seed(self.seed, "es/agent", g))
        with torch.no_grad():
            f = lifetime_fitness(agent, self.env, self.lifetime_steps, gen,
                                 env_seed=derive_seed(self.seed, "es/env", g))
        f = f.reshape(pop.shape[0], self.e).mean(dim=1)
        return f.float()

    # ------------------------------------------------------------------ checkpoints
    def state_tree(self) -> dict[str, Any]:
        """Everything needed to resume: tensors and plain values only (weights_only-safe)."""
        return {"generation": self.generation,
                "leaves": [x.detach().cpu() if isinstance(x, Tensor) else x
                           for x in _leaves(self.state) if not callable(x)]}

    def load_state_tree(self, tree: dict[str, Any]) -> None:
        """Restore :meth:`state_tree` (same config, same structure)."""
        template = self.state
        dev = self.agent.device
        saved = iter(tree["leaves"])
        leaves = [x if callable(x) else next(saved) for x in _leaves(template)]
        leaves = [x.to(dev) if isinstance(x, Tensor) else x for x in leaves]
        self.state = _rebuild(template, leaves)
        self.generation = int(tree["generation"])


def run_es(
    learner: ESLearner,
    generations: int,
    checkpoint: Path | None,
    on_generation: Callable[[Generation], None] | None = None,
    stop_after: int | None = None,
    extra: dict[str, Any] | None = None,
) -> ESLearner:
    """Run generations up to ``generations`` (from wherever the learner stands).

    Checkpoints every ``cfg.checkpoint_every`` generations and at the end. ``stop_after``
    simulates a crash after that many generations (tests). ``extra`` is stored beside the
    learner state (the run's config hash).
    """
    every = learner.cfg.checkpoint_every
    while learner.generation < generations:
        rec = learner.step()
        if on_generation is not None:
            on_generation(rec)
        if checkpoint is not None and (learner.generation % every == 0
                                       or learner.generation == generations):
            learner.save(checkpoint, extra)
        if stop_after is not None and learner.generation >= stop_after:
            break
    return learner


def summarise_generation(rec: Generation) -> dict[str, float]:
    """Metrics of one generation (finite candidates only)."""
    f = rec.fitness[torch.isfinite(rec.fitness)]
    return {
        "es/generation": float(rec.index + 1),
        "es/fitness_mean": float(f.mean()) if f.numel() else math.nan,
        "es/fitness_max": float(f.max()) if f.numel() else math.nan,
        "es/fitness_min": float(f.min()) if f.numel() else math.nan,
        "es/diverged": float(rec.diverged),
        "perf/generation_s": rec.seconds,
    }
