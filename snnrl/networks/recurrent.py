r"""Recurrent policy networks: observation torso → recurrent cell → policy and value heads.

Every cell speaks one interface (:class:`RecurrentCell`): ``initial_state(batch, device)`` gives a
tuple of tensors with the batch as dim 0, ``forward(x [B, n_in], state) -> (h [B, H], state)``.
An episode reset is :func:`reset_state`, ``torch.where(mask, initial, state)`` per tensor, so
the learners never need to know what a cell keeps (LSTM ``(h, c)``, STPN's fast weights ``F``,
a spiking cell's membranes).

Cells (:func:`make_cell`):

- ``lstm``: :class:`torch.nn.LSTMCell` (Hochreiter & Schmidhuber 1997), state ``(h, c)``;
- ``rnn``: Elman cell :math:`h_t = \tanh(W_x x_t + W_h h_{t-1} + b)` (:class:`torch.nn.RNNCell`);
- ``stpn`` / ``stpn_snn``: :mod:`snnrl.networks.stpn` (Rodriguez, Guo & Moraitis 2022).

Heads read :math:`h_t`: discrete actions, logits :math:`W_\pi [h_t; 1]`; Box actions, a mean
:math:`W_\mu [h_t; 1]` with a state-independent log standard deviation (as SB3's PPO); value
:math:`W_v [h_t; 1]`. With the STPN paper's maze sizes (17 inputs, 4 actions) the parameter counts
match: STPN 55 → 12,215, LSTM 47 → 12,648, RNN 100 → 12,405 (paper: ≈12.4k each).

Torso: flat observations are scaled to ``[-1, 1]`` by the env's ``obs_low``/``obs_high`` when
given (identity otherwise); MinAtar frames ``[C, 10, 10]`` go through Young & Tian's (2019) network
(conv 16 × 3×3, ReLU, linear 128, ReLU); larger frames (ALE ``uint8 [4, 84, 84]``, divided by 255)
through the Nature-DQN convolutions (Mnih et al. 2015) and a linear 256, ReLU.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor, nn

from snnrl.config import ConfigError

CELLS = ("stpn", "stpn_snn", "lstm", "rnn")


class RecurrentCell(Protocol):
    """What every recurrent cell provides (LSTM, RNN, :mod:`snnrl.networks.stpn`'s cells).

    Attributes:
        hidden_size: width ``H`` of the output ``h`` that the heads read.
    """

    hidden_size: int

    def initial_state(self, batch: int, device: torch.device) -> tuple[Tensor, ...]:
        """State at an episode's start; every tensor has ``batch`` as dim 0."""
        ...

    def forward(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One env step: ``x [B, n_in]`` → ``(h [B, hidden_size], new state)``."""
        ...

    def __call__(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """``forward`` (an :class:`torch.nn.Module` provides it)."""
        ...


class LSTMCellNet(nn.Module):
    """LSTM cell with the :class:`RecurrentCell` interface; state ``(h, c)``."""

    def __init__(self, n_in: int, hidden: int) -> None:
        super().__init__()
        self.hidden_size = hidden
        self.cell = nn.LSTMCell(n_in, hidden)

    def initial_state(self, batch: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """``h = c = 0``, each ``[batch, H]``."""
        z = torch.zeros(batch, self.hidden_size, device=device)
        return z, z.clone()

    def forward(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One step: ``x [B, n_in]`` → ``(h [B, H], (h, c))``."""
        h, c = self.cell(x, (state[0], state[1]))
        return h, (h, c)


class RNNCellNet(nn.Module):
    """Elman (tanh) cell with the :class:`RecurrentCell` interface; state ``(h,)``."""

    def __init__(self, n_in: int, hidden: int) -> None:
        super().__init__()
        self.hidden_size = hidden
        self.cell = nn.RNNCell(n_in, hidden, nonlinearity="tanh")

    def initial_state(self, batch: int, device: torch.device) -> tuple[Tensor]:
        """``h = 0``, ``[batch, H]``."""
        return (torch.zeros(batch, self.hidden_size, device=device),)

    def forward(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One step: ``x [B, n_in]`` → ``(h [B, H], (h,))``."""
        h = self.cell(x, state[0])
        return h, (h,)


def make_cell(kind: str, n_in: int, hidden: int, opts: dict[str, Any] | None = None) -> nn.Module:
    """Build a cell by name; ``opts`` are the STPN cells' options (clamp, row_norm, ticks, ...)."""
    opts = opts or {}
    if kind == "lstm":
        return LSTMCellNet(n_in, hidden)
    if kind == "rnn":
        return RNNCellNet(n_in, hidden)
    from snnrl.networks.stpn import SpikingSTPNCell, STPNCell

    if kind == "stpn":
        return STPNCell(
            n_in,
            hidden,
            clamp=opts.get("clamp", 1.0),
            row_norm=opts.get("row_norm", False),
            record_stats=False,
        )
    if kind == "stpn_snn":
        return SpikingSTPNCell(
            n_in,
            hidden,
            ticks=opts.get("ticks", 8),
            beta=opts.get("beta", 0.8),
            v_th=opts.get("v_th", 1.0),
            synapse=opts.get("synapse", "stpn"),
            clamp=opts.get("clamp", 1.0),
            record_stats=False,
        )
    raise ConfigError("agent.cell", kind, f"one of {', '.join(CELLS)}")


def reset_state(
    state: tuple[Tensor, ...], initial: tuple[Tensor, ...], mask: Tensor
) -> tuple[Tensor, ...]:
    """``initial`` where ``mask [B]`` is True, ``state`` elsewhere (per tensor)."""
    return tuple(
        torch.where(mask.view(-1, *([1] * (s.ndim - 1))), i, s)
        for s, i in zip(state, initial, strict=True)
    )


class ObsTorso(nn.Module):
    """Observation → feature vector ``[B, out_dim]`` (module doc).

    Args:
        obs_shape: one env's observation shape: ``(n,)`` or ``(C, H, W)``.
        obs_low, obs_high: per-feature bounds of a flat observation (the env config's encoder
            ranges); features are mapped affinely so the bounds land on ``-1`` and ``1``. Empty:
            no scaling.

    Raises:
        ConfigError: bounds of the wrong length or with ``low >= high``; another shape.
    """

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        obs_low: tuple[float, ...] = (),
        obs_high: tuple[float, ...] = (),
    ) -> None:
        super().__init__()
        self.image = len(obs_shape) == 3
        if len(obs_shape) == 1:
            n = obs_shape[0]
            if obs_low or obs_high:
                if len(obs_low) != n or len(obs_high) != n:
                    raise ConfigError(
                        "env.obs_low/obs_high",
                        f"{len(obs_low)}/{len(obs_high)} values",
                        f"{n} each (one per observation feature) or none",
                    )
                lo = torch.as_tensor(obs_low, dtype=torch.float32)
                hi = torch.as_tensor(obs_high, dtype=torch.float32)
                if not bool((hi > lo).all()) or not bool(torch.isfinite(hi - lo).all()):
                    raise ConfigError(
                        "env.obs_low/obs_high",
                        f"{list(obs_low)}/{list(obs_high)}",
                        "finite bounds with low < high",
                    )
            else:
                lo, hi = -torch.ones(n), torch.ones(n)
            self.register_buffer("obs_mid", (hi + lo) / 2)  # [n]
            self.register_buffer("obs_half", (hi - lo) / 2)  # [n]
            self.net: nn.Module = nn.Identity()
            self.out_dim = n
        elif self.image:
            c, h, w = obs_shape
            # MinAtar frames are 10x10 floats in {0, 1}; anything of Atari size is uint8 pixels
            small = min(h, w) < 36
            self.scale = 1.0 if small else 1.0 / 255.0
            if small:  # MinAtar (Young & Tian 2019)
                self.net = nn.Sequential(
                    nn.Conv2d(c, 16, 3, 1),
                    nn.ReLU(),
                    nn.Flatten(),
                    nn.Linear(16 * (h - 2) * (w - 2), 128),
                    nn.ReLU(),
                )
                self.out_dim = 128
            else:  # Nature DQN (Mnih et al. 2015)
                conv = nn.Sequential(
                    nn.Conv2d(c, 32, 8, 4),
                    nn.ReLU(),
                    nn.Conv2d(32, 64, 4, 2),
                    nn.ReLU(),
                    nn.Conv2d(64, 64, 3, 1),
                    nn.ReLU(),
                    nn.Flatten(),
                )
                with torch.no_grad():
                    n_flat = conv(torch.zeros(1, c, h, w)).shape[1]
                self.net = nn.Sequential(conv, nn.Linear(n_flat, 256), nn.ReLU())
                self.out_dim = 256
        else:
            raise ConfigError("env", str(obs_shape), "a flat or [C, H, W] observation")

    def forward(self, obs: Tensor) -> Tensor:
        """``obs [B, *obs_shape]`` → features ``[B, out_dim]``."""
        if self.image:
            return self.net(obs.float() * self.scale)
        return (obs.float() - self.obs_mid) / self.obs_half


class RecurrentPolicyNet(nn.Module):
    """Torso → cell → policy and value heads (module doc).

    Args:
        torso: the observation torso.
        cell: a :class:`RecurrentCell` whose input size is ``torso.out_dim``.
        n_act: number of actions (discrete) or action dimensions (``box=True``).
        box: continuous actions: the policy head is a Gaussian mean with a state-independent
            ``log_std`` parameter (initialised to 0).
    """

    def __init__(self, torso: ObsTorso, cell: nn.Module, n_act: int, box: bool) -> None:
        super().__init__()
        self.torso, self.cell, self.box = torso, cell, box
        h = cell.hidden_size
        self.pi = nn.Linear(h, n_act)
        self.v = nn.Linear(h, 1)
        if box:
            self.log_std = nn.Parameter(torch.zeros(n_act))  # [n_act]

    def initial_state(self, batch: int, device: torch.device) -> tuple[Tensor, ...]:
        """The cell's state at an episode's start, for ``batch`` envs."""
        return tuple(self.cell.initial_state(batch, device))

    def forward(
        self, obs: Tensor, state: tuple[Tensor, ...]
    ) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
        """One env step: ``(logits or mean [B, n_act], value [B], new state)``."""
        h, state = self.cell(self.torso(obs), state)
        return self.pi(h), self.v(h).squeeze(-1), tuple(state)
