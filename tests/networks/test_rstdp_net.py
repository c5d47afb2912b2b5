"""The R-STDP network's fused step equals the per-tick reference composition."""

from __future__ import annotations

import torch

from snnrl.networks import RSTDPNetConfig, RSTDPNetwork
from snnrl.neurons import lif_tick
from snnrl.plasticity import rstdp_tick


def test_act_equals_tick_by_tick_reference() -> None:
    cfg = RSTDPNetConfig(obs_low=(-1.0, -1.0), obs_high=(1.0, 1.0), n_actions=2, n_per_dim=4,
                         group_size=3, ticks_per_step=6, w_init=1.0, p_max=0.9, v_th=0.05)
    net = RSTDPNetwork(cfg)
    b = 3
    state = net.init_state(b, torch.Generator().manual_seed(0))
    obs = torch.tensor([[0.1, -0.5], [0.9, 0.3], [-0.2, 0.0]])
    action, new, stats = net.act(state, obs, torch.Generator().manual_seed(1))
    # reference: draw the same input spikes, then tick by tick
    rates = net.encode(obs)
    g = torch.Generator().manual_seed(1)
    u = torch.rand((cfg.ticks_per_step, *rates.shape), generator=g)
    s_pre = (u < rates * cfg.p_max).float()
    lif, z, rule = state.lif, state.z_prev, state.rule
    counts = torch.zeros(b, net.n_post)
    for k in range(cfg.ticks_per_step):
        current = torch.einsum("bij,bj->bi", state.w, s_pre[k]) - cfg.w_inh * (z @ net.inhibition)
        z, lif = lif_tick(net.lif_params, lif, current, cfg.dt)
        rule = rstdp_tick(net.rule_params, rule, s_pre[k], z, cfg.dt)
        counts += z
    torch.testing.assert_close(new.lif.v, lif.v)
    torch.testing.assert_close(new.rule.elig, rule.elig)
    torch.testing.assert_close(new.rule.traces.x_pre, rule.traces.x_pre)
    assert torch.equal(stats.out_spikes, counts.sum(-1))
    assert counts.sum() > 0, "the test must exercise spikes"
    groups = counts.view(b, 2, -1).sum(-1)
    clear = groups[:, 0] != groups[:, 1]
    assert torch.equal(action[clear], groups.argmax(-1)[clear])


def test_episode_reset_by_mask_keeps_weights() -> None:
    cfg = RSTDPNetConfig(obs_low=(-1.0,), obs_high=(1.0,), n_actions=2, n_per_dim=3,
                         group_size=2, w_init=1.0, p_max=1.0)
    net = RSTDPNetwork(cfg)
    st = net.init_state(2, torch.Generator().manual_seed(0))
    _, st, _ = net.act(st, torch.zeros(2, 1), torch.Generator().manual_seed(0))
    term = torch.tensor([True, False])
    new, delta, _ = net.learn(st, torch.ones(2), term, torch.zeros(2, dtype=torch.bool),
                           torch.zeros(2, 1))
    assert torch.all(new.lif.v[0] == 0) and torch.all(new.rule.elig[0] == 0)
    assert torch.equal(new.lif.v[1], st.lif.v[1])
    assert torch.isfinite(delta).all()
    # the weights of the finished lifetime changed by the TD error, not reset
    assert not torch.equal(new.w[0], torch.zeros_like(new.w[0]))
