r"""Gradient descent through the lifetime: meta-learning a plastic agent by truncated BPTT.

What survives a lifetime of a :class:`~snnrl.agents.plastic.PlasticAgent` (initial weights, rule
coefficients, modulator pathway: one flat vector :math:`\theta`) is trained by backpropagating an
actor-critic loss through the network's own plastic updates, as in Backpropamine (Miconi, Rawal,
Clune & Stanley 2019, ICLR, arXiv 1808.03429) and, for spiking networks with surrogate gradients,
SpikePropamine (Schmidgall, Ashkanazy, Lawson & Hays 2021, Frontiers in Neuroscience 15,
arXiv 2103.06402). The lifetime weight :math:`W_t = \mathrm{clip}(W_0 + P_t)` depends on
:math:`\theta` through :math:`W_0` and, via every past rule update, through :math:`P_t`.

**Lifetimes.** ``train.num_envs`` lifetimes (:math:`E`) run in lockstep for ``lifetime_steps``
(:math:`T`) env steps; then fresh ones start (new plastic state, env reset with a new seed),
as many as the budget ``train.env_steps`` allows. Episodes end and restart inside a lifetime.

**Truncated BPTT.** A lifetime is cut into windows of ``learner.window`` (:math:`K`) steps. At
a window's end the loss below is backpropagated through the window's :math:`K` steps (and the
``ticks_per_step`` LIF ticks of each, through the SuperSpike surrogate), one Adam step with
gradient-norm clipping updates :math:`\theta`, and every state tensor (plastic displacement
:math:`P`, eligibility and STDP traces, membranes) is detached: the lifetime goes on with its
state, but gradients stop at the window's start. :math:`W_0` is not state but a view of
:math:`\theta` (when ``agent.meta_init``); it is rebuilt from the updated :math:`\theta` at every
window start, so it keeps its gradient in every window (with ``meta_init=false`` it is drawn at
random per lifetime and carries no gradient).

**Policy.** Discrete actions: :math:`\pi(a \mid h_t) = \mathrm{softmax}(s\, o_t)_a` with
:math:`s` = ``agent.logit_scale`` and :math:`o_t` the output layer's activity (tanh or firing
rate). Box actions: a Gaussian of fixed standard deviation 0.3 (in the ``[-1, 1]`` units the
agent's bounded output lives in) around the output the agent decodes deterministically, clipped
to the action bounds for the env (the log-probability is that of the unclipped sample).

**A2C** (``learner.method=a2c``; Mnih et al. 2016, arXiv 1602.01783). A value head
:math:`V(h_t) = w_v^\top [h_t; 1]` on the last hidden layer (part of :math:`\theta`). Within a
window the :math:`n`-step bootstrapped returns are

.. math::
    R_t = r_t + \gamma\, (1 - d_t)\, R_{t+1}, \qquad R_K = V(h_K),

where :math:`d_t = 1` iff step :math:`t` *terminated* an episode (a failure: the pole fell), and
:math:`V(h_K)` is the (detached) value of the observation that follows the window, computed by a
forward pass with the rule off whose state is discarded. A *truncated* episode (time limit) and
the end of a lifetime are not terminal: the return runs on, bootstrapped from the next value
estimate (for a time limit that is the value of the next episode's first observation, not of the
final one; within a lifetime the agent does live on into the next episode). With
:math:`A_t = R_t - V(h_t)`,

.. math::
    L = -\frac{1}{KE}\sum_{t,e} \log\pi(a_t \mid h_t)\,\frac{A_t - \bar A}{\sigma_A}
        + c_v \frac{1}{KE}\sum_{t,e} \big(R_t - V(h_t)\big)^2
        - c_H \frac{1}{KE}\sum_{t,e} \mathcal{H}\big(\pi(\cdot \mid h_t)\big),

with :math:`A_t` detached in the policy term and normalised over the window's :math:`K E`
samples (mean :math:`\bar A`, standard deviation :math:`\sigma_A`): the value head starts near 0
while returns are of order 10-100, and normalised advantages keep the first updates from being
plain un-baselined REINFORCE with a huge step.

**REINFORCE** (``learner.method=reinforce``; Williams 1992). No bootstrap: :math:`R_K = 0`, so
:math:`R_t` is the discounted reward to the window's end (truncated Monte Carlo; episodes cut
by termination as above), and the baseline :math:`b_t` is a running mean of :math:`R_t` per
position :math:`t` in the window (exponential, rate 0.1) over past updates:

.. math::
    L = -\frac{1}{KE}\sum_{t,e} \log\pi(a_t \mid h_t)\,(R_t - b_t) - c_H\,\bar{\mathcal{H}}.

The value head is then part of :math:`\theta` but unused.

**Determinism and resume.** Lifetime round :math:`r` draws its random initial weights (rules-only
meta-learning), its actions and its env resets from streams derived from ``(seed, r)`` only
(:func:`snnrl.seeding.derive_seed`). Checkpoints (``learner_state.pt``: :math:`\theta`, Adam's
state, the update count, the REINFORCE baseline) are written only at lifetime-round boundaries —
``learner.checkpoint_every`` updates rounded *up* to whole lifetimes — and at the end, so no
neuron, plastic or env state needs saving, and a resumed run equals an uninterrupted one bit for
bit (tested).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from torch import Tensor

from snnrl.agents.plastic import PlasticAgent
from snnrl.config import ConfigError, TrainConfig
from snnrl.envs.protocol import BatchedEnv
from snnrl.learners.checkpoint import LearnerCheckpoint
from snnrl.learners.config import BPTTConfig
from snnrl.networks.plastic_net import PlasticState
from snnrl.seeding import derive_seed
from snnrl.tracking.rundir import RunDir

BOX_STD = 0.3
"""Standard deviation of the Gaussian policy for Box actions, in the agent's ``[-1, 1]`` units."""
BASELINE_RATE = 0.1
"""REINFORCE: rate of the exponential running mean of the returns (the baseline)."""


def discounted_returns(rewards: Tensor, cut: Tensor, bootstrap: Tensor, gamma: float) -> Tensor:
    r"""``R_t = r_t + gamma (1 - cut_t) R_{t+1}`` with ``R_K = bootstrap``.

    Args:
        rewards: ``[K, E]`` rewards of a window, time-major.
        cut: ``[K, E]`` bool, True where step ``t`` ended the return (termination).
        bootstrap: ``[E]`` value of what follows the window (zeros: no bootstrap).
        gamma: discount factor.

    Returns:
        ``[K, E]`` returns.

    >>> r = torch.ones(3, 1)
    >>> discounted_returns(r, torch.tensor([[False], [True], [False]]), torch.tensor([10.0]), 0.5)
    tensor([[1.5000],
            [1.0000],
            [6.0000]])
    """
    out = torch.empty_like(rewards)
    ret = bootstrap
    keep = (~cut).to(rewards.dtype)
    for t in range(rewards.shape[0] - 1, -1, -1):
        ret = rewards[t] + gamma * keep[t] * ret
        out[t] = ret
    return out


@dataclass
class Update:
    """What one update (one window of every lifetime) reports."""

    index: int
    """0-based update index."""
    loss: float
    policy_loss: float
    value_loss: float
    entropy: float
    grad_norm: float
    """Gradient norm before clipping."""
    return_sum: float
    """Sum of the returns of the episodes that ended in this window."""
    episodes: int
    """Episodes that ended in this window."""
    fitness: Tensor | None
    """``[E]`` fitness of each lifetime (reward / episodes begun) if the lifetimes ended with
    this update (at ``lifetime_steps`` or at the end of the budget), else None."""
    seconds: float


@dataclass
class _Lifetime:
    """The lifetimes in flight (never checkpointed: checkpoints fall between lifetimes)."""

    index: int
    generator: torch.Generator
    state: PlasticState
    obs: Tensor  # [E, *obs_shape]
    ep_return: Tensor  # [E]
    total: Tensor  # [E] float64: reward summed over the lifetime
    episodes: Tensor  # [E] float64: episodes ended in the lifetime
    last_done: Tensor  # [E] bool


class BPTTLearner(LearnerCheckpoint):
    """Truncated BPTT (A2C or REINFORCE) over ``agent``'s meta-parameters.

    Args:
        cfg: the ``learner`` section.
        agent: the plastic agent; it is given a value head (so its layout gains ``value``) and
            its ``theta`` shares storage with the learner's parameter from then on.
        env: batched env of ``E`` lifetimes (``env.num_envs``).
        lifetime_steps: ``T``, a multiple of ``cfg.window``.
        updates: the budget in updates (windows); the last lifetime is cut short if it does not
            divide.
        seed: run seed; every random stream derives from it.
        theta0: starting meta-parameters ``[D]`` (default: the layout's init, own stream).
    """

    def __init__(
        self,
        cfg: BPTTConfig,
        agent: PlasticAgent,
        env: BatchedEnv,
        lifetime_steps: int,
        updates: int,
        seed: int,
        theta0: Tensor | None = None,
    ) -> None:
        if lifetime_steps % cfg.window:
            raise ConfigError(
                "lifetime_steps", lifetime_steps, f"a multiple of learner.window = {cfg.window}"
            )
        space = env.single_action_space
        if not isinstance(space, gym.spaces.Discrete | gym.spaces.Box):
            raise ConfigError("learner", "bptt", f"a Discrete or Box action space (got {space})")
        if "value" not in agent.net.layout.shapes:
            agent.with_value_head()
        self.cfg, self.agent, self.env = cfg, agent, env
        self.lifetime_steps, self.updates, self.seed = lifetime_steps, updates, seed
        self.per_lifetime = lifetime_steps // cfg.window
        self.value_scale = 1.0 / max(1.0 - cfg.gamma, 1.0 / lifetime_steps)
        """The value head predicts returns in units of this horizon (reward per step)."""
        self.device = agent.device
        if theta0 is None:
            gen = torch.Generator(device=self.device).manual_seed(derive_seed(seed, "bptt/init"))
            theta0 = agent.net.layout.init(gen, self.device)
        self.theta = theta0.detach().to(self.device, torch.float32).clone().unsqueeze(0)
        self.theta.requires_grad_(True)  # [1, D], the only leaf
        agent.set_theta(self.theta.detach())  # shares storage: follows every Adam step
        self.optimizer = torch.optim.Adam([self.theta], lr=cfg.lr)
        self.update_index = 0
        self.baseline = torch.zeros(cfg.window, device=self.device)  # REINFORCE, [K]
        self.baseline_ready = False
        self._life: _Lifetime | None = None

    # ------------------------------------------------------------------------ lifetimes
    def _start_lifetime(self, r: int) -> _Lifetime:
        e, dev = self.env.num_envs, self.device
        gen = torch.Generator(device=dev).manual_seed(derive_seed(self.seed, "bptt/agent", r))
        with torch.no_grad():
            state = self.agent.net.init_state(self.theta.detach(), e, gen)
        obs, _ = self.env.reset(seed=derive_seed(self.seed, "bptt/env", r))
        z = torch.zeros(e, dtype=torch.float64, device=dev)
        return _Lifetime(
            r,
            gen,
            _detached(state),
            obs,
            torch.zeros(e, device=dev),
            z,
            z.clone(),
            torch.zeros(e, dtype=torch.bool, device=dev),
        )

    def _attach(self, state: PlasticState) -> PlasticState:
        """The window's starting state: ``w0`` as fresh views of the current ``theta``."""
        if not self.agent.spec.meta_init:
            return state
        views = self.agent.net.layout.views(self.theta)
        w0 = [views[f"w{i}"].unsqueeze(1).expand_as(w) for i, w in enumerate(state.w0)]
        return state._replace(w0=w0)

    # ---------------------------------------------------------------------------- policy
    def _policy(self, out: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """Output ``[E, n_out]`` → ``(action, log-prob [E], entropy [E])``; samples from ``gen``.

        Discrete: inverse-CDF sampling (no host sync, and NaN outputs give a NaN loss, caught
        after the window, rather than an error inside the sampler).
        """
        agent = self.agent
        if agent.discrete:
            logp_all = torch.log_softmax(agent.cfg.logit_scale * out, dim=-1)
            probs = logp_all.exp()
            u = torch.rand(out.shape[0], 1, generator=gen, device=out.device)
            cdf = probs.detach().cumsum(-1)
            action = (cdf < u * cdf[:, -1:]).sum(-1).clamp(max=out.shape[-1] - 1)
            logp = logp_all.gather(-1, action.unsqueeze(-1)).squeeze(-1)
            entropy = -(probs * logp_all).sum(-1)
            return action, logp, entropy
        if agent.spec.neuron == "lif":
            dim = out.shape[-1] // 2
            mean = out[:, :dim] - out[:, dim:]
        else:
            mean = out
        mean = mean.clamp(-1.0, 1.0)
        noise = torch.randn(mean.shape, generator=gen, device=out.device)
        x = mean.detach() + BOX_STD * noise
        logp = (
            -0.5 * ((x - mean) / BOX_STD).square() - math.log(BOX_STD) - 0.5 * math.log(2 * math.pi)
        ).sum(-1)
        entropy = torch.full_like(
            logp, mean.shape[-1] * (0.5 + 0.5 * math.log(2 * math.pi) + math.log(BOX_STD))
        )
        action = agent.act_low + (x.clamp(-1.0, 1.0) + 1.0) * 0.5 * (agent.act_high - agent.act_low)
        return action, logp, entropy

    # ---------------------------------------------------------------------------- update
    def step(self) -> Update:
        """One window of every lifetime, then one gradient step on ``theta``."""
        u = self.update_index
        if u >= self.updates:
            raise RuntimeError(f"the budget of {self.updates} updates is spent")
        r, k = divmod(u, self.per_lifetime)
        if k == 0:
            self._life = self._start_lifetime(r)
        life = self._life
        if life is None or life.index != r:
            raise RuntimeError(
                f"update {u} is inside lifetime round {r}, which is not in flight "
                "(checkpoints fall between lifetime rounds only)"
            )
        t0 = time.perf_counter()
        cfg, agent, net, env = self.cfg, self.agent, self.agent.net, self.env
        theta, gen = self.theta, life.generator
        state = self._attach(life.state)
        obs = life.obs
        logps, ents, values, rewards, cuts = [], [], [], [], []
        ret_sum = torch.zeros((), device=self.device)
        n_done = torch.zeros((), device=self.device)
        for _ in range(cfg.window):
            so, state = net.step(theta, state, agent._split(obs.float()), agent.plastic)
            action, logp, ent = self._policy(so.out[0], gen)
            values.append(net.value(theta, so.hidden)[0])
            out = env.step(action)
            state, _, _ = agent.learn(
                state, out.reward, out.terminated, out.truncated, out.info["final_obs"], gen
            )
            logps.append(logp)
            ents.append(ent)
            rewards.append(out.reward.float())
            cuts.append(out.terminated)
            done = out.done
            life.ep_return += out.reward
            life.total += out.reward
            life.episodes += done.to(torch.float64)
            life.last_done = done
            ret_sum += (life.ep_return * done).sum()
            n_done += done.sum()
            life.ep_return = torch.where(done, torch.zeros_like(life.ep_return), life.ep_return)
            obs = out.obs
        life.obs = obs
        rew, cut = torch.stack(rewards), torch.stack(cuts)  # [K, E]
        logp, ent, val = torch.stack(logps), torch.stack(ents), torch.stack(values)
        if cfg.method == "a2c":
            with torch.no_grad():
                so, _ = net.step(theta, state, agent._split(obs.float()), plastic=False)
                v_next = self.value_scale * net.value(theta, so.hidden)[0]
            ret = discounted_returns(rew, cut, v_next, cfg.gamma)
            val = self.value_scale * val
            adv = (ret - val).detach()
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            policy_loss = -(logp * adv).mean()
            value_loss = ((ret - val) / self.value_scale).square().mean()
        else:
            ret = discounted_returns(rew, cut, torch.zeros_like(rew[0]), cfg.gamma)
            policy_loss = -(logp * (ret - self.baseline[:, None])).mean()
            value_loss = torch.zeros((), device=self.device)
            with torch.no_grad():
                mean_ret = ret.mean(dim=1)
                if self.baseline_ready:
                    self.baseline += BASELINE_RATE * (mean_ret - self.baseline)
                else:
                    self.baseline.copy_(mean_ret)
                    self.baseline_ready = True
        entropy = ent.mean()
        loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy
        if not bool(torch.isfinite(loss)):
            raise FloatingPointError(f"non-finite loss at update {u}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_([theta], cfg.grad_clip)
        self.optimizer.step()
        life.state = _detached(state)
        self.update_index += 1
        fitness = None
        if k == self.per_lifetime - 1 or self.update_index == self.updates:
            fitness = (life.total / (life.episodes + (~life.last_done).to(torch.float64))).float()
            self._life = None
        return Update(
            u,
            loss.item(),
            policy_loss.item(),
            value_loss.item(),
            entropy.item(),
            float(grad_norm),
            float(ret_sum),
            int(n_done),
            fitness,
            time.perf_counter() - t0,
        )

    @property
    def at_lifetime_boundary(self) -> bool:
        """True between lifetime rounds (where a checkpoint is complete)."""
        return self._life is None

    # ----------------------------------------------------------------------- checkpoints
    def state_tree(self) -> dict[str, Any]:
        """Everything needed to resume between lifetime rounds (``weights_only``-safe)."""
        if not self.at_lifetime_boundary:
            raise RuntimeError("checkpoints are written between lifetime rounds only")
        return {
            "update": self.update_index,
            "theta": self.theta.detach().cpu().clone(),
            "optimizer": self.optimizer.state_dict(),
            "baseline": self.baseline.cpu(),
            "baseline_ready": self.baseline_ready,
        }

    def load_state_tree(self, tree: dict[str, Any]) -> None:
        """Restore :meth:`state_tree` (same config)."""
        with torch.no_grad():
            self.theta.copy_(tree["theta"].to(self.device))
        self.optimizer.load_state_dict(tree["optimizer"])
        self.baseline = tree["baseline"].to(self.device)
        self.baseline_ready = bool(tree["baseline_ready"])
        self.update_index = int(tree["update"])
        self._life = None


def _detached(state: PlasticState) -> PlasticState:
    """Every tensor of ``state`` cut from the graph (the truncation of truncated BPTT)."""
    return PlasticState(
        *[[t.detach() for t in f] if isinstance(f, list) else f.detach() for f in state]
    )


def checkpoint_due(learner: BPTTLearner) -> bool:
    """Whether a checkpoint falls after the update just done.

    ``checkpoint_every`` updates, rounded up to whole lifetime rounds, and the end of the budget.
    """
    u = learner.update_index
    if u == learner.updates:
        return True
    if not learner.at_lifetime_boundary:
        return False
    rounds_every = math.ceil(learner.cfg.checkpoint_every / learner.per_lifetime)
    return (u // learner.per_lifetime) % rounds_every == 0


def run_bptt(
    learner: BPTTLearner,
    checkpoint: Path | None,
    on_update: Callable[[Update], None] | None = None,
    stop_after: int | None = None,
    extra: dict[str, Any] | None = None,
) -> BPTTLearner:
    """Run updates until the budget is spent (from wherever the learner stands).

    ``stop_after`` simulates a crash after that many updates (tests). ``extra`` is stored beside
    the learner state (the run's config hash).
    """
    while learner.update_index < learner.updates:
        rec = learner.step()
        if on_update is not None:
            on_update(rec)
        if checkpoint is not None and checkpoint_due(learner):
            learner.save(checkpoint, extra)
        if stop_after is not None and learner.update_index >= stop_after:
            break
    return learner


class _Recorder:
    """Aggregates updates into metrics records (file, W&B, progress bar).

    A record closes every ``every`` updates, at every lifetime round's end and at the end of the
    budget; checkpoints fall on record boundaries, so a resumed run logs the same records.
    """

    def __init__(
        self,
        rd: RunDir,
        mirror: Any,
        bar: Any,
        per_update: int,
        every: int,
        per_lifetime: int,
        updates: int,
    ) -> None:
        self.rd, self.mirror, self.bar = rd, mirror, bar
        self.per_update, self.every = per_update, every
        self.per_lifetime, self.updates = per_lifetime, updates
        self.last: dict[str, Any] = {}
        self._reset()

    def _reset(self) -> None:
        self.n = 0
        self.sums = {
            "loss": 0.0,
            "policy_loss": 0.0,
            "value_loss": 0.0,
            "entropy": 0.0,
            "grad_norm": 0.0,
        }
        self.ret_sum, self.episodes, self.seconds = 0.0, 0, 0.0
        self.fitness: list[float] = []

    def __call__(self, rec: Update) -> None:
        self.n += 1
        for k in self.sums:
            self.sums[k] += getattr(rec, k)
        self.ret_sum += rec.return_sum
        self.episodes += rec.episodes
        self.seconds += rec.seconds
        if rec.fitness is not None:
            self.fitness += rec.fitness.tolist()
        if self.bar is not None:
            self.bar.update(self.per_update)
        u = rec.index + 1
        if not (u % self.every == 0 or u % self.per_lifetime == 0 or u == self.updates):
            return
        full: dict[str, Any] = {
            "step": u * self.per_update,
            "train/update": u,
            **{f"train/{k}": v / self.n for k, v in self.sums.items()},
            "train/episodes": self.episodes,
            "train/episode_return": (self.ret_sum / self.episodes if self.episodes else None),
        }
        if self.fitness:
            full["train/fitness_mean"] = sum(self.fitness) / len(self.fitness)
            full["train/fitness_max"] = max(self.fitness)
            full["train/fitness_min"] = min(self.fitness)
        full["perf/sps"] = self.n * self.per_update / max(self.seconds, 1e-9)
        self.rd.log(full)
        if self.mirror is not None:
            self.mirror.log(full)
        if self.bar is not None:
            ret = full["train/episode_return"]
            self.bar.set_postfix(
                update=u,
                ret="-" if ret is None else f"{ret:.1f}",
                loss=f"{full['train/loss']:.3g}",
                refresh=False,
            )
        self.last.update({k: v for k, v in full.items() if v is not None})
        self._reset()


def train_bptt(
    c: TrainConfig,
    agent: PlasticAgent,
    env: BatchedEnv,
    rd: RunDir,
    mirror: Any,
    bar: Any,
    cfg_hash: str,
) -> tuple[Tensor, int, dict[str, Any]]:
    """``snnrl train learner=bptt``: resume or start, train, return ``(theta [D], steps, metrics)``.

    Resumes from ``rd.path / "learner_state.pt"`` when it exists and was written by the same
    config (else a :class:`ConfigError`), truncating ``metrics.jsonl`` back to it.

    ``metrics.jsonl`` gets one record every ``train.log_every // learner.window`` updates and at
    every lifetime round's end, with ``step`` = env steps so far: the means over those updates of
    ``train/loss``, ``train/policy_loss``, ``train/value_loss``, ``train/entropy`` and
    ``train/grad_norm`` (before clipping); ``train/episode_return``, the mean return of the
    episodes that ended since the previous record (null if none), and ``train/episodes``; at a
    round's end ``train/fitness_mean`` / ``_max`` / ``_min`` over its lifetimes (reward / episodes
    begun, with the stochastic training policy); ``perf/sps``.

    Raises:
        FloatingPointError: the loss became NaN or infinite (the run is then marked diverged).
    """
    e, window = c.train.num_envs, c.learner.window
    if env.num_envs != e:
        raise ValueError(f"env has {env.num_envs} envs; expected train.num_envs = {e}")
    per_update = e * window
    updates = c.train.env_steps // per_update
    learner = BPTTLearner(c.learner, agent, env, c.lifetime_steps, updates, c.seed)
    ckpt = rd.path / "learner_state.pt"
    if ckpt.is_file():
        tree = learner.load(ckpt)
        if tree.get("config_hash") != cfg_hash:
            raise ConfigError(
                str(ckpt),
                tree.get("config_hash"),
                f"a learner state written by this config (hash {cfg_hash}); "
                "use a fresh hydra.run.dir",
            )
        rd.truncate_metrics(learner.update_index * per_update)
        if bar is not None:
            bar.update(learner.update_index * per_update)
    else:
        rd.reset_metrics()
    every = max(1, c.train.log_every // window)
    recorder = _Recorder(rd, mirror, bar, per_update, every, learner.per_lifetime, updates)
    run_bptt(learner, ckpt, recorder, extra={"config_hash": cfg_hash})
    last = recorder.last
    metrics = {
        "train/updates": learner.update_index,
        "train/lifetime_rounds": math.ceil(learner.update_index / learner.per_lifetime),
        "train/fitness_mean_last_lifetime": last.get("train/fitness_mean"),
        "train/loss_last": last.get("train/loss"),
    }
    return learner.theta.detach()[0].clone(), learner.update_index * per_update, metrics
