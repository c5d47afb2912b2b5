#!/usr/bin/env python3
"""Cross-check snnrl's synaptic-op counts against NeuroBench's counter on the same network.

NeuroBench (Yik et al. 2025, Nature Communications 16:1545) counts a layer's synaptic
operations with ``neurobench.metrics.utils.layers.single_layer_MACs(inputs, layer, total)``:
effective operations (non-zero input x non-zero weight; ACs when the input is binary) with
``total=False`` and dense operations (every weight, every input) with ``total=True``.

This script builds snnrl's R-STDP actor (:class:`snnrl.networks.RSTDPNetwork`, default sizes for
cart-pole: 4 x 15 receptive fields + 1 bias input -> 2 x 10 LIF neurons), runs a few env steps on
:class:`snnrl.envs.TorchCartPole` with plasticity on, records each step's input spikes (tick by
tick) and the weights the step used, and for every lifetime and tick calls NeuroBench on a
``torch.nn.Linear`` holding that lifetime's weights with that tick's input spikes. The sums are
compared with snnrl's own actor counts ``synops_ac`` and ``synops_dense`` for the same steps.

NeuroBench is not a dependency of snnrl. To run this check::

    pip install --no-deps neurobench==2.3.0   # its full dependencies pull a torchaudio that
                                              # may not load beside the installed torch
    python benchmarks/neurobench_crosscheck.py [--steps 5] [--batch 2] [--prune 0.3]

Exit status: 0 on a match (or, with a one-line ``SKIPPED`` message, when NeuroBench cannot be
imported), 1 on a mismatch.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import torch

CARTPOLE_LOW = (-2.4, -3.0, -0.21, -3.5)
CARTPOLE_HIGH = (2.4, 3.0, 0.21, 3.5)


def import_neurobench() -> Any:
    """NeuroBench's per-layer counter, or an exception (any: its imports may fail oddly)."""
    from neurobench.metrics.utils.layers import single_layer_MACs

    return single_layer_MACs


def crosscheck(steps: int = 5, batch: int = 2, seed: int = 0, prune: float = 0.3,
               verbose: bool = False) -> dict[str, Any]:
    """Run ``steps`` env steps; return both counts per step and in total, and ``match``.

    Args:
        steps: env steps (each of ``ticks_per_step`` ticks).
        batch: independent lifetimes.
        seed: seed of the weights, spikes and env.
        prune: fraction of the initial weights set to zero, so that effective operations
            depend on the non-zero weights per input as well as on the spikes.
        verbose: print one line per step.
    """
    single_layer_macs = import_neurobench()

    from snnrl.encoding import bernoulli_spikes
    from snnrl.envs import TorchCartPole
    from snnrl.networks import RSTDPNetConfig, RSTDPNetwork

    net = RSTDPNetwork(RSTDPNetConfig(obs_low=CARTPOLE_LOW, obs_high=CARTPOLE_HIGH, n_actions=2))
    k, pre, post = net.cfg.ticks_per_step, net.n_pre, net.n_post
    env = TorchCartPole(batch)
    gen = torch.Generator().manual_seed(seed)
    state = net.init_state(batch, gen)
    if prune > 0:
        keep = torch.rand(state.w.shape, generator=torch.Generator().manual_seed(seed + 1)) >= prune
        state = state._replace(w=state.w * keep)
    obs, _ = env.reset(seed=seed)

    rows = []
    spiking_all = True
    for t in range(steps):
        # the input spikes act() will draw: the same generator state, the same call
        rec = torch.Generator().set_state(gen.get_state())
        s_pre = bernoulli_spikes(net.encode(obs), k, net.cfg.p_max, rec)  # [K, B, pre]
        w = state.w.clone()  # [B, post, pre]: the weights this step uses
        action, state, stats = net.act(state, obs, gen)
        if not torch.equal(stats.in_spikes, s_pre.sum((0, 2))):
            raise RuntimeError("recorded input spikes differ from the ones act() used")
        nb_eff = [0] * batch
        nb_dense = [0] * batch
        for b in range(batch):
            layer = torch.nn.Linear(pre, post, bias=False)
            with torch.no_grad():
                layer.weight.copy_(w[b])
            for tick in range(k):
                x = s_pre[tick, b:b + 1]  # [1, pre]: one sample, one time step
                eff, spiking = single_layer_macs(x, layer)
                dense, _ = single_layer_macs(x, layer, total=True)
                nb_eff[b] += int(eff)
                nb_dense[b] += int(dense)
                spiking_all &= bool(spiking)
        # counts that are the same for every lifetime come back as plain numbers
        actor = {k: torch.as_tensor(v, dtype=torch.float64).expand(batch)
                 for k, v in stats.counts["actor"].items()}
        row = {"step": t, "in_spikes": [int(v) for v in stats.in_spikes.tolist()],
               "neurobench_effective": nb_eff, "neurobench_dense": nb_dense,
               "snnrl_synops_ac": [int(v) for v in actor["synops_ac"].tolist()],
               "snnrl_synops_dense": [int(v) for v in actor["synops_dense"].tolist()]}
        rows.append(row)
        if verbose:
            print(f"step {t}: input spikes {row['in_spikes']}  effective NeuroBench "
                  f"{nb_eff} snnrl {row['snnrl_synops_ac']}  dense NeuroBench {nb_dense} "
                  f"snnrl {row['snnrl_synops_dense']}")
        out = env.step(action)
        state, _, _ = net.learn(state, out.reward, out.terminated, out.truncated,
                                out.info["final_obs"], gen)
        obs = out.obs

    def total(key: str) -> int:
        return sum(sum(r[key]) for r in rows)

    match = all(r["neurobench_effective"] == r["snnrl_synops_ac"]
                and r["neurobench_dense"] == r["snnrl_synops_dense"] for r in rows)
    return {"steps": steps, "batch": batch, "ticks_per_step": k, "pre": pre, "post": post,
            "neurobench_spiking": spiking_all, "rows": rows,
            "total": {"neurobench_effective": total("neurobench_effective"),
                      "snnrl_synops_ac": total("snnrl_synops_ac"),
                      "neurobench_dense": total("neurobench_dense"),
                      "snnrl_synops_dense": total("snnrl_synops_dense")},
            "match": match and spiking_all}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prune", type=float, default=0.3)
    a = p.parse_args(argv)
    try:
        import_neurobench()
    except Exception as e:  # noqa: BLE001 - any import failure means "not available"
        print(f"SKIPPED: neurobench not installed or not importable "
              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
        return 0
    import neurobench

    r = crosscheck(a.steps, a.batch, a.seed, a.prune, verbose=True)
    tot = r["total"]
    print(f"neurobench {getattr(neurobench, '__version__', '?')}, snnrl R-STDP actor "
          f"{r['pre']} -> {r['post']}, {r['ticks_per_step']} ticks/step, {r['steps']} steps x "
          f"{r['batch']} lifetimes, NeuroBench sees binary (spiking) inputs: "
          f"{r['neurobench_spiking']}")
    print(f"effective synaptic ops (ACs): NeuroBench {tot['neurobench_effective']}  "
          f"snnrl synops_ac {tot['snnrl_synops_ac']}")
    print(f"dense synaptic ops:           NeuroBench {tot['neurobench_dense']}  "
          f"snnrl synops_dense {tot['snnrl_synops_dense']}")
    print("MATCH" if r["match"] else "MISMATCH")
    return 0 if r["match"] else 1


if __name__ == "__main__":
    sys.exit(main())
