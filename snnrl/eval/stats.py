"""Aggregate statistics over seeds: IQM, mean, median, probability of improvement, profiles.

Thin, typed wrappers around ``rliable`` (Agarwal, Schwarzer, Castro, Courville & Bellemare,
"Deep Reinforcement Learning at the Edge of the Statistical Precipice", NeurIPS 2021;
https://github.com/google-research/rliable). The estimators and the bootstrap are rliable's;
this module only fixes the input shape, the handling of missing seeds and the random state.

Scores come as ``{name: array}`` with one row per seed, ``[n_seeds]`` (one task) or
``[n_seeds, n_tasks]``. Average several runs of the same seed *before* calling these functions:
a run's parallel lifetimes are not independent seeds (docs/PROTOCOL.md).

- **IQM** (interquartile mean): the mean of the middle 50% of all ``n_seeds * n_tasks`` scores
  (``scipy.stats.trim_mean(x, 0.25)``); robust to outlier seeds yet, unlike the median, uses half
  of the data. **mean**: the mean of all scores. **median**: the median of all
  ``n_seeds * n_tasks`` scores (with one task, the median over seeds). rliable's own "median" is
  the median over tasks of the per-task means (the paper's multi-task figure; with one task it is
  just the mean); ask for it as ``task_median``.
- **Confidence intervals**: percentile stratified bootstrap (seeds are resampled with replacement
  within each task), 95% by default. ``random_state`` fixes the resamples so that a published CI
  can be recomputed exactly; each name is bootstrapped from the same seed, so its CI does not
  depend on which other names are in the mapping.
- **Probability of improvement** ``P(X > Y)``: the Mann-Whitney U statistic over seed pairs
  divided by ``n_x * n_y`` (ties count one half), averaged over tasks, with a CI from
  independent stratified bootstraps of X and Y.
- **Performance profile**: the fraction of all runs (seeds x tasks) whose score exceeds each
  threshold ``tau``, with pointwise bootstrap CIs.

Missing seeds: a seed (row) holding NaN in any task is dropped and counted (``n_dropped``);
infinite scores are rejected (mark a diverged run's score NaN, or leave the run out). With a single
seed left, the point estimate is returned and the CI is NaN: a bootstrap of one value says
nothing about the spread.

Sharp edge: rliable 1.2's ``StratifiedBootstrap`` draws its indices from NumPy's *global*
generator (``np.random.choice``) and ignores its own ``random_state`` argument, so these wrappers
seed the global generator for the duration of each bootstrap and restore its state afterwards (not
thread-safe). rliable needs ``arch<8``, and ``arch`` 7 fails to import under pandas 3.

Example:
    >>> from snnrl.eval.stats import interval_estimates
    >>> est = interval_estimates({"a": [1, 2, 3, 4, 5, 6, 7, 8]}, reps=200)
    >>> float(est["a"]["iqm"].point)
    4.5
    >>> est["a"]["iqm"].low <= 4.5 <= est["a"]["iqm"].high
    True
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Aggregate = Literal["iqm", "mean", "median", "task_median"]
"""Names of the aggregate estimators of :func:`interval_estimates`."""
AGGREGATES: tuple[Aggregate, ...] = ("iqm", "mean", "median")
"""The default aggregates (``task_median`` is on request)."""
_ALL_AGGREGATES: tuple[Aggregate, ...] = (*AGGREGATES, "task_median")
BootstrapMethod = Literal["percentile", "basic", "bc", "bca"]


@dataclass(frozen=True)
class Interval:
    """A point estimate over seeds with its bootstrap confidence interval.

    Attributes:
        point: The estimate on all kept seeds.
        low: Lower end of the CI; NaN when fewer than two seeds were kept.
        high: Upper end of the CI; NaN when fewer than two seeds were kept.
        n_seeds: Seeds (rows) the estimate used.
        n_dropped: Seeds dropped because they held NaN.
    """

    point: float
    low: float
    high: float
    n_seeds: int
    n_dropped: int

    @property
    def has_ci(self) -> bool:
        """Whether the CI exists (at least two seeds)."""
        return not (math.isnan(self.low) or math.isnan(self.high))


@dataclass(frozen=True)
class Improvement:
    """``P(X > Y)`` over seed pairs with its bootstrap confidence interval.

    Attributes:
        probability: ``P(X > Y)``, ties counted one half; 0.5 means no difference.
        low: Lower end of the CI; NaN when X or Y has fewer than two seeds.
        high: Upper end of the CI; NaN when X or Y has fewer than two seeds.
        n_x: Seeds of X used.
        n_y: Seeds of Y used.
        dropped_x: Seeds of X dropped because they held NaN.
        dropped_y: Seeds of Y dropped because they held NaN.
    """

    probability: float
    low: float
    high: float
    n_x: int
    n_y: int
    dropped_x: int
    dropped_y: int

    @property
    def has_ci(self) -> bool:
        """Whether the CI exists (at least two seeds on each side)."""
        return not (math.isnan(self.low) or math.isnan(self.high))


@dataclass(frozen=True)
class Profile:
    """A performance profile: fraction of runs scoring above each threshold.

    Attributes:
        taus: Thresholds, ``[n_taus]``.
        fraction: Fraction of runs (seeds x tasks) with score ``> tau``, ``[n_taus]``.
        low: Lower ends of the pointwise CIs, ``[n_taus]`` (NaN with fewer than two seeds).
        high: Upper ends of the pointwise CIs, ``[n_taus]`` (NaN with fewer than two seeds).
        n_seeds: Seeds used.
        n_dropped: Seeds dropped because they held NaN.
    """

    taus: npt.NDArray[np.float64]
    fraction: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    n_seeds: int
    n_dropped: int


def _rliable() -> tuple[Any, Any]:
    """``(rliable.library, rliable.metrics)``, imported on first use (about 0.5-1 s).

    rliable imports ``absl.logging``, whose handler binds the ``sys.stderr`` of that moment and
    *closes* it when ``logging.config.dictConfig`` later resets handlers (Hydra does, at every
    job) unless it is the process's own stderr. Under a redirected stderr (pytest's capture, a
    launcher's log file) that closed a stream other code still writes to. The handler is
    pointed at ``sys.__stderr__``, which absl never closes.
    """
    import sys

    from rliable import library, metrics

    try:
        from absl import logging as absl_logging

        absl_logging.get_absl_handler().python_handler.setStream(sys.__stderr__)
    except (ImportError, AttributeError):  # pragma: no cover - absl comes with rliable
        pass
    return library, metrics


@contextlib.contextmanager
def _seeded_global_numpy(random_state: int) -> Iterator[None]:
    """Seed NumPy's global generator (rliable's bootstrap draws from it), then restore it."""
    saved = np.random.get_state()
    np.random.seed(random_state)
    try:
        yield
    finally:
        np.random.set_state(saved)


def _check_random_state(random_state: int) -> None:
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise ValueError(f"random_state={random_state!r}: expected an int >= 0")
    if random_state < 0:
        raise ValueError(f"random_state={random_state!r}: expected an int >= 0")


def _check_bootstrap_args(reps: int, confidence: float, random_state: int) -> None:
    _check_random_state(random_state)
    if isinstance(reps, bool) or not isinstance(reps, int | np.integer) or reps < 1:
        raise ValueError(f"reps={reps!r}: expected an int >= 1")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence!r}: expected a value in (0, 1)")


def clean_scores(scores: npt.ArrayLike, name: str = "scores") -> tuple[np.ndarray, int]:
    """Shape scores as ``[n_seeds, n_tasks]`` floats and drop the seeds that hold NaN.

    Args:
        scores: ``[n_seeds]`` or ``[n_seeds, n_tasks]`` numbers; NaN marks a missing score.
        name: What to call the array in error messages.

    Returns:
        ``(kept, n_dropped)``: the seeds without NaN, ``[n_kept, n_tasks]``, and how many seeds
        were dropped.

    Raises:
        ValueError: Not numeric, not 1-D or 2-D, empty, holding an infinite value, or no seed left.

    Example:
        >>> kept, dropped = clean_scores([1.0, float("nan"), 3.0])
        >>> kept.tolist(), dropped
        ([[1.0], [3.0]], 1)
    """
    try:
        x = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected numbers shaped [n_seeds] or [n_seeds, n_tasks]"
                         ) from None
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name}: shape {tuple(np.shape(scores))}: expected a non-empty "
                         "[n_seeds] or [n_seeds, n_tasks] array")
    if np.isinf(x).any():
        raise ValueError(f"{name}: holds an infinite score; expected finite scores (NaN for a "
                         "missing seed)")
    bad = np.isnan(x).any(axis=1)
    kept = x[~bad]
    if kept.shape[0] == 0:
        raise ValueError(f"{name}: all {x.shape[0]} seeds hold NaN; expected at least one")
    return kept, int(bad.sum())


def _median_of_runs(scores: np.ndarray) -> float:
    """Median of all ``n_seeds * n_tasks`` scores (rliable has no estimator for it)."""
    return float(np.median(scores))


def _aggregate_funcs(metrics: Any) -> dict[Aggregate, Callable[[np.ndarray], float]]:
    return {"iqm": metrics.aggregate_iqm, "mean": metrics.aggregate_mean,
            "median": _median_of_runs, "task_median": metrics.aggregate_median}


def interval_estimates(
    scores: Mapping[str, npt.ArrayLike],
    aggregates: Sequence[Aggregate] = AGGREGATES,
    *,
    reps: int = 50_000,
    confidence: float = 0.95,
    random_state: int = 0,
    method: BootstrapMethod = "percentile",
) -> dict[str, dict[Aggregate, Interval]]:
    """Aggregates over seeds with stratified-bootstrap CIs (rliable ``get_interval_estimates``).

    Args:
        scores: ``{name: [n_seeds] or [n_seeds, n_tasks]}``; one row per seed.
        aggregates: Which of ``"iqm"``, ``"mean"``, ``"median"``, ``"task_median"`` to estimate
            (see the module docstring); all of them come from the same bootstrap resamples.
        reps: Bootstrap resamples (rliable's default, 50,000).
        confidence: Coverage of the CIs.
        random_state: Seed of the resampling; the same scores and seed give the same CIs.
        method: arch's CI method; rliable uses ``"percentile"``.

    Returns:
        ``{name: {aggregate: Interval}}``.

    Raises:
        ValueError: Bad scores (see :func:`clean_scores`), an unknown aggregate or bad
            bootstrap arguments.
    """
    _check_bootstrap_args(reps, confidence, random_state)
    unknown = [a for a in aggregates if a not in _ALL_AGGREGATES]
    if unknown or not aggregates:
        raise ValueError(f"aggregates={list(aggregates)!r}: expected some of "
                         f"{list(_ALL_AGGREGATES)}")
    cleaned = {k: clean_scores(v, f"scores[{k!r}]") for k, v in scores.items()}
    library, metrics = _rliable()
    funcs = [_aggregate_funcs(metrics)[a] for a in aggregates]

    def func(x: np.ndarray) -> np.ndarray:
        return np.array([f(x) for f in funcs])

    out: dict[str, dict[Aggregate, Interval]] = {}
    for key, (x, dropped) in cleaned.items():
        if x.shape[0] < 2:
            point = func(x)
            low = high = np.full(len(funcs), math.nan)
        else:
            with _seeded_global_numpy(random_state):
                points, cis = library.get_interval_estimates(
                    {key: x}, func, method=method, reps=int(reps),
                    confidence_interval_size=confidence)
            point, low, high = points[key], cis[key][0], cis[key][1]
        out[key] = {a: Interval(float(point[i]), float(low[i]), float(high[i]), x.shape[0],
                                dropped)
                    for i, a in enumerate(aggregates)}
    return out


def probability_of_improvement(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    reps: int = 2_000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> Improvement:
    """``P(X > Y)`` with a stratified-bootstrap CI (``rliable.metrics.probability_of_improvement``).

    Args:
        x: Scores of X, ``[n_x]`` or ``[n_x, n_tasks]``.
        y: Scores of Y, ``[n_y]`` or ``[n_y, n_tasks]`` (same tasks, same order).
        reps: Bootstrap resamples (2,000, as rliable's examples use for this statistic).
        confidence: Coverage of the CI.
        random_state: Seed of the resampling.

    Returns:
        The probability that a random seed of X scores higher than a random seed of Y, averaged
        over tasks.

    Raises:
        ValueError: Bad scores, different task counts, or bad bootstrap arguments.
    """
    _check_bootstrap_args(reps, confidence, random_state)
    xs, dx = clean_scores(x, "x")
    ys, dy = clean_scores(y, "y")
    if xs.shape[1] != ys.shape[1]:
        raise ValueError(f"x has {xs.shape[1]} tasks and y {ys.shape[1]}: expected the same tasks")
    library, metrics = _rliable()
    if xs.shape[0] < 2 or ys.shape[0] < 2:
        p, low, high = float(metrics.probability_of_improvement(xs, ys)), math.nan, math.nan
    else:
        with _seeded_global_numpy(random_state):
            points, cis = library.get_interval_estimates(
                {"x,y": [xs, ys]}, metrics.probability_of_improvement, reps=int(reps),
                confidence_interval_size=confidence)
        p, low, high = (float(points["x,y"]), float(np.ravel(cis["x,y"])[0]),
                        float(np.ravel(cis["x,y"])[1]))
    return Improvement(p, low, high, xs.shape[0], ys.shape[0], dx, dy)


def performance_profile(
    scores: Mapping[str, npt.ArrayLike],
    taus: npt.ArrayLike | None = None,
    *,
    reps: int = 2_000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> dict[str, Profile]:
    """Fraction of runs scoring above ``tau`` (rliable ``create_performance_profile``).

    Args:
        scores: ``{name: [n_seeds] or [n_seeds, n_tasks]}``.
        taus: Thresholds; by default 101 points spanning all kept scores of all names.
        reps: Bootstrap resamples (rliable's default for profiles, 2,000).
        confidence: Coverage of the pointwise CIs.
        random_state: Seed of the resampling.

    Returns:
        ``{name: Profile}``.

    Raises:
        ValueError: Bad scores, bad thresholds or bad bootstrap arguments.
    """
    _check_bootstrap_args(reps, confidence, random_state)
    cleaned = {k: clean_scores(v, f"scores[{k!r}]") for k, v in scores.items()}
    if taus is None:
        pooled = np.concatenate([x.ravel() for x, _ in cleaned.values()]) if cleaned else None
        if pooled is None:
            return {}
        t = np.linspace(pooled.min(), pooled.max(), 101)
    else:
        t = np.asarray(taus, dtype=np.float64).ravel()
        if t.size == 0 or not np.isfinite(t).all():
            raise ValueError("taus: expected a non-empty list of finite thresholds")
    library, _ = _rliable()
    out: dict[str, Profile] = {}
    for key, (x, dropped) in cleaned.items():
        if x.shape[0] < 2:
            frac = np.array([np.mean(x > tau) for tau in t])
            low = high = np.full(t.shape, math.nan)
        else:
            with _seeded_global_numpy(random_state):
                profiles, cis = library.create_performance_profile(
                    {key: x}, t, reps=int(reps), confidence_interval_size=confidence)
            frac, low, high = profiles[key], cis[key][0], cis[key][1]
        out[key] = Profile(t.copy(), np.asarray(frac, dtype=np.float64),
                           np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64),
                           x.shape[0], dropped)
    return out
