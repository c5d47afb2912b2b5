"""STPN cells: forward and fast-weight update by hand, clamp, row norm, gradients, batching, and
the spiking cell with STPN and Tsodyks–Markram synapses."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch.func import functional_call

from snnrl.config import ConfigError
from snnrl.networks.stpn import SpikingSTPNCell, STPNCell

CPU = torch.device("cpu")
th = math.tanh

W_HAND = [[0.5, -0.25, 0.1, 0.2], [0.3, 0.4, -0.2, 0.1]]
B_HAND = [0.1, -0.1]
LAM_HAND = [[0.5, 0.9, 0.2, 0.1], [0.3, 0.6, 0.8, 0.4]]
G_HAND = [[0.1, 0.2, -0.1, 0.3], [0.2, -0.3, 0.1, 0.2]]


def set_params(cell: torch.nn.Module, **values: Any) -> None:
    with torch.no_grad():
        for name, v in values.items():
            getattr(cell, name).copy_(torch.as_tensor(v, dtype=getattr(cell, name).dtype))


def hand_cell(**kw: Any) -> STPNCell:
    """2 inputs, 2 hidden units, hand-set parameters, float64."""
    cell = STPNCell(2, 2, **kw).double()
    set_params(cell, weight=W_HAND, bias=B_HAND, lam=LAM_HAND, gamma=G_HAND)
    return cell


def t64(x: Any) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


# ---------------------------------------------------------------- rate STPN


def test_forward_and_fast_weights_by_hand() -> None:
    cell = hand_cell(clamp=1.0)
    st = cell.initial_state(1, CPU)
    # step 1: z = [1, 2, 0, 0]; a0 = 0.5 - 0.5 + 0.1, a1 = 0.3 + 0.8 - 0.1
    h, st = cell(t64([[1.0, 2.0]]), st)
    h10, h11 = th(0.1), th(1.0)
    torch.testing.assert_close(h, t64([[h10, h11]]))
    f1 = [[0.1 * h10 * 1, 0.2 * h10 * 2, 0.0, 0.0],
          [0.2 * h11 * 1, -0.3 * h11 * 2, 0.0, 0.0]]
    torch.testing.assert_close(st.f, t64([f1]))
    torch.testing.assert_close(st.h, h)
    # step 2: z = [-1, 0.5, h10, h11] through W + F1
    h, st = cell(t64([[-1.0, 0.5]]), st)
    a0 = (0.5 + 0.1 * h10) * -1 + (-0.25 + 0.4 * h10) * 0.5 + 0.1 * h10 + 0.2 * h11 + 0.1
    a1 = (0.3 + 0.2 * h11) * -1 + (0.4 - 0.6 * h11) * 0.5 - 0.2 * h10 + 0.1 * h11 - 0.1
    h20, h21 = th(a0), th(a1)
    torch.testing.assert_close(h, t64([[h20, h21]]))
    z2 = [-1.0, 0.5, h10, h11]
    f2 = [[0.5 * f1[0][0] + 0.1 * h20 * z2[0], 0.9 * f1[0][1] + 0.2 * h20 * z2[1],
           -0.1 * h20 * z2[2], 0.3 * h20 * z2[3]],
          [0.3 * f1[1][0] + 0.2 * h21 * z2[0], 0.6 * f1[1][1] - 0.3 * h21 * z2[1],
           0.1 * h21 * z2[2], 0.2 * h21 * z2[3]]]
    torch.testing.assert_close(st.f, t64([f2]))


def test_clamp_bounds_fast_weights() -> None:
    big = [[10.0] * 4, [-10.0] * 4]
    clamped = hand_cell(clamp=0.5)
    free = hand_cell(clamp=None)
    for c in (clamped, free):
        set_params(c, gamma=big)
    x = t64([[1.0, 2.0]])
    _, st_c = clamped(x, clamped.initial_state(1, CPU))
    _, st_f = free(x, free.initial_state(1, CPU))
    torch.testing.assert_close(st_c.f, t64([[[0.5, 0.5, 0, 0], [-0.5, -0.5, 0, 0]]]))
    # unclipped: 10 * tanh(0.1) * 1, ..., -10 * tanh(1.0) * 2
    torch.testing.assert_close(
        st_f.f, t64([[[10 * th(0.1), 20 * th(0.1), 0, 0], [-10 * th(1.0), -20 * th(1.0), 0, 0]]]))


W_NORM = [[0.6, 0.0, 0.0, 0.0], [0.0, 0.0, 0.3, 0.0]]
F_NORM = [[[0.2, 0.0, 0.0, 0.0], [0.0, 0.0, 0.1, 0.0]]]


@pytest.mark.parametrize(
    ("f_norm", "expected_f"),
    [
        # pre: F / ||W + F|| (rows 0.8, 0.4) = 0.25, 0.25, then * lambda 0.5
        ("pre", [[0.125, 0, 0, 0], [0, 0, 0.125, 0]]),
        # post: lambda F = 0.1, 0.05, then / ||W + lambda F|| (rows 0.7, 0.35)
        ("post", [[0.1 / 0.7, 0, 0, 0], [0, 0, 0.05 / 0.35, 0]]),
        # none: lambda F only
        ("none", [[0.1, 0, 0, 0], [0, 0, 0.05, 0]]),
    ],
)
def test_row_norm_by_hand(f_norm: str, expected_f: list[list[float]]) -> None:
    cell = STPNCell(2, 2, clamp=1.0, row_norm=True, f_norm=f_norm).double()
    set_params(cell, weight=W_NORM, bias=[0.0, 0.0], lam=[[0.5] * 4] * 2, gamma=[[0.0] * 4] * 2)
    st = (torch.zeros(1, 2, dtype=torch.float64), t64(F_NORM))
    # z = [1, 0, 0, 0]: row 0 gives (0.6 + 0.2) / 0.8 = 1, row 1 gives 0 / 0.4
    h, new = cell(t64([[1.0, 0.0]]), st)
    torch.testing.assert_close(h, t64([[th(1.0), 0.0]]))
    torch.testing.assert_close(new.f, t64([expected_f]))
    # energy proxy: z^2 . |G / ||G|| |: only z0 = 1 counts, |G00| / 0.8 = 1
    assert cell.energy_proxy(t64([[1.0, 0.0]]), st).tolist() == pytest.approx([1.0])


def test_row_norm_makes_output_scale_invariant() -> None:
    torch.manual_seed(0)
    cell = STPNCell(3, 4, row_norm=True, f_norm="none").double()
    x = torch.randn(5, 3, dtype=torch.float64)
    f = 0.1 * torch.randn(5, 4, 7, dtype=torch.float64)
    h0 = torch.randn(5, 4, dtype=torch.float64).tanh()
    out, _ = cell(x, (h0, f))
    with torch.no_grad():
        cell.weight.mul_(3.0)
    out3, _ = cell(x, (h0, 3.0 * f))
    torch.testing.assert_close(out, out3)
    plain = STPNCell(3, 4, row_norm=False).double()
    plain.load_state_dict(cell.state_dict())
    assert not torch.allclose(plain(x, (h0, 3.0 * f))[0], out3)


def test_energy_proxy_by_hand_and_in_stats() -> None:
    cell = hand_cell()
    st = cell.initial_state(1, CPU)
    # z = [1, 2, 0, 0], |G| = |W|: (0.5 + 4 * 0.25) + (0.3 + 4 * 0.4) = 3.4
    e = cell.energy_proxy(t64([[1.0, 2.0]]), st)
    assert e.tolist() == pytest.approx([3.4])
    z = t64([[1.0, 2.0, 0.0, 0.0]])
    assert cell.energy_proxy(z, st).tolist() == pytest.approx([3.4])
    _, new = cell(t64([[1.0, 2.0]]), st)
    s = cell.stats()
    assert s["stpn_proxy"] == pytest.approx(3.4)
    assert s["mean_abs_f"] == pytest.approx(float(new.f.detach().abs().mean()))
    quiet = STPNCell(2, 2, record_stats=False)
    quiet(torch.ones(1, 2), quiet.initial_state(1, CPU))
    assert quiet.stats() == {}


def test_lambda_and_gamma_gradients_follow_the_timing() -> None:
    """h_1 ignores F; h_2 sees F_1 = gamma (h_1 x z_1) (lambda F_0 = 0); h_3 sees lambda F_1."""
    torch.manual_seed(1)
    cell = STPNCell(3, 4, clamp=1.0)
    with torch.no_grad():
        cell.gamma.uniform_(-0.3, 0.3)
    xs = torch.randn(3, 2, 3)
    for steps, lam_grad, gamma_grad in ((1, False, False), (2, False, True), (3, True, True)):
        cell.zero_grad(set_to_none=True)
        st = cell.initial_state(2, CPU)
        for t in range(steps):
            h, st = cell(xs[t], st)
        h.sum().backward()
        for p, expect in ((cell.lam, lam_grad), (cell.gamma, gamma_grad)):
            nz = p.grad is not None and bool(p.grad.abs().sum() > 0)
            assert nz == expect, (steps, p.shape)
        assert cell.weight.grad is not None and cell.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kw", [{"clamp": None}, {"clamp": 10.0, "row_norm": True, "f_norm": "post"},
           {"clamp": None, "row_norm": True, "f_norm": "pre"}])
def test_gradcheck_three_steps(kw: dict[str, Any]) -> None:
    torch.manual_seed(2)
    cell = STPNCell(2, 2, **kw).double()
    with torch.no_grad():
        cell.gamma.uniform_(-0.5, 0.5)  # large enough that F matters
    names = ("weight", "bias", "lam", "gamma")
    params = tuple(getattr(cell, n).detach().clone().requires_grad_() for n in names)
    xs = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)

    def run(xs: torch.Tensor, *ps: torch.Tensor) -> torch.Tensor:
        st = cell.initial_state(2, CPU)
        outs = []
        for t in range(3):
            h, st = functional_call(cell, dict(zip(names, ps, strict=True)), (xs[t], st))
            outs.append(h)
        return torch.stack(outs).sum(0) + st[1].sum()

    assert torch.autograd.gradcheck(run, (xs, *params), eps=1e-6, atol=1e-5)


def test_parameter_count_matches_the_paper_maze_cell() -> None:
    cell = STPNCell(17, 55)
    assert sum(p.numel() for p in cell.parameters()) == 3 * 55 * 72 + 55 == 11935
    assert cell.hidden_size == 55
    assert sum(p.numel() for p in SpikingSTPNCell(17, 55).parameters()) == 11935
    assert sum(p.numel() for p in SpikingSTPNCell(17, 55, synapse="tm").parameters()) == (
        4 * 55 * 72 + 55)


def test_initialisation_ranges() -> None:
    torch.manual_seed(3)
    cell = STPNCell(17, 55)
    k = 1 / math.sqrt(55)
    assert cell.weight.abs().max() <= k and cell.bias.abs().max() <= k
    assert 0 <= cell.lam.min() and cell.lam.max() <= 1 and cell.lam.std() > 0.2
    assert cell.gamma.abs().max() <= 1e-3 * k and cell.gamma.abs().max() > 0.5e-3 * k


def batch_matches_single(cell: torch.nn.Module, n_in: int, steps: int = 4) -> None:
    torch.manual_seed(4)
    xs = torch.rand(steps, 3, n_in) * 2 - 0.5
    st = cell.initial_state(3, CPU)
    singles = [cell.initial_state(1, CPU) for _ in range(3)]
    for t in range(steps):
        h, st = cell(xs[t], st)
        for b in range(3):
            hb, singles[b] = cell(xs[t, b: b + 1], singles[b])
            torch.testing.assert_close(h[b: b + 1], hb)
    for b in range(3):
        for full, one in zip(st, singles[b], strict=True):
            torch.testing.assert_close(full[b: b + 1], one)


@pytest.mark.parametrize(
    "make",
    [lambda: STPNCell(3, 5), lambda: STPNCell(3, 5, row_norm=True),
     lambda: SpikingSTPNCell(3, 5, ticks=4), lambda: SpikingSTPNCell(3, 5, ticks=4, synapse="tm")],
)
def test_batch_row_equals_the_same_input_alone(make: Any) -> None:
    torch.manual_seed(5)
    batch_matches_single(make(), 3)


@pytest.mark.parametrize(
    "make", [lambda: STPNCell(3, 5), lambda: SpikingSTPNCell(3, 5, ticks=4, synapse="tm")])
def test_masked_reset_equals_a_fresh_start(make: Any) -> None:
    torch.manual_seed(6)
    cell = make()
    xs = torch.rand(4, 2, 3)
    st = cell.initial_state(2, CPU)
    for t in range(3):
        _, st = cell(xs[t], st)
    init = cell.initial_state(2, CPU)
    mask = torch.tensor([True, False])
    st = tuple(torch.where(mask.view(-1, *([1] * (s.dim() - 1))), i, s)
               for i, s in zip(init, st, strict=True))
    h, _ = cell(xs[3], st)
    h0, _ = cell(xs[3, :1], cell.initial_state(1, CPU))
    torch.testing.assert_close(h[:1], h0)


# ---------------------------------------------------------------- spiking STPN


def test_spiking_stpn_by_hand() -> None:
    cell = SpikingSTPNCell(1, 1, ticks=2, beta=0.5, v_th=1.0, clamp=None).double()
    set_params(cell, weight=[[1.2, 0.5]], bias=[0.0], lam=[[1.0, 1.0]], gamma=[[0.1, 0.2]])
    st = cell.initial_state(1, CPU)
    # tick 1: z = [1, 0], I = 1.2, v = 1.2 -> spike, v = 0.2, F = [0.1, 0]
    # tick 2: z = [1, 1], I = 1.3 + 0.5 = 1.8, v = 0.1 + 1.8 = 1.9 -> spike, v = 0.9,
    #         F = [0.1 + 0.1, 0 + 0.2]
    h, st = cell(t64([[1.0]]), st)
    assert h.tolist() == [[1.0]]
    torch.testing.assert_close(st.v, t64([[0.9]]))
    torch.testing.assert_close(st.f, t64([[[0.2, 0.2]]]))
    # step 2, x = 0. tick 1: z = [0, 1], I = 0.5 + 0.2, v = 0.45 + 0.7 = 1.15 -> spike, v = 0.15,
    #         F = [0.2, 0.4]; tick 2: I = 0.9, v = 0.075 + 0.9 = 0.975 -> no spike
    h, st = cell(t64([[0.0]]), st)
    assert h.tolist() == [[0.5]]
    torch.testing.assert_close(st.v, t64([[0.975]]))
    assert st.s.tolist() == [[0.0]]
    torch.testing.assert_close(st.f, t64([[[0.2, 0.4]]]))
    assert cell.stats()["firing_rate"] == 0.5


def test_spiking_tm_by_hand() -> None:
    cell = SpikingSTPNCell(1, 1, ticks=1, beta=0.0, v_th=0.5, synapse="tm").double()
    # U = 0.5; time constants of ~1000 s: no relaxation within the test
    set_params(cell, weight=[[1.0, 0.0]], bias=[0.0], u_raw=[[0.0, 0.0]],
               tau_f_raw=[[1000.0, 1000.0]], tau_d_raw=[[1000.0, 1000.0]])
    st = cell.initial_state(1, CPU)
    # step 1: input rate 1; u+ = 0.75, efficacy 0.75, I = 0.75 >= 0.5 -> spike; x = 0.25
    h, st = cell(t64([[1.0]]), st)
    assert h.tolist() == [[1.0]]
    torch.testing.assert_close(st.du, t64([[[0.25, 0.0]]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(st.x, t64([[[0.25, 1.0]]]), atol=1e-6, rtol=0)
    # step 2: u+ = 0.75 + 0.5 * 0.25 = 0.875, efficacy 0.875 * 0.25 = 0.21875 < 0.5: silent;
    # x = 0.25 - 0.21875; the recurrent synapse got one presynaptic spike: u+ = 0.75, x = 0.25
    h, st = cell(t64([[1.0]]), st)
    assert h.tolist() == [[0.0]]
    torch.testing.assert_close(st.du, t64([[[0.375, 0.25]]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(st.x, t64([[[0.03125, 0.25]]]), atol=1e-6, rtol=0)
    # a negative input depletes as a rate |x| but drives a negative current
    _, st2 = cell(t64([[-1.0]]), cell.initial_state(1, CPU))
    assert st2.s.tolist() == [[0.0]]
    torch.testing.assert_close(st2.x, t64([[[0.25, 1.0]]]), atol=1e-6, rtol=0)


@pytest.mark.parametrize("synapse", ["stpn", "tm"])
def test_spiking_shapes_rates_and_gradients(synapse: str) -> None:
    torch.manual_seed(7)
    ticks = 4
    cell = SpikingSTPNCell(6, 8, ticks=ticks, synapse=synapse)
    if synapse == "stpn":
        with torch.no_grad():
            cell.gamma.uniform_(-0.05, 0.05)
    st = cell.initial_state(5, CPU)
    loss = torch.zeros(())
    for _ in range(4):
        h, st = cell(torch.rand(5, 6), st)
        assert h.shape == (5, 8)
        assert ((h >= 0) & (h <= 1)).all()
        assert torch.equal(h * ticks, (h * ticks).round())  # spike counts / ticks
        loss = loss + h.sum()
    assert len(st) == (3 if synapse == "stpn" else 4)
    assert all(s.shape[0] == 5 for s in st)
    assert 0 < float(loss.detach()) < 5 * 8 * 4  # neither silent nor saturated
    loss.backward()
    names = ["weight", "bias"] + (
        ["lam", "gamma"] if synapse == "stpn" else ["u_raw", "tau_f_raw", "tau_d_raw"])
    for n in names:
        g = getattr(cell, n).grad
        assert g is not None and g.abs().sum() > 0, n
    keys = {"firing_rate", "stpn_proxy", "synops"} | (
        {"mean_abs_f"} if synapse == "stpn" else {"mean_efficacy"})
    assert set(cell.stats()) == keys
    assert 0 <= cell.stats()["firing_rate"] <= 1


def test_tm_parameters_stay_in_range() -> None:
    torch.manual_seed(8)
    cell = SpikingSTPNCell(4, 3, ticks=8, synapse="tm", dt=1e-3)
    U, tau_f, tau_d = cell.tm_params()
    assert 0.05 - 1e-6 <= U.min() and U.max() <= 0.5 + 1e-6
    step = 8e-3
    for tau in (tau_f, tau_d):
        assert step * (1 - 1e-4) <= tau.min() and tau.max() <= 100 * step * (1 + 1e-4)
    with torch.no_grad():
        cell.u_raw.fill_(-50.0)
        cell.tau_f_raw.fill_(-50.0)
    U, tau_f, _ = cell.tm_params()
    assert (U >= 0).all() and (tau_f >= cell.tau_min).all()


@pytest.mark.parametrize(
    ("make", "key"),
    [(lambda: STPNCell(0, 3), "n_in"), (lambda: STPNCell(2, 0), "hidden"),
     (lambda: STPNCell(2, 3, clamp=0.0), "clamp"), (lambda: STPNCell(2, 3, f_norm="x"), "f_norm"),
     (lambda: SpikingSTPNCell(2, 3, synapse="x"), "synapse"),
     (lambda: SpikingSTPNCell(2, 3, ticks=0), "ticks"),
     (lambda: SpikingSTPNCell(2, 3, beta=1.5), "beta"),
     (lambda: SpikingSTPNCell(2, 3, dt=0.0), "dt")],
)
def test_bad_config_raises(make: Any, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        make()


@pytest.mark.gpu
@pytest.mark.parametrize(
    "make", [lambda: STPNCell(3, 5, row_norm=True), lambda: SpikingSTPNCell(3, 5, ticks=4),
             lambda: SpikingSTPNCell(3, 5, ticks=4, synapse="tm")])
def test_same_results_on_cuda(make: Any) -> None:
    torch.manual_seed(9)
    cell = make().double()
    xs = torch.rand(3, 4, 3, dtype=torch.float64)
    gpu = torch.device("cuda")
    cell_g = make().double().to(gpu)
    cell_g.load_state_dict(cell.state_dict())
    st, st_g = cell.initial_state(4, CPU), cell_g.initial_state(4, gpu)
    for t in range(3):
        h, st = cell(xs[t], st)
        h_g, st_g = cell_g(xs[t].to(gpu), st_g)
        torch.testing.assert_close(h_g.cpu(), h)
    assert all(s.device.type == "cuda" for s in st_g)
