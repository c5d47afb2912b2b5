r"""Spiking convolutional encoders for pixel observations (MinAtar and ALE tiers).

Pixels become spikes in one of two ways, then a convolution turns spikes into the input
currents of a layer of LIF neurons (:func:`snnrl.neurons.lif_tick`).

**Intensity.** Frames are mapped to :math:`x \in [0, 1]`: ``uint8`` ALE frames as
:math:`x = o / 255`, MinAtar's float (or bool) channels, already in {0, 1}, as they are. The envs
keep ALE frames as ``uint8`` (a quarter of the memory of float32); the conversion happens here.

**(a) Rate coding** (Bernoulli, as :func:`snnrl.encoding.bernoulli_spikes`): for each of the
``K`` ticks of an env step, independently,

.. math::
    s_{k,b,c,h,w} \sim \text{Bernoulli}(p_{max}\, x_{b,c,h,w}), \qquad k = 1..K,

so a pixel's expected spike count per step is :math:`K p_{max} x`. Shape ``[K, B, C, H, W]``.

**(b) Event coding** (DVS-like). An event camera pixel fires when its log brightness
:math:`L = \log I` has changed by a contrast threshold :math:`C` since its last event, an ON
event for an increase and an OFF event for a decrease (Gallego et al., "Event-based Vision: A
Survey", IEEE TPAMI 44(1), 2022; arXiv 1904.08405, eq. 1-2: :math:`\Delta L = p\,C`). Frames are
snapshots, so the change is taken between two frames (a frame-difference approximation: the
reference is always the previous frame, not the pixel's last event):

.. math::
    \Delta L = L(x_t) - L(x_{t-1}), \qquad
    \text{ON} = [\Delta L \ge C], \qquad \text{OFF} = [\Delta L \le -C],

with :math:`L(x) = x` (linear, the default: Atari's palette has no noise to suppress and
black backgrounds, where a log would be dominated by ``eps``) or :math:`L(x) = \log(x + \epsilon)`
(``log_eps=ε``, the DVS's own contrast). Two sources of frame pairs:

- *within a frame stack* (ALE, ``[B, S, H, W]``): between consecutive frames of the stack,
  :func:`stack_events` → ``[B, 2(S-1), H, W]`` (ON channels, then OFF channels, oldest pair
  first). Stateless: the env's stack already holds the past. The ALE pads an episode's first
  stack with zero frames, so its first step shows the screen switching on (all ON events).
- *between env steps* (MinAtar, any ``[B, C, H, W]``): :func:`step_events` keeps the previous
  frame in an explicit :class:`EventState` → ``[B, 2C, H, W]``. Where ``reset[b]`` is true (the
  first observation of a new episode or lifetime, e.g. ``EnvStep.done`` with same-step
  autoreset), the reference is the frame itself, so no spurious events cross episodes.

Events are binary and belong to one env step; :func:`over_ticks` presents them at the first
tick only (``"first"``: one event, one spike, as a DVS would) or at every tick (``"repeat"``).

**(c) Convolution to currents.** With spikes :math:`s_k` of one tick, weights
:math:`W \in \mathbb{R}^{F \times C \times k \times k}` and bias :math:`b`,

.. math::
    I_k = W \star s_k + b \quad (\text{cross-correlation, stride } \sigma, \text{ padding } \pi),

``[..., C, H, W] → [..., F, H', W']`` with :math:`H' = \lfloor (H + 2\pi - k)/\sigma \rfloor + 1`,
applied per tick (time folded into the batch), so every sample and tick is independent.
:class:`SpikingConvEncoder` holds ``W`` either learnable (``nn.Parameter``: gradients flow from
the LIF layer's surrogate spike function, :func:`snnrl.neurons.spike_fn`, back into ``W``) or
fixed (a random projection kept as a buffer, for agents whose only plasticity is local). Its
effective synaptic operations (NeuroBench's count for binary inputs: each input spike drives the
``F ×`` (number of windows covering its pixel) synapses it fans out to) are
:meth:`SpikingConvEncoder.synaptic_ops`.

Spiking convolutional Atari agents: Tan, Patel & Kozma (2021, AAAI, "Strategy and Benchmark
for Converting Deep Q-Networks to Event-Driven Spiking Neural Networks"); DSQN (Liu et al.
2022). Everything here is batched, device-agnostic and pure (inputs are never modified).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F  # noqa: N812 - conventional alias
from torch import Tensor, nn

from snnrl.encoding.population import bernoulli_spikes


def intensity(obs: Tensor) -> Tensor:
    """Pixel intensities in [0, 1] as float32 (``uint8 / 255``; bool and float as they are).

    >>> intensity(torch.tensor([0, 51, 255], dtype=torch.uint8))
    tensor([0.0000, 0.2000, 1.0000])
    """
    if obs.dtype == torch.uint8:
        return obs.to(torch.float32) / 255.0
    if obs.dtype == torch.bool or not obs.is_floating_point():
        return obs.to(torch.float32)
    return obs


def rate_code(
    obs: Tensor, ticks: int, p_max: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """Bernoulli rate coding of pixels: ``[ticks, *obs.shape]`` spikes, ``p = p_max · x``.

    Args:
        obs: frames ``[B, C, H, W]`` (any shape works), uint8 or in [0, 1].
        ticks: ``K``, ticks per env step (>= 1).
        p_max: spike probability per tick of a white pixel, in [0, 1].
        generator: torch generator on ``obs``'s device, for reproducible spikes.

    Returns:
        float32 spikes (0.0 or 1.0) ``[K, B, C, H, W]``.

    >>> rate_code(torch.tensor([[0, 255]], dtype=torch.uint8), ticks=2)
    tensor([[[0., 1.]],
    <BLANKLINE>
            [[0., 1.]]])
    """
    if isinstance(ticks, bool) or not isinstance(ticks, int) or ticks < 1:
        raise ValueError(f"ticks must be an int >= 1, got {ticks!r}")
    if not 0.0 <= p_max <= 1.0:
        raise ValueError(f"p_max must be in [0, 1], got {p_max!r}")
    return bernoulli_spikes(intensity(obs), ticks, p_max, generator)


def _log_or_linear(x: Tensor, log_eps: float | None) -> Tensor:
    return x if log_eps is None else torch.log(x + log_eps)


def frame_events(
    prev: Tensor, cur: Tensor, threshold: float = 0.05, log_eps: float | None = None
) -> Tensor:
    """ON/OFF events between two frames: ``[..., C, H, W] → [..., 2C, H, W]`` (ON, then OFF).

    Args:
        prev: earlier frames ``[B, C, H, W]``, uint8 or in [0, 1].
        cur: later frames, same shape.
        threshold: contrast threshold ``C`` (> 0), in intensity units (or log units if
            ``log_eps`` is given).
        log_eps: if given, compare ``log(x + log_eps)`` (DVS contrast) instead of ``x``.

    Returns:
        float32 events in {0, 1}.

    >>> prev = torch.tensor([[[[0, 100], [200, 50]]]], dtype=torch.uint8)
    >>> cur = torch.tensor([[[[0, 200], [100, 50]]]], dtype=torch.uint8)
    >>> frame_events(prev, cur, threshold=0.2)[0]
    tensor([[[0., 1.],
             [0., 0.]],
    <BLANKLINE>
            [[0., 0.],
             [1., 0.]]])
    """
    if prev.shape != cur.shape:
        raise ValueError(f"prev and cur differ in shape: {tuple(prev.shape)} vs {tuple(cur.shape)}")
    if prev.dim() < 3:
        raise ValueError(f"frames must be [..., C, H, W], got shape {tuple(prev.shape)}")
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    if log_eps is not None and not log_eps > 0:
        raise ValueError(f"log_eps must be > 0 or None, got {log_eps!r}")
    delta = _log_or_linear(intensity(cur), log_eps) - _log_or_linear(intensity(prev), log_eps)
    on = (delta >= threshold).to(torch.float32)
    off = (delta <= -threshold).to(torch.float32)
    return torch.cat([on, off], dim=-3)


def stack_events(frames: Tensor, threshold: float = 0.05, log_eps: float | None = None) -> Tensor:
    """Events between consecutive frames of a stack: ``[B, S, H, W] → [B, 2(S-1), H, W]``.

    Channels ``0..S-2`` are ON events of the pairs (0,1), (1,2), ...; channels ``S-1..2S-3``
    the OFF events of the same pairs.

    Args:
        frames: frame stacks ``[B, S, H, W]`` with ``S >= 2``, oldest first (ALE observations).
        threshold: contrast threshold, as in :func:`frame_events`.
        log_eps: as in :func:`frame_events`.
    """
    if frames.dim() != 4 or frames.shape[1] < 2:
        raise ValueError(f"frames must be [B, S, H, W] with S >= 2, got {tuple(frames.shape)}")
    return frame_events(frames[:, :-1], frames[:, 1:], threshold, log_eps)


class EventState(NamedTuple):
    """State of step-to-step event coding."""

    prev: Tensor  # [B, C, H, W] float32 intensity of the previous step's frame


def event_init(obs: Tensor) -> EventState:
    """Event state whose reference is ``obs`` itself (no events at the first step)."""
    return EventState(prev=intensity(obs).clone())


def step_events(
    state: EventState,
    obs: Tensor,
    threshold: float = 0.05,
    reset: Tensor | None = None,
    log_eps: float | None = None,
) -> tuple[Tensor, EventState]:
    """ON/OFF events between the previous env step's frame and this one's.

    Args:
        state: the previous frame (not modified).
        obs: this step's frames ``[B, C, H, W]``, uint8 or in [0, 1].
        threshold: contrast threshold, as in :func:`frame_events`.
        reset: ``[B]`` bool; where true, ``obs`` starts a new episode/lifetime and is compared
            with itself (no events).
        log_eps: as in :func:`frame_events`.

    Returns:
        ``(events [B, 2C, H, W], new_state)``.
    """
    cur = intensity(obs)
    if cur.shape != state.prev.shape:
        raise ValueError(
            f"obs shape {tuple(cur.shape)} differs from the state's {tuple(state.prev.shape)}"
        )
    prev = state.prev
    if reset is not None:
        if reset.shape != cur.shape[:1]:
            raise ValueError(f"reset must have shape [{cur.shape[0]}], got {tuple(reset.shape)}")
        prev = torch.where(reset.view(-1, *([1] * (cur.dim() - 1))), cur, prev)
    return frame_events(prev, cur, threshold, log_eps), EventState(prev=cur)


def over_ticks(x: Tensor, ticks: int, mode: str = "first") -> Tensor:
    """Present one step's events (or any per-step input) over ``ticks`` ticks: ``[K, *x.shape]``.

    Args:
        x: per-step input ``[B, ...]``.
        ticks: ``K`` (>= 1).
        mode: ``"first"`` (at tick 0, zeros after: one spike per event) or ``"repeat"``
            (at every tick).

    >>> over_ticks(torch.tensor([1.0, 0.0]), 3)
    tensor([[1., 0.],
            [0., 0.],
            [0., 0.]])
    """
    if isinstance(ticks, bool) or not isinstance(ticks, int) or ticks < 1:
        raise ValueError(f"ticks must be an int >= 1, got {ticks!r}")
    if mode == "repeat":
        return x.unsqueeze(0).expand(ticks, *x.shape).clone()
    if mode == "first":
        out = x.new_zeros((ticks, *x.shape))
        out[0] = x
        return out
    raise ValueError(f"mode must be 'first' or 'repeat', got {mode!r}")


def conv_currents(
    spikes: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
) -> Tensor:
    """Input currents ``W ⋆ s + b`` of a conv layer: ``[..., C, H, W] → [..., F, H', W']``.

    All leading axes (ticks, batch) are folded into one batch axis, so samples and ticks stay
    independent.

    Args:
        spikes: ``[..., C, H, W]`` (e.g. ``[K, B, C, H, W]``).
        weight: ``[F, C, k, k]``.
        bias: ``[F]`` or None.
        stride: convolution stride.
        padding: zero padding on each side.
    """
    if spikes.dim() < 3 or spikes.shape[-3] != weight.shape[1]:
        raise ValueError(
            f"spikes must be [..., {weight.shape[1]}, H, W], got {tuple(spikes.shape)}"
        )
    lead = spikes.shape[:-3]
    x = spikes.reshape(-1, *spikes.shape[-3:]).to(weight.dtype)
    out = F.conv2d(x, weight, bias, stride=stride, padding=padding)  # [N, F, H', W']
    return out.reshape(*lead, *out.shape[1:])


def conv_fanout(
    height: int,
    width: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    device: torch.device | str | None = None,
) -> Tensor:
    """How many output positions (per output channel) read each input pixel: ``[H, W]``.

    >>> conv_fanout(3, 3, kernel_size=2)
    tensor([[1., 2., 1.],
            [2., 4., 2.],
            [1., 2., 1.]])
    """
    h_out = (height + 2 * padding - kernel_size) // stride + 1
    w_out = (width + 2 * padding - kernel_size) // stride + 1
    if h_out < 1 or w_out < 1:
        raise ValueError(
            f"kernel {kernel_size} (padding {padding}) does not fit a {height}x{width} input"
        )
    ones_out = torch.ones(1, 1, h_out, w_out, device=device)
    ones_k = torch.ones(1, 1, kernel_size, kernel_size, device=device)
    # output_padding restores the rows/columns a strided conv never reaches (they read 0)
    extra = (
        (height + 2 * padding - kernel_size) % stride,
        (width + 2 * padding - kernel_size) % stride,
    )
    return F.conv_transpose2d(
        ones_out, ones_k, stride=stride, padding=padding, output_padding=extra
    )[0, 0]


class SpikingConvEncoder(nn.Module):
    """A convolution from input spikes to LIF input currents, learnable or fixed.

    The module owns only the weights (no per-batch state): the spike coding is done by the pure
    functions of this module (:func:`rate_code`, :func:`stack_events`, :func:`step_events`).

    Args:
        in_channels: ``C`` of the spike maps (frame stack ``S`` or MinAtar channels for rate
            coding; ``2(S-1)`` or ``2C`` for event coding).
        out_channels: ``F`` feature maps.
        kernel_size: square kernel side ``k``.
        stride: convolution stride.
        padding: zero padding.
        learnable: weights as an ``nn.Parameter`` (trained by BPTT) if true, else a fixed
            random projection stored as a buffer (saved with the module, never trained).
        bias: add a learnable (or fixed zero) bias per feature map.
        gain: weights are drawn from ``N(0, (gain / sqrt(C k²))²)``.
        flatten: return currents ``[..., F·H'·W']`` (for ``[B, N]`` LIF layers) instead of
            ``[..., F, H', W']``.
        generator: CPU torch generator for the initial weights (reproducible).

    >>> enc = SpikingConvEncoder(4, 8, kernel_size=3, stride=1, learnable=False)
    >>> spikes = rate_code(torch.zeros(2, 4, 10, 10, dtype=torch.uint8) + 255, ticks=5)
    >>> enc(spikes).shape, enc.output_shape(10, 10)
    (torch.Size([5, 2, 512]), (8, 8, 8))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        *,
        learnable: bool = True,
        bias: bool = False,
        gain: float = 1.0,
        flatten: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        for key, value, low in (
            ("in_channels", in_channels, 1),
            ("out_channels", out_channels, 1),
            ("kernel_size", kernel_size, 1),
            ("stride", stride, 1),
            ("padding", padding, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{key} must be an int >= {low}, got {value!r}")
        if not gain > 0:
            raise ValueError(f"gain must be > 0, got {gain!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.flatten = flatten
        self.learnable = learnable
        std = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        w = (
            torch.randn(out_channels, in_channels, kernel_size, kernel_size, generator=generator)
            * std
        )  # [F, C, k, k]
        b = torch.zeros(out_channels) if bias else None  # [F]
        if learnable:
            self.weight = nn.Parameter(w)
            self.bias = nn.Parameter(b) if b is not None else None
        else:
            self.register_buffer("weight", w)
            self.register_buffer("bias", b)

    def output_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """``(F, H', W')`` for an ``H × W`` input."""
        h = (height + 2 * self.padding - self.kernel_size) // self.stride + 1
        w = (width + 2 * self.padding - self.kernel_size) // self.stride + 1
        if h < 1 or w < 1:
            raise ValueError(f"kernel {self.kernel_size} does not fit a {height}x{width} input")
        return self.out_channels, h, w

    def forward(self, spikes: Tensor) -> Tensor:
        """Currents ``[..., F·H'·W']`` (or ``[..., F, H', W']``) for spikes ``[..., C, H, W]``."""
        out = conv_currents(spikes, self.weight, self.bias, self.stride, self.padding)
        return out.flatten(-3) if self.flatten else out

    def synaptic_ops(self, spikes: Tensor) -> Tensor:
        """Effective synaptic operations caused by ``spikes [K, B, C, H, W]``, per sample ``[B]``.

        Each input spike drives ``F ×`` (windows covering its pixel) synapses; the count is
        summed over ticks, channels and pixels (exact for binary spikes and a dense kernel).
        """
        if spikes.dim() != 5:
            raise ValueError(f"spikes must be [K, B, C, H, W], got {tuple(spikes.shape)}")
        fan = conv_fanout(
            spikes.shape[-2],
            spikes.shape[-1],
            self.kernel_size,
            self.stride,
            self.padding,
            device=spikes.device,
        )  # [H, W]
        per_pixel = (spikes != 0).to(fan.dtype).sum(dim=(0, 2))  # [B, H, W]
        return (per_pixel * fan).sum(dim=(-2, -1)) * self.out_channels
