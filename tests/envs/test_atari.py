"""Atari tiers: MinAtar and ALE factories under snnrl's batched, same-step-autoreset protocol."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from snnrl.envs import GymAdapter
from snnrl.envs.atari import FACTORIES, MINATAR_GAMES, AtariAdapter, make_ale, make_minatar

MINATAR_CHANNELS = {"breakout": 4, "space_invaders": 6, "freeway": 7, "asterix": 4, "seaquest": 10}
MINATAR_ACTIONS = {"breakout": 3, "space_invaders": 4, "freeway": 3, "asterix": 5, "seaquest": 6}


def _minatar_reference(game: str):
    """A plain single MinAtar env from the package's own registration (observations HWC bool)."""
    import minatar.gym

    if "MinAtar/Breakout-v1" not in gym.registry:
        minatar.gym.register_envs()
    return gym.make(f"MinAtar/{MINATAR_GAMES[game]}-v1")


def _ale_reference(game: str, max_frames: int = 0):
    """Gymnasium's standard pipeline written out by hand: v5 env, grey 84x84, 4-frame stack."""
    import ale_py

    gym.register_envs(ale_py)
    env = gym.make(f"ALE/{game.title()}-v5", max_num_frames_per_episode=max_frames)
    env = gym.wrappers.AtariPreprocessing(
        env, noop_max=0, frame_skip=1, screen_size=84, terminal_on_life_loss=False
    )
    return gym.wrappers.FrameStackObservation(env, 4, padding_type="zero")


class _HandReset:
    """``n`` single envs seeded ``seed + i`` and reset by hand when done: SAME_STEP written out."""

    def __init__(self, envs, seed: int, to_obs=np.asarray) -> None:
        self.envs, self.to_obs = envs, to_obs
        self.obs = np.stack([to_obs(e.reset(seed=seed + i)[0]) for i, e in enumerate(envs)])

    def step(self, actions: np.ndarray):
        obs, final, rew, term, trunc = [], [], [], [], []
        for env, a in zip(self.envs, actions, strict=True):
            o, r, te, tr, _ = env.step(int(a))
            final.append(self.to_obs(o))
            if te or tr:
                o, _ = env.reset()
            obs.append(self.to_obs(o))
            rew.append(r)
            term.append(te)
            trunc.append(tr)
        return np.stack(obs), np.stack(final), np.array(rew), np.array(term), np.array(trunc)

    def close(self) -> None:
        for e in self.envs:
            e.close()


def _compare(adapter, ref: _HandReset, seed: int, steps: int, n_actions: int) -> tuple[int, int]:
    """Step both with the same actions; every field must agree. Returns (#done, #rewarded)."""
    obs, _ = adapter.reset(seed=seed)
    np.testing.assert_array_equal(obs.numpy(), ref.obs)
    rng = np.random.default_rng(seed)
    n_done = n_rew = 0
    for _ in range(steps):
        actions = rng.integers(0, n_actions, adapter.num_envs)
        out = adapter.step(torch.from_numpy(actions))
        r_obs, r_final, r_rew, r_term, r_trunc = ref.step(actions)
        np.testing.assert_array_equal(out.obs.numpy(), r_obs)
        np.testing.assert_array_equal(out.info["final_obs"].numpy(), r_final)
        np.testing.assert_array_equal(out.reward.numpy(), r_rew.astype(np.float32))
        np.testing.assert_array_equal(out.terminated.numpy(), r_term)
        np.testing.assert_array_equal(out.truncated.numpy(), r_trunc)
        n_done += int(out.done.sum())
        n_rew += int((out.reward != 0).sum())
    return n_done, n_rew


def _unwrap_to(env: gym.Env, cls: type) -> gym.Env:
    while not isinstance(env, cls):
        env = env.env  # type: ignore[attr-defined]
    return env


# ---------------------------------------------------------------------------------------------
# MinAtar
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("game", sorted(MINATAR_GAMES))
def test_minatar_game_resets_and_steps_through_factory(game):
    env = FACTORIES[f"minatar_{game}"](num_envs=2, max_episode_steps=None, device="cpu")
    assert isinstance(env, AtariAdapter) and isinstance(env, GymAdapter)
    assert env.mode == AutoresetMode.SAME_STEP
    assert env.env_id == f"MinAtar/{MINATAR_GAMES[game]}-v1"
    c = MINATAR_CHANNELS[game]
    assert env.single_observation_space.shape == (c, 10, 10)
    assert env.single_action_space.n == MINATAR_ACTIONS[game]
    obs, _ = env.reset(seed=3)
    assert obs.shape == (2, c, 10, 10) and obs.dtype == torch.float32
    # parity with the package's own env: the same state, channels first
    for i in range(2):
        ref = _minatar_reference(game)
        r_obs, _ = ref.reset(seed=3 + i)
        np.testing.assert_array_equal(obs[i].numpy(), np.moveaxis(r_obs, -1, 0).astype(np.float32))
        ref.close()
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        out = env.step(torch.randint(0, MINATAR_ACTIONS[game], (2,), generator=g))
        assert out.obs.shape == (2, c, 10, 10) and out.obs.dtype == torch.float32
        assert set(out.obs.unique().tolist()) <= {0.0, 1.0}
        assert out.reward.shape == (2,) and out.reward.dtype == torch.float32
        assert out.terminated.dtype == torch.bool and out.truncated.dtype == torch.bool
        assert out.info["final_obs"].shape == (2, c, 10, 10)
    env.close()


def test_minatar_same_step_autoreset_matches_hand_reset_reference():
    n, seed = 3, 11
    env = make_minatar("breakout", num_envs=n)
    ref = _HandReset(
        [_minatar_reference("breakout") for _ in range(n)],
        seed,
        to_obs=lambda o: np.moveaxis(o, -1, 0).astype(np.float32),
    )
    n_done, n_rew = _compare(env, ref, seed, steps=60, n_actions=3)
    assert n_done >= n  # random Breakout ends every ~10 steps: autoresets were compared
    assert n_rew > 0
    ref.close()
    env.close()


def test_minatar_done_mask_lines_up_with_final_obs_and_new_episode():
    env = make_minatar("breakout", num_envs=4)
    env.reset(seed=5)
    g = torch.Generator().manual_seed(1)
    seen = 0
    for _ in range(40):
        out = env.step(torch.randint(0, 3, (4,), generator=g))
        done = out.done
        assert torch.equal(out.info["final_obs"][~done], out.obs[~done])
        for i in torch.nonzero(done).flatten().tolist():
            seen += 1
            final, new = out.info["final_obs"][i], out.obs[i]
            # the ended episode lost the ball; the new one starts with a full brick wall (ch 3)
            assert not torch.equal(final, new)
            assert new[3, 1:4].sum() == 30
            assert final[0].sum() == 1  # the ball is still on screen in the final frame
    assert seen > 0
    env.close()


def test_minatar_seeded_determinism():
    def run(seed: int) -> list[torch.Tensor]:
        env = make_minatar("space_invaders", num_envs=2)
        obs, _ = env.reset(seed=seed)
        g = torch.Generator().manual_seed(7)
        frames = [obs]
        for _ in range(30):
            frames.append(env.step(torch.randint(0, 4, (2,), generator=g)).obs)
        env.close()
        return frames

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_minatar_seeded_reset_restarts_the_sticky_action_memory():
    # MinAtar's Environment.last_action survives reset(seed): without clearing it, a lifetime's
    # first sticky repeats would replay the previous lifetime's last action.
    n = 8
    env = make_minatar("breakout", num_envs=n, sticky_action_prob=0.5)
    actions = torch.randint(0, 3, (25, n), generator=torch.Generator().manual_seed(0))

    def lifetime() -> list[torch.Tensor]:
        obs, _ = env.reset(seed=3)
        frames = [obs]
        for a in actions:
            out = env.step(a)
            frames += [out.obs, out.reward, out.done, out.info["final_obs"]]
        return frames

    first = lifetime()
    second = lifetime()  # the last actions of `first` are mostly non-zero
    assert all(torch.equal(x, y) for x, y in zip(first, second, strict=True))
    env.close()


def test_minatar_time_limit_and_long_variant():
    env = make_minatar("freeway", num_envs=2, max_episode_steps=3)
    env.reset(seed=0)
    flags = [env.step(torch.zeros(2, dtype=torch.long)).truncated.tolist() for _ in range(4)]
    assert flags == [[False, False], [False, False], [True, True], [False, False]]
    env.close()
    # long variant: no truncation; Freeway's own 2500-frame game clock still *terminates*
    env = FACTORIES["minatar_freeway_long"](num_envs=2, max_episode_steps=None, device="cpu")
    env.reset(seed=0)
    steps = 0
    while True:
        out = env.step(torch.ones(2, dtype=torch.long))
        steps += 1
        assert not out.truncated.any() and steps <= 2501
        if out.done.any():
            break
    assert steps == 2501 and out.terminated.all()
    env.close()


def test_minatar_options_and_bad_arguments():
    env = make_minatar("asterix", num_envs=1, minimal_action_set=False, sticky_action_prob=0.0)
    assert env.env_id == "MinAtar/Asterix-v0" and env.single_action_space.n == 6
    assert env.settings["sticky_action_prob"] == 0.0
    env.close()
    with pytest.raises(ValueError, match="game"):
        make_minatar("pong")
    with pytest.raises(ValueError, match="num_envs"):
        make_minatar("breakout", num_envs=0)
    with pytest.raises(ValueError, match="max_episode_steps"):
        make_minatar("breakout", max_episode_steps=0)
    with pytest.raises(ValueError, match="vectorization_mode"):
        make_minatar("breakout", vectorization_mode="native")
    with pytest.raises(ValueError, match="sticky_action_prob"):
        make_minatar("breakout", sticky_action_prob=1.5)


# ---------------------------------------------------------------------------------------------
# ALE
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "n_actions"), [("pong", 6), ("breakout", 4)])
def test_ale_rollout_through_factory(name, n_actions):
    env = FACTORIES[name](num_envs=2, max_episode_steps=27_000, device="cpu")
    assert env.env_id == f"ALE/{name.title()}-v5"
    assert env.mode == AutoresetMode.SAME_STEP
    assert env.single_action_space.n == n_actions
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2, 4, 84, 84) and obs.dtype == torch.uint8
    assert (obs[:, :3] == 0).all() and (obs[:, 3] > 0).any()  # zero-padded first stack
    g = torch.Generator().manual_seed(0)
    for _ in range(6):
        out = env.step(torch.randint(0, n_actions, (2,), generator=g))
        assert out.obs.shape == (2, 4, 84, 84) and out.obs.dtype == torch.uint8
        assert out.info["final_obs"].shape == (2, 4, 84, 84)
        assert out.reward.dtype == torch.float32
    # the stack shifts by one frame per step: what was newest is now one older
    prev = out.obs
    out = env.step(torch.zeros(2, dtype=torch.long))
    assert torch.equal(out.obs[:, :3], prev[:, 1:])
    env.close()


@pytest.mark.parametrize("max_pool", [False, True])
def test_ale_machado_protocol_settings(max_pool):
    env = make_ale("breakout", num_envs=2, max_episode_steps=None, max_pool=max_pool)
    for sub in env.venv.envs:
        ale_env = sub.unwrapped
        pre = _unwrap_to(sub, gym.wrappers.AtariPreprocessing)
        assert ale_env.ale.getFloat("repeat_action_probability") == pytest.approx(0.25)
        assert ale_env.spec.id == "ALE/Breakout-v5"
        # 4 emulator frames per agent step, skipped exactly once (env or wrapper, not both)
        env_skip, wrapper_skip = ale_env._frameskip, pre.frame_skip
        assert env_skip * wrapper_skip == 4
        assert (env_skip, wrapper_skip) == ((1, 4) if max_pool else (4, 1))
        assert ale_env.spec.kwargs["frameskip"] == env_skip
        assert pre.noop_max == 0 and pre.terminal_on_life_loss is False
        assert tuple(pre.screen_size) == (84, 84) and pre.grayscale_obs
        assert ale_env.ale.getInt("max_num_frames_per_episode") == 0  # long: no frame cap
        assert ale_env.spec.kwargs["full_action_space"] is False
    s = env.settings
    assert s["repeat_action_probability"] == 0.25 and s["frames_per_step"] == 4
    assert s["noop_max"] == 0 and s["terminal_on_life_loss"] is False
    env.close()
    env = make_ale("breakout", num_envs=1, max_episode_steps=100)
    assert env.venv.envs[0].unwrapped.ale.getInt("max_num_frames_per_episode") == 400
    env.close()


def test_ale_same_step_autoreset_matches_hand_reset_reference():
    n, seed = 2, 4
    env = make_ale("breakout", num_envs=n)
    ref = _HandReset([_ale_reference("breakout") for _ in range(n)], seed)
    n_done, n_rew = _compare(env, ref, seed, steps=320, n_actions=4)
    assert n_done >= 2 and n_rew > 0  # game overs and bricks happened, and lined up
    ref.close()
    env.close()


@pytest.mark.parametrize("mode", ["sync", "native"])
def test_ale_truncation_and_lifetime_reset(mode):
    env = make_ale("pong", num_envs=2, max_episode_steps=5, vectorization_mode=mode)
    first, _ = env.reset(seed=9)
    actions = torch.tensor([[2, 3], [0, 1], [4, 5], [1, 1], [2, 0], [3, 3], [0, 0]])
    run = []
    for t, a in enumerate(actions, start=1):
        out = env.step(a)
        run.append(out.obs)
        assert out.truncated.tolist() == [t == 5] * 2
        assert not out.terminated.any()
        if t == 5:  # the new episode's first stack; the ended one's last in final_obs
            assert (out.obs[:, :3] == 0).all()
            assert (out.info["final_obs"][:, :3] > 0).any(dim=(1, 2, 3)).all()
    # a lifetime reset with the same seed restarts every env: same start, same trajectory
    again, _ = env.reset(seed=9)
    assert torch.equal(again, first)
    for a, obs in zip(actions, run, strict=True):
        assert torch.equal(env.step(a).obs, obs)
    env.close()


@pytest.mark.parametrize("max_pool", [False, True])
def test_ale_native_vector_env_matches_gymnasium_pipeline(max_pool):
    # without sticky actions both paths are deterministic, so they must agree pixel for pixel
    kw = {
        "num_envs": 2,
        "max_episode_steps": 30,
        "repeat_action_probability": 0.0,
        "max_pool": max_pool,
    }
    native = make_ale("pong", vectorization_mode="native", **kw)
    sync = make_ale("pong", vectorization_mode="sync", **kw)
    a, _ = native.reset(seed=1)
    b, _ = sync.reset(seed=1)
    assert torch.equal(a, b)
    g = torch.Generator().manual_seed(2)
    for _ in range(40):
        act = torch.randint(0, 6, (2,), generator=g)
        x, y = native.step(act), sync.step(act)
        assert torch.equal(x.obs, y.obs)
        assert torch.equal(x.info["final_obs"], y.info["final_obs"])
        assert torch.equal(x.reward, y.reward)
        assert torch.equal(x.truncated, y.truncated) and torch.equal(x.terminated, y.terminated)
    native.close()
    sync.close()


@pytest.mark.parametrize("mode", ["sync", "native"])
def test_ale_accepts_any_integer_actions_and_refuses_others(mode):
    env = make_ale("breakout", num_envs=2, vectorization_mode=mode)
    env.reset(seed=0)
    for act in (
        torch.tensor([1, 3], dtype=torch.int32),
        torch.tensor([[0], [2]]),
        np.array([1, 0], dtype=np.uint8),
        [3, 1],
    ):
        assert env.step(act).obs.shape == (2, 4, 84, 84)
    for bad in (torch.tensor([0.0, 1.0]), torch.tensor([1, 2, 3]), torch.tensor([True, False])):
        with pytest.raises(ValueError, match="actions"):
            env.step(bad)
    env.close()


def test_ale_options_and_bad_arguments():
    env = make_ale("pong", num_envs=1, frame_stack=2, screen_size=64, full_action_space=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (1, 2, 64, 64) and env.single_action_space.n == 18
    env.close()
    with pytest.raises(ValueError, match="snake case"):
        make_ale("Pong")
    with pytest.raises(ValueError, match="frame_stack"):
        make_ale("pong", frame_stack=0)
    with pytest.raises(ValueError, match="vectorization_mode"):
        make_ale("pong", vectorization_mode="vector_entry_point")
    with pytest.raises(ValueError, match="repeat_action_probability"):
        make_ale("pong", repeat_action_probability=1.5)
    with pytest.raises(ValueError, match="max_episode_steps"):
        make_ale("pong", max_episode_steps=-1)
    with pytest.raises(ValueError, match="noop_max"):
        make_ale("pong", noop_max=-1)


def test_factories_cover_the_config_group():
    games = [f"minatar_{g}" for g in MINATAR_GAMES] + ["pong", "breakout"]
    assert set(FACTORIES) == set(games) | {f"{g}_long" for g in games}
    with pytest.raises(TypeError):  # an unknown kwarg reaches make_env as a TypeError
        FACTORIES["pong"](num_envs=1, max_episode_steps=None, device="cpu", frameskip=5)


ATARI_CONFIGS = [
    "minatar_breakout",
    "minatar_space_invaders",
    "minatar_freeway",
    "minatar_asterix",
    "minatar_seaquest",
    "pong",
    "breakout",
    "pong_long",
    "breakout_long",
    "minatar_breakout_long",
]


def test_config_comments_name_their_own_long_variant():
    import re

    from snnrl.cli.app import conf_dir

    for name in (n for n in ATARI_CONFIGS if not n.endswith("_long")):
        text = (conf_dir() / "env" / f"{name}.yaml").read_text()
        named = set(re.findall(r"\b(\w+)_long\b", text))
        assert named <= {name}, f"{name}.yaml names the long variant of {named - {name}}"


def test_configs_compose_and_build_through_make_env(monkeypatch):
    from hydra import compose, initialize_config_dir

    from snnrl.cli.app import conf_dir
    from snnrl.config import register_schemas, to_objects
    from snnrl.envs import registry

    for name, fn in FACTORIES.items():  # what the lead merges into ENV_FACTORIES
        monkeypatch.setitem(registry.ENV_FACTORIES, name, fn)
    register_schemas()
    with initialize_config_dir(str(conf_dir()), version_base=None):
        for name in ATARI_CONFIGS:
            cfg = to_objects(compose("train", overrides=[f"env={name}"])).env
            assert cfg.name == name and cfg.backend == "factory"
            assert cfg.obs_low == [] and cfg.obs_high == []
            assert (cfg.max_episode_steps is None) == name.endswith("_long")
            env = registry.make_env(cfg, num_envs=1)
            assert isinstance(env, AtariAdapter)
            assert env.settings["gym_id"] == cfg.id == env.env_id
            assert env.settings["max_episode_steps"] == cfg.max_episode_steps
            obs, _ = env.reset(seed=0)
            assert obs.shape[0] == 1
            env.close()
