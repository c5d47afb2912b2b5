"""Population encoders (Gaussian receptive fields, Bernoulli rates) and action decoders."""

from __future__ import annotations

import math

import pytest
import torch

from snnrl.encoding import (
    GaussianPopulation,
    bernoulli_spikes,
    group_sum,
    membrane_action,
    spike_count_action,
)

# --- GaussianPopulation ----------------------------------------------------------------------


def test_gaussian_population_golden_values():
    # dim 0: centres 0,1,2,3,4; dim 1: centres -2,-1,0,1,2; width 1 -> sigma = 1 in both.
    enc = GaussianPopulation([0.0, -2.0], [4.0, 2.0], n_per_dim=5, width=1.0)
    rates = enc(torch.tensor([[1.5, 0.0]]))
    # dim 0 distances 1.5, .5, .5, 1.5, 2.5 -> e^{-d^2/2}; dim 1 distances 2, 1, 0, 1, 2.
    e = [math.exp(-(d**2) / 2) for d in (1.5, 0.5, 0.5, 1.5, 2.5, 2.0, 1.0, 0.0, 1.0, 2.0)]
    # e^{-1.125} = 0.324652467, e^{-0.125} = 0.882496903, e^{-3.125} = 0.0439369336,
    # e^{-2} = 0.135335283, e^{-0.5} = 0.606530660 (hand-computed)
    golden = [
        0.324652467,
        0.882496903,
        0.882496903,
        0.324652467,
        0.0439369336,
        0.135335283,
        0.606530660,
        1.0,
        0.606530660,
        0.135335283,
    ]
    assert e == pytest.approx(golden, rel=1e-8)
    torch.testing.assert_close(rates, torch.tensor([golden]), rtol=1e-6, atol=1e-7)


def test_gaussian_population_width_scales_sigma():
    # n=3 over [-1, 1]: spacing 1; width 0.5 -> sigma 0.5 -> neighbour at e^{-1/(2*0.25)} = e^{-2}
    narrow = GaussianPopulation([-1.0], [1.0], n_per_dim=3, width=0.5)
    wide = GaussianPopulation([-1.0], [1.0], n_per_dim=3, width=2.0)
    x = torch.tensor([[0.0]])
    torch.testing.assert_close(narrow(x), torch.tensor([[0.135335283, 1.0, 0.135335283]]))
    # sigma 2 -> e^{-1/8} = 0.882496903
    torch.testing.assert_close(wide(x), torch.tensor([[0.882496903, 1.0, 0.882496903]]))


def test_gaussian_population_shape_and_range():
    low, high = [-2.4, -3.0, -0.21, -3.5], [2.4, 3.0, 0.21, 3.5]
    enc = GaussianPopulation(low, high, n_per_dim=7)
    assert enc.size == 28 and enc.obs_dim == 4
    g = torch.Generator().manual_seed(0)
    obs = (torch.rand(5, 4, generator=g) - 0.5) * 10  # includes values outside [low, high]
    rates = enc(obs)
    assert rates.shape == (5, 28)
    assert rates.dtype == torch.float32
    assert torch.all(rates >= 0) and torch.all(rates <= 1)
    # layout: the block of dimension d is columns d*n .. (d+1)*n - 1
    only_dim2 = GaussianPopulation([low[2]], [high[2]], n_per_dim=7)(obs[:, 2:3])
    torch.testing.assert_close(rates[:, 14:21], only_dim2)


def test_gaussian_population_peaks_at_centres():
    enc = GaussianPopulation([-1.0, 0.0, 10.0], [1.0, 5.0, 20.0], n_per_dim=6, width=0.7)
    for j in range(6):
        obs = enc.centres[:, j][None, :]  # [1, D]: every dimension at its j-th centre
        rates = enc(obs).view(3, 6)
        assert torch.all(rates[:, j] == 1.0)
        assert torch.all(rates.argmax(-1) == j)
        others = torch.cat([rates[:, :j], rates[:, j + 1 :]], -1)
        assert torch.all(others < 1.0)
    # centres evenly spread over [low, high], ends included
    torch.testing.assert_close(enc.centres[1], torch.linspace(0.0, 5.0, 6))


def test_gaussian_population_out_of_range_seen_by_edge_neuron():
    enc = GaussianPopulation([-1.0], [1.0], n_per_dim=5)
    rates = enc(torch.tensor([[3.0], [-3.0]]))
    assert rates[0].argmax().item() == 4
    assert rates[1].argmax().item() == 0
    # sigma = 0.5 * 0.5 = 0.25; the edge neuron, 2 away: e^{-2^2 / (2 * 0.0625)} = e^{-32}
    assert rates[0, 4].item() == pytest.approx(math.exp(-32.0), rel=1e-5)


def test_gaussian_population_does_not_mutate_obs():
    enc = GaussianPopulation([-1.0, -1.0], [1.0, 1.0], n_per_dim=4)
    obs = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
    copy = obs.clone()
    enc(obs)
    assert torch.equal(obs, copy)


@pytest.mark.parametrize(
    ("low", "high", "n", "width"),
    [
        ([0.0, 0.0], [1.0], 5, 0.5),  # lengths differ
        ([0.0], [1.0], 1, 0.5),  # n_per_dim < 2
        ([0.0], [1.0], 5, 0.0),  # width <= 0
        ([0.0, 1.0], [1.0, 1.0], 5, 0.5),  # high == low
        ([2.0], [1.0], 5, 0.5),  # high < low
    ],
)
def test_gaussian_population_rejects_bad_arguments(low, high, n, width):
    with pytest.raises(ValueError):
        GaussianPopulation(low, high, n_per_dim=n, width=width)


# --- bernoulli_spikes ------------------------------------------------------------------------


def test_bernoulli_spikes_shape_dtype_values():
    rates = torch.rand(3, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    s = bernoulli_spikes(rates, 11, 0.8, generator=torch.Generator().manual_seed(1))
    assert s.shape == (11, 3, 5)
    assert s.dtype == torch.float64
    assert set(s.unique().tolist()) <= {0.0, 1.0}


def test_bernoulli_spikes_empirical_rate():
    rates = torch.tensor([[0.0, 0.1, 0.25, 0.5, 0.75, 1.0]])
    p_max = 0.6
    s = bernoulli_spikes(rates, 20_000, p_max, generator=torch.Generator().manual_seed(7))
    empirical = s.mean(0)
    # std of the mean <= sqrt(0.25 / 20000) = 0.0035; allow ~6 std
    torch.testing.assert_close(empirical, rates * p_max, rtol=0, atol=0.02)
    assert empirical[0, 0].item() == 0.0  # rate 0 never fires


def test_bernoulli_spikes_probability_clamped_to_one():
    rates = torch.ones(2, 3)
    s = bernoulli_spikes(rates, 50, 1.5, generator=torch.Generator().manual_seed(0))
    assert torch.all(s == 1.0)


def test_bernoulli_spikes_reproducible_with_seed():
    rates = torch.full((4, 9), 0.5)
    a = bernoulli_spikes(rates, 30, 0.5, generator=torch.Generator().manual_seed(42))
    b = bernoulli_spikes(rates, 30, 0.5, generator=torch.Generator().manual_seed(42))
    c = bernoulli_spikes(rates, 30, 0.5, generator=torch.Generator().manual_seed(43))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_bernoulli_spikes_does_not_mutate_rates():
    rates = torch.tensor([[0.2, 2.0, -1.0]])  # the clamp must not touch the caller's tensor
    copy = rates.clone()
    bernoulli_spikes(rates, 5, 0.9, generator=torch.Generator().manual_seed(0))
    assert torch.equal(rates, copy)


# --- decoders --------------------------------------------------------------------------------


def test_group_sum():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    torch.testing.assert_close(group_sum(x, 2), torch.tensor([[6.0, 15.0]]))
    torch.testing.assert_close(group_sum(x, 3), torch.tensor([[3.0, 7.0, 11.0]]))


def test_spike_count_action_hand_made():
    counts = torch.tensor(
        [
            [1.0, 0.0, 2.0, 0.0, 0.0, 0.0],  # groups 1, 2, 0 -> 1
            [3.0, 1.0, 0.0, 0.0, 2.0, 3.0],  # groups 4, 0, 5 -> 2
            [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],  # groups 0, 0, 1 -> 2
        ]
    )
    assert spike_count_action(counts, 3).tolist() == [1, 2, 2]
    # two actions of three neurons each
    assert spike_count_action(counts, 2).tolist() == [0, 1, 1]


def test_spike_count_action_ties():
    counts = torch.tensor([[1.0, 1.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]])  # both rows tied
    assert spike_count_action(counts, 2).tolist() == [0, 0]  # lowest index wins
    tie_break = torch.tensor([[0.1, 0.5], [2.0, -1.0]])
    assert spike_count_action(counts, 2, tie_break).tolist() == [1, 0]


def test_tie_break_never_overrides_a_real_difference():
    counts = torch.tensor([[2.0, 1.0, 2.0, 0.0]])  # groups 3 vs 2
    tie_break = torch.tensor([[-1e6, 1e6]])
    assert spike_count_action(counts, 2, tie_break).tolist() == [0]


def test_membrane_action_hand_made():
    v = torch.tensor([[0.1, 0.3, 0.2, 0.1], [-1.0, -1.0, 0.5, -0.6], [0.25, 0.25, 0.375, 0.125]])
    # group sums: [0.4, 0.3], [-2.0, -0.1], [0.5, 0.5] (exact tie -> lowest index)
    assert membrane_action(v, 2).tolist() == [0, 1, 0]
    v3 = torch.tensor([[0.0, 1.0, -0.5, 2.0, 0.1, 0.1]])
    assert membrane_action(v3, 3).tolist() == [1]  # sums 1.0, 1.5, 0.2
