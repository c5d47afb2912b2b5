"""Recurrent policy networks (:mod:`snnrl.networks.recurrent`): cells, resets, torsos, sizes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnrl.config import ConfigError
from snnrl.networks.recurrent import (
    CELLS,
    LSTMCellNet,
    ObsTorso,
    RecurrentPolicyNet,
    RNNCellNet,
    make_cell,
    reset_state,
)

CPU = torch.device("cpu")


def _n(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _maze_net(kind: str, hidden: int) -> RecurrentPolicyNet:
    torso = ObsTorso((17,), (0.0,) * 17, (1.0,) * 17)
    return RecurrentPolicyNet(torso, make_cell(kind, 17, hidden), 4, box=False)


def test_maze_parameter_counts_match_the_stpn_paper() -> None:
    """17 inputs, 4 actions, policy + value heads on h: STPN 55 ≈ LSTM 47 ≈ RNN 100 ≈ 12.4k."""
    counts = {
        k: _n(_maze_net(k, h))
        for k, h in (("stpn", 55), ("lstm", 47), ("rnn", 100), ("stpn_snn", 55))
    }
    heads = {h: 4 * h + 4 + h + 1 for h in (47, 55, 100)}
    assert counts["stpn"] == 3 * 55 * (17 + 55) + 55 + heads[55] == 12215
    assert counts["lstm"] == 4 * 47 * (17 + 47) + 8 * 47 + heads[47] == 12648
    assert counts["rnn"] == 100 * (17 + 100) + 2 * 100 + heads[100] == 12405
    assert counts["stpn_snn"] == counts["stpn"]  # W, lambda, gamma, b of the same shapes
    print("maze parameter counts:", counts)
    assert all(abs(c - 12_400) / 12_400 < 0.025 for c in counts.values()), counts


def test_reset_state_replaces_only_masked_rows_of_every_tensor() -> None:
    h = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    f = torch.arange(24.0).view(3, 2, 4)  # [B, H, n]: a fast-weight-like state
    init = (torch.full((3, 2), -1.0), torch.zeros(3, 2, 4))
    h0, f0 = h.clone(), f.clone()
    out = reset_state((h, f), init, torch.tensor([False, True, False]))
    assert out[0].tolist() == [[1, 2], [-1, -1], [5, 6]]
    assert torch.equal(out[1][1], torch.zeros(2, 4))
    assert torch.equal(out[1][[0, 2]], f[[0, 2]])
    assert torch.equal(h, h0) and torch.equal(f, f0)  # inputs untouched
    none = reset_state((h, f), init, torch.zeros(3, dtype=torch.bool))
    assert all(torch.equal(a, b) for a, b in zip(none, (h, f), strict=True))


@pytest.mark.parametrize("kind", CELLS)
def test_every_cell_speaks_the_interface_and_is_batch_independent(kind: str) -> None:
    torch.manual_seed(0)
    cell = make_cell(kind, 5, 6, {"ticks": 3})
    assert cell.hidden_size == 6
    state = cell.initial_state(3, CPU)
    assert all(s.shape[0] == 3 for s in state)
    xs = torch.randn(4, 3, 5)  # [T, B, n_in]
    hs = []
    for x in xs:
        h, state = cell(x, state)
        hs.append(h)
    assert h.shape == (3, 6)
    # a batch of 3 equals three batches of 1
    for b in range(3):
        s1 = cell.initial_state(1, CPU)
        for t, x in enumerate(xs):
            h1, s1 = cell(x[b : b + 1], s1)
            torch.testing.assert_close(h1[0], hs[t][b], rtol=1e-5, atol=1e-6)


def test_lstm_and_rnn_cells_are_torch_cells() -> None:
    torch.manual_seed(0)
    lstm, rnn = LSTMCellNet(3, 4), RNNCellNet(3, 4)
    x = torch.randn(2, 3)
    h, (h2, c) = lstm(x, lstm.initial_state(2, CPU))
    ref_h, ref_c = lstm.cell(x)
    assert torch.equal(h, ref_h) and torch.equal(c, ref_c) and torch.equal(h, h2)
    # Elman by hand: tanh(W_x x + b_x + W_h h + b_h) from h = 0.5
    h0 = torch.full((2, 4), 0.5)
    out, _ = rnn(x, (h0,))
    p = rnn.cell
    torch.testing.assert_close(
        out, torch.tanh(x @ p.weight_ih.T + p.bias_ih + h0 @ p.weight_hh.T + p.bias_hh)
    )


def test_make_cell_rejects_an_unknown_kind() -> None:
    with pytest.raises(ConfigError, match="agent.cell"):
        make_cell("gru", 3, 4)


def test_make_cell_passes_the_stpn_options_on() -> None:
    cell = make_cell("stpn", 3, 4, {"clamp": None, "row_norm": True})
    assert cell.clamp is None and cell.row_norm
    snn = make_cell(
        "stpn_snn", 3, 4, {"ticks": 5, "beta": 0.5, "v_th": 2.0, "synapse": "tm", "clamp": 0.1}
    )
    assert (snn.ticks, snn.beta, snn.v_th, snn.synapse) == (5, 0.5, 2.0, "tm")


def test_flat_torso_maps_the_bounds_onto_minus_one_one() -> None:
    torso = ObsTorso((2,), (0.0, -4.0), (10.0, 4.0))
    obs = torch.tensor([[0.0, -4.0], [10.0, 4.0], [5.0, 1.0]])
    torch.testing.assert_close(torso(obs), torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.25]]))
    assert _n(torso) == 0
    torch.testing.assert_close(ObsTorso((2,))(obs), obs)  # no bounds: identity
    with pytest.raises(ConfigError, match="obs_low"):
        ObsTorso((2,), (0.0,), (1.0,))
    with pytest.raises(ConfigError, match="low < high"):
        ObsTorso((2,), (0.0, 1.0), (1.0, 1.0))


def test_minatar_torso_is_young_and_tian_and_atari_pixels_are_divided_by_255() -> None:
    torch.manual_seed(0)
    minatar = ObsTorso((4, 10, 10))
    assert minatar.out_dim == 128
    assert _n(minatar) == 16 * (4 * 9 + 1) + 16 * 8 * 8 * 128 + 128
    assert minatar(torch.ones(2, 4, 10, 10)).shape == (2, 128)
    atari = ObsTorso((4, 84, 84))
    assert atari.out_dim == 256
    px = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8)
    torch.testing.assert_close(atari(px), atari.net(px.float() / 255))
    with pytest.raises(ConfigError):
        ObsTorso((3, 4))


def test_policy_net_heads_and_gradients_through_time() -> None:
    torch.manual_seed(0)
    net = RecurrentPolicyNet(ObsTorso((3,)), make_cell("stpn", 3, 5), 2, box=True)
    assert net.log_std.shape == (2,) and torch.equal(net.log_std, torch.zeros(2))
    state = net.initial_state(4, CPU)
    loss = torch.zeros(())
    for _ in range(3):
        mean, value, state = net(torch.randn(4, 3), state)
        loss = loss + mean.sum() + value.sum()
    assert mean.shape == (4, 2) and value.shape == (4,)
    loss.backward()
    for name, p in net.named_parameters():
        if name != "log_std":
            assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
