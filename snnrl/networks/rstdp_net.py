r"""A one-layer spiking actor with R-STDP synapses and a local TD critic (an actor-critic).

Structure (a simplified Frémaux, Sprekeler & Gerstner 2013, PLoS Comput. Biol. 9:e1003024
spiking actor-critic, without backprop anywhere):

- encoder: Gaussian receptive fields over each observation dimension, plus one bias input,
  turned into Bernoulli spike trains over the ``K = ticks_per_step`` ticks of an env step;
- actor: ``n_actions`` groups of ``group_size`` current-based LIF neurons, all-to-all plastic
  synapses ``w [B, post, pre]`` from the encoder, lateral inhibition between groups
  (:math:`I_{a} \mathrel{-}= w_{inh} \cdot \text{spikes of the other groups in the previous tick}`);
  the action is the group with most spikes in the step (ties broken by membrane potential);
- critic: a linear readout of the encoder's rates, :math:`V(s) = u^\top r(s)`, learned by the
  local TD(0) rule :math:`\Delta u = \eta_V\, \delta\, r(s)`;
- modulator: the TD error :math:`\delta = r + \gamma (1 - \text{term}) V(s') - V(s)` (bootstrapping
  on the final observation at truncation), delivered to every actor synapse as the third factor
  of R-STDP (:mod:`snnrl.plasticity.rstdp`): :math:`\Delta w = \eta\, \delta\, e`, then
  :math:`w \leftarrow \text{clip}(w, -w_{max}, w_{max})`.

Everything is batched over ``B`` independent lifetimes. Neuron state, traces and eligibility are
reset by mask at each episode's start; ``w`` and ``u`` persist for the lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from snnrl.encoding import GaussianPopulation, bernoulli_spikes, group_sum
from snnrl.neurons import LIFParams, LIFState, lif_init, lif_propagator, lif_tick
from snnrl.plasticity import (
    RSTDPParams,
    RSTDPState,
    STDPParams,
    rstdp_dw,
    rstdp_eligibility_window,
    rstdp_init,
)


@dataclass(frozen=True)
class RSTDPNetConfig:
    """Sizes and constants of :class:`RSTDPNetwork` (see ``conf/agent/rstdp.yaml``)."""

    obs_low: tuple[float, ...]
    obs_high: tuple[float, ...]
    n_actions: int
    n_per_dim: int = 15
    rf_width: float = 0.5
    group_size: int = 10
    ticks_per_step: int = 8
    dt: float = 1e-3
    p_max: float = 0.5
    tau_mem: float = 20e-3
    tau_syn: float = 5e-3
    v_th: float = 1.0
    tau_plus: float = 20e-3
    tau_minus: float = 20e-3
    a_plus: float = 1.0
    a_minus: float = 1.0
    tau_e: float = 0.2
    w_init: float = 0.3
    w_max: float = 1.0
    w_inh: float = 0.3
    lr: float = 1e-3
    critic_lr: float = 1e-2
    gamma: float = 0.95
    plasticity: bool = True


class RSTDPNetState(NamedTuple):
    """Everything that changes during a lifetime."""

    w: Tensor  # [B, post, pre] plastic actor weights (persist across episodes)
    u: Tensor  # [B, pre] critic weights (persist across episodes)
    lif: LIFState  # [B, post] each
    z_prev: Tensor  # [B, post] spikes of the last tick (for lateral inhibition)
    rule: RSTDPState  # traces [B, pre], [B, post]; eligibility [B, post, pre]
    rates: Tensor  # [B, pre] encoder rates of the observation acted on
    value: Tensor  # [B] critic value of that observation


class StepStats(NamedTuple):
    """Per-step quantities the runner logs and the energy model will read."""

    in_spikes: Tensor  # [B] input spikes this step
    out_spikes: Tensor  # [B] output spikes this step


class RSTDPNetwork:
    """Batched R-STDP actor-critic; one :meth:`act` call = one env step = ``K`` ticks."""

    def __init__(self, cfg: RSTDPNetConfig, device: torch.device | str = "cpu") -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.encoder = GaussianPopulation(
            cfg.obs_low, cfg.obs_high, cfg.n_per_dim, cfg.rf_width, device=self.device
        )
        self.n_pre = self.encoder.size + 1  # + bias input
        self.n_post = cfg.n_actions * cfg.group_size
        self.lif_params = LIFParams(tau_mem=cfg.tau_mem, tau_syn=cfg.tau_syn, v_th=cfg.v_th)
        self.prop = lif_propagator(self.lif_params, cfg.dt)
        self.rule_params = RSTDPParams(
            stdp=STDPParams(cfg.tau_plus, cfg.tau_minus, cfg.a_plus, cfg.a_minus), tau_e=cfg.tau_e
        )
        g = torch.arange(self.n_post, device=self.device) // cfg.group_size
        # inhibition[i, j] = 1 if post neurons i and j belong to different groups
        self.inhibition = (g[:, None] != g[None, :]).float()  # [post, post]

    @property
    def n_synapses(self) -> int:
        """Plastic synapses per lifetime (after encoding): ``post * pre``."""
        return self.n_post * self.n_pre

    def encode(self, obs: Tensor) -> Tensor:
        """Encoder rates with the bias input appended: ``[B, pre]``."""
        r = self.encoder(obs)
        return torch.cat([r, torch.ones_like(r[:, :1])], 1)

    def init_state(self, batch: int, generator: torch.Generator) -> RSTDPNetState:
        """A lifetime's start: random weights, silent neurons, zero traces and critic."""
        c = self.cfg
        w = (
            torch.rand(batch, self.n_post, self.n_pre, generator=generator, device=self.device) * 2
            - 1
        ) * c.w_init
        zeros_post = torch.zeros(batch, self.n_post, device=self.device)
        return RSTDPNetState(
            w=w,
            u=torch.zeros(batch, self.n_pre, device=self.device),
            lif=lif_init(batch, self.n_post, self.lif_params, device=self.device),
            z_prev=zeros_post,
            rule=rstdp_init(batch, self.n_pre, self.n_post, device=self.device),
            rates=torch.zeros(batch, self.n_pre, device=self.device),
            value=torch.zeros(batch, device=self.device),
        )

    def act(
        self, state: RSTDPNetState, obs: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, RSTDPNetState, StepStats]:
        """Run ``K`` ticks on ``obs [B, obs_dim]``; return ``(action [B], state, stats)``."""
        c = self.cfg
        rates = self.encode(obs)  # [B, pre]
        s_pre = bernoulli_spikes(rates, c.ticks_per_step, c.p_max, generator)  # [K, B, pre]
        # all K ticks' synaptic input in one batched matmul: [B, K, pre] @ [B, pre, post]
        drive = torch.bmm(s_pre.transpose(0, 1), state.w.transpose(1, 2)).transpose(0, 1)
        lif, z = state.lif, state.z_prev
        zs = []
        for k in range(c.ticks_per_step):  # loop over time only; [B, post] work
            current = drive[k] - c.w_inh * (z @ self.inhibition)
            z, lif = lif_tick(self.lif_params, lif, current, c.dt, self.prop)
            zs.append(z)
        s_post = torch.stack(zs)  # [K, B, post]
        counts = s_post.sum(0)
        action = (
            group_sum(counts, c.n_actions) + 1e-3 * torch.tanh(group_sum(lif.v, c.n_actions))
        ).argmax(-1)
        rule = state.rule
        if c.plasticity:
            rule = rstdp_eligibility_window(self.rule_params, rule, s_pre, s_post, c.dt)
        value = (state.u * rates).sum(-1)
        new = state._replace(lif=lif, z_prev=z, rule=rule, rates=rates, value=value)
        return action, new, StepStats(s_pre.sum((0, 2)), counts.sum(-1))

    def learn(
        self,
        state: RSTDPNetState,
        reward: Tensor,
        terminated: Tensor,
        truncated: Tensor,
        final_obs: Tensor,
    ) -> tuple[RSTDPNetState, Tensor]:
        """Deliver the TD error of the last step and reset finished episodes by mask.

        Returns ``(state, td_error [B])``.
        """
        c = self.cfg
        if not c.plasticity:
            return self._reset_episodes(state, terminated | truncated), torch.zeros_like(reward)
        v_next = (state.u * self.encode(final_obs)).sum(-1)
        delta = reward + c.gamma * (~terminated).float() * v_next - state.value
        w = (state.w + rstdp_dw(state.rule, delta, c.lr)).clamp_(-c.w_max, c.w_max)
        u = state.u + c.critic_lr * delta[:, None] * state.rates
        state = state._replace(w=w, u=u)
        return self._reset_episodes(state, terminated | truncated), delta

    def _reset_episodes(self, state: RSTDPNetState, done: Tensor) -> RSTDPNetState:
        """Zero per-episode state (neurons, traces, eligibility) where ``done``."""
        if not bool(done.any()):
            return state
        keep = (~done).float()
        k2, k3 = keep[:, None], keep[:, None, None]
        lif = LIFState(v=state.lif.v * k2, i=state.lif.i * k2)
        tr = state.rule.traces
        rule = RSTDPState(
            traces=tr._replace(x_pre=tr.x_pre * k2, x_post=tr.x_post * k2),
            elig=state.rule.elig * k3,
        )
        return state._replace(lif=lif, z_prev=state.z_prev * k2, rule=rule)
