"""LIF / ALIF tick functions and the surrogate spike function."""

from __future__ import annotations

import math

import pytest
import torch

from snnrl.neurons import (
    ALIFParams,
    ALIFState,
    LIFParams,
    LIFState,
    alif_init,
    alif_tick,
    lif_init,
    lif_propagator,
    lif_tick,
    spike_fn,
)

F64 = torch.float64
NO_SPIKE_TH = 1e9  # threshold no test input reaches


def _closed_form_v(v0, i0, v_leak, tau_mem, tau_syn, t):
    """Sub-threshold membrane after a current jump ``i0`` at t=0 (exact solution of the ODEs)."""
    if tau_mem == tau_syn:
        syn = i0 * (t / tau_mem) * math.exp(-t / tau_mem)
    else:
        syn = i0 * tau_syn / (tau_syn - tau_mem) * (math.exp(-t / tau_syn) - math.exp(-t / tau_mem))
    return v_leak + (v0 - v_leak) * math.exp(-t / tau_mem) + syn


def _run_free(params, v0, i0, dt, n_ticks):
    """Jump ``i0`` on the first tick, then no input; returns v after every tick, [n_ticks]."""
    state = LIFState(v=torch.full((1, 1), v0, dtype=F64), i=torch.zeros(1, 1, dtype=F64))
    jump = torch.full((1, 1), i0, dtype=F64)
    zero = torch.zeros(1, 1, dtype=F64)
    vs = []
    for n in range(n_ticks):
        z, state = lif_tick(params, state, jump if n == 0 else zero, dt)
        assert z.item() == 0.0
        vs.append(state.v.item())
    return vs


# --- (1) closed-form membrane --------------------------------------------------------------


def test_propagator_golden_values():
    # tau_mem = 20 ms, tau_syn = 5 ms, dt = 1 ms: a_m = e^-0.05, a_s = e^-0.2,
    # c = 5/(5-20) (a_s - a_m), all worked out to 30 digits by hand (mpmath).
    p = lif_propagator(LIFParams(tau_mem=20e-3, tau_syn=5e-3), 1e-3)
    assert p.a_mem == pytest.approx(0.951229424500714009, rel=1e-15)
    assert p.a_syn == pytest.approx(0.818730753077981859, rel=1e-15)
    assert p.c_syn == pytest.approx(0.044166223807577383, rel=1e-13)


@pytest.mark.parametrize("dt", [1e-4, 5e-4, 1e-3, 4e-3, 2e-2])
def test_lif_membrane_matches_closed_form(dt):
    tau_mem, tau_syn, v_leak, v0, i0 = 20e-3, 5e-3, 0.1, 0.6, 2.0
    params = LIFParams(tau_mem=tau_mem, tau_syn=tau_syn, v_th=NO_SPIKE_TH, v_leak=v_leak)
    n_ticks = max(5, int(round(0.1 / dt)))  # 100 ms of simulated time
    vs = _run_free(params, v0, i0, dt, n_ticks)
    expected = [
        _closed_form_v(v0, i0, v_leak, tau_mem, tau_syn, (n + 1) * dt) for n in range(n_ticks)
    ]
    torch.testing.assert_close(
        torch.tensor(vs, dtype=F64), torch.tensor(expected, dtype=F64), rtol=1e-11, atol=1e-12
    )


@pytest.mark.parametrize("dt", [1e-4, 1e-3, 5e-3])
def test_lif_membrane_equal_taus_limit(dt):
    tau, v_leak, v0, i0 = 10e-3, -0.2, 0.3, 1.5
    params = LIFParams(tau_mem=tau, tau_syn=tau, v_th=NO_SPIKE_TH, v_leak=v_leak)
    n_ticks = int(round(0.08 / dt))
    vs = _run_free(params, v0, i0, dt, n_ticks)
    expected = [
        v_leak
        + (v0 - v_leak) * math.exp(-(n + 1) * dt / tau)
        + i0 * ((n + 1) * dt / tau) * math.exp(-(n + 1) * dt / tau)
        for n in range(n_ticks)
    ]
    torch.testing.assert_close(
        torch.tensor(vs, dtype=F64), torch.tensor(expected, dtype=F64), rtol=1e-11, atol=1e-12
    )


def test_propagator_continuous_at_equal_taus():
    dt, tau = 1e-3, 10e-3
    equal = lif_propagator(LIFParams(tau_mem=tau, tau_syn=tau), dt).c_syn
    near = lif_propagator(LIFParams(tau_mem=tau, tau_syn=tau * (1 + 1e-6)), dt).c_syn
    assert near == pytest.approx(equal, rel=1e-5)


def test_synaptic_current_decays_with_tau_syn():
    params = LIFParams(tau_syn=8e-3, v_th=NO_SPIKE_TH)
    state = LIFState(v=torch.zeros(1, 2, dtype=F64), i=torch.tensor([[1.0, -3.0]], dtype=F64))
    _, new = lif_tick(params, state, torch.zeros(1, 2, dtype=F64), 1e-3)
    # e^{-1/8} = 0.882496902584595403 (hand-computed)
    torch.testing.assert_close(
        new.i, torch.tensor([[0.882496902584595403, -3 * 0.882496902584595403]], dtype=F64)
    )


# --- (2) spike and reset ---------------------------------------------------------------------


@pytest.mark.parametrize("v_reset", [0.0, -0.25])
def test_crossing_threshold_spikes_and_resets(v_reset):
    params = LIFParams(v_th=1.0, v_reset=v_reset)
    state = LIFState(v=torch.tensor([[0.9, 0.9, 0.0]], dtype=F64), i=torch.zeros(1, 3, dtype=F64))
    # neuron 0: big jump -> crosses; neuron 1: no input -> decays below; neuron 2: small jump
    inp = torch.tensor([[100.0, 0.0, 1.0]], dtype=F64)
    z, new = lif_tick(params, state, inp, 1e-3)
    assert z.tolist() == [[1.0, 0.0, 0.0]]
    if v_reset == 0.0:
        assert new.v[0, 0].item() == 0.0
    else:
        assert new.v[0, 0].item() == pytest.approx(v_reset, abs=1e-15)
    p = lif_propagator(params, 1e-3)
    # the neurons that did not spike follow the propagator exactly
    assert new.v[0, 1].item() == pytest.approx(0.9 * p.a_mem, rel=1e-15)
    assert new.v[0, 2].item() == pytest.approx(1.0 * p.c_syn, rel=1e-15)
    # the synaptic current is not reset by a spike
    assert new.i[0, 0].item() == pytest.approx(100.0 * p.a_syn, rel=1e-15)


def test_membrane_exactly_at_threshold_spikes():
    # v_leak == v_th and no current: v stays exactly at threshold, and v >= v_th fires.
    params = LIFParams(v_th=1.0, v_leak=1.0, v_reset=0.0)
    state = LIFState(v=torch.ones(1, 1, dtype=F64), i=torch.zeros(1, 1, dtype=F64))
    z, new = lif_tick(params, state, torch.zeros(1, 1, dtype=F64), 1e-3)
    assert z.item() == 1.0
    assert new.v.item() == 0.0


def test_lif_init_is_rest():
    params = LIFParams(v_leak=-0.07)
    s = lif_init(2, 3, params, dtype=F64)
    assert s.v.shape == (2, 3) and s.i.shape == (2, 3)
    assert s.v.dtype == F64
    assert torch.all(s.v == -0.07) and torch.all(s.i == 0)
    # at rest with no input a neuron stays at rest
    z, new = lif_tick(params, s, torch.zeros(2, 3, dtype=F64), 1e-3)
    assert torch.all(z == 0)
    torch.testing.assert_close(new.v, s.v, rtol=0, atol=1e-16)


# --- (3) purity ------------------------------------------------------------------------------


def test_lif_tick_does_not_mutate_inputs():
    g = torch.Generator().manual_seed(0)
    state = LIFState(
        v=torch.rand(3, 6, generator=g, dtype=F64) * 1.5, i=torch.rand(3, 6, generator=g, dtype=F64)
    )
    inp = torch.rand(3, 6, generator=g, dtype=F64) * 2
    v0, i0, in0 = state.v.clone(), state.i.clone(), inp.clone()
    z, new = lif_tick(LIFParams(), state, inp, 1e-3)
    assert z.sum() > 0  # the reset path ran
    assert torch.equal(state.v, v0) and torch.equal(state.i, i0) and torch.equal(inp, in0)
    assert new.v.data_ptr() != state.v.data_ptr() and new.i.data_ptr() != state.i.data_ptr()


def test_alif_tick_does_not_mutate_inputs():
    g = torch.Generator().manual_seed(1)
    state = ALIFState(
        v=torch.rand(3, 6, generator=g, dtype=F64) * 1.5,
        i=torch.rand(3, 6, generator=g, dtype=F64),
        a=torch.rand(3, 6, generator=g, dtype=F64),
    )
    inp = torch.rand(3, 6, generator=g, dtype=F64) * 2
    copies = [t.clone() for t in (*state, inp)]
    alif_tick(ALIFParams(), state, inp, 1e-3)
    for orig, copy in zip((*state, inp), copies, strict=True):
        assert torch.equal(orig, copy)


# --- (4) batch independence ------------------------------------------------------------------


def _random_run(tick, params, state, inputs, dt):
    outs = []
    for x in inputs:
        z, state = tick(params, state, x, dt)
        outs.append(z)
    return torch.stack(outs), state


@pytest.mark.parametrize("kind", ["lif", "alif"])
def test_batch_of_three_equals_three_batches_of_one(kind):
    g = torch.Generator().manual_seed(2)
    n, ticks, dt = 4, 20, 1e-3
    inputs = torch.rand(ticks, 3, n, generator=g, dtype=F64) * 0.8
    if kind == "lif":
        tick, params = lif_tick, LIFParams(tau_syn=10e-3)
        state = lif_init(3, n, params, dtype=F64)
        state = LIFState(v=torch.rand(3, n, generator=g, dtype=F64), i=state.i)
    else:
        tick, params = alif_tick, ALIFParams(lif=LIFParams(tau_syn=10e-3), beta=0.3)
        state = alif_init(3, n, params, dtype=F64)
        state = ALIFState(v=torch.rand(3, n, generator=g, dtype=F64), i=state.i, a=state.a)
    z3, s3 = _random_run(tick, params, state, inputs, dt)
    assert z3.sum() > 0, "test needs spikes to be meaningful"
    for b in range(3):
        sb = type(state)(*(t[b : b + 1] for t in state))
        zb, sb_end = _random_run(tick, params, sb, inputs[:, b : b + 1], dt)
        torch.testing.assert_close(zb, z3[:, b : b + 1], rtol=0, atol=0)
        for got, want in zip(sb_end, s3, strict=True):
            torch.testing.assert_close(got, want[b : b + 1], rtol=1e-14, atol=1e-15)


# --- (5) surrogate gradient ------------------------------------------------------------------


def test_spike_fn_forward_is_heaviside():
    x = torch.tensor([-2.0, -1e-12, 0.0, 1e-12, 0.3], dtype=F64)
    expected = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0], dtype=F64)
    assert torch.equal(spike_fn(x), expected)
    assert torch.equal(torch.heaviside(x, torch.tensor(1.0, dtype=F64)), expected)
    y = spike_fn(x.clone().requires_grad_(True))
    assert torch.equal(y.detach(), expected)
    assert y.dtype == F64


@pytest.mark.parametrize("alpha", [1.0, 7.5, 100.0])
def test_spike_fn_surrogate_gradient(alpha):
    x = torch.tensor([-0.3, -0.01, 0.0, 0.02, 0.5], dtype=F64, requires_grad=True)
    w = torch.tensor([1.0, -2.0, 0.5, 3.0, 1.0], dtype=F64)
    (spike_fn(x, alpha) * w).sum().backward()
    expected = w / (alpha * x.detach().abs() + 1.0) ** 2
    torch.testing.assert_close(x.grad, expected, rtol=1e-15, atol=0)


def test_gradient_through_ticks_matches_closed_form():
    # No spikes: d v_n / d i0 = tau_s/(tau_s - tau_m) (e^{-t/tau_s} - e^{-t/tau_m}).
    tau_mem, tau_syn, dt, n_ticks = 20e-3, 5e-3, 1e-3, 7
    params = LIFParams(tau_mem=tau_mem, tau_syn=tau_syn, v_th=NO_SPIKE_TH)
    i0 = torch.tensor([[0.5]], dtype=F64, requires_grad=True)
    state = lif_init(1, 1, params, dtype=F64)
    for n in range(n_ticks):
        _, state = lif_tick(params, state, i0 if n == 0 else torch.zeros_like(i0), dt)
    state.v.sum().backward()
    t = n_ticks * dt
    expected = tau_syn / (tau_syn - tau_mem) * (math.exp(-t / tau_syn) - math.exp(-t / tau_mem))
    assert i0.grad.item() == pytest.approx(expected, rel=1e-9)


def test_gradient_flows_through_spikes_to_input_current():
    params = LIFParams(v_th=0.05, tau_syn=10e-3)
    inputs = torch.full((6, 2, 3), 0.4, dtype=F64, requires_grad=True)
    state = lif_init(2, 3, params, dtype=F64)
    total = torch.zeros((), dtype=F64)
    for x in inputs:
        z, state = lif_tick(params, state, x, 1e-3)
        total = total + z.sum()
    assert total.item() > 0
    total.backward()
    assert inputs.grad is not None
    assert torch.isfinite(inputs.grad).all()
    assert inputs.grad.abs().sum() > 0
    assert inputs.grad[0].abs().sum() > 0  # reaches back to the first tick


# --- (6) ALIF --------------------------------------------------------------------------------


def test_alif_spike_raises_threshold():
    lif = LIFParams(v_th=1.0, v_reset=0.0, tau_mem=20e-3, tau_syn=5e-3)
    params = ALIFParams(lif=lif, tau_adapt=0.2, beta=0.5)
    dt = 1e-3
    c = lif_propagator(lif, dt).c_syn
    z, after = alif_tick(
        params, alif_init(1, 1, params, dtype=F64), torch.full((1, 1), 2.0 / c, dtype=F64), dt
    )
    assert z.item() == 1.0
    assert after.a.item() == 1.0
    # A jump that takes v to 1.2 from rest: above v_th, below v_th + beta * a (~1.5).
    inp = torch.full((1, 1), 1.2 / c, dtype=F64)
    zero = torch.zeros(1, 1, dtype=F64)
    fresh = ALIFState(v=zero, i=zero, a=zero)
    adapted = ALIFState(v=zero, i=zero, a=after.a)
    z_fresh, _ = alif_tick(params, fresh, inp, dt)
    z_adapted, _ = alif_tick(params, adapted, inp, dt)
    assert z_fresh.item() == 1.0
    assert z_adapted.item() == 0.0
    # more input overcomes the raised threshold
    z_more, _ = alif_tick(params, adapted, torch.full((1, 1), 1.6 / c, dtype=F64), dt)
    assert z_more.item() == 1.0


def test_alif_adaptation_decay_golden():
    params = ALIFParams(lif=LIFParams(v_th=NO_SPIKE_TH), tau_adapt=0.2, beta=0.2)
    dt = 1e-3
    zero = torch.zeros(1, 2, dtype=F64)
    state = ALIFState(v=zero, i=zero, a=torch.tensor([[1.0, 2.5]], dtype=F64))
    _, s1 = alif_tick(params, state, zero, dt)
    # e^{-1 ms / 200 ms} = e^{-0.005} = 0.995012479192682313 (hand-computed)
    d = 0.995012479192682313
    torch.testing.assert_close(s1.a, torch.tensor([[d, 2.5 * d]], dtype=F64), rtol=1e-15, atol=0)
    for _ in range(9):
        _, s1 = alif_tick(params, s1, zero, dt)
    # ten ticks: e^{-0.05} = 0.951229424500714009
    torch.testing.assert_close(
        s1.a,
        torch.tensor([[0.951229424500714009, 2.5 * 0.951229424500714009]], dtype=F64),
        rtol=1e-14,
        atol=0,
    )


def test_alif_spike_increments_adaptation_by_one():
    params = ALIFParams(lif=LIFParams(v_th=0.0, v_leak=0.5), tau_adapt=0.2, beta=0.0)
    zero = torch.zeros(1, 1, dtype=F64)
    state = ALIFState(
        v=torch.full((1, 1), 0.5, dtype=F64), i=zero, a=torch.full((1, 1), 2.0, dtype=F64)
    )
    z, new = alif_tick(params, state, zero, 1e-3)
    assert z.item() == 1.0
    assert new.a.item() == pytest.approx(2.0 * 0.995012479192682313 + 1.0, rel=1e-15)


def test_alif_without_adaptation_equals_lif():
    g = torch.Generator().manual_seed(3)
    lif = LIFParams(tau_syn=10e-3)
    params = ALIFParams(lif=lif, beta=0.0)
    a_state = alif_init(2, 5, params, dtype=F64)
    l_state = lif_init(2, 5, lif, dtype=F64)
    for _ in range(15):
        x = torch.rand(2, 5, generator=g, dtype=F64)
        za, a_state = alif_tick(params, a_state, x, 1e-3)
        zl, l_state = lif_tick(lif, l_state, x, 1e-3)
        assert torch.equal(za, zl)
        assert torch.equal(a_state.v, l_state.v) and torch.equal(a_state.i, l_state.i)


def test_alif_rejects_nonpositive_tau_adapt():
    s = alif_init(1, 1, dtype=F64)
    with pytest.raises(ValueError, match="tau_adapt"):
        alif_tick(ALIFParams(tau_adapt=0.0), s, torch.zeros(1, 1, dtype=F64), 1e-3)


# --- (7) propagator arguments ----------------------------------------------------------------


@pytest.mark.parametrize("dt", [0.0, -1e-3])
def test_propagator_rejects_nonpositive_dt(dt):
    with pytest.raises(ValueError, match="dt"):
        lif_propagator(LIFParams(), dt)


@pytest.mark.parametrize("field", ["tau_mem", "tau_syn"])
def test_propagator_rejects_nonpositive_taus(field):
    with pytest.raises(ValueError):
        lif_propagator(LIFParams()._replace(**{field: 0.0}), 1e-3)


def test_lif_tick_rejects_nonpositive_dt():
    s = lif_init(1, 1, dtype=F64)
    with pytest.raises(ValueError):
        lif_tick(LIFParams(), s, torch.zeros(1, 1, dtype=F64), 0.0)


def test_precomputed_propagator_gives_same_result():
    g = torch.Generator().manual_seed(4)
    params = LIFParams()
    state = LIFState(
        v=torch.rand(2, 3, generator=g, dtype=F64), i=torch.rand(2, 3, generator=g, dtype=F64)
    )
    x = torch.rand(2, 3, generator=g, dtype=F64)
    z1, s1 = lif_tick(params, state, x, 2e-3)
    z2, s2 = lif_tick(params, state, x, 2e-3, propagator=lif_propagator(params, 2e-3))
    assert torch.equal(z1, z2) and torch.equal(s1.v, s2.v) and torch.equal(s1.i, s2.i)
