"""Plots written into run directories (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
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


def stability_curve(
    windows_x_steps: Sequence[float],
    mean_score: Sequence[float],
    lo: Sequence[float],
    hi: Sequence[float],
    lifetime_steps: int,
    path: Path,
    title: str,
    ylabel: str = "normalised score",
) -> None:
    """Score per window against lifetime steps, with a band over lifetimes; PNG at ``path``.

    Args:
        windows_x_steps: x of each window (e.g. the lifetime step at its end).
        mean_score: mean score over lifetimes per window (``snnrl.eval.stability.score_band``).
        lo: lower edge of the band per window.
        hi: upper edge of the band per window.
        lifetime_steps: the training lifetime, marked by a dashed vertical line.
        path: where the PNG goes (written atomically).
        title: plot title.
        ylabel: y-axis label.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.fill_between(windows_x_steps, lo, hi, alpha=0.25, lw=0, label="band over lifetimes")
    marker = "o" if len(mean_score) <= 20 else None
    ax.plot(windows_x_steps, mean_score, lw=1.5, marker=marker, ms=3, label="mean over lifetimes")
    ax.axvline(lifetime_steps, color="0.3", ls="--", lw=1, label="training lifetime")
    if len(mean_score) > 20:
        ax.set_xscale("log")
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("lifetime steps (plastic state never reset)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
