"""Recurrent A2C / PPO (:mod:`snnrl.learners.recurrent`): returns, resets, PPO's re-run, learning.

Small hand-written batched envs stand in for the real ones so every number is known: a scripted
env whose episodes end at fixed steps (terminated or truncated), a cue-recall memory task that a
memoryless policy solves half the time, and a one-dimensional Box task for PPO's Gaussian policy.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import pytest
import torch
from torch import Tensor, nn

from snnrl.envs.protocol import BatchedEnv, EnvStep
from snnrl.learners.recurrent import RecurrentActorCritic, RecurrentLearnerConfig, gae
from snnrl.networks.recurrent import ObsTorso, RecurrentPolicyNet, make_cell


# ------------------------------------------------------------------------------------ test envs
class ScriptedEnv(BatchedEnv):
    """Reward 1 every step; episodes end where ``script[t][b]`` says: "T" terminated,
    "U" truncated, "." runs on. ``obs`` is 0, ``final_obs`` is 1 (so a value read from the wrong
    one would show)."""

    def __init__(self, script: list[str]) -> None:
        self.script, self.t = script, 0
        self.num_envs = len(script[0])
        self.single_observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
        self.single_action_space = gym.spaces.Discrete(2)
        self.device = torch.device("cpu")
        self.env_id = "test/Scripted"

    def reset(self, seed: int | None = None) -> tuple[Tensor, dict[str, Any]]:
        self.t = 0
        return torch.zeros(self.num_envs, 1), {}

    def step(self, action: Tensor) -> EnvStep:
        row = self.script[self.t % len(self.script)]
        self.t += 1
        term = torch.tensor([c == "T" for c in row])
        trunc = torch.tensor([c == "U" for c in row])
        obs = torch.zeros(self.num_envs, 1)
        final = torch.where((term | trunc)[:, None], torch.ones_like(obs), obs)
        return EnvStep(obs, torch.ones(self.num_envs), term, trunc, {"final_obs": final})


class CueRecallEnv(BatchedEnv):
    """Two-step memory task. Step 1 shows a cue ``c = ±1`` (obs ``[c, 0]``), any action, reward 0;
    step 2 shows ``[0, 1]`` and rewards 1 if the action is ``(c + 1) / 2``, then terminates.
    Without memory the second step is a coin flip: at most 50% of episodes rewarded."""

    def __init__(self, num_envs: int) -> None:
        self.num_envs = num_envs
        self.single_observation_space = gym.spaces.Box(-1.0, 1.0, (2,))
        self.single_action_space = gym.spaces.Discrete(2)
        self.device = torch.device("cpu")
        self.env_id = "test/CueRecall"
        self.gen = torch.Generator().manual_seed(0)

    def _cue(self, n: int) -> Tensor:
        return torch.randint(0, 2, (n,), generator=self.gen).float() * 2 - 1

    def _obs(self) -> Tensor:
        recall = self.phase == 1
        return torch.stack([torch.where(recall, 0.0, self.cue), recall.float()], dim=-1)

    def reset(self, seed: int | None = None) -> tuple[Tensor, dict[str, Any]]:
        if seed is not None:
            self.gen.manual_seed(seed)
        self.cue = self._cue(self.num_envs)
        self.phase = torch.zeros(self.num_envs, dtype=torch.long)
        return self._obs(), {}

    def step(self, action: Tensor) -> EnvStep:
        recall = self.phase == 1
        reward = (recall & (action == (self.cue > 0).long())).float()
        final = self._obs()
        self.phase = torch.where(recall, 0, 1)
        self.cue = torch.where(recall, self._cue(self.num_envs), self.cue)
        return EnvStep(self._obs(), reward, recall, torch.zeros_like(recall), {"final_obs": final})


class ReachEnv(BatchedEnv):
    """Box(1) action in [-2, 2]; reward ``-|a - x|`` for a random target ``x`` shown in the obs;
    8-step episodes (truncated)."""

    def __init__(self, num_envs: int) -> None:
        self.num_envs = num_envs
        self.single_observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
        self.single_action_space = gym.spaces.Box(-2.0, 2.0, (1,))
        self.device = torch.device("cpu")
        self.env_id = "test/Reach"
        self.gen = torch.Generator().manual_seed(0)

    def reset(self, seed: int | None = None) -> tuple[Tensor, dict[str, Any]]:
        if seed is not None:
            self.gen.manual_seed(seed)
        self.x = torch.rand(self.num_envs, 1, generator=self.gen) * 2 - 1
        self.t = torch.zeros(self.num_envs, dtype=torch.long)
        return self.x.clone(), {}

    def step(self, action: Tensor) -> EnvStep:
        reward = -(action - self.x).abs().squeeze(-1)
        self.t += 1
        trunc = self.t >= 8
        final = self.x.clone()
        new = torch.rand(self.num_envs, 1, generator=self.gen) * 2 - 1
        self.x = torch.where(trunc[:, None], new, self.x)
        self.t = torch.where(trunc, 0, self.t)
        return EnvStep(self.x.clone(), reward, torch.zeros_like(trunc), trunc, {"final_obs": final})


class CounterCell(nn.Module):
    """``h`` = steps since the state was reset (1 at an episode's first step), plus 100 x."""

    hidden_size = 1

    def initial_state(self, batch: int, device: torch.device) -> tuple[Tensor]:
        return (torch.zeros(batch, 1, device=device),)

    def forward(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor]]:
        h = state[0] + 1 + 100 * x[:, :1]
        return h, (h,)


def _learner(
    env: BatchedEnv, cell: str = "lstm", hidden: int = 16, seed: int = 0, **cfg: Any
) -> RecurrentActorCritic:
    torch.manual_seed(seed)
    shape = tuple(env.single_observation_space.shape)
    torso = ObsTorso(shape)
    space = env.single_action_space
    box = isinstance(space, gym.spaces.Box)
    n_act = int(space.shape[0]) if box else int(space.n)
    net = RecurrentPolicyNet(torso, make_cell(cell, torso.out_dim, hidden), n_act, box)
    low = torch.as_tensor(space.low) if box else None
    high = torch.as_tensor(space.high) if box else None
    return RecurrentActorCritic(RecurrentLearnerConfig(**cfg), net, env, seed, low, high)


# --------------------------------------------------------------------------------------- returns
def test_gae_by_hand_terminated_cuts_truncated_bootstraps() -> None:
    # env 0: truncated at t=1 (final obs worth 5), env 1: terminated at t=1; rollout ends at t=2
    r = torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    v = torch.tensor([[0.5, 0.5], [0.5, 0.5], [1.0, 1.0], [4.0, 4.0]])  # last: after rollout
    done = torch.tensor([[False, False], [True, True], [False, False]])
    tv = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 0.0]])
    ret = gae(r, v, done, tv, 0.5, 1.0) + v[:-1]
    # t=2: 3 + .5*4 = 5 (both); t=1: env0 2 + .5*5 = 4.5, env1 2; t=0: 1 + .5*ret1
    expected = torch.tensor([[1 + 0.5 * 4.5, 1 + 0.5 * 2.0], [4.5, 2.0], [5.0, 5.0]])
    torch.testing.assert_close(ret, expected)
    # lambda = 0: one-step TD errors
    adv0 = gae(r, v, done, tv, 0.5, 0.0)
    torch.testing.assert_close(adv0[:, 1], torch.tensor([1 + 0.25 - 0.5, 2 - 0.5, 3 + 2 - 1.0]))
    # GAE by hand for lambda = 0.5, env 1 (terminated at t=1)
    d = torch.tensor([0.75, 1.5, 4.0])
    a2 = d[2]
    a1 = d[1]  # cut by the termination
    a0 = d[0] + 0.25 * a1
    torch.testing.assert_close(gae(r, v, done, tv, 0.5, 0.5)[:, 1], torch.stack([a0, a1, a2]))


def test_rollout_resets_state_by_mask_and_bootstraps_from_the_final_obs() -> None:
    # counter cell: V = steps since reset (value head weight 1, bias 0) -> every number by hand
    env = ScriptedEnv(["..", "U.", ".T", ".."])
    torch.manual_seed(0)
    net = RecurrentPolicyNet(ObsTorso((1,)), CounterCell(), 2, False)
    with torch.no_grad():
        net.v.weight.fill_(1.0)
        net.v.bias.zero_()
    learner = RecurrentActorCritic(RecurrentLearnerConfig(n_steps=4, gamma=0.5), net, env, 0)
    roll = learner.rollout(grad=False)
    torch.testing.assert_close(roll["value"], torch.tensor([[1.0, 1], [2, 2], [1, 3], [2, 1]]))
    torch.testing.assert_close(roll["v_last"], torch.tensor([3.0, 2.0]))
    # truncation of env 0 at t=1: the final obs' (x = 1) value with the post-step state (count 2)
    torch.testing.assert_close(roll["trunc_value"][:, 0], torch.tensor([0.0, 103, 0, 0]))
    torch.testing.assert_close(roll["trunc_value"][:, 1], torch.zeros(4))
    assert roll["start"][:, 0].tolist() == [True, False, True, False]
    assert roll["start"][:, 1].tolist() == [True, False, False, True]
    ret = learner.advantages(roll) + roll["value"]
    expected = torch.tensor([[27.25, 1.75], [52.5, 1.5], [2.25, 1.0], [2.5, 2.0]])
    torch.testing.assert_close(ret, expected)
    # the next rollout starts from the carried state (env 0 at count 2, env 1 at count 1)
    roll2 = learner.rollout(grad=False)
    torch.testing.assert_close(roll2["state0"][0], torch.tensor([[2.0], [1.0]]))
    torch.testing.assert_close(roll2["value"][0], torch.tensor([3.0, 2.0]))
    assert roll["ended"].tolist() == [2.0, 3.0]


# ------------------------------------------------------------------------------------------ PPO
@pytest.mark.parametrize("cell", ["lstm", "rnn", "stpn", "stpn_snn"])
def test_ppo_rerun_from_stored_initial_state_reproduces_the_rollout(cell: str) -> None:
    env = ScriptedEnv(["..", "U.", ".T", "..", "T.", "..", ".U"])
    env.single_observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
    learner = _learner(env, cell, hidden=8, algo="ppo", n_steps=6)
    learner.rollout(grad=False)  # so the second rollout starts from a non-initial state
    roll = learner.rollout(grad=False)
    assert bool(roll["done"].any())
    assert any(float(s.abs().sum()) > 0 for s in roll["state0"])
    for envs in (torch.tensor([1]), torch.tensor([1, 0])):
        with torch.no_grad():
            logp, ent, val = learner.sequence(roll, envs)
        torch.testing.assert_close(logp, roll["logp"][:, envs], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(val, roll["value"][:, envs], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(ent, roll["entropy"][:, envs], rtol=1e-5, atol=1e-6)
    # mutation check: re-running from the initial (zero) state instead gives other values
    fresh = dict(roll, state0=learner.net.initial_state(env.num_envs, torch.device("cpu")))
    with torch.no_grad():
        _, _, val0 = learner.sequence(fresh, torch.tensor([0, 1]))
    assert not torch.allclose(val0[0], roll["value"][0], atol=1e-6)


def test_ppo_rerun_with_a_gaussian_policy_and_its_log_prob_by_hand() -> None:
    env = ReachEnv(4)
    learner = _learner(env, "lstm", hidden=8, algo="ppo", n_steps=10)
    roll = learner.rollout(grad=False)
    with torch.no_grad():
        logp, _, _ = learner.sequence(roll, torch.arange(4))
    torch.testing.assert_close(logp, roll["logp"], rtol=1e-5, atol=1e-6)
    # log N(a; mu, 1) with log_std = 0 at init, checked against torch.distributions
    with torch.no_grad():
        mean, _, _ = learner.net(roll["obs"][0], roll["state0"])
    ref = torch.distributions.Normal(mean, 1.0).log_prob(roll["action"][0]).sum(-1)
    torch.testing.assert_close(roll["logp"][0], ref)
    # actions reach the env clipped to [-1, 1] and mapped onto [-2, 2]
    a = torch.tensor([[-3.0], [0.5], [1.0]])
    torch.testing.assert_close(learner.env_action(a), torch.tensor([[-2.0], [1.0], [2.0]]))


def test_ppo_improves_the_reach_task() -> None:
    env = ReachEnv(16)
    learner = _learner(
        env,
        "rnn",
        hidden=16,
        algo="ppo",
        n_steps=16,
        lr=3e-3,
        gamma=0.5,
        gae_lambda=0.9,
        entropy_coef=0.0,
        n_epochs=4,
        minibatches=4,
    )
    recs: list[dict[str, Any]] = []
    learner.train(16 * 16 * 40, recs.append, 16)
    first, last = recs[0]["train/episode_return"], recs[-1]["train/episode_return"]
    # the untrained Gaussian (std 1) scores about -10 per 8-step episode; tracking the target
    # drives it towards 0 (about -2 after this budget, over three seeds tried)
    assert last > first + 4.0, (first, last)
    assert "train/clip_fraction" in recs[-1]


# ------------------------------------------------------------------------------------------ A2C
def test_a2c_lstm_learns_cue_recall_beyond_what_no_memory_allows() -> None:
    env = CueRecallEnv(64)
    learner = _learner(env, "lstm", hidden=16, n_steps=8, lr=1e-2, gamma=0.9, entropy_coef=0.01)
    recs: list[dict[str, Any]] = []
    learner.train(64 * 8 * 150, recs.append, 8 * 10)
    # episode return = 1 if recalled: the mean is the success rate; memoryless ceiling is 0.5
    assert recs[-1]["train/episode_return"] > 0.9, [r["train/episode_return"] for r in recs]


def test_records_determinism_and_seed_sensitivity() -> None:
    def run(seed: int) -> tuple[list[dict[str, Any]], dict[str, Tensor]]:
        learner = _learner(CueRecallEnv(8), "stpn", hidden=8, seed=seed, n_steps=4)
        recs: list[dict[str, Any]] = []
        learner.train(8 * 4 * 6, recs.append, 8)
        for r in recs:
            r.pop("perf/sps")
        return recs, learner.net.state_dict()

    a, sa = run(3)
    b, sb = run(3)
    c, _ = run(4)
    assert a == b
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a != c
    keys = {
        "step",
        "train/episode_return",
        "train/episodes",
        "train/loss",
        "train/policy_loss",
        "train/value_loss",
        "train/entropy",
        "train/grad_norm",
    }
    assert keys <= set(a[0])
    assert [r["step"] for r in a] == [64, 128, 192]
    assert a[0]["train/episodes"] == 32  # 2 updates x 8 envs x 4 steps / 2-step episodes


def test_a2c_gradient_reaches_stpn_plasticity_parameters_within_an_episode_only() -> None:
    # 4-step window, no episode end: lambda (which acts from the 2nd step on) gets a gradient
    learner = _learner(ScriptedEnv(["...."]), "stpn", hidden=8, n_steps=4)
    cell = learner.net.cell
    learner.update()
    for name in ("lam", "gamma", "weight", "bias"):
        assert float(getattr(cell, name).grad.abs().sum()) > 0, name
    # 2-step episodes: F is reset before lambda could act on a non-zero F, so no gradient
    # reaches it (it would if the state leaked across the reset)
    learner = _learner(CueRecallEnv(4), "stpn", hidden=8, n_steps=4)
    learner.update()
    assert float(learner.net.cell.lam.grad.abs().sum()) == 0.0
    assert float(learner.net.cell.weight.grad.abs().sum()) > 0


def test_non_finite_loss_raises() -> None:
    learner = _learner(CueRecallEnv(4), "lstm", hidden=8, n_steps=4)
    with torch.no_grad():
        learner.net.v.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError):
        learner.update()


class MatchSignEnv(BatchedEnv):
    """A continuing task (no episode ever ends): reward 1 when the action matches the sign of the
    current observation. Returns are of order 1 / (1 - gamma), as in cart-pole."""

    def __init__(self, n: int) -> None:
        self.num_envs, self.device, self.env_id = n, torch.device("cpu"), "match"
        self.single_observation_space = gym.spaces.Box(-1, 1, (2,))
        self.single_action_space = gym.spaces.Discrete(2)
        self.gen = torch.Generator().manual_seed(0)

    def _obs(self) -> Tensor:
        self.sign = torch.randint(0, 2, (self.num_envs,), generator=self.gen) * 2 - 1
        return torch.stack([self.sign.float(), torch.ones(self.num_envs)], -1)

    def reset(self, seed: int | None = None) -> tuple[Tensor, dict]:
        return self._obs(), {}

    def step(self, action: Tensor) -> EnvStep:
        reward = ((action == 1) == (self.sign > 0)).float()
        never = torch.zeros(self.num_envs, dtype=torch.bool)
        obs = self._obs()
        return EnvStep(obs, reward, never, never, {"final_obs": obs})


@pytest.mark.parametrize(("value_scale", "learns"), [(1.0, False), (100.0, True)])
def test_value_scale_lets_a_shared_cell_learn_a_dense_reward(value_scale: float,
                                                             learns: bool) -> None:
    """gamma 0.99, dense reward: an unscaled value loss swamps the shared cell (the policy stays
    near uniform: what happened on cart-pole); in units of 1 / (1 - gamma) the policy learns."""
    torch.manual_seed(0)
    net = RecurrentPolicyNet(ObsTorso((2,)), make_cell("rnn", 2, 16), 2, False)
    cfg = RecurrentLearnerConfig(algo="a2c", lr=1e-3, n_steps=5, gamma=0.99,
                                 value_scale=value_scale)
    learner = RecurrentActorCritic(cfg, net, MatchSignEnv(64), seed=0)
    for _ in range(300):
        learner.update()
    reward = float(learner.rollout(grad=False)["reward"].mean())
    assert (reward > 0.9) == learns, reward
