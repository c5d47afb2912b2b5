"""Pricing: published figures from the papers' own counts, the model's properties, fit checks,
and weight quantisation onto a chip's grid."""

from __future__ import annotations

import math

import pytest
import torch

from snnrl.energy.chips import load_chips
from snnrl.energy.model import Assumptions, ann_twin_ops, cores_used, estimate, fit_check
from snnrl.energy.report import estimate_all, summary_metrics
from snnrl.networks import LayerInfo, RSTDPNetConfig, RSTDPNetwork

CHIPS = load_chips()
HOST = CHIPS["horowitz45_fp32"]
LOIHI = CHIPS["loihi"]
TRUENORTH = CHIPS["truenorth"]


def chip_layer(neurons: int = 20, fan_in: int = 61, plastic: bool = False,
               graded: bool = False) -> LayerInfo:
    return LayerInfo(placement="chip", neurons=neurons, fan_in=fan_in, plastic=plastic,
                     graded=graded)


# --------------------------------------------------------------------------------------------
# published figures


def test_truenorth_all_in_from_merolla_2014() -> None:
    # 72 mW at 20 Hz mean rate, 128 active synapses per neuron, 2^20 neurons
    per_event = 72e-3 / (2**20 * 20 * 128)
    assert per_event == pytest.approx(26.8e-12, rel=1e-3)
    # the paper rounds to 26 pJ: 3.1 % below the arithmetic (a 3 % bound is just too tight)
    assert TRUENORTH.all_in is not None
    assert TRUENORTH.all_in.value == pytest.approx(per_event, rel=0.035)


def test_truenorth_prices_only_all_in_times_synaptic_events() -> None:
    layers = {"core": chip_layer(256, 128), "core_lateral": chip_layer(256, 100)}
    ops = {"core": {"synops_ac": 1000.0, "synops_dense": 9000.0, "neuron_updates_driven": 50.0,
                    "neuron_updates_idle": 200.0, "spikes": 30.0, "state_reads": 1000.0,
                    "ticks": 8.0, "stpn_proxy": 3.0},
           "core_lateral": {"synops_ac": 40.0, "synops_dense": 800.0}}
    e = estimate(TRUENORTH, ops, layers, HOST)
    assert e.fits and e.quantised_bits == 9
    assert e.dynamic_J == pytest.approx(26e-12 * 1040, rel=1e-12)
    assert e.static_J == 0.0 and e.host_J == 0.0
    assert e.total_J == pytest.approx(26e-12 * 1040, rel=1e-12)
    assert set(e.by_term) == {"all_in"}, "never combined with per-term prices"
    assert e.by_layer == pytest.approx({"core": 26e-12 * 1000, "core_lateral": 26e-12 * 40})
    assert e.unpriced == [] and not e.lower_bound and e.rankable


def test_kerasspiking_dense_784_128_on_cpu() -> None:
    # KerasSpiking docs: Dense 784 -> 128 on a CPU (8.6 nJ per op): 8.64e-4 J per inference
    cpu = load_chips(["cpu_degnan"])["cpu_degnan"]
    host = load_chips(["horowitz45_fp32"])["horowitz45_fp32"]
    layers = {"dense": LayerInfo(placement="chip", neurons=128, fan_in=784, plastic=False,
                                 graded=True)}
    ops = {"dense": {"synops_mac": 784 * 128, "neuron_updates_driven": 128}}
    assert ops["dense"]["synops_mac"] == 100352
    e = estimate(cpu, ops, layers, host)
    assert e.fits and e.quantised_bits is None
    assert e.total_J == pytest.approx(8.641e-4, rel=1e-3)
    assert e.total_J == pytest.approx(8.6e-9 * (100352 + 128), rel=1e-12)
    assert e.by_term == pytest.approx({"mac": 8.6e-9 * 100352,
                                       "neuron_update_active": 8.6e-9 * 128})
    assert e.kind == "commodity" and not e.rankable, "commodity hardware is never ranked"
    assert not e.lower_bound


def test_ann_twin_of_the_kerasspiking_layer() -> None:
    layers = {"dense": chip_layer(128, 784, graded=False)}
    twin = ann_twin_ops({"dense": {"synops_ac": 5.0}}, layers)
    assert twin["dense"]["synops_mac"] == 100352 and twin["dense"]["neuron_updates_driven"] == 128


# --------------------------------------------------------------------------------------------
# properties


def test_zero_input_still_costs_idle_updates_and_static_power() -> None:
    k, post, tick = 8, 20, 1e-3
    layers = {"actor": chip_layer(post, 61)}
    ops = {"actor": {"neuron_updates_idle": float(k * post), "ticks": float(k)}}
    e = estimate(LOIHI, ops, layers, HOST, Assumptions(tick_duration_s=tick))
    assert e.fits and not e.lower_bound
    assert e.dynamic_J == pytest.approx(52e-12 * k * post, rel=1e-12)
    assert e.by_term == pytest.approx({"neuron_update_idle": 52e-12 * k * post})
    assert cores_used(LOIHI, layers) == 1
    assert e.static_J == pytest.approx(0.104 * (1 / 128) * k * tick, rel=1e-12)
    assert e.total_J > 0
    whole = estimate(LOIHI, ops, layers, HOST, Assumptions(static_scope="chip"))
    assert whole.static_J == pytest.approx(0.104 * k * 1e-3, rel=1e-12)


def test_zero_input_network_still_costs_energy_on_loihi() -> None:
    """The network's own counts with all-zero weights: idle updates and static power remain."""
    k = 6
    cfg = RSTDPNetConfig(obs_low=(-1.0, -1.0), obs_high=(1.0, 1.0), n_actions=2, n_per_dim=4,
                         group_size=3, ticks_per_step=k, plasticity=False)
    net = RSTDPNetwork(cfg)
    st = net.init_state(2, torch.Generator().manual_seed(0))
    st = st._replace(w=torch.zeros_like(st.w))
    _, _, stats = net.act(st, torch.zeros(2, 2), torch.Generator().manual_seed(1))
    ops = {layer: {key: float(torch.as_tensor(v).double().mean()) for key, v in c.items()}
           for layer, c in
           stats.counts.items()}
    e = estimate(LOIHI, ops, net.layers, HOST)
    assert e.fits and not e.lower_bound, e.unpriced
    assert e.dynamic_J == pytest.approx(52e-12 * k * net.n_post, rel=1e-9)
    assert e.static_J == pytest.approx(0.104 / 128 * k * 1e-3, rel=1e-9)
    assert e.host_J > 0, "the encoder and critic still run on the host"


def _tick_ops(k: int) -> dict[str, dict[str, float]]:
    n_syn, post, pre = 1220, 20, 61
    return {"actor": {"synops_dense": float(k * n_syn), "neuron_updates_idle": float(k * post),
                      "plasticity_tick": float(k * n_syn), "state_writes": float(k * n_syn),
                      "ticks": float(k), "trace_updates": float(k * (pre + post))}}


def test_doubling_ticks_doubles_tick_driven_energy_and_static() -> None:
    layers = {"actor": chip_layer(20, 61, plastic=True)}
    for chip in ("loihi", "horowitz45_fp32", "cpu_degnan"):
        e1 = estimate(CHIPS[chip], _tick_ops(8), layers, HOST)
        e2 = estimate(CHIPS[chip], _tick_ops(16), layers, HOST)
        assert e1.dynamic_J > 0
        assert e2.dynamic_J == pytest.approx(2 * e1.dynamic_J, rel=1e-12), chip
        assert e2.static_J == pytest.approx(2 * e1.static_J, rel=1e-12), chip
        assert e2.by_term == pytest.approx({t: 2 * j for t, j in e1.by_term.items()}), chip
    assert estimate(LOIHI, _tick_ops(8), layers, HOST).static_J > 0


def test_unpriced_term_makes_a_lower_bound() -> None:
    layers = {"actor": chip_layer(20, 61, plastic=True)}
    ops = {"actor": {"synops_ac": 100.0, "neuron_updates_driven": 50.0, "ticks": 8.0,
                     "plasticity_tick": 9760.0, "trace_updates": 648.0}}
    e = estimate(LOIHI, ops, layers, HOST)
    assert e.fits and e.lower_bound and e.unpriced == ["trace_update"]
    assert not e.rankable
    assert "trace_update" not in e.by_term, "an unpriced term is not silently priced"
    d = e.to_dict()
    assert d["rankable"] is False and d["lower_bound"] is True
    assert d["total_J"] == pytest.approx(e.total_J)
    ops["actor"].pop("trace_updates")
    e2 = estimate(LOIHI, ops, layers, HOST)
    assert not e2.lower_bound and e2.unpriced == [] and e2.rankable
    assert e2.dynamic_J == pytest.approx(e.dynamic_J), "dropping an unpriced count changes nothing"
    # a zero count of an unpriced term is not a reason to flag
    ops["actor"]["trace_updates"] = 0.0
    assert not estimate(LOIHI, ops, layers, HOST).lower_bound


def test_missing_static_power_is_unpriced() -> None:
    layers = {"actor": chip_layer()}
    e = estimate(CHIPS["horowitz45_fp32"], {"actor": {"synops_ac": 10.0, "ticks": 8.0}},
                 layers, HOST)
    assert "static" in e.unpriced and e.lower_bound


def test_host_layers_are_priced_on_the_host_chip() -> None:
    layers = {"actor": chip_layer(), "encoder": LayerInfo("host", 0, 4, False, True)}
    ops = {"actor": {"synops_ac": 10.0}, "encoder": {"synops_mac": 60.0}}
    e = estimate(LOIHI, ops, layers, HOST)
    assert e.host_J == pytest.approx(60 * 4.6e-12)
    assert e.dynamic_J == pytest.approx(10 * 23.6e-12)
    assert e.by_layer == pytest.approx({"actor": 10 * 23.6e-12, "encoder": 60 * 4.6e-12})
    assert "mac" not in e.by_term, "host energy is not filed under the chip's terms"


# --------------------------------------------------------------------------------------------
# fit checks


def test_plastic_layer_does_not_fit_truenorth() -> None:
    layers = {"actor": chip_layer(plastic=True)}
    e = estimate(TRUENORTH, {"actor": {"synops_ac": 100.0}}, layers, HOST)
    assert not e.fits and "on-chip learning" in e.reason and "actor" in e.reason
    assert math.isnan(e.total_J) and not e.rankable
    assert e.to_dict()["total_J"] is None
    assert summary_metrics({"truenorth": e}, 100.0) == {"energy/truenorth/J_per_step": None,
                                                        "energy/truenorth/J_per_episode": None}


def test_real_network_fits() -> None:
    cfg = dict(obs_low=(-2.4, -3.0, -0.21, -3.5), obs_high=(2.4, 3.0, 0.21, 3.5), n_actions=2)
    plastic = RSTDPNetwork(RSTDPNetConfig(**cfg)).layers  # type: ignore[arg-type]
    frozen = RSTDPNetwork(RSTDPNetConfig(**cfg, plasticity=False)).layers  # type: ignore[arg-type]
    assert not fit_check(TRUENORTH, plastic)[0]
    assert fit_check(TRUENORTH, frozen) == (True, "", 9)
    assert fit_check(LOIHI, plastic) == (True, "", 8)
    assert fit_check(CHIPS["horowitz45_fp32"], plastic) == (True, "", None)
    assert fit_check(CHIPS["spinnaker"], plastic) == (True, "", 16)


def test_graded_chip_layer_does_not_fit_loihi() -> None:
    ok, reason, bits = fit_check(LOIHI, {"in": chip_layer(graded=True)})
    assert not ok and "graded" in reason and bits is None
    # a graded host layer is fine
    assert fit_check(LOIHI, {"in": LayerInfo("host", 0, 4, False, True)})[0]


def test_capacity_and_fan_in_limits() -> None:
    cap = 1024 * 128
    assert fit_check(LOIHI, {"a": chip_layer(neurons=cap)})[0]
    ok, reason, _ = fit_check(LOIHI, {"a": chip_layer(neurons=cap // 2),
                                      "b": chip_layer(neurons=cap // 2 + 1)})
    assert not ok and str(cap + 1) in reason
    # lateral connections feed the same neurons: not counted twice
    assert fit_check(LOIHI, {"a": chip_layer(neurons=cap),
                             "a_lateral": chip_layer(neurons=cap)})[0]
    assert fit_check(LOIHI, {"a": chip_layer(fan_in=4096)})[0]
    ok, reason, _ = fit_check(LOIHI, {"a": chip_layer(fan_in=4097)})
    assert not ok and "fan-in" in reason
    assert not fit_check(TRUENORTH, {"a": chip_layer(fan_in=257)})[0]
    # the lateral inputs reach the same neurons: 250 + 10 > 256 does not fit TrueNorth
    assert fit_check(TRUENORTH, {"a": chip_layer(fan_in=250)})[0]
    ok, reason, _ = fit_check(TRUENORTH, {"a": chip_layer(fan_in=250),
                                          "a_lateral": chip_layer(fan_in=10)})
    assert not ok and "260" in reason
    assert cores_used(LOIHI, {"a": chip_layer(neurons=1025)}) == 2


def test_estimate_all_and_summary_metrics() -> None:
    layers = {"actor": chip_layer(plastic=True), "encoder": LayerInfo("host", 0, 4, False, True)}
    ops = {"actor": {"synops_ac": 100.0, "neuron_updates_driven": 50.0, "ticks": 8.0,
                     "plasticity_tick": 9760.0},
           "encoder": {"synops_mac": 60.0}}
    est = estimate_all(ops, layers)
    assert set(CHIPS) <= set(est)
    assert {"ann_twin@horowitz45_fp32", "ann_twin@horowitz45_int8"} <= set(est)
    assert not est["truenorth"].fits
    m = summary_metrics(est, 20.0)
    assert m["energy/truenorth/J_per_step"] is None
    assert m["energy/loihi/J_per_step"] == pytest.approx(est["loihi"].total_J)
    assert m["energy/loihi/J_per_episode"] == pytest.approx(20 * est["loihi"].total_J)
    assert not any(k.startswith("energy/ann_twin") for k in m)


# --------------------------------------------------------------------------------------------
# quantisation onto the chip's grid


def _qnet(bits: int | None = 8) -> RSTDPNetwork:
    return RSTDPNetwork(RSTDPNetConfig(obs_low=(-1.0,), obs_high=(1.0,), n_actions=2, n_per_dim=3,
                                       group_size=2, w_max=1.0, weight_bits=bits))


def test_quantise_nearest_is_on_the_grid() -> None:
    net = _qnet(8)
    step = 1.0 / 127
    w = (torch.rand(4, 50, 30, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    q = net.quantise(w, None)
    levels = q / step
    torch.testing.assert_close(levels, levels.round(), atol=1e-4, rtol=0)
    assert float(levels.abs().max()) <= 127 + 1e-4
    assert float((q - w).abs().max()) <= step / 2 + 1e-6, "nearest rounding"
    torch.testing.assert_close(q, torch.round(w / step) * step)
    assert len(torch.unique(levels.round())) > 200, "8 bits: 255 levels over [-w_max, w_max]"
    w_none = torch.randn(3, 3)
    assert _qnet(None).quantise(w_none, None) is w_none, "float32: unchanged"


def test_quantise_stochastic_rounding_is_unbiased() -> None:
    net = _qnet(8)
    step = 1.0 / 127
    g = torch.Generator().manual_seed(0)
    n = 200_000
    for frac in (0.3, -0.3, 0.05):
        q = net.quantise(torch.full((n,), frac * step), g)
        assert set(torch.unique(torch.round(q / step)).tolist()) <= {math.floor(frac),
                                                                    math.floor(frac) + 1}
        assert float(q.mean()) / step == pytest.approx(frac, abs=0.01)
    on_grid = torch.arange(-127, 128) * step
    torch.testing.assert_close(net.quantise(on_grid, g), on_grid, atol=1e-6, rtol=0)


def test_learning_keeps_quantised_weights_on_the_grid() -> None:
    net = _qnet(8)
    step = 1.0 / 127
    b = 3
    state = net.init_state(b, torch.Generator().manual_seed(0))
    torch.testing.assert_close(state.w / step, (state.w / step).round(), atol=1e-4, rtol=0)
    g = torch.Generator().manual_seed(1)
    f = torch.zeros(b, dtype=torch.bool)
    obs = torch.tensor([[0.2], [-0.4], [0.9]])
    for _ in range(5):
        _, state, _ = net.act(state, obs, g)
        state, _, _ = net.learn(state, torch.ones(b), f, f, obs, g)
    torch.testing.assert_close(state.w / step, (state.w / step).round(), atol=1e-4, rtol=0)
    assert float(state.w.abs().max()) <= 1.0 + 1e-6


def test_hops_are_not_charged_to_host_layers() -> None:
    layers = {"actor": chip_layer(), "encoder": LayerInfo("host", 0, 4, False, True)}
    ops = {"actor": {"synops_ac": 10.0, "spikes": 4.0},
           "encoder": {"synops_mac": 60.0, "spikes": 12.0}}
    e = estimate(LOIHI, ops, layers, HOST, Assumptions(hops_per_spike=2.0))
    assert e.by_term["hop"] == pytest.approx(3.5e-12 * 4 * 2), "chip spikes are routed"
    assert not e.lower_bound, e.unpriced
