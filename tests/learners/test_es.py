"""Evolution strategies over plastic agents: learning, exact resume, diverged candidates."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from snnrl.agents.base import EnvInfo
from snnrl.agents.plastic import PlasticAgent, PlasticAgentConfig
from snnrl.config import ConfigError
from snnrl.envs.cartpole import TorchCartPole
from snnrl.learners.config import ESConfig
from snnrl.learners.es import ESLearner, Generation, run_es, summarise_generation

CARTPOLE_LOW = (-2.4, -3.0, -0.21, -3.5)
CARTPOLE_HIGH = (2.4, 3.0, 0.21, 3.5)



def es_learner(
    cfg: ESConfig,
    envs_per_candidate: int,
    lifetime: int,
    seed: int = 0,
    theta0: torch.Tensor | None = None,
    **agent_kw: Any,
) -> ESLearner:
    env = TorchCartPole(cfg.popsize * envs_per_candidate)
    info = EnvInfo(
        env.single_observation_space, env.single_action_space, CARTPOLE_LOW, CARTPOLE_HIGH
    )
    kw: dict[str, Any] = {"name": "abcd_ann", "rule": "abcd", "neuron": "rate", "hidden": [8]}
    agent = PlasticAgent(PlasticAgentConfig(**(kw | agent_kw)), info)
    return ESLearner(cfg, agent, env, lifetime, envs_per_candidate, seed, theta0=theta0)


# ------------------------------------------------------------------------------- learning


def test_es_improves_cartpole_fitness_in_a_few_generations() -> None:
    # measured with these settings over seeds 0-29: every seed's mean fitness of the last two
    # generations beats the first two (ratio 1.1-10, median ~2); seed 0 goes from 11 to 66
    cfg = ESConfig(popsize=32, sigma=0.1, lr=0.1)
    learner = es_learner(cfg, 1, 200, seed=0, hidden=[16], init_gain=2.0)
    fits: list[float] = []
    run_es(learner, 8, None, lambda rec: fits.append(float(rec.fitness.mean())))
    assert len(fits) == 8 and learner.generation == 8
    first, last = (fits[0] + fits[1]) / 2, (fits[-1] + fits[-2]) / 2
    assert last > max(1.5 * first, first + 10), fits


def test_generation_record_and_summary() -> None:
    learner = es_learner(ESConfig(popsize=4), 2, 10)
    start = learner.center.clone()
    rec = learner.step()
    assert isinstance(rec, Generation) and rec.index == 0 and learner.generation == 1
    assert rec.fitness.shape == (4,) and rec.diverged == 0
    assert not torch.equal(learner.center, start), "the centre moved"
    m = summarise_generation(rec)
    assert m["es/generation"] == 1.0 and m["es/diverged"] == 0.0
    assert m["es/fitness_min"] <= m["es/fitness_mean"] <= m["es/fitness_max"]


def test_env_size_must_be_popsize_times_lifetimes() -> None:
    env = TorchCartPole(5)
    info = EnvInfo(
        env.single_observation_space, env.single_action_space, CARTPOLE_LOW, CARTPOLE_HIGH
    )
    agent = PlasticAgent(PlasticAgentConfig(name="abcd_ann", neuron="rate", hidden=[4]), info)
    with pytest.raises(ValueError, match="popsize × num_envs = 8"):
        ESLearner(ESConfig(popsize=4), agent, env, 10, 2, 0)


# --------------------------------------------------------------------------------- resume


@pytest.mark.parametrize("algorithm", ["openai_es", "pgpe"])
def test_resume_equals_uninterrupted_run(tmp_path: Path, algorithm: str) -> None:
    cfg = ESConfig(popsize=6, checkpoint_every=2, algorithm=algorithm, sigma=0.1, lr=0.1)
    kw: dict[str, Any] = {"meta_init": False, "hidden": [6]}  # per-lifetime w0 draws too

    full = es_learner(cfg, 2, 30, seed=3, **kw)
    run_es(full, 6, tmp_path / "full" / "learner_state.pt")

    crashed = es_learner(cfg, 2, 30, seed=3, **kw)
    run_es(crashed, 6, tmp_path / "learner_state.pt", stop_after=3)
    assert crashed.generation == 3
    saved = torch.load(tmp_path / "learner_state.pt", weights_only=True)
    assert saved["generation"] == 2, "checkpoints every 2 generations only"
    assert all(
        isinstance(x, torch.Tensor | int | float | str | bool | None) for x in saved["leaves"]
    )

    resumed = es_learner(cfg, 2, 30, seed=3, **kw)
    tree = resumed.load(tmp_path / "learner_state.pt")
    assert tree["generation"] == 2 and resumed.generation == 2
    run_es(resumed, 6, tmp_path / "learner_state.pt")
    assert resumed.generation == full.generation == 6
    assert torch.equal(resumed.center, full.center)
    assert not torch.equal(crashed.center, full.center), "it moved after generation 3"
    if algorithm == "pgpe":
        assert torch.equal(resumed.state.stdev, full.state.stdev)
        assert not torch.allclose(full.state.stdev, torch.full_like(full.state.stdev, 0.1))
    final = torch.load(tmp_path / "learner_state.pt", weights_only=True)
    assert final["generation"] == 6


def test_checkpoint_carries_extra_fields(tmp_path: Path) -> None:
    learner = es_learner(ESConfig(popsize=4, checkpoint_every=1), 1, 10)
    run_es(learner, 1, tmp_path / "s.pt", extra={"config_hash": "abc"})
    tree = torch.load(tmp_path / "s.pt", weights_only=True)
    assert tree["config_hash"] == "abc" and tree["generation"] == 1
    assert not list(tmp_path.glob(".*")), "no temporary file left behind"


# -------------------------------------------------------------------- diverged candidates


def test_candidate_with_non_finite_weights_gets_nan_fitness() -> None:
    learner = es_learner(ESConfig(popsize=4), 2, 20)
    pop = learner.center.expand(4, -1).clone()
    a, _ = learner.agent.net.layout.offsets["eta0"]
    pop[1, a] = math.nan
    pop[2, a] = math.inf  # inf * (A y x + B x + C y + D) at the start's A = .. = D = 0: NaN
    fit = learner.evaluate(pop, 0)
    assert fit.shape == (4,)
    assert torch.isnan(fit[1]) and torch.isnan(fit[2])
    assert torch.isfinite(fit[0]) and torch.isfinite(fit[3])


def _fixed_fitness(values: list[float]) -> Any:
    def evaluate(pop: torch.Tensor, g: int) -> torch.Tensor:
        return torch.tensor(values)

    return evaluate


def test_nan_candidate_is_ranked_worst(monkeypatch: pytest.MonkeyPatch) -> None:
    base = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0]

    def center_after(worst: float) -> torch.Tensor:
        learner = es_learner(ESConfig(popsize=6), 1, 10, seed=2)
        monkeypatch.setattr(learner, "evaluate", _fixed_fitness([*base[:4], worst, base[5]]))
        rec = learner.step()
        if math.isnan(worst):
            assert rec.diverged == 1 and torch.isnan(rec.fitness[4])
            assert summarise_generation(rec)["es/fitness_min"] == 1.0, "finite ones only"
        return learner.center.clone()

    nan = center_after(math.nan)
    assert torch.equal(nan, center_after(-1e9)), "NaN ranks as the worst candidate"
    assert not torch.equal(nan, center_after(1e9))


def test_all_candidates_diverged_raises() -> None:
    learner = es_learner(ESConfig(popsize=4), 1, 10)
    d = learner.agent.n_meta
    bad = es_learner(ESConfig(popsize=4), 1, 10, theta0=torch.full((d,), math.nan))
    with pytest.raises(FloatingPointError, match="every candidate diverged in generation 0"):
        bad.step()
    assert bad.generation == 0
    learner.step()  # the same set-up with a finite start is fine


# ------------------------------------------------------------------------------- configs


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"popsize": 5}, "learner.popsize"),
        ({"popsize": 0}, "learner.popsize"),
        ({"sigma": 0.0}, "learner.sigma"),
        ({"lr": -1.0}, "learner.lr"),
        ({"algorithm": "cma"}, "learner.algorithm"),
        ({"stdev_lr": -0.1}, "learner.stdev_lr"),
        ({"checkpoint_every": 0}, "learner.checkpoint_every"),
    ],
)
def test_bad_es_config_names_the_key(kw: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        ESConfig(**kw)
    assert err.value.key == key
