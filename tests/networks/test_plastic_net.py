"""Plastic networks: meta-parameter layout, forward passes by hand, clipping, batching."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from snnrl.networks.plastic_net import MetaLayout, PlasticNetSpec, PlasticNetwork, PlasticState
from snnrl.plasticity import RULE_COEFFS


def tiny_spec(**kw: Any) -> PlasticNetSpec:
    """2 observations, one hidden layer of 2, 2 outputs; no reward inputs unless asked."""
    base: dict[str, Any] = {"n_obs": 2, "n_out": 2, "hidden": (2,), "feed_reward": False}
    return PlasticNetSpec(**(base | kw))


def tiny_net(**kw: Any) -> PlasticNetwork:
    spec = tiny_spec(**kw)
    return PlasticNetwork(spec, -torch.ones(spec.n_obs), torch.ones(spec.n_obs))


def random_theta(net: PlasticNetwork, p: int, seed: int, scale: float = 0.5) -> torch.Tensor:
    """``[P, D]`` with every meta-parameter non-zero (rules switched on)."""
    gen = torch.Generator().manual_seed(seed)
    theta = scale * torch.randn(p, net.layout.size, generator=gen)
    for k, (a, b) in net.layout.offsets.items():
        if k.startswith("eta_e"):
            theta[:, a:b] = 0.5  # inside its clamp to [0, 1]
    return theta


def run(
    net: PlasticNetwork,
    theta: torch.Tensor,
    obs: torch.Tensor,
    rew: torch.Tensor,
    plastic: bool = True,
    state: PlasticState | None = None,
) -> tuple[list[torch.Tensor], PlasticState]:
    """Feed ``obs [T, P, E, n_obs]`` (rewards ``[T, P, E]``); outputs per step and final state."""
    if state is None:
        state = net.init_state(theta, obs.shape[2], torch.Generator().manual_seed(0))
    outs = []
    for t in range(obs.shape[0]):
        so, state = net.step(theta, state, obs[t], plastic)
        outs.append(so.out)
        state = state._replace(prev_reward=rew[t], prev_fail=(rew[t] < -0.5).float())
    return outs, state


def inputs(
    p: int, e: int, steps: int, n_obs: int = 2, seed: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    obs = torch.rand(steps, p, e, n_obs, generator=gen) * 2 - 1
    rew = torch.rand(steps, p, e, generator=gen) * 2 - 1
    return obs, rew


# ------------------------------------------------------------------------------- layout


def test_layout_layer_coefficients() -> None:
    lay = MetaLayout(tiny_spec(rule="abcd", coeffs="layer"))
    # sizes [4 (2 obs split in +/-), 2, 2]; synapse matrices carry a bias column
    assert lay.spec.sizes == [4, 2, 2]
    assert list(lay.shapes) == [
        "w0",
        "eta0",
        "a0",
        "b0",
        "c0",
        "d0",
        "w1",
        "eta1",
        "a1",
        "b1",
        "c1",
        "d1",
    ]
    assert lay.shapes["w0"] == (2, 5) and lay.shapes["w1"] == (2, 3)
    assert all(lay.shapes[f"{c}{i}"] == (1, 1) for c in RULE_COEFFS["abcd"] for i in (0, 1))
    assert lay.size == 10 + 5 + 6 + 5
    assert lay.offsets["w0"] == (0, 10) and lay.offsets["eta0"] == (10, 11)
    assert lay.offsets["d0"] == (14, 15) and lay.offsets["w1"] == (15, 21)
    assert lay.offsets["d1"] == (25, 26)


def test_layout_synapse_coefficients_and_no_meta_init() -> None:
    lay = MetaLayout(tiny_spec(rule="stdp", coeffs="synapse"))
    for c in RULE_COEFFS["stdp"]:
        assert lay.shapes[f"{c}0"] == (2, 5) and lay.shapes[f"{c}1"] == (2, 3)
    assert lay.size == 4 * (10 + 6)
    rules_only = MetaLayout(tiny_spec(rule="stdp", coeffs="synapse", meta_init=False))
    assert "w0" not in rules_only.shapes and "w1" not in rules_only.shapes
    assert rules_only.size == 3 * (10 + 6)


def test_layout_neuromod_modulator_and_value_head() -> None:
    spec = tiny_spec(rule="neuromod", feed_reward=True, value_head=True)
    lay = MetaLayout(spec)
    assert spec.n_in == 2 * 2 + 3 and spec.sizes == [7, 2, 2]
    # modulator reads the last hidden layer (2), the reward channels (3) and a bias
    assert spec.n_mod_in == 6
    assert lay.shapes["m0"] == (2, 6) and lay.shapes["m1"] == (2, 6)
    assert lay.shapes["alpha0"] == (1, 1) and lay.shapes["eta_e1"] == (1, 1)
    assert lay.shapes["value"] == (1, 3)
    assert list(lay.shapes)[-1] == "value"
    assert lay.size == (16 + 2 + 12) + (6 + 2 + 12) + 3
    # offsets tile [0, size) without gaps or overlaps
    spans = sorted(lay.offsets.values())
    assert spans[0][0] == 0 and spans[-1][1] == lay.size
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_views_are_reshaped_slices_without_copy() -> None:
    lay = MetaLayout(tiny_spec(rule="neuromod", feed_reward=True, value_head=True))
    theta = torch.arange(3 * lay.size, dtype=torch.float32).reshape(3, lay.size)
    views = lay.views(theta)
    for k, (a, b) in lay.offsets.items():
        assert views[k].shape == (3, *lay.shapes[k])
        assert torch.equal(views[k][1].flatten(), theta[1, a:b])
    views["m1"][2, 1, 3] = -7.0
    a, _ = lay.offsets["m1"]
    assert theta[2, a + 1 * 6 + 3] == -7.0, "a view writes through to theta"


def test_init_switches_every_rule_off() -> None:
    obs, rew = inputs(1, 2, 5)
    for rule in RULE_COEFFS:
        net = tiny_net(rule=rule, feed_reward=True)
        theta = net.layout.init(torch.Generator().manual_seed(0)).unsqueeze(0)
        _, state = run(net, theta, obs, rew)
        for p in state.p:
            assert torch.count_nonzero(p) == 0, rule


# ------------------------------------------------------------------------------ forward


def _set(net: PlasticNetwork, theta: torch.Tensor, name: str, value: list[list[float]]) -> None:
    net.layout.views(theta)[name][0] = torch.tensor(value)


def test_rate_forward_is_tanh_layers_by_hand() -> None:
    net = tiny_net(neuron="rate", rule="hebb")
    theta = torch.zeros(1, net.layout.size)
    _set(net, theta, "w0", [[0.4, 0.2, -0.6, 0.8, 0.1], [-0.5, 0.3, 0.9, 0.6, -0.2]])
    _set(net, theta, "w1", [[1.0, -0.5, 0.25], [0.3, 0.7, -0.1]])
    state = net.init_state(theta, 1, torch.Generator())
    so, _ = net.step(theta, state, torch.tensor([[[0.5, -0.25]]]))
    # encoded input: [relu(x); relu(-x)] = [0.5, 0, 0, 0.25]
    h0 = math.tanh(0.4 * 0.5 + 0.8 * 0.25 + 0.1)
    h1 = math.tanh(-0.5 * 0.5 + 0.6 * 0.25 - 0.2)
    out = [math.tanh(1.0 * h0 - 0.5 * h1 + 0.25), math.tanh(0.3 * h0 + 0.7 * h1 - 0.1)]
    torch.testing.assert_close(so.hidden, torch.tensor([[[h0, h1]]]))
    torch.testing.assert_close(so.out, torch.tensor([[out]]))


def test_forward_uses_clipped_initial_weights() -> None:
    net = tiny_net(neuron="rate", rule="hebb", w_clip=0.5)
    theta = torch.zeros(1, net.layout.size)
    _set(net, theta, "w0", [[3.0, 0, 0, 0, 0], [0, 0, 0, 0, -9.0]])
    state = net.init_state(theta, 1, torch.Generator())
    so, _ = net.step(theta, state, torch.tensor([[[1.0, 0.0]]]))
    torch.testing.assert_close(so.hidden, torch.tensor([[[math.tanh(0.5), math.tanh(-0.5)]]]))


def test_observation_is_scaled_by_the_env_ranges_and_clamped() -> None:
    spec = tiny_spec()
    net = PlasticNetwork(spec, torch.tensor([0.0, -4.0]), torch.tensor([2.0, 4.0]))
    theta = torch.zeros(1, net.layout.size)
    state = net.init_state(theta, 1, torch.Generator())
    x = net.encode(torch.tensor([[[1.5, -10.0]]]), state)
    torch.testing.assert_close(x, torch.tensor([[[0.5, 0.0, 0.0, 1.0]]]))


# ---------------------------------------------------------------------------- plasticity


@pytest.mark.parametrize("neuron", ["rate", "lif"])
@pytest.mark.parametrize("rule", sorted(RULE_COEFFS))
def test_plasticity_off_leaves_p_at_zero(rule: str, neuron: str) -> None:
    net = tiny_net(rule=rule, neuron=neuron, feed_reward=True, ticks=4, rule_scale=0.5)
    theta = random_theta(net, 2, seed=3, scale=1.5)
    obs, rew = inputs(2, 3, 6)
    _, off = run(net, theta, obs, rew, plastic=False)
    assert all(torch.count_nonzero(p) == 0 for p in off.p)
    _, on = run(net, theta, obs, rew, plastic=True)
    assert any(torch.count_nonzero(p) > 0 for p in on.p), "the rule does act when on"


@pytest.mark.parametrize("neuron", ["rate", "lif"])
@pytest.mark.parametrize("rule", sorted(RULE_COEFFS))
def test_lifetime_weights_stay_within_the_clip(rule: str, neuron: str) -> None:
    net = tiny_net(rule=rule, neuron=neuron, feed_reward=True, ticks=4, rule_scale=1e4, w_clip=0.7)
    theta = random_theta(net, 2, seed=4, scale=2.0)
    obs, rew = inputs(2, 3, 8)
    _, state = run(net, theta, obs, rew)
    for w0, p, w in zip(state.w0, state.p, net.weights(state), strict=True):
        assert torch.isfinite(p).all()
        assert (w.abs() <= 0.7).all()
        assert ((w0 + p).abs() <= 0.7 + 1e-5).all(), "the stored displacement is clipped too"
    assert any((w.abs() > 0.69).any() for w in net.weights(state)), "the rule pushed to the clip"


def test_rule_scale_multiplies_the_change() -> None:
    obs, rew = inputs(1, 2, 1)
    ps = []
    for scale in (1e-3, 3e-3):
        net = tiny_net(rule="hebb", rule_scale=scale)
        theta = random_theta(net, 1, seed=5, scale=0.25)  # |w0| < 1: no clipping
        _, state = run(net, theta, obs, rew)
        ps.append(state.p)
    for small, large in zip(*ps, strict=True):
        assert torch.count_nonzero(small) > 0
        torch.testing.assert_close(large, 3 * small)


def test_meta_init_false_draws_initial_weights_per_lifetime_and_candidate() -> None:
    net = tiny_net(meta_init=False, init_gain=1.0)
    theta = random_theta(net, 2, seed=0)
    s1 = net.init_state(theta, 3, torch.Generator().manual_seed(7))
    s2 = net.init_state(theta, 3, torch.Generator().manual_seed(7))
    s3 = net.init_state(theta, 3, torch.Generator().manual_seed(8))
    for lyr, w0 in enumerate(s1.w0):
        sizes = net.spec.sizes
        assert w0.shape == (2, 3, sizes[lyr + 1], sizes[lyr] + 1)
        flat = w0.reshape(6, -1)
        for i in range(6):
            for j in range(i + 1, 6):
                assert not torch.equal(flat[i], flat[j]), "every lifetime draws its own w0"
        assert torch.equal(w0, s2.w0[lyr]), "same generator, same w0"
        assert not torch.equal(w0, s3.w0[lyr])


def test_meta_init_true_shares_theta_weights_across_lifetimes() -> None:
    net = tiny_net()
    theta = random_theta(net, 2, seed=0)
    s = net.init_state(theta, 3, torch.Generator().manual_seed(7))
    w0 = net.layout.views(theta)["w0"]
    for e in range(3):
        assert torch.equal(s.w0[0][:, e], w0)


# ------------------------------------------------------------------------------------ LIF


@pytest.mark.parametrize("ticks", [8, 10, 13])
def test_lif_input_layer_is_integrate_and_fire(ticks: int) -> None:
    spec = tiny_spec(n_obs=5, neuron="lif", ticks=ticks, input_gain=1.0)
    net = PlasticNetwork(spec, -torch.ones(5), torch.ones(5))
    theta = random_theta(net, 1, seed=0)
    state = net.init_state(theta, 1, torch.Generator())
    obs = torch.tensor([[[1.0, 0.0, 0.5, 0.3, 0.7]]])
    x = net.encode(obs, state)
    rates, windows, _ = net._lif_forward(x, net.weights(state), state.v)
    counts = windows[0].sum(dim=-2)[0, 0]  # spikes of each input neuron in the step
    torch.testing.assert_close(rates[0][0, 0] * ticks, counts)
    assert torch.all((windows[0] == 0) | (windows[0] == 1))
    assert counts[0] == ticks, "x = 1 fires on every tick"
    assert counts[1] == 0 and torch.all(counts[5:] == 0), "x = 0 never fires"
    # rate = x: soft reset keeps the remainder (a reset to zero would fire at 1/ceil(1/x))
    for i, xi in ((2, 0.5), (3, 0.3), (4, 0.7)):
        assert abs(float(counts[i]) - xi * ticks) <= 1, (xi, counts[i])


def test_lif_input_gain_scales_the_rate() -> None:
    spec = tiny_spec(n_obs=1, neuron="lif", ticks=12, input_gain=0.5)
    net = PlasticNetwork(spec, -torch.ones(1), torch.ones(1))
    theta = random_theta(net, 1, seed=0)
    state = net.init_state(theta, 1, torch.Generator())
    rates, _, _ = net._lif_forward(
        net.encode(torch.ones(1, 1, 1), state), net.weights(state), state.v
    )
    assert float(rates[0][0, 0, 0]) * 12 == 6


# ------------------------------------------------------------------------------- batching


@pytest.mark.parametrize(
    ("rule", "neuron"), [("abcd", "rate"), ("neuromod", "lif"), ("stdp", "lif"), ("oja", "rate")]
)
def test_candidates_do_not_mix(rule: str, neuron: str) -> None:
    net = tiny_net(
        rule=rule, neuron=neuron, feed_reward=True, ticks=4, rule_scale=0.3, coeffs="synapse"
    )
    theta = random_theta(net, 3, seed=9, scale=1.5)
    obs, rew = inputs(3, 2, 6)
    outs, state = run(net, theta, obs, rew)
    for p in range(3):
        solo_outs, solo = run(net, theta[p : p + 1], obs[:, p : p + 1], rew[:, p : p + 1])
        for a, b in zip(outs, solo_outs, strict=True):
            torch.testing.assert_close(a[p : p + 1], b, rtol=1e-5, atol=1e-6)
        for a, b in zip(state.p, solo.p, strict=True):
            torch.testing.assert_close(a[p : p + 1], b, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(state.p[0][0], state.p[0][1]), "candidates do differ"


# ---------------------------------------------------------------------------- op counts


def _counts(net: PlasticNetwork, theta: torch.Tensor, obs: torch.Tensor, plastic: bool = True
            ) -> dict[str, dict[str, Any]]:
    """One counted step from a fresh state; counts as plain floats (tensors: their values)."""
    state = net.init_state(theta, obs.shape[1], torch.Generator())
    so, _ = net.step(theta, state, obs, plastic, count=True)
    assert so.counts is not None
    return {layer: {k: v.tolist() if isinstance(v, torch.Tensor) else v for k, v in c.items()}
            for layer, c in so.counts.items()}


def _approx(counts: dict[str, Any], expected: dict[str, Any]) -> None:
    """``counts`` has exactly the keys of ``expected`` and their values (one lifetime)."""
    flat = {k: v[0][0] if isinstance(v, list) else v for k, v in counts.items()}
    assert flat == pytest.approx(expected), (flat, expected)


def test_rate_counts_by_hand() -> None:
    net = tiny_net(neuron="rate", rule="hebb")
    theta = torch.zeros(1, net.layout.size)
    # zeros in W: effective operations count the non-zero weights of each non-zero input
    _set(net, theta, "w0", [[0.4, 0.0, -0.6, 0.8, 0.1], [0.0, 0.3, 0.9, 0.0, -0.2]])
    _set(net, theta, "w1", [[1.0, 0.0, 0.25], [0.3, 0.7, -0.1]])
    c = _counts(net, theta, torch.tensor([[[0.5, -0.25]]]))  # inputs [0.5, 0, 0, 0.25]
    h0, h1 = math.tanh(0.4 * 0.5 + 0.8 * 0.25 + 0.1), math.tanh(-0.2)
    assert set(c) == {"encoder", "layer0", "layer1"}
    _approx(c["encoder"], {"synops_mac": 4, "synops_dense": 4})
    # inputs 0 and 3 are non-zero; one non-zero weight leaves each: 2 MACs of 8
    _approx(c["layer0"], {"synops_ac": 0, "synops_mac": 2, "synops_dense": 8,
                          "neuron_updates_driven": 2, "ticks": 1,
                          "stpn_proxy": 0.25 * 0.4 + 0.0625 * 0.8,
                          "plasticity_step": 2 * 5, "state_reads": 2 + 10, "state_writes": 10})
    _approx(c["layer1"], {"synops_ac": 0, "synops_mac": 2 + 1, "synops_dense": 4,
                          "neuron_updates_driven": 2, "ticks": 1,
                          "stpn_proxy": h0 * h0 * 1.3 + h1 * h1 * 0.7,
                          "plasticity_step": 2 * 3, "state_reads": 3 + 6, "state_writes": 6})
    off = _counts(net, theta, torch.tensor([[[0.5, -0.25]]]), plastic=False)
    assert "state_writes" not in off["layer0"] and "plasticity_step" not in off["layer1"]
    assert off["layer0"]["state_reads"] == [[2.0]]
    assert set(net.layers(True)) == set(c) == set(net.layers(False))
    info = net.layers(True)["layer0"]
    assert (info.placement, info.neurons, info.fan_in, info.plastic, info.graded) == (
        "chip", 2, 4, True, True)
    assert not net.layers(False)["layer1"].plastic


def test_rate_counts_are_per_lifetime() -> None:
    net = tiny_net(neuron="rate", rule="stdp")
    theta = torch.zeros(2, net.layout.size)
    for p in range(2):
        net.layout.views(theta)["w0"][p] = torch.tensor(
            [[0.4, 0.0, -0.6, 0.8, 0.1], [0.0, 0.3, 0.9, 0.0, -0.2]])
        net.layout.views(theta)["w1"][p] = torch.tensor([[1.0, 0.0, 0.25], [0.3, 0.7, -0.1]])
    # [P=2, E=2]: lifetime (1, 1) sees binary inputs [1, 0, 0, 0]: ACs, not MACs, for it alone
    obs = torch.tensor([[[0.5, -0.25], [0.5, -0.25]], [[0.5, -0.25], [1.0, 0.0]]])
    c = _counts(net, theta, obs)
    assert c["layer0"]["synops_mac"] == [[2, 2], [2, 0]]
    assert c["layer0"]["synops_ac"] == [[0, 0], [0, 1]]
    assert c["layer0"]["state_reads"][1][1] == 1 + 10 + 10  # weights, w by the rule, accumulator
    # rate STDP is the window rule with K = 1; the bias input is a pre event
    assert c["layer0"]["trace_updates"] == 4 + 1 + 2
    assert c["layer0"]["plasticity_tick"] == c["layer0"]["plasticity_step"] == 10
    assert c["layer0"]["plasticity_pre"] == [[(2 + 1) * 2] * 2, [(2 + 1) * 2, (1 + 1) * 2]]
    assert c["layer0"]["plasticity_post"] == [[2 * 5] * 2] * 2


def _lif_weights(net: PlasticNetwork, theta: torch.Tensor) -> None:
    assert net.spec.w_clip >= 1.2, "the weights below are not clipped"
    _set(net, theta, "w0", [[0.6, 0.0, 0.0, 0.5, 0.0], [0.0, 0.3, 0.9, 0.0, 0.0]])
    _set(net, theta, "w1", [[1.2, 0.7, 0.0], [0.0, 0.5, 0.1]])


LIF_OBS = torch.tensor([[[1.0, -0.5]]])
"""Inputs [1, 0, 0, 0.5] over K = 4 ticks: input 0 fires at every tick, input 3 at ticks 2 and 4.

Hidden neuron 0 (current 0.6 s_0 + 0.5 s_3: 0.6, 1.1, 0.6, 1.1) fires at ticks 2, 3, 4; hidden
neuron 1 gets no current (idle). Output 0 (current 1.2 per hidden spike) fires at ticks 2, 3, 4;
output 1 (current 0.5 · 0 + bias 0.1, driven every tick) never reaches the threshold.
"""


def _lif_forward_counts() -> tuple[dict[str, float], dict[str, float]]:
    layer0 = {"synops_ac": 4 + 2, "synops_dense": 4 * 4 * 2, "spikes": 3,
              "neuron_updates_driven": 4, "neuron_updates_idle": 4, "ticks": 4,
              "stpn_proxy": 4 * 0.6 + 2 * 0.5, "state_reads": 6}
    layer1 = {"synops_ac": 3, "synops_dense": 4 * 2 * 2, "spikes": 3,
              "neuron_updates_driven": 3 + 4, "neuron_updates_idle": 1, "ticks": 4,
              "stpn_proxy": 3 * 1.2, "state_reads": 3}
    return layer0, layer1


def test_lif_stdp_counts_by_hand() -> None:
    net = tiny_net(neuron="lif", rule="stdp", ticks=4, w_clip=2.0)
    theta = torch.zeros(1, net.layout.size)
    _lif_weights(net, theta)
    c = _counts(net, theta, LIF_OBS)
    _approx(c["encoder"], {"synops_mac": 4, "synops_dense": 4, "spikes": 6,
                           "neuron_updates_driven": 4 * 2, "neuron_updates_idle": 4 * 2})
    layer0, layer1 = _lif_forward_counts()
    # STDP: traces of 4 inputs + bias + 2 neurons every tick; the pair term every tick on every
    # synapse (10 of them) into an accumulator read and written every tick; w once per step
    _approx(c["layer0"], layer0 | {
        "trace_updates": 4 * (4 + 1 + 2), "plasticity_tick": 4 * 10, "plasticity_step": 10,
        "plasticity_pre": (6 + 4) * 2, "plasticity_post": 3 * 5,
        "state_reads": 6 + 10 + 4 * 10, "state_writes": 10 + 4 * 10})
    _approx(c["layer1"], layer1 | {
        "trace_updates": 4 * (2 + 1 + 2), "plasticity_tick": 4 * 6, "plasticity_step": 6,
        "plasticity_pre": (3 + 4) * 2, "plasticity_post": 3 * 3,
        "state_reads": 3 + 6 + 4 * 6, "state_writes": 6 + 4 * 6})
    off = _counts(net, theta, LIF_OBS, plastic=False)
    _approx(off["layer0"], layer0)
    _approx(off["layer1"], layer1)
    info = net.layers(True)
    assert not info["layer0"].graded and not info["layer1"].graded
    assert info["encoder"].placement == "host" and info["encoder"].neurons == 4


def test_lif_neuromod_counts_by_hand() -> None:
    net = tiny_net(neuron="lif", rule="neuromod", ticks=4, w_clip=2.0)
    theta = torch.zeros(1, net.layout.size)
    _lif_weights(net, theta)
    # modulator input [h rates; 1] = [3/4, 0, 1] (no reward inputs in the tiny net)
    _set(net, theta, "m0", [[0.5, 0.2, 0.0], [0.0, 0.0, 0.0]])
    _set(net, theta, "m1", [[0.1, 0.1, 0.1], [0.0, 0.3, 0.2]])
    c = _counts(net, theta, LIF_OBS)
    layer0, layer1 = _lif_forward_counts()
    # E and w of every synapse once per step; spike counters: pre + post spikes of the step
    _approx(c["layer0"], layer0 | {"plasticity_step": 2 * 10, "trace_updates": 6 + 3,
                                   "state_reads": 6 + 2 * 10, "state_writes": 2 * 10})
    _approx(c["layer1"], layer1 | {"plasticity_step": 2 * 6, "trace_updates": 3 + 3,
                                   "state_reads": 3 + 2 * 6, "state_writes": 2 * 6})
    # non-zero inputs 0 and 2: m0 has 1 + 0 non-zero weights there, m1 1 + 2
    _approx(c["modulator"], {"synops_ac": 0, "synops_mac": 4, "synops_dense": (2 + 2) * 3,
                             "neuron_updates_driven": 4, "state_reads": 4})
    assert set(net.layers(True)) == set(c)
    assert "modulator" not in net.layers(False)
    assert "modulator" not in _counts(net, theta, LIF_OBS, plastic=False)


def test_lif_counts_are_per_lifetime() -> None:
    net = tiny_net(neuron="lif", rule="abcd", ticks=4, w_clip=2.0)
    theta = torch.zeros(1, net.layout.size)
    _lif_weights(net, theta)
    obs = torch.cat([LIF_OBS, torch.tensor([[[0.0, -0.5]]])], dim=1)  # [P=1, E=2]
    c = _counts(net, theta, obs)
    assert c["encoder"]["spikes"] == [[6, 2]]
    assert c["layer0"]["synops_ac"] == [[6, 2]]
    assert c["layer0"]["neuron_updates_driven"] == [[4, 2]]


@pytest.mark.parametrize("neuron", ["rate", "lif"])
@pytest.mark.parametrize("rule", sorted(RULE_COEFFS))
def test_counting_changes_nothing(rule: str, neuron: str) -> None:
    net = tiny_net(rule=rule, neuron=neuron, feed_reward=True, ticks=4, rule_scale=0.5)
    theta = random_theta(net, 2, seed=3, scale=1.5)
    obs, rew = inputs(2, 3, 5)
    plain_s = net.init_state(theta, 3, torch.Generator().manual_seed(0))
    counted_s = net.init_state(theta, 3, torch.Generator().manual_seed(0))
    for t in range(obs.shape[0]):
        plain, plain_s = net.step(theta, plain_s, obs[t])
        counted, counted_s = net.step(theta, counted_s, obs[t], count=True)
        assert plain.counts is None and counted.counts is not None
        assert torch.equal(plain.out, counted.out) and torch.equal(plain.hidden, counted.hidden)
        for a, b in zip(plain_s, counted_s, strict=True):
            pairs = zip(a, b, strict=True) if isinstance(a, list) else [(a, b)]
            assert all(torch.equal(x, y) for x, y in pairs)
        fail = (rew[t] < -0.5).float()
        plain_s = plain_s._replace(prev_reward=rew[t], prev_fail=fail)
        counted_s = counted_s._replace(prev_reward=rew[t], prev_fail=fail)
    assert any(torch.count_nonzero(p) > 0 for p in counted_s.p), "the rule did act"
