"""Population decoding of continuous actions (PopSAN linear readout, population vector)."""

from __future__ import annotations

import math

import pytest
import torch

from snnrl.encoding.continuous import (
    linear_readout,
    popsan_action,
    population_rates,
    population_vector,
    preferred_values,
    squash,
)


def test_population_rates_golden_and_layout():
    counts = torch.tensor([[3.0, 0.0, 1.0, 2.0, 2.0, 4.0]])  # 2 actions x 3 neurons, T = 4
    r = population_rates(counts, n_actions=2, ticks=4)
    assert r.shape == (1, 2, 3)
    torch.testing.assert_close(r, torch.tensor([[[0.75, 0.0, 0.25], [0.5, 0.5, 1.0]]]))


@pytest.mark.parametrize(("n_actions", "ticks", "match"), [(4, 5, "multiple"), (0, 5, "multiple"),
                                                           (2, 0, "ticks")])
def test_population_rates_rejects_bad_shapes(n_actions, ticks, match):
    with pytest.raises(ValueError, match=match):
        population_rates(torch.zeros(2, 6), n_actions, ticks)


def test_linear_readout_golden():
    rates = torch.tensor([[[0.75, 0.0, 0.25], [0.5, 0.5, 1.0]]])
    w = torch.tensor([[1.0, 2.0, -4.0], [0.5, -1.0, 2.0]])
    b = torch.tensor([0.1, -0.2])
    # action 0: 0.75 - 1.0 + 0.1 = -0.15; action 1: 0.25 - 0.5 + 2.0 - 0.2 = 1.55
    torch.testing.assert_close(linear_readout(rates, w, b), torch.tensor([[-0.15, 1.55]]))
    torch.testing.assert_close(linear_readout(rates, w), torch.tensor([[-0.25, 1.75]]))


def test_linear_readout_per_lifetime_weights():
    g = torch.Generator().manual_seed(0)
    rates = torch.rand(3, 2, 4, generator=g)
    w = torch.randn(3, 2, 4, generator=g)
    b = torch.randn(3, 2, generator=g)
    out = linear_readout(rates, w, b)
    for i in range(3):
        torch.testing.assert_close(out[i : i + 1], linear_readout(rates[i : i + 1], w[i], b[i]))
    with pytest.raises(ValueError, match=r"\[A, P\]"):
        linear_readout(rates, torch.zeros(2, 5))


def test_squash_golden_and_bounds():
    # u = 0 -> middle; tanh(u) = 0.5 -> low + 0.75 (high - low)
    u = torch.tensor([[0.0, math.atanh(0.5)]])
    torch.testing.assert_close(squash(u, [0.0, -2.0], [2.0, 2.0]), torch.tensor([[1.0, 1.0]]))
    big = torch.tensor([[-1e4, 1e4], [float("-inf"), float("inf")]])
    out = squash(big, torch.tensor([-0.4, 0.0]), torch.tensor([0.4, 3.0]))
    torch.testing.assert_close(out, torch.tensor([[-0.4, 3.0], [-0.4, 3.0]]))
    with pytest.raises(ValueError, match="high"):
        squash(u, 1.0, -1.0)
    with pytest.raises(ValueError, match="one per action"):
        squash(u, [0.0, 0.0, 0.0], 1.0)


def test_popsan_action_is_limit_times_tanh_for_symmetric_bounds():
    g = torch.Generator().manual_seed(1)
    counts = torch.randint(0, 6, (5, 8 * 10), generator=g).float()
    w = torch.randn(8, 10, generator=g)
    b = torch.randn(8, generator=g)
    a = popsan_action(counts, 5, w, b, -1.0, 1.0)
    u = (counts.view(5, 8, 10) / 5 * w).sum(-1) + b
    torch.testing.assert_close(a, torch.tanh(u))
    assert a.shape == (5, 8)
    limit = popsan_action(counts, 5, w, b, -2.5, 2.5)
    torch.testing.assert_close(limit, 2.5 * torch.tanh(u))


def test_popsan_action_respects_bounds_on_random_inputs():
    g = torch.Generator().manual_seed(2)
    counts = torch.randint(0, 50, (64, 3 * 4), generator=g).float()
    w = 100 * torch.randn(3, 4, generator=g)
    low, high = torch.tensor([-1.0, 0.0, 5.0]), torch.tensor([1.0, 0.1, 6.0])
    a = popsan_action(counts, 5, w, None, low, high)
    assert bool(((a >= low) & (a <= high)).all())


def test_preferred_values_golden():
    torch.testing.assert_close(preferred_values([0.0, -1.0], [1.0, 1.0], 5),
                               torch.tensor([[0.0, 0.25, 0.5, 0.75, 1.0],
                                             [-1.0, -0.5, 0.0, 0.5, 1.0]]))
    assert preferred_values(-1.0, 1.0, 3, n_actions=4).shape == (4, 3)
    with pytest.raises(ValueError, match="pop_size"):
        preferred_values(-1.0, 1.0, 1)
    with pytest.raises(ValueError, match="high"):
        preferred_values(1.0, -1.0, 3)
    with pytest.raises(ValueError, match="high"):
        preferred_values(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]), 3)


def test_population_vector_golden_and_silent_default():
    c = preferred_values([-1.0, 0.0], [1.0, 4.0], 3)  # [[-1, 0, 1], [0, 2, 4]]
    rates = torch.tensor([[[0.2, 0.0, 0.6], [0.0, 0.0, 0.0]]])
    # action 0: (-0.2 + 0.6) / 0.8 = 0.5; action 1 silent -> middle of range = 2
    torch.testing.assert_close(population_vector(rates, c), torch.tensor([[0.5, 2.0]]))
    torch.testing.assert_close(population_vector(rates, c, default=[0.0, -7.0]),
                               torch.tensor([[0.5, -7.0]]))
    # scale-free: counts or rates give the same action
    torch.testing.assert_close(population_vector(rates * 5, c), torch.tensor([[0.5, 2.0]]))
    with pytest.raises(ValueError, match="preferred"):
        population_vector(rates, torch.zeros(2, 4))


def test_population_vector_within_range():
    g = torch.Generator().manual_seed(3)
    c = preferred_values([-1.0, 10.0], [1.0, 12.0], 7)
    rates = torch.rand(100, 2, 7, generator=g) * (torch.rand(100, 2, 7, generator=g) < 0.3)
    a = population_vector(rates, c)
    assert bool(((a[:, 0] >= -1) & (a[:, 0] <= 1)).all())
    assert bool(((a[:, 1] >= 10) & (a[:, 1] <= 12)).all())


def test_batch_of_three_equals_three_batches_of_one():
    g = torch.Generator().manual_seed(4)
    counts = torch.randint(0, 5, (3, 2 * 6), generator=g).float()
    w, b = torch.randn(2, 6, generator=g), torch.randn(2, generator=g)
    c = preferred_values(-1.0, 1.0, 6, n_actions=2)
    whole = popsan_action(counts, 4, w, b, -1.0, 1.0)
    pv = population_vector(population_rates(counts, 2, 4), c)
    for i in range(3):
        one = counts[i : i + 1]
        torch.testing.assert_close(whole[i : i + 1], popsan_action(one, 4, w, b, -1.0, 1.0))
        torch.testing.assert_close(pv[i : i + 1], population_vector(population_rates(one, 2, 4),
                                                                    c))


def test_functions_do_not_mutate_inputs_and_gradients_flow():
    g = torch.Generator().manual_seed(5)
    counts = torch.randint(0, 5, (4, 2 * 3), generator=g).float()
    w = torch.randn(2, 3, generator=g, requires_grad=True)
    b = torch.randn(2, generator=g, requires_grad=True)
    low, high = torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 2.0])
    c = preferred_values(low, high, 3)
    saved = [t.detach().clone() for t in (counts, w, b, low, high, c)]
    a = popsan_action(counts, 4, w, b, low, high)
    population_vector(population_rates(counts, 2, 4), c)
    for before, after in zip(saved, (counts, w, b, low, high, c), strict=True):
        assert torch.equal(before, after.detach())
    a.sum().backward()
    assert w.grad is not None and bool(w.grad.abs().sum() > 0)
    assert b.grad is not None and bool(b.grad.abs().sum() > 0)


def test_population_vector_follows_the_rates_device_and_dtype():
    # meta tensors carry device and dtype but no data: a CPU tensor mixed in, or a host sync
    # (bool() of a tensor), raises
    meta = torch.device("meta")
    rates = torch.empty(4, 2, 3, device=meta)
    for pref in (preferred_values(-1.0, 1.0, 3, n_actions=2),
                 preferred_values(-1.0, 1.0, 3, n_actions=2, device=meta)):
        out = population_vector(rates, pref)
        assert out.device == meta and out.shape == (4, 2)
    assert preferred_values([-1.0, 0.0], 1.0, 3, device=meta).device == meta
    c64 = preferred_values([-1.0, 0.0], [1.0, 4.0], 3, dtype=torch.float64)
    assert c64.dtype == torch.float64
    r64 = torch.tensor([[[0.2, 0.0, 0.6], [0.0, 1.0, 0.0]]], dtype=torch.float64)
    out = population_vector(r64, c64)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, torch.tensor([[0.5, 2.0]], dtype=torch.float64))
    # float32 preferred values are cast to the rates' dtype as well
    assert population_vector(r64, preferred_values([-1.0, 0.0], [1.0, 4.0], 3)).dtype \
        == torch.float64


def test_squash_does_not_read_tensor_bounds_back_to_the_host():
    meta = torch.device("meta")
    u = torch.empty(4, 2, device=meta)
    lo, hi = torch.full((2,), -1.0, device=meta), torch.ones(2, device=meta)
    assert squash(u, lo, hi).device == meta
    assert squash(u, -1.0, [1.0, 2.0]).device == meta  # Python bounds are checked on the host
    with pytest.raises(ValueError, match="high"):
        squash(u, [0.0, 0.0], [1.0, -1.0])
    assert popsan_action(torch.empty(4, 2 * 3, device=meta), 4, torch.empty(2, 3, device=meta),
                         None, lo, hi).device == meta


@pytest.mark.gpu
def test_decoders_on_cuda_without_host_syncs():
    cuda = torch.device("cuda")
    g = torch.Generator().manual_seed(6)
    counts = torch.randint(0, 5, (8, 2 * 4), generator=g).float()
    w = torch.randn(2, 4, generator=g)
    low, high = torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 2.0])
    c = preferred_values(low, high, 4)
    want_pv = population_vector(population_rates(counts, 2, 4), c)
    want_pop = popsan_action(counts, 4, w, None, low, high)
    counts, w, low, high = counts.to(cuda), w.to(cuda), low.to(cuda), high.to(cuda)
    c_cuda = preferred_values(low, high, 4, device=cuda)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        pv = population_vector(population_rates(counts, 2, 4), c_cuda)
        pop = popsan_action(counts, 4, w, None, low, high)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.testing.assert_close(pv.cpu(), want_pv)
    torch.testing.assert_close(pop.cpu(), want_pop)
    # CPU preferred values with CUDA rates: moved to the rates' device
    torch.testing.assert_close(population_vector(population_rates(counts, 2, 4), c).cpu(), want_pv)
