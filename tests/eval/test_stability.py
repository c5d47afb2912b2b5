"""Long-horizon stability measures, on hand-made trajectories with hand-computed values."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from snnrl.eval import EpisodeLog
from snnrl.eval.stability import (
    failure_score,
    max_drawdown,
    reward_score,
    score_band,
    stability_difference,
    stability_ratio,
    steps_to_first_failure,
    summarise,
    time_to_collapse,
    weight_drift,
    window_failures,
    window_steps_to_first_failure,
)
from snnrl.tracking.plots import stability_curve

NAN = math.nan


def make_log(rows: list[tuple[int, int, bool]]) -> EpisodeLog:
    """``(lifetime, end_step, terminated)`` per episode; return = length = 1 (unused here)."""
    log = EpisodeLog()
    for i, t, term in rows:
        log.extend(
            torch.tensor([i]), t, torch.tensor([1.0]), torch.tensor([1]), torch.tensor([term])
        )
    return log


def hand_log() -> EpisodeLog:
    # 2 lifetimes, window 100, 3 windows (steps 1..300).
    # lifetime 0: failures at 10, 50 (window 0) and 250 (window 2); a truncation at 150
    # (window 1) and one at 300 (window 2), which must not count.
    # lifetime 1: only truncations, at 100, 200 and 300.
    return make_log(
        [
            (0, 10, True),
            (1, 100, False),
            (0, 50, True),
            (0, 150, False),
            (1, 200, False),
            (0, 250, True),
            (0, 300, False),
            (1, 300, False),
        ]
    )


def assert_close(actual: torch.Tensor, expected: list, **kw) -> None:
    torch.testing.assert_close(
        actual, torch.tensor(expected, dtype=actual.dtype), equal_nan=True, **kw
    )


def test_window_failures_counts_terminations_only() -> None:
    rate = window_failures(hand_log(), num_lifetimes=2, window=100, n_windows=3)
    assert rate.shape == (2, 3) and rate.dtype == torch.float64
    assert_close(rate, [[20.0, 0.0, 10.0], [0.0, 0.0, 0.0]])


def test_window_failures_boundaries_and_window_smaller_than_lifetime() -> None:
    # window 100: step 100 closes window 0 (with 40 and 41), step 101 opens window 1.
    # window 40 (steps 1..40, 41..80, 81..120): 40 | 41 | 100 and 101.
    log = make_log([(0, 100, True), (0, 101, True), (0, 40, True), (0, 41, True)])
    assert_close(window_failures(log, 1, 100, 2), [[30.0, 10.0]])
    assert_close(window_failures(log, 1, 40, 3), [[25.0, 25.0, 50.0]])


def test_window_steps_to_first_failure_censored_at_window() -> None:
    first = window_steps_to_first_failure(hand_log(), 2, 100, 3)
    assert_close(first.steps, [[10.0, 100.0, 50.0], [100.0, 100.0, 100.0]])
    assert first.observed.tolist() == [[True, False, True], [False, False, False]]
    # a failure on a window's last step also reads W; only the mask tells it from censoring
    edge = window_steps_to_first_failure(make_log([(0, 100, True), (0, 101, True)]), 1, 100, 2)
    assert_close(edge.steps, [[100.0, 1.0]])
    assert edge.observed.tolist() == [[True, True]]


def test_steps_to_first_failure_over_the_run() -> None:
    first = steps_to_first_failure(hand_log(), 2, steps=300)
    assert_close(first.steps, [10.0, 300.0])
    assert first.observed.tolist() == [True, False]
    empty = steps_to_first_failure(EpisodeLog(), 3, steps=50)
    assert_close(empty.steps, [50.0, 50.0, 50.0])
    assert not empty.observed.any()


def test_bad_logs_are_rejected_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="end_step"):
        window_failures(hand_log(), 2, 100, 2)  # the failure at 250 is past 2 windows
    with pytest.raises(ValueError, match="env_index"):
        window_failures(hand_log(), 1, 100, 3)
    with pytest.raises(ValueError, match="window"):
        window_failures(hand_log(), 2, 0, 3)


def test_failure_score_from_rates() -> None:
    rate = window_failures(hand_log(), 2, 100, 3)
    # random cart-pole fails about 45 times per 1,000 steps
    assert_close(failure_score(rate, 45.0), [[1 - 20 / 45, 1.0, 1 - 10 / 45], [1.0, 1.0, 1.0]])
    assert_close(failure_score(torch.tensor([45.0, 90.0]), 45.0), [0.0, -1.0])
    with pytest.raises(ValueError, match="random_rate"):
        failure_score(1.0, 0.0)


def test_reward_score_on_maze_references() -> None:
    # maze_lifetime 9x9: random 14.26 and oracle 416.41 per 200-step block
    random, oracle = 14.26 / 200, 416.41 / 200
    window = 1000
    half = (random + 0.5 * (oracle - random)) * window
    got = reward_score(
        torch.tensor([random * window, oracle * window, half, 0.0]), window, random, oracle
    )
    assert_close(got, [0.0, 1.0, 0.5, -random / (oracle - random)])
    assert_close(got[2:3], [0.5])
    assert float(reward_score(1076.675, 1000, random, oracle)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="oracle"):
        reward_score(1.0, 10, 1.0, 1.0)


def test_stability_ratio_undefined_near_zero_first_window() -> None:
    scores = torch.tensor(
        [
            [0.8, 0.6, 0.4, 0.4],
            [0.01, 0.5, 0.5, 0.5],  # first window near zero
            [-0.3, 0.5, 0.5, 0.5],  # first window worse than random
            [0.5, 0.5, 0.6, 0.8],
        ],
        dtype=torch.float64,
    )
    r = stability_ratio(scores, late_fraction=0.5, eps=0.05)  # late: the last 2 windows
    assert_close(r.ratio, [0.5, NAN, NAN, 1.4])
    assert r.defined.tolist() == [True, False, False, True]
    assert_close(stability_difference(scores, late_fraction=0.5), [-0.4, 0.49, 0.8, 0.2])
    # default late fraction 0.1 of 4 windows -> the last window only
    assert_close(stability_ratio(scores).ratio, [0.5, NAN, NAN, 1.6])


def test_late_windows_count_is_ceil_of_fraction() -> None:
    # 30 windows, late fraction 0.1 -> exactly 3 late windows (0.1 * 30 is not exactly 3.0)
    scores = torch.ones(1, 30, dtype=torch.float64)
    scores[0, -3:] = 0.5
    scores[0, -4] = 0.0
    assert_close(stability_ratio(scores).ratio, [0.5])
    # a single window: late == first
    assert_close(stability_ratio(torch.tensor([[0.7]])).ratio, [1.0])


def test_time_to_collapse_hand_example() -> None:
    scores = torch.tensor(
        [
            [1.0, 0.9, 0.4, 0.8],  # below 0.5 in window 2 -> 200 steps
            [0.6, 0.5, 0.35, 0.31],  # never below 0.3 -> censored at 400
            [0.02, 0.0, 0.0, 0.0],  # undefined
            [0.2, 0.12, 0.3, 0.3],  # floor 0.15 > 0.1 -> window 1
        ],
        dtype=torch.float64,
    )
    c = time_to_collapse(scores, window=100, threshold_frac=0.5, floor=0.15)
    assert_close(c.steps, [200.0, 400.0, NAN, 100.0])
    assert c.collapsed.tolist() == [True, False, False, True]
    assert c.defined.tolist() == [True, True, False, True]
    # floor 0: the last lifetime's threshold is 0.1 and 0.12 stays above it
    c0 = time_to_collapse(scores, window=100)
    assert_close(c0.steps, [200.0, 400.0, NAN, 400.0])
    one = time_to_collapse(torch.tensor([[0.5]]), window=10)
    assert_close(one.steps, [10.0])
    assert not one.collapsed.any()


def test_max_drawdown() -> None:
    scores = torch.tensor(
        [[0.2, 0.8, 0.3, 0.9, 0.1], [0.1, 0.2, 0.3, 0.4, 0.5], [0.5, 0.4, 0.45, 0.2, 0.3]],
        dtype=torch.float64,
    )
    assert_close(max_drawdown(scores), [0.8, 0.0, 0.3])
    assert_close(max_drawdown(scores[0]), 0.8)


def test_weight_drift() -> None:
    norms = torch.tensor([[2.0, 3.0, 1.0], [0.0, 1.0, 1.0]])
    assert_close(weight_drift(norms), [[0.0, 0.5, -0.5], [NAN, NAN, NAN]])
    assert_close(weight_drift(torch.tensor([4.0, 5.0])), [0.0, 0.25])


def test_rows_are_independent() -> None:
    scores = torch.rand(3, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for i in range(3):
        row = scores[i : i + 1]
        assert_close(stability_ratio(scores).ratio[i : i + 1], stability_ratio(row).ratio.tolist())
        assert_close(
            time_to_collapse(scores, 5).steps[i : i + 1], time_to_collapse(row, 5).steps.tolist()
        )
        assert_close(max_drawdown(scores)[i : i + 1], max_drawdown(row).tolist())


def test_inputs_are_not_mutated() -> None:
    scores = torch.tensor([[0.2, 0.8, 0.3], [0.0, 0.1, 0.2]])
    before = scores.clone()
    for fn in (stability_ratio, stability_difference, max_drawdown, weight_drift, score_band):
        fn(scores)
    time_to_collapse(scores, 10)
    torch.testing.assert_close(scores, before)


def test_summarise_keys_and_values() -> None:
    log = hand_log()
    rate = window_failures(log, 2, 100, 3)
    scores = failure_score(rate, 40.0)  # [[0.5, 1, 0.75], [1, 1, 1]]
    out = summarise(
        scores,
        100,
        failures_per_1000=rate,
        first_failure=steps_to_first_failure(log, 2, 300),
        weight_norms=torch.tensor([[1.0, 2.0, 1.5], [1.0, 1.0, 1.0]]),
        silent_frac=torch.tensor([0.1, 0.3, 0.5]),
        saturated_frac=torch.tensor([[0.0, 0.0, 0.2], [0.0, 0.0, 0.0]]),
    )
    assert all(k.startswith("stability/") for k in out)
    assert all(isinstance(v, float) for v in out.values())
    expected = {
        "windows": 3.0,
        "window_steps": 100.0,
        "score_first": 0.75,
        "score_last": 0.875,
        "score_late": 0.875,
        "ratio": (1.5 + 1.0) / 2,
        "ratio_defined_frac": 1.0,
        "difference": (0.25 + 0.0) / 2,
        # neither collapses below half its first window: both censored at 300
        "time_to_collapse_steps": 300.0,
        "collapsed_frac": 0.0,
        "max_drawdown": (0.25 + 0.0) / 2,
        "failures_per_1000_first": 10.0,
        "failures_per_1000_last": 5.0,
        "steps_to_first_failure": (10.0 + 300.0) / 2,
        "first_failure_observed_frac": 0.5,
        "weight_drift_last": (0.5 + 0.0) / 2,
        "weight_drift_max_abs": (1.0 + 0.0) / 2,
        "silent_frac_first": 0.1,
        "silent_frac_last": 0.5,
        "saturated_frac_first": 0.0,
        "saturated_frac_last": 0.1,
    }
    assert out == pytest.approx({f"stability/{k}": v for k, v in expected.items()})


def test_summarise_with_nothing_defined_is_nan_not_an_error() -> None:
    out = summarise(torch.tensor([[0.0, 0.5], [-0.2, 0.5]]), 10)
    assert math.isnan(out["stability/ratio"])
    assert out["stability/ratio_defined_frac"] == 0.0
    assert math.isnan(out["stability/time_to_collapse_steps"])
    assert math.isnan(out["stability/collapsed_frac"])
    assert out["stability/difference"] == pytest.approx(0.6)


def test_score_band() -> None:
    scores = torch.tensor([[0.0, 1.0], [1.0, NAN], [2.0, 3.0]], dtype=torch.float64)
    mean, lo, hi = score_band(scores)
    assert_close(mean, [1.0, 2.0])
    assert_close(lo, [0.5, 1.5])
    assert_close(hi, [1.5, 2.5])


@pytest.mark.parametrize("n", [5, 100])
def test_stability_curve_writes_png(tmp_path: Path, n: int) -> None:
    scores = torch.rand(4, n, generator=torch.Generator().manual_seed(1))
    mean, lo, hi = score_band(scores)
    x = [(j + 1) * 50 for j in range(n)]
    path = tmp_path / "stability.png"
    stability_curve(
        x,
        mean.tolist(),
        lo.tolist(),
        hi.tolist(),
        lifetime_steps=50,
        path=path,
        title="cartpole, 100 x lifetime",
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(tmp_path.iterdir()) == [path]
