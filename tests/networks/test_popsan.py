"""PopSAN spiking actor and its SB3 policy (snnrl/networks/popsan.py)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.env_util import make_vec_env

from snnrl.config import ConfigError
from snnrl.networks.popsan import (
    PopSANPolicy,
    PopulationEncoder,
    SpikingActor,
    _lif_step,
)

torch.set_num_threads(1)


def test_encoder_hand_computed_spikes() -> None:
    enc = PopulationEncoder([0.0], [1.0], pop=2)
    with torch.no_grad():
        enc.mu.copy_(torch.tensor([[0.0, 1.0]]))
        enc.sigma.fill_(1.0)
    obs = torch.tensor([[0.5]])  # scaled to x = 0
    a = enc.activation(obs)
    assert torch.allclose(a, torch.tensor([[1.0, math.exp(-0.5)]]))
    s = enc(obs, ticks=5)[:, 0, :]  # [T, 2]
    # A = 1: spikes every tick. A = 0.6065: v = .61, 1.21*, .82, 1.43*, 1.03* (threshold .999).
    assert s[:, 0].tolist() == [1, 1, 1, 1, 1]
    assert s[:, 1].tolist() == [0, 1, 0, 1, 1]
    # observations beyond the bounds are clipped to [-1, 1]
    assert torch.allclose(enc.activation(torch.tensor([[7.0]])),
                          enc.activation(torch.tensor([[1.0]])))


def test_lif_step_hand_computed() -> None:
    x = torch.tensor([0.3])
    c = v = s = torch.zeros(1)
    out = []
    for _ in range(3):
        c, v, s = _lif_step(x, c, v, s, 10.0)
        out.append((round(c.item(), 4), round(v.item(), 4), s.item()))
    # c: .3, .45, .525; v: .3, .75*.3+.45=.675 (spike), reset -> 0*... + .525 (spike)
    assert out == [(0.3, 0.3, 0.0), (0.45, 0.675, 1.0), (0.525, 0.525, 1.0)]


@pytest.mark.parametrize("image", [False, True])
def test_gradients_reach_every_parameter(image: bool) -> None:
    torch.manual_seed(0)
    if image:
        actor = SpikingActor((3, 5, 5), 4, hidden=(32, 32), pop_out=4, ticks=5)
        obs = (torch.rand(16, 3, 5, 5) < 0.4).float()
    else:
        actor = SpikingActor((3,), 2, hidden=(32, 32), pop_in=6, pop_out=4, ticks=5,
                             obs_low=[-1, -1, -1], obs_high=[1, 1, 1],
                             action_low=[-2, -2], action_high=[2, 2])
        obs = torch.rand(16, 3) * 2 - 1
    out = actor(obs)
    assert out.shape == (16, 2 if not image else 4)
    (out * torch.randn_like(out)).sum().backward()
    for name, p in actor.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    if not image:
        assert actor.encoder is not None and actor.encoder.mu.grad.abs().sum() > 0
        assert out.abs().max() <= 2.0
    assert len(actor.spike_counts) == (5 if image else 4) and actor.spike_counts[0].shape == (16,)


def test_readout_is_grouped() -> None:
    torch.manual_seed(1)
    actor = SpikingActor((4,), 3, hidden=(16,), pop_in=5, pop_out=4, ticks=5)
    obs = torch.rand(8, 4) * 2 - 1
    base = actor(obs).detach()
    with torch.no_grad():
        actor.readout_w[1] += 1.0
        actor.readout_b[1] += 0.5
    new = actor(obs).detach()
    assert torch.equal(new[:, 0], base[:, 0]) and torch.equal(new[:, 2], base[:, 2])
    assert not torch.equal(new[:, 1], base[:, 1])


def test_bad_config_raises() -> None:
    with pytest.raises(ConfigError):
        SpikingActor((4,), 2, pop_in=1)
    with pytest.raises(ConfigError):
        SpikingActor((4,), 2, hidden=())
    with pytest.raises(ConfigError):
        PopulationEncoder([1.0], [0.0])


def test_policy_bounds_from_space() -> None:
    env = gym.make("CartPole-v1")
    pol = PopSANPolicy(env.observation_space, env.action_space, lambda _: 3e-4)
    lo, hi = pol._obs_bounds
    assert lo[0] == pytest.approx(-4.8) and lo[1] == -1.0 and hi[1] == 1.0
    assert isinstance(pol.action_net, torch.nn.Identity)
    # the optimizer holds exactly the policy's parameters
    opt_ids = {id(p) for g in pol.optimizer.param_groups for p in g["params"]}
    assert opt_ids == {id(p) for p in pol.parameters()}


@pytest.mark.parametrize("env_id,share", [("CartPole-v1", True), ("Pendulum-v1", False)])
def test_ppo_learns_and_predicts(env_id: str, share: bool, tmp_path) -> None:
    venv = make_vec_env(env_id, n_envs=2, seed=0)
    model = PPO(PopSANPolicy, venv, n_steps=64, batch_size=64, n_epochs=2, seed=0, device="cpu",
                policy_kwargs=dict(hidden=[32, 32], share_features_extractor=share))
    before = [p.detach().clone() for p in model.policy.mlp_extractor.actor.parameters()]
    model.learn(128)
    after = list(model.policy.mlp_extractor.actor.parameters())
    # the actor was trained
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True))
    obs = venv.reset()
    act, _ = model.predict(obs, deterministic=True)
    assert venv.action_space.contains(act[0])
    model.save(tmp_path / "m")
    loaded = PPO.load(tmp_path / "m", device="cpu")
    act2, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_allclose(act, act2)


class _BinaryImageEnv(gym.Env):
    """MinAtar-like: channels-first binary [4, 10, 10] frames, Discrete(3), 20-step episodes."""

    observation_space = spaces.Box(0.0, 1.0, (4, 10, 10), np.float32)
    action_space = spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def _obs(self) -> np.ndarray:
        return (self.np_random.random((4, 10, 10)) < 0.1).astype(np.float32)

    def step(self, action):
        self.t += 1
        return self._obs(), float(action == 1), False, self.t >= 20, {}


def test_ppo_and_a2c_on_binary_images() -> None:
    venv = make_vec_env(_BinaryImageEnv, n_envs=2, seed=0)
    for algo in (PPO, A2C):
        kw = dict(n_steps=64, batch_size=64, n_epochs=1) if algo is PPO else dict(n_steps=8)
        model = algo(PopSANPolicy, venv, seed=0, device="cpu",
                     policy_kwargs=dict(hidden=[32]), **kw)
        assert model.policy.mlp_extractor.actor.conv is not None
        model.learn(128)
        act, _ = model.predict(venv.reset())
        assert act.shape == (2,) and all(0 <= a < 3 for a in act)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    torch.manual_seed(0)
    actor = SpikingActor((3,), 2, hidden=(32,), pop_in=5, pop_out=4)
    obs = torch.rand(8, 3) * 2 - 1
    ref = actor(obs)
    out = actor.cuda()(obs.cuda())
    torch.testing.assert_close(out.cpu(), ref, atol=1e-5, rtol=1e-5)
    venv = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    PPO(PopSANPolicy, venv, n_steps=64, batch_size=64, n_epochs=1, device="cuda",
        policy_kwargs=dict(hidden=[32])).learn(128)


def test_ppo_on_minatar_breakout() -> None:
    pytest.importorskip("minatar")
    from snnrl.envs.atari import _minatar_env  # channels-first float32 [4, 10, 10], as our adapter

    venv = make_vec_env(lambda: _minatar_env("MinAtar/Breakout-v1", 200, 0.1, True), n_envs=2,
                        seed=0)
    assert venv.observation_space.shape == (4, 10, 10)
    model = PPO(PopSANPolicy, venv, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu",
                policy_kwargs=dict(hidden=[64]))
    model.learn(128)
    act, _ = model.predict(venv.reset())
    assert act.shape == (2,) and all(0 <= a < 3 for a in act)


def test_ppo_popsan_learns_cartpole() -> None:
    """20k steps of PopSAN PPO (default 256-256 LIF, 5 ticks) clearly beat a random policy (~22).

    About 10 s on a loaded 2-core machine; seed 0 reached ~424 (seed 1: 500) at this budget.
    """
    from stable_baselines3.common.evaluation import evaluate_policy

    venv = make_vec_env("CartPole-v1", n_envs=4, seed=0)
    model = PPO(PopSANPolicy, venv, n_steps=256, batch_size=256, n_epochs=4, seed=0,
                learning_rate=1e-3, device="cpu")
    model.learn(20_000)
    mean, _ = evaluate_policy(model, make_vec_env("CartPole-v1", n_envs=4, seed=100),
                              n_eval_episodes=20, deterministic=True)
    assert mean > 150.0
