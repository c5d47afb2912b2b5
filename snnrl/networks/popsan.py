r"""PopSAN: a population-coded spiking actor with an ANN critic, as a Stable-Baselines3 policy.

Tang, Kumar, Michmizos & Agarwal 2020, "Deep Reinforcement Learning with Population-Coded
Spiking Neural Network for Continuous Control", CoRL (arXiv 2010.09635).

**Encoder (flat observations).** Each observation is first scaled to ``[-1, 1]`` from its bounds
and clipped, :math:`x_d = \mathrm{clip}(2 (o_d - l_d)/(h_d - l_d) - 1, -1, 1)`. Dimension ``d`` is
seen by ``P_in`` neurons with *learnable* means :math:`\mu_{d,j}` and widths :math:`\sigma_{d,j}`:

.. math::
    A_{d,j} = \exp\!\left(-\frac{(x_d - \mu_{d,j})^2}{2\sigma_{d,j}^2}\right).

PopSAN's deterministic encoder drives a non-leaky integrate-and-fire neuron with :math:`A` for
``T`` ticks, with threshold :math:`\vartheta_e = 1 - \epsilon` and reset by subtraction:

.. math::
    v_t = v_{t-1} + A, \quad s_t = \Theta(v_t - \vartheta_e), \quad v_t \leftarrow v_t - s_t
    \vartheta_e, \qquad v_0 = 0.

The backward pass is PopSAN's pseudo-gradient, the straight-through estimator
:math:`\partial s_t / \partial v_t := 1`, so gradients reach :math:`\mu` and :math:`\sigma`.

**Encoder (image observations, MinAtar ``[C, 10, 10]`` in {0, 1}).** The binary frame already is
a spike pattern, so it is fed unchanged as the input spikes at every tick (direct coding):
Bernoulli rate coding of a {0, 1} frame would produce the same spikes (``p`` is 0 or 1) and a
receptive-field population per pixel would multiply the input size by ``P_in`` for no
information. A spiking conv layer (16 channels, 3x3, stride 1, no padding) with the LIF dynamics
below follows; its spikes are flattened into the LIF MLP.

**Hidden and output layers: current-based LIF (PopSAN's neuron).** For layer ``l`` with input
spikes :math:`s^{l-1}_t`:

.. math::
    c^l_t = \delta_c\, c^l_{t-1} + W^l s^{l-1}_t + b^l, \qquad
    v^l_t = \delta_v\, v^l_{t-1} (1 - s^l_{t-1}) + c^l_t, \qquad
    s^l_t = \Theta(v^l_t - \vartheta),

with :math:`\delta_c = 0.5`, :math:`\delta_v = 0.75`, :math:`\vartheta = 0.5` and reset to 0
(the :math:`(1 - s)` factor), exactly PopSAN's values. The backward pass of :math:`\Theta` is the
SuperSpike surrogate :math:`1/(\alpha |v - \vartheta| + 1)^2`
(:func:`snnrl.neurons.surrogate.spike_fn`, Zenke & Ganguli 2018; PopSAN used a rectangular
window), with :math:`\alpha = 10` by default.

**Decoder.** The output layer has ``P_out`` neurons per action dimension ``i``; their spike
counts over the ``T`` ticks give rates :math:`r_{i,j} = n_{i,j}/T`, read by a grouped linear
readout (each action dimension reads only its own population; PopSAN's grouped 1-D conv):

.. math::
    u_i = \sum_{j=1}^{P_{out}} w_{i,j}\, r_{i,j} + b_i .

For ``Box`` actions the policy's mean is :math:`a_i = l_i + (h_i - l_i)(\tanh u_i + 1)/2`
(:func:`snnrl.encoding.continuous.popsan_action`), and SB3 adds its state-independent Gaussian
``log_std``; for ``Discrete(n)`` actions the ``n`` readouts :math:`u_i` are the logits. The critic
is an ordinary ANN (64-64 tanh MLP; a small CNN for image observations), as in PopSAN.

**Operation counts** (``SpikingActor.count_ops``, set by
:class:`snnrl.networks.op_counter.OpCounter` during the frozen-weight evaluation only; the LIF
layers' synaptic operations and neuron updates come from that counter's hooks on the
``layers``): after each forward ``op_counts`` holds, per env ``[B]``, the spikes of every LIF
layer (``layers.<j>``, ``conv``), the encoder's work (``encoder``, on the host as the R-STDP
agent's: :math:`D P_{in}` receptive-field evaluations filed as MACs, :math:`T D P_{in}` IF
neuron updates, driven where :math:`A \ne 0`, and its spikes) and the readout's (``readout``,
host: :math:`\sum_{ij} [r_{ij} \ne 0][w_{ij} \ne 0]` effective operations on the graded rates,
:math:`A P_{out}` dense, one update per action unit).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import Tensor, nn

from snnrl.config import ConfigError, Unsupported
from snnrl.encoding.continuous import linear_readout, population_rates, squash
from snnrl.neurons.surrogate import spike_fn

#: PopSAN's LIF constants: current decay, voltage decay, threshold.
C_DECAY = 0.5
V_DECAY = 0.75
V_TH = 0.5
#: Encoder threshold ``1 - eps`` (PopSAN's ENCODER_REGULAR_VTH).
ENC_VTH = 0.999


class _StraightThroughSpike(torch.autograd.Function):
    """Heaviside forward, identity backward (PopSAN's encoder pseudo-gradient)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:  # type: ignore[override]
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Tensor:  # type: ignore[override]
        return grad_out


class PopulationEncoder(nn.Module):
    """Learnable Gaussian receptive fields + deterministic IF spike generation (module docstring).

    Args:
        obs_low: per-dimension lower bound used to scale observations to [-1, 1].
        obs_high: per-dimension upper bound.
        pop: neurons per observation dimension ``P_in`` (>= 2).
        sigma: initial width of every receptive field (in the scaled [-1, 1] units).

    Means start evenly spread over [-1, 1]. ``forward(obs [B, D], ticks)`` returns spikes
    ``[T, B, D * P_in]`` (dimension-major: the ``P_in`` neurons of dimension 0 first).
    """

    def __init__(self, obs_low: Sequence[float], obs_high: Sequence[float], pop: int = 10,
                 sigma: float = 0.15) -> None:
        super().__init__()
        lo = torch.as_tensor(np.asarray(obs_low, dtype=np.float32))
        hi = torch.as_tensor(np.asarray(obs_high, dtype=np.float32))
        if lo.ndim != 1 or lo.shape != hi.shape:
            raise ConfigError("obs_low/obs_high", (list(lo.shape), list(hi.shape)),
                              "two flat sequences of the same length")
        if not bool((hi > lo).all()):
            raise ConfigError("obs_high", hi.tolist(), "every high > its low")
        if pop < 2:
            raise ConfigError("pop_in", pop, "an int >= 2")
        if sigma <= 0:
            raise ConfigError("sigma", sigma, "> 0")
        self.register_buffer("obs_low", lo)
        self.register_buffer("obs_high", hi)
        d = lo.shape[0]
        self.mu = nn.Parameter(torch.linspace(-1.0, 1.0, pop).repeat(d, 1))  # [D, P]
        self.sigma = nn.Parameter(torch.full((d, pop), float(sigma)))
        self.obs_dim, self.pop = d, pop

    @property
    def size(self) -> int:
        """Number of encoder neurons ``D * P_in``."""
        return self.obs_dim * self.pop

    def activation(self, obs: Tensor) -> Tensor:
        """Receptive-field activations ``A`` ``[B, D * P_in]`` of observations ``[B, D]``."""
        x = 2.0 * (obs - self.obs_low) / (self.obs_high - self.obs_low) - 1.0
        x = x.clamp(-1.0, 1.0)
        diff = x[:, :, None] - self.mu
        return torch.exp(-0.5 * diff * diff / (self.sigma * self.sigma)).flatten(1)

    def forward(self, obs: Tensor, ticks: int) -> Tensor:
        """Spikes ``[T, B, D * P_in]`` from the non-leaky IF neuron driven by ``A``."""
        a = self.activation(obs)
        v = torch.zeros_like(a)
        out = []
        for _ in range(ticks):
            v = v + a
            s = _StraightThroughSpike.apply(v - ENC_VTH)
            v = v - s * ENC_VTH
            out.append(s)
        return torch.stack(out)


def _lif_step(x: Tensor, c: Tensor, v: Tensor, s: Tensor, alpha: float
              ) -> tuple[Tensor, Tensor, Tensor]:
    """One current-based LIF tick (module docstring): input current ``x`` → (c, v, s)."""
    c = C_DECAY * c + x
    v = V_DECAY * v * (1.0 - s) + c
    s = spike_fn(v - V_TH, alpha)
    return c, v, s


class SpikingActor(nn.Module):
    """PopSAN's spiking actor: encoder → LIF layers → output populations → grouped readout.

    Args:
        obs_shape: ``(D,)`` for flat observations or ``(C, H, W)`` for binary images.
        n_out: action dimension (Box) or number of actions (Discrete).
        hidden: LIF hidden layer sizes.
        pop_in: encoder neurons per observation dimension (flat observations only).
        pop_out: output neurons per action dimension / action.
        ticks: spike ticks ``T`` per env step.
        obs_low: per-dimension lower bound (flat observations).
        obs_high: per-dimension upper bound.
        action_low: if given (Box actions), the readout is squashed onto ``[action_low,
            action_high]``; if None the readout ``u`` is returned (Discrete logits).
        action_high: upper action bound.
        surrogate_alpha: SuperSpike steepness.

    ``forward(obs [B, *obs_shape])`` returns ``[B, n_out]``. After each forward,
    ``spike_counts`` holds the detached total spike count per layer per sample (``[B]`` each;
    encoder/input first, output population last) for energy estimates.
    """

    def __init__(
        self,
        obs_shape: Sequence[int],
        n_out: int,
        hidden: Sequence[int] = (256, 256),
        pop_in: int = 10,
        pop_out: int = 10,
        ticks: int = 5,
        obs_low: Sequence[float] | None = None,
        obs_high: Sequence[float] | None = None,
        action_low: Sequence[float] | None = None,
        action_high: Sequence[float] | None = None,
        surrogate_alpha: float = 10.0,
    ) -> None:
        super().__init__()
        hidden = [int(h) for h in hidden]
        if not hidden or any(h <= 0 for h in hidden):
            raise ConfigError("hidden", hidden, "a non-empty list of positive ints")
        if int(ticks) < 1:
            raise ConfigError("ticks", ticks, "an int >= 1")
        if int(pop_out) < 1:
            raise ConfigError("pop_out", pop_out, "an int >= 1")
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.ticks, self.pop_out, self.n_out = int(ticks), int(pop_out), int(n_out)
        self.alpha = float(surrogate_alpha)
        self.image = len(self.obs_shape) == 3
        self.encoder: PopulationEncoder | None = None
        self.conv: nn.Conv2d | None = None
        if self.image:
            c, h, w = self.obs_shape
            if h < 3 or w < 3:
                raise Unsupported("observation_space", self.obs_shape, "images at least 3x3")
            self.conv = nn.Conv2d(c, 16, 3)
            n_in = 16 * (h - 2) * (w - 2)
        elif len(self.obs_shape) == 1:
            d = self.obs_shape[0]
            lo = [-1.0] * d if obs_low is None else list(obs_low)
            hi = [1.0] * d if obs_high is None else list(obs_high)
            self.encoder = PopulationEncoder(lo, hi, pop=int(pop_in))
            n_in = self.encoder.size
        else:
            raise Unsupported("observation_space", self.obs_shape, "flat [D] or image [C, H, W]")
        sizes = [n_in, *hidden, self.n_out * self.pop_out]
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.readout_w = nn.Parameter(torch.full((self.n_out, self.pop_out), 1.0 / self.pop_out))
        self.readout_b = nn.Parameter(torch.zeros(self.n_out))
        if action_low is not None:
            assert action_high is not None
            self.register_buffer("action_low", torch.as_tensor(np.asarray(action_low, np.float32)))
            self.register_buffer("action_high",
                                 torch.as_tensor(np.asarray(action_high, np.float32)))
            self.squash = True
        else:
            self.squash = False
        self.spike_counts: list[Tensor] = []
        self.count_ops = False
        self.op_counts: dict[str, dict[str, Tensor]] = {}

    def forward(self, obs: Tensor) -> Tensor:
        """Action mean (Box) or logits (Discrete), ``[B, n_out]``."""
        b = obs.shape[0]
        obs = obs.reshape(b, *self.obs_shape).float()
        if self.encoder is not None:
            inp = self.encoder(obs, self.ticks)  # [T, B, D*P]
            in_count = inp.detach().sum((0, 2))
            conv_x = None
        else:
            conv_x = self.conv(obs)  # type: ignore[misc]  # same input at every tick
            inp = None
            in_count = obs.detach().flatten(1).sum(1) * self.ticks
        n_state = len(self.layers) + (1 if conv_x is not None else 0)
        state: list[tuple[Tensor, Tensor, Tensor] | None] = [None] * n_state
        counts = [torch.zeros((), device=obs.device)] * n_state
        out_sum: Tensor | None = None
        for t in range(self.ticks):
            k = 0
            if conv_x is not None:
                st = state[0] or (torch.zeros_like(conv_x),) * 3
                st = _lif_step(conv_x, *st, self.alpha)
                state[0] = st
                counts[0] = counts[0] + st[2].detach().flatten(1).sum(1)
                x = st[2].flatten(1)
                k = 1
            else:
                x = inp[t]  # type: ignore[index]
            for j, layer in enumerate(self.layers):
                cur = layer(x)
                st = state[k + j] or (torch.zeros_like(cur),) * 3
                st = _lif_step(cur, *st, self.alpha)
                state[k + j] = st
                counts[k + j] = counts[k + j] + st[2].detach().sum(1)
                x = st[2]
            out_sum = x if out_sum is None else out_sum + x
        self.spike_counts = [in_count, *counts]
        if self.count_ops:
            self.op_counts = self._count(obs, out_sum)  # type: ignore[arg-type]
        rates = population_rates(out_sum, self.n_out, self.ticks)  # type: ignore[arg-type]
        u = linear_readout(rates, self.readout_w, self.readout_b)
        if self.squash:
            return squash(u, self.action_low, self.action_high)
        return u


    @torch.no_grad()
    def _count(self, obs: Tensor, out_sum: Tensor) -> dict[str, dict[str, Tensor]]:
        """What the counter's hooks cannot see (module doc): spikes, encoder, readout."""
        b = obs.shape[0]
        f64 = torch.float64
        names = ([] if self.conv is None else ["conv"]) + [
            f"layers.{j}" for j in range(len(self.layers))]
        out: dict[str, dict[str, Tensor]] = {
            n: {"spikes": c.detach().double().reshape(b)}
            for n, c in zip(names, self.spike_counts[1:], strict=True)}
        if self.encoder is not None:
            units = float(self.encoder.size)
            driven = (self.encoder.activation(obs) != 0).sum(1).double() * self.ticks
            out["encoder"] = {"synops_mac": obs.new_full((b,), units, dtype=f64),
                              "synops_dense": obs.new_full((b,), units, dtype=f64),
                              "neuron_updates_driven": driven,
                              "neuron_updates_idle": self.ticks * units - driven,
                              "spikes": self.spike_counts[0].detach().double().reshape(b),
                              "ticks": obs.new_full((b,), float(self.ticks), dtype=f64)}
        rates = out_sum.detach() / self.ticks  # [B, A * P]
        eff = ((rates != 0) & (self.readout_w.reshape(-1) != 0)).sum(1).double()
        binary = ((rates == 0) | (rates == 1)).all(1)
        out["readout"] = {"synops_ac": eff * binary, "synops_mac": eff * ~binary,
                          "synops_dense": obs.new_full((b,), float(rates.shape[1]), dtype=f64),
                          "state_reads": eff,
                          "neuron_updates_driven": obs.new_full((b,), float(self.n_out),
                                                                dtype=f64)}
        return out


class PopSANExtractor(nn.Module):
    """SB3 ``mlp_extractor``: spiking actor latent (action mean / logits) and ANN critic latent.

    Args:
        feature_dim: size of the flattened features SB3 hands over.
        obs_shape: original observation shape (features are reshaped back to it).
        actor: the :class:`SpikingActor`.
    """

    def __init__(self, feature_dim: int, obs_shape: Sequence[int], actor: SpikingActor) -> None:
        super().__init__()
        self.actor = actor
        self.obs_shape = tuple(obs_shape)
        if len(self.obs_shape) == 3:
            c, h, w = self.obs_shape
            self.critic: nn.Module = nn.Sequential(
                nn.Unflatten(1, self.obs_shape), nn.Conv2d(c, 16, 3), nn.ReLU(), nn.Flatten(),
                nn.Linear(16 * (h - 2) * (w - 2), 128), nn.ReLU())
            self.latent_dim_vf = 128
        else:
            self.critic = nn.Sequential(nn.Linear(feature_dim, 64), nn.Tanh(),
                                        nn.Linear(64, 64), nn.Tanh())
            self.latent_dim_vf = 64
        self.latent_dim_pi = actor.n_out

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """(actor latent, critic latent) from shared features."""
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: Tensor) -> Tensor:
        """Actor latent ``[B, n_out]``."""
        return self.actor(features)

    def forward_critic(self, features: Tensor) -> Tensor:
        """Critic latent ``[B, latent_dim_vf]``."""
        return self.critic(features.float())


def _flat_bounds(space: spaces.Box, low: Sequence[float] | float | None,
                 high: Sequence[float] | float | None) -> tuple[list[float], list[float]]:
    """Encoder bounds: given ones (scalar or per-dim), else the finite Box bounds, else ±1."""
    d = int(np.prod(space.shape))

    def pick(given: Sequence[float] | float | None, box: np.ndarray, default: float,
             key: str) -> np.ndarray:
        if given is None:
            b = np.asarray(box, dtype=np.float64).reshape(-1)
            return np.where(np.isfinite(b), b, default)
        g = np.asarray(given, dtype=np.float64).reshape(-1)
        if g.size == 1:
            g = np.full(d, float(g[0]))
        if g.size != d or not np.isfinite(g).all():
            raise ConfigError(key, given, f"a finite scalar or {d} finite values")
        return g

    lo = pick(low, space.low, -1.0, "obs_low")
    hi = pick(high, space.high, 1.0, "obs_high")
    bad = ~(hi > lo)  # a finite bound with an infinite partner can invert; fall back to ±1
    if low is None and high is None:
        lo, hi = np.where(bad, -1.0, lo), np.where(bad, 1.0, hi)
    elif bad.any():
        raise ConfigError("obs_high", hi.tolist(), "every high > its low")
    return lo.tolist(), hi.tolist()


class PopSANPolicy(ActorCriticPolicy):
    """SB3 actor-critic policy whose actor is PopSAN's spiking network (module docstring).

    Use as ``PPO(PopSANPolicy, env, policy_kwargs={...})`` (also A2C). Extra policy kwargs:

    Args:
        hidden: LIF hidden sizes (default (256, 256)).
        pop_in: encoder neurons per flat observation dimension (default 10).
        pop_out: output neurons per action dimension / discrete action (default 10).
        ticks: spike ticks per env step (default 5).
        obs_low: encoder lower bounds (flat obs; scalar or per-dim). None: the Box's finite
            bounds, -1 where infinite (observations are clipped to the bounds).
        obs_high: encoder upper bounds, likewise.
        surrogate_alpha: SuperSpike steepness (default 10).

    Box actions: the spiking readout (squashed onto the action bounds) is the Gaussian mean
    directly (SB3's ``action_net`` is the identity) with SB3's state-independent ``log_std``.
    Discrete actions: the readout is the logits. ``ortho_init`` applies to the critic and value
    head only (the spiking actor keeps PyTorch's default init, which makes it fire).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Any,
        *args: Any,
        hidden: Sequence[int] = (256, 256),
        pop_in: int = 10,
        pop_out: int = 10,
        ticks: int = 5,
        obs_low: Sequence[float] | float | None = None,
        obs_high: Sequence[float] | float | None = None,
        surrogate_alpha: float = 10.0,
        **kwargs: Any,
    ) -> None:
        if not isinstance(observation_space, spaces.Box):
            raise Unsupported("observation_space", observation_space, "a Box")
        if not isinstance(action_space, (spaces.Box, spaces.Discrete)):
            raise Unsupported("action_space", action_space, "a Box or Discrete")
        if isinstance(action_space, spaces.Box) and not (
                np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()):
            raise Unsupported("action_space", action_space, "a Box with finite bounds")
        if kwargs.get("use_sde"):
            raise ConfigError("use_sde", True, "False (PopSAN uses a state-independent log_std)")
        self._popsan_kwargs = dict(hidden=tuple(hidden), pop_in=int(pop_in), pop_out=int(pop_out),
                                   ticks=int(ticks), surrogate_alpha=float(surrogate_alpha))
        if len(observation_space.shape) == 3:
            self._obs_bounds: tuple[list[float] | None, list[float] | None] = (None, None)
        else:
            self._obs_bounds = _flat_bounds(observation_space, obs_low, obs_high)
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        obs_shape = self.observation_space.shape
        if len(obs_shape) != 3:
            obs_shape = (int(np.prod(obs_shape)),)
        if isinstance(self.action_space, spaces.Box):
            n_out = int(np.prod(self.action_space.shape))
            a_lo = self.action_space.low.reshape(-1).tolist()
            a_hi = self.action_space.high.reshape(-1).tolist()
        else:
            n_out, a_lo, a_hi = int(self.action_space.n), None, None
        actor = SpikingActor(obs_shape, n_out, obs_low=self._obs_bounds[0],
                             obs_high=self._obs_bounds[1], action_low=a_lo, action_high=a_hi,
                             **self._popsan_kwargs)
        self.mlp_extractor = PopSANExtractor(self.features_dim, obs_shape, actor)

    def _build(self, lr_schedule: Any) -> None:
        ortho = self.ortho_init
        self.ortho_init = False  # SB3's ortho init would re-init the spiking layers too
        try:
            super()._build(lr_schedule)
        finally:
            self.ortho_init = ortho
        self.action_net = nn.Identity()  # the PopSAN readout is the mean / the logits
        if ortho:
            self.mlp_extractor.critic.apply(partial(self.init_weights, gain=np.sqrt(2)))
            self.value_net.apply(partial(self.init_weights, gain=1.0))
        self.optimizer = self.optimizer_class(  # rebuilt: the replaced action_net is gone
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(self._popsan_kwargs, obs_low=self._obs_bounds[0], obs_high=self._obs_bounds[1])
        return data
