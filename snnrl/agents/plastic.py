"""Meta-learned plastic agents: one rule × one neuron type per zoo name.

``agent=abcd_ann`` / ``abcd_snn`` / ``hebb_ann`` / ... / ``neuromod_snn`` are the same
:class:`PlasticAgent` with a rule and a neuron type (:mod:`snnrl.networks.plastic_net`); what
survives a lifetime (initial weights, rule coefficients, the modulator pathway) is found by an
outer learner (``learner=es|bptt``, :mod:`snnrl.learners`). Within a lifetime the agent acts
deterministically (argmax / bounded output) and changes its weights with its rule only.

``agent.plasticity=false`` is the control: the same meta-parameters and the same initial weights
(same random stream), rule switched off. The ``*_ann`` arm is the bounded-activation (tanh) rate
network with the same weight clip as the ``*_snn`` arm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import torch
from torch import Tensor

from snnrl.agents.base import Agent, EnvInfo
from snnrl.config import ConfigError, Unsupported, check_positive, check_range
from snnrl.networks import LayerInfo
from snnrl.networks.plastic_net import NEURONS, PlasticNetSpec, PlasticNetwork, PlasticState
from snnrl.plasticity import HEBBIAN_RULES, RULE_COEFFS

ZOO_PLASTIC = {
    f"{rule}_{kind}": (rule, neuron)
    for rule in ("hebb", "oja", "abcd", "stdp", "neuromod")
    for kind, neuron in (("ann", "rate"), ("snn", "lif"))
}
"""Zoo names of the plastic agents → (rule, neuron)."""


@dataclass
class PlasticAgentConfig:
    """Schema of ``conf/agent/{hebb,oja,abcd,stdp,neuromod}_{ann,snn}.yaml``."""

    name: str = "abcd_snn"
    rule: str = "abcd"
    neuron: str = "lif"
    hidden: list[int] = field(default_factory=lambda: [32])
    coeffs: str = "layer"
    """``layer`` or ``synapse``: granularity of the learnable rule coefficients."""
    meta_init: bool = True
    """False = rules-only meta-learning: initial weights drawn at random per lifetime."""
    plasticity: bool = True
    """False = the control: same initial weights, rule off."""
    init_gain: float | None = None
    """Initial weights ~ N(0, (init_gain / sqrt(fan_in))^2); None: the value tuned for the
    neuron type (rate 2.0, lif 1.0; conf/agent/*.yaml says how)."""
    w_clip: float = 1.0
    ticks_per_step: int = 8
    beta: float = 0.8
    v_th: float = 1.0
    input_gain: float = 1.0
    trace_decay: float = 0.8
    feed_reward: bool = True
    reward_scale: float = 1.0
    rule_scale: float = 0.01
    """Every rule's weight change is multiplied by this (meta-parameters of order 1)."""
    logit_scale: float = 5.0
    """Gradient learners sample actions from softmax(logit_scale · output)."""

    def __post_init__(self) -> None:
        if self.name not in ZOO_PLASTIC:
            raise ConfigError("agent.name", self.name, f"one of {sorted(ZOO_PLASTIC)}")
        if self.rule not in HEBBIAN_RULES:
            raise ConfigError("agent.rule", self.rule, f"one of {sorted(RULE_COEFFS)}")
        if self.neuron not in NEURONS:
            raise ConfigError("agent.neuron", self.neuron, f"one of {list(NEURONS)}")
        if self.coeffs not in ("layer", "synapse"):
            raise ConfigError("agent.coeffs", self.coeffs, "'layer' or 'synapse'")
        if not self.hidden or any(h <= 0 for h in self.hidden):
            raise ConfigError("agent.hidden", self.hidden, "a non-empty list of sizes > 0")
        if self.init_gain is None:
            self.init_gain = 2.0 if self.neuron == "rate" else 1.0
        for key in ("init_gain", "w_clip", "ticks_per_step", "v_th", "logit_scale",
                    "rule_scale"):
            check_positive(f"agent.{key}", getattr(self, key))
        check_range("agent.beta", self.beta, 0.0, 1.0)
        check_range("agent.trace_decay", self.trace_decay, 0.0, 1.0)


class PlasticAgent(Agent):
    """A plastic network driven by meta-parameters ``theta [P, D]`` over ``B = P·E`` lifetimes.

    Built with one meta-parameter vector (``P = 1``, from :meth:`set_theta`); an outer learner
    sets ``P`` candidates at once and every batch ``B`` must then be a multiple of ``P``.
    """

    learns_within_lifetime = True

    def __init__(self, cfg: PlasticAgentConfig, env: EnvInfo, device: torch.device | str = "cpu"):
        self.cfg = cfg
        self.name = cfg.name
        self.device = torch.device(device)
        self.rules = (HEBBIAN_RULES[cfg.rule],)
        space = env.action_space
        n_obs = int(sum(env.observation_space.shape or (0,)))
        if len(env.observation_space.shape or ()) != 1:
            raise Unsupported("agent", cfg.name,
                              f"a flat Box observation space (got {env.observation_space})")
        if isinstance(space, gym.spaces.Discrete):
            self.discrete, n_out = True, int(space.n)
        elif isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
            self.discrete = False
            dim = int(space.shape[0])
            n_out = 2 * dim if cfg.neuron == "lif" else dim
            self.act_low = torch.as_tensor(space.low, dtype=torch.float32, device=self.device)
            self.act_high = torch.as_tensor(space.high, dtype=torch.float32, device=self.device)
        else:
            raise Unsupported("agent", cfg.name,
                              f"a Discrete or 1-d Box action space (got {space})")
        if len(env.obs_low) != n_obs:
            raise ConfigError("env.obs_low", list(env.obs_low),
                              f"{n_obs} values (the observation size) for {cfg.name}")
        self.spec = PlasticNetSpec(
            n_obs=n_obs, n_out=n_out, hidden=tuple(cfg.hidden), neuron=cfg.neuron,
            rule=cfg.rule, coeffs=cfg.coeffs, meta_init=cfg.meta_init, init_gain=cfg.init_gain,
            w_clip=cfg.w_clip, ticks=cfg.ticks_per_step, beta=cfg.beta, v_th=cfg.v_th,
            input_gain=cfg.input_gain, trace_decay=cfg.trace_decay, feed_reward=cfg.feed_reward,
            reward_scale=cfg.reward_scale, rule_scale=cfg.rule_scale, value_head=False)
        low = torch.as_tensor(env.obs_low, dtype=torch.float32, device=self.device)
        high = torch.as_tensor(env.obs_high, dtype=torch.float32, device=self.device)
        self.net = PlasticNetwork(self.spec, low, high)
        self.plastic = cfg.plasticity
        self.record_health = False
        """Set True to return firing-rate health stats from :meth:`act` (evaluation)."""
        self.count_ops = False
        """Set True to return operation counts from :meth:`act` (counted evaluation; definitions
        in :mod:`snnrl.networks.plastic_net`)."""
        self.theta = self.net.layout.init(
            torch.Generator(device=self.device).manual_seed(0), self.device).unsqueeze(0)

    def with_value_head(self) -> PlasticAgent:
        """Rebuild the network with a value head (gradient learners)."""
        from dataclasses import replace

        self.spec = replace(self.spec, value_head=True)
        self.net = PlasticNetwork(self.spec, self.net.obs_mid - self.net.obs_half,
                                  self.net.obs_mid + self.net.obs_half)
        return self

    @property
    def n_meta(self) -> int:
        """Meta-parameters per candidate (the outer learner's search space)."""
        return self.net.layout.size

    def set_theta(self, theta: Tensor) -> None:
        """Meta-parameters ``[D]`` or ``[P, D]`` used from the next lifetime on."""
        self.theta = (theta if theta.ndim == 2 else theta.unsqueeze(0)).to(self.device)

    @property
    def n_synapses(self) -> int:
        """Plastic synapses per lifetime."""
        return self.spec.n_synapses

    def init_state(self, batch: int, generator: torch.Generator) -> PlasticState:
        """Fresh lifetimes: ``batch`` must be a multiple of the number of candidates."""
        p = self.theta.shape[0]
        if batch % p:
            raise ValueError(f"batch {batch} is not a multiple of {p} candidates")
        return self.net.init_state(self.theta, batch // p, generator)

    def _split(self, x: Tensor) -> Tensor:
        p = self.theta.shape[0]
        return x.reshape(p, x.shape[0] // p, *x.shape[1:])

    def decode(self, out: Tensor) -> Tensor:
        """Output activity ``[P, E, n_out]`` → actions ``[B]`` or ``[B, dim]``."""
        flat = out.reshape(-1, out.shape[-1])
        if self.discrete:
            return flat.argmax(dim=-1)
        if self.spec.neuron == "lif":
            dim = flat.shape[-1] // 2
            u = flat[:, :dim] - flat[:, dim:]
        else:
            u = flat
        u = u.clamp(-1.0, 1.0)
        return self.act_low + (u + 1.0) * 0.5 * (self.act_high - self.act_low)

    @property
    def layers(self) -> dict[str, LayerInfo]:
        """Counted layers (:meth:`PlasticNetwork.layers`) with the rule on or off as now."""
        return self.net.layers(self.plastic)

    def act(self, state: PlasticState, obs: Tensor, generator: torch.Generator):
        """One env step: forward pass and the rule; deterministic action.

        Operation counts (layer → key → ``[B]`` tensor or number) only when :attr:`count_ops`.
        """
        so, state = self.net.step(self.theta, state, self._split(obs.float()), self.plastic,
                                  count=self.count_ops)
        stats = self.firing_health(so.rates) if self.record_health else {}
        ops: dict[str, dict[str, Tensor | float]] = {}
        if so.counts is not None:
            ops = {layer: {k: v.reshape(-1) if isinstance(v, Tensor) else v
                           for k, v in counts.items()} for layer, counts in so.counts.items()}
        return self.decode(so.out), state, stats, ops

    def firing_health(self, rates: list[Tensor]) -> dict[str, Tensor]:
        """Per-lifetime fraction of silent and saturated units in this step, over all layers.

        Silent: activity below 1% of its range (LIF: no spike in the step); saturated: above 99%
        (LIF: a spike every tick; tanh units: |a| > 0.99).
        """
        a = torch.cat([r.abs() for r in rates], dim=-1).reshape(-1, sum(r.shape[-1] for r in rates))
        return {"health/silent_frac": (a < 0.01).float().mean(-1),
                "health/saturated_frac": (a > 0.99).float().mean(-1)}

    def learn(self, state: PlasticState, reward: Tensor, terminated: Tensor, truncated: Tensor,
              final_obs: Tensor, generator: torch.Generator):
        """Store the reward and failure flag: the next step's inputs (rules act in ``act``)."""
        return state._replace(prev_reward=self._split(reward.float()),
                              prev_fail=self._split(terminated.float())), {}, {}

    def finite_lifetimes(self, state: PlasticState) -> Tensor:
        """``[B]`` True where every plastic tensor of the lifetime is finite."""
        ok = torch.ones(state.prev_reward.shape, dtype=torch.bool, device=self.device)
        for t in state.p + state.e:
            ok &= torch.isfinite(t).flatten(2).all(dim=-1)
        return ok.reshape(-1)

    def state_dict(self, state: PlasticState) -> dict[str, Any]:
        """Lifetime weights and traces (for checkpoints)."""
        d: dict[str, Any] = {}
        for i, w in enumerate(self.net.weights(state)):
            d[f"w{i}"] = w
        for i, e in enumerate(state.e):
            d[f"e{i}"] = e
        return d

    def health(self, state: PlasticState) -> dict[str, float]:
        """Mean Frobenius norm of each layer's lifetime weights."""
        out = {}
        for i, w in enumerate(self.net.weights(state)):
            out[f"health/w{i}_norm"] = float(w.flatten(-2).norm(dim=-1).mean())
        return out
