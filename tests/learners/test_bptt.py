"""Truncated BPTT through plastic lifetimes: gradients, learning, exact resume, the CLI."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
import torch

from snnrl.agents.base import EnvInfo
from snnrl.agents.plastic import PlasticAgent, PlasticAgentConfig
from snnrl.envs.cartpole import TorchCartPole
from snnrl.envs.protocol import BatchedEnv, EnvStep
from snnrl.learners.bptt import BPTTLearner, Update, discounted_returns, run_bptt
from snnrl.learners.config import BPTTConfig
from snnrl.networks.plastic_net import PlasticNetSpec, PlasticNetwork
from snnrl.plasticity import RULE_COEFFS

CARTPOLE_LOW = (-2.4, -3.0, -0.21, -3.5)
CARTPOLE_HIGH = (2.4, 3.0, 0.21, 3.5)



@pytest.fixture
def float64() -> Iterator[None]:
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def cartpole_agent(env: BatchedEnv, **kw: Any) -> PlasticAgent:
    info = EnvInfo(
        env.single_observation_space, env.single_action_space, CARTPOLE_LOW, CARTPOLE_HIGH
    )
    neuron = kw.setdefault("neuron", "rate")
    name = kw.pop("name", f"{kw.get('rule', 'abcd')}_{'ann' if neuron == 'rate' else 'snn'}")
    return PlasticAgent(PlasticAgentConfig(name=name, **kw), info)


def learner_for(
    cfg: BPTTConfig, num_envs: int, lifetime: int, updates: int, seed: int = 0, **agent_kw: Any
) -> BPTTLearner:
    env = TorchCartPole(num_envs)
    return BPTTLearner(cfg, cartpole_agent(env, **agent_kw), env, lifetime, updates, seed)


def coeff_slices(net: PlasticNetwork) -> dict[str, slice]:
    return {k: slice(a, b) for k, (a, b) in net.layout.offsets.items()}


# ------------------------------------------------------------------------------- returns


def test_discounted_returns_cut_at_termination_and_bootstrap() -> None:
    rew = torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 1.0]])
    cut = torch.tensor([[False, False], [True, False], [False, False]])
    out = discounted_returns(rew, cut, torch.tensor([10.0, -1.0]), 0.9)
    # env 0: R2 = 3 + 0.9*10 = 12; R1 = 2 (cut); R0 = 1 + 0.9*2 = 2.8
    # env 1: R2 = 1 - 0.9 = 0.1; R1 = 0.09; R0 = 0.081
    torch.testing.assert_close(out, torch.tensor([[2.8, 0.081], [2.0, 0.09], [12.0, 0.1]]))


# ----------------------------------------------------------------------------- gradients


def _tiny_net(rule: str, neuron: str = "rate") -> PlasticNetwork:
    spec = PlasticNetSpec(
        n_obs=2,
        n_out=2,
        hidden=(3,),
        neuron=neuron,
        rule=rule,
        rule_scale=0.5,
        value_head=True,
        ticks=4,
    )
    return PlasticNetwork(spec, -torch.ones(2), torch.ones(2))


def _random_theta(net: PlasticNetwork, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    theta = 0.3 * torch.randn(1, net.layout.size, generator=gen)
    for k, s in coeff_slices(net).items():
        if k.startswith("eta_e"):
            theta[:, s] = 0.3  # inside the clamp to [0, 1]: a smooth point
    return theta


def _lifetime_loss(
    net: PlasticNetwork,
    theta: torch.Tensor,
    steps: int,
    plastic: bool = True,
    upto: int | None = None,
) -> torch.Tensor:
    """An A2C-shaped loss of a ``steps``-step lifetime with fixed obs, actions and rewards."""
    gen = torch.Generator().manual_seed(1)
    e = 2
    obs = torch.rand(steps, 1, e, 2, generator=gen) * 2 - 1
    rew = torch.rand(steps, e, generator=gen)
    actions = torch.randint(0, 2, (steps, e), generator=gen)
    state = net.init_state(theta, e, gen)
    logps, values = [], []
    for t in range(steps if upto is None else upto + 1):
        so, state = net.step(theta, state, obs[t], plastic)
        logps.append(torch.log_softmax(5.0 * so.out[0], -1).gather(-1, actions[t, :, None])[:, 0])
        values.append(net.value(theta, so.hidden)[0])
        state = state._replace(prev_reward=rew[t][None])
    if upto is not None:
        return logps[-1].sum()
    ret = discounted_returns(rew, torch.zeros_like(rew, dtype=torch.bool), torch.zeros(e), 0.9)
    logp, val = torch.stack(logps), torch.stack(values)
    # no detach here: gradcheck compares with finite differences of the whole expression
    return -(logp * ret).mean() + ((ret - val) ** 2).mean()


@pytest.mark.parametrize("rule", ["abcd", "neuromod"])
def test_gradcheck_through_plastic_updates(rule: str, float64: None) -> None:
    net = _tiny_net(rule)
    theta = _random_theta(net, 0).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda th: _lifetime_loss(net, th, 3), (theta,))

    coeffs = [k for k in net.layout.shapes if k.rstrip("0123456789") in (*RULE_COEFFS[rule], "m")]
    sl = coeff_slices(net)
    (g0,) = torch.autograd.grad(_lifetime_loss(net, theta, 3, upto=0), theta)
    (g2,) = torch.autograd.grad(_lifetime_loss(net, theta, 3, upto=2), theta)
    (g2_off,) = torch.autograd.grad(_lifetime_loss(net, theta, 3, plastic=False, upto=2), theta)
    for k in coeffs:
        assert torch.all(g0[0, sl[k]] == 0), f"step 0 cannot depend on {k}: nothing changed yet"
        assert torch.all(g2_off[0, sl[k]] == 0), f"with the rule off, {k} does nothing"
    # layer 0's rule changed the weights that steps 1 and 2 used
    for c in RULE_COEFFS[rule]:
        assert g2[0, sl[f"{c}0"]].abs().sum() > 0, f"no gradient reaches {c}0 through plasticity"
    assert g0[0, sl["w0"]].abs().sum() > 0 and g2[0, sl["w1"]].abs().sum() > 0


def test_rule_coefficients_have_no_gradient_where_the_rule_is_zero() -> None:
    # abcd at the layout's init: a = b = c = d = 0, so dW = eta * 0 whatever eta is
    learner = learner_for(BPTTConfig(window=5), 4, 10, 2, hidden=[8])
    learner.step()
    g, sl = learner.theta.grad[0], coeff_slices(learner.agent.net)
    assert torch.all(g[sl["eta0"]] == 0) and torch.all(g[sl["eta1"]] == 0)
    for c in "abcd":
        assert g[sl[f"{c}0"]].abs().sum() > 0


def test_gradients_reach_lif_nets_through_the_surrogate() -> None:
    learner = learner_for(
        BPTTConfig(window=6), 4, 12, 2, neuron="lif", hidden=[8], ticks_per_step=4
    )
    theta_before = learner.theta.detach().clone()
    learner.step()
    g, sl = learner.theta.grad[0], coeff_slices(learner.agent.net)
    # (a1 and c1 read the output layer's rate, which may stay 0 in so short a lifetime)
    for k in ("w0", "w1", "a0", "b0", "c0", "d0", "b1", "d1", "value"):
        assert g[sl[k]].abs().sum() > 0, f"no gradient for {k}"
    assert not torch.equal(learner.theta.detach(), theta_before)
    assert torch.equal(learner.agent.theta, learner.theta.detach()), "agent follows the learner"


def test_lif_forward_is_differentiable_in_float64(float64: None) -> None:
    net = _tiny_net("abcd", neuron="lif")
    theta = _random_theta(net, 3)
    theta[:, coeff_slices(net)["w0"]] *= 8  # hidden units near threshold: spikes happen
    theta.requires_grad_(True)
    loss = _lifetime_loss(net, theta, 4)
    (g,) = torch.autograd.grad(loss, theta)
    sl = coeff_slices(net)
    assert torch.isfinite(g).all()
    assert g[0, sl["w0"]].abs().sum() > 0 and g[0, sl["a0"]].abs().sum() > 0


def test_non_finite_loss_raises_floating_point_error() -> None:
    learner = learner_for(BPTTConfig(window=5), 2, 10, 2, hidden=[4])
    with torch.no_grad():
        learner.theta.fill_(math.nan)
    with pytest.raises(FloatingPointError, match="non-finite loss at update 0"):
        learner.step()


# ------------------------------------------------------------------------------- learning


def test_a2c_improves_cartpole_within_a_small_budget() -> None:
    # 8 lifetime rounds of 16 x 250 steps (32k steps, ~3 s): measured over seeds 0-5 the first
    # round scores 20-26 and the last two 110-240; chance stays at ~22
    cfg = BPTTConfig(lr=3e-3, window=25)
    learner = learner_for(cfg, 16, 250, 80, seed=0)
    fits: list[float] = []

    def on_update(rec: Update) -> None:
        if rec.fitness is not None:
            fits.append(float(rec.fitness.mean()))

    run_bptt(learner, None, on_update)
    assert len(fits) == 8
    assert fits[0] < 35
    assert (fits[-1] + fits[-2]) / 2 > max(60.0, 2.5 * fits[0]), fits


class _TargetEnv(BatchedEnv):
    """1-d Box action; reward -(a - 0.5)^2; episodes of 10 steps (truncated)."""

    env_id = "test/Target-v0"

    def __init__(self, num_envs: int) -> None:
        self.num_envs, self.device = num_envs, torch.device("cpu")
        self.single_observation_space = gym.spaces.Box(-1.0, 1.0, (2,))
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (1,))
        self.t = 0

    def reset(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        self.t = 0
        return torch.zeros(self.num_envs, 2), {}

    def step(self, action: torch.Tensor) -> EnvStep:
        self.t += 1
        reward = -(action.reshape(self.num_envs) - 0.5).square()
        trunc = torch.full((self.num_envs,), self.t % 10 == 0)
        obs = torch.zeros(self.num_envs, 2)
        return EnvStep(obs, reward, torch.zeros_like(trunc), trunc, {"final_obs": obs})


def test_box_actions_gaussian_policy_learns_a_target() -> None:
    env = _TargetEnv(16)
    info = EnvInfo(env.single_observation_space, env.single_action_space, (-1.0, -1.0), (1.0, 1.0))
    agent = PlasticAgent(PlasticAgentConfig(name="abcd_ann", neuron="rate", hidden=[8]), info)
    learner = BPTTLearner(BPTTConfig(lr=1e-2, window=10, gamma=0.5), agent, env, 20, 60, 0)
    rewards: list[float] = []
    run_bptt(learner, None, lambda r: rewards.append(r.return_sum / max(r.episodes, 1)))
    assert (sum(rewards[-10:]) / 10) > 0.5 * (sum(rewards[:5]) / 5), rewards  # less negative
    agent.set_theta(learner.theta.detach()[0])
    state = agent.init_state(16, torch.Generator())
    action, *_ = agent.act(state, torch.zeros(16, 2), torch.Generator())
    assert action.shape == (16, 1) and torch.all(action.abs() <= 1)
    assert abs(float(action.mean()) - 0.5) < 0.25


# --------------------------------------------------------------------------------- resume


@pytest.mark.parametrize(
    ("method", "neuron", "meta_init"), [("a2c", "rate", True), ("reinforce", "lif", False)]
)
def test_resume_equals_uninterrupted_run(
    tmp_path: Path, method: str, neuron: str, meta_init: bool
) -> None:
    # 4 updates per lifetime; checkpoint_every=5 rounds up to 2 lifetimes (8 updates)
    cfg = BPTTConfig(method=method, window=5, checkpoint_every=5, lr=1e-2)
    kw: dict[str, Any] = {
        "neuron": neuron,
        "hidden": [6],
        "meta_init": meta_init,
        "ticks_per_step": 3,
    }

    full = learner_for(cfg, 3, 20, 18, **kw)
    run_bptt(full, tmp_path / "a.pt")

    crashed = learner_for(cfg, 3, 20, 18, **kw)
    run_bptt(crashed, tmp_path / "b.pt", stop_after=11)
    assert crashed.update_index == 11
    saved = torch.load(tmp_path / "b.pt", weights_only=True)
    assert saved["update"] == 8, "checkpoints fall on lifetime-round boundaries only"

    resumed = learner_for(cfg, 3, 20, 18, **kw)
    resumed.load(tmp_path / "b.pt")
    run_bptt(resumed, tmp_path / "b.pt")
    assert resumed.update_index == full.update_index == 18
    assert torch.equal(resumed.theta, full.theta)
    assert not torch.equal(full.theta, learner_for(cfg, 3, 20, 1, **kw).theta), "it moved"
    assert torch.load(tmp_path / "b.pt", weights_only=True)["update"] == 18


# ------------------------------------------------------------------------------------ CLI


def test_cli_train_with_bptt(tmp_path: Path) -> None:
    from snnrl.cli.main import main

    out = tmp_path / "run"
    args = [
        "train",
        "agent=abcd_ann",
        "agent.hidden=[8]",
        "learner=bptt",
        "learner.window=10",
        "learner.checkpoint_every=2",
        "lifetime_steps=40",
        "train.num_envs=4",
        "train.env_steps=480",
        "train.log_every=20",
        "eval.lifetimes=2",
        "progress=false",
        "seed=1",
        f"hydra.run.dir={out}",
    ]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["learner"] == "bptt"
    assert summary["env_steps"] == 480
    assert summary["metrics"]["train/updates"] == 12
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "train/loss" in r]
    assert [r["step"] for r in train] == [80, 160, 240, 320, 400, 480]
    assert all("train/fitness_mean" in r for r in train[1::2])
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert "value" in ckpt["layout"] and ckpt["theta"].ndim == 1
    learner_state = torch.load(out / "learner_state.pt", weights_only=True)
    assert learner_state["update"] == 12 and "config_hash" in learner_state
    assert torch.equal(learner_state["theta"][0], ckpt["theta"])

    # a re-run into the same directory resumes from the finished state: nothing to redo
    assert main(args) == 0
    again = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r for r in again if "train/loss" in r] == train
    assert torch.equal(torch.load(out / "checkpoint.pt", weights_only=True)["theta"], ckpt["theta"])
