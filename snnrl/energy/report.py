"""Energy reports: every chip for one run, as summary metrics, a Markdown table and a bar chart."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from snnrl.energy.chips import Chip, load_chips
from snnrl.energy.model import Assumptions, Estimate, ann_twin_ops, estimate


def layers_from_json(d: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """LayerInfo objects from their JSON form (``energy_counts.json``)."""
    from snnrl.networks import LayerInfo

    return {k: LayerInfo(**v) for k, v in d.items()}


def estimate_all(ops: dict[str, dict[str, float]], layers: dict[str, Any],
                 chips: dict[str, Chip] | None = None,
                 assume: Assumptions = Assumptions()) -> dict[str, Estimate]:  # noqa: B008
    """The agent on every chip, plus ``ann_twin@<digital chip>`` for the ANN of the same size."""
    chips = chips or load_chips()
    host = chips.get(assume.host_chip) or load_chips([assume.host_chip])[assume.host_chip]
    out = {name: estimate(chip, ops, layers, host, assume) for name, chip in chips.items()}
    twin_layers = {n: replace(i, graded=True, plastic=False) if i.placement == "chip" else i
                   for n, i in layers.items() if not n.endswith("_lateral")}
    twin_ops = ann_twin_ops(ops, layers)
    for name, chip in chips.items():
        if chip.kind == "digital":
            est = estimate(chip, twin_ops, twin_layers, host, assume)
            est.chip = f"ann_twin@{name}"
            out[est.chip] = est
    return out


def summary_metrics(estimates: dict[str, Estimate], episode_length: float
                    ) -> dict[str, float | None]:
    """``energy/<chip>/J_per_step`` and ``J_per_episode`` (None where the agent does not fit)."""
    m: dict[str, float | None] = {}
    for name, e in estimates.items():
        if name.startswith("ann_twin@"):
            continue
        total = None if math.isnan(e.total_J) else e.total_J
        m[f"energy/{name}/J_per_step"] = total
        m[f"energy/{name}/J_per_episode"] = (None if total is None or not episode_length
                                             else total * episode_length)
    return m


def markdown(estimates: dict[str, Estimate], episode_length: float,
             returns: dict[str, float] | None = None) -> str:
    """A table of every chip: fit, J per step and episode, split, flags."""
    returns = returns or {}
    rows = ["| chip | fits | J/step total | dynamic | static | host | J/episode | flags | "
            "chip-constrained return |", "|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for name, e in estimates.items():
        if not e.fits:
            rows.append(f"| {name} | does not fit: {e.reason} | — | — | — | — | — | | — |")
            continue
        flags = []
        if e.lower_bound:
            flags.append("lower bound (unpriced: " + ", ".join(e.unpriced) + ")")
        if e.kind == "commodity":
            flags.append("commodity hardware, not ranked")
        if e.quantised_bits:
            flags.append(f"{e.quantised_bits}-bit weights")
        r = returns.get(name)
        static = "unpriced" if "static" in e.unpriced else f"{e.static_J:.3g}"
        rows.append(
            f"| {name} | yes | {e.total_J:.3g} | {e.dynamic_J:.3g} | {static} | "
            f"{e.host_J:.3g} | {e.total_J * episode_length:.3g} | {'; '.join(flags)} | "
            f"{'—' if r is None else f'{r:.1f}'} |")
    return "\n".join(rows)


def breakdown(e: Estimate) -> str:
    """Per-term and per-layer breakdown of one estimate, as text."""
    lines = [f"{e.chip}: {'does not fit: ' + e.reason if not e.fits else ''}"]
    if e.fits:
        lines.append(f"  total {e.total_J:.4g} J/step = dynamic {e.dynamic_J:.4g} + static "
                     f"{e.static_J:.4g} + host {e.host_J:.4g}"
                     + ("  [LOWER BOUND: unpriced " + ", ".join(e.unpriced) + "]"
                        if e.lower_bound else ""))
        for term, j in sorted(e.by_term.items(), key=lambda kv: -kv[1]):
            lines.append(f"    op   {term:<22} {j:.4g} J")
        for layer, j in sorted(e.by_layer.items(), key=lambda kv: -kv[1]):
            lines.append(f"    layer {layer:<21} {j:.4g} J")
    return "\n".join(lines)


def bar_chart(estimates: dict[str, Estimate], path: Path, title: str) -> None:
    """Log-scale bar chart of J per env step: chips that fit, ANN twins, lower bounds hatched."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = [(n, e) for n, e in estimates.items() if e.fits and e.total_J > 0]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(items) + 1.2), dpi=100)
    for i, (name, e) in enumerate(items):
        color = ("tab:gray" if e.kind == "commodity" else "tab:orange"
                 if name.startswith("ann_twin@") else "tab:blue")
        ax.barh(i, e.total_J, color=color, hatch="//" if e.lower_bound else None,
                edgecolor="black", linewidth=0.5)
    ax.set_yticks(range(len(items)), [n for n, _ in items], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("J per env step (hatched: lower bound; orange: ANN of the same size; "
                  "grey: commodity)", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.invert_yaxis()
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
