r"""Long-horizon stability: does an agent stay good when it lives far past its training lifetime?

An agent trained with lifetime :math:`T` env steps is run for :math:`kT` steps (``k`` = 1, 10,
100) with plastic state never reset, over :math:`L` lifetimes in one batch. The run is cut into
:math:`n` windows of :math:`W` steps (:math:`W = T` by default, so horizon ``k`` gives ``k``
windows). Window :math:`j` (0-based) holds the lifetime steps :math:`jW+1, \dots, (j+1)W`
(steps are 1-based, as :attr:`EpisodeLog.end_step`); an episode belongs to the window that
holds its ``end_step``. One run of :math:`100T` steps also answers horizons 1 and 10: pass the
first ``k`` columns.

**Per-window measures** (all ``[L, n]``; docs/REFERENCES.md, "Evaluation"):

- *Failures per 1,000 steps*: :math:`f_{\ell j} = 1000\, N^{term}_{\ell j} / W`, where
  :math:`N^{term}` counts the episodes that ended by termination (pole fell, ant fell).
  Truncations (time limits) are not failures. Cart-pole pays +1 on every step, also the failing
  one, so a fixed window's return is the same for every agent: failures are what measure it.
- *Steps to first failure* in a window: :math:`s_{\ell j} = t^{fail}_{\ell j} - jW`, the window
  step (1..W) of its first failure, right-censored at :math:`W` when the window has none; a
  boolean ``observed`` mask tells the two apart (a failure on a window's last step also gives
  :math:`W`). Over the whole run: the first failure's lifetime step, censored at the run's
  length.

**Normalised scores** (higher is better, 1 = reference ceiling, 0 = random policy):

.. math::
    \text{failure score} = 1 - \frac{f}{f_{rand}}, \qquad
    \text{reward score} = \frac{R/W - r_{rand}}{r_{oracle} - r_{rand}},

with :math:`f_{rand}` a uniformly random policy's failures per 1,000 steps (cart-pole: random
return 22.2 per episode, so :math:`f_{rand} \approx 1000 / 22.2 \approx 45`) and
:math:`r_{rand}, r_{oracle}` the random and oracle rewards *per step* (the maze: reward per
window between random and oracle, docs/ENVIRONMENTS.md). Both can go below 0 (worse than
random); the failure score is at most 1, the reward score above 1 only by beating the oracle.

**Summaries over windows**, per lifetime, from a score curve :math:`x_{\ell 0}, \dots,
x_{\ell, n-1}`:

- *Stability ratio* :math:`\bar x^{late}_\ell / x_{\ell 0}`, with :math:`\bar x^{late}` the mean
  of the last :math:`m = \max(1, \lceil \phi n \rceil)` windows (:math:`\phi` = ``late_fraction``).
  1 = as good as the first window, < 1 = worse. It is **undefined** (NaN, ``defined`` False)
  where :math:`x_{\ell 0} \le \varepsilon`: a first window at or below random level (score near
  zero or negative) makes the ratio blow up or flip sign. The *difference*
  :math:`\bar x^{late}_\ell - x_{\ell 0}` is always defined.
- *Time to collapse*: with threshold :math:`\theta_\ell = \max(\text{floor}, \alpha\, x_{\ell 0})`
  (:math:`\alpha` = ``threshold_frac``), the first window :math:`j \ge 1` with
  :math:`x_{\ell j} < \theta_\ell` collapses; the time is :math:`jW`, the steps lived before that
  window (resolution :math:`W`). Never collapsed: censored at :math:`nW` (``collapsed`` False),
  which is above every observed value. Undefined (NaN) where :math:`x_{\ell 0} \le \varepsilon`,
  as for the ratio.
- *Max drawdown* (Chan, Fishman, Canny, Kopp & Guadarrama, "Measuring the Reliability of
  Reinforcement Learning Algorithms", ICLR 2020; https://github.com/google-research/
  rl-reliability-metrics): the largest drop from a running peak to any later value,
  :math:`\max_j \big(\max_{i \le j} x_{\ell i} - x_{\ell j}\big) \ge 0`, in score units.
- *Weight drift*: :math:`\lVert w \rVert_j / \lVert w \rVert_0 - 1` (NaN where the first norm is
  0, as for fast weights that start at zero).
- *Firing health*: the fractions of silent and of saturated units per window, passed through
  (first and last window) by :func:`summarise`.

Lifetimes of one run are not independent seeds (docs/PROTOCOL.md): :func:`summarise` averages
over them within the run; aggregate over seeds with :mod:`snnrl.eval.stats`.

Example:
    >>> import torch
    >>> scores = torch.tensor([[0.2, 0.8, 0.3, 0.9, 0.1]])
    >>> max_drawdown(scores)
    tensor([0.8000])
    >>> stability_ratio(scores, late_fraction=0.2).ratio
    tensor([0.5000])
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from snnrl.eval.rollout import EpisodeLog

__all__ = [
    "Censored",
    "Collapse",
    "Ratio",
    "failure_score",
    "max_drawdown",
    "reward_score",
    "score_band",
    "stability_difference",
    "stability_ratio",
    "steps_to_first_failure",
    "summarise",
    "time_to_collapse",
    "weight_drift",
    "window_failures",
    "window_steps_to_first_failure",
]


class Censored(NamedTuple):
    """Right-censored step counts."""

    steps: Tensor
    """Steps to the event, or the censoring value where it was not observed (float64)."""
    observed: Tensor
    """Bool, same shape: True where the event happened inside the span."""


class Ratio(NamedTuple):
    """Stability ratio per lifetime, see :func:`stability_ratio`."""

    ratio: Tensor
    """``[L]`` late-window mean / first-window score; NaN where not ``defined``."""
    defined: Tensor
    """``[L]`` bool: first-window score above ``eps``."""


class Collapse(NamedTuple):
    """Time to collapse per lifetime, see :func:`time_to_collapse`."""

    steps: Tensor
    """``[L]`` steps lived before the first collapsed window; ``n * window`` where none
    collapsed; NaN where not ``defined``."""
    collapsed: Tensor
    """``[L]`` bool: a window fell below the threshold."""
    defined: Tensor
    """``[L]`` bool: first-window score above ``eps``."""


def _failures(
    log: EpisodeLog, num_lifetimes: int, steps: int, device: torch.device | str | None
) -> tuple[Tensor, Tensor]:
    """Lifetime index and end step (both int64) of every terminated episode, checked."""
    n_ep = len(log.env_index)
    if not len(log.end_step) == len(log.terminated) == n_ep:
        raise ValueError(
            f"EpisodeLog lists differ in length: env_index {n_ep}, end_step "
            f"{len(log.end_step)}, terminated {len(log.terminated)}"
        )
    env = torch.as_tensor(log.env_index, dtype=torch.long, device=device).reshape(-1)
    end = torch.as_tensor(log.end_step, dtype=torch.long, device=device).reshape(-1)
    term = torch.as_tensor(log.terminated, dtype=torch.bool, device=device).reshape(-1)
    if n_ep:
        if int(env.min()) < 0 or int(env.max()) >= num_lifetimes:
            raise ValueError(
                f"EpisodeLog.env_index outside [0, {num_lifetimes}): "
                f"min {int(env.min())}, max {int(env.max())}"
            )
        if int(end.min()) < 1 or int(end.max()) > steps:
            raise ValueError(
                f"EpisodeLog.end_step outside [1, {steps}] (the windows' span): "
                f"min {int(end.min())}, max {int(end.max())}"
            )
    return env[term], end[term]


def _check_windows(window: int, n_windows: int) -> None:
    if window < 1 or n_windows < 1:
        raise ValueError(f"window and n_windows must be >= 1, got {window} and {n_windows}")


def window_failures(
    log: EpisodeLog,
    num_lifetimes: int,
    window: int,
    n_windows: int,
    device: torch.device | str | None = None,
) -> Tensor:
    """Failures (terminated episodes) per 1,000 steps in each window.

    Args:
        log: every episode of the run; ``end_step`` is the 1-based lifetime step.
        num_lifetimes: ``L``, the number of lifetimes (``env_index`` in ``[0, L)``).
        window: ``W``, steps per window.
        n_windows: ``n``; the windows span steps ``1 .. n * W``. An episode ending after that is
            an error (pass only full windows), not silently dropped.
        device: where the result lives (default CPU).

    Returns:
        ``[L, n]`` float64: ``1000 * terminated episodes ending in the window / W``. Truncated
        episodes never count.
    """
    _check_windows(window, n_windows)
    env, end = _failures(log, num_lifetimes, window * n_windows, device)
    flat = env * n_windows + (end - 1) // window
    counts = torch.bincount(flat, minlength=num_lifetimes * n_windows)
    return counts.to(torch.float64).reshape(num_lifetimes, n_windows) * (1000.0 / window)


def window_steps_to_first_failure(
    log: EpisodeLog,
    num_lifetimes: int,
    window: int,
    n_windows: int,
    device: torch.device | str | None = None,
) -> Censored:
    """Steps from each window's start to its first failure, censored at ``window``.

    Args:
        log: every episode of the run; ``end_step`` is the 1-based lifetime step.
        num_lifetimes: ``L``.
        window: ``W``, steps per window.
        n_windows: ``n``; episodes must end within steps ``1 .. n * W``.
        device: where the result lives (default CPU).

    Returns:
        ``steps`` ``[L, n]`` float64: the window step (1..W) on which its first failure
        happened, ``W`` where the window had none; ``observed`` ``[L, n]`` bool: True where it
        had one.
    """
    _check_windows(window, n_windows)
    env, end = _failures(log, num_lifetimes, window * n_windows, device)
    k = (end - 1) // window
    flat = env * n_windows + k
    steps = torch.full((num_lifetimes * n_windows,), window, dtype=torch.long, device=env.device)
    steps.scatter_reduce_(0, flat, end - k * window, reduce="amin", include_self=True)
    observed = torch.zeros(num_lifetimes * n_windows, dtype=torch.bool, device=env.device)
    observed[flat] = True
    shape = (num_lifetimes, n_windows)
    return Censored(steps.to(torch.float64).reshape(shape), observed.reshape(shape))


def steps_to_first_failure(
    log: EpisodeLog,
    num_lifetimes: int,
    steps: int,
    device: torch.device | str | None = None,
) -> Censored:
    """Lifetime step of each lifetime's first failure, censored at ``steps``.

    Args:
        log: every episode of the run; ``end_step`` is the 1-based lifetime step.
        num_lifetimes: ``L``.
        steps: the run's length in env steps (every ``end_step`` must be ``<= steps``).
        device: where the result lives (default CPU).

    Returns:
        ``steps`` ``[L]`` float64: the 1-based step of the first terminated episode's end,
        ``steps`` where none failed; ``observed`` ``[L]`` bool.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    env, end = _failures(log, num_lifetimes, steps, device)
    out = torch.full((num_lifetimes,), steps, dtype=torch.long, device=env.device)
    out.scatter_reduce_(0, env, end, reduce="amin", include_self=True)
    observed = torch.zeros(num_lifetimes, dtype=torch.bool, device=env.device)
    observed[env] = True
    return Censored(out.to(torch.float64), observed)


def failure_score(rate_per_1000: Tensor | float, random_rate_per_1000: float) -> Tensor:
    """Failure rate as a normalised score: ``1 - rate / random_rate``.

    Args:
        rate_per_1000: failures per 1,000 steps (any shape), e.g. from :func:`window_failures`.
        random_rate_per_1000: a uniformly random policy's failures per 1,000 steps (> 0).

    Returns:
        Same shape: 1 = no failures, 0 = as many as a random policy, < 0 = more.
    """
    if not random_rate_per_1000 > 0:
        raise ValueError(f"random_rate_per_1000 must be > 0, got {random_rate_per_1000}")
    rate = torch.as_tensor(rate_per_1000, dtype=torch.float64)
    return 1.0 - rate / random_rate_per_1000


def reward_score(
    reward_per_window: Tensor | float,
    window: int,
    random_return_per_step: float,
    oracle_return_per_step: float,
) -> Tensor:
    """Reward of a window normalised between the random and oracle references.

    Args:
        reward_per_window: summed reward of each window (any shape, e.g. ``[L, n]``).
        window: ``W``, steps per window.
        random_return_per_step: a uniformly random policy's mean reward per step.
        oracle_return_per_step: the oracle's mean reward per step (> random).

    Returns:
        Same shape: ``(reward / W - random) / (oracle - random)``; 0 = random, 1 = oracle.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    span = oracle_return_per_step - random_return_per_step
    if not span > 0:
        raise ValueError(
            f"oracle_return_per_step ({oracle_return_per_step}) must exceed "
            f"random_return_per_step ({random_return_per_step})"
        )
    rate = torch.as_tensor(reward_per_window, dtype=torch.float64) / window
    return (rate - random_return_per_step) / span


def _scores_2d(scores: Tensor) -> Tensor:
    if scores.dim() != 2 or scores.shape[1] < 1:
        raise ValueError(f"scores must be [L, n_windows] with n_windows >= 1, got {scores.shape}")
    return scores


def _late_mean(scores: Tensor, late_fraction: float) -> Tensor:
    if not 0 < late_fraction <= 1:
        raise ValueError(f"late_fraction must be in (0, 1], got {late_fraction}")
    n = scores.shape[1]
    m = max(1, math.ceil(round(late_fraction * n, 9)))  # round: 0.1 * 30 is 3.0000000000000004
    return scores[:, n - m :].mean(dim=1)


def stability_ratio(scores: Tensor, late_fraction: float = 0.1, eps: float = 0.05) -> Ratio:
    """Mean score of the late windows over the first window's score, per lifetime.

    Args:
        scores: ``[L, n]`` normalised scores (higher is better, 0 = random).
        late_fraction: the late windows are the last ``max(1, ceil(late_fraction * n))``.
        eps: the ratio is defined only where the first window's score exceeds ``eps``.

    Returns:
        ``ratio`` ``[L]`` (NaN where undefined: first window at or below ``eps``, i.e. near or
        below random level) and ``defined`` ``[L]`` bool.
    """
    scores = _scores_2d(scores)
    first = scores[:, 0]
    defined = first > eps
    ratio = _late_mean(scores, late_fraction) / torch.where(defined, first, torch.ones_like(first))
    return Ratio(torch.where(defined, ratio, torch.full_like(ratio, math.nan)), defined)


def stability_difference(scores: Tensor, late_fraction: float = 0.1) -> Tensor:
    """Mean score of the late windows minus the first window's score (always defined).

    Args:
        scores: ``[L, n]`` normalised scores.
        late_fraction: as in :func:`stability_ratio`.

    Returns:
        ``[L]``: 0 = unchanged, < 0 = worse late than at first.
    """
    scores = _scores_2d(scores)
    return _late_mean(scores, late_fraction) - scores[:, 0]


def time_to_collapse(
    scores: Tensor,
    window: int,
    threshold_frac: float = 0.5,
    floor: float = 0.0,
    eps: float = 0.05,
) -> Collapse:
    """Steps until the first window whose score falls below a fraction of the first window's.

    Args:
        scores: ``[L, n]`` normalised scores.
        window: ``W``, steps per window.
        threshold_frac: a window collapses when its score is below
            ``max(floor, threshold_frac * first)``.
        floor: lowest threshold.
        eps: defined only where the first window's score exceeds ``eps``.

    Returns:
        ``steps`` ``[L]`` float64: ``j * W`` for the first collapsed window ``j >= 1`` (steps
        lived before it), ``n * W`` where none collapsed, NaN where undefined; ``collapsed`` and
        ``defined`` ``[L]`` bool.
    """
    scores = _scores_2d(scores)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    n = scores.shape[1]
    first = scores[:, 0]
    defined = first > eps
    threshold = torch.clamp(threshold_frac * first, min=floor)
    below = scores[:, 1:] < threshold[:, None]  # [L, n-1]
    below = below & defined[:, None]
    collapsed = below.any(dim=1)
    if n > 1:  # argmax of a 0/1 row is its first 1; +1: the search starts at window 1
        j = torch.where(collapsed, below.to(torch.int8).argmax(dim=1) + 1, n)
    else:
        j = torch.full_like(first, n, dtype=torch.long)
    steps = (j * window).to(torch.float64)
    steps = torch.where(defined, steps, torch.full_like(steps, math.nan))
    return Collapse(steps, collapsed, defined)


def max_drawdown(scores: Tensor) -> Tensor:
    """Largest drop from a running peak to a later window, per lifetime (Chan et al. 2020).

    Args:
        scores: ``[L, n]`` (or ``[n]``) scores, higher is better.

    Returns:
        ``[L]`` (or a scalar) ``>= 0``, in score units; 0 for a curve that never falls.
    """
    peak = torch.cummax(scores, dim=-1).values
    return (peak - scores).amax(dim=-1)


def weight_drift(norms: Tensor) -> Tensor:
    """Relative drift of a weight norm from the first window: ``norm_j / norm_0 - 1``.

    Args:
        norms: ``[n]`` or ``[L, n]`` weight norms per window.

    Returns:
        Same shape; 0 in the first window; NaN where the first norm is 0.
    """
    first = norms[..., :1]
    safe = torch.where(first == 0, torch.ones_like(first), first)
    drift = norms / safe - 1.0
    return torch.where(first == 0, torch.full_like(drift, math.nan), drift)


def score_band(
    scores: Tensor, lo_q: float = 0.25, hi_q: float = 0.75
) -> tuple[Tensor, Tensor, Tensor]:
    """Mean and quantile band over lifetimes of a score curve, for :func:`stability_curve`.

    Args:
        scores: ``[L, n]``.
        lo_q: lower quantile.
        hi_q: upper quantile.

    Returns:
        ``(mean, lo, hi)``, each ``[n]``, NaN-aware over lifetimes.
    """
    scores = _scores_2d(scores).to(torch.float64)
    q = torch.tensor([lo_q, hi_q], dtype=torch.float64, device=scores.device)
    lo, hi = torch.nanquantile(scores, q, dim=0)
    return scores.nanmean(dim=0), lo, hi


def _mean(x: Tensor) -> float:
    """NaN-aware mean as a float; NaN when nothing is finite-or-defined."""
    x = x.to(torch.float64)
    if x.numel() == 0 or bool(torch.isnan(x).all()):
        return math.nan
    return float(x.nanmean())


def summarise(
    scores: Tensor,
    window: int,
    *,
    failures_per_1000: Tensor | None = None,
    first_failure: Censored | None = None,
    weight_norms: Tensor | None = None,
    silent_frac: Tensor | None = None,
    saturated_frac: Tensor | None = None,
    late_fraction: float = 0.1,
    eps: float = 0.05,
    threshold_frac: float = 0.5,
    floor: float = 0.0,
) -> dict[str, float]:
    """Flat ``stability/...`` figures, means over lifetimes (NaN-aware).

    Keys always present: ``windows``, ``window_steps``, ``score_first``, ``score_last`` (last
    window), ``score_late`` (mean of the late windows), ``ratio`` (mean over the lifetimes where
    it is defined; NaN if none), ``ratio_defined_frac``, ``difference``,
    ``time_to_collapse_steps`` (mean over defined lifetimes, never-collapsed ones counted at
    ``n * W``, so a lower bound), ``collapsed_frac`` (of defined lifetimes), ``max_drawdown``.
    With ``failures_per_1000``: ``failures_per_1000_first`` and ``_last``. With
    ``first_failure``: ``steps_to_first_failure`` (censored ones at the run's length, a lower
    bound) and ``first_failure_observed_frac``. With ``weight_norms``: ``weight_drift_last`` and
    ``weight_drift_max_abs``. With ``silent_frac`` / ``saturated_frac`` (``[n]`` or ``[L, n]``):
    ``silent_frac_first``, ``silent_frac_last``, ``saturated_frac_first``,
    ``saturated_frac_last``. Every key is prefixed ``stability/``.

    Args:
        scores: ``[L, n]`` normalised scores per window.
        window: ``W``, steps per window.
        failures_per_1000: ``[L, n]`` from :func:`window_failures`.
        first_failure: from :func:`steps_to_first_failure`.
        weight_norms: ``[n]`` or ``[L, n]`` weight norm per window.
        silent_frac: fraction of silent units per window.
        saturated_frac: fraction of saturated units per window.
        late_fraction: see :func:`stability_ratio`.
        eps: see :func:`stability_ratio`.
        threshold_frac: see :func:`time_to_collapse`.
        floor: see :func:`time_to_collapse`.

    Returns:
        ``{"stability/<name>": float}``.
    """
    scores = _scores_2d(scores)
    ratio = stability_ratio(scores, late_fraction, eps)
    collapse = time_to_collapse(scores, window, threshold_frac, floor, eps)
    out: dict[str, float] = {
        "windows": float(scores.shape[1]),
        "window_steps": float(window),
        "score_first": _mean(scores[:, 0]),
        "score_last": _mean(scores[:, -1]),
        "score_late": _mean(_late_mean(scores, late_fraction)),
        "ratio": _mean(ratio.ratio),
        "ratio_defined_frac": _mean(ratio.defined),
        "difference": _mean(stability_difference(scores, late_fraction)),
        "time_to_collapse_steps": _mean(collapse.steps),
        "collapsed_frac": _mean(collapse.collapsed[collapse.defined]),
        "max_drawdown": _mean(max_drawdown(scores)),
    }
    if failures_per_1000 is not None:
        out["failures_per_1000_first"] = _mean(failures_per_1000[..., 0])
        out["failures_per_1000_last"] = _mean(failures_per_1000[..., -1])
    if first_failure is not None:
        out["steps_to_first_failure"] = _mean(first_failure.steps)
        out["first_failure_observed_frac"] = _mean(first_failure.observed)
    if weight_norms is not None:
        drift = weight_drift(weight_norms)
        out["weight_drift_last"] = _mean(drift[..., -1])
        out["weight_drift_max_abs"] = _mean(drift.abs().amax(dim=-1))
    for name, frac in (("silent_frac", silent_frac), ("saturated_frac", saturated_frac)):
        if frac is not None:
            out[f"{name}_first"] = _mean(frac[..., 0])
            out[f"{name}_last"] = _mean(frac[..., -1])
    return {f"stability/{k}": v for k, v in out.items()}
