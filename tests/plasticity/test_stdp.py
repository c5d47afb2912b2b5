"""Pair-based STDP: the exponential window, per-lifetime shapes, purity."""

from __future__ import annotations

import math

import pytest
import torch

from snnrl.plasticity import (
    RULES,
    STDP_INFO,
    STDPParams,
    STDPTraces,
    stdp_dw,
    stdp_init,
    stdp_traces_tick,
)

F64 = torch.float64
# Asymmetric on purpose: swapping A+/A- or tau+/tau- changes every expected value.
PARAMS = STDPParams(tau_plus=17e-3, tau_minus=33e-3, a_plus=0.7, a_minus=0.45)
DT = 1e-3


def _run(params, s_pre, s_post, dt):
    """Per-tick reference: sum of zeta over all ticks; s_* are [T, B, n]."""
    traces = stdp_init(s_pre.shape[1], s_pre.shape[2], s_post.shape[2], dtype=s_pre.dtype)
    total = torch.zeros(s_pre.shape[1], s_post.shape[2], s_pre.shape[2], dtype=s_pre.dtype)
    for sp, so in zip(s_pre, s_post, strict=True):
        traces = stdp_traces_tick(params, traces, sp, so, dt)
        total = total + stdp_dw(params, traces, sp, so)
    return total


def _window(params, k, dt):
    if k > 0:
        return params.a_plus * math.exp(-k * dt / params.tau_plus)
    if k < 0:
        return -params.a_minus * math.exp(k * dt / params.tau_minus)
    return params.a_plus - params.a_minus


@pytest.mark.parametrize("k", list(range(-10, 11)))
def test_stdp_window_matches_analytic_exponential(k):
    t_total, t0 = 30, 12
    n_pre, n_post = 3, 2
    s_pre = torch.zeros(t_total, 1, n_pre, dtype=F64)
    s_post = torch.zeros(t_total, 1, n_post, dtype=F64)
    s_pre[t0, 0, 2] = 1.0  # pre neuron 2 ...
    s_post[t0 + k, 0, 1] = 1.0  # ... paired with post neuron 1
    dw = _run(PARAMS, s_pre, s_post, DT)
    assert dw.shape == (1, n_post, n_pre)
    assert dw[0, 1, 2].item() == pytest.approx(_window(PARAMS, k, DT), rel=1e-13, abs=1e-15)
    others = dw.clone()
    others[0, 1, 2] = 0.0
    assert torch.all(others == 0)  # only the paired synapse changes


def test_stdp_window_golden_values():
    # Hand-computed: k = +3 -> 0.7 e^{-3/17}; k = -4 -> -0.45 e^{-4/33}.
    assert _window(PARAMS, 3, DT) == pytest.approx(0.7 * 0.838223432423, rel=1e-11)
    s_pre = torch.zeros(10, 1, 1, dtype=F64)
    s_post = torch.zeros(10, 1, 1, dtype=F64)
    s_pre[2, 0, 0] = 1.0
    s_post[5, 0, 0] = 1.0
    assert _run(PARAMS, s_pre, s_post, DT).item() == pytest.approx(0.586756402696, rel=1e-11)
    s_pre = torch.zeros(10, 1, 1, dtype=F64)
    s_post = torch.zeros(10, 1, 1, dtype=F64)
    s_pre[6, 0, 0] = 1.0
    s_post[2, 0, 0] = 1.0
    assert _run(PARAMS, s_pre, s_post, DT).item() == pytest.approx(-0.398630714817, rel=1e-11)


def test_stdp_per_lifetime_shape_no_batch_sum():
    # b=0 causal (pre then post), b=1 anti-causal, b=2 silent: each lifetime its own dw.
    t_total, n_pre, n_post = 12, 4, 3
    s_pre = torch.zeros(t_total, 3, n_pre, dtype=F64)
    s_post = torch.zeros(t_total, 3, n_post, dtype=F64)
    s_pre[3, 0, 1] = 1.0
    s_post[5, 0, 0] = 1.0
    s_pre[5, 1, 1] = 1.0
    s_post[3, 1, 0] = 1.0
    dw = _run(PARAMS, s_pre, s_post, DT)
    assert dw.shape == (3, n_post, n_pre)
    assert dw[0, 0, 1].item() == pytest.approx(_window(PARAMS, 2, DT), rel=1e-13)
    assert dw[1, 0, 1].item() == pytest.approx(_window(PARAMS, -2, DT), rel=1e-13)
    assert torch.all(dw[2] == 0)


def test_stdp_dw_single_tick_layout():
    # stdp_dw is A+ s_post (x) x_pre - A- x_post (x) s_pre, per batch element: [B, post, pre].
    g = torch.Generator().manual_seed(0)
    b, n_pre, n_post = 2, 5, 3
    traces = STDPTraces(
        x_pre=torch.rand(b, n_pre, generator=g, dtype=F64),
        x_post=torch.rand(b, n_post, generator=g, dtype=F64),
    )
    s_pre = (torch.rand(b, n_pre, generator=g) < 0.5).to(F64)
    s_post = (torch.rand(b, n_post, generator=g) < 0.5).to(F64)
    dw = stdp_dw(PARAMS, traces, s_pre, s_post)
    assert dw.shape == (b, n_post, n_pre)
    for bi in range(b):
        for j in range(n_post):
            for i in range(n_pre):
                want = (
                    PARAMS.a_plus * s_post[bi, j] * traces.x_pre[bi, i]
                    - PARAMS.a_minus * traces.x_post[bi, j] * s_pre[bi, i]
                )
                assert dw[bi, j, i].item() == pytest.approx(want.item(), rel=1e-15, abs=1e-16)


def test_traces_decay_golden():
    traces = STDPTraces(
        x_pre=torch.tensor([[1.0, 2.0]], dtype=F64), x_post=torch.tensor([[1.0]], dtype=F64)
    )
    new = stdp_traces_tick(
        PARAMS, traces, torch.tensor([[0.0, 1.0]], dtype=F64), torch.zeros(1, 1, dtype=F64), DT
    )
    # e^{-1/17} = 0.942873143855, e^{-1/33} = 0.970151503697 (hand-computed)
    torch.testing.assert_close(
        new.x_pre,
        torch.tensor([[0.942873143855, 2 * 0.942873143855 + 1.0]], dtype=F64),
        rtol=1e-11,
        atol=0,
    )
    torch.testing.assert_close(
        new.x_post, torch.tensor([[0.970151503697]], dtype=F64), rtol=1e-11, atol=0
    )


def test_stdp_functions_do_not_mutate_inputs():
    g = torch.Generator().manual_seed(1)
    traces = STDPTraces(
        x_pre=torch.rand(2, 4, generator=g, dtype=F64),
        x_post=torch.rand(2, 3, generator=g, dtype=F64),
    )
    s_pre = torch.ones(2, 4, dtype=F64)
    s_post = torch.ones(2, 3, dtype=F64)
    copies = [t.clone() for t in (*traces, s_pre, s_post)]
    new = stdp_traces_tick(PARAMS, traces, s_pre, s_post, DT)
    stdp_dw(PARAMS, new, s_pre, s_post)
    new_copies = [t.clone() for t in new]
    stdp_dw(PARAMS, new, s_pre, s_post)
    for orig, copy in zip((*traces, s_pre, s_post), copies, strict=True):
        assert torch.equal(orig, copy)
    for orig, copy in zip(new, new_copies, strict=True):
        assert torch.equal(orig, copy)


def test_stdp_init_shapes():
    t = stdp_init(3, 7, 5, dtype=F64)
    assert t.x_pre.shape == (3, 7) and t.x_post.shape == (3, 5)
    assert t.x_pre.dtype == F64
    assert torch.all(t.x_pre == 0) and torch.all(t.x_post == 0)


def test_stdp_rule_info():
    assert STDP_INFO.local
    assert "modulator" not in STDP_INFO.signals
    assert RULES["stdp"] is STDP_INFO
