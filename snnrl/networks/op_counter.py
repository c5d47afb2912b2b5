r"""Exact operation counts of any torch policy, per env, from forward hooks (the deep agents).

The R-STDP network counts its own operations (:mod:`snnrl.networks.rstdp_net`); the deep agents
(:mod:`snnrl.agents.deep`) are torch modules trained by gradient RL, so their frozen-weight
evaluation is counted from the outside: :class:`OpCounter` puts forward hooks on the layers of
a policy while it is evaluated and removes them afterwards (training never runs with a hook).
Definitions are those of :mod:`snnrl.networks.counts` (NeuroBench: Yik et al. 2025, Nature
Communications 16:1545; ``neurobench/metrics/workload/``):

- **Linear** :math:`y = W x + b`, :math:`W \in \mathbb{R}^{out \times in}`, per sample row
  :math:`x`: dense synaptic operations :math:`in \cdot out`; effective
  :math:`\sum_j [x_j \ne 0]\, nnz(W_{:,j})` (a product with a non-zero input and a non-zero
  weight; the bias is not a synaptic operation, as in NeuroBench). They are ACs when that
  row's inputs are all in :math:`\{-1, 0, 1\}` (spikes) and MACs otherwise, **decided per
  row**, never for a whole batch: an env whose input happens to be binary is not billed as the
  others. Inputs with leading axes beyond the batch (``[T, B, in]``) are rows too.
- **Conv2d**: the same per output position, computed exactly as the convolution of
  :math:`[x \ne 0]` with :math:`[W \ne 0]`; AC/MAC per sample (the sample's whole frame).
- **LSTM** (``nn.LSTM`` with one layer, as sb3-contrib's RecurrentPPO; ``nn.LSTMCell``): the
  four gates :math:`i, f, g, o = \sigma/\tanh(W_{ih} x_t + W_{hh} h_{t-1} + b)` are
  :math:`4H` rows of :math:`W_{ih}` and :math:`W_{hh}`: both products counted as two Linear
  layers, with :math:`h_{t-1}` taken from the hook's initial state and the layer's output
  sequence (exact for every step of the sequence). Neuron updates: :math:`5H` per step (four
  gate activations and the cell/output update). **RNNCell**: :math:`W_{ih}x + W_{hh}h`, :math:`H`
  updates.
- **Graded (ANN) units**: every output unit is updated once per call
  (``neuron_updates_driven`` = outputs, as :func:`snnrl.energy.model.ann_twin_ops`); one weight
  read (``state_reads``) per effective synaptic operation.
- **Spiking layers** (a Linear whose output is a LIF layer's input current, ``spiking=True``):
  one call is one tick; a neuron's update is *driven* when its input current in that tick is
  non-zero (bias included: it is the current the membrane integrates) and *idle* otherwise
  (:func:`snnrl.networks.counts.neuron_updates`); ``ticks`` counts the calls.
- **Observation normalisation** (``kind="affine"``, host): one MAC per feature.
- **Self-counting modules** (``kind="self"``): what a hook cannot see (spikes, STPN's fast
  weight updates and ``stpn_proxy``, Tsodyks–Markram state updates, an encoder's neuron
  updates) is counted by the module itself when its ``count_ops`` flag is set
  (:class:`snnrl.networks.stpn.STPNCell`, :class:`~snnrl.networks.stpn.SpikingSTPNCell`,
  :class:`snnrl.networks.popsan.SpikingActor`): after each forward it holds ``op_counts``,
  sub-layer → key → ``[B]`` (sub-layer ``""`` is the module itself). The flag is off outside
  :class:`OpCounter`, so training runs the uncounted code.

Counts are ``[B]`` tensors per env. :meth:`OpCounter.end_step` closes one env step and adds
only the envs whose episode was still running (``mask``); :meth:`OpCounter.per_step` is then
the mean per env step over those (env, step) pairs, the ``ops_per_step`` of
``energy_counts.json``. Hooks only read tensors, under ``torch.no_grad``: counting never changes
an action (``tests/cli/test_deep_energy.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as nnf
from torch import Tensor, nn

from snnrl.networks.rstdp_net import LayerInfo

Counts = dict[str, Tensor]
"""One layer's counts of one call: key → ``[B]`` tensor."""


def _binary_rows(x: Tensor) -> Tensor:
    """NeuroBench's spike test per row (last axis): every element in {-1, 0, 1}."""
    return ((x == 0) | (x == 1) | (x == -1)).all(-1)


def linear_counts(x: Tensor, weight: Tensor, batch_dim: int = 0) -> Counts:
    """Synaptic operations of ``W x`` for inputs ``x [..., in]`` with the batch on ``batch_dim``.

    Args:
        x: inputs; every vector along the last axis is one row (one sample at one time).
        weight: ``[out, in]``.
        batch_dim: axis of ``x`` that indexes envs.

    Returns:
        ``synops_dense``, ``synops_ac``, ``synops_mac``, ``state_reads`` (one weight read per
        effective operation), each ``[B]`` float64.
    """
    b, n_in = x.shape[batch_dim], x.shape[-1]
    rows = x.movedim(batch_dim, 0).reshape(b, -1, n_in)  # [B, R, in]
    nnz = (weight != 0).sum(0).to(torch.float64)  # [in]: non-zero weights leaving each input
    eff = (rows != 0).to(torch.float64) @ nnz  # [B, R]
    binary = _binary_rows(rows)  # [B, R]
    ac = (eff * binary).sum(1)
    mac = (eff * ~binary).sum(1)
    dense = eff.new_full((b,), float(rows.shape[1] * n_in * weight.shape[0]))
    return {"synops_dense": dense, "synops_ac": ac, "synops_mac": mac, "state_reads": ac + mac}


def conv2d_counts(x: Tensor, conv: nn.Conv2d) -> Counts:
    """Synaptic operations of ``conv(x)`` for ``x [B, C, H, W]`` (zero padding only)."""
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise ValueError(f"conv2d_counts: padding {conv.padding!r}/{conv.padding_mode} "
                         "not supported (zero padding given as numbers)")
    ones = (conv.weight != 0).to(torch.float64)
    eff = nnf.conv2d((x != 0).to(torch.float64), ones, None, conv.stride, conv.padding,
                     conv.dilation, conv.groups)  # [B, out_ch, H', W']
    per = eff.flatten(1).sum(1)
    binary = _binary_rows(x.flatten(1))
    k = conv.weight[0].numel()  # in_ch / groups * kh * kw
    dense = per.new_full((x.shape[0],), float(eff[0].numel() * k))
    ac, mac = per * binary, per * ~binary
    return {"synops_dense": dense, "synops_ac": ac, "synops_mac": mac, "state_reads": ac + mac}


def _add(dst: Counts, src: Counts) -> Counts:
    for k, v in src.items():
        dst[k] = dst[k] + v if k in dst else v
    return dst


@dataclass(frozen=True)
class LayerPlan:
    """How one module of a policy is counted and where it would run.

    Attributes:
        kind: ``"linear"``, ``"conv"``, ``"lstm"`` (``nn.LSTM``), ``"lstm_cell"``,
            ``"rnn_cell"``, ``"affine"`` (a per-feature scale and shift: one MAC per input
            feature, graded; an observation normalisation), ``"self"`` (the module counts
            itself; module doc), or ``"info"`` (no hook: describes a sub-layer that a
            ``"self"`` module reports, by its name).
        placement: ``"chip"`` (the policy network) or ``"host"`` (encoders, decoders, critics).
        spiking: the output is a LIF layer's input current (one call = one tick).
        plastic: the layer's synapses change during an episode (STPN, Tsodyks–Markram).
        graded: force the layer's ``graded`` flag; None: graded when any MAC was counted.
        neurons, fan_in: for ``"self"`` modules (others read them from the module).
        repeat: the call stands for this many ticks (a constant input fed every tick).
    """

    kind: str
    placement: str = "chip"
    spiking: bool = False
    plastic: bool = False
    graded: bool | None = None
    neurons: int = 0
    fan_in: int = 0
    repeat: int = 1


class OpCounter:
    """Counts a policy's operations per env and env step through forward hooks (module doc).

    Args:
        root: the policy module.
        plan: qualified module name in ``root`` (``""``: root itself) → :class:`LayerPlan`.

    Use as a context manager around the evaluation; call :meth:`end_step` after each action.
    Layers that never ran (a critic SB3 does not evaluate when acting) are left out.
    """

    def __init__(self, root: nn.Module, plan: dict[str, LayerPlan]) -> None:
        modules = dict(root.named_modules())
        hooked = [n for n, p in plan.items() if p.kind != "info"]
        missing = [n for n in hooked if n not in modules]
        if missing:
            raise KeyError(f"OpCounter: no module {missing} in {type(root).__name__}")
        self.plan = plan
        self.modules = {n: modules[n] for n in hooked}
        self._handles: list[Any] = []
        self._step: dict[str, Counts] = {}
        self._sums: dict[str, dict[str, Tensor]] = {}
        self._shape: dict[str, tuple[int, int]] = {}
        self.steps: Tensor | None = None

    def __enter__(self) -> OpCounter:
        for name, mod in self.modules.items():
            if self.plan[name].kind == "self":
                mod.count_ops = True
            self._handles.append(mod.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for name, mod in self.modules.items():
            if self.plan[name].kind == "self":
                mod.count_ops = False

    def _record(self, layer: str, counts: Counts) -> None:
        _add(self._step.setdefault(layer, {}), counts)

    def _hook(self, name: str) -> Any:
        plan = self.plan[name]

        @torch.no_grad()
        def hook(mod: nn.Module, args: tuple[Any, ...], out: Any) -> None:
            if plan.kind == "self":
                for sub, counts in mod.op_counts.items():
                    self._record(f"{name}.{sub}" if sub else name, dict(counts))
                return
            c, n_out, fan_in = self._generic(mod, plan, args, out)
            self._shape.setdefault(name, (n_out, fan_in))
            if plan.repeat != 1:
                c = {k: v * plan.repeat for k, v in c.items()}
            self._record(name, c)

        return hook

    @staticmethod
    def _generic(mod: nn.Module, plan: LayerPlan, args: tuple[Any, ...], out: Any
                 ) -> tuple[Counts, int, int]:
        """Counts of one call of a Linear / Conv2d / LSTM / cell: ``(counts, neurons, fan_in)``."""
        x = args[0]
        if plan.kind == "linear":
            assert isinstance(mod, nn.Linear)
            c = linear_counts(x, mod.weight)
            rows = x[..., 0].numel() // x.shape[0]
            units, n_out, fan_in, ticks = out, mod.out_features, mod.in_features, rows
        elif plan.kind == "conv":
            assert isinstance(mod, nn.Conv2d)
            c = conv2d_counts(x, mod)
            units, n_out, ticks = out, out[0].numel(), 1
            fan_in = mod.weight[0].numel()
        elif plan.kind == "lstm":
            assert isinstance(mod, nn.LSTM)
            if mod.num_layers != 1 or mod.bidirectional or mod.proj_size:
                raise ValueError("OpCounter: nn.LSTM with one layer, one direction, no proj")
            seq = x if not mod.batch_first else x.transpose(0, 1)  # [T, B, in]
            hs = out[0] if not mod.batch_first else out[0].transpose(0, 1)  # [T, B, H]
            h0 = args[1][0][0] if len(args) > 1 and args[1] is not None else hs[0] * 0
            h_prev = torch.cat((h0[None], hs[:-1]))  # [T, B, H]
            c = _add(linear_counts(seq, mod.weight_ih_l0, 1),
                     linear_counts(h_prev, mod.weight_hh_l0, 1))
            n_out, fan_in, ticks = mod.hidden_size, mod.input_size + mod.hidden_size, seq.shape[0]
            units = None
            c["neuron_updates_driven"] = c["synops_dense"].new_full(
                (seq.shape[1],), float(5 * n_out * ticks))
        elif plan.kind in ("lstm_cell", "rnn_cell"):
            assert isinstance(mod, nn.LSTMCell | nn.RNNCell)
            hx = args[1] if len(args) > 1 else None
            h = (hx[0] if isinstance(hx, tuple) else hx) if hx is not None else None
            c = linear_counts(x, mod.weight_ih)
            if h is not None:
                c = _add(c, linear_counts(h, mod.weight_hh))
            else:  # h = 0: dense products only
                c["synops_dense"] = c["synops_dense"] + mod.hidden_size * mod.weight_hh.shape[0]
            n_out, fan_in, ticks = mod.hidden_size, mod.input_size + mod.hidden_size, 1
            units = None
            per = 5 if plan.kind == "lstm_cell" else 1
            c["neuron_updates_driven"] = c["synops_dense"].new_full((x.shape[0],),
                                                                    float(per * n_out))
        elif plan.kind == "affine":
            n = float(x[0].numel())
            mac = x.new_full((x.shape[0],), n, dtype=torch.float64)
            c = {"synops_mac": mac, "synops_dense": mac.clone()}
            units, n_out, fan_in, ticks = None, int(n), 1, 1
        else:
            raise ValueError(f"OpCounter: unknown kind {plan.kind!r}")
        b = x.shape[0] if plan.kind != "lstm" else c["synops_dense"].shape[0]
        if units is not None:
            u = units.reshape(b, -1)
            if plan.spiking:
                driven = (u != 0).sum(1).to(torch.float64)
                c["neuron_updates_driven"] = driven
                c["neuron_updates_idle"] = u.shape[1] - driven
            else:
                c["neuron_updates_driven"] = u.new_full((b,), float(u.shape[1]),
                                                        dtype=torch.float64)
        c["ticks"] = c["synops_dense"].new_full((b,), float(ticks))
        return c, n_out, fan_in

    @torch.no_grad()
    def end_step(self, mask: Tensor) -> None:
        """Close one env step: add its counts for the envs where ``mask [B]`` is True."""
        m = mask.to(torch.float64)
        for layer, counts in self._step.items():
            dst = self._sums.setdefault(layer, {})
            for k, v in counts.items():
                s = (v.to(torch.float64).reshape(-1) * m).sum()
                dst[k] = dst[k] + s if k in dst else s
        self.steps = m.sum() if self.steps is None else self.steps + m.sum()
        self._step = {}

    def per_step(self) -> dict[str, dict[str, float]]:
        """Mean count per env step over the counted (env, step) pairs: layer → key → float."""
        n = float(self.steps) if self.steps is not None else 0.0
        if n == 0:
            return {}
        return {layer: {k: float(v) / n for k, v in counts.items()}
                for layer, counts in self._sums.items()}

    @property
    def layers(self) -> dict[str, LayerInfo]:
        """:class:`LayerInfo` of every layer that ran."""
        out: dict[str, LayerInfo] = {}
        for layer, counts in self._sums.items():
            plan = self.plan.get(layer) or LayerPlan("info", placement="host")
            graded = plan.graded if plan.graded is not None else bool(
                counts.get("synops_mac", 0.0) > 0)
            neurons, fan_in = self._shape.get(layer, (plan.neurons, plan.fan_in))
            out[layer] = LayerInfo(plan.placement, int(neurons), int(fan_in), plan.plastic,
                                   graded)
        return out


def batched_weight_counts(x: Tensor, w: Tensor) -> Counts:
    """Synaptic operations of per-env weights ``w [B, out, in]`` on ``x [B, in]`` (one tick).

    Effective operations use each env's own non-zero weights (STPN's ``W + F``, a TM synapse's
    ``W E``); AC or MAC per env row. Keys as :func:`linear_counts`.
    """
    nnz = (w != 0).sum(1).to(torch.float64)  # [B, in]
    eff = ((x != 0).to(torch.float64) * nnz).sum(-1)  # [B]
    binary = _binary_rows(x)
    ac, mac = eff * binary, eff * ~binary
    dense = eff.new_full((x.shape[0],), float(w.shape[1] * w.shape[2]))
    return {"synops_dense": dense, "synops_ac": ac, "synops_mac": mac, "state_reads": ac + mac}
