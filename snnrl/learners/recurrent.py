r"""Recurrent actor-critic learners of our own: A2C and PPO with backpropagation through time.

**Why not Stable-Baselines3.** SB3-contrib's ``RecurrentPPO`` stores an LSTM's ``(h, c)`` per
step and nothing else; STPN's fast weights :math:`F` ``[B, H, n]`` and a spiking cell's membranes
and traces are other state, and BPTT through the plastic update needs the whole sequence re-run.
So these learners store each rollout's *initial* state (per env) and the episode-start masks, and
recompute the sequence from it (:mod:`snnrl.networks.recurrent`: any cell, one interface).

**Rollouts.** ``num_envs`` envs (:math:`E`) run ``n_steps`` (:math:`K`) steps per update. Where
an observation is an episode's first (same-step autoreset), the cell state is reset to its initial
value by mask before the step. Advantages are GAE (Schulman et al. 2016, arXiv 1506.02438):

.. math::
    \delta_t = r_t + \gamma\,\big[(1 - d_t)\,V_{t+1} + \tau_t\,V(o^{final}_t)\big] - V_t, \qquad
    A_t = \delta_t + \gamma\lambda\,(1 - d_t)\,A_{t+1},

with :math:`d_t` = the episode ended at step :math:`t` (terminated or truncated),
:math:`\tau_t` = it was truncated (a time limit: the final observation's value, computed with the
post-step state and no gradient, bootstraps the return), :math:`V_{K}` the value of the
observation after the rollout, and returns :math:`R_t = A_t + V_t`. ``gae_lambda=1`` gives the
plain :math:`n`-step returns of A2C.

**A2C** (Mnih et al. 2016, arXiv 1602.01783; the STPN paper's maze and Atari learner). The
rollout is run with gradients; one Adam step on

.. math::
    L = -\frac{1}{KE}\sum \log\pi(a_t|h_t)\,A_t + c_v \frac{1}{KE}\sum (R_t - V_t)^2
        - c_H \frac{1}{KE}\sum \mathcal{H}(\pi(\cdot|h_t))

(:math:`A_t, R_t` detached), gradient-norm clipping, then the state is detached: truncated BPTT
over :math:`K` steps (with :math:`K` = the maze's 200-step episode, whole-episode BPTT as in the
paper).

**PPO** (Schulman et al. 2017, arXiv 1707.06347; continuous control). The rollout is collected
without gradients, keeping each env's initial state. Then ``n_epochs`` passes over minibatches
**split by env**: a minibatch is a subset of envs with their whole :math:`K`-step sequence, re-run
from the stored initial state with the stored episode-start masks, so the recomputed
log-probabilities equal the rollout's before the first step, up to float rounding (tested).
Loss: the clipped surrogate with ratio :math:`\rho_t = \pi/\pi_{old}`, per-minibatch normalised
advantages, plus :math:`c_v` × value MSE, minus :math:`c_H` × entropy.

**Policies.** Discrete: categorical over the logits, sampled by inverse CDF from the learner's
generator. Box: Gaussian with a state-independent log std around the head's mean, in ``[-1, 1]``
units mapped affinely onto the action bounds after clipping (the log-probability is the
unclipped sample's).

Determinism: the network is initialised from ``seed``, actions come from a generator derived
from it and the env is reset with a derived seed, so a run is reproducible on one device.
A non-finite loss raises ``FloatingPointError`` (the runner marks the run diverged).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from snnrl.envs.protocol import BatchedEnv
from snnrl.networks.recurrent import RecurrentPolicyNet, reset_state
from snnrl.seeding import derive_seed


@dataclass
class RecurrentLearnerConfig:
    """Hyper-parameters of :class:`RecurrentActorCritic` (from the agent's config)."""

    algo: str = "a2c"
    lr: float = 1e-3
    gamma: float = 0.99
    gae_lambda: float = 1.0
    n_steps: int = 200
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    value_scale: float = 1.0
    """The value head predicts returns in units of this (V = value_scale * head output), and the
    value loss is taken in those units: with a policy and value sharing one recurrent cell, a
    dense reward makes returns of order 1/(1 - gamma), and an unscaled value loss then drives
    the shared cell so hard that the policy does not learn (cart-pole; tested)."""
    grad_clip: float = 4.0
    n_epochs: int = 4
    minibatches: int = 4
    clip_range: float = 0.2


def gae(
    rewards: Tensor, values: Tensor, done: Tensor, trunc_values: Tensor, gamma: float, lam: float
) -> Tensor:
    """Advantages ``[K, E]`` (module doc); returns are ``adv + values[:-1]``.

    Args:
        rewards: ``[K, E]``.
        values: ``[K+1, E]``: the value of each step's observation, the last one the value of
            the observation after the rollout (the bootstrap of unfinished episodes).
        done: ``[K, E]`` bool: the episode ended at this step (terminated or truncated).
        trunc_values: ``[K, E]``: the value of the final observation where the step truncated
            without terminating, 0 elsewhere.
        gamma: discount.
        lam: GAE's lambda (1: n-step returns, 0: one-step TD errors).

    >>> r = torch.tensor([[1.0], [1.0]]); v = torch.tensor([[0.0], [0.0], [2.0]])
    >>> gae(r, v, torch.tensor([[False], [False]]), torch.zeros(2, 1), 0.5, 1.0)
    tensor([[2.],
            [2.]])
    """
    k = rewards.shape[0]
    keep = (~done).to(rewards.dtype)
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[0])
    for t in range(k - 1, -1, -1):
        delta = rewards[t] + gamma * (keep[t] * values[t + 1] + trunc_values[t]) - values[t]
        last = delta + gamma * lam * keep[t] * last
        adv[t] = last
    return adv


class RecurrentActorCritic:
    """A2C or PPO over a :class:`RecurrentPolicyNet` on a batched env (module doc)."""

    def __init__(
        self,
        cfg: RecurrentLearnerConfig,
        net: RecurrentPolicyNet,
        env: BatchedEnv,
        seed: int,
        act_low: Tensor | None = None,
        act_high: Tensor | None = None,
    ) -> None:
        self.cfg, self.net, self.env = cfg, net, env
        self.device = next(net.parameters()).device
        self.opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        self.gen = torch.Generator(device=self.device).manual_seed(
            derive_seed(seed, "recurrent/actions")
        )
        self.act_low, self.act_high = act_low, act_high
        self.obs, _ = env.reset(seed=derive_seed(seed, "train/env"))
        e = env.num_envs
        self.start = torch.ones(e, dtype=torch.bool, device=self.device)
        self.initial = net.initial_state(e, self.device)
        self.state = self.initial
        self.ep_return = torch.zeros(e, dtype=torch.float64, device=self.device)
        self.steps = 0

    # ------------------------------------------------------------------------------- policy
    def _sample(self, out: Tensor) -> Tensor:
        if not self.net.box:
            probs = torch.softmax(out.detach(), dim=-1)
            u = torch.rand(out.shape[0], 1, generator=self.gen, device=out.device)
            cdf = probs.cumsum(-1)
            return (cdf < u * cdf[:, -1:]).sum(-1).clamp(max=out.shape[-1] - 1)
        noise = torch.randn(out.shape, generator=self.gen, device=out.device)
        return out.detach() + self.net.log_std.detach().exp() * noise

    def _logp_entropy(self, out: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        if not self.net.box:
            logp_all = torch.log_softmax(out, dim=-1)
            logp = logp_all.gather(-1, action.long().unsqueeze(-1)).squeeze(-1)
            return logp, -(logp_all.exp() * logp_all).sum(-1)
        log_std = self.net.log_std.expand_as(out)
        logp = (
            -0.5 * ((action - out) / log_std.exp()).square() - log_std - 0.5 * math.log(2 * math.pi)
        ).sum(-1)
        return logp, (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum(-1)

    def env_action(self, action: Tensor) -> Tensor:
        """Sampled action → what the env takes (Box: clip to [-1, 1], map onto the bounds)."""
        if not self.net.box:
            return action
        assert self.act_low is not None and self.act_high is not None
        return self.act_low + (action.clamp(-1, 1) + 1) * 0.5 * (self.act_high - self.act_low)

    # ------------------------------------------------------------------------------ rollout
    def rollout(self, grad: bool) -> dict[str, Any]:
        """``n_steps`` steps of every env, with or without the autograd graph.

        Returns:
            Time-major ``[K, E]`` tensors ``obs`` (``[K, E, *obs_shape]``), ``action``, ``logp``,
            ``entropy``, ``value``, ``reward``, ``done``, ``start`` (the step's observation is
            an episode's first: the state was reset before it), ``trunc_value``; ``v_last``
            ``[E]``; ``state0`` (each env's state before the rollout, detached); ``ended``
            (returns of the episodes that ended).
        """
        k, net = self.cfg.n_steps, self.net
        state0 = tuple(s.detach() for s in self.state)
        state, obs, start = state0, self.obs, self.start
        keys = (
            "obs",
            "action",
            "logp",
            "entropy",
            "value",
            "reward",
            "done",
            "start",
            "trunc_value",
        )
        buf: dict[str, list[Tensor]] = {key: [] for key in keys}
        ended: list[Tensor] = []
        with torch.set_grad_enabled(grad):
            for _ in range(k):
                state = reset_state(state, self.initial, start)
                out, value, state = net(obs, state)
                value = value * self.cfg.value_scale
                action = self._sample(out)
                logp, ent = self._logp_entropy(out, action)
                step = self.env.step(self.env_action(action))
                tv = torch.zeros_like(step.reward)
                if bool(step.truncated.any()):
                    with torch.no_grad():
                        _, v_final, _ = net(
                            step.info["final_obs"], tuple(s.detach() for s in state)
                        )
                    tv = torch.where(step.truncated & ~step.terminated,
                                     v_final * self.cfg.value_scale, tv)
                done = step.terminated | step.truncated
                self.ep_return += step.reward.to(torch.float64)
                ended.append(self.ep_return[done].clone())
                self.ep_return = torch.where(done, torch.zeros_like(self.ep_return), self.ep_return)
                for key, val in zip(
                    keys,
                    (obs, action, logp, ent, value, step.reward.float(), done, start, tv),
                    strict=True,
                ):
                    buf[key].append(val)
                obs, start = step.obs, done
            with torch.no_grad():
                s_last = reset_state(tuple(s.detach() for s in state), self.initial, start)
                _, v_last, _ = net(obs, s_last)
                v_last = v_last * self.cfg.value_scale
        self.obs, self.start = obs, start
        self.state = tuple(s.detach() for s in state)
        self.steps += k * self.env.num_envs
        roll = {key: torch.stack(v) for key, v in buf.items()}
        roll["v_last"] = v_last
        roll["state0"] = state0
        roll["ended"] = torch.cat(ended) if ended else torch.zeros(0)
        return roll

    def advantages(self, roll: dict[str, Any]) -> Tensor:
        """GAE advantages ``[K, E]`` of a :meth:`rollout` (no gradient)."""
        values = torch.cat([roll["value"].detach(), roll["v_last"].unsqueeze(0)])
        return gae(
            roll["reward"],
            values,
            roll["done"],
            roll["trunc_value"].detach(),
            self.cfg.gamma,
            self.cfg.gae_lambda,
        )

    def _step_optimizer(self, loss: Tensor) -> float:
        if not bool(torch.isfinite(loss)):
            raise FloatingPointError(f"non-finite loss after {self.steps} env steps")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.grad_clip)
        if not bool(torch.isfinite(norm)):
            raise FloatingPointError(f"non-finite gradient after {self.steps} env steps")
        self.opt.step()
        return float(norm)

    def update(self) -> dict[str, Any]:
        """One rollout and its update; returns the update's statistics."""
        cfg = self.cfg
        if cfg.algo == "a2c":
            roll = self.rollout(grad=True)
            adv = self.advantages(roll)
            ret = adv + roll["value"].detach()
            pl = -(roll["logp"] * adv).mean()
            vl = ((ret - roll["value"]) / self.cfg.value_scale).square().mean()
            ent = roll["entropy"].mean()
            loss = pl + cfg.value_coef * vl - cfg.entropy_coef * ent
            norm = self._step_optimizer(loss)
            stats = {
                "loss": loss.item(),
                "policy_loss": pl.item(),
                "value_loss": vl.item(),
                "entropy": ent.item(),
                "grad_norm": norm,
            }
        else:
            roll = self.rollout(grad=False)
            stats = self._ppo_epochs(roll)
        stats["ended"] = roll["ended"]
        return stats

    def sequence(self, roll: dict[str, Any], envs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Re-run the rollout of ``envs`` from its stored initial state and episode-start masks.

        Returns:
            ``(logp, entropy, value)``, each ``[K, len(envs)]``.
        """
        state = tuple(s[envs] for s in roll["state0"])
        init = tuple(s[envs] for s in self.initial)
        logps, ents, vals = [], [], []
        for t in range(roll["obs"].shape[0]):
            state = reset_state(state, init, roll["start"][t, envs])
            out, value, state = self.net(roll["obs"][t, envs], state)
            value = value * self.cfg.value_scale
            logp, ent = self._logp_entropy(out, roll["action"][t, envs])
            logps.append(logp)
            ents.append(ent)
            vals.append(value)
        return torch.stack(logps), torch.stack(ents), torch.stack(vals)

    def _ppo_epochs(self, roll: dict[str, Any]) -> dict[str, Any]:
        cfg = self.cfg
        adv_all = self.advantages(roll)
        ret_all = adv_all + roll["value"]
        e = self.env.num_envs
        n_mb = min(cfg.minibatches, e)
        sums = {
            "loss": 0.0,
            "policy_loss": 0.0,
            "value_loss": 0.0,
            "entropy": 0.0,
            "grad_norm": 0.0,
            "clip_fraction": 0.0,
        }
        n = 0
        for _ in range(cfg.n_epochs):
            perm = torch.randperm(e, generator=self.gen, device=self.device)
            for envs in perm.chunk(n_mb):
                logp, ent, val = self.sequence(roll, envs)
                adv = adv_all[:, envs]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                ratio = (logp - roll["logp"][:, envs]).exp()
                pl = -torch.min(
                    ratio * adv, ratio.clamp(1 - cfg.clip_range, 1 + cfg.clip_range) * adv
                ).mean()
                vl = ((ret_all[:, envs] - val) / self.cfg.value_scale).square().mean()
                en = ent.mean()
                loss = pl + cfg.value_coef * vl - cfg.entropy_coef * en
                sums["grad_norm"] += self._step_optimizer(loss)
                sums["loss"] += loss.item()
                sums["policy_loss"] += pl.item()
                sums["value_loss"] += vl.item()
                sums["entropy"] += en.item()
                sums["clip_fraction"] += float(((ratio - 1).abs() > cfg.clip_range).float().mean())
                n += 1
        return {k: v / max(n, 1) for k, v in sums.items()}

    def train(self, total_steps: int, log: Callable[[dict[str, Any]], None], log_every: int) -> int:
        """Update until ``total_steps`` env steps are done.

        One record per ``log_every`` steps of each env (and one at the end).

        Returns:
            The env steps done.
        """
        per_update = self.cfg.n_steps * self.env.num_envs
        every = max(1, log_every // self.cfg.n_steps)
        updates = max(1, math.ceil(total_steps / per_update))
        acc: dict[str, float] = {}
        ended: list[Tensor] = []
        n, t0 = 0, time.perf_counter()
        for u in range(updates):
            st = self.update()
            ended.append(st.pop("ended"))
            for k, v in st.items():
                acc[k] = acc.get(k, 0.0) + v
            n += 1
            if (u + 1) % every == 0 or u + 1 == updates:
                done = torch.cat(ended)
                now = time.perf_counter()
                rec = {
                    "step": self.steps,
                    "train/episode_return": float(done.mean()) if done.numel() else None,
                    "train/episodes": int(done.numel()),
                    **{f"train/{k}": v / n for k, v in acc.items()},
                    "perf/sps": n * per_update / max(now - t0, 1e-9),
                }
                log(rec)
                acc, ended, n, t0 = {}, [], 0, now
        return self.steps
