r"""Plastic feed-forward networks of rate (ANN) or spiking (LIF) units, one rule for both.

A network maps one observation to one action per env step. Every layer is plastic: its
effective weight in a lifetime is

.. math::
    W_t = \mathrm{clip}(W_0 + P_t,\; -c,\; c), \qquad P_0 = 0,\qquad
    P_{t+1} = \mathrm{clip}(W_0 + P_t + \Delta W_t,\; -c,\; c) - W_0,

with ``ΔW`` (times ``rule_scale``) from the layer's rule (:mod:`snnrl.plasticity.hebbian`) on
that step's activity. The same clip ``c`` bounds ANN and SNN weights, so a difference between
them cannot come from weight saturation. Writing the lifetime weight as ``W_0 + P`` (the
Backpropamine form, Miconi et al. 2019) lets truncated backpropagation detach ``P`` between
windows while ``W_0`` keeps its gradient.

Units:

- ``rate``: :math:`a = \tanh(W [x; 1])` (bounded activations, as the control the suite needs).
- ``lif``: discrete-time leaky integrate-and-fire with soft reset,
  :math:`v \leftarrow \beta v + W [s; 1]`, :math:`s = \Theta(v - \vartheta)`,
  :math:`v \leftarrow v - s\vartheta` (the current-free limit of :mod:`snnrl.neurons.lif`;
  snnTorch's ``Leaky``), ``ticks`` ticks per env step, surrogate gradient
  (:func:`snnrl.neurons.surrogate.spike_fn`) for BPTT. The input is a layer of non-leaky
  integrate-and-fire neurons driven by the encoded observation as a constant current: with soft
  reset their firing rate is ``input_gain · x`` spikes per tick (a sigma-delta code), so every
  plastic synapse sees spikes whose rate follows the input linearly.
  Hebbian rules read each neuron's firing rate in the step; STDP reads the spikes.

Input encoding (identical for both): the observation is scaled to ``[-1, 1]`` by the env's
``obs_low``/``obs_high`` and split into positive and negative channels (``2 n_obs`` non-negative
inputs); optionally the previous reward (split likewise, scaled by ``reward_scale``) and a
"previous step ended an episode by failure" flag are appended — a network can only learn from
reward through an input or its modulator.

Every meta-learned quantity lives in one flat vector per candidate, ``theta [P, D]``
(:class:`MetaLayout`): initial weights (unless drawn at random per lifetime: rules-only
meta-learning), rule coefficients per layer or per synapse, the modulator pathway (neuromodulated
rule: ``M_l = tanh(W_m^l [h; r; 1])`` from the last hidden layer and the reward inputs, one value
per postsynaptic neuron) and, for gradient learners, a value head. Lifetime tensors are
``[P, E, ...]``: ``P`` candidates × ``E`` lifetimes each (``B = P·E``), with no loop over either.

Operation counts (``step(..., count=True)``; definitions of :mod:`snnrl.networks.counts`, the
NeuroBench ones plus what NeuroBench cannot see), per lifetime and env step, by layer
(:meth:`PlasticNetwork.layers`). ``K`` is ``ticks`` for LIF units and 1 for rate units; a weight
layer has ``pre`` inputs, ``post`` neurons and ``post·(pre+1)`` plastic synapses (the bias column
included); its bias is a neuron parameter, not a synapse: it is neither a synaptic operation nor
an input in ``fan_in``.

- ``encoder`` (host, graded): scaling and splitting the observation (and reward): one MAC per
  encoded input, ``synops_mac = synops_dense = n_in``. LIF networks: the input layer of
  non-leaky integrate-and-fire neurons is the spike encoder, on the host too: ``spikes`` (input
  spikes in the ``K`` ticks) and ``K·n_in`` neuron updates, *driven* where the neuron's input
  current :math:`g x_j` is non-zero and *idle* otherwise.
- ``layer{i}`` (chip; inputs are spikes for LIF, tanh activities for rate units):

  - LIF: :math:`AC = \sum_t \sum_j [s_j(t) \ne 0]\, nnz(W_{:,j})` (``synops_ac``),
    ``synops_dense`` :math:`= K \cdot pre \cdot post`, ``spikes`` the layer's output spikes,
    ``neuron_updates_driven`` the (tick, neuron) pairs whose input current
    :math:`(W [s; 1])_i` (bias included) is non-zero, ``neuron_updates_idle`` the other
    :math:`K \cdot post - driven`, ``ticks`` :math:`= K`;
  - rate: effective :math:`\sum_j [x_j \ne 0]\, nnz(W_{:,j})`, MACs, or ACs for a lifetime whose
    inputs in that step happen to be all in :math:`\{-1, 0, 1\}` (NeuroBench's test, decided per
    lifetime as :mod:`snnrl.networks.op_counter` does, never for a batch); ``synops_dense``
    :math:`= pre \cdot post`; ``neuron_updates_driven`` :math:`= post` (one tanh each);
    ``ticks`` :math:`= 1`;
  - both: ``state_reads`` = effective synaptic operations (one weight read each) and
    ``stpn_proxy`` :math:`= \sum_t \sum_j x_j^2 \sum_i |W_{ij}|`.

  With plasticity on, the rule changes every synapse once per env step:
  ``plasticity_step`` :math:`= post \cdot (pre+1)` (twice that for ``neuromod``: the eligibility
  :math:`E` and the weight are both updated), ``state_reads`` += the synaptic state the rule reads
  (:math:`w`; and :math:`E` for ``neuromod``), ``state_writes`` the state it writes (the same).
  Hebbian-family rules (hebb, oja, abcd, neuromod) on LIF units read firing rates, i.e. spike
  counts of the step: ``trace_updates`` = the counters' increments, the pre- and postsynaptic
  spikes of the step (the bias input's rate is the constant 1: no counter). ``stdp``: the traces
  of every input (bias included) and neuron decay and add every tick, ``trace_updates``
  :math:`= K (pre + 1 + post)`; the pair term is added to a per-synapse accumulator every tick
  (:func:`~snnrl.plasticity.hebbian.stdp_window_dw`: :math:`\sum_t s_{post}(t) \otimes x_{pre}(t)
  - x_{post}(t) \otimes s_{pre}(t)`, computed densely over all synapses), ``plasticity_tick``
  :math:`= K \cdot post \cdot (pre+1)`, with that accumulator read and written every tick
  (``state_reads``/``state_writes`` += :math:`K \cdot post \cdot (pre+1)`, as R-STDP's
  eligibility); ``plasticity_pre`` / ``plasticity_post`` count, for information, the pair events
  (non-zero presynaptic inputs, the bias every tick, × ``post``; non-zero postsynaptic outputs ×
  ``pre+1``). Rate units run STDP with ``K = 1``.
- ``modulator`` (``neuromod`` with plasticity on; host, graded):
  :math:`M_l = \tanh(W_m^l [h; r; 1])` for every layer ``l``: effective operations
  :math:`\sum_l \sum_j [u_j \ne 0]\, nnz(W^l_{m,:,j})` on the modulator input ``u`` (its bias 1
  included: on the host it is a product like any other), dense :math:`\sum_l post_l \cdot
  n_{mod}`, one weight read per effective operation, ``neuron_updates_driven``
  :math:`= \sum_l post_l`.

Counts that are the same for every lifetime are plain numbers, the others ``[P, E]`` float64
tensors; counting only reads tensors the step computes anyway (with no host sync), so it never
changes an action or a weight (``tests/networks/test_plastic_net.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from snnrl.networks.rstdp_net import LayerInfo
from snnrl.neurons.surrogate import spike_fn
from snnrl.plasticity.hebbian import (
    RULE_COEFFS,
    STDPWindowTraces,
    abcd_dw,
    eligibility_update,
    hebb_dw,
    neuromod_dw,
    oja_dw,
    stdp_window_dw,
)

NEURONS = ("rate", "lif")

Counts = dict[str, dict[str, Tensor | float]]
"""Operation counts of one env step: layer → count key → ``[P, E]`` tensor or number."""


@dataclass(frozen=True)
class PlasticNetSpec:
    """Structure of a plastic network (everything that is not meta-learned)."""

    n_obs: int
    n_out: int
    hidden: tuple[int, ...] = (32,)
    neuron: str = "rate"
    rule: str = "abcd"
    coeffs: str = "layer"
    """``layer``: one value of each rule coefficient per layer; ``synapse``: one per synapse."""
    meta_init: bool = True
    """True: initial weights are meta-learned; False: drawn at random at each lifetime's start."""
    init_gain: float = 0.5
    """Initial weights ~ N(0, (init_gain / sqrt(fan_in))^2)."""
    w_clip: float = 1.0
    ticks: int = 8
    beta: float = 0.8
    """LIF leak per tick, exp(-dt / tau_mem)."""
    v_th: float = 1.0
    input_gain: float = 1.0
    """Current into the input layer per unit of encoded observation (1: an input of 1 fires
    every tick)."""
    trace_decay: float = 0.8
    """STDP trace decay per tick (per env step for rate units)."""
    feed_reward: bool = True
    reward_scale: float = 1.0
    rule_scale: float = 0.01
    """Every rule's weight change is multiplied by this, so meta-parameters of order 1 (the scale
    one ES sigma explores) mean per-step changes of order 0.01, not weights saturated at once."""
    value_head: bool = False

    @property
    def n_in(self) -> int:
        """Inputs after encoding: split observation (+ split reward and failure flag)."""
        return 2 * self.n_obs + (3 if self.feed_reward else 0)

    @property
    def sizes(self) -> list[int]:
        """Units per layer, input first."""
        return [self.n_in, *self.hidden, self.n_out]

    @property
    def n_mod_in(self) -> int:
        """Inputs of the modulator pathway: last hidden layer + reward channels + bias."""
        return self.sizes[-2] + (3 if self.feed_reward else 0) + 1

    @property
    def n_synapses(self) -> int:
        """Plastic synapses (bias weights included)."""
        s = self.sizes
        return sum(s[i + 1] * (s[i] + 1) for i in range(len(s) - 1))


class MetaLayout:
    """Names, shapes and offsets of the meta-parameters inside a flat vector ``theta [P, D]``."""

    def __init__(self, spec: PlasticNetSpec) -> None:
        self.spec = spec
        s = spec.sizes
        shapes: dict[str, tuple[int, ...]] = {}
        for lyr in range(len(s) - 1):
            syn = (s[lyr + 1], s[lyr] + 1)
            if spec.meta_init:
                shapes[f"w{lyr}"] = syn
            for c in RULE_COEFFS[spec.rule]:
                shapes[f"{c}{lyr}"] = syn if spec.coeffs == "synapse" else (1, 1)
            if spec.rule == "neuromod":
                shapes[f"m{lyr}"] = (s[lyr + 1], spec.n_mod_in)
        if spec.value_head:
            shapes["value"] = (1, s[-2] + 1)
        self.shapes = shapes
        self.offsets: dict[str, tuple[int, int]] = {}
        o = 0
        for k, shp in shapes.items():
            n = math.prod(shp)
            self.offsets[k] = (o, o + n)
            o += n
        self.size = o

    def views(self, theta: Tensor) -> dict[str, Tensor]:
        """``theta [P, D]`` → name → ``[P, *shape]`` views (no copy)."""
        return {k: theta[:, a:b].reshape(theta.shape[0], *self.shapes[k])
                for k, (a, b) in self.offsets.items()}

    def init(self, generator: torch.Generator, device: torch.device | str = "cpu") -> Tensor:
        """A starting point ``[D]``: random initial weights, every rule switched off.

        Rule coefficients start where the weight change is zero but first-order sensitive
        (``eta``/``alpha`` or the ABCD terms at 0), so an outer learner starts from the
        non-plastic network and turns plasticity on only where it pays.
        """
        spec = self.spec
        theta = torch.zeros(self.size, device=device)
        s = spec.sizes
        for k, (a, b) in self.offsets.items():
            name, lyr = k.rstrip("0123456789"), k[len(k.rstrip("0123456789")):]
            shp = self.shapes[k]
            if name == "w":
                fan_in = s[int(lyr)] + 1
                theta[a:b] = (torch.randn(b - a, generator=generator, device=device)
                              * spec.init_gain / math.sqrt(fan_in))
            elif name in ("m", "value"):
                theta[a:b] = (torch.randn(b - a, generator=generator, device=device)
                              * 0.1 / math.sqrt(shp[-1]))
            elif name == "eta_e":
                theta[a:b] = 0.1
            elif name in ("a_plus", "a_minus"):
                theta[a:b] = 1.0
            elif name == "eta" and spec.rule == "abcd":
                theta[a:b] = 1.0
            # eta (hebb/oja/stdp), alpha and a, b, c, d start at 0
        return theta


class PlasticState(NamedTuple):
    """Per-lifetime state, every tensor ``[P, E, ...]``."""

    w0: list[Tensor]
    """Initial weights of each layer (a broadcast view of theta when meta-learned)."""
    p: list[Tensor]
    """Plastic displacement of each layer: lifetime weight = clip(w0 + p)."""
    e: list[Tensor]
    """Eligibility traces (neuromodulated rule), else empty."""
    x_pre: list[Tensor]
    """STDP presynaptic traces, else empty."""
    x_post: list[Tensor]
    """STDP postsynaptic traces, else empty."""
    v: list[Tensor]
    """LIF membranes, input layer first (empty for rate units)."""
    prev_reward: Tensor
    prev_fail: Tensor


class StepOut(NamedTuple):
    """What one network step gives back besides the new state."""

    out: Tensor
    """Output activity ``[P, E, n_out]`` (tanh, or firing rate + 1e-3 · membrane tie-break)."""
    hidden: Tensor
    """Activity of the last hidden layer ``[P, E, n]`` (value head, modulator)."""
    rates: list[Tensor]
    """Activity of every layer after the input (for firing-rate health)."""
    counts: Counts | None = None
    """Operation counts of the step (module doc), only when :meth:`PlasticNetwork.step` is asked
    for them."""


class PlasticNetwork:
    """Functional plastic network: ``step(theta, state, obs) -> (StepOut, state)``."""

    def __init__(self, spec: PlasticNetSpec, obs_low: Tensor, obs_high: Tensor) -> None:
        if spec.neuron not in NEURONS:
            raise ValueError(f"neuron={spec.neuron!r}: expected one of {NEURONS}")
        if spec.rule not in RULE_COEFFS:
            raise ValueError(f"rule={spec.rule!r}: expected one of {sorted(RULE_COEFFS)}")
        if spec.coeffs not in ("layer", "synapse"):
            raise ValueError(f"coeffs={spec.coeffs!r}: expected 'layer' or 'synapse'")
        self.spec = spec
        self.layout = MetaLayout(spec)
        self.obs_mid = (obs_high + obs_low) / 2
        self.obs_half = (obs_high - obs_low) / 2
        self.n_layers = len(spec.sizes) - 1
        self._coeff_cache: tuple[Tensor, int, dict[str, Tensor]] | None = None

    def coefficients(self, theta: Tensor) -> dict[str, Tensor]:
        """Name → broadcastable ``[P, 1, ...]`` view of every meta-parameter of ``theta``.

        Cached while ``theta`` is the same tensor, unmodified (its in-place version counter), so
        a rollout slices ``theta`` once rather than at every step.
        """
        c = self._coeff_cache
        if c is None or c[0] is not theta or c[1] != theta._version:
            views = {k: v.unsqueeze(1) for k, v in self.layout.views(theta).items()}
            self._coeff_cache = c = (theta, theta._version, views)
        return c[2]

    # ----------------------------------------------------------------------------- state
    def init_state(self, theta: Tensor, envs: int, generator: torch.Generator) -> PlasticState:
        """State at a lifetime's start for ``P = theta.shape[0]`` candidates × ``envs``."""
        spec, s = self.spec, self.spec.sizes
        p_, dev = theta.shape[0], theta.device
        views = self.layout.views(theta)
        w0, p, e, x_pre, x_post = [], [], [], [], []
        for lyr in range(self.n_layers):
            shp = (p_, envs, s[lyr + 1], s[lyr] + 1)
            if spec.meta_init:
                w0.append(views[f"w{lyr}"].unsqueeze(1).expand(shp))
            else:
                w0.append(torch.randn(shp, generator=generator, device=dev)
                          * spec.init_gain / math.sqrt(s[lyr] + 1))
            p.append(torch.zeros(shp, device=dev))
            if spec.rule == "neuromod":
                e.append(torch.zeros(shp, device=dev))
            if spec.rule == "stdp":
                x_pre.append(torch.zeros(p_, envs, s[lyr] + 1, device=dev))
                x_post.append(torch.zeros(p_, envs, s[lyr + 1], device=dev))
        v = ([torch.zeros(p_, envs, n, device=dev) for n in s] if spec.neuron == "lif" else [])
        z = torch.zeros(p_, envs, device=dev)
        return PlasticState(w0, p, e, x_pre, x_post, v, z, z)

    def encode(self, obs: Tensor, state: PlasticState) -> Tensor:
        """Observation ``[P, E, n_obs]`` (+ previous reward/failure) → inputs ``[P, E, n_in]``."""
        x = ((obs - self.obs_mid) / self.obs_half).clamp(-1.0, 1.0)
        parts = [x.clamp(min=0), (-x).clamp(min=0)]
        if self.spec.feed_reward:
            r = (state.prev_reward * self.spec.reward_scale).clamp(-1.0, 1.0).unsqueeze(-1)
            parts += [r.clamp(min=0), (-r).clamp(min=0), state.prev_fail.unsqueeze(-1)]
        return torch.cat(parts, dim=-1)

    def weights(self, state: PlasticState) -> list[Tensor]:
        """Lifetime weights ``clip(w0 + p)`` of every layer."""
        c = self.spec.w_clip
        return [(w0 + p).clamp(-c, c) for w0, p in zip(state.w0, state.p, strict=True)]

    def layers(self, plasticity: bool) -> dict[str, LayerInfo]:
        """The layers :meth:`step` counts, with what the energy model's fit check needs.

        Weight layers run on the chip (``fan_in`` = the layer's inputs, the bias being a neuron
        parameter); the observation encoder and the neuromodulator pathway run on the host.
        """
        spec, s = self.spec, self.spec.sizes
        lif = spec.neuron == "lif"
        out = {"encoder": LayerInfo("host", s[0] if lif else 0, 1, False, True)}
        for lyr in range(self.n_layers):
            out[f"layer{lyr}"] = LayerInfo("chip", s[lyr + 1], s[lyr], plasticity, not lif)
        if plasticity and spec.rule == "neuromod":
            out["modulator"] = LayerInfo("host", sum(s[1:]), spec.n_mod_in, False, True)
        return out

    # ------------------------------------------------------------------------------ step
    def step(
        self, theta: Tensor, state: PlasticState, obs: Tensor, plastic: bool = True,
        count: bool = False,
    ) -> tuple[StepOut, PlasticState]:
        """One env step: forward pass, then every layer's rule (unless ``plastic`` is False).

        With ``count``, ``StepOut.counts`` holds the step's operation counts (module doc); the
        action and the new state are the same, bit for bit, as without.
        """
        x = self.encode(obs, state)
        ws = self.weights(state)
        currents: list[Tensor] | None = [] if count else None
        if self.spec.neuron == "rate":
            acts = [x]
            for w in ws:
                acts.append(torch.tanh(_affine(w, acts[-1])))
            pre = acts[:-1]
            post = acts[1:]
            spikes_pre = spikes_post = windows = None
            out = acts[-1]
            v_new = state.v
        else:
            rates, windows, v_new = self._lif_forward(x, ws, state.v, currents)
            pre, post = rates[:-1], rates[1:]
            spikes_pre, spikes_post = windows[:-1], windows[1:]
            out = rates[-1] + 1e-3 * v_new[-1].clamp(-1.0, 1.0)
        hidden = post[-2] if len(post) > 1 else pre[-1]
        p_new, e_new, xp_new, xq_new = state.p, state.e, state.x_pre, state.x_post
        if plastic:
            p_new, e_new, xp_new, xq_new = self._plasticity(
                theta, state, ws, pre, post, spikes_pre, spikes_post, hidden)
        new_state = PlasticState(state.w0, p_new, e_new, xp_new, xq_new, v_new,
                                 state.prev_reward, state.prev_fail)
        counts = None
        if count:
            assert currents is not None
            counts = (self._count_rate(ws, pre) if windows is None
                      else self._count_lif(x, ws, windows, currents))
            if plastic:
                self._count_plasticity(counts, theta, state, pre, post, spikes_pre, spikes_post,
                                       hidden)
        return StepOut(out, hidden, list(post), counts), new_state

    # ---------------------------------------------------------------------------- counts
    def _count_rate(self, ws: list[Tensor], acts: list[Tensor]) -> Counts:
        """Forward counts of a rate network: encoder and tanh layers (module doc)."""
        s = self.spec.sizes
        counts: Counts = {"encoder": {"synops_mac": float(s[0]), "synops_dense": float(s[0])}}
        for lyr, (w, x) in enumerate(zip(ws, acts, strict=True)):
            ac, mac = _graded_synops(x, w[..., :-1])
            counts[f"layer{lyr}"] = {
                "synops_ac": ac, "synops_mac": mac, "synops_dense": float(s[lyr] * s[lyr + 1]),
                "neuron_updates_driven": float(s[lyr + 1]), "ticks": 1.0,
                "state_reads": ac + mac, "stpn_proxy": _proxy(x * x, w[..., :-1])}
        return counts

    def _count_lif(self, x: Tensor, ws: list[Tensor], windows: list[Tensor],
                   currents: list[Tensor]) -> Counts:
        """Forward counts of a LIF network over the step's ``K`` ticks (module doc).

        ``windows``: spikes ``[P, E, K, n]`` of every layer, input first; ``currents``: each
        weight layer's input current ``[P, E, K, post]`` (bias included).
        """
        s, k = self.spec.sizes, self.spec.ticks
        f64 = torch.float64
        in_driven = k * (x != 0).sum(-1).to(f64)
        counts: Counts = {"encoder": {
            "synops_mac": float(s[0]), "synops_dense": float(s[0]),
            "spikes": windows[0].sum((-2, -1)).to(f64),
            "neuron_updates_driven": in_driven, "neuron_updates_idle": k * s[0] - in_driven}}
        for lyr, (w, cur) in enumerate(zip(ws, currents, strict=True)):
            win, syn = windows[lyr], w[..., :-1]
            nnz = (syn != 0).sum(-2).to(f64)  # [P, E, pre]: non-zero weights leaving each input
            ac = ((win != 0).sum(-2).to(f64) * nnz).sum(-1)
            driven = (cur != 0).sum((-2, -1)).to(f64)
            counts[f"layer{lyr}"] = {
                "synops_ac": ac, "synops_dense": float(k * s[lyr] * s[lyr + 1]),
                "spikes": windows[lyr + 1].sum((-2, -1)).to(f64),
                "neuron_updates_driven": driven, "neuron_updates_idle": k * s[lyr + 1] - driven,
                "ticks": float(k), "state_reads": ac,
                "stpn_proxy": _proxy((win * win).sum(-2), syn)}
        return counts

    def _count_plasticity(
        self,
        counts: Counts,
        theta: Tensor,
        state: PlasticState,
        pre: list[Tensor],
        post: list[Tensor],
        spikes_pre: list[Tensor] | None,
        spikes_post: list[Tensor] | None,
        hidden: Tensor,
    ) -> None:
        """Add the rules' counts (and the neuromodulator's) to ``counts`` (module doc)."""
        spec, s = self.spec, self.spec.sizes
        f64 = torch.float64
        lif = spikes_pre is not None and spikes_post is not None
        k = spec.ticks if lif else 1
        for lyr in range(self.n_layers):
            n_pre, n_post = s[lyr], s[lyr + 1]
            n_syn = n_post * (n_pre + 1)
            c = counts[f"layer{lyr}"]
            per = 2 if spec.rule == "neuromod" else 1  # neuromod: E and w
            c["plasticity_step"] = float(per * n_syn)
            c["state_reads"] = c["state_reads"] + per * n_syn
            c["state_writes"] = float(per * n_syn)
            if spec.rule == "stdp":
                if lif:
                    assert spikes_pre is not None and spikes_post is not None
                    ev_pre = (spikes_pre[lyr] != 0).sum((-2, -1)).to(f64) + k  # + the bias
                    ev_post = (spikes_post[lyr] != 0).sum((-2, -1)).to(f64)
                else:
                    ev_pre = (pre[lyr] != 0).sum(-1).to(f64) + 1
                    ev_post = (post[lyr] != 0).sum(-1).to(f64)
                c["trace_updates"] = float(k * (n_pre + 1 + n_post))
                c["plasticity_tick"] = float(k * n_syn)
                c["plasticity_pre"] = ev_pre * n_post
                c["plasticity_post"] = ev_post * (n_pre + 1)
                # the window's per-synapse accumulator, read and written every tick
                c["state_reads"] = c["state_reads"] + k * n_syn
                c["state_writes"] = float((per + k) * n_syn)
            elif lif:  # firing rates: spike counters of the step
                assert spikes_pre is not None and spikes_post is not None
                c["trace_updates"] = (spikes_pre[lyr].sum((-2, -1))
                                      + spikes_post[lyr].sum((-2, -1))).to(f64)
        if spec.rule == "neuromod":
            u = self._modulator_input(state, hidden)
            views = self.coefficients(theta)
            ac = mac = torch.zeros(u.shape[:-1], dtype=f64, device=u.device)
            for lyr in range(self.n_layers):
                a, m = _graded_synops(u, views[f"m{lyr}"])
                ac, mac = ac + a, mac + m
            n_mod = sum(s[1:])
            counts["modulator"] = {
                "synops_ac": ac, "synops_mac": mac, "synops_dense": float(n_mod * spec.n_mod_in),
                "neuron_updates_driven": float(n_mod), "state_reads": ac + mac}

    def _lif_forward(
        self, x: Tensor, ws: list[Tensor], v: list[Tensor], currents: list[Tensor] | None = None
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """``ticks`` LIF ticks; returns per-layer rates, spike windows ``[..., K, n]``, membranes.

        Layer by layer over the whole window (the network is feed-forward, and a spike reaches
        the next layer in the tick it is emitted, so this equals the tick-by-tick order): the
        synaptic input of all ``K`` ticks is one batched matmul, and only the membrane recursion
        loops over ticks. The input layer's integrate-and-fire recursion with a constant current
        ``c <= v_th`` (at most one spike per tick) is solved in closed form: after ``t`` ticks it
        has fired ``floor((v0 + t c) / v_th)`` times. The bias input of every layer is a constant
        1 (its "spike train" for STDP is all ones). Each weight layer's input current
        ``[..., K, post]`` is appended to ``currents`` when given (operation counts).
        """
        spec = self.spec
        beta, th, k = spec.beta, spec.v_th, spec.ticks
        v = list(v)
        cur_in = spec.input_gain * x
        if spec.input_gain <= th:
            t = torch.arange(1, k + 1, dtype=x.dtype, device=x.device).unsqueeze(-1)  # [K, 1]
            fired = torch.floor((v[0].unsqueeze(-2) + t * cur_in.unsqueeze(-2)) / th)
            s_in = torch.diff(fired, dim=-2, prepend=torch.zeros_like(fired[..., :1, :]))
            v[0] = v[0] + k * cur_in - th * fired[..., -1, :]
        else:  # currents above threshold: the plain recursion (one spike per tick at most)
            ticks = []
            for _ in range(k):
                v[0] = v[0] + cur_in
                s = spike_fn(v[0] - th)
                v[0] = v[0] - s * th
                ticks.append(s)
            s_in = torch.stack(ticks, dim=-2)
        windows = [s_in]
        for lyr, w in enumerate(ws):
            cur = windows[-1] @ w[..., :-1].transpose(-1, -2) + w[..., -1].unsqueeze(-2)
            if currents is not None:
                currents.append(cur)
            vl = v[lyr + 1]
            ticks = []
            for i in range(k):
                vl = beta * vl + cur[..., i, :]
                s = spike_fn(vl - th)
                vl = vl - s * th
                ticks.append(s)
            v[lyr + 1] = vl
            windows.append(torch.stack(ticks, dim=-2))
        rates = [w.mean(dim=-2) for w in windows]
        return rates, windows, v

    def _plasticity(
        self,
        theta: Tensor,
        state: PlasticState,
        ws: list[Tensor],
        pre: list[Tensor],
        post: list[Tensor],
        spikes_pre: list[Tensor] | None,
        spikes_post: list[Tensor] | None,
        hidden: Tensor,
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
        spec = self.spec
        views = self.coefficients(theta)  # [P, 1, post, pre+1] or [P, 1, 1, 1]
        c = spec.w_clip
        p_new, e_new, xp_new, xq_new = [], [], [], []
        mod_in = self._modulator_input(state, hidden) if spec.rule == "neuromod" else None
        for lyr in range(self.n_layers):
            x = _with_bias(pre[lyr])
            y = post[lyr]
            cf = {n: views[f"{n}{lyr}"] for n in RULE_COEFFS[spec.rule]}
            if spec.rule == "hebb":
                dw = hebb_dw(x, y, cf["eta"])
            elif spec.rule == "oja":
                dw = oja_dw(x, y, ws[lyr], cf["eta"])
            elif spec.rule == "abcd":
                dw = abcd_dw(x, y, cf["eta"], cf["a"], cf["b"], cf["c"], cf["d"])
            elif spec.rule == "neuromod":
                assert mod_in is not None
                e = eligibility_update(state.e[lyr], x, y, cf["eta_e"].clamp(0.0, 1.0))
                m = torch.tanh(_affine_nobias(views[f"m{lyr}"], mod_in))
                dw = neuromod_dw(e, m, cf["alpha"])
                e_new.append(e)
            else:  # stdp
                if spikes_pre is None or spikes_post is None:  # rate units: a window of 1 tick
                    s_pre, s_post = x.unsqueeze(-2), y.unsqueeze(-2)
                else:
                    s_pre = _with_bias(spikes_pre[lyr])
                    s_post = spikes_post[lyr]
                dw, tr = stdp_window_dw(
                    s_pre, s_post, STDPWindowTraces(state.x_pre[lyr], state.x_post[lyr]),
                    spec.trace_decay, spec.trace_decay, cf["eta"], cf["a_plus"], cf["a_minus"])
                xp_new.append(tr.x_pre)
                xq_new.append(tr.x_post)
            w0 = state.w0[lyr]
            p_new.append((w0 + state.p[lyr] + spec.rule_scale * dw).clamp(-c, c) - w0)
        return p_new, e_new, xp_new, xq_new

    def _modulator_input(self, state: PlasticState, hidden: Tensor) -> Tensor:
        """``[h; r; 1]``: last hidden layer, split reward and failure flag, bias."""
        spec = self.spec
        parts = [hidden]
        if spec.feed_reward:
            r = (state.prev_reward * spec.reward_scale).clamp(-1.0, 1.0).unsqueeze(-1)
            parts += [r.clamp(min=0), (-r).clamp(min=0), state.prev_fail.unsqueeze(-1)]
        return _with_bias(torch.cat(parts, dim=-1))

    def value(self, theta: Tensor, hidden: Tensor) -> Tensor:
        """Value head ``[P, E]`` (gradient learners only)."""
        w = self.coefficients(theta)["value"]  # [P, 1, 1, n+1]
        return _affine(w, hidden).squeeze(-1)


def _with_bias(a: Tensor) -> Tensor:
    return torch.cat([a, torch.ones_like(a[..., :1])], dim=-1)


def _affine(w: Tensor, a: Tensor) -> Tensor:
    """``w [..., out, in+1] @ [a; 1]`` for ``a [..., in]`` → ``[..., out]``."""
    return (w[..., :-1] @ a.unsqueeze(-1)).squeeze(-1) + w[..., -1]


def _affine_nobias(w: Tensor, a: Tensor) -> Tensor:
    return (w @ a.unsqueeze(-1)).squeeze(-1)


def _graded_synops(x: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    r"""Effective ``(AC, MAC)`` of ``w [..., out, in] @ x [..., in]`` per lifetime, float64.

    :math:`\sum_j [x_j \ne 0]\, nnz(w_{:,j})`, filed as ACs where that lifetime's inputs are all
    in {-1, 0, 1} (NeuroBench's spike test, per lifetime) and as MACs otherwise.
    """
    nnz = (w != 0).sum(-2).to(torch.float64)
    eff = ((x != 0).to(torch.float64) * nnz).sum(-1)
    binary = ((x == 0) | (x == 1) | (x == -1)).all(-1)
    zero = torch.zeros_like(eff)
    return torch.where(binary, eff, zero), torch.where(binary, zero, eff)


def _proxy(x2: Tensor, w: Tensor) -> Tensor:
    r"""STPN's physical proxy :math:`\sum_j x_j^2 \sum_i |w_{ij}|` for ``x2 [..., in]``."""
    return (x2.to(torch.float64) * w.abs().sum(-2).to(torch.float64)).sum(-1)
