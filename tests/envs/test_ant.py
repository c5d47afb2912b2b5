"""Ant-v5 through the adapter: same-step autoreset, fixed normalisation, long and crippled Ants."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from snnrl.envs import GymAdapter
from snnrl.envs.ant import (
    FACTORIES,
    LEGS,
    OBS_CLIP,
    OBS_DIM,
    OBS_HIGH,
    OBS_LOW,
    OBS_MEAN,
    OBS_STD,
    CrippledLeg,
    FixedObsNormalisation,
    make_ant,
    make_ant_crippled,
    make_ant_env,
    make_ant_long,
)


def _wrappers(env: gym.Env) -> list[type]:
    out = []
    while isinstance(env, gym.Wrapper):
        out.append(type(env))
        env = env.env
    return out


def _cripple_wrapper(env: gym.Env) -> CrippledLeg:
    while not isinstance(env, CrippledLeg):
        env = env.env
    return env


# --- the factory under the batched protocol ---------------------------------------------------


def test_rollout_matches_single_envs_reset_by_hand():
    """SAME_STEP rule: reward/done of the ended episode, new episode's first obs, final_obs."""
    n, seed = 2, 3
    envs = make_ant(num_envs=n, vectorization_mode="sync")
    assert isinstance(envs, GymAdapter) and envs.env_id == "Ant-v5"
    refs = [make_ant_env() for _ in range(n)]
    obs, _ = envs.reset(seed=seed)
    r_obs = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(refs)])
    assert obs.shape == (n, OBS_DIM) and obs.dtype == torch.float32
    np.testing.assert_allclose(obs.numpy(), r_obs.astype(np.float32))
    rng = np.random.default_rng(0)
    n_done = 0
    for _ in range(400):
        act = rng.uniform(-1, 1, (n, 8)).astype(np.float32)
        out = envs.step(torch.from_numpy(act))
        for i, e in enumerate(refs):
            o, r, te, tr, _ = e.step(act[i])
            np.testing.assert_allclose(out.info["final_obs"][i].numpy(), o.astype(np.float32))
            if te or tr:
                o, _ = e.reset()
            np.testing.assert_allclose(out.obs[i].numpy(), o.astype(np.float32))
            assert out.reward[i].item() == pytest.approx(r, rel=1e-6, abs=1e-6)
            assert bool(out.terminated[i]) == te and bool(out.truncated[i]) == tr
        assert out.obs.abs().max() <= OBS_CLIP
        assert out.info["final_obs"].abs().max() <= OBS_CLIP
        not_done = ~out.done
        assert torch.equal(out.info["final_obs"][not_done], out.obs[not_done])
        n_done += int(out.done.sum())
    assert n_done > 0  # random Ants fall within ~150 steps: autoresets were compared
    envs.close()
    for e in refs:
        e.close()


def test_async_vector_env_works_and_resets_lifetimes():
    envs = make_ant_crippled(num_envs=2, vectorization_mode="async", cripple_at=2, leg=1)
    assert isinstance(envs.venv, gym.vector.AsyncVectorEnv)
    envs.reset(seed=0)
    for _ in range(3):
        out = envs.step(torch.zeros(2, 8))
    assert out.obs.shape == (2, OBS_DIM)
    assert envs.venv.get_attr("lifetime_step") == (3, 3)
    envs.reset(seed=1)
    assert envs.venv.get_attr("lifetime_step") == (0, 0)
    envs.close()


def test_factories_take_the_registry_call():
    assert set(FACTORIES) >= {"ant", "ant_long", "ant_crippled"}
    for name, factory in FACTORIES.items():
        env = factory(num_envs=1, max_episode_steps=None, device="cpu",
                      vectorization_mode="sync")
        obs, _ = env.reset(seed=0)
        assert obs.shape == (1, OBS_DIM), name
        env.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"leg": 4}, "leg"),
        ({"leg": "left"}, "leg"),
        ({"leg": True}, "leg"),
        ({"cripple_at": -1}, "cripple_at"),
        ({"cripple_at": 1.5}, "cripple_at"),
        ({"intact_prob": 1.5}, "intact_prob"),
        ({"intact_prob": "often"}, "intact_prob"),
        ({"num_envs": 0}, "num_envs"),
        ({"vectorization_mode": "vector_entry_point"}, "vectorization_mode"),
        ({"max_episode_steps": 0}, "max_episode_steps"),
        ({"normalise": "yes"}, "normalise"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    args = {"num_envs": 1, "vectorization_mode": "sync", **kwargs}
    with pytest.raises(ValueError, match=match):
        make_ant_crippled(**args)


# --- normalisation ------------------------------------------------------------------------------


def test_normalisation_is_the_fixed_affine_map_clipped():
    raw_env, env = make_ant_env(normalise=False), make_ant_env()
    assert env.observation_space == gym.spaces.Box(-OBS_CLIP, OBS_CLIP, (OBS_DIM,), np.float64)
    assert len(OBS_LOW) == len(OBS_HIGH) == OBS_DIM
    assert all(lo == -OBS_CLIP and hi == OBS_CLIP for lo, hi in zip(OBS_LOW, OBS_HIGH,
                                                                    strict=True))
    mean, std = np.array(OBS_MEAN), np.array(OBS_STD)
    scale = np.where(std < 1e-6, 1.0, std)
    raw, _ = raw_env.reset(seed=5)
    obs, _ = env.reset(seed=5)
    rng = np.random.default_rng(1)
    for _ in range(50):
        np.testing.assert_allclose(obs, np.clip((raw - mean) / scale, -OBS_CLIP, OBS_CLIP))
        a = rng.uniform(-1, 1, 8).astype(np.float32)
        raw, *_ = raw_env.step(a)
        obs, *_ = env.step(a)


def test_normalised_random_rollouts_are_roughly_standard():
    """The stored statistics describe random-policy observations (regenerated if Ant changes)."""
    env = make_ant_env()
    env.action_space.seed(123)
    obs, _ = env.reset(seed=1000)
    seen = [obs]
    for _ in range(3000):
        obs, _, te, tr, _ = env.step(env.action_space.sample())
        seen.append(obs)
        if te or tr:
            obs, _ = env.reset()
            seen.append(obs)
    x = np.stack(seen)
    varying = np.array(OBS_STD) >= 1e-6
    assert np.all(np.abs(x) <= OBS_CLIP)
    assert np.median(np.abs(x[:, varying].mean(0))) < 0.2
    sd = x[:, varying].std(0)
    assert 0.6 < np.median(sd) < 1.4
    assert np.all(x[:, ~varying] == -np.array(OBS_MEAN)[~varying])  # constant dims: centred


def test_normalisation_rejects_bad_constants():
    env = gym.make("Ant-v5")
    with pytest.raises(ValueError, match="shape"):
        FixedObsNormalisation(env, mean=np.zeros(3), std=np.ones(3))
    with pytest.raises(ValueError, match="clip"):
        FixedObsNormalisation(env, clip=0.0)
    with pytest.raises(ValueError, match="std"):
        FixedObsNormalisation(env, std=-np.ones(OBS_DIM))


# --- time limit ---------------------------------------------------------------------------------


def test_long_variant_has_no_time_limit():
    assert gym.wrappers.TimeLimit in _wrappers(make_ant_env())
    long_env = make_ant_env(max_episode_steps=None)
    assert gym.wrappers.TimeLimit not in _wrappers(long_env)
    assert long_env.spec.max_episode_steps is None


@pytest.mark.parametrize(("factory", "limit"), [(make_ant, 1000), (make_ant_long, None)])
def test_standing_ant_is_truncated_only_with_a_limit(factory, limit):
    # zero torques: the Ant stands, healthy, for ever; only a time limit ends its episode
    env = factory(num_envs=1, vectorization_mode="sync")
    env.reset(seed=0)
    ends = []
    for t in range(1, 1101):
        out = env.step(torch.zeros(1, 8))
        assert not out.terminated.any()
        if out.truncated.any():
            ends.append(t)
    assert ends == ([] if limit is None else [limit])
    env.close()


# --- crippled leg -------------------------------------------------------------------------------


@pytest.mark.parametrize("leg", [0, 1, 2, 3])
def test_crippled_leg_zeroes_its_two_actuators_from_cripple_at(leg):
    env = make_ant_env(cripple={"cripple_at": 4, "leg": leg})
    data, model = env.unwrapped.data, env.unwrapped.model
    env.reset(seed=0)
    action = np.full(8, 0.5, dtype=np.float32)
    for t in range(8):
        env.step(action)
        assert np.all(action == 0.5)  # the caller's array is not modified
        ctrl = data.ctrl.copy()
        if t < 4:
            assert np.all(ctrl == 0.5)
        else:
            zero = np.flatnonzero(ctrl == 0.0)
            names = {model.joint(int(model.actuator_trnid[i, 0])).name for i in zero}
            assert names == set(LEGS[leg])
            assert np.all(np.delete(ctrl, zero) == 0.5)


def test_lifetime_counter_spans_episodes_and_restarts_at_a_lifetime_start():
    env = make_ant_env(max_episode_steps=3, cripple={"cripple_at": 5, "leg": 0})
    w = _cripple_wrapper(env)
    env.reset(seed=0)
    for t in range(7):
        out = env.step(np.ones(8, dtype=np.float32))
        assert out[4]["crippled"] == (t >= 5)
        if out[2] or out[3]:
            env.reset()  # an episode inside the lifetime
    assert w.lifetime_step == 7 and w.crippled
    env.reset()
    assert w.lifetime_step == 7
    env.reset(options={"lifetime_start": True})
    assert w.lifetime_step == 0 and not w.crippled
    for _ in range(3):
        env.step(np.ones(8, dtype=np.float32))
    env.reset(seed=4)  # a seeded reset is a lifetime start too
    assert w.lifetime_step == 0
    env.reset(seed=4, options={"lifetime_start": False})
    assert w.lifetime_step == 0


def test_adapter_reset_restarts_every_envs_lifetime_and_autoresets_do_not():
    envs = make_ant_crippled(num_envs=2, max_episode_steps=2, vectorization_mode="sync",
                             cripple_at=3, leg=2)
    envs.reset(seed=0)
    for _ in range(5):  # two truncations per env on the way
        out = envs.step(torch.zeros(2, 8))
    assert envs.venv.get_attr("lifetime_step") == (5, 5)
    assert envs.venv.get_attr("crippled") == (True, True)
    envs.reset(seed=7)
    assert envs.venv.get_attr("lifetime_step") == (0, 0)
    for _ in range(3):
        envs.step(torch.zeros(2, 8))
    assert envs.venv.get_attr("lifetime_step") == (3, 3)
    envs.reset()  # unseeded adapter resets are lifetime starts as well
    assert envs.venv.get_attr("lifetime_step") == (0, 0)
    assert out.obs.shape == (2, OBS_DIM)
    envs.close()


def test_random_leg_is_seeded_per_lifetime_and_leaves_the_ant_alone():
    env = make_ant_env(cripple={"cripple_at": 0, "leg": "random"})
    plain = make_ant_env()
    w = _cripple_wrapper(env)
    legs = []
    for s in range(24):
        obs, info = env.reset(seed=s)
        legs.append(w.crippled_leg)
        assert info["crippled_leg"] == w.crippled_leg
        np.testing.assert_array_equal(obs, plain.reset(seed=s)[0])  # MuJoCo's stream untouched
    assert set(legs) == {0, 1, 2, 3}
    again = []
    for s in range(24):
        env.reset(seed=s)
        again.append(w.crippled_leg)
    assert again == legs
    batch = make_ant_crippled(num_envs=4, vectorization_mode="sync", leg="random")
    batch.reset(seed=0)
    assert list(batch.venv.get_attr("crippled_leg")) == legs[:4]  # env i seeded with seed + i
    batch.close()


def test_crippling_draws_are_not_a_function_of_mujocos_reset_noise():
    # Gymnasium seeds MuJoCo's noise with PCG64(SeedSequence(seed)), the same stream as
    # np.random.default_rng(seed); a wrapper generator seeded that way makes "intact" equal to
    # "the torso's first noise draw is < 0.5", i.e. to the sign of the initial x offset.
    env = make_ant_env(cripple={"cripple_at": 0, "leg": "random", "intact_prob": 0.5})
    w = _cripple_wrapper(env)
    intact, left, same_stream, legs, same_legs = [], [], [], [], []
    for s in range(32):
        env.reset(seed=s)
        intact.append(w.crippled_leg == -1)
        left.append(bool(env.unwrapped.data.qpos[0] < env.unwrapped.init_qpos[0]))
        mujoco_like = np.random.default_rng(s)
        same_stream.append(bool(mujoco_like.random() < 0.5))
        legs.append(w.crippled_leg)
        same_legs.append(-1 if same_stream[-1] else int(mujoco_like.integers(len(LEGS))))
    assert 0 < sum(intact) < 32
    assert intact != left
    assert intact != same_stream
    assert legs != same_legs


@pytest.mark.parametrize(("p", "expect_intact"), [(1.0, True), (0.0, False)])
def test_intact_prob_extremes(p, expect_intact):
    env = make_ant_env(cripple={"cripple_at": 0, "leg": 1, "intact_prob": p})
    w = _cripple_wrapper(env)
    for s in range(5):
        env.reset(seed=s)
        assert (w.crippled_leg == -1) == expect_intact
        env.step(np.ones(8, dtype=np.float32))
        assert bool(np.all(env.unwrapped.data.ctrl == 1.0)) == expect_intact


def test_crippled_env_passes_gymnasium_checker():
    env = make_ant_env(cripple={"cripple_at": 2, "leg": "random"})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is different from the unwrapped version")
        check_env(env, skip_render_check=True)


def test_crippled_leg_refuses_an_env_without_ant_legs():
    with pytest.raises(ValueError, match="leg joints"):
        CrippledLeg(gym.make("InvertedPendulum-v5"))


# --- configs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "limit"), [("ant", 1000), ("ant_long", None),
                                             ("ant_crippled", 1000), ("ant_crippled_long", None)])
def test_env_configs_compose_and_build(name, limit, monkeypatch):
    from hydra import compose, initialize_config_dir

    from snnrl.cli.app import conf_dir
    from snnrl.config import register_schemas, to_objects
    from snnrl.envs import registry

    register_schemas()
    with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir())):
        cfg = to_objects(compose("train", overrides=[f"env={name}"])).env
    assert cfg.name == name and cfg.id == "Ant-v5" and cfg.backend == "factory"
    assert cfg.max_episode_steps == limit
    assert list(cfg.obs_low) == list(OBS_LOW) and list(cfg.obs_high) == list(OBS_HIGH)
    for key, factory in FACTORIES.items():
        monkeypatch.setitem(registry.ENV_FACTORIES, key, factory)
    cfg.kwargs = {**cfg.kwargs, "vectorization_mode": "sync"}
    env = registry.make_env(cfg, num_envs=2)
    assert env.env_id == "Ant-v5" and env.num_envs == 2
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2, OBS_DIM)
    if name.startswith("ant_crippled"):
        assert cfg.kwargs["cripple_at"] == 500 and cfg.kwargs["leg"] == "random"
        assert all(0 <= leg <= 3 for leg in env.venv.get_attr("crippled_leg"))
    limits = env.venv.get_attr("spec")
    assert all(s.max_episode_steps == limit for s in limits)
    env.close()
