r"""Energy of an agent on a chip, from exact operation counts and per-operation prices.

Per env step (the formula of ../docs/ENERGY.md; counts from :mod:`snnrl.networks.counts`):

.. math::
    E = \sum_{\text{chip layers}} \big[e_{sop} \cdot AC + e_{mac} \cdot MAC
        + e_{nu,act} \cdot NU_{driven} + e_{nu,idle} \cdot NU_{idle} + e_{spike} \cdot S
        + e_{hop} \cdot S \cdot h + e_{learn} \cdot (SU_{tick} + SU_{step})
        + e_{trace} \cdot TU + e_{bit} \cdot b \cdot (R + W)\big]
        + P_{static} \cdot t_{active} + E_{host},

where ``h`` is hops per spike (0: the network fits one core), ``b`` bits per synaptic state
word, :math:`t_{active}` = ticks per step × tick duration, and :math:`E_{host}` prices the layers
that run on the host (encoder, critic) on a digital process (Horowitz 45 nm FP32 by default).

Rules (the pitfalls of Dampfhoffer et al. 2023, IEEE TETCI; Lemaire et al. 2022, ICONIP):
every tick is counted (no forgetting ×T), idle neuron updates and static power are included,
a term with counts but no price makes the figure a **lower bound** (flagged, never ranked), an
all-in price (TrueNorth) is never added to per-term prices, and an agent that cannot run on a
chip (plastic synapses without on-chip learning, graded inputs on a binary-spike chip, too many
neurons or too large a fan-in) gets **does not fit** instead of a number.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from snnrl.energy.chips import Chip

# which count keys each priced term applies to, for layers placed on the chip
TERM_COUNTS: dict[str, tuple[str, ...]] = {
    "synaptic_op": ("synops_ac",),
    "mac": ("synops_mac",),
    "neuron_update_active": ("neuron_updates_driven",),
    "neuron_update_idle": ("neuron_updates_idle",),
    "spike": ("spikes",),
    "learning_update": ("plasticity_tick", "plasticity_step"),
    "trace_update": ("trace_updates",),
}


@dataclass(frozen=True)
class Assumptions:
    """Declared with every figure (docs/ENERGY.md)."""

    tick_duration_s: float = 1e-3
    """Wall time of one tick on the chip: by default the SNN's ``dt`` (real-time operation)."""
    hops_per_spike: float = 0.0
    """Routing hops per spike (0: all neurons of the network fit one core)."""
    static_scope: str = "cores_used"
    """Static power counted for the cores the network occupies (``cores_used``) or ``chip``."""
    host_chip: str = "horowitz45_fp32"
    """Process that prices the host-side layers (encoder, critic)."""
    deployed_only: str = "only the deployed agent's life is counted; meta-training is excluded"

    def __post_init__(self) -> None:
        from snnrl.config import ConfigError

        if not (math.isfinite(self.tick_duration_s) and self.tick_duration_s > 0):
            raise ConfigError("assumptions.tick_duration_s", self.tick_duration_s, "a value > 0")
        if not (math.isfinite(self.hops_per_spike) and self.hops_per_spike >= 0):
            raise ConfigError("assumptions.hops_per_spike", self.hops_per_spike, "a value >= 0")
        if self.static_scope not in ("cores_used", "chip"):
            raise ConfigError("assumptions.static_scope", self.static_scope,
                              "'cores_used' or 'chip'")


@dataclass
class Estimate:
    """One agent's energy on one chip, per env step."""

    chip: str
    kind: str
    fits: bool
    reason: str = ""
    quantised_bits: int | None = None
    lower_bound: bool = False
    unpriced: list[str] = field(default_factory=list)
    dynamic_J: float = 0.0
    static_J: float = 0.0
    host_J: float = 0.0
    by_term: dict[str, float] = field(default_factory=dict)
    by_layer: dict[str, float] = field(default_factory=dict)

    @property
    def total_J(self) -> float:
        """Dynamic + static + host energy per env step (NaN when the agent does not fit)."""
        return self.dynamic_J + self.static_J + self.host_J if self.fits else math.nan

    @property
    def rankable(self) -> bool:
        """A figure that may be ranked against other chips: fits, complete, not commodity."""
        return self.fits and not self.lower_bound and self.kind != "commodity"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, with the total."""
        d = asdict(self)
        d["total_J"] = None if math.isnan(self.total_J) else self.total_J
        d["rankable"] = self.rankable
        return d


def fit_check(chip: Chip, layers: dict[str, Any]) -> tuple[bool, str, int | None]:
    """Can the agent's chip-placed layers run on ``chip``? ``(fits, reason, quantised_bits)``."""
    c = chip.constraints
    on_chip = {n: info for n, info in layers.items() if info.placement == "chip"}
    for name, info in on_chip.items():
        if info.plastic and not c["on_chip_learning"]:
            return False, f"layer '{name}' is plastic and {chip.name} has no on-chip learning", None
        if info.graded and not c["graded_inputs"]:
            return False, f"layer '{name}' has graded inputs; {chip.name} takes binary spikes", None
        # a layer and its `_lateral` connections feed the same neurons: their fan-ins add up
        fan_in = info.fan_in if name.endswith("_lateral") else info.fan_in + sum(
            other.fan_in for n, other in on_chip.items() if n == f"{name}_lateral")
        if c["max_fan_in"] is not None and fan_in > c["max_fan_in"]:
            return False, f"layer '{name}' fan-in {fan_in} > {c['max_fan_in']}", None
    neurons = sum(info.neurons for n, info in on_chip.items() if not n.endswith("_lateral"))
    cap = (c["neurons_per_core"] or math.inf) * (c["cores"] or math.inf)
    if neurons > cap:
        return False, f"{neurons} neurons > {cap} on {chip.name}", None
    bits = c["weight_bits"]
    return True, "", (bits if bits is not None and bits < 32 else None)


def cores_used(chip: Chip, layers: dict[str, Any]) -> int:
    """Cores the chip-placed neurons occupy."""
    per = chip.constraints["neurons_per_core"]
    neurons = sum(i.neurons for n, i in layers.items()
                  if i.placement == "chip" and not n.endswith("_lateral"))
    return 1 if not per else max(1, math.ceil(neurons / per))


def _price_layer(chip: Chip, counts: dict[str, float], assume: Assumptions, state_bits: int,
                 unpriced: set[str], by_term: dict[str, float], on_chip: bool = True) -> float:
    total = 0.0
    if chip.all_in is not None:
        # all-in: one price per event covers everything, never combined with per-term prices
        n = sum(counts.get(k, 0.0) for k in TERM_COUNTS[chip.all_in_applies_to or "synaptic_op"])
        e = chip.all_in.value * n
        by_term["all_in"] = by_term.get("all_in", 0.0) + e
        return e
    amounts = {t: sum(counts.get(k, 0.0) for k in keys) for t, keys in TERM_COUNTS.items()}
    # spikes routed between cores: only on the chip (host layers hand spikes over as I/O)
    amounts["hop"] = counts.get("spikes", 0.0) * assume.hops_per_spike if on_chip else 0.0
    amounts["memory_bit"] = (counts.get("state_reads", 0.0)
                             + counts.get("state_writes", 0.0)) * state_bits
    for term, n in amounts.items():
        if n == 0:
            continue
        if term in chip.prices:
            e = chip.prices[term].value * n
            by_term[term] = by_term.get(term, 0.0) + e
            total += e
        elif term not in chip.included:
            unpriced.add(term)
    return total


def estimate(chip: Chip, ops: dict[str, dict[str, float]], layers: dict[str, Any],
             host: Chip, assume: Assumptions = Assumptions()) -> Estimate:  # noqa: B008
    """Energy per env step of an agent with mean op counts ``ops`` (layer → key → count)."""
    fits, reason, qbits = fit_check(chip, layers)
    est = Estimate(chip=chip.name, kind=chip.kind, fits=fits, reason=reason,
                   quantised_bits=qbits)
    if not fits:
        return est
    unpriced: set[str] = set()
    state_bits = min(int(chip.constraints["weight_bits"] or 32), 32)
    for name, counts in ops.items():
        info = layers.get(name)
        if info is None or info.placement == "chip":
            e = _price_layer(chip, counts, assume, state_bits, unpriced, est.by_term)
            est.dynamic_J += e
        else:
            host_unpriced: set[str] = set()
            e = _price_layer(host, counts, assume, 32, host_unpriced, {}, on_chip=False)
            unpriced |= {f"host:{t}" for t in host_unpriced}
            est.host_J += e
        est.by_layer[name] = e
    ticks = max((c.get("ticks", 0.0) for c in ops.values()), default=0.0)
    if chip.all_in is not None:
        est.static_J = 0.0  # included in the all-in figure (measured total power)
    elif chip.static_power_w is None:
        unpriced.add("static")
    else:
        n_cores = chip.constraints["cores"]
        used = cores_used(chip, layers)
        if chip.static_per == "core":  # the file gives watts per core
            power = chip.static_power_w * (used if assume.static_scope == "cores_used"
                                           else (n_cores or 1))
        else:  # watts per chip: the cores the network uses take their share of it
            share = used / n_cores if assume.static_scope == "cores_used" and n_cores else 1.0
            power = chip.static_power_w * share
        est.static_J = power * ticks * assume.tick_duration_s
    est.unpriced = sorted(unpriced)
    est.lower_bound = bool(unpriced)
    return est


def ann_twin_ops(ops: dict[str, dict[str, float]], layers: dict[str, Any]
                 ) -> dict[str, dict[str, float]]:
    """Counts of an ANN of the same size: one dense forward pass per env step.

    Each chip-placed layer becomes a dense layer of graded units (fan-in × neurons MACs, one
    activation update per unit, one weight read per MAC); lateral connections are dropped;
    host layers are kept as they are. Counts only: no trained ANN agent stands behind them.
    """
    out: dict[str, dict[str, float]] = {}
    for name, info in layers.items():
        if info.placement != "chip":
            if name in ops:
                out[name] = dict(ops[name])
        elif not name.endswith("_lateral"):
            macs = float(info.fan_in * info.neurons)
            out[name] = {"synops_mac": macs, "synops_dense": macs,
                         "neuron_updates_driven": float(info.neurons), "state_reads": macs}
    return out
