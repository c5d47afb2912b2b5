"""Reward-modulated STDP: sign of the three-factor rule, eligibility, fused window."""

from __future__ import annotations

import math

import pytest
import torch

from snnrl.plasticity import (
    LOCAL_SIGNALS,
    RSTDP_INFO,
    RULES,
    RSTDPParams,
    RSTDPState,
    STDPParams,
    STDPTraces,
    rstdp_dw,
    rstdp_eligibility_window,
    rstdp_init,
    rstdp_tick,
)

F64 = torch.float64
DT = 1e-3
PARAMS = RSTDPParams(
    stdp=STDPParams(tau_plus=17e-3, tau_minus=33e-3, a_plus=0.7, a_minus=0.45), tau_e=0.1
)


def _ticks(params, state, s_pre, s_post, dt):
    for sp, so in zip(s_pre, s_post, strict=True):
        state = rstdp_tick(params, state, sp, so, dt)
    return state


def _random_state(g, b, n_pre, n_post):
    return RSTDPState(
        traces=STDPTraces(
            x_pre=torch.rand(b, n_pre, generator=g, dtype=F64),
            x_post=torch.rand(b, n_post, generator=g, dtype=F64),
        ),
        elig=torch.randn(b, n_post, n_pre, generator=g, dtype=F64),
    )


def _bernoulli(g, shape, p=0.3):
    return (torch.rand(shape, generator=g, dtype=F64) < p).to(F64)


def _causal_pairing(b):
    """Pre neuron 2 at tick 1, post neuron 0 at tick 4, in every lifetime; [T, B, n]."""
    s_pre = torch.zeros(6, b, 3, dtype=F64)
    s_post = torch.zeros(6, b, 2, dtype=F64)
    s_pre[1, :, 2] = 1.0
    s_post[4, :, 0] = 1.0
    return s_pre, s_post


def test_modulator_sign_sets_direction_of_change():
    s_pre, s_post = _causal_pairing(3)
    state = _ticks(PARAMS, rstdp_init(3, 3, 2, dtype=F64), s_pre, s_post, DT)
    modulator = torch.tensor([1.0, -1.0, 0.0], dtype=F64)
    dw = rstdp_dw(state, modulator, lr=0.05)
    assert dw.shape == (3, 2, 3)
    assert dw[0, 0, 2] > 0  # positive modulator potentiates the causal synapse
    assert dw[1, 0, 2] < 0  # negative modulator depresses it
    assert torch.all(dw[2] == 0)  # zero modulator: exactly no change
    assert dw[0, 0, 2] == -dw[1, 0, 2]


def test_rstdp_dw_golden_value():
    s_pre, s_post = _causal_pairing(1)
    state = _ticks(PARAMS, rstdp_init(1, 3, 2, dtype=F64), s_pre, s_post, DT)
    # pairing at delay 3 ticks: zeta = 0.7 e^{-3/17}; then one more tick of eligibility decay
    # e^{-1/100}: 0.7 * 0.838223432423 * 0.990049833749 = 0.580918078941 (hand-computed)
    assert state.elig[0, 0, 2].item() == pytest.approx(0.580918078941, rel=1e-11)
    dw = rstdp_dw(state, torch.tensor([2.0], dtype=F64), lr=0.1)
    assert dw[0, 0, 2].item() == pytest.approx(0.2 * 0.580918078941, rel=1e-11)
    # only the paired synapse has eligibility
    rest = state.elig.clone()
    rest[0, 0, 2] = 0.0
    assert torch.all(rest == 0)


def test_rstdp_dw_is_lr_times_modulator_times_eligibility():
    g = torch.Generator().manual_seed(0)
    state = _random_state(g, 3, 4, 2)
    m = torch.tensor([0.5, -2.0, 3.0], dtype=F64)
    dw = rstdp_dw(state, m, lr=0.01)
    torch.testing.assert_close(dw, 0.01 * m[:, None, None] * state.elig, rtol=1e-15, atol=0)


def test_eligibility_decays_with_tau_e():
    g = torch.Generator().manual_seed(1)
    e0 = torch.randn(2, 3, 4, generator=g, dtype=F64)
    state = RSTDPState(traces=rstdp_init(2, 4, 3, dtype=F64).traces, elig=e0.clone())
    zp, zq = torch.zeros(2, 4, dtype=F64), torch.zeros(2, 3, dtype=F64)
    one = rstdp_tick(PARAMS, state, zp, zq, DT)
    # e^{-1 ms / 100 ms} = 0.990049833749168054 (hand-computed)
    torch.testing.assert_close(one.elig, e0 * 0.990049833749168054, rtol=1e-15, atol=0)
    five = state
    for _ in range(5):
        five = rstdp_tick(PARAMS, five, zp, zq, DT)
    # e^{-0.05} = 0.951229424500714009
    torch.testing.assert_close(five.elig, e0 * 0.951229424500714009, rtol=1e-14, atol=0)


@pytest.mark.parametrize("k_ticks", [1, 4, 8])
@pytest.mark.parametrize("zero_start", [True, False])
def test_fused_window_equals_tick_by_tick(k_ticks, zero_start):
    g = torch.Generator().manual_seed(10 + k_ticks)
    b, n_pre, n_post = 3, 7, 5
    state = (
        rstdp_init(b, n_pre, n_post, dtype=F64)
        if zero_start
        else _random_state(g, b, n_pre, n_post)
    )
    s_pre = _bernoulli(g, (k_ticks, b, n_pre))
    s_post = _bernoulli(g, (k_ticks, b, n_post))
    assert s_pre.sum() > 0 and s_post.sum() > 0
    ref = _ticks(PARAMS, state, s_pre, s_post, DT)
    fused = rstdp_eligibility_window(PARAMS, state, s_pre, s_post, DT)
    assert fused.elig.shape == (b, n_post, n_pre)
    torch.testing.assert_close(fused.traces.x_pre, ref.traces.x_pre, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(fused.traces.x_post, ref.traces.x_post, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(fused.elig, ref.elig, rtol=1e-12, atol=1e-13)


def test_fused_windows_chain_like_ticks():
    # two windows of 4 ticks == 8 ticks one by one (state carried between windows)
    g = torch.Generator().manual_seed(5)
    b, n_pre, n_post = 3, 7, 5
    state = _random_state(g, b, n_pre, n_post)
    s_pre = _bernoulli(g, (8, b, n_pre))
    s_post = _bernoulli(g, (8, b, n_post))
    mid = rstdp_eligibility_window(PARAMS, state, s_pre[:4], s_post[:4], DT)
    end = rstdp_eligibility_window(PARAMS, mid, s_pre[4:], s_post[4:], DT)
    ref = _ticks(PARAMS, state, s_pre, s_post, DT)
    torch.testing.assert_close(end.elig, ref.elig, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(end.traces.x_pre, ref.traces.x_pre, rtol=1e-13, atol=1e-14)


def test_rstdp_functions_do_not_mutate_inputs():
    g = torch.Generator().manual_seed(2)
    state = _random_state(g, 3, 7, 5)
    s_pre = _bernoulli(g, (4, 3, 7))
    s_post = _bernoulli(g, (4, 3, 5))
    tensors = (state.traces.x_pre, state.traces.x_post, state.elig, s_pre, s_post)
    copies = [t.clone() for t in tensors]
    rstdp_tick(PARAMS, state, s_pre[0], s_post[0], DT)
    rstdp_eligibility_window(PARAMS, state, s_pre, s_post, DT)
    m = torch.tensor([1.0, -1.0, 0.5], dtype=F64)
    m_copy = m.clone()
    rstdp_dw(state, m, lr=0.1)
    for orig, copy in zip(tensors, copies, strict=True):
        assert torch.equal(orig, copy)
    assert torch.equal(m, m_copy)


@pytest.mark.parametrize("fused", [False, True])
def test_batch_of_three_equals_three_batches_of_one(fused):
    g = torch.Generator().manual_seed(3)
    state = _random_state(g, 3, 7, 5)
    s_pre = _bernoulli(g, (6, 3, 7))
    s_post = _bernoulli(g, (6, 3, 5))

    def run(st, sp, so):
        if fused:
            return rstdp_eligibility_window(PARAMS, st, sp, so, DT)
        return _ticks(PARAMS, st, sp, so, DT)

    full = run(state, s_pre, s_post)
    for b in range(3):
        sl = slice(b, b + 1)
        one = RSTDPState(
            traces=STDPTraces(x_pre=state.traces.x_pre[sl], x_post=state.traces.x_post[sl]),
            elig=state.elig[sl],
        )
        out = run(one, s_pre[:, sl], s_post[:, sl])
        torch.testing.assert_close(out.elig, full.elig[sl], rtol=1e-14, atol=1e-15)
        torch.testing.assert_close(out.traces.x_pre, full.traces.x_pre[sl], rtol=1e-14, atol=0)
        torch.testing.assert_close(out.traces.x_post, full.traces.x_post[sl], rtol=1e-14, atol=0)


def test_rstdp_init_shapes():
    s = rstdp_init(3, 7, 5, dtype=F64)
    assert s.traces.x_pre.shape == (3, 7)
    assert s.traces.x_post.shape == (3, 5)
    assert s.elig.shape == (3, 5, 7)
    assert s.elig.dtype == F64
    assert torch.all(s.elig == 0)


def test_rstdp_rule_info_is_local_and_reads_modulator():
    assert RSTDP_INFO.local is True
    assert "modulator" in RSTDP_INFO.signals
    assert set(RSTDP_INFO.signals) <= LOCAL_SIGNALS
    assert RULES["rstdp"] is RSTDP_INFO
    assert math.isfinite(PARAMS.tau_e)
