"""Aggregate statistics over seeds (rliable wrappers): known values, CIs, NaN seeds, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from snnrl.eval.stats import (
    Interval,
    clean_scores,
    interval_estimates,
    performance_profile,
    probability_of_improvement,
)

REPS = 300  # enough for the checks below, fast


def test_iqm_mean_median_of_known_arrays() -> None:
    est = interval_estimates({"a": np.arange(1, 9), "skew": [1, 2, 3, 10]}, reps=REPS)
    a = est["a"]
    assert a["iqm"].point == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert a["mean"].point == pytest.approx(4.5)
    assert a["median"].point == pytest.approx(4.5)
    skew = est["skew"]
    assert skew["iqm"].point == pytest.approx(2.5)  # mean of 2, 3: the outlier seed is trimmed
    assert skew["mean"].point == pytest.approx(4.0)
    assert skew["median"].point == pytest.approx(2.5)
    assert a["iqm"].n_seeds == 8 and a["iqm"].n_dropped == 0


def test_runs_by_tasks_matrix() -> None:
    x = np.array([[1, 10], [2, 20], [3, 30], [4, 40]], dtype=float)  # [seeds, tasks]
    est = interval_estimates({"x": x}, ("iqm", "mean", "median", "task_median"), reps=REPS)["x"]
    assert est["iqm"].point == pytest.approx((3 + 4 + 10 + 20) / 4)  # pooled over runs x tasks
    assert est["mean"].point == pytest.approx((2.5 + 25) / 2)
    assert est["median"].point == pytest.approx((4 + 10) / 2)  # median of all 8 scores
    assert est["task_median"].point == pytest.approx((2.5 + 25) / 2)  # rliable's: of task means
    assert est["iqm"].n_seeds == 4


def test_ci_contains_the_point_and_is_reproducible() -> None:
    rng = np.random.default_rng(1)
    scores = {"a": rng.normal(10, 2, size=12), "b": rng.normal(0, 1, size=(6, 3))}
    first = interval_estimates(scores, reps=REPS, random_state=7)
    again = interval_estimates(scores, reps=REPS, random_state=7)
    assert first == again
    for per_agg in first.values():
        for iv in per_agg.values():
            assert iv.has_ci
            assert iv.low <= iv.point <= iv.high
            assert iv.low < iv.high
    other = interval_estimates(scores, reps=REPS, random_state=8)
    assert other["a"]["iqm"] != first["a"]["iqm"]  # the seed does drive the resampling
    assert other["a"]["iqm"].point == first["a"]["iqm"].point
    # a name's CI depends on its own scores and the seed only, not on the other names
    alone = interval_estimates({"b": scores["b"]}, reps=REPS, random_state=7)
    assert alone["b"] == first["b"]


def test_wider_confidence_gives_a_wider_interval() -> None:
    x = np.random.default_rng(2).normal(size=20)
    narrow = interval_estimates({"x": x}, ("mean",), reps=REPS, confidence=0.5)["x"]["mean"]
    wide = interval_estimates({"x": x}, ("mean",), reps=REPS, confidence=0.99)["x"]["mean"]
    assert wide.low < narrow.low and wide.high > narrow.high


def test_global_numpy_generator_is_left_as_it_was() -> None:
    np.random.seed(123)
    expected = np.random.random_sample()
    np.random.seed(123)
    interval_estimates({"a": np.arange(10.0)}, reps=50)
    probability_of_improvement(np.arange(5.0), np.arange(5.0) + 1, reps=50)
    performance_profile({"a": np.arange(5.0)}, reps=50)
    assert np.random.random_sample() == expected


def test_nan_seeds_are_dropped_and_counted() -> None:
    est = interval_estimates({"a": [1.0, math.nan, 3.0, 5.0]}, reps=REPS)["a"]["mean"]
    assert est.point == pytest.approx(3.0) and est.n_seeds == 3 and est.n_dropped == 1
    kept, dropped = clean_scores([[1.0, 2.0], [math.nan, 4.0], [5.0, 6.0]])
    assert kept.tolist() == [[1.0, 2.0], [5.0, 6.0]] and dropped == 1


def test_one_seed_has_a_point_but_no_interval() -> None:
    iv = interval_estimates({"a": [7.0, math.nan]}, reps=REPS)["a"]["iqm"]
    assert iv.point == 7.0 and iv.n_seeds == 1 and iv.n_dropped == 1
    assert not iv.has_ci and math.isnan(iv.low) and math.isnan(iv.high)
    assert isinstance(iv, Interval)


@pytest.mark.parametrize("bad, match", [
    ([math.nan, math.nan], "all 2 seeds hold NaN"),
    ([1.0, math.inf], "infinite"),
    ([], "non-empty"),
    (np.zeros((2, 2, 2)), "non-empty"),
    (["x", "y"], "expected numbers"),
])
def test_bad_scores_are_rejected(bad: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        interval_estimates({"a": bad}, reps=10)  # type: ignore[dict-item]


@pytest.mark.parametrize("kwargs, match", [
    ({"random_state": -1}, "random_state"),
    ({"random_state": 1.5}, "random_state"),
    ({"reps": 0}, "reps"),
    ({"confidence": 1.0}, "confidence"),
    ({"aggregates": ("iqm", "max")}, "aggregates"),
])
def test_bad_arguments_are_rejected(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        interval_estimates({"a": [1.0, 2.0]}, **kwargs)


def test_probability_of_improvement_of_separated_samples() -> None:
    x, y = np.arange(10.0) + 100, np.arange(10.0)
    up = probability_of_improvement(x, y, reps=REPS)
    assert up.probability == pytest.approx(1.0)
    assert up.low == pytest.approx(1.0) and up.high == pytest.approx(1.0)
    assert up.n_x == 10 and up.n_y == 10
    down = probability_of_improvement(y, x, reps=REPS)
    assert down.probability == pytest.approx(0.0)
    same = probability_of_improvement(x, x, reps=REPS)
    assert same.probability == pytest.approx(0.5)


def test_probability_of_improvement_counts_ties_as_half() -> None:
    # pairs (1, 2), (1, 2), (2, 2), (2, 2): 0 + 0 + 0.5 + 0.5 over 4
    r = probability_of_improvement([1.0, 2.0], [2.0, 2.0], reps=REPS)
    assert r.probability == pytest.approx(0.25)
    assert r.low <= r.probability <= r.high
    again = probability_of_improvement([1.0, 2.0], [2.0, 2.0], reps=REPS)
    assert again == r


def test_probability_of_improvement_edge_cases() -> None:
    r = probability_of_improvement([3.0, math.nan], [1.0, 2.0], reps=REPS)
    assert r.probability == 1.0 and r.n_x == 1 and r.dropped_x == 1 and not r.has_ci
    with pytest.raises(ValueError, match="tasks"):
        probability_of_improvement(np.zeros((3, 2)), np.zeros((3, 1)), reps=10)


def test_performance_profile() -> None:
    prof = performance_profile({"a": np.arange(1.0, 9.0)}, taus=[0.0, 4.5, 9.0], reps=REPS)["a"]
    assert prof.fraction.tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert np.all(prof.low <= prof.fraction) and np.all(prof.fraction <= prof.high)
    assert prof.n_seeds == 8
    default = performance_profile({"a": [1.0, 2.0], "b": [3.0, 5.0]}, reps=50)
    assert default["a"].taus[0] == 1.0 and default["a"].taus[-1] == 5.0  # spans every score
    assert len(default["b"].taus) == 101
    with pytest.raises(ValueError, match="taus"):
        performance_profile({"a": [1.0, 2.0]}, taus=[math.nan], reps=10)
