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


@dataclass(kw_only=True)
class RSTDPHyper:
    """The tunable constants of :class:`RSTDPNetwork`, with the tuned defaults.

    One definition serves the network and the agent's config schema
    (:class:`snnrl.agents.rstdp.RSTDPAgentConfig`, ``conf/agent/rstdp.yaml``). Units: seconds,
    volts. Tuned on cart-pole with seeds 0, 100 and 101 (docs/RESULTS.md).
    """

    plasticity: bool = True
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
    tau_e: float = 0.05
    w_init: float = 0.6
    w_max: float = 1.0
    w_inh: float = 0.6
    lr: float = 1e-3
    critic_lr: float = 1e-2
    gamma: float = 0.9
    count_ops: bool = True
    weight_bits: int | None = None


@dataclass(kw_only=True)
class RSTDPNetConfig(RSTDPHyper):
    """Everything :class:`RSTDPNetwork` needs: the hyper-parameters and what the env decides."""

    obs_low: tuple[float, ...]
    obs_high: tuple[float, ...]
    n_actions: int


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
    """Per-step quantities the runner logs and the energy model reads."""

    in_spikes: Tensor  # [B] input spikes this step
    out_spikes: Tensor  # [B] output spikes this step
    counts: dict[str, dict[str, Tensor]]  # layer -> count key -> [B]; empty if not counting


@dataclass(frozen=True)
class LayerInfo:
    """What the energy model's fit check needs to know about one layer."""

    placement: str  # "chip" (spiking core) or "host" (graded pre/post-processing)
    neurons: int  # neurons the layer's synapses feed (0 for host arithmetic)
    fan_in: int  # inputs per neuron
    plastic: bool  # synapses change on chip during a lifetime
    graded: bool  # inputs are graded values (MACs), not spikes


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
    def layers(self) -> dict[str, LayerInfo]:
        """The layers whose operations are counted, with what the fit check needs."""
        c = self.cfg
        return {
            "encoder": LayerInfo("host", 0, len(c.obs_low), False, True),
            "actor": LayerInfo("chip", self.n_post, self.n_pre, c.plasticity, False),
            "actor_lateral": LayerInfo("chip", self.n_post, self.n_post - c.group_size, False,
                                       False),
            "critic": LayerInfo("host", 1, self.n_pre, c.plasticity, True),
        }

    def quantise(self, w: Tensor, generator: torch.Generator | None) -> Tensor:
        """Weights on the chip's grid: ``2^(bits-1) - 1`` levels per sign over ``[0, w_max]``.

        Stochastic rounding (up with probability equal to the remainder) when a generator is
        given, so that plastic updates far smaller than a level still move weights in
        expectation; nearest rounding otherwise.
        """
        bits = self.cfg.weight_bits
        if bits is None:
            return w
        step = self.cfg.w_max / (2 ** (bits - 1) - 1)
        x = w / step
        if generator is None:
            q = torch.round(x)
        else:
            low = torch.floor(x)
            u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            q = low + (u < x - low).to(x.dtype)
        return q * step

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
        w = self.quantise(w, None)
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
        zs, currents = [], []
        for k in range(c.ticks_per_step):  # loop over time only; [B, post] work
            current = drive[k] - c.w_inh * (z @ self.inhibition)
            if c.count_ops:
                currents.append(current)
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
        in_spikes, out_spikes = s_pre.sum((0, 2)), counts.sum(-1)
        # spikes that reached the other groups this step: those of the previous step's last
        # tick and of every tick but the last
        lateral_in = (state.z_prev.sum(-1) + out_spikes - z.sum(-1)) if c.count_ops else None
        ops = (self._count_act(state.w, s_pre, in_spikes, out_spikes, torch.stack(currents),
                               lateral_in) if c.count_ops else {})
        return action, new, StepStats(in_spikes, out_spikes, ops)

    def _count_act(self, w: Tensor, s_pre: Tensor, in_spikes: Tensor, out_spikes: Tensor,
                   currents: Tensor, lateral_in: Tensor) -> dict[str, dict[str, Tensor | float]]:
        """Operation counts of one :meth:`act` (definitions: :mod:`snnrl.networks.counts`).

        Counts that are the same for every lifetime and step are plain numbers, so that
        counting adds only a handful of tensor operations to a step. The input spikes are
        binary, so NeuroBench's ``sum_t sum_j [x_j != 0] nnz_j`` equals
        ``sum_j S_j nnz_j`` with ``S_j`` the input's spike count over the step.
        """
        c = self.cfg
        k, n_pre, n_post = c.ticks_per_step, self.n_pre, self.n_post
        n_syn = n_pre * n_post
        fan_out = n_post - c.group_size
        spike_count = s_pre.sum(0)  # [B, pre]
        w_abs = w.abs()
        # on the CPU, skip the exact per-column count when no weight is zero (the usual case with
        # float weights); on an accelerator, avoid the host sync that test would cost
        if w.device.type == "cpu" and bool(w_abs.amin() > 0):
            ac = in_spikes * n_post
        else:  # exact count of the non-zero weights leaving each input (quantised weights)
            ac = (spike_count * w_abs.sign().sum(1)).sum(-1)
        # STPN's physical proxy (Rodriguez et al. 2022): sum_t sum_j x_j^2 sum_i |w_ij|
        proxy = (spike_count * w_abs.sum(1)).sum(-1)
        driven = (currents != 0).sum((0, 2)).to(w.dtype)
        actor: dict[str, Tensor | float] = {
            "synops_ac": ac, "synops_dense": float(k * n_syn), "spikes": out_spikes,
            "stpn_proxy": proxy, "neuron_updates_driven": driven,
            "neuron_updates_idle": k * n_post - driven, "state_reads": ac, "ticks": float(k)}
        if c.plasticity:
            actor |= {"plasticity_pre": in_spikes * n_post, "plasticity_post": out_spikes * n_pre,
                      "plasticity_tick": float(k * n_syn),
                      "trace_updates": float(k * (n_pre + n_post)),
                      "state_reads": ac + k * n_syn,  # the eligibility is read every tick
                      "state_writes": float(k * n_syn)}  # and written back
        enc = float(len(c.obs_low) * c.n_per_dim)
        return {
            "encoder": {"synops_mac": enc, "synops_dense": enc, "spikes": in_spikes},
            "actor": actor,
            "actor_lateral": {"synops_ac": lateral_in * fan_out,
                              "synops_dense": float(k * n_post * fan_out)},
            "critic": {"synops_mac": float(n_pre), "synops_dense": float(n_pre)},
        }

    def learn(
        self,
        state: RSTDPNetState,
        reward: Tensor,
        terminated: Tensor,
        truncated: Tensor,
        final_obs: Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[RSTDPNetState, Tensor, dict[str, dict[str, float]]]:
        """Deliver the TD error of the last step and reset finished episodes by mask.

        Args:
            state: state after :meth:`act`.
            reward: ``[B]`` reward of the step.
            terminated: ``[B]`` episode ended in a terminal state.
            truncated: ``[B]`` episode cut by the time limit.
            final_obs: ``[B, obs_dim]`` observation the step ended in (before any autoreset).
            generator: random stream for stochastic rounding (only with ``weight_bits``).

        Returns:
            ``(state, td_error [B], op_counts)``; the counts are the same for every lifetime.
        """
        c = self.cfg
        if not c.plasticity:
            zero = torch.zeros_like(reward)
            return self._reset_episodes(state, terminated | truncated), zero, {}
        v_next = (state.u * self.encode(final_obs)).sum(-1)
        delta = reward + c.gamma * (~terminated).float() * v_next - state.value
        w = (state.w + rstdp_dw(state.rule, delta, c.lr)).clamp_(-c.w_max, c.w_max)
        w = self.quantise(w, generator)
        u = state.u + c.critic_lr * delta[:, None] * state.rates
        state = state._replace(w=w, u=u)
        ops: dict[str, dict[str, float]] = {}
        if c.count_ops:
            n_syn, d_obs = self.n_synapses, len(c.obs_low)
            ops = {
                # the weight update reads w and e, writes w (once per env step, unconditional)
                "actor": {"plasticity_step": n_syn, "state_reads": 2 * n_syn,
                          "state_writes": n_syn},
                "encoder": {"synops_mac": d_obs * c.n_per_dim,
                            "synops_dense": d_obs * c.n_per_dim},  # encoding the next obs
                "critic": {"synops_mac": self.n_pre, "synops_dense": self.n_pre,
                           "plasticity_step": self.n_pre},
            }
        return self._reset_episodes(state, terminated | truncated), delta, ops

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
