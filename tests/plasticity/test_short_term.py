"""Short-term plasticity: the STPN fast-weight update and Tsodyks–Markram synapses, by hand."""

from __future__ import annotations

import math

import pytest
import torch

from snnrl.config import ConfigError
from snnrl.plasticity.short_term import (
    STPN_INFO,
    TM_INFO,
    TMState,
    stpn_tick,
    tm_init,
    tm_step,
)

# ---------------------------------------------------------------- STPN fast weights


def test_stpn_tick_by_hand() -> None:
    f = torch.tensor([[[0.2, -0.4]]])
    f0 = f.clone()
    lam = torch.tensor([[0.5, 0.5]])
    gamma = torch.tensor([[0.1, -0.2]])
    post, pre = torch.tensor([[2.0]]), torch.tensor([[1.0, 3.0]])
    # 0.5 * 0.2 + 0.1 * 2 * 1 = 0.3;  0.5 * -0.4 + (-0.2) * 2 * 3 = -1.4
    free = stpn_tick(f, post, pre, lam, gamma, clamp=None)
    torch.testing.assert_close(free, torch.tensor([[[0.3, -1.4]]]))
    clipped = stpn_tick(f, post, pre, lam, gamma, clamp=1.0)
    torch.testing.assert_close(clipped, torch.tensor([[[0.3, -1.0]]]))
    assert torch.equal(f, f0)  # input not mutated


def test_stpn_tick_is_per_batch_element() -> None:
    f = torch.zeros(2, 1, 1)
    post = torch.tensor([[1.0], [2.0]])
    pre = torch.tensor([[3.0], [5.0]])
    new = stpn_tick(f, post, pre, torch.ones(1, 1), torch.ones(1, 1), clamp=None)
    torch.testing.assert_close(new, torch.tensor([[[3.0]], [[10.0]]]))  # never batch-summed


def test_rule_declarations_are_local() -> None:
    assert STPN_INFO.local and TM_INFO.local
    assert TM_INFO.signals == ("pre_spike",)


# ---------------------------------------------------------------- Tsodyks–Markram


def run_train(spikes: list[float], U: float, tau_f: float, tau_d: float, dt: float) -> list[float]:
    state = tm_init((1, 1), U, dtype=torch.float64)
    out = []
    for s in spikes:
        eff, state = tm_step(state, torch.tensor([[s]], dtype=torch.float64), U, tau_f, tau_d, dt)
        out.append(float(eff))
    return out


def test_depression_by_hand() -> None:
    # U = 0.5, u relaxes at once (tau_f = 1 us, exp(-1e4) = 0), resources recover slowly
    dt, tau_d = 0.01, 1.0
    a = math.exp(-dt / tau_d)
    e = run_train([1, 1, 0, 1], U=0.5, tau_f=1e-6, tau_d=tau_d, dt=dt)
    # tick 1: u+ = 0.5 + 0.5 * 0.5 = 0.75, x = 1 -> e = 0.75, x <- 0.25
    e1, x1 = 0.75, 0.25
    # tick 2: u' = 0.5, x' = 1 - 0.75 a, u+ = 0.75 -> e = 0.75 x', x <- 0.25 x'
    x2p = 1 - 0.75 * a
    e2, x2 = 0.75 * x2p, 0.25 * x2p
    # tick 3 (no spike): x' = 1 + (x2 - 1) a, u = 0.5 -> e = 0.5 x' (what a spike would get)
    x3 = 1 + (x2 - 1) * a
    e3 = 0.5 * x3
    # tick 4: x' = 1 + (x3 - 1) a, u+ = 0.75
    e4 = 0.75 * (1 + (x3 - 1) * a)
    assert x1 == 0.25
    assert e == pytest.approx([e1, e2, e3, e4], rel=1e-12)
    assert e2 == pytest.approx(0.19309694, rel=1e-6)
    assert e1 > e2 and e1 > e4  # successive spikes transmit less


def test_facilitation_by_hand() -> None:
    # small U, slow facilitation decay, resources recover at once (tau_d = 1 us)
    dt, tau_f = 0.01, 1.0
    a = math.exp(-dt / tau_f)
    e = run_train([1, 1, 1], U=0.1, tau_f=tau_f, tau_d=1e-6, dt=dt)
    u1 = 0.1 + 0.1 * 0.9  # 0.19
    u2p = 0.1 + (u1 - 0.1) * a
    u2 = u2p + 0.1 * (1 - u2p)
    u3p = 0.1 + (u2 - 0.1) * a
    u3 = u3p + 0.1 * (1 - u3p)
    assert e == pytest.approx([u1, u2, u3], rel=1e-12)  # x' = 1 at every spike
    assert e[0] == pytest.approx(0.19) and e[1] == pytest.approx(0.2701943, rel=1e-6)
    assert e[0] < e[1] < e[2]  # successive spikes transmit more


def test_rate_input_is_mean_field() -> None:
    # half a spike from rest, U = 0.2: u+ = 0.2 + 0.2 * 0.8 * 0.5 = 0.28, x+ = 1 - 0.28 * 0.5
    eff, st = tm_step(tm_init((1,), 0.2, dtype=torch.float64),
                      torch.tensor([0.5], dtype=torch.float64), 0.2, 0.5, 0.5, 1e-3)
    assert float(eff) == pytest.approx(0.28) and float(st.x) == pytest.approx(0.86)
    assert float(st.u) == pytest.approx(0.28)


def test_no_spikes_relax_to_rest_exactly() -> None:
    U, tau_f, tau_d, dt, n = 0.3, 0.5, 0.2, 0.01, 50
    st = TMState(torch.tensor([0.7], dtype=torch.float64), torch.tensor([0.2], dtype=torch.float64))
    zero = torch.zeros(1, dtype=torch.float64)
    for _ in range(n):
        _, st = tm_step(st, zero, U, tau_f, tau_d, dt)
    t = n * dt
    assert float(st.u) == pytest.approx(0.3 + 0.4 * math.exp(-t / tau_f), rel=1e-12)
    assert float(st.x) == pytest.approx(1 - 0.8 * math.exp(-t / tau_d), rel=1e-12)
    # the rest state is a fixed point
    rest = tm_init((2, 3), U, dtype=torch.float64)
    eff, same = tm_step(rest, torch.zeros(2, 3, dtype=torch.float64), U, tau_f, tau_d, dt)
    torch.testing.assert_close(same.u, rest.u)
    torch.testing.assert_close(same.x, rest.x)
    torch.testing.assert_close(eff, torch.full((2, 3), U, dtype=torch.float64))


def test_per_synapse_tensors_broadcast_and_get_gradients() -> None:
    # per-synapse parameters [post=2, pre=3], presynaptic spikes [B=4, pre] broadcast over post
    U = torch.tensor([[0.2, 0.4, 0.6], [0.1, 0.3, 0.5]], requires_grad=True)
    tau_f = torch.full((2, 3), 0.05, requires_grad=True)
    tau_d = torch.full((2, 3), 0.1, requires_grad=True)
    st = TMState(torch.zeros(4, 2, 3) + U.detach(), torch.ones(4, 2, 3))
    u0 = st.u.clone()
    total = torch.zeros(())
    for _ in range(3):
        spikes = torch.tensor([[1.0, 0.0, 1.0]]).expand(4, 3)[:, None, :]
        eff, st = tm_step(st, spikes, U, tau_f, tau_d, 0.01)
        total = total + (eff * spikes).sum()
    assert eff.shape == (4, 2, 3)
    total.backward()
    for p in (U, tau_f, tau_d):
        assert p.grad is not None and p.grad.abs().sum() > 0
    # silent synapses (pre 1) never depress
    assert torch.equal(st.x[:, :, 1], torch.ones(4, 2))
    torch.testing.assert_close(u0, torch.zeros(4, 2, 3) + U.detach())  # input not mutated


def test_tm_init_from_tensor() -> None:
    U = torch.tensor([0.1, 0.2], dtype=torch.float64)
    st = tm_init((3, 2), U)
    assert st.u.dtype == torch.float64 and st.u.shape == (3, 2)
    assert torch.equal(st.u[2], U) and torch.equal(st.x, torch.ones(3, 2, dtype=torch.float64))


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [({"dt": 0.0}, "dt"), ({"tau_f": -1.0}, "tau_f"), ({"tau_d": 0.0}, "tau_d"),
     ({"U": 1.5}, "U")],
)
def test_bad_values_raise_config_error(kwargs: dict[str, float], key: str) -> None:
    args = {"U": 0.5, "tau_f": 0.1, "tau_d": 0.1, "dt": 1e-3} | kwargs
    st = TMState(torch.full((1,), 0.5), torch.ones(1))
    with pytest.raises(ConfigError, match=key):
        tm_step(st, torch.ones(1), **args)
    with pytest.raises(ConfigError, match="U"):
        tm_init((1,), 0.0)
