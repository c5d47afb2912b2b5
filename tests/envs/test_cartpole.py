"""TorchCartPole: parity with Gymnasium's CartPole-v1, truncation, autoreset, env checkers."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleEnv as GymCartPole
from gymnasium.utils.env_checker import check_env

import snnrl  # noqa: F401 - registers snnrl/CartPole-v1
from snnrl.envs import CartPoleEnv, CartPoleVectorEnv, EnvStep, TorchCartPole

F64 = torch.float64
X_TH = 2.4
THETA_TH = 12 * 2 * math.pi / 360


def _random_states(rng: np.random.Generator, n: int) -> np.ndarray:
    """Float64 states: broad random ones plus ones near and over the termination thresholds."""
    broad = np.column_stack(
        [
            rng.uniform(-2.6, 2.6, n),
            rng.uniform(-3.0, 3.0, n),
            rng.uniform(-0.3, 0.3, n),
            rng.uniform(-3.5, 3.5, n),
        ]
    )
    m = n // 2
    near = np.column_stack(
        [
            rng.choice([-1.0, 1.0], m) * (X_TH + rng.uniform(-0.02, 0.02, m)),
            rng.uniform(-1.0, 1.0, m),
            rng.choice([-1.0, 1.0], m) * (THETA_TH + rng.uniform(-0.02, 0.02, m)),
            rng.uniform(-1.0, 1.0, m),
        ]
    )
    return np.concatenate([broad, near]).astype(np.float64)


def _gym_step(env: GymCartPole, state: np.ndarray, action: int):
    env.state = state.copy()
    env.steps_beyond_terminated = None  # each state is a fresh transition
    obs, reward, terminated, truncated, _ = env.step(action)
    return env.state.copy(), obs, reward, terminated, truncated


def _reference_transitions(states: np.ndarray, actions: np.ndarray):
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=0)
    out = [_gym_step(env, s, int(a)) for s, a in zip(states, actions, strict=True)]
    env.close()
    nxt = np.stack([o[0] for o in out])
    obs = np.stack([o[1] for o in out])
    reward = np.array([o[2] for o in out])
    terminated = np.array([o[3] for o in out])
    truncated = np.array([o[4] for o in out])
    return nxt, obs, reward, terminated, truncated


# --- parity with Gymnasium -------------------------------------------------------------------


def test_dynamics_parity_with_gymnasium():
    rng = np.random.default_rng(0)
    states = _random_states(rng, 1000)
    actions = rng.integers(0, 2, len(states))
    nxt_ref, _, _, term_ref, _ = _reference_transitions(states, actions)
    assert 0 < term_ref.sum() < len(states)  # both outcomes are exercised

    env = TorchCartPole(num_envs=len(states), autoreset=False)
    state_t = torch.from_numpy(states.copy())
    nxt, terminated = env.dynamics(state_t, torch.from_numpy(actions))
    assert nxt.dtype == F64
    assert np.allclose(nxt.numpy(), nxt_ref, rtol=0, atol=1e-12)
    assert np.array_equal(terminated.numpy(), term_ref)
    assert torch.equal(state_t, torch.from_numpy(states))  # dynamics is pure


def test_step_parity_with_gymnasium():
    rng = np.random.default_rng(1)
    states = _random_states(rng, 600)
    actions = rng.integers(0, 2, len(states))
    nxt_ref, obs_ref, reward_ref, term_ref, trunc_ref = _reference_transitions(states, actions)

    env = TorchCartPole(num_envs=len(states), autoreset=False)
    env.reset(seed=0)
    env.state = torch.from_numpy(states.copy())
    out = env.step(torch.from_numpy(actions))
    assert isinstance(out, EnvStep)
    assert np.allclose(env.state.numpy(), nxt_ref, rtol=0, atol=1e-12)
    assert out.obs.dtype == torch.float32
    assert np.allclose(out.obs.numpy(), obs_ref, rtol=0, atol=1e-6)
    assert np.array_equal(out.reward.numpy(), reward_ref.astype(np.float32))
    assert np.array_equal(out.terminated.numpy(), term_ref)
    assert np.array_equal(out.truncated.numpy(), trunc_ref)
    assert np.array_equal(out.info["final_obs"].numpy(), out.obs.numpy())


def test_termination_exactly_at_thresholds_matches_gymnasium():
    # Zero velocities keep x and theta exactly on the threshold for one step: not terminated
    # (Gymnasium uses strict inequalities); the next float above terminates.
    above_x, above_th = np.nextafter(X_TH, 3.0), np.nextafter(THETA_TH, 1.0)
    states = np.array(
        [
            [X_TH, 0.0, 0.0, 0.0],
            [-X_TH, 0.0, 0.0, 0.0],
            [0.0, 0.0, THETA_TH, 0.0],
            [0.0, 0.0, -THETA_TH, 0.0],
            [above_x, 0.0, 0.0, 0.0],
            [0.0, 0.0, -above_th, 0.0],
        ],
        dtype=np.float64,
    )
    actions = np.array([0, 1, 0, 1, 0, 1])
    nxt_ref, _, _, term_ref, _ = _reference_transitions(states, actions)
    assert term_ref.tolist() == [False, False, False, False, True, True]
    env = TorchCartPole(num_envs=len(states), autoreset=False)
    nxt, terminated = env.dynamics(torch.from_numpy(states), torch.from_numpy(actions))
    assert np.array_equal(nxt[:, [0, 2]].numpy(), nxt_ref[:, [0, 2]])
    assert terminated.tolist() == term_ref.tolist()


def test_trajectory_parity_with_gymnasium():
    # Whole episodes from the same start state, same actions, step by step.
    rng = np.random.default_rng(2)
    genv = gym.make("CartPole-v1").unwrapped
    for episode in range(5):
        genv.reset(seed=episode)
        tenv = TorchCartPole(num_envs=1, max_episode_steps=None, autoreset=False)
        tenv.state = torch.from_numpy(np.array(genv.state, dtype=np.float64))[None]
        for _ in range(500):
            a = int(rng.integers(0, 2))
            g_obs, g_rew, g_term, _, _ = genv.step(a)
            out = tenv.step(torch.tensor([a]))
            assert np.allclose(tenv.state[0].numpy(), genv.state, rtol=0, atol=1e-12)
            assert np.allclose(out.obs[0].numpy(), g_obs, rtol=0, atol=1e-6)
            assert out.reward.item() == g_rew
            assert out.terminated.item() == g_term
            if g_term:
                break
        assert g_term  # random actions end every episode well before 500 steps
    genv.close()


def test_physical_constants_and_spaces_match_gymnasium():
    genv = GymCartPole()
    env = TorchCartPole(num_envs=2)
    for name in (
        "gravity",
        "masscart",
        "masspole",
        "length",
        "force_mag",
        "total_mass",
        "polemass_length",
    ):
        assert torch.all(getattr(env, name) == getattr(genv, name)), name
    assert env.tau == genv.tau
    assert env.x_threshold == genv.x_threshold
    assert env.theta_threshold_radians == genv.theta_threshold_radians
    assert env.single_observation_space == genv.observation_space
    assert env.single_action_space == genv.action_space
    genv.close()


# --- truncation ------------------------------------------------------------------------------


def test_truncation_at_exactly_max_episode_steps():
    env = TorchCartPole(num_envs=2, max_episode_steps=500)
    env.reset(seed=0)
    actions = torch.tensor([0, 1])
    for t in range(1, 1001):
        env.state = torch.zeros(2, 4, dtype=F64)  # keep the pole balanced: never terminates
        out = env.step(actions)
        assert not out.terminated.any()
        should_truncate = t % 500 == 0
        assert out.truncated.tolist() == [should_truncate] * 2, t
        if should_truncate:
            assert torch.all(env.elapsed == 0)
            assert torch.all(out.obs.abs() <= 0.05)  # autoreset to a fresh start
        else:
            assert torch.all(env.elapsed == t % 500)


def test_terminated_and_truncated_never_both_true():
    # The episode terminates on exactly the step the time limit is reached: terminated wins.
    env = TorchCartPole(num_envs=3, max_episode_steps=3)
    env.reset(seed=0)
    for _ in range(2):
        env.state = torch.zeros(3, 4, dtype=F64)
        out = env.step(torch.ones(3, dtype=torch.long))
        assert not out.done.any()
    # env 0 crosses x = 2.4 on step 3, env 1 tips over, env 2 stays balanced
    env.state = torch.tensor(
        [[2.39, 1.0, 0.0, 0.0], [0.0, 0.0, 0.2, 1.0], [0.0, 0.0, 0.0, 0.0]], dtype=F64
    )
    out = env.step(torch.ones(3, dtype=torch.long))
    assert out.terminated.tolist() == [True, True, False]
    assert out.truncated.tolist() == [False, False, True]
    assert not (out.terminated & out.truncated).any()


def test_random_rollout_done_flags_consistent():
    env = TorchCartPole(num_envs=16, max_episode_steps=20)
    env.reset(seed=3)
    g = torch.Generator().manual_seed(0)
    n_term = n_trunc = 0
    for _ in range(200):
        out = env.step(torch.randint(0, 2, (16,), generator=g))
        assert not (out.terminated & out.truncated).any()
        n_term += int(out.terminated.sum())
        n_trunc += int(out.truncated.sum())
    assert n_term > 0 and n_trunc > 0


def test_no_truncation_without_limit():
    env = TorchCartPole(num_envs=1, max_episode_steps=None)
    env.reset(seed=0)
    for _ in range(600):
        env.state = torch.zeros(1, 4, dtype=F64)
        assert not env.step(torch.tensor([1])).truncated.any()


# --- same-step autoreset ---------------------------------------------------------------------


def test_same_step_autoreset():
    env = TorchCartPole(num_envs=4, max_episode_steps=500)
    env.reset(seed=5)
    for _ in range(3):
        env.step(torch.tensor([0, 1, 0, 1]))
    before = env.state.clone()
    before[1] = torch.tensor([2.4, 1.0, 0.0, 0.0], dtype=F64)  # env 1 leaves the track
    env.state = before.clone()
    elapsed_before = env.elapsed.clone()
    actions = torch.tensor([1, 1, 0, 0])
    expected_next, expected_term = env.dynamics(before, actions)
    assert expected_term.tolist() == [False, True, False, False]

    out = env.step(actions)
    assert out.terminated.tolist() == [False, True, False, False]
    assert out.reward.tolist() == [1.0] * 4  # the ended episode's reward
    final = out.info["final_obs"]
    assert final.shape == (4, 4) and final.dtype == torch.float32
    assert torch.equal(final[1], expected_next[1].float())  # the terminal observation
    assert final[1, 0].item() > X_TH
    assert torch.all(out.obs[1].abs() <= 0.05)  # already the next episode's start
    assert torch.equal(env.state[1].float(), out.obs[1])
    assert env.elapsed[1].item() == 0
    for b in (0, 2, 3):  # the others carry on untouched
        assert torch.equal(out.obs[b], expected_next[b].float())
        assert torch.equal(final[b], out.obs[b])
        assert torch.equal(env.state[b], expected_next[b])
        assert env.elapsed[b].item() == elapsed_before[b].item() + 1


def test_reset_gives_start_states():
    env = TorchCartPole(num_envs=64)
    obs, info = env.reset(seed=11)
    assert obs.shape == (64, 4) and obs.dtype == torch.float32
    assert isinstance(info, dict)
    assert torch.all(obs.abs() <= 0.05)
    assert obs.std() > 0.01  # actually random
    assert env.state.dtype == F64
    assert torch.all(env.elapsed == 0)


def test_seeded_determinism():
    def rollout(seed):
        env = TorchCartPole(num_envs=5, max_episode_steps=50)
        obs, _ = env.reset(seed=seed)
        g = torch.Generator().manual_seed(99)
        traj = [obs]
        dones = []
        for _ in range(300):
            out = env.step(torch.randint(0, 2, (5,), generator=g))
            traj += [out.obs, out.info["final_obs"]]
            dones.append(out.done)
        return torch.stack(traj), torch.stack(dones)

    a_obs, a_done = rollout(123)
    b_obs, b_done = rollout(123)
    c_obs, _ = rollout(124)
    assert a_done.any()  # autoresets happened along the way
    assert torch.equal(a_obs, b_obs) and torch.equal(a_done, b_done)
    assert not torch.equal(a_obs[0], c_obs[0])


def test_rejects_zero_envs():
    with pytest.raises(ValueError):
        TorchCartPole(num_envs=0)


# --- Gymnasium faces -------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*Box observation space.*infinity")
def test_gymnasium_check_env():
    env = gym.make("snnrl/CartPole-v1")
    assert isinstance(env.unwrapped, CartPoleEnv)
    check_env(env.unwrapped)
    env.close()


def test_sb3_check_env():
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    env = gym.make("snnrl/CartPole-v1")
    sb3_checker.check_env(env, warn=True)
    env.close()


def test_single_env_seeding_and_time_limit():
    env = gym.make("snnrl/CartPole-v1")
    o1, _ = env.reset(seed=7)
    o2, _ = env.reset(seed=7)
    assert np.array_equal(o1, o2)
    assert o1.dtype == np.float32 and o1.shape == (4,)
    # TimeLimit from the registration truncates at 500
    steps, truncated = 0, False
    while not truncated:
        env.unwrapped._env.state = torch.zeros(1, 4, dtype=F64)
        _, reward, terminated, truncated, _ = env.step(1)
        steps += 1
        assert not terminated and reward == 1.0
        assert steps <= 500
    assert steps == 500
    env.close()


def test_make_vec_same_step_final_obs_layout():
    envs = gym.make_vec("snnrl/CartPole-v1", num_envs=4, vectorization_mode="vector_entry_point")
    assert isinstance(envs, CartPoleVectorEnv)
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (4, 4) and obs.dtype == np.float32
    envs.action_space.seed(0)
    seen_done = 0
    for _ in range(200):
        obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
        assert reward.shape == (4,) and terminated.dtype == np.bool_
        assert obs in envs.observation_space
        done = terminated | truncated
        if not done.any():
            assert "final_obs" not in info
            continue
        seen_done += 1
        final = info["final_obs"]
        assert isinstance(final, np.ndarray) and final.dtype == object and final.shape == (4,)
        assert np.array_equal(info["_final_obs"], done)
        for i in range(4):
            if done[i]:
                assert isinstance(final[i], np.ndarray) and final[i].shape == (4,)
                assert final[i].dtype == np.float32
                assert abs(final[i][0]) > X_TH or abs(final[i][2]) > THETA_TH
                assert np.all(np.abs(obs[i]) <= 0.05)
            else:
                assert final[i] is None
    assert seen_done > 0
    envs.close()


def test_make_vec_uses_registered_time_limit():
    envs = gym.make_vec("snnrl/CartPole-v1", num_envs=2, vectorization_mode="vector_entry_point")
    assert envs.unwrapped._env.max_episode_steps == 500
    envs.close()
