"""GymAdapter: Gymnasium envs under snnrl's batched, same-step-autoreset protocol."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

import snnrl  # noqa: F401 - registers snnrl/CartPole-v1
from snnrl.envs import GymAdapter, TorchCartPole

START_BOUND = 0.05  # CartPole start states are uniform in (-0.05, 0.05)


class _Reference:
    """``n`` plain Gymnasium CartPole-v1 envs seeded ``seed + i`` and reset by hand when done.

    This is what SAME_STEP autoreset means, written out: reward and done flags belong to the
    ended episode, the returned observation is the new episode's first one.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.envs = [gym.make("CartPole-v1") for _ in range(n)]
        self.obs = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(self.envs)])

    def step(self, actions: np.ndarray):
        obs, final, rew, term, trunc = [], [], [], [], []
        for env, a in zip(self.envs, actions, strict=True):
            o, r, te, tr, _ = env.step(int(a))
            final.append(o)
            if te or tr:
                o, _ = env.reset()
            obs.append(o)
            rew.append(r)
            term.append(te)
            trunc.append(tr)
        return np.stack(obs), np.stack(final), np.array(rew), np.array(term), np.array(trunc)

    def close(self) -> None:
        for e in self.envs:
            e.close()


def _check_against_reference(adapter: GymAdapter, n: int, seed: int, steps: int) -> int:
    """Step adapter and reference with the same random actions; returns how many envs ended."""
    ref = _Reference(n, seed)
    obs, _ = adapter.reset(seed=seed)
    assert np.array_equal(obs.numpy(), ref.obs)
    rng = np.random.default_rng(seed)
    n_done = 0
    for _ in range(steps):
        actions = rng.integers(0, 2, n)
        out = adapter.step(torch.from_numpy(actions))
        r_obs, r_final, r_rew, r_term, r_trunc = ref.step(actions)
        assert np.array_equal(out.obs.numpy(), r_obs)
        assert np.array_equal(out.info["final_obs"].numpy(), r_final)
        assert np.array_equal(out.reward.numpy(), r_rew.astype(np.float32))
        assert np.array_equal(out.terminated.numpy(), r_term)
        assert np.array_equal(out.truncated.numpy(), r_trunc)
        done = out.done.numpy()
        for i in np.flatnonzero(done):
            assert np.all(np.abs(out.obs[i].numpy()) <= START_BOUND)
            f = out.info["final_obs"][i].numpy()
            assert abs(f[0]) > 2.4 or abs(f[2]) > 12 * 2 * np.pi / 360
            assert out.reward[i].item() == 1.0
        for i in np.flatnonzero(~done):
            assert torch.equal(out.info["final_obs"][i], out.obs[i])
        n_done += int(done.sum())
    ref.close()
    return n_done


def test_shapes_and_dtypes():
    env = GymAdapter("CartPole-v1", num_envs=3)
    assert env.num_envs == 3
    assert env.env_id == "CartPole-v1"
    assert env.mode == AutoresetMode.SAME_STEP
    obs, info = env.reset(seed=0)
    assert isinstance(info, dict)
    assert obs.shape == (3, 4) and obs.dtype == torch.float32
    out = env.step(torch.tensor([0, 1, 0]))
    assert out.obs.shape == (3, 4) and out.obs.dtype == torch.float32
    assert out.reward.shape == (3,) and out.reward.dtype == torch.float32
    assert out.terminated.shape == (3,) and out.terminated.dtype == torch.bool
    assert out.truncated.shape == (3,) and out.truncated.dtype == torch.bool
    assert out.done.dtype == torch.bool
    assert out.info["final_obs"].shape == (3, 4)
    assert out.info["final_obs"].dtype == torch.float32
    env.close()


def test_accepts_numpy_actions():
    env = GymAdapter("CartPole-v1", num_envs=2)
    env.reset(seed=1)
    out = env.step(np.array([1, 0]))
    assert out.obs.shape == (2, 4)
    env.close()


def test_same_step_autoreset_matches_reference():
    env = GymAdapter("CartPole-v1", num_envs=3)
    assert _check_against_reference(env, n=3, seed=10, steps=120) > 0
    env.close()


def test_wraps_single_env():
    env = GymAdapter(gym.make("CartPole-v1"))
    assert env.num_envs == 1
    obs, _ = env.reset(seed=4)
    assert obs.shape == (1, 4)
    assert _check_against_reference(env, n=1, seed=4, steps=100) > 0
    env.close()


def test_wraps_callable():
    env = GymAdapter(lambda: gym.make("CartPole-v1"), num_envs=2)
    assert env.num_envs == 2
    assert _check_against_reference(env, n=2, seed=8, steps=60) > 0
    env.close()


def test_disabled_autoreset_vector_env_is_reset_in_same_step():
    venv = gym.make_vec(
        "CartPole-v1",
        num_envs=3,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.DISABLED},
    )
    env = GymAdapter(venv)
    assert env.mode == AutoresetMode.DISABLED
    assert _check_against_reference(env, n=3, seed=20, steps=120) > 0
    env.close()


@pytest.mark.parametrize("explicit", [True, False])
def test_next_step_vector_env_is_refused(explicit):
    kwargs = {"vector_kwargs": {"autoreset_mode": AutoresetMode.NEXT_STEP}} if explicit else {}
    venv = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync", **kwargs)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    with pytest.raises(ValueError, match="SAME_STEP"):
        GymAdapter(venv)
    venv.close()


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="vectorization_mode"):
        GymAdapter("CartPole-v1", num_envs=2, vectorization_mode="vector_entry_point")
    with pytest.raises(TypeError):
        GymAdapter(42)  # type: ignore[arg-type]


def test_adapter_over_snnrl_vector_env_matches_torch_cartpole():
    n, seed = 4, 3
    venv = gym.make_vec("snnrl/CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point")
    adapter = GymAdapter(venv)
    assert adapter.mode == AutoresetMode.SAME_STEP
    assert adapter.env_id == "snnrl/CartPole-v1"
    native = TorchCartPole(num_envs=n, max_episode_steps=500)
    a_obs, _ = adapter.reset(seed=seed)
    n_obs, _ = native.reset(seed=seed)
    assert torch.equal(a_obs, n_obs)
    g = torch.Generator().manual_seed(0)
    n_done = 0
    for _ in range(300):
        actions = torch.randint(0, 2, (n,), generator=g)
        a = adapter.step(actions)
        b = native.step(actions)
        assert torch.equal(a.obs, b.obs)
        assert torch.equal(a.reward, b.reward)
        assert torch.equal(a.terminated, b.terminated)
        assert torch.equal(a.truncated, b.truncated)
        assert torch.equal(a.info["final_obs"], b.info["final_obs"])
        n_done += int(b.done.sum())
    assert n_done > 0  # autoresets were compared too
    adapter.close()
