"""Hand-computed operation counts of the generic counter and of the STPN / PopSAN self-counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnrl.networks.op_counter import (
    LayerPlan,
    OpCounter,
    batched_weight_counts,
    conv2d_counts,
    linear_counts,
)
from snnrl.networks.stpn import SpikingSTPNCell, STPNCell

# NeuroBench's documented example (snnrl/networks/counts.py)
W = torch.tensor([[1.3, 0.0, -3.2], [0.0, 1.2, -5.1], [-1.1, 2.7, 0.0]])


def test_linear_counts_split_ac_and_mac_per_row() -> None:
    # row 0: NeuroBench's graded input (4 effective MACs); row 1: spikes [1, 0, -1] (inputs 0 and
    # 2 are non-zero, 2 weights leave each: 4 ACs); row 2: zeros (nothing effective)
    x = torch.tensor([[0.0, 1.3, -1.0], [1.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    c = linear_counts(x, W)
    assert c["synops_mac"].tolist() == [4.0, 0.0, 0.0]
    assert c["synops_ac"].tolist() == [0.0, 4.0, 0.0]
    assert c["synops_dense"].tolist() == [9.0, 9.0, 9.0]
    assert c["state_reads"].tolist() == [4.0, 4.0, 0.0]


def test_linear_counts_rows_over_time_and_batch_axis() -> None:
    # [T=2, B=2, 3] with the batch on axis 1: each (t, b) row decided on its own
    x = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.5, 0.0]],
                      [[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]])
    c = linear_counts(x, W, batch_dim=1)
    # env 0: spikes on input 0 (2 weights) then input 2 (2 weights): 4 ACs
    # env 1: graded 0.5 on input 1 (2 weights): 2 MACs; then spikes on all inputs: 6 ACs
    assert c["synops_ac"].tolist() == [4.0, 6.0]
    assert c["synops_mac"].tolist() == [0.0, 2.0]
    assert c["synops_dense"].tolist() == [18.0, 18.0]


def test_conv_counts_equal_the_unrolled_linear() -> None:
    conv = nn.Conv2d(1, 1, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, 0.0], [2.0, 3.0]]]]))
    x = torch.tensor([[[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]]])  # binary frame
    c = conv2d_counts(x, conv)
    # 4 output positions x 4 weights = 16 dense; effective = non-zero input under non-zero weight
    # positions (0,0): x[0,0]*1 + x[1,0]*2 + x[1,1]*3 -> 1 + 0 + 1 = 2
    #           (0,1): x[0,1], x[1,1], x[1,2] -> 0 + 1 + 0 = 1
    #           (1,0): x[1,0], x[2,0], x[2,1] -> 0; (1,1): x[1,1], x[2,1], x[2,2] -> 1 + 0 + 1 = 2
    assert c["synops_dense"].tolist() == [16.0]
    assert c["synops_ac"].tolist() == [5.0] and c["synops_mac"].tolist() == [0.0]
    c = conv2d_counts(x * 0.5, conv)
    assert c["synops_mac"].tolist() == [5.0] and c["synops_ac"].tolist() == [0.0]


class _TinyLIF(nn.Module):
    """One Linear feeding LIF neurons (threshold 1, no leak), ``ticks`` ticks per call."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 2.0]]))

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:  # [T, B, 3]
        v = torch.zeros(spikes.shape[1], 2)
        out = torch.zeros_like(v)
        for s in spikes:
            v = v + self.fc(s)
            fired = (v >= 1).float()
            v = v - fired
            out = out + fired
        return out


def test_spiking_layer_counts_acs_and_driven_idle_updates_per_tick() -> None:
    net = _TinyLIF()
    counter = OpCounter(net, {"fc": LayerPlan("linear", spiking=True)})
    spikes = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
                           [[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]])  # [T=2, B=2, 3]
    with counter:
        net(spikes)
        counter.end_step(torch.tensor([True, True]))
    ops = counter.per_step()["fc"]
    # env 0: tick 1 input 0 (1 weight: 1 AC, current [1, 0]: 1 driven, 1 idle); tick 2 inputs
    # 1, 2 (input 1 has no weight, input 2 two: 2 ACs, current [1, 2]: 2 driven)
    # env 1: tick 1 nothing (2 idle); tick 2 input 2 (2 ACs, 2 driven)
    # means over the 2 envs: ACs (3 + 2) / 2, driven (3 + 2) / 2, idle (1 + 2) / 2
    assert ops["synops_ac"] == 2.5 and ops["synops_mac"] == 0.0
    assert ops["neuron_updates_driven"] == 2.5 and ops["neuron_updates_idle"] == 1.5
    assert ops["synops_dense"] == 12.0 and ops["ticks"] == 2.0
    info = counter.layers["fc"]
    assert (info.placement, info.neurons, info.fan_in, info.graded) == ("chip", 2, 3, False)
    assert not net._forward_hooks  # hooks removed on exit


def test_finished_envs_are_masked_out_of_the_mean() -> None:
    net = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        net.weight.copy_(W)
    counter = OpCounter(net, {"": LayerPlan("linear")})
    with counter:
        net(torch.tensor([[0.0, 1.3, -1.0], [1.0, 1.0, 1.0]]))  # 4 MACs; 6 ACs
        counter.end_step(torch.tensor([True, True]))
        net(torch.tensor([[0.0, 0.0, 2.0], [1.0, 1.0, 1.0]]))  # 2 MACs; env 1 has finished
        counter.end_step(torch.tensor([True, False]))
    ops = counter.per_step()[""]
    assert ops["synops_mac"] == pytest.approx((4 + 2) / 3)
    assert ops["synops_ac"] == pytest.approx(6 / 3)
    assert ops["neuron_updates_driven"] == 3.0
    assert counter.layers[""].graded  # a MAC was counted


def test_batched_weight_counts_use_each_envs_weights() -> None:
    w = torch.stack([W, torch.zeros(3, 3)])  # env 1: every efficacy zero
    c = batched_weight_counts(torch.tensor([[0.0, 1.3, -1.0], [1.0, 1.0, 1.0]]), w)
    assert c["synops_mac"].tolist() == [4.0, 0.0] and c["synops_ac"].tolist() == [0.0, 0.0]
    assert c["synops_dense"].tolist() == [9.0, 9.0]


def test_stpn_cell_counts_one_plasticity_update_per_synapse_per_step() -> None:
    torch.manual_seed(0)
    cell = STPNCell(2, 3)
    state = cell.initial_state(2, torch.device("cpu"))
    x = torch.tensor([[0.5, 0.0], [1.0, -1.0]])
    counter = OpCounter(cell, {"": LayerPlan("self", plastic=True, neurons=3, fan_in=5)})
    with counter:
        h, new = cell(x, state)
        counter.end_step(torch.tensor([True, True]))
    ops = counter.per_step()[""]
    n_syn = 3 * (2 + 3)
    assert ops["plasticity_step"] == n_syn and ops["state_writes"] == n_syn
    assert ops["synops_dense"] == n_syn and ops["ticks"] == 1.0
    # h_{-1} = 0: env 0 has one non-zero graded input (3 MACs), env 1 two spike-valued (6 ACs)
    assert ops["synops_mac"] == 1.5 and ops["synops_ac"] == 3.0
    proxy = cell.energy_proxy(x, state)
    assert ops["stpn_proxy"] == pytest.approx(float(proxy.mean()))
    assert counter.layers[""].plastic and not cell.count_ops  # flag reset on exit
    h2, new2 = cell(x, state)  # uncounted: same output
    assert torch.equal(h, h2) and torch.equal(new.f, new2.f)


@pytest.mark.parametrize("synapse", ["stpn", "tm"])
def test_spiking_stpn_cell_counts_per_tick(synapse: str) -> None:
    torch.manual_seed(1)
    cell = SpikingSTPNCell(2, 4, ticks=3, synapse=synapse, record_stats=False)
    state = cell.initial_state(2, torch.device("cpu"))
    x = torch.tensor([[1.0, 0.0], [0.3, 2.0]])
    counter = OpCounter(cell, {"": LayerPlan("self", spiking=True, plastic=True, neurons=4,
                                             fan_in=6)})
    with counter:
        rate, _ = cell(x, state)
        counter.end_step(torch.tensor([True, True]))
    ops = counter.per_step()[""]
    n_syn, words = 4 * 6, 1 if synapse == "stpn" else 2
    assert ops["plasticity_tick"] == 3 * n_syn and ops["state_writes"] == 3 * words * n_syn
    assert ops["synops_dense"] == 3 * n_syn and ops["ticks"] == 3.0
    assert ops["neuron_updates_driven"] + ops["neuron_updates_idle"] == 3 * 4
    assert ops["spikes"] == pytest.approx(float(rate.detach().sum()) * 3 / 2)
    assert ops["synops_ac"] > 0 and ops["synops_mac"] > 0  # env 0's x is binary, env 1's not
