"""The R-STDP spiking actor-critic agent (``agent=rstdp``): learns online, no backprop.

See :mod:`snnrl.networks.rstdp_net` for the network and its equations. There is no outer
learner: everything the agent learns, it learns within one lifetime, by R-STDP on the actor
synapses and a local TD rule on the critic. ``agent.plasticity=false`` is its own control: the
same initial weights (same seed), learning rate 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import torch
from torch import Tensor

from snnrl.agents.base import Agent, EnvInfo
from snnrl.config import ConfigError, Unsupported, check_positive, check_range
from snnrl.networks import LayerInfo, RSTDPNetConfig, RSTDPNetState, RSTDPNetwork
from snnrl.networks.rstdp_net import RSTDPHyper
from snnrl.plasticity import RSTDP_INFO


@dataclass
class RSTDPAgentConfig(RSTDPHyper):
    """Schema of ``conf/agent/rstdp.yaml``: :class:`RSTDPHyper` plus the zoo name."""

    name: str = "rstdp"

    def __post_init__(self) -> None:
        if self.name != "rstdp":
            raise ConfigError("agent.name", self.name, "'rstdp' for this schema")
        for key in ("n_per_dim", "group_size", "ticks_per_step"):
            check_positive(f"agent.{key}", getattr(self, key))
        if self.n_per_dim < 2:
            raise ConfigError("agent.n_per_dim", self.n_per_dim, "an integer >= 2")
        for key in (
            "dt",
            "tau_mem",
            "tau_syn",
            "tau_plus",
            "tau_minus",
            "tau_e",
            "rf_width",
            "v_th",
            "w_max",
        ):
            check_positive(f"agent.{key}", getattr(self, key))
        check_range("agent.p_max", self.p_max, 0.0, 1.0, lo_open=True)
        check_range("agent.gamma", self.gamma, 0.0, 1.0)
        if self.weight_bits is not None and not 2 <= self.weight_bits <= 32:
            raise ConfigError("agent.weight_bits", self.weight_bits,
                              "null or an integer in [2, 32]")
        for key in ("lr", "critic_lr", "w_init", "w_inh", "a_plus", "a_minus"):
            if getattr(self, key) < 0:
                raise ConfigError(f"agent.{key}", getattr(self, key), "a value >= 0")


class RSTDPAgent(Agent):
    """Batched R-STDP actor-critic on a discrete-action env with a box observation."""

    name = "rstdp"
    learns_within_lifetime = True
    rules = (RSTDP_INFO,)

    def __init__(self, cfg: RSTDPAgentConfig, env: EnvInfo, device: torch.device | str = "cpu"):
        if not isinstance(env.action_space, gym.spaces.Discrete):
            raise Unsupported(
                "env",
                type(env.action_space).__name__,
                "a Discrete action space (agent=rstdp is unsupported here)",
            )
        if len(env.observation_space.shape or ()) != 1:
            raise Unsupported("env", str(env.observation_space),
                              "a flat Box observation space for agent=rstdp")
        if len(env.obs_low) == 0:
            raise ConfigError("env.obs_low", [], "encoder ranges for agent=rstdp")
        kw = asdict(cfg)
        kw.pop("name")
        self.cfg = cfg
        self.net = RSTDPNetwork(
            RSTDPNetConfig(
                obs_low=tuple(env.obs_low),
                obs_high=tuple(env.obs_high),
                n_actions=int(env.action_space.n),
                **kw,
            ),
            device=device,
        )

    @property
    def n_synapses(self) -> int:
        """Plastic actor synapses per lifetime (after encoding)."""
        return self.net.n_synapses

    def init_state(self, batch: int, generator: torch.Generator) -> RSTDPNetState:
        """Fresh lifetimes: random weights from ``generator``."""
        return self.net.init_state(batch, generator)

    @property
    def layers(self) -> dict[str, LayerInfo]:
        """Counted layers and where they run (chip or host)."""
        return self.net.layers

    def act(self, state: RSTDPNetState, obs: Tensor, generator: torch.Generator):
        """K ticks of the actor; returns the action, spike statistics and op counts."""
        action, state, stats = self.net.act(state, obs, generator)
        logged = {"train/in_spikes_per_step": stats.in_spikes,
                  "train/out_spikes_per_step": stats.out_spikes}
        return action, state, logged, stats.counts

    def learn(
        self,
        state: RSTDPNetState,
        reward: Tensor,
        terminated: Tensor,
        truncated: Tensor,
        final_obs: Tensor,
        generator: torch.Generator | None = None,
    ):
        """Deliver the TD error (the modulator) and reset finished episodes."""
        state, delta, ops = self.net.learn(state, reward, terminated, truncated, final_obs,
                                           generator)
        return state, {"train/td_error_abs": delta.abs()}, ops

    def state_dict(self, state: RSTDPNetState) -> dict[str, Any]:
        """Weights, critic, and every trace (enough to resume a lifetime)."""
        return {
            "w": state.w,
            "u": state.u,
            "v": state.lif.v,
            "i": state.lif.i,
            "z_prev": state.z_prev,
            "x_pre": state.rule.traces.x_pre,
            "x_post": state.rule.traces.x_post,
            "elig": state.rule.elig,
        }

    def health(self, state: RSTDPNetState) -> dict[str, float]:
        """Mean absolute actor and critic weights."""
        return {
            "train/actor_w_abs": float(state.w.abs().mean()),
            "train/critic_u_abs": float(state.u.abs().mean()),
        }
