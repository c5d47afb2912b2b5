"""Exact operation counts: NeuroBench's definitions, OpTotals, and the R-STDP network's counts."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnrl.networks import RSTDPNetConfig, RSTDPNetwork
from snnrl.networks.counts import OpTotals, is_binary, neuron_updates, synaptic_ops
from snnrl.neurons import lif_tick

# --------------------------------------------------------------------------------------------
# synaptic_ops / is_binary / neuron_updates


def _nnz(w_post_pre: torch.Tensor) -> torch.Tensor:
    """Non-zero weights leaving each input (column counts of a post x pre matrix)."""
    return (w_post_pre != 0).sum(0).float()


def test_neurobench_documented_example() -> None:
    # NeuroBench docs: W (post x pre), x = [0, 1.3, -1] -> 4 effective MACs, 9 dense ops
    w = torch.tensor([[1.3, 0.0, -3.2], [0.0, 1.2, -5.1], [-1.1, 2.7, 0.0]])
    x = torch.tensor([0.0, 1.3, -1.0])
    nnz = _nnz(w)
    assert nnz.tolist() == [2.0, 2.0, 2.0]
    eff, dense = synaptic_ops(x.view(1, 1, 3), nnz, n_post=3)
    assert eff.tolist() == [4.0]
    assert dense.tolist() == [9.0]
    assert is_binary(x) is False, "graded input: the 4 effective ops are MACs"
    # the same number from binarised W times binarised x (NeuroBench's own construction)
    assert float(((w != 0).float() @ (x != 0).float()).sum()) == 4.0


def test_binary_spikes_are_acs() -> None:
    w = torch.tensor([[1.0, 0.0, 0.0], [0.5, -2.0, 0.0], [0.7, 0.0, 0.0]])  # nnz = [3, 1, 0]
    nnz = _nnz(w)
    assert nnz.tolist() == [3.0, 1.0, 0.0]
    for x, expected in (([1, 1, 1], 4), ([0, 1, 1], 1), ([1, 0, 0], 3), ([0, 0, 1], 0),
                        ([-1, 1, 0], 4)):
        xt = torch.tensor(x, dtype=torch.float32)
        assert is_binary(xt)
        eff, dense = synaptic_ops(xt.view(1, 1, 3), nnz, n_post=3)
        assert eff.tolist() == [float(expected)], x
        assert dense.tolist() == [9.0]


@pytest.mark.parametrize(("values", "binary"), [
    ([0.0, 1.0, 0.0], True), ([-1.0, 0.0, 1.0], True), ([0.0, 0.0], True),
    ([0.5, 1.0], False), ([2.0, 0.0], False), ([1.0, -1.0000001], False)])
def test_is_binary(values: list[float], binary: bool) -> None:
    assert is_binary(torch.tensor(values, dtype=torch.float64)) is binary


def test_sum_over_ticks_and_per_lifetime_nnz() -> None:
    g = torch.Generator().manual_seed(0)
    t, b, pre, post = 5, 3, 7, 4
    x = (torch.rand(t, b, pre, generator=g) < 0.4).float()
    w = torch.randn(b, post, pre, generator=g) * (torch.rand(b, post, pre, generator=g) < 0.6)
    nnz = (w != 0).sum(1).float()  # [B, pre]
    eff, dense = synaptic_ops(x, nnz, post)
    per_tick = sum(synaptic_ops(x[k:k + 1], nnz, post)[0] for k in range(t))
    torch.testing.assert_close(eff, per_tick)
    # brute force: every (tick, post, pre) product with non-zero input and non-zero weight
    brute = ((x[:, :, None, :] != 0) & (w[None] != 0)).sum((0, 2, 3)).float()
    torch.testing.assert_close(eff, brute)
    assert dense.tolist() == [float(t * pre * post)] * b


@settings(max_examples=40, deadline=None)
@given(t=st.integers(1, 6), b=st.integers(1, 4), pre=st.integers(1, 9), post=st.integers(1, 9),
       p=st.floats(0.0, 1.0), graded=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_dense_bounds_effective_and_scales_with_ticks(t: int, b: int, pre: int, post: int,
                                                      p: float, graded: bool, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(t, b, pre, generator=g) < p).float()
    if graded:
        x = x * torch.randn(t, b, pre, generator=g)
    nnz = torch.randint(0, post + 1, (b, pre), generator=g).float()
    eff, dense = synaptic_ops(x, nnz, post)
    assert eff.shape == dense.shape == (b,)
    assert bool((eff >= 0).all()) and bool((dense >= eff).all())
    eff2, dense2 = synaptic_ops(torch.cat([x, x]), nnz, post)
    torch.testing.assert_close(dense2, 2 * dense)
    torch.testing.assert_close(eff2, 2 * eff)


def test_neuron_updates_driven_and_idle() -> None:
    drive = torch.tensor([[[0.0, 0.3, 0.0, -0.2]], [[0.0, 0.0, 0.0, 0.0]], [[1.0, 1.0, 1.0, 0.0]]])
    driven, idle = neuron_updates(drive)  # T=3, B=1, N=4
    assert driven.tolist() == [5.0] and idle.tolist() == [7.0]
    zero = torch.zeros(6, 2, 5)
    driven, idle = neuron_updates(zero)
    assert driven.tolist() == [0.0, 0.0], "no input: no driven updates"
    assert idle.tolist() == [30.0, 30.0], "no input still costs idle (leak) updates"


# --------------------------------------------------------------------------------------------
# OpTotals


def test_optotals_mean_over_steps_and_lifetimes() -> None:
    tot = OpTotals()
    assert tot.per_step() == {}
    tot.add({"actor": {"x": torch.tensor([1.0, 3.0]), "y": 2}})
    tot.add({"critic": {"z": 10.0}})
    tot.step()
    tot.add({"actor": {"x": torch.tensor([5.0, 7.0]), "y": 4}})
    tot.add({"actor": {"x": 1}})  # a number added to a tensor sum
    tot.add({})
    tot.step()
    out = tot.per_step()
    assert out == {"actor": {"x": pytest.approx((7 + 11) / 2 / 2), "y": pytest.approx(3.0)},
                   "critic": {"z": pytest.approx(5.0)}}
    assert all(isinstance(v, float) for layer in out.values() for v in layer.values())


def test_optotals_number_first_then_tensor() -> None:
    tot = OpTotals()
    tot.add({"a": {"x": 2}})
    tot.add({"a": {"x": torch.tensor([1, 3])}})  # integer tensors too
    tot.step()
    assert tot.per_step() == {"a": {"x": pytest.approx(4.0)}}


# --------------------------------------------------------------------------------------------
# the R-STDP network's own counts, against a reference from the same spikes


def _act(net: RSTDPNetwork, state, obs: torch.Tensor, gen: torch.Generator):
    """``net.act`` with every count as a ``[B]`` tensor (the network returns numbers for counts
    that are the same for every lifetime)."""
    action, new, stats = net.act(state, obs, gen)
    b = obs.shape[0]
    counts = {layer: {k: v if torch.is_tensor(v) else torch.full((b,), float(v))
                      for k, v in c.items()} for layer, c in stats.counts.items()}
    return action, new, stats._replace(counts=counts)


def _cfg(k: int = 6, **kw: object) -> RSTDPNetConfig:
    base = dict(obs_low=(-1.0, -1.0), obs_high=(1.0, 1.0), n_actions=2, n_per_dim=4,
                group_size=3, ticks_per_step=k, w_init=1.0, p_max=0.9, v_th=0.05)
    base.update(kw)
    return RSTDPNetConfig(**base)  # type: ignore[arg-type]


OBS = torch.tensor([[0.1, -0.5], [0.9, 0.3], [-0.2, 0.0]])


def _sparse_state(net: RSTDPNetwork, b: int, frac_zero: float = 0.3):
    st = net.init_state(b, torch.Generator().manual_seed(0))
    mask = torch.rand(st.w.shape, generator=torch.Generator().manual_seed(7)) >= frac_zero
    return st._replace(w=st.w * mask)


def _reference(net: RSTDPNetwork, state, obs: torch.Tensor, seed: int):
    """Input spikes, currents and output spikes tick by tick (as tests/networks/test_rstdp_net)."""
    cfg = net.cfg
    rates = net.encode(obs)
    g = torch.Generator().manual_seed(seed)
    u = torch.rand((cfg.ticks_per_step, *rates.shape), generator=g)
    s_pre = (u < rates * cfg.p_max).float()
    lif, z = state.lif, state.z_prev
    currents, lateral, zs = [], [], []
    for k in range(cfg.ticks_per_step):
        current = torch.einsum("bij,bj->bi", state.w, s_pre[k]) - cfg.w_inh * (z @ net.inhibition)
        currents.append(current)
        lateral.append(z)
        z, lif = lif_tick(net.lif_params, lif, current, cfg.dt)
        zs.append(z)
    return s_pre, torch.stack(currents), torch.stack(lateral), torch.stack(zs)


def test_actor_counts_match_a_reference_from_the_same_spikes() -> None:
    k = 6
    net = RSTDPNetwork(_cfg(k))
    b, pre, post = OBS.shape[0], net.n_pre, net.n_post
    assert (pre, post) == (9, 6)
    state = _sparse_state(net, b)
    assert bool((state.w == 0).any()), "the test must exercise zero weights"
    _, _, stats = _act(net, state, OBS, torch.Generator().manual_seed(1))
    s_pre, currents, lateral, s_post = _reference(net, state, OBS, seed=1)
    assert s_post.sum() > 0, "the test must exercise spikes"
    actor = stats.counts["actor"]

    nnz_col = (state.w != 0).sum(1).float()  # [B, pre]: non-zero weights in each column j
    expected_ac = (s_pre * nnz_col[None]).sum((0, 2))
    assert actor["synops_ac"].tolist() == expected_ac.tolist()
    brute = ((s_pre[:, :, None, :] != 0) & (state.w[None] != 0)).sum((0, 2, 3)).float()
    assert actor["synops_ac"].tolist() == brute.tolist()
    assert actor["synops_dense"].tolist() == [float(k * pre * post)] * b
    assert bool((actor["synops_dense"] >= actor["synops_ac"]).all())
    assert "synops_mac" not in actor, "spike inputs are ACs, not MACs"

    driven = (currents != 0).sum((0, 2)).float()
    assert actor["neuron_updates_driven"].tolist() == driven.tolist()
    assert (actor["neuron_updates_driven"] + actor["neuron_updates_idle"]).tolist() == \
        [float(k * post)] * b
    assert actor["spikes"].tolist() == s_post.sum((0, 2)).tolist()
    assert actor["spikes"].tolist() == stats.out_spikes.tolist()
    assert stats.in_spikes.tolist() == s_pre.sum((0, 2)).tolist()
    assert actor["ticks"].tolist() == [float(k)] * b

    # plasticity: unconditional per-tick updates of every synapse, traces of every neuron
    n_syn = pre * post
    assert actor["plasticity_tick"].tolist() == [float(k * n_syn)] * b
    assert actor["plasticity_pre"].tolist() == (stats.in_spikes * post).tolist()
    assert actor["plasticity_post"].tolist() == (stats.out_spikes * pre).tolist()
    assert actor["trace_updates"].tolist() == [float(k * (pre + post))] * b
    assert actor["state_reads"].tolist() == (expected_ac + k * n_syn).tolist()
    assert actor["state_writes"].tolist() == [float(k * n_syn)] * b

    # STPN's proxy: sum over ticks and synapses of x_j^2 |w_ij|
    proxy = torch.einsum("kbj,bij->b", s_pre ** 2, state.w.abs())
    torch.testing.assert_close(actor["stpn_proxy"], proxy)

    # lateral inhibition: each spike of the previous tick reaches every neuron of other groups
    lat = stats.counts["actor_lateral"]
    fan_out = post - net.cfg.group_size
    assert lat["synops_ac"].tolist() == (lateral.sum((0, 2)) * fan_out).tolist()
    assert lat["synops_dense"].tolist() == [float(k * post * fan_out)] * b

    # host layers
    assert stats.counts["encoder"]["synops_mac"].tolist() == [8.0] * b
    assert stats.counts["critic"]["synops_mac"].tolist() == [float(pre)] * b
    assert set(stats.counts) == set(net.layers)


def test_second_step_counts_lateral_input_from_the_previous_step() -> None:
    net = RSTDPNetwork(_cfg(4))
    state = _sparse_state(net, 3, frac_zero=0.0)
    _, st1, _ = _act(net, state, OBS, torch.Generator().manual_seed(1))
    assert st1.z_prev.sum() > 0, "the second step must start with lateral input"
    _, _, stats = _act(net, st1, OBS, torch.Generator().manual_seed(2))
    _, _, lateral, _ = _reference(net, st1, OBS, seed=2)
    fan_out = net.n_post - net.cfg.group_size
    assert stats.counts["actor_lateral"]["synops_ac"].tolist() == \
        (lateral.sum((0, 2)) * fan_out).tolist()


def _zero_input_state(net: RSTDPNetwork, b: int):
    st = net.init_state(b, torch.Generator().manual_seed(0))
    return st._replace(w=torch.zeros_like(st.w))


def test_zero_input_still_costs_idle_neuron_updates() -> None:
    k = 6
    net = RSTDPNetwork(_cfg(k))
    b, pre, post = 3, net.n_pre, net.n_post
    _, _, stats = _act(net, _zero_input_state(net, b), OBS, torch.Generator().manual_seed(1))
    actor = stats.counts["actor"]
    assert stats.in_spikes.sum() > 0, "the bias input still spikes; only the weights are zero"
    assert actor["synops_ac"].tolist() == [0.0] * b, "no non-zero weight: no effective op"
    assert actor["spikes"].tolist() == [0.0] * b
    assert actor["neuron_updates_driven"].tolist() == [0.0] * b
    assert actor["neuron_updates_idle"].tolist() == [float(k * post)] * b
    assert actor["synops_dense"].tolist() == [float(k * pre * post)] * b
    assert stats.counts["actor_lateral"]["synops_ac"].tolist() == [0.0] * b


def test_unconditional_plasticity_updates_do_not_depend_on_spikes() -> None:
    k = 6
    net = RSTDPNetwork(_cfg(k))
    b = 3
    _, _, quiet = _act(net, _zero_input_state(net, b), OBS, torch.Generator().manual_seed(1))
    _, _, busy = _act(net, _sparse_state(net, b), OBS, torch.Generator().manual_seed(1))
    assert busy.out_spikes.sum() > 0 and quiet.out_spikes.sum() == 0
    for key in ("plasticity_tick", "trace_updates", "state_writes", "synops_dense", "ticks"):
        assert quiet.counts["actor"][key].tolist() == busy.counts["actor"][key].tolist(), key
    assert quiet.counts["actor"]["plasticity_tick"].tolist() == \
        [float(k * net.n_synapses)] * b
    # spike-triggered terms, by contrast, do follow the spikes
    assert quiet.counts["actor"]["plasticity_post"].tolist() != \
        busy.counts["actor"]["plasticity_post"].tolist()


def test_plasticity_off_has_no_plasticity_counts() -> None:
    net = RSTDPNetwork(_cfg(6, plasticity=False))
    state = _sparse_state(net, 3)
    _, state, stats = _act(net, state, OBS, torch.Generator().manual_seed(1))
    actor = stats.counts["actor"]
    for key in ("plasticity_pre", "plasticity_post", "plasticity_tick", "plasticity_step",
                "trace_updates", "state_writes"):
        assert float(actor.get(key, torch.zeros(1)).sum()) == 0.0, key
    assert actor["state_reads"].tolist() == actor["synops_ac"].tolist(), "weight reads only"
    f = torch.zeros(3, dtype=torch.bool)
    _, _, ops = net.learn(state, torch.ones(3), f, f, OBS)
    assert all(float(v) == 0 for layer in ops.values() for k, v in layer.items()
               if k.startswith("plasticity"))
    assert not net.layers["actor"].plastic


def test_doubling_ticks_doubles_every_dense_term() -> None:
    b = 3
    one = RSTDPNetwork(_cfg(4))
    two = RSTDPNetwork(_cfg(8))
    a1 = _act(one, _sparse_state(one, b), OBS, torch.Generator().manual_seed(1))[2].counts
    a2 = _act(two, _sparse_state(two, b), OBS, torch.Generator().manual_seed(1))[2].counts
    for key in ("synops_dense", "plasticity_tick", "trace_updates", "ticks", "state_writes"):
        assert a2["actor"][key].tolist() == (2 * a1["actor"][key]).tolist(), key
    total = lambda c: c["neuron_updates_driven"] + c["neuron_updates_idle"]  # noqa: E731
    assert total(a2["actor"]).tolist() == (2 * total(a1["actor"])).tolist()
    assert a2["actor_lateral"]["synops_dense"].tolist() == \
        (2 * a1["actor_lateral"]["synops_dense"]).tolist()


def test_learn_counts_one_update_per_synapse_per_step() -> None:
    net = RSTDPNetwork(_cfg(6))
    b, pre, post = 3, net.n_pre, net.n_post
    state = _sparse_state(net, b)
    _, state, _ = _act(net, state, OBS, torch.Generator().manual_seed(1))
    f = torch.zeros(b, dtype=torch.bool)
    _, _, ops = net.learn(state, torch.ones(b), f, f, OBS)
    assert ops["actor"]["plasticity_step"] == pre * post
    assert ops["actor"]["state_reads"] == 2 * pre * post
    assert ops["actor"]["state_writes"] == pre * post
    assert ops["critic"]["plasticity_step"] == pre


def test_rollout_totals_per_step() -> None:
    """act + learn summed with OpTotals: per-step means of the dense terms are exact."""
    k = 5
    net = RSTDPNetwork(_cfg(k))
    b, n_syn = 2, net.n_synapses
    state = net.init_state(b, torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(3)
    tot = OpTotals()
    f = torch.zeros(b, dtype=torch.bool)
    ac_sum = torch.zeros(b)
    for _ in range(4):
        _, state, stats = _act(net, state, OBS[:b], gen)
        state, _, lops = net.learn(state, torch.ones(b), f, f, OBS[:b], gen)
        ac_sum += stats.counts["actor"]["synops_ac"]
        tot.add(stats.counts)
        tot.add(lops)
        tot.step()
    per = tot.per_step()["actor"]
    assert per["plasticity_tick"] == pytest.approx(k * n_syn)
    assert per["plasticity_step"] == pytest.approx(n_syn)
    assert per["ticks"] == pytest.approx(k)
    assert per["synops_ac"] == pytest.approx(float(ac_sum.mean()) / 4)
