"""Hebbian-family rules: hand-computed updates, broadcasting, Oja's bound, the STDP window."""

from __future__ import annotations

import math

import pytest
import torch

from snnrl.plasticity import (
    ABCD_INFO,
    HEBB_INFO,
    HEBBIAN_RULES,
    LOCAL_SIGNALS,
    NEUROMOD_INFO,
    OJA_INFO,
    RULE_COEFFS,
    RULES,
    STDP_INFO,
    RuleInfo,
    STDPParams,
    STDPTraces,
    STDPWindowTraces,
    abcd_dw,
    eligibility_update,
    hebb_dw,
    neuromod_dw,
    oja_dw,
    outer,
    stdp_dw,
    stdp_traces_tick,
    stdp_window_dw,
)

F64 = torch.float64


def _t(values):
    return torch.tensor(values, dtype=F64)


def _close(got, want, rtol=1e-12, atol=1e-14):
    torch.testing.assert_close(
        got, _t(want) if not torch.is_tensor(want) else want, rtol=rtol, atol=atol
    )


# The running example: pre = [1, 0, 2], post = [0.5, -1]
#   -> post (x) pre = [[.5, 0, 1], [-1, 0, -2]].
PRE = [1.0, 0.0, 2.0]
POST = [0.5, -1.0]


# --------------------------------------------------------------------------------------------
# Hand-computed single updates
# --------------------------------------------------------------------------------------------


def test_outer_hand():
    _close(outer(_t(POST), _t(PRE)), [[0.5, 0.0, 1.0], [-1.0, 0.0, -2.0]])


def test_hebb_hand():
    # 0.1 * [[.5, 0, 1], [-1, 0, -2]]
    _close(hebb_dw(_t(PRE), _t(POST), 0.1), [[0.05, 0.0, 0.1], [-0.1, 0.0, -0.2]])


def test_oja_hand():
    w = _t([[0.2, -0.4, 1.0], [0.5, 0.0, -1.0]])
    # row 0, y = 0.5: x - y w = [1 - .1, 0 + .2, 2 - .5] = [.9, .2, 1.5]; * y * eta(.1)
    #   -> [.045, .01, .075]
    # row 1, y = -1:  x - y w = x + w = [1.5, 0, 1]; * y * eta -> [-.15, 0, -.1]
    _close(oja_dw(_t(PRE), _t(POST), w, 0.1), [[0.045, 0.01, 0.075], [-0.15, 0.0, -0.1]])


def test_oja_zero_weight_is_hebb():
    w = torch.zeros(2, 3, dtype=F64)
    _close(oja_dw(_t(PRE), _t(POST), w, 0.1), [[0.05, 0.0, 0.1], [-0.1, 0.0, -0.2]])


def test_abcd_hand():
    # eta=.5, A=1.5, B=2, C=-1, D=.25 (all distinct so a swapped term changes the result)
    # A y x = [[.75, 0, 1.5], [-1.5, 0, -3]]; B x = [2, 0, 4] per row; C y = -.5 (row 0), +1 (row 1)
    # row 0: [.75+2-.5+.25, 0+0-.5+.25, 1.5+4-.5+.25] = [2.5, -.25, 5.25]
    # row 1: [-1.5+2+1+.25, 0+0+1+.25, -3+4+1+.25]     = [1.75, 1.25, 2.25]
    # * eta = .5
    got = abcd_dw(_t(PRE), _t(POST), 0.5, 1.5, 2.0, -1.0, 0.25)
    _close(got, [[1.25, -0.125, 2.625], [0.875, 0.625, 1.125]])


def test_abcd_single_terms_hand():
    x, y = _t(PRE), _t(POST)
    # only B: eta * B * x_j on every row
    _close(abcd_dw(x, y, 1.0, 0.0, 3.0, 0.0, 0.0), [[3.0, 0.0, 6.0], [3.0, 0.0, 6.0]])
    # only C: eta * C * y_i on every column
    _close(abcd_dw(x, y, 1.0, 0.0, 0.0, 3.0, 0.0), [[1.5, 1.5, 1.5], [-3.0, -3.0, -3.0]])
    # only D: constant eta * D
    _close(abcd_dw(x, y, 2.0, 0.0, 0.0, 0.0, 0.5), [[1.0] * 3, [1.0] * 3])
    # A=1 alone is Hebb
    _close(abcd_dw(x, y, 0.1, 1.0, 0.0, 0.0, 0.0), hebb_dw(x, y, 0.1))


# --------------------------------------------------------------------------------------------
# Neuromodulated Hebbian with eligibility: three steps by hand
# --------------------------------------------------------------------------------------------


def test_neuromod_eligibility_three_steps_hand():
    eta_e, alpha = 0.25, 0.1  # eta_e != 1 - eta_e, so swapping decay and input is caught
    e = torch.zeros(2, 3, dtype=F64)
    steps = [
        # pre, post, modulator
        (PRE, POST, [1.0, 0.0]),
        ([0.0, 1.0, 1.0], [1.0, 1.0], [2.0, -0.5]),
        ([0.0, 0.0, 0.0], [0.0, 0.0], [0.0, 4.0]),
    ]
    want_e = [
        # E1 = .25 * [[.5, 0, 1], [-1, 0, -2]]
        [[0.125, 0.0, 0.25], [-0.25, 0.0, -0.5]],
        # E2 = .75 E1 + .25 [[0, 1, 1], [0, 1, 1]]
        [[0.09375, 0.25, 0.4375], [-0.1875, 0.25, -0.125]],
        # E3 = .75 E2 (silent step)
        [[0.0703125, 0.1875, 0.328125], [-0.140625, 0.1875, -0.09375]],
    ]
    want_dw = [
        # alpha * M_i * E_ij, M per postsynaptic neuron (row)
        [[0.0125, 0.0, 0.025], [0.0, 0.0, 0.0]],
        [[0.01875, 0.05, 0.0875], [0.009375, -0.0125, 0.00625]],
        [[0.0, 0.0, 0.0], [-0.05625, 0.075, -0.0375]],
    ]
    total = torch.zeros(2, 3, dtype=F64)
    for (pre, post, m), we, wdw in zip(steps, want_e, want_dw, strict=True):
        e = eligibility_update(e, _t(pre), _t(post), eta_e)
        _close(e, we)
        dw = neuromod_dw(e, _t(m), alpha)
        _close(dw, wdw)
        total = total + dw
    _close(total, [[0.03125, 0.05, 0.1125], [-0.046875, 0.0625, -0.03125]])


def test_neuromod_zero_modulator_no_change():
    e = _t([[0.3, -0.2, 1.0], [0.7, 0.0, -4.0]])
    assert torch.all(neuromod_dw(e, torch.zeros(2, dtype=F64), 0.5) == 0)


def test_neuromod_per_synapse_alpha_hand():
    e = _t([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    alpha = _t([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]])
    # M = [2, -1]: [[2, 0, -6], [-2, -10, 0]]
    _close(neuromod_dw(e, _t([2.0, -1.0]), alpha), [[2.0, 0.0, -6.0], [-2.0, -10.0, 0.0]])


def test_eligibility_per_synapse_eta_hand():
    e = _t([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    eta_e = _t([[0.0, 0.5, 1.0], [0.25, 0.5, 0.0]])
    # (1 - eta_e) * 1 + eta_e * [[.5, 0, 1], [-1, 0, -2]]
    # row 0: [1, .5, 1];  row 1: [.75 - .25, .5, 1] = [.5, .5, 1]
    _close(eligibility_update(e, _t(PRE), _t(POST), eta_e), [[1.0, 0.5, 1.0], [0.5, 0.5, 1.0]])


# --------------------------------------------------------------------------------------------
# Broadcasting: per-layer vs per-synapse coefficients, leading batch axes
# --------------------------------------------------------------------------------------------


def test_per_synapse_eta_hand():
    eta = _t([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]])
    # [[.5, 0, 1], [-1, 0, -2]] * eta elementwise
    _close(hebb_dw(_t(PRE), _t(POST), eta), [[0.5, 0.0, 3.0], [0.0, 0.0, -1.0]])
    # per postsynaptic neuron [n_post, 1]
    _close(hebb_dw(_t(PRE), _t(POST), _t([[2.0], [0.5]])), [[1.0, 0.0, 2.0], [-0.5, 0.0, -1.0]])


_RULE_FNS = {
    "hebb": lambda pre, post, w, c: hebb_dw(pre, post, c[0]),
    "oja": lambda pre, post, w, c: oja_dw(pre, post, w, c[0]),
    "abcd": lambda pre, post, w, c: abcd_dw(pre, post, *c),
    "eligibility": lambda pre, post, w, c: eligibility_update(w, pre, post, c[0]),
    "neuromod": lambda pre, post, w, c: neuromod_dw(w, post, c[0]),
}


@pytest.mark.parametrize("rule", list(_RULE_FNS))
def test_scalar_equals_one_by_one_tensor(rule):
    g = torch.Generator().manual_seed(3)
    pre, post = torch.rand(3, generator=g, dtype=F64), torch.randn(2, generator=g, dtype=F64)
    w = torch.randn(2, 3, generator=g, dtype=F64)
    c = [0.3, -0.7, 1.1, 0.4, -0.2]
    as_tensor = [torch.full((1, 1), v, dtype=F64) for v in c]
    as_full = [torch.full((2, 3), v, dtype=F64) for v in c]
    fn = _RULE_FNS[rule]
    ref = fn(pre, post, w, c)
    _close(fn(pre, post, w, as_tensor), ref)
    _close(fn(pre, post, w, as_full), ref)
    assert ref.shape == (2, 3)


@pytest.mark.parametrize("coeff_kind", ["scalar", "per_synapse", "per_candidate"])
@pytest.mark.parametrize("rule", list(_RULE_FNS))
def test_batch_axes_equal_per_sample_loop(rule, coeff_kind):
    g = torch.Generator().manual_seed(7)
    p, e, n_pre, n_post = 3, 4, 5, 2
    pre = torch.rand(p, e, n_pre, generator=g, dtype=F64)
    post = torch.randn(p, e, n_post, generator=g, dtype=F64)
    w = torch.randn(p, e, n_post, n_pre, generator=g, dtype=F64)
    if coeff_kind == "scalar":
        coeffs = [0.3, -0.7, 1.1, 0.4, -0.2]

        def at(c, i, j):
            return c
    elif coeff_kind == "per_synapse":
        coeffs = [torch.randn(n_post, n_pre, generator=g, dtype=F64) for _ in range(5)]

        def at(c, i, j):
            return c
    else:  # one coefficient matrix per candidate, shared across its lifetimes: [P, 1, post, pre]
        coeffs = [torch.randn(p, 1, n_post, n_pre, generator=g, dtype=F64) for _ in range(5)]

        def at(c, i, j):
            return c[i, 0]

    fn = _RULE_FNS[rule]
    got = fn(pre, post, w, coeffs)
    assert got.shape == (p, e, n_post, n_pre)
    for i in range(p):
        for j in range(e):
            want = fn(pre[i, j], post[i, j], w[i, j], [at(c, i, j) for c in coeffs])
            _close(got[i, j], want)


# --------------------------------------------------------------------------------------------
# Oja bounds the norm (property)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("init_scale", [0.05, 0.5, 2.0])
def test_oja_keeps_norm_near_one(init_scale):
    g = torch.Generator().manual_seed(11)
    x = _t([1.0, 0.0, 2.0, -0.5])  # fixed input, |x|^2 = 5.25
    w = torch.randn(3, 4, generator=g, dtype=F64)
    w = init_scale * w / w.norm(dim=-1, keepdim=True)
    w_hebb = w.clone()
    eta = 0.01
    norms = []
    for _ in range(600):
        y = w @ x  # linear postsynaptic units
        w = w + oja_dw(x, y, w, eta)
        norms.append(w.norm(dim=-1))
        w_hebb = w_hebb + hebb_dw(x, w_hebb @ x, eta)
    norms = torch.stack(norms)
    final = w.norm(dim=-1)
    # Each row converges to unit norm along +-x/|x| (Oja 1982), and never blows up on the way.
    torch.testing.assert_close(final, torch.ones(3, dtype=F64), rtol=0, atol=1e-6)
    cos = (w @ x).abs() / (final * x.norm())
    torch.testing.assert_close(cos, torch.ones(3, dtype=F64), rtol=0, atol=1e-9)
    assert norms.max() <= max(init_scale, 1.0) + 1e-9
    # ... whereas plain Hebb under the same protocol grows without bound.
    assert w_hebb.norm(dim=-1).min() > 1e3


# --------------------------------------------------------------------------------------------
# STDP window of K ticks
# --------------------------------------------------------------------------------------------


def _reference_windows(
    s_pre, s_post, x0_pre, x0_post, dt, tau_plus, tau_minus, eta, a_p, a_m, bounds
):
    """Per-tick loop with stdp.py; s_* are [T, B, n]; returns per-window dw and traces."""
    traces = STDPTraces(x0_pre, x0_post)
    ltp_only = STDPParams(tau_plus=tau_plus, tau_minus=tau_minus, a_plus=1.0, a_minus=0.0)
    ltd_only = STDPParams(tau_plus=tau_plus, tau_minus=tau_minus, a_plus=0.0, a_minus=-1.0)
    out = []
    for lo, hi in bounds:
        ltp = torch.zeros(s_pre.shape[1], s_post.shape[2], s_pre.shape[2], dtype=F64)
        ltd = torch.zeros_like(ltp)
        for t in range(lo, hi):
            traces = stdp_traces_tick(ltp_only, traces, s_pre[t], s_post[t], dt)
            ltp = ltp + stdp_dw(ltp_only, traces, s_pre[t], s_post[t])
            ltd = ltd + stdp_dw(ltd_only, traces, s_pre[t], s_post[t])
        out.append((eta * (a_p * ltp - a_m * ltd), traces))
    return out


@pytest.mark.parametrize("per_synapse", [False, True])
def test_stdp_window_matches_per_tick_loop(per_synapse):
    g = torch.Generator().manual_seed(5)
    p, e, n_pre, n_post = 2, 3, 4, 3
    b = p * e
    dt, tau_plus, tau_minus = 1e-3, 17e-3, 5e-3
    windows = [1, 4, 7, 3, 5]
    t_total = sum(windows)
    s_pre = (torch.rand(t_total, b, n_pre, generator=g) < 0.3).to(F64)
    s_post = (torch.rand(t_total, b, n_post, generator=g) < 0.3).to(F64)
    x0_pre = torch.rand(b, n_pre, generator=g, dtype=F64)
    x0_post = torch.rand(b, n_post, generator=g, dtype=F64)
    if per_synapse:
        eta, a_p, a_m = (torch.rand(n_post, n_pre, generator=g, dtype=F64) + 0.1 for _ in range(3))
    else:
        eta, a_p, a_m = 0.3, 0.7, 0.45
    bounds, lo = [], 0
    for k in windows:
        bounds.append((lo, lo + k))
        lo += k
    ref = _reference_windows(
        s_pre, s_post, x0_pre, x0_post, dt, tau_plus, tau_minus, eta, a_p, a_m, bounds
    )

    def pe(x):  # [T, B, n] -> [P, E, T, n]
        return x.reshape(x.shape[0], p, e, x.shape[-1]).permute(1, 2, 0, 3)

    traces = STDPWindowTraces(x0_pre.reshape(p, e, n_pre), x0_post.reshape(p, e, n_post))
    any_nonzero = False
    for (lo, hi), (want_dw, want_tr) in zip(bounds, ref, strict=True):
        dw, traces = stdp_window_dw(
            pe(s_pre[lo:hi]),
            pe(s_post[lo:hi]),
            traces,
            math.exp(-dt / tau_plus),
            math.exp(-dt / tau_minus),
            eta,
            a_p,
            a_m,
        )
        assert dw.shape == (p, e, n_post, n_pre)
        _close(dw.reshape(b, n_post, n_pre), want_dw)
        _close(traces.x_pre.reshape(b, n_pre), want_tr.x_pre)
        _close(traces.x_post.reshape(b, n_post), want_tr.x_post)
        any_nonzero |= bool(dw.abs().sum() > 0)
    assert any_nonzero


def _spikes(k, n, ticks):
    s = torch.zeros(k, n, dtype=F64)
    for t in ticks:
        s[t, 0] = 1.0
    return s


def _zero_traces():
    return STDPWindowTraces(torch.zeros(1, dtype=F64), torch.zeros(1, dtype=F64))


A_PLUS, A_MINUS = 0.8, 0.3


def test_stdp_window_hand_causal():
    # pre at tick 0, post at tick 2, decay .5 -> x_pre(2) = .25 -> dw = a_plus * .25
    dw, tr = stdp_window_dw(
        _spikes(3, 1, [0]), _spikes(3, 1, [2]), _zero_traces(), 0.5, 0.5, 1.0, A_PLUS, A_MINUS
    )
    _close(dw, [[0.2]])
    _close(tr.x_pre, [0.25])
    _close(tr.x_post, [1.0])
    # eta scales it
    dw, _ = stdp_window_dw(
        _spikes(3, 1, [0]), _spikes(3, 1, [2]), _zero_traces(), 0.5, 0.5, 0.5, A_PLUS, A_MINUS
    )
    _close(dw, [[0.1]])


def test_stdp_window_hand_anticausal_uses_post_decay():
    # post at 0, pre at 2; decay_pre .5, decay_post .25 -> x_post(2) = .0625 -> -a_minus * .0625
    dw, tr = stdp_window_dw(
        _spikes(3, 1, [2]), _spikes(3, 1, [0]), _zero_traces(), 0.5, 0.25, 1.0, A_PLUS, A_MINUS
    )
    _close(dw, [[-0.01875]])
    _close(tr.x_pre, [1.0])
    _close(tr.x_post, [0.0625])


def test_stdp_window_hand_coincident():
    dw, _ = stdp_window_dw(
        _spikes(3, 1, [1]), _spikes(3, 1, [1]), _zero_traces(), 0.5, 0.5, 1.0, A_PLUS, A_MINUS
    )
    _close(dw, [[0.5]])  # a_plus - a_minus


def test_stdp_window_hand_traces_carried_across_windows():
    # window 1 (K=2): pre at tick 0 -> x_pre = .5 after it; no post -> dw = 0
    dw1, tr = stdp_window_dw(
        _spikes(2, 1, [0]), _spikes(2, 1, []), _zero_traces(), 0.5, 0.5, 1.0, A_PLUS, A_MINUS
    )
    _close(dw1, [[0.0]])
    _close(tr.x_pre, [0.5])
    # window 2 (K=2): post at its tick 1 (global tick 3) -> x_pre = .5 * .25 = .125 -> .8 * .125
    dw2, tr = stdp_window_dw(
        _spikes(2, 1, []), _spikes(2, 1, [1]), tr, 0.5, 0.5, 1.0, A_PLUS, A_MINUS
    )
    _close(dw2, [[0.1]])
    _close(tr.x_pre, [0.125])
    _close(tr.x_post, [1.0])


def test_stdp_window_two_synapses_hand():
    # 2 pre, 2 post, K=3, decay .5: pre0@0, pre1@2, post0@1, post1@2.
    s_pre = _t([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    s_post = _t([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # x_pre ticks: [1, 0], [.5, 0], [.25, 1];  x_post ticks: [0, 0], [1, 0], [.5, 1]
    # LTP = sum_t s_post(t) (x) x_pre(t): post0@1 -> [.5, 0]; post1@2 -> [.25, 1]
    # LTD = sum_t x_post(t) (x) s_pre(t): pre0@0 -> x_post(0) = [0, 0];
    #   pre1@2 -> x_post(2) = [.5, 1]
    #   -> LTD = [[0, .5], [0, 1]]
    # dw = .8 LTP - .3 LTD = [[.4, -.15], [.2, .8 - .3]]
    dw, _ = stdp_window_dw(
        s_pre,
        s_post,
        STDPWindowTraces(torch.zeros(2, dtype=F64), torch.zeros(2, dtype=F64)),
        0.5,
        0.5,
        1.0,
        A_PLUS,
        A_MINUS,
    )
    _close(dw, [[0.4, -0.15], [0.2, 0.5]])


def test_stdp_window_k1_rate_form():
    # K = 1 with activities: x_pre = decay * x0 + s, dw = eta (A+ y (x) x_pre - A- x_post (x) x)
    x0 = STDPWindowTraces(_t([1.0, 0.0, 0.0]), _t([0.0, 2.0]))
    dw, tr = stdp_window_dw(_t([PRE]), _t([POST]), x0, 0.5, 0.5, 1.0, 1.0, 1.0)
    # x_pre = [1.5, 0, 2], x_post = [.5, 0]
    # LTP = [.5, -1] (x) [1.5, 0, 2] = [[.75, 0, 1], [-1.5, 0, -2]]
    # LTD = [.5, 0] (x) [1, 0, 2]    = [[.5, 0, 1], [0, 0, 0]]
    _close(dw, [[0.25, 0.0, 0.0], [-1.5, 0.0, -2.0]])
    _close(tr.x_pre, [1.5, 0.0, 2.0])
    _close(tr.x_post, [0.5, 0.0])


def test_rules_do_not_mutate_inputs():
    g = torch.Generator().manual_seed(2)
    pre, post = torch.rand(2, 3, generator=g, dtype=F64), torch.rand(2, 2, generator=g, dtype=F64)
    w = torch.rand(2, 2, 3, generator=g, dtype=F64)
    s_pre = torch.rand(2, 4, 3, generator=g, dtype=F64)
    s_post = torch.rand(2, 4, 2, generator=g, dtype=F64)
    tr = STDPWindowTraces(
        torch.rand(2, 3, generator=g, dtype=F64), torch.rand(2, 2, generator=g, dtype=F64)
    )
    inputs = (pre, post, w, s_pre, s_post, *tr)
    copies = [t.clone() for t in inputs]
    hebb_dw(pre, post, 0.1)
    oja_dw(pre, post, w, 0.1)
    abcd_dw(pre, post, 0.1, 1.0, 1.0, 1.0, 1.0)
    eligibility_update(w, pre, post, 0.3)
    neuromod_dw(w, post, 0.2)
    stdp_window_dw(s_pre, s_post, tr, 0.5, 0.7, 0.1, 1.0, 1.0)
    for orig, copy in zip(inputs, copies, strict=True):
        assert torch.equal(orig, copy)


# --------------------------------------------------------------------------------------------
# Locality declarations
# --------------------------------------------------------------------------------------------


def test_every_registered_rule_is_local():
    assert set(HEBBIAN_RULES) <= set(RULES)
    for name, info in RULES.items():
        assert info.name == name
        assert info.local, name
        assert set(info.signals) <= LOCAL_SIGNALS


def test_hebbian_registry_and_coeffs():
    assert HEBBIAN_RULES == {
        "hebb": HEBB_INFO,
        "oja": OJA_INFO,
        "abcd": ABCD_INFO,
        "neuromod": NEUROMOD_INFO,
        "stdp": STDP_INFO,
    }
    assert set(RULE_COEFFS) == set(HEBBIAN_RULES)
    assert "weight" in OJA_INFO.signals
    assert {"eligibility", "modulator"} <= set(NEUROMOD_INFO.signals)
    assert "weight" not in HEBB_INFO.signals and "modulator" not in ABCD_INFO.signals


@pytest.mark.parametrize("bad", ["reward", "global_error", "td_error", "loss_gradient"])
def test_non_local_signal_is_reported(bad):
    assert bad not in LOCAL_SIGNALS
    assert not RuleInfo("fake", ("pre_activity", "post_activity", bad)).local
    assert not RuleInfo("fake", (bad,)).local
    assert RuleInfo("fake", ("pre_activity", "post_activity", "modulator")).local
