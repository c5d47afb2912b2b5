"""Plots written into run directories (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def learning_curve(
    records: list[dict[str, Any]],
    path: Path,
    title: str,
    lifetime_steps: int | None = None,
    num_envs: int = 1,
) -> None:
    """Mean episode return per logging interval against env steps; PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["step"] for r in records if r.get("train/episode_return") is not None]
    ys = [r["train/episode_return"] for r in records if r.get("train/episode_return") is not None]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(xs, ys, lw=1.5)
    if lifetime_steps:
        x0 = lifetime_steps * num_envs * 0.9
        ax.axvspan(x0, lifetime_steps * num_envs, color="0.9", label="last 10% of lifetime")
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xlabel("env steps (all envs)")
    ax.set_ylabel("mean episode return")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
