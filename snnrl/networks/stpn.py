r"""Short-term plasticity neurons (STPN): a rate cell, and LIF cells with STPN or TM synapses.

**STPN** (Rodriguez, Guo & Moraitis 2022, ICML, "Short-Term Plasticity Neurons Learning to Learn
and Forget", arXiv 2206.14048; authors' code NeuromorphicComputing/STPN, read, not copied).
Presynaptic input of a step is the observation features and the previous output,
:math:`z_t = [x_t; h_{t-1}] \in \mathbb{R}^{n}` with :math:`n = n_{in} + H`; each synapse has a
slow weight :math:`W` (trained by BPTT) and a fast weight :math:`F` (state, per lifetime):

.. math::
    G_{t-1} &= W + F_{t-1}, \qquad
    \hat G_{t-1} = G_{t-1} \text{ or, with row\_norm, }
        \operatorname{diag}\!\big(\lVert G_{t-1,i,:} \rVert_2\big)^{-1} G_{t-1},\\
    h_t &= \tanh\big(\hat G_{t-1} z_t + b\big),\\
    F_t &= \mathrm{clip}\big(\lambda \odot F'_{t-1} + \gamma \odot (h_t \otimes z_t),\; -c,\; c\big)
        \quad(\text{no clip when } c = \text{None}),

with :math:`\lambda, \gamma \in \mathbb{R}^{H \times n}` learned per synapse
(:func:`snnrl.plasticity.short_term.stpn_tick`). Without row_norm :math:`F' = F`. With row_norm
the authors also rescale :math:`F` by the same row norms, either before the update
(``f_norm="pre"``, their associative-retrieval configs: :math:`F'_{t-1} = F_{t-1} / \lVert
G_{t-1,i,:}\rVert`) or after it (``f_norm="post"``, their maze config, the default:
:math:`F_t \leftarrow F_t / \lVert W_{i,:} + F_{t,i,:} \rVert`, after the clip); ``"none"``
normalises only the efficacy used in the forward pass. Parameters: :math:`W, \lambda, \gamma`
(:math:`H \times n` each) and :math:`b` (:math:`H`): :math:`3 H (n_{in} + H) + H` in all
(11,935 for the paper's maze cell, :math:`H = 55`, 17 inputs).

Initialisation (the authors' ``STPNr``, which differs from "fan-in" wording seen elsewhere): with
:math:`k = 1/\sqrt{H}` (PyTorch's ``RNNCell`` convention, the hidden size, not the fan-in
:math:`n`), :math:`W, b \sim \mathcal{U}(-k, k)`, :math:`\lambda \sim \mathcal{U}(0, 1)`,
:math:`\gamma \sim \mathcal{U}(-10^{-3} k, 10^{-3} k)`; :math:`h_0 = 0`, :math:`F_0 = 0`.

**Energy proxy** (the paper's physical model; per step, arbitrary units): inputs as voltages,
efficacies as conductances, power :math:`V^2 G`,

.. math::
    E_t = \sum_i \sum_j z_{t,j}^2\, |\hat G_{t-1,ij}|,

per batch element (:meth:`STPNCell.energy_proxy`; the mean over the batch is ``stpn_proxy`` in
:meth:`STPNCell.stats`). All inputs count, the reward input included (as in their maze code).

**Operation counts** (``count_ops=True``, set by :class:`snnrl.networks.op_counter.OpCounter`
during the frozen-weight evaluation only; definitions in :mod:`snnrl.networks.counts`): after
each forward, ``op_counts[""]`` holds per env ``[B]``: synaptic operations of
:math:`\hat G z` (dense :math:`H n`; effective with each env's own non-zero efficacies, AC or MAC
per env row: :func:`snnrl.networks.op_counter.batched_weight_counts`), the fast-weight update
(STPN rate cell: once per synapse per env step, ``plasticity_step`` :math:`= H n`; spiking
STPN: once per synapse per tick, ``plasticity_tick``; Tsodyks–Markram: the ``u`` and ``x``
update of every synapse every tick, ``plasticity_tick``), the synaptic state words read and
written by those updates (``F``: one each; TM: ``u`` and ``x``, two each), neuron updates
(rate cell: :math:`H`; LIF: driven / idle per tick by the input current, bias included),
spikes, ``stpn_proxy`` (the energy proxy above, per env, summed over ticks) and ``ticks``.

**Spiking STPN** (:class:`SpikingSTPNCell`; ours, not in the paper). ``H`` leaky
integrate-and-fire neurons with soft reset (as :mod:`snnrl.networks.plastic_net`), ``K = ticks``
ticks per env step. In tick :math:`k` the presynaptic vector is
:math:`z_k = [x; s_{k-1}]`: the observation features :math:`x` as a constant input over the
step's ticks and the previous tick's spikes (:math:`s_0` is the last tick of the previous step):

.. math::
    I_k &= \tilde G_k z_k + b, \qquad v_k = \beta v_{k-1} + I_k, \qquad
    s_k = \Theta(v_k - \vartheta), \qquad v_k \leftarrow v_k - s_k \vartheta,\\
    h &= \frac{1}{K} \sum_{k=1}^K s_k \quad(\text{the rate the heads read}),

with :math:`\Theta` the Heaviside step and the SuperSpike surrogate gradient
(:func:`snnrl.neurons.surrogate.spike_fn`) so that BPTT reaches every parameter. Two synapses:

- ``synapse="stpn"``: :math:`\tilde G_k = W + F_{k-1}` and the STPN rule per tick with
  post = spikes, pre = :math:`z_k`:
  :math:`F_k = \mathrm{clip}(\lambda \odot F_{k-1} + \gamma \odot (s_k \otimes z_k), \pm c)`.
  :math:`\lambda` acts per tick, so it is initialised as :math:`\lambda = u^{1/K}`,
  :math:`u \sim \mathcal{U}(0, 1)` (the rate cell's distribution per *env step*), and
  :math:`\gamma` as the rate cell's divided by ``K`` (one step adds up to ``K`` increments).
- ``synapse="tm"``: :math:`\tilde G_k = W \odot E_k` with :math:`E_k` the Tsodyks–Markram
  efficacy of every synapse (:func:`snnrl.plasticity.short_term.tm_step`, tick ``dt``), per
  synapse learnable :math:`U = \sigma(\rho_U)`, :math:`\tau_F = \tau_{min} +
  \mathrm{softplus}(\rho_F)`, :math:`\tau_D = \tau_{min} + \mathrm{softplus}(\rho_D)` (seconds,
  :math:`\tau_{min} = dt/100`), driven by presynaptic spikes. The inputs are not spikes: input
  channel :math:`j` drives its synapses as a presynaptic neuron firing with probability
  :math:`\min(|x_j|, 1)` per tick, i.e. the mean-field (rate) form of the TM update with that
  rate, while it still contributes the current :math:`W_{ij} E_{ij} x_j` (sign kept). Init:
  :math:`U \sim \mathcal{U}(0.05, 0.5)`, :math:`\tau_F, \tau_D` log-uniform between one and 100 env
  steps (:math:`K\,dt` to :math:`100 K\,dt`). The state holds :math:`u - U` (zero at rest) and
  :math:`x`, so the initial state does not depend on the parameters and :math:`U` keeps its
  gradient from the first tick of every lifetime.

:math:`W, b` start as in the rate cell scaled by ``w_gain`` (default 3: the spiking cells need
currents of order :math:`(1-\beta)\vartheta` to fire; with 17 maze-like binary inputs and
:math:`H = 55` this gives rates of about 0.2 (stpn) and 0.06 (tm) spikes per tick at init); with
TM synapses :math:`W` is further divided by the first-spike efficacy :math:`U(2-U)` of its
synapse, so :math:`W \odot E` starts at the rate cell's scale. State tuples (every tensor has the
batch as dim 0; a reset is ``torch.where(mask, initial, state)`` per tensor, the initial state is
zeros except :math:`x = 1`): rate ``(h [B,H], F [B,H,n])``; spiking STPN
``(v [B,H], s [B,H], F [B,H,n])``; spiking TM ``(v, s, u-U [B,H,n], x [B,H,n])``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as nnf
from torch import Tensor, nn

from snnrl.config import ConfigError
from snnrl.networks.op_counter import batched_weight_counts
from snnrl.neurons.surrogate import spike_fn
from snnrl.plasticity.short_term import TMState, stpn_tick, tm_step

F_NORMS = ("post", "pre", "none")
SYNAPSES = ("stpn", "tm")
_EPS = 1e-16
"""Added to row norms, as the authors do, so a zero row cannot divide by zero."""


def _check_sizes(n_in: int, hidden: int) -> None:
    if not (isinstance(n_in, int) and n_in >= 1):
        raise ConfigError("n_in", n_in, "an integer >= 1")
    if not (isinstance(hidden, int) and hidden >= 1):
        raise ConfigError("hidden", hidden, "an integer >= 1")


def _check_clamp(clamp: float | None) -> None:
    if clamp is not None and not clamp > 0:
        raise ConfigError("clamp", clamp, "a bound > 0 on |F|, or null for none")


class STPNState(NamedTuple):
    """State of :class:`STPNCell`."""

    h: Tensor  # [B, H]: last output
    f: Tensor  # [B, H, n_in + H]: fast weights


class STPNCell(nn.Module):
    """The STPN recurrent cell (Rodriguez, Guo & Moraitis 2022); equations in the module doc.

    Args:
        n_in: input features per step.
        hidden: number of units ``H`` (``hidden_size``).
        clamp: bound ``c`` on ``|F|`` (1.0 in the paper's maze, ``None`` for Pong, 0.1 for
            InvertedPendulum); ``None``: no clip.
        row_norm: divide each row of ``W + F`` by its L2 norm in the forward pass.
        f_norm: with ``row_norm``, how ``F`` itself is rescaled: ``"post"`` (maze config),
            ``"pre"`` (associative-retrieval configs) or ``"none"``.
        record_stats: keep the last forward's mean ``|F|``, ``|h|`` and energy proxy for
            :meth:`stats` (costs one more pass over ``[B, H, n]``; off: :meth:`stats` is empty).

    >>> cell = STPNCell(17, 55)
    >>> sum(p.numel() for p in cell.parameters())
    11935
    >>> h, state = cell(torch.zeros(4, 17), cell.initial_state(4, torch.device("cpu")))
    >>> tuple(h.shape), tuple(state.f.shape)
    ((4, 55), (4, 55, 72))
    """

    def __init__(
        self,
        n_in: int,
        hidden: int,
        clamp: float | None = 1.0,
        row_norm: bool = False,
        f_norm: str = "post",
        record_stats: bool = True,
    ) -> None:
        super().__init__()
        _check_sizes(n_in, hidden)
        _check_clamp(clamp)
        if f_norm not in F_NORMS:
            raise ConfigError("f_norm", f_norm, f"one of {', '.join(F_NORMS)}")
        self.n_in, self.hidden_size = n_in, hidden
        self.clamp, self.row_norm, self.f_norm = clamp, bool(row_norm), f_norm
        self.record_stats = record_stats
        self.count_ops = False
        self.op_counts: dict[str, dict[str, Tensor]] = {}
        n = n_in + hidden
        self.weight = nn.Parameter(torch.empty(hidden, n))  # [H, n]
        self.bias = nn.Parameter(torch.empty(hidden))  # [H]
        self.lam = nn.Parameter(torch.empty(hidden, n))  # [H, n]
        self.gamma = nn.Parameter(torch.empty(hidden, n))  # [H, n]
        self._last: dict[str, Tensor] = {}
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The authors' initialisation (module doc); uses the global torch generator."""
        k = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            self.weight.uniform_(-k, k)
            self.bias.uniform_(-k, k)
            self.lam.uniform_(0.0, 1.0)
            self.gamma.uniform_(-1e-3 * k, 1e-3 * k)

    def initial_state(self, batch: int, device: torch.device) -> STPNState:
        """``h = 0``, ``F = 0``."""
        dt = self.weight.dtype
        n = self.n_in + self.hidden_size
        return STPNState(
            h=torch.zeros(batch, self.hidden_size, device=device, dtype=dt),
            f=torch.zeros(batch, self.hidden_size, n, device=device, dtype=dt),
        )

    def _row_norm(self, f: Tensor) -> Tensor:
        """``||W_i + F_i||_2 + eps`` per row, ``[B, H, 1]``."""
        return torch.linalg.vector_norm(self.weight + f, dim=-1, keepdim=True) + _EPS

    def forward(
        self, x: Tensor, state: tuple[Tensor, ...]
    ) -> tuple[Tensor, STPNState]:
        """One env step: ``x [B, n_in]`` → ``(h [B, H], new state)``."""
        h, f = state
        z = torch.cat((x, h), dim=-1)  # [B, n]
        if self.row_norm:
            norm = self._row_norm(f)  # [B, H, 1]
            g = (self.weight + f) / norm  # [B, H, n]
            a = torch.einsum("bij,bj->bi", g, z)
            if self.f_norm == "pre":
                f = f / norm
        else:
            g = None
            a = nnf.linear(z, self.weight) + torch.einsum("bij,bj->bi", f, z)
        h_new = torch.tanh(a + self.bias)
        f_new = stpn_tick(f, h_new, z, self.lam, self.gamma, self.clamp)
        if self.row_norm and self.f_norm == "post":
            f_new = f_new / self._row_norm(f_new)
        if self.record_stats:
            with torch.no_grad():
                gg = (self.weight + state[1]) if g is None else g
                self._last = {
                    "mean_abs_f": f_new.abs().mean(),
                    "mean_abs_h": h_new.abs().mean(),
                    "stpn_proxy": torch.einsum("bij,bj->b", gg.abs(), z * z).mean(),
                }
        if self.count_ops:
            with torch.no_grad():
                gg = (self.weight + state[1]) if g is None else g
                c = batched_weight_counts(z, gg)
                n_syn = float(gg.shape[1] * gg.shape[2])
                b = z.shape[0]
                c |= {"neuron_updates_driven": z.new_full((b,), float(self.hidden_size),
                                                          dtype=torch.float64),
                      "plasticity_step": z.new_full((b,), n_syn, dtype=torch.float64),
                      "state_reads": c["state_reads"] + n_syn,  # F read by its update
                      "state_writes": z.new_full((b,), n_syn, dtype=torch.float64),
                      "stpn_proxy": torch.einsum("bij,bj->b", gg.abs(), z * z).double(),
                      "ticks": z.new_ones(b, dtype=torch.float64)}
                self.op_counts = {"": c}
        return h_new, STPNState(h_new, f_new)

    @torch.no_grad()
    def energy_proxy(self, z: Tensor, state: tuple[Tensor, ...]) -> Tensor:
        r"""The paper's energy proxy of the step that ``forward(x, state)`` would run.

        Args:
            z: the step's presynaptic vector ``[x; h_{t-1}]`` ``[B, n_in + H]``, or just the
                input ``x`` ``[B, n_in]`` (then ``h_{t-1}`` is taken from ``state``).
            state: the state *before* the step.

        Returns:
            :math:`E = \sum_{ij} z_j^2 |\hat G_{ij}|` per batch element, ``[B]``.
        """
        h, f = state
        if z.shape[-1] == self.n_in:
            z = torch.cat((z, h), dim=-1)
        g = self.weight + f
        if self.row_norm:
            g = g / self._row_norm(f)
        return torch.einsum("bij,bj->b", g.abs(), z * z)

    def stats(self) -> dict[str, float]:
        """Batch means of the last forward: ``mean_abs_f``, ``mean_abs_h``, ``stpn_proxy``."""
        return {k: float(v) for k, v in self._last.items()}


class SpikingSTPNState(NamedTuple):
    """State of :class:`SpikingSTPNCell` with ``synapse="stpn"``."""

    v: Tensor  # [B, H]: membranes
    s: Tensor  # [B, H]: spikes of the last tick
    f: Tensor  # [B, H, n_in + H]: fast weights


class SpikingTMState(NamedTuple):
    """State of :class:`SpikingSTPNCell` with ``synapse="tm"``."""

    v: Tensor  # [B, H]
    s: Tensor  # [B, H]
    du: Tensor  # [B, H, n_in + H]: u - U (zero at rest)
    x: Tensor  # [B, H, n_in + H]: available resources (one at rest)


class SpikingSTPNCell(nn.Module):
    """LIF neurons with STPN or Tsodyks–Markram synapses (module doc), ``ticks`` ticks per step.

    Args:
        n_in: input features per step.
        hidden: number of LIF neurons ``H``.
        ticks: ticks per env step ``K``.
        beta: membrane leak per tick, ``exp(-dt / tau_mem)``, in ``[0, 1]``.
        v_th: firing threshold.
        synapse: ``"stpn"`` (fast weights ``F``) or ``"tm"`` (Tsodyks–Markram efficacies).
        clamp: bound on ``|F|`` (``"stpn"`` only); ``None``: no clip.
        dt: tick length in seconds (the unit of the TM time constants).
        w_gain: ``W`` and ``b`` start as ``U(-w_gain k, w_gain k)``, ``k = 1/sqrt(H)`` (``W``
            then divided by ``U (2 - U)`` for TM synapses).
        surrogate_alpha: steepness of the SuperSpike surrogate; gentler than the neuron module's
            100 so that gradients through ``K`` ticks per step also reach neurons off threshold.
        record_stats: keep the last forward's firing rate, synaptic state and energy proxy.

    >>> cell = SpikingSTPNCell(3, 4, ticks=2)
    >>> h, st = cell(torch.ones(5, 3), cell.initial_state(5, torch.device("cpu")))
    >>> tuple(h.shape), len(st)
    ((5, 4), 3)
    """

    def __init__(
        self,
        n_in: int,
        hidden: int,
        ticks: int = 8,
        beta: float = 0.8,
        v_th: float = 1.0,
        synapse: str = "stpn",
        clamp: float | None = 1.0,
        dt: float = 1e-3,
        w_gain: float = 3.0,
        surrogate_alpha: float = 10.0,
        record_stats: bool = True,
    ) -> None:
        super().__init__()
        _check_sizes(n_in, hidden)
        _check_clamp(clamp)
        if not (isinstance(ticks, int) and ticks >= 1):
            raise ConfigError("ticks", ticks, "an integer >= 1")
        if not 0.0 <= beta <= 1.0:
            raise ConfigError("beta", beta, "a leak factor in [0, 1]")
        if not v_th > 0:
            raise ConfigError("v_th", v_th, "a threshold > 0")
        if synapse not in SYNAPSES:
            raise ConfigError("synapse", synapse, f"one of {', '.join(SYNAPSES)}")
        if not dt > 0:
            raise ConfigError("dt", dt, "a tick length > 0 (seconds)")
        if not w_gain > 0:
            raise ConfigError("w_gain", w_gain, "a value > 0")
        if not surrogate_alpha > 0:
            raise ConfigError("surrogate_alpha", surrogate_alpha, "a value > 0")
        self.n_in, self.hidden_size, self.ticks = n_in, hidden, ticks
        self.beta, self.v_th, self.synapse, self.clamp = beta, v_th, synapse, clamp
        self.dt, self.w_gain, self.surrogate_alpha = dt, w_gain, surrogate_alpha
        self.record_stats = record_stats
        self.count_ops = False
        self.op_counts: dict[str, dict[str, Tensor]] = {}
        n = n_in + hidden
        self.weight = nn.Parameter(torch.empty(hidden, n))  # [H, n]
        self.bias = nn.Parameter(torch.empty(hidden))  # [H]
        if synapse == "stpn":
            self.lam = nn.Parameter(torch.empty(hidden, n))  # [H, n], per tick
            self.gamma = nn.Parameter(torch.empty(hidden, n))  # [H, n]
        else:
            self.u_raw = nn.Parameter(torch.empty(hidden, n))  # U = sigmoid(u_raw)
            self.tau_f_raw = nn.Parameter(torch.empty(hidden, n))  # tau_F = tmin + softplus
            self.tau_d_raw = nn.Parameter(torch.empty(hidden, n))
        self._last: dict[str, Tensor] = {}
        self.reset_parameters()

    @property
    def tau_min(self) -> float:
        """Floor of the TM time constants (s), so ``exp(-dt/tau)`` keeps a finite gradient."""
        return self.dt / 100.0

    def tm_params(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(U, tau_F, tau_D)``, each ``[H, n]`` (``synapse="tm"`` only)."""
        return (
            torch.sigmoid(self.u_raw),
            self.tau_min + nnf.softplus(self.tau_f_raw),
            self.tau_min + nnf.softplus(self.tau_d_raw),
        )

    def reset_parameters(self) -> None:
        """Initialisation described in the module doc (global torch generator)."""
        k = self.w_gain / math.sqrt(self.hidden_size)
        with torch.no_grad():
            self.weight.uniform_(-k, k)
            self.bias.uniform_(-k, k)
            if self.synapse == "stpn":
                self.lam.copy_(torch.rand_like(self.lam) ** (1.0 / self.ticks))
                g = 1e-3 / math.sqrt(self.hidden_size) / self.ticks
                self.gamma.uniform_(-g, g)
            else:
                u = torch.empty_like(self.u_raw).uniform_(0.05, 0.5)
                self.u_raw.copy_(torch.log(u / (1 - u)))
                # efficacy of a first spike from rest is U (2 - U): start with W E = the
                # rate cell's weight there, so both synapse kinds start with similar currents
                self.weight.div_(u * (2 - u))
                step = self.ticks * self.dt
                for p in (self.tau_f_raw, self.tau_d_raw):
                    tau = step * torch.exp(torch.empty_like(p).uniform_(0.0, math.log(100.0)))
                    # inverse of tau_min + softplus(r): r = log(expm1(tau - tau_min))
                    p.copy_(torch.log(torch.expm1(tau - self.tau_min)))

    def initial_state(self, batch: int, device: torch.device) -> tuple[Tensor, ...]:
        """Membranes and spikes 0; ``F = 0`` (stpn) or ``u = U``, ``x = 1`` (tm)."""
        dt = self.weight.dtype
        h, n = self.hidden_size, self.n_in + self.hidden_size
        v = torch.zeros(batch, h, device=device, dtype=dt)
        s = torch.zeros(batch, h, device=device, dtype=dt)
        if self.synapse == "stpn":
            return SpikingSTPNState(v, s, torch.zeros(batch, h, n, device=device, dtype=dt))
        return SpikingTMState(
            v, s,
            torch.zeros(batch, h, n, device=device, dtype=dt),
            torch.ones(batch, h, n, device=device, dtype=dt),
        )

    def forward(
        self, x: Tensor, state: tuple[Tensor, ...]
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One env step of ``ticks`` ticks: ``x [B, n_in]`` → ``(rate h [B, H], new state)``."""
        rec = self.record_stats
        if self.synapse == "stpn":
            v, s, f = state
        else:
            v, s, du, xr = state
            big_u, tau_f, tau_d = self.tm_params()
            rate_in = x.abs().clamp(max=1.0)  # [B, n_in]: input channels as firing probabilities
        count = torch.zeros_like(v)
        proxy = x.new_zeros(())
        synops = x.new_zeros(())
        ops: dict[str, Tensor] = {}
        for _ in range(self.ticks):
            z = torch.cat((x, s), dim=-1)  # [B, n]
            if self.count_ops:
                with torch.no_grad():
                    g_tick = self.weight + f if self.synapse == "stpn" else None
            if self.synapse == "stpn":
                cur = nnf.linear(z, self.weight) + torch.einsum("bij,bj->bi", f, z)
                if rec:
                    with torch.no_grad():
                        proxy = proxy + torch.einsum(
                            "bij,bj->b", (self.weight + f).abs(), z * z).mean()
            else:
                drive = torch.cat((rate_in, s), dim=-1)[:, None, :]  # [B, 1, n]
                eff, tm = tm_step(TMState(big_u + du, xr), drive, big_u, tau_f, tau_d, self.dt)
                du, xr = tm.u - big_u, tm.x
                g = self.weight * eff  # [B, H, n]
                cur = torch.einsum("bij,bj->bi", g, z)
                if rec:
                    with torch.no_grad():
                        proxy = proxy + torch.einsum("bij,bj->b", g.abs(), z * z).mean()
                if self.count_ops:
                    g_tick = g.detach()
            if self.count_ops:
                with torch.no_grad():
                    self._count_tick(ops, z, g_tick, cur + self.bias)
            v = self.beta * v + cur + self.bias
            s = spike_fn(v - self.v_th, self.surrogate_alpha)
            v = v - s * self.v_th
            if self.synapse == "stpn":
                f = stpn_tick(f, s, z, self.lam, self.gamma, self.clamp)
            count = count + s
            if self.count_ops:
                ops["spikes"] = ops["spikes"] + s.detach().sum(-1).double()
            if rec:
                with torch.no_grad():
                    synops = synops + (z != 0).sum(-1).to(z.dtype).mean() * self.hidden_size
        rate = count / self.ticks
        if self.count_ops:
            self.op_counts = {"": ops}
        new: tuple[Tensor, ...]
        if self.synapse == "stpn":
            new = SpikingSTPNState(v, s, f)
        else:
            new = SpikingTMState(v, s, du, xr)
        if rec:
            with torch.no_grad():
                last = {"firing_rate": rate.mean(), "stpn_proxy": proxy, "synops": synops}
                if self.synapse == "stpn":
                    last["mean_abs_f"] = f.abs().mean()
                else:
                    last["mean_efficacy"] = ((big_u + du) * xr).mean()
                self._last = last
        return rate, new

    def _count_tick(self, ops: dict[str, Tensor], z: Tensor, g: Tensor, drive: Tensor) -> None:
        """Add one tick's counts (module doc) to ``ops`` (key → ``[B]``), in place."""
        b, n_syn = z.shape[0], float(g.shape[1] * g.shape[2])
        words = 1.0 if self.synapse == "stpn" else 2.0  # F, or TM's u and x
        c = batched_weight_counts(z, g)
        driven = (drive != 0).sum(-1).double()
        c |= {"neuron_updates_driven": driven,
              "neuron_updates_idle": self.hidden_size - driven,
              "plasticity_tick": z.new_full((b,), n_syn, dtype=torch.float64),
              "state_reads": c["state_reads"] + words * n_syn,
              "state_writes": z.new_full((b,), words * n_syn, dtype=torch.float64),
              "stpn_proxy": torch.einsum("bij,bj->b", g.abs(), z * z).double(),
              "ticks": z.new_ones(b, dtype=torch.float64),
              "spikes": z.new_zeros(b, dtype=torch.float64)}
        for k, v in c.items():
            ops[k] = ops[k] + v if k in ops else v

    def stats(self) -> dict[str, float]:
        """Batch means of the last forward.

        ``firing_rate`` (spikes per neuron per tick), ``stpn_proxy`` (the energy proxy summed
        over the step's ticks, spikes as unit voltages), ``synops`` (synaptic events: non-zero
        presynaptic values × fan-out, summed over ticks), and ``mean_abs_f`` (stpn) or
        ``mean_efficacy`` (tm, ``u x``).
        """
        return {k: float(v) for k, v in self._last.items()}
