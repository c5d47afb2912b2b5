"""Our recurrent A2C / PPO (:mod:`snnrl.learners.recurrent`) on hand-made envs with known answers."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from torch import Tensor

from snnrl.envs.protocol import BatchedEnv, EnvStep
from snnrl.learners.recurrent import RecurrentActorCritic, RecurrentLearnerConfig, gae
from snnrl.networks.recurrent import (
    LSTMCellNet,
    ObsTorso,
    RecurrentPolicyNet,
    make_cell,
    reset_state,
)


class CueRecall(BatchedEnv):
    """Step 0 shows a cue (±1); step 1 shows nothing, and action 1 iff the cue was +1 pays 1.

    A memoryless policy scores 0.5 per episode at best; one that remembers the cue scores 1.
    """

    def __init__(self, n: int) -> None:
        self.num_envs, self.device, self.env_id = n, torch.device("cpu"), "cue"
        self.single_observation_space = gym.spaces.Box(-1, 1, (2,))
        self.single_action_space = gym.spaces.Discrete(2)
        self.gen = torch.Generator()

    def _first(self) -> Tensor:
        self.cue = torch.randint(0, 2, (self.num_envs,), generator=self.gen) * 2 - 1
        self.t = torch.zeros(self.num_envs, dtype=torch.long)
        return torch.stack([self.cue.float(), torch.ones(self.num_envs)], -1)

    def reset(self, seed: int | None = None) -> tuple[Tensor, dict]:
        if seed is not None:
            self.gen.manual_seed(seed)
        return self._first(), {}

    def step(self, action: Tensor) -> EnvStep:
        reward = ((action == 1) == (self.cue > 0)).float()  # every step is t = 1 after t = 0
        if int(self.t[0]) == 0:
            self.t += 1
            z = torch.zeros(self.num_envs, dtype=torch.bool)
            obs = torch.zeros(self.num_envs, 2)
            return EnvStep(obs, torch.zeros(self.num_envs), z, z, {"final_obs": obs})
        final = torch.zeros(self.num_envs, 2)
        done = torch.ones(self.num_envs, dtype=torch.bool)
        return EnvStep(self._first(), reward, done, ~done, {"final_obs": final})


def _net(kind: str, n_obs: int = 2, n_act: int = 2, box: bool = False,
         hidden: int = 16) -> RecurrentPolicyNet:
    torch.manual_seed(0)
    torso = ObsTorso((n_obs,))
    return RecurrentPolicyNet(torso, make_cell(kind, n_obs, hidden), n_act, box)


def test_gae_cuts_at_termination_and_bootstraps_truncation() -> None:
    r = torch.tensor([[1.0], [2.0], [3.0]])
    v = torch.tensor([[0.5], [0.25], [1.0], [4.0]])  # last: after the rollout
    done = torch.tensor([[False], [True], [False]])
    # step 1 terminated: no bootstrap; gamma 0.5, lambda 1
    adv = gae(r, v, None, done, torch.zeros(3, 1), 0.5, 1.0)
    # A2 = 3 + 0.5*4 - 1 = 4; A1 = 2 - 0.25 = 1.75; A0 = 1 + 0.5*0.25 - 0.5 + 0.5*1.75 = 1.5
    assert adv.flatten().tolist() == pytest.approx([1.5, 1.75, 4.0])
    # the same step truncated with a final-observation value of 8: bootstrapped from it
    adv = gae(r, v, None, done, torch.tensor([[0.0], [8.0], [0.0]]), 0.5, 1.0)
    # A1 = 2 + 0.5*8 - 0.25 = 5.75; A0 = 1 + 0.125 - 0.5 + 0.5*5.75 = 3.5
    assert adv.flatten().tolist() == pytest.approx([3.5, 5.75, 4.0])
    # lambda 0: one-step TD errors only
    adv = gae(r, v, None, done, torch.zeros(3, 1), 0.5, 0.0)
    assert adv.flatten().tolist() == pytest.approx([0.625, 1.75, 4.0])


def test_reset_state_replaces_only_masked_rows() -> None:
    state = (torch.ones(3, 2), torch.full((3, 2, 4), 5.0))
    init = (torch.zeros(3, 2), torch.zeros(3, 2, 4))
    out = reset_state(state, init, torch.tensor([False, True, False]))
    assert out[0].tolist() == [[1, 1], [0, 0], [1, 1]]
    assert out[1][1].abs().sum() == 0 and (out[1][[0, 2]] == 5).all()


@pytest.mark.parametrize("kind", ["lstm", "stpn", "stpn_snn"])
@pytest.mark.parametrize("box", [False, True])
def test_ppo_rerun_from_the_stored_state_reproduces_the_rollout(kind: str, box: bool) -> None:
    env = CueRecall(6)
    net = _net(kind, n_act=2, box=box)
    cfg = RecurrentLearnerConfig(algo="ppo", n_steps=7, minibatches=2)
    low, high = (-torch.ones(2), torch.ones(2)) if box else (None, None)
    if box:  # the cue env takes a discrete action: feed it the sign of the first component
        orig = env.step
        env.step = lambda a: orig((a[:, 0] > 0).long())  # type: ignore[method-assign]
    learner = RecurrentActorCritic(cfg, net, env, seed=1, act_low=low, act_high=high)
    learner._rollout(grad=False)  # a first rollout, so the stored state is not the initial one
    roll = learner._rollout(grad=False)
    with torch.no_grad():
        envs = torch.tensor([4, 1, 3])
        logp, _, val = learner.sequence(roll, envs)
    # equal up to float rounding (a GEMM over 3 rows may round differently from one over 6)
    torch.testing.assert_close(logp, roll["logp"][:, envs], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(val, roll["value"][:, envs], rtol=1e-5, atol=1e-6)


def test_a2c_lstm_learns_to_recall_a_cue() -> None:
    torch.set_num_threads(1)
    env = CueRecall(64)
    net = _net("lstm")
    cfg = RecurrentLearnerConfig(algo="a2c", lr=1e-2, gamma=1.0, n_steps=4, entropy_coef=0.0)
    learner = RecurrentActorCritic(cfg, net, env, seed=0)
    records: list[dict] = []
    learner.train(64 * 4 * 250, records.append, log_every=4 * 5)
    assert records[0]["train/episode_return"] < 0.75
    assert records[-1]["train/episode_return"] > 0.95, records[-1]
    # the memoryless baseline cannot pass 0.5: the LSTM's score is memory, not luck
    assert isinstance(net.cell, LSTMCellNet)


def test_a_non_finite_loss_raises() -> None:
    env = CueRecall(4)
    net = _net("rnn")
    with torch.no_grad():
        net.v.weight.fill_(float("nan"))
    learner = RecurrentActorCritic(RecurrentLearnerConfig(n_steps=2), net, env, seed=0)
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        learner.update()
