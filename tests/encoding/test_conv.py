"""Spiking convolutional encoder: rate and event coding of frames, conv currents, synaptic ops."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from snnrl.encoding.conv import (
    EventState,
    SpikingConvEncoder,
    conv_currents,
    conv_fanout,
    event_init,
    frame_events,
    intensity,
    over_ticks,
    rate_code,
    stack_events,
    step_events,
)
from snnrl.neurons import LIFParams, lif_init, lif_tick


def test_intensity_maps_each_dtype_to_unit_range():
    u8 = torch.tensor([0, 255], dtype=torch.uint8)
    assert torch.equal(intensity(u8), torch.tensor([0.0, 1.0]))
    assert torch.equal(intensity(torch.tensor([False, True])), torch.tensor([0.0, 1.0]))
    x = torch.tensor([0.0, 1.0])
    assert intensity(x) is x


def test_rate_code_shape_and_empirical_rate():
    levels = torch.tensor([0, 51, 128, 255], dtype=torch.uint8)
    obs = levels.view(1, 1, 1, 4).expand(3, 2, 50, 4).contiguous()  # [B, C, H, W]
    k, p_max = 40, 0.8
    g = torch.Generator().manual_seed(0)
    s = rate_code(obs, ticks=k, p_max=p_max, generator=g)
    assert s.shape == (k, 3, 2, 50, 4) and s.dtype == torch.float32
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    n = k * 3 * 2 * 50  # samples per level
    rate = s.mean(dim=(0, 1, 2, 3))
    for lvl, r in zip(levels.tolist(), rate.tolist(), strict=True):
        p = p_max * lvl / 255
        assert abs(r - p) <= 5 * math.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-12
    assert rate[0] == 0.0  # black pixels never fire


def test_rate_code_minatar_channels_and_reproducibility():
    obs = torch.zeros(2, 4, 10, 10)
    obs[:, 1, 3, 4] = 1.0
    s = rate_code(obs, ticks=6, p_max=1.0)
    assert torch.equal(s, obs.expand(6, *obs.shape))  # p = 1 for set channels, 0 elsewhere
    a = rate_code(obs, 8, 0.5, torch.Generator().manual_seed(3))
    b = rate_code(obs, 8, 0.5, torch.Generator().manual_seed(3))
    c = rate_code(obs + 1 - obs, 8, 0.5, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert c.sum() > 0 and not torch.equal(
        rate_code(obs + 1 - obs, 8, 0.5, torch.Generator().manual_seed(3)), c
    )


def test_frame_events_golden_values():
    prev = torch.tensor([[[[0, 100, 255], [200, 50, 10]]]], dtype=torch.uint8)  # [1, 1, 2, 3]
    cur = torch.tensor([[[[0, 200, 0], [100, 60, 10]]]], dtype=torch.uint8)
    ev = frame_events(prev, cur, threshold=0.2)
    assert ev.shape == (1, 2, 2, 3) and ev.dtype == torch.float32
    on = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])  # +100/255 only
    off = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])  # -255/255 and -100/255
    assert torch.equal(ev[0, 0], on) and torch.equal(ev[0, 1], off)
    # +10/255 is below every threshold above it; a threshold below it fires
    assert ev[0, :, 1, 1].sum() == 0
    assert frame_events(prev, cur, threshold=0.03)[0, 0, 1, 1] == 1.0


def test_frame_events_log_contrast():
    prev = torch.tensor([0.1, 0.5]).view(1, 1, 1, 2)
    cur = torch.tensor([0.2, 0.6]).view(1, 1, 1, 2)
    # log(0.2/0.1) = 0.69 >= 0.5 fires; log(0.6/0.5) = 0.18 does not, although both rise by 0.1
    ev = frame_events(prev, cur, threshold=0.5, log_eps=1e-6)
    assert ev.flatten().tolist() == [1.0, 0.0, 0.0, 0.0]
    assert frame_events(cur, prev, threshold=0.5, log_eps=1e-6).flatten().tolist() == [
        0.0,
        0.0,
        1.0,
        0.0,
    ]


def test_stack_events_channel_layout():
    f = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)  # [B, S, H, W], oldest first
    f[:, 1, 0, 0] = 255  # pixel switches on between frames 0 and 1 ...
    f[:, 2, 0, 0] = 0  # ... and off between 1 and 2
    f[:, 2, 3, 3] = 255  # another switches on between 1 and 2
    ev = stack_events(f, threshold=0.5)
    assert ev.shape == (2, 4, 4, 4)  # ON(0,1), ON(1,2), OFF(0,1), OFF(1,2)
    expect = torch.zeros(4, 4, 4)
    expect[0, 0, 0] = 1  # ON between 0 and 1
    expect[1, 3, 3] = 1  # ON between 1 and 2
    expect[3, 0, 0] = 1  # OFF between 1 and 2
    assert torch.equal(ev[0], expect) and torch.equal(ev[1], expect)
    # the zero-padded first stack of an ALE episode: the screen switching on
    first = torch.zeros(1, 4, 4, 4, dtype=torch.uint8)
    first[0, 3] = 200
    ev = stack_events(first, threshold=0.5)
    assert ev[0, 2].sum() == 16 and ev.sum() == 16


def test_step_events_state_and_reset_mask():
    obs0 = torch.zeros(3, 2, 5, 5)
    state = event_init(obs0)
    ev, state = step_events(state, obs0)
    assert ev.shape == (3, 4, 5, 5) and ev.sum() == 0  # no events at the first step
    obs1 = obs0.clone()
    obs1[:, 0, 2, 2] = 1.0
    obs1[:, 1, 0, 0] = 1.0
    reset = torch.tensor([False, True, False])
    ev, new_state = step_events(state, obs1, threshold=0.5, reset=reset)
    assert ev[0].sum() == 2 and ev[2].sum() == 2 and ev[0, 0, 2, 2] == 1 and ev[0, 1, 0, 0] == 1
    assert ev[1].sum() == 0  # a new episode is compared with itself
    assert torch.equal(new_state.prev, obs1)
    assert torch.equal(state.prev, obs0)  # the old state was not modified
    ev, _ = step_events(new_state, obs0, threshold=0.5)  # everything switches off
    assert ev[:, :2].sum() == 0 and ev[:, 2, 2, 2].sum() == 3 and ev[:, 3, 0, 0].sum() == 3


def test_over_ticks_modes():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    first = over_ticks(x, 3, "first")
    rep = over_ticks(x, 3, "repeat")
    assert first.shape == rep.shape == (3, 2, 2)
    assert torch.equal(first[0], x) and first[1:].sum() == 0
    assert all(torch.equal(r, x) for r in rep)
    rep[0, 0, 0] = 5.0
    assert x[0, 0] == 1.0  # repeat returns a copy, not a view of the input


def test_batch_independence():
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (3, 4, 12, 12), dtype=torch.uint8, generator=g)
    enc = SpikingConvEncoder(
        6, 5, kernel_size=3, stride=2, learnable=False, generator=torch.Generator().manual_seed(1)
    )
    ev = stack_events(frames, 0.1)
    spikes = over_ticks(ev, 4, "repeat")  # [K, B, 6, 12, 12]
    out = enc(spikes)
    for b in range(3):
        assert torch.equal(stack_events(frames[b : b + 1], 0.1), ev[b : b + 1])
        torch.testing.assert_close(enc(spikes[:, b : b + 1]), out[:, b : b + 1])
    # rate coding with p in {0, 1} is deterministic, so batches can be compared exactly
    binary = (frames > 127).to(torch.uint8) * 255
    whole = rate_code(binary, 3)
    assert all(torch.equal(rate_code(binary[b : b + 1], 3), whole[:, b : b + 1]) for b in range(3))


def test_functions_do_not_modify_inputs():
    g = torch.Generator().manual_seed(2)
    frames = torch.randint(0, 256, (2, 4, 8, 8), dtype=torch.uint8, generator=g)
    keep = frames.clone()
    rate_code(frames, 3, 0.5)
    stack_events(frames, 0.1, log_eps=0.01)
    frame_events(frames[:, :2], frames[:, 2:], 0.1)
    state = EventState(prev=intensity(frames))
    prev = state.prev.clone()
    step_events(state, frames, 0.1, reset=torch.tensor([True, False]))
    assert torch.equal(frames, keep) and torch.equal(state.prev, prev)
    w = torch.randn(3, 4, 3, 3)
    w_keep = w.clone()
    conv_currents(frames.float(), w)
    assert torch.equal(w, w_keep)


def test_module_matches_function_and_shapes():
    enc = SpikingConvEncoder(4, 16, kernel_size=8, stride=4, bias=True, flatten=False)
    assert enc.output_shape(84, 84) == (16, 20, 20)
    spikes = rate_code(torch.full((2, 4, 84, 84), 200, dtype=torch.uint8), 3, 0.5)
    out = enc(spikes)
    assert out.shape == (3, 2, 16, 20, 20)
    ref = F.conv2d(spikes.reshape(6, 4, 84, 84), enc.weight, enc.bias, stride=4)
    ref = ref.view(3, 2, 16, 20, 20)
    torch.testing.assert_close(out, ref)
    enc.flatten = True
    assert enc(spikes).shape == (3, 2, 16 * 20 * 20)
    # the MinAtar shape: [K, B, C, 10, 10] -> [K, B, F*8*8]
    small = SpikingConvEncoder(10, 8, kernel_size=3)
    assert small(torch.zeros(5, 7, 10, 10, 10)).shape == (5, 7, 8 * 8 * 8)


def test_fixed_weights_are_a_reproducible_buffer_not_a_parameter():
    a = SpikingConvEncoder(4, 8, 3, learnable=False, generator=torch.Generator().manual_seed(5))
    b = SpikingConvEncoder(4, 8, 3, learnable=False, generator=torch.Generator().manual_seed(5))
    assert list(a.parameters()) == [] and "weight" in a.state_dict()
    assert torch.equal(a.weight, b.weight)
    assert a.weight.std().item() == pytest.approx(1.0 / math.sqrt(4 * 9), rel=0.25)
    learn = SpikingConvEncoder(4, 8, 3, learnable=True)
    assert [n for n, _ in learn.named_parameters()] == ["weight"]


def test_gradients_flow_through_conv_and_surrogate_spikes():
    torch.manual_seed(0)
    enc = SpikingConvEncoder(4, 6, kernel_size=3, stride=1, bias=True, gain=4.0)
    spikes = rate_code(
        torch.full((2, 4, 10, 10), 255, dtype=torch.uint8),
        ticks=10,
        p_max=0.5,
        generator=torch.Generator().manual_seed(1),
    )
    currents = enc(spikes)  # [K, B, N]
    params = LIFParams()
    state = lif_init(2, currents.shape[-1])
    total = torch.zeros(())
    for k in range(currents.shape[0]):
        z, state = lif_tick(params, state, currents[k], dt=1e-3)
        total = total + z.sum()
    assert total.item() > 0  # some neurons fired
    total.backward()
    assert enc.weight.grad is not None and enc.bias.grad is not None
    assert torch.isfinite(enc.weight.grad).all() and enc.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("h", "k", "s", "p"), [(10, 3, 1, 0), (10, 3, 2, 1), (84, 8, 4, 0), (11, 4, 3, 0), (9, 5, 2, 2)]
)
def test_conv_fanout_equals_autograd_count(h, k, s, p):
    x = torch.zeros(1, 1, h, h + 1, requires_grad=True)
    F.conv2d(x, torch.ones(1, 1, k, k), stride=s, padding=p).sum().backward()
    torch.testing.assert_close(conv_fanout(h, h + 1, k, s, p), x.grad[0, 0])


def test_synaptic_ops_counts_each_spike_fan_out():
    g = torch.Generator().manual_seed(3)
    spikes = (torch.rand(4, 3, 2, 12, 12, generator=g) < 0.2).float()  # [K, B, C, H, W]
    enc = SpikingConvEncoder(2, 5, kernel_size=3, stride=2, padding=1)
    ops = enc.synaptic_ops(spikes)
    assert ops.shape == (3,)
    # independent count: every output unit reads the spikes in its window, for each feature map
    window = F.conv2d(spikes.reshape(12, 2, 12, 12), torch.ones(1, 2, 3, 3), stride=2, padding=1)
    expect = window.view(4, 3, -1).sum(dim=(0, 2)) * 5
    torch.testing.assert_close(ops, expect)
    assert enc.synaptic_ops(torch.zeros_like(spikes)).sum() == 0


def test_bad_arguments():
    frames = torch.zeros(2, 4, 8, 8)
    with pytest.raises(ValueError, match="ticks"):
        rate_code(frames, 0)
    with pytest.raises(ValueError, match="p_max"):
        rate_code(frames, 2, p_max=1.5)
    with pytest.raises(ValueError, match="threshold"):
        frame_events(frames, frames, threshold=0.0)
    with pytest.raises(ValueError, match="shape"):
        frame_events(frames, frames[:, :2])
    with pytest.raises(ValueError, match="log_eps"):
        frame_events(frames, frames, log_eps=0.0)
    with pytest.raises(ValueError, match="S >= 2"):
        stack_events(frames[:, :1])
    with pytest.raises(ValueError, match="reset"):
        step_events(event_init(frames), frames, reset=torch.tensor([True]))
    with pytest.raises(ValueError, match="mode"):
        over_ticks(frames, 2, "bogus")
    enc = SpikingConvEncoder(3, 4, 3)
    with pytest.raises(ValueError, match="spikes"):
        enc(torch.zeros(2, 2, 4, 8, 8))
    with pytest.raises(ValueError, match="does not fit"):
        enc.output_shape(2, 2)
    with pytest.raises(ValueError, match="in_channels"):
        SpikingConvEncoder(0, 4, 3)
    with pytest.raises(ValueError, match="gain"):
        SpikingConvEncoder(1, 4, 3, gain=0.0)


@pytest.mark.gpu
def test_runs_on_cuda():
    dev = torch.device("cuda")
    frames = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8, device=dev)
    enc = SpikingConvEncoder(6, 8, 8, stride=4).to(dev)
    spikes = over_ticks(stack_events(frames), 4)
    out = enc(spikes)
    assert out.device.type == "cuda" and out.shape == (4, 2, 8 * 20 * 20)
    g = torch.Generator(device=dev).manual_seed(0)
    assert rate_code(frames, 3, 0.5, g).device.type == "cuda"
    assert enc.synaptic_ops(spikes).device.type == "cuda"
