"""Random-physics cart-pole: physics drawn per env at a lifetime's start, kept through it."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import snnrl  # noqa: F401 - registers snnrl/CartPole-v1
from snnrl.envs import GymAdapter, TorchCartPole
from snnrl.envs.cartpole_random import (
    DEFAULT_RANGES,
    CartPoleRandomVectorEnv,
    TorchCartPoleRandom,
    register_cartpole_random,
)

PARAMS = ("length", "masspole", "masscart", "force_mag")
REFERENCE = {"length": 0.5, "masspole": 0.1, "masscart": 1.0, "force_mag": 10.0}
UNIT = {k: (1.0, 1.0) for k in DEFAULT_RANGES}


def _physics(env: TorchCartPole) -> dict[str, torch.Tensor]:
    return {k: getattr(env, k).clone() for k in PARAMS}


def _run(env, steps: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        yield env.step(torch.randint(0, 2, (env.num_envs,), generator=g))


def test_physics_differ_across_envs_and_stay_in_range():
    env = TorchCartPoleRandom(num_envs=64, force_range=(0.5, 2.0))
    env.reset(seed=0)
    for k in PARAMS:
        p = getattr(env, k)
        assert p.shape == (64,) and p.dtype == torch.float64
        assert len(torch.unique(p)) == 64, k
        assert bool(((p >= 0.5 * REFERENCE[k]) & (p <= 2.0 * REFERENCE[k])).all()), k
    assert torch.equal(env.gravity, torch.full((64,), 9.8, dtype=torch.float64))


def test_factors_are_log_uniform():
    env = TorchCartPoleRandom(num_envs=4000)
    env.reset(seed=1)
    log_f = torch.log(env.length / REFERENCE["length"]) / math.log(2.0)  # U(-1, 1)
    assert abs(float((log_f < 0).float().mean()) - 0.5) < 0.05  # median factor 1
    assert abs(float((log_f.abs() < 0.5).float().mean()) - 0.5) < 0.05


def test_physics_redrawn_at_every_lifetime_start_and_reproducible():
    env = TorchCartPoleRandom(num_envs=8)
    env.reset(seed=0)
    first = _physics(env)
    env.reset(seed=1)
    second = _physics(env)
    env.reset()  # unseeded: continues the physics stream, still new physics
    third = _physics(env)
    for k in PARAMS[:3]:
        assert not torch.equal(first[k], second[k])
        assert not torch.equal(second[k], third[k])
    other = TorchCartPoleRandom(num_envs=8)
    other.reset(seed=0)
    for k in PARAMS:
        assert torch.equal(_physics(other)[k], first[k])


def test_physics_kept_through_autoresets_inside_a_lifetime():
    env = TorchCartPoleRandom(num_envs=16)
    env.reset(seed=3)
    before = _physics(env)
    n_done = 0
    for out in _run(env, 300):
        n_done += int(out.done.sum())
    assert n_done > 16  # many episodes ended and restarted inside the lifetime
    for k in PARAMS:
        assert torch.equal(getattr(env, k), before[k])


def test_derived_constants_follow_the_drawn_physics():
    env = TorchCartPoleRandom(num_envs=5)
    env.reset(seed=2)
    torch.testing.assert_close(env.total_mass, env.masspole + env.masscart, rtol=0, atol=0)
    torch.testing.assert_close(env.polemass_length, env.masspole * env.length, rtol=0, atol=0)
    assert not torch.allclose(env.total_mass, torch.full((5,), 1.1, dtype=torch.float64))


def test_each_env_steps_like_a_torch_cartpole_with_its_physics():
    """Parity per env: a plain TorchCartPole given env b's drawn physics steps the same."""
    n = 4
    env = TorchCartPoleRandom(num_envs=n, autoreset=False, max_episode_steps=None)
    env.reset(seed=5)
    ref = TorchCartPole(num_envs=n, autoreset=False, max_episode_steps=None)
    ref.reset(seed=5)
    for k in PARAMS:
        setattr(ref, k, getattr(env, k).clone())
    assert torch.equal(env.state, ref.state)
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        a = torch.randint(0, 2, (n,), generator=g)
        x, y = env.step(a), ref.step(a)
        assert torch.equal(x.obs, y.obs) and torch.equal(x.terminated, y.terminated)
    # and the physics matter: the default cart-pole diverges from it
    plain = TorchCartPole(num_envs=n, autoreset=False, max_episode_steps=None)
    plain.reset(seed=5)
    g = torch.Generator().manual_seed(0)
    env.reset(seed=5)
    a = torch.randint(0, 2, (n,), generator=g)
    assert not torch.equal(env.step(a).obs, plain.step(a).obs)


def test_unit_ranges_equal_torch_cartpole_step_for_step():
    n, seed = 6, 11
    env = TorchCartPoleRandom(num_envs=n, **UNIT)
    ref = TorchCartPole(num_envs=n)
    o1, _ = env.reset(seed=seed)
    o2, _ = ref.reset(seed=seed)
    assert torch.equal(o1, o2)
    for k in PARAMS:
        assert torch.equal(getattr(env, k), getattr(ref, k)), k
    n_done = 0
    for a, b in zip(_run(env, 400), _run(ref, 400), strict=True):
        assert torch.equal(a.obs, b.obs)
        assert torch.equal(a.reward, b.reward)
        assert torch.equal(a.terminated, b.terminated)
        assert torch.equal(a.truncated, b.truncated)
        assert torch.equal(a.info["final_obs"], b.info["final_obs"])
        n_done += int(b.done.sum())
    assert n_done > 0


def test_two_envs_same_seed_same_lifetime():
    a, b = TorchCartPoleRandom(num_envs=3), TorchCartPoleRandom(num_envs=3)
    a.reset(seed=9)
    b.reset(seed=9)
    for x, y in zip(_run(a, 100), _run(b, 100), strict=True):
        assert torch.equal(x.obs, y.obs) and torch.equal(x.done, y.done)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"length_range": (0.0, 1.0)},
        {"masspole_range": (2.0, 1.0)},
        {"masscart_range": (-1.0, 2.0)},
        {"force_range": (1.0,)},
        {"length_range": "ab"},
        {"length_range": (1.0, float("inf"))},
    ],
)
def test_bad_ranges_raise_value_error(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        TorchCartPoleRandom(num_envs=2, **kwargs)


def test_ranges_accept_any_sequence():
    env = TorchCartPoleRandom(num_envs=2, length_range=[1, 1], masspole_range=np.array([2, 2]))
    env.reset(seed=0)
    assert torch.equal(env.length, torch.full((2,), 0.5, dtype=torch.float64))
    assert torch.equal(env.masspole, torch.full((2,), 0.2, dtype=torch.float64))


# --- Gymnasium faces ----------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*Box observation space.*infinity")
def test_gymnasium_checker_passes():
    register_cartpole_random()
    register_cartpole_random()  # idempotent
    check_env(gym.make("snnrl/CartPoleRandom-v1").unwrapped, skip_render_check=True)


def test_single_env_redraws_at_every_reset():
    register_cartpole_random()
    env = gym.make("snnrl/CartPoleRandom-v1")
    assert env.spec.max_episode_steps == 500
    _, i1 = env.reset(seed=0)
    _, i2 = env.reset()
    _, i3 = env.reset(seed=0)
    assert i1 != i2 and i1 == i3
    assert 0.25 <= i1["length"] <= 1.0


def test_vector_env_redraws_at_reset_only_and_matches_native():
    register_cartpole_random()
    n = 4
    venv = gym.make_vec("snnrl/CartPoleRandom-v1", num_envs=n,
                        vectorization_mode="vector_entry_point")
    assert isinstance(venv, CartPoleRandomVectorEnv)
    adapter = GymAdapter(venv)
    native = TorchCartPoleRandom(num_envs=n)
    a_obs, _ = adapter.reset(seed=2)
    n_obs, _ = native.reset(seed=2)
    assert torch.equal(a_obs, n_obs)
    drawn = _physics(venv._env)
    n_done = 0
    for x, y in zip(_run(adapter, 200), _run(native, 200), strict=True):
        assert torch.equal(x.obs, y.obs)
        assert torch.equal(x.info["final_obs"], y.info["final_obs"])
        assert torch.equal(x.done, y.done)
        n_done += int(y.done.sum())
    assert n_done > 0
    for k in PARAMS:
        assert torch.equal(getattr(venv._env, k), drawn[k])
    adapter.reset(seed=3)
    assert not torch.equal(venv._env.length, drawn["length"])
    adapter.close()


# --- configs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "env_id", "cls", "limit"), [
    ("cartpole_random", "snnrl/CartPoleRandom-v1", TorchCartPoleRandom, 500),
    ("cartpole_long", "snnrl/CartPole-v1", TorchCartPole, None),
])
def test_env_configs_compose_and_build(name, env_id, cls, limit, monkeypatch):
    from hydra import compose, initialize_config_dir

    from snnrl.cli.app import conf_dir
    from snnrl.config import register_schemas, to_objects
    from snnrl.envs import registry

    register_schemas()
    with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir())):
        cfg = to_objects(compose("train", overrides=[f"env={name}"])).env
    assert cfg.name == name and cfg.id == env_id and cfg.backend == "native"
    assert cfg.max_episode_steps == limit
    monkeypatch.setitem(registry.NATIVE_ENVS, "snnrl/CartPoleRandom-v1", TorchCartPoleRandom)
    env = registry.make_env(cfg, num_envs=3)
    assert type(env) is cls and env.max_episode_steps == limit
    env.reset(seed=0)
    if cls is TorchCartPoleRandom:
        kwargs = dict(cfg.kwargs)
        assert kwargs.pop("force_flip_prob") == 0.0
        assert {k: tuple(v) for k, v in kwargs.items()} == DEFAULT_RANGES
        assert len(torch.unique(env.length)) == 3


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_force_flip_prob_reverses_the_push_per_lifetime(p):
    env = TorchCartPoleRandom(num_envs=200, force_flip_prob=p)
    env.reset(seed=0)
    flipped = env.force_mag < 0
    assert env.force_mag.abs().eq(10.0).all()
    frac = float(flipped.float().mean())
    assert frac == p if p in (0.0, 1.0) else 0.35 < frac < 0.65
    before = env.force_mag.clone()
    for _ in _run(env, 50):
        pass
    assert torch.equal(env.force_mag, before)  # a lifetime keeps its direction


def test_flipped_push_moves_the_cart_the_other_way():
    env = TorchCartPoleRandom(num_envs=2, force_flip_prob=0.5, **UNIT)
    env.reset(seed=0)
    env.force_mag = torch.tensor([10.0, -10.0], dtype=torch.float64)
    env.state = torch.zeros(2, 4, dtype=torch.float64)
    out = env.step(torch.ones(2, dtype=torch.long))
    assert out.obs[0, 1] > 0 and out.obs[1, 1] < 0


def test_force_flip_prob_out_of_range():
    with pytest.raises(ValueError, match="force_flip_prob"):
        TorchCartPoleRandom(num_envs=2, force_flip_prob=1.5)
