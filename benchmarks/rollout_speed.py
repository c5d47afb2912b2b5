#!/usr/bin/env python3
"""Batched rollout speed of the R-STDP agent (plasticity on) on cart-pole.

Three arms, each timed on the same act -> env.step -> learn loop
(:func:`snnrl.eval.rollout.run_lifetimes`) at every batch size ``B``:

- ``snnrl``: :class:`snnrl.agents.RSTDPAgent` (default config) on the native batched
  :class:`snnrl.envs.TorchCartPole`;
- ``snnrl+gym-sync``: the same agent on Gymnasium's own ``CartPole-v1`` in a
  ``SyncVectorEnv`` (one Python env object per env), through :class:`snnrl.envs.GymAdapter`;
- ``snntorch``: the same network written with snnTorch (``snntorch.Synaptic`` neurons,
  ``spikegen.rate`` input spikes, per-lifetime weights applied with ``torch.bmm`` every tick,
  R-STDP traces and eligibility updated tick by tick in plain torch) on ``TorchCartPole``.

Reported per arm and ``B``: agent-steps/s (``B * steps / time``), batched env-steps/s
(``steps / time``) and ns per synapse per tick
(``time / (steps * B * n_synapses * ticks_per_step)``, ``n_synapses = post * pre`` per lifetime),
plus mean input and output spikes per step per lifetime, so the arms are seen to do the same work.

Slow arms run fewer steps than ``--steps`` (so each measurement stays under ``--max-seconds``);
the table says how many steps each row timed.

    python benchmarks/rollout_speed.py --threads 2 \
        --roofline ../shared/tools/roofline.py --roofline-mib 8,256 --out rollout_speed.json

snnTorch is used here only (``pip install snnrl[bench]``); ``--skip-snntorch`` leaves it out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from typing import Any, NamedTuple

import torch
from omegaconf import OmegaConf
from torch import Tensor

import snnrl
from snnrl.agents import EnvInfo, RSTDPAgent, RSTDPAgentConfig
from snnrl.agents.base import Agent
from snnrl.cli.app import conf_dir
from snnrl.encoding import bernoulli_spikes
from snnrl.envs import BatchedEnv, GymAdapter, TorchCartPole
from snnrl.eval.rollout import run_lifetimes
from snnrl.neurons import LIFParams, lif_propagator

# ---------------------------------------------------------------------------------------------
# The snnTorch implementation of the same network (benchmark only; snnrl never imports snnTorch)
# ---------------------------------------------------------------------------------------------


class SnnTorchState(NamedTuple):
    """Everything that changes during a lifetime (same content as ``RSTDPNetState``)."""

    w: Tensor  # [B, post, pre] plastic actor weights
    u: Tensor  # [B, pre] critic weights
    syn: Tensor  # [B, post] snnTorch synaptic current
    mem: Tensor  # [B, post] snnTorch membrane potential
    z_prev: Tensor  # [B, post] spikes of the last tick (lateral inhibition)
    x_pre: Tensor  # [B, pre] presynaptic trace
    x_post: Tensor  # [B, post] postsynaptic trace
    elig: Tensor  # [B, post, pre] eligibility
    rates: Tensor  # [B, pre] encoder rates of the observation acted on
    value: Tensor  # [B] critic value of that observation


class SnnTorchRSTDPAgent(Agent):
    """The R-STDP actor-critic of :mod:`snnrl.networks.rstdp_net`, written with snnTorch.

    Neurons: ``snntorch.Synaptic`` with ``alpha = exp(-dt/tau_syn)``, ``beta = exp(-dt/tau_mem)``,
    reset to zero right after a spike (``reset_mechanism="zero", reset_delay=False``).
    snnTorch integrates ``mem = beta*mem + syn`` with unit gain where snnrl's exact propagator
    uses ``v = a_m*v + c_syn*i``; feeding snnTorch ``c_syn * current`` makes the two the same
    recursion (snnTorch's ``syn`` is then ``c_syn`` times snnrl's ``i``). snnTorch spikes at
    ``mem > threshold``, snnrl at ``v >= v_th`` (differs only at exact equality).

    Everything else is written the straightforward way, tick by tick: input spikes from
    ``snntorch.spikegen.rate``, the synaptic input of each tick as ``torch.bmm(w, s_pre)``, traces
    ``x <- x*d + s`` and eligibility ``e <- e*d_e + A+ s_post x_pre^T - A- x_post s_pre^T``
    every tick (one scaled copy and two in-place ``addcmul_``; the one-line broadcast
    expression does the same maths about 20x slower at B=1024), and ``w <- clip(w + lr*delta*e)``
    once per env step with the TD error ``delta``.
    """

    name = "rstdp-snntorch"
    learns_within_lifetime = True

    def __init__(self, cfg: RSTDPAgentConfig, env: EnvInfo) -> None:
        import snntorch
        from snntorch import spikegen

        self.cfg = c = cfg
        self.rate = spikegen.rate
        n_actions = int(env.action_space.n)
        # Gaussian receptive fields, as snnrl.encoding.GaussianPopulation (bias input appended)
        lo = torch.tensor(env.obs_low, dtype=torch.float32)
        hi = torch.tensor(env.obs_high, dtype=torch.float32)
        frac = torch.linspace(0.0, 1.0, c.n_per_dim)
        self.centres = lo[:, None] + (hi - lo)[:, None] * frac  # [D, n]
        sigma = c.rf_width * (hi - lo) / (c.n_per_dim - 1)
        self.inv_two_sigma2 = (1.0 / (2.0 * sigma**2))[:, None]  # [D, 1]
        self.n_pre = len(env.obs_low) * c.n_per_dim + 1
        self.n_post = n_actions * c.group_size
        self.n_actions = n_actions
        prop = lif_propagator(LIFParams(c.tau_mem, c.tau_syn, c.v_th), c.dt)
        self.in_gain = prop.c_syn
        self.lif = snntorch.Synaptic(
            alpha=math.exp(-c.dt / c.tau_syn),
            beta=math.exp(-c.dt / c.tau_mem),
            threshold=c.v_th,
            reset_mechanism="zero",
            reset_delay=False,
        )
        g = torch.arange(self.n_post) // c.group_size
        self.inhibition = (g[:, None] != g[None, :]).float()  # [post, post]
        self.d_pre = math.exp(-c.dt / c.tau_plus)
        self.d_post = math.exp(-c.dt / c.tau_minus)
        self.d_e = math.exp(-c.dt / c.tau_e)

    @property
    def n_synapses(self) -> int:
        """Plastic actor synapses per lifetime: ``post * pre``."""
        return self.n_post * self.n_pre

    def encode(self, obs: Tensor) -> Tensor:
        """Encoder rates with the bias input appended: ``[B, pre]``."""
        diff = obs.float()[:, :, None] - self.centres
        r = torch.exp(-(diff * diff) * self.inv_two_sigma2).flatten(1)
        return torch.cat([r, torch.ones_like(r[:, :1])], 1)

    def init_state(self, batch: int, generator: torch.Generator) -> SnnTorchState:
        """Random weights in ``[-w_init, w_init]``, everything else zero."""
        w = torch.rand(batch, self.n_post, self.n_pre, generator=generator) * 2 - 1
        post = torch.zeros(batch, self.n_post)
        return SnnTorchState(
            w=w * self.cfg.w_init,
            u=torch.zeros(batch, self.n_pre),
            syn=post,
            mem=post.clone(),
            z_prev=post.clone(),
            x_pre=torch.zeros(batch, self.n_pre),
            x_post=post.clone(),
            elig=torch.zeros(batch, self.n_post, self.n_pre),
            rates=torch.zeros(batch, self.n_pre),
            value=torch.zeros(batch),
        )

    def run_ticks(
        self, state: SnnTorchState, rates: Tensor, s_pre: Tensor
    ) -> tuple[Tensor, SnnTorchState, Tensor]:
        """``K`` ticks on input spikes ``s_pre [K, B, pre]``: ``(action, state, counts)``."""
        c = self.cfg
        w, syn, mem, z = state.w, state.syn, state.mem, state.z_prev
        x_pre, x_post, e = state.x_pre, state.x_post, state.elig
        counts = torch.zeros_like(z)
        for k in range(c.ticks_per_step):
            s = s_pre[k]  # [B, pre]
            cur = torch.bmm(w, s.unsqueeze(2)).squeeze(2) - c.w_inh * (z @ self.inhibition)
            z, syn, mem = self.lif(self.in_gain * cur, syn, mem)
            counts += z
            # R-STDP, tick by tick: traces, then e <- d_e e + A+ z x_pre^T - A- x_post s^T
            x_pre = x_pre * self.d_pre + s
            x_post = x_post * self.d_post + z
            e = e * self.d_e  # a new tensor: the caller's state is never modified
            e.addcmul_(z.unsqueeze(2), x_pre.unsqueeze(1), value=c.a_plus)
            e.addcmul_(x_post.unsqueeze(2), s.unsqueeze(1), value=-c.a_minus)
        groups = counts.view(-1, self.n_actions, c.group_size).sum(-1)
        tie = torch.tanh(mem.view(-1, self.n_actions, c.group_size).sum(-1))
        action = (groups + 1e-3 * tie).argmax(-1)
        value = (state.u * rates).sum(-1)
        new = state._replace(
            syn=syn,
            mem=mem,
            z_prev=z,
            x_pre=x_pre,
            x_post=x_post,
            elig=e,
            rates=rates,
            value=value,
        )
        return action, new, counts

    def act(self, state: SnnTorchState, obs: Tensor, generator: torch.Generator):
        """One env step (``K`` ticks); input spikes from ``snntorch.spikegen.rate``."""
        rates = self.encode(obs)
        s_pre = self.rate(rates * self.cfg.p_max, num_steps=self.cfg.ticks_per_step)
        action, state, counts = self.run_ticks(state, rates, s_pre)
        return (
            action,
            state,
            {
                "train/in_spikes_per_step": s_pre.sum((0, 2)),
                "train/out_spikes_per_step": counts.sum(-1),
            },
            {},  # no operation counts
        )

    def learn(
        self,
        state: SnnTorchState,
        reward: Tensor,
        terminated: Tensor,
        truncated: Tensor,
        final_obs: Tensor,
        generator: torch.Generator | None = None,
    ):
        """TD(0) error as the third factor; per-episode state reset by mask."""
        c = self.cfg
        v_next = (state.u * self.encode(final_obs)).sum(-1)
        delta = reward + c.gamma * (~terminated).float() * v_next - state.value
        w = (state.w + (c.lr * delta)[:, None, None] * state.elig).clamp(-c.w_max, c.w_max)
        u = state.u + c.critic_lr * delta[:, None] * state.rates
        keep = (~(terminated | truncated)).float()[:, None]
        state = state._replace(
            w=w,
            u=u,
            syn=state.syn * keep,
            mem=state.mem * keep,
            z_prev=state.z_prev * keep,
            x_pre=state.x_pre * keep,
            x_post=state.x_post * keep,
            elig=state.elig * keep[:, :, None],
        )
        return state, {"train/td_error_abs": delta.abs()}, {}

    def state_dict(self, state: SnnTorchState) -> dict[str, Tensor]:
        """All state tensors."""
        return state._asdict()

    def health(self, state: SnnTorchState) -> dict[str, float]:
        """Mean absolute actor and critic weights."""
        return {
            "train/actor_w_abs": float(state.w.abs().mean()),
            "train/critic_u_abs": float(state.u.abs().mean()),
        }


# ---------------------------------------------------------------------------------------------
# Setup, equivalence check, timing
# ---------------------------------------------------------------------------------------------


def env_info(env: BatchedEnv) -> EnvInfo:
    """EnvInfo of cart-pole with the encoder ranges of ``conf/env/cartpole.yaml``."""
    conf = OmegaConf.load(conf_dir() / "env" / "cartpole.yaml")
    return EnvInfo(
        observation_space=env.single_observation_space,
        action_space=env.single_action_space,
        obs_low=tuple(float(x) for x in conf.obs_low),
        obs_high=tuple(float(x) for x in conf.obs_high),
    )


def check_same_network(cfg: RSTDPAgentConfig, info: EnvInfo, batch: int = 64, steps: int = 5):
    """Feed both networks the same weights and input spikes; compare spikes and eligibility.

    Returns ``(fraction of output spike counts that differ, max |elig difference|,
    max |w difference|)`` over ``steps`` env steps on the same observations.
    """
    ref = RSTDPAgent(cfg, info)
    alt = SnnTorchRSTDPAgent(cfg, info)
    env = TorchCartPole(num_envs=batch)
    obs, _ = env.reset(seed=0)
    s_ref = ref.init_state(batch, torch.Generator().manual_seed(0))
    s_alt = alt.init_state(batch, torch.Generator().manual_seed(0))
    n_diff = n_all = 0
    de = dw = 0.0
    for t in range(steps):
        action, s_ref, stats, _ = ref.act(s_ref, obs, torch.Generator().manual_seed(1000 + t))
        rates = alt.encode(obs)
        s_pre = bernoulli_spikes(
            rates, cfg.ticks_per_step, cfg.p_max, torch.Generator().manual_seed(1000 + t)
        )
        _, s_alt, counts = alt.run_ticks(s_alt, rates, s_pre)
        n_diff += int((counts.sum(-1) != stats["train/out_spikes_per_step"]).sum())
        n_all += batch
        de = max(de, float((s_alt.elig - s_ref.rule.elig).abs().max()))
        out = env.step(action)
        fo = out.info["final_obs"]
        s_ref, _, _ = ref.learn(s_ref, out.reward, out.terminated, out.truncated, fo)
        s_alt, _, _ = alt.learn(s_alt, out.reward, out.terminated, out.truncated, fo)
        dw = max(dw, float((s_alt.w - s_ref.w).abs().max()))
        obs = out.obs
    return n_diff / n_all, de, dw


class Measurement(NamedTuple):
    """One arm at one batch size."""

    arm: str
    batch: int
    steps: int
    times_s: list[float]
    n_synapses: int
    ticks_per_step: int
    in_spikes_per_step: float
    out_spikes_per_step: float

    @property
    def best_s(self) -> float:
        return min(self.times_s)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    def ns_per_synapse_tick(self, t: float) -> float:
        return t * 1e9 / (self.steps * self.batch * self.n_synapses * self.ticks_per_step)

    def as_dict(self) -> dict[str, Any]:
        d = self._asdict()
        d.update(
            best_s=self.best_s,
            median_s=self.median_s,
            agent_steps_per_s=self.batch * self.steps / self.best_s,
            env_steps_per_s=self.steps / self.best_s,
            ns_per_synapse_tick_best=self.ns_per_synapse_tick(self.best_s),
            ns_per_synapse_tick_median=self.ns_per_synapse_tick(self.median_s),
        )
        return d


def measure(
    arm: str,
    agent: Agent,
    env: BatchedEnv,
    steps: int,
    repeats: int,
    max_seconds: float,
    warmup: int,
    ticks_per_step: int,
) -> Measurement:
    """Time ``repeats`` fresh lifetimes of ``steps`` steps (fewer if slow) after a warm-up."""
    t0 = time.perf_counter()
    run_lifetimes(agent, env, warmup, torch.Generator().manual_seed(12345), env_seed=12345)
    per_step = (time.perf_counter() - t0) / warmup
    n = min(steps, max(20, int(max_seconds / per_step)))  # never fewer than 20 (or --steps)
    times, recs = [], []
    for r in range(repeats):
        rec: dict[str, float] = {}
        gen = torch.Generator().manual_seed(r)
        t0 = time.perf_counter()
        run_lifetimes(
            agent,
            env,
            n,
            gen,
            env_seed=r,
            on_interval=lambda _t, x, rec=rec: rec.update(x),
            interval=n,
        )
        times.append(time.perf_counter() - t0)
        recs.append(rec)
    mean = lambda k: sum(x[k] for x in recs) / len(recs)  # noqa: E731
    return Measurement(
        arm,
        env.num_envs,
        n,
        times,
        agent.n_synapses,
        ticks_per_step,
        mean("train/in_spikes_per_step"),
        mean("train/out_spikes_per_step"),
    )


def gym_sync(batch: int) -> GymAdapter:
    """Gymnasium's own ``CartPole-v1``, ``batch`` copies in a ``SyncVectorEnv`` (SAME_STEP)."""
    return GymAdapter("CartPole-v1", num_envs=batch, vectorization_mode="sync")


def cpu_model() -> str:
    """``model name`` from /proc/cpuinfo (or platform's guess)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> str:
    """The three load averages, or ``n/a``."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def roofline(path: str, mib: int, threads: int) -> tuple[str, float | None]:
    """Run the roofline tool; return its output and the floor in ns/synapse/tick."""
    out = subprocess.run(
        [sys.executable, path, "--mib", str(mib), "--threads", str(threads)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    m = re.search(r"([0-9.]+) ns/synapse/tick", out)
    return out, (float(m.group(1)) if m else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch-sizes", default="1,64,1024", help="comma-separated B values")
    ap.add_argument("--steps", type=int, default=300, help="env steps per measurement (max)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--repeats", type=int, default=3, help="lifetimes timed per row (best kept)")
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=5.0,
        help="cap on one timed lifetime: slow rows run fewer steps (estimated from the warm-up)",
    )
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps before timing")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--skip-snntorch", action="store_true", help="leave out the snnTorch arm")
    ap.add_argument("--skip-gym", action="store_true", help="leave out the Gymnasium arm")
    ap.add_argument(
        "--roofline", metavar="PATH", help="roofline.py to run for the memory-bandwidth floor"
    )
    ap.add_argument(
        "--roofline-mib",
        default="8",
        help="comma-separated working sets (MiB) for --roofline (8: about B=1024's w + elig)",
    )
    args = ap.parse_args()
    try:
        batches = [int(b) for b in args.batch_sizes.split(",")]
    except ValueError:
        ap.error(f"--batch-sizes: expected comma-separated integers, got {args.batch_sizes!r}")
    if args.roofline and not os.path.isfile(args.roofline):
        ap.error(f"--roofline: no such file {args.roofline!r}")
    if not args.skip_snntorch:
        try:
            import snntorch  # noqa: F401
        except ImportError:
            ap.error(
                "snntorch is not installed: pip install 'snnrl[bench]', or pass --skip-snntorch"
            )
    if any(b < 1 for b in batches) or args.steps < 1 or args.repeats < 1 or args.threads < 1:
        ap.error("--batch-sizes, --steps, --repeats and --threads must be positive")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)  # snntorch.spikegen.rate draws from the global generator
    cfg = RSTDPAgentConfig()  # defaults = conf/agent/rstdp.yaml; plasticity on, op counts on
    # the same agent with the energy model's operation counters switched off (their overhead)
    cfg_nocount = dataclasses.replace(cfg, count_ops=False)
    info = env_info(TorchCartPole(num_envs=1))
    k = cfg.ticks_per_step
    meta: dict[str, Any] = {
        "snnrl": getattr(snnrl, "__version__", "?"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_start": loadavg(),
        "ticks_per_step": k,
        "n_synapses": RSTDPAgent(cfg, info).n_synapses,
    }
    try:
        import gymnasium

        meta["gymnasium"] = gymnasium.__version__
    except ImportError:
        pass
    with torch.no_grad():
        if not args.skip_snntorch:
            import snntorch

            meta["snntorch"] = snntorch.__version__
            frac, de, dw = check_same_network(cfg, info)
            meta["snntorch_check"] = {
                "out_count_mismatch": frac,
                "elig_max_diff": de,
                "w_max_diff": dw,
            }
            print(
                f"snnTorch vs snnrl on the same weights and input spikes (5 steps, B=64): "
                f"{frac:.1%} of output spike counts differ, max |d elig| = {de:.2e}, "
                f"max |d w| = {dw:.2e}"
            )
        for key in ("torch", "threads", "cpu", "cpus", "loadavg_start", "n_synapses"):
            print(f"{key}: {meta[key]}")
        if args.roofline:
            meta["roofline"] = []
            for mib in (int(x) for x in args.roofline_mib.split(",")):
                text, floor = roofline(args.roofline, mib, args.threads)
                meta["roofline"].append({"mib": mib, "output": text, "floor_ns": floor})
                indented = text.replace("\n", "\n  ")
                print(f"roofline (--mib {mib} --threads {args.threads}):\n  {indented}")

        rows: list[Measurement] = []
        for b in batches:
            arms: list[tuple[str, Any, Any, Any]] = [
                ("snnrl", RSTDPAgent, cfg, lambda b=b: TorchCartPole(num_envs=b)),
                ("snnrl-nocount", RSTDPAgent, cfg_nocount, lambda b=b: TorchCartPole(num_envs=b)),
            ]
            if not args.skip_gym:
                arms.append(("snnrl+gym-sync", RSTDPAgent, cfg, lambda b=b: gym_sync(b)))
            if not args.skip_snntorch:
                arms.append(
                    ("snntorch", SnnTorchRSTDPAgent, cfg, lambda b=b: TorchCartPole(num_envs=b))
                )
            for name, make_agent, arm_cfg, make_env in arms:
                env = make_env()
                m = measure(
                    name,
                    make_agent(arm_cfg, info),
                    env,
                    args.steps,
                    args.repeats,
                    args.max_seconds,
                    args.warmup,
                    k,
                )
                if hasattr(env, "close"):
                    env.close()
                rows.append(m)
                print(
                    f"  {name:15s} B={b:5d} steps={m.steps:4d} best={m.best_s:.3f}s "
                    f"{m.ns_per_synapse_tick(m.best_s):8.2f} ns/syn/tick",
                    flush=True,
                )
    meta["loadavg_end"] = loadavg()

    print()
    print(
        "| arm | B | steps timed | agent-steps/s | env-steps/s (batched) | ns/synapse/tick best "
        "(median) | in spikes/step | out spikes/step |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for m in rows:
        d = m.as_dict()
        print(
            f"| {m.arm} | {m.batch} | {m.steps} | {d['agent_steps_per_s']:,.0f} | "
            f"{d['env_steps_per_s']:,.1f} | {d['ns_per_synapse_tick_best']:.2f} "
            f"({d['ns_per_synapse_tick_median']:.2f}) | {m.in_spikes_per_step:.1f} | "
            f"{m.out_spikes_per_step:.2f} |"
        )
    for m in rows:
        if m.arm == "snnrl" and m.batch == 1024:
            ns = m.ns_per_synapse_tick(m.best_s)
            verdict = "met" if ns <= 3.0 else "missed"
            print(
                f"\ntarget at B=1024 (plasticity on): <= 3 ns/synapse/tick; "
                f"snnrl: {ns:.2f}, {verdict}"
            )
    print(f"load average at start: {meta['loadavg_start']}; at end: {meta['loadavg_end']}")
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"meta": meta, "rows": [m.as_dict() for m in rows]}, f, indent=2)
        os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
