"""Recurrent deep agents: STPN, spiking STPN, LSTM and RNN, trained by our recurrent A2C / PPO.

``agent=stpn`` (Rodriguez, Guo & Moraitis 2022), ``stpn_snn`` (LIF neurons with STPN or
Tsodyks–Markram synapses, ``agent.synapse=stpn|tm``), ``lstm`` and ``rnn`` share one network
(:mod:`snnrl.networks.recurrent`: torso → cell → heads) and one learner
(:mod:`snnrl.learners.recurrent`, which says why it is not SB3's). Defaults are the STPN paper's
maze set-up (A2C, 200-step rollouts = whole-episode BPTT, grad-clip 4, hidden STPN 55 / LSTM 47
/ RNN 100 for matched parameter counts); ``algo=ppo`` is the paper's learner for continuous
control. Weights are frozen at evaluation; the cell state (STPN's fast weights included) starts
fresh at every episode.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from torch import Tensor

from snnrl.agents.base import EnvInfo
from snnrl.agents.deep import DeepAgent, LogFn
from snnrl.config import ConfigError, Unsupported, check_positive, check_range
from snnrl.envs.protocol import BatchedEnv

ZOO_RECURRENT = {
    "stpn": ("stpn", 55),
    "stpn_snn": ("stpn_snn", 55),
    "lstm": ("lstm", 47),
    "rnn": ("rnn", 100),
}
"""Zoo name → (cell, default hidden size: the STPN paper's parameter-matched maze sizes)."""


@dataclass
class RecurrentAgentConfig:
    """Schema of ``conf/agent/{stpn,stpn_snn,lstm,rnn}.yaml``."""

    name: str = "stpn"
    cell: str = ""
    """``stpn`` | ``stpn_snn`` | ``lstm`` | ``rnn``; empty: the name's cell."""
    hidden: int = 0
    """Hidden units; 0: the name's parameter-matched default (55 / 55 / 47 / 100)."""
    algo: str = "a2c"
    """``a2c`` (maze, Atari; the STPN paper) or ``ppo`` (continuous control)."""
    lr: float = 1e-3
    gamma: float = 0.99
    gae_lambda: float = 1.0
    n_steps: int = 200
    """Rollout length = BPTT truncation (A2C) in env steps."""
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    value_scale: float = 1.0
    """The value head predicts returns in units of this (snnrl/learners/recurrent.py); about
    1 / (1 - gamma) for dense rewards (cart-pole: 100). 1: unscaled (the maze runs)."""
    grad_clip: float = 4.0
    n_epochs: int = 4
    """PPO: epochs per rollout."""
    minibatches: int = 4
    """PPO: minibatches per epoch, split by env."""
    clip_range: float = 0.2
    clamp: float | None = 1.0
    """STPN cells: bound on |F| (null: none)."""
    row_norm: bool = False
    """STPN: row-wise L2 normalisation of W + F (the paper's maze config)."""
    ticks: int = 8
    """stpn_snn: LIF ticks per env step."""
    beta: float = 0.8
    v_th: float = 1.0
    synapse: str = "stpn"
    """stpn_snn: ``stpn`` (STPN fast weights) or ``tm`` (Tsodyks–Markram)."""

    def __post_init__(self) -> None:
        if self.name not in ZOO_RECURRENT:
            raise ConfigError("agent.name", self.name, f"one of {sorted(ZOO_RECURRENT)}")
        cell, hidden = ZOO_RECURRENT[self.name]
        self.cell = self.cell or cell
        self.hidden = self.hidden or hidden
        if self.cell not in ("stpn", "stpn_snn", "lstm", "rnn"):
            raise ConfigError("agent.cell", self.cell, "stpn, stpn_snn, lstm or rnn")
        if self.algo not in ("a2c", "ppo"):
            raise ConfigError("agent.algo", self.algo, "'a2c' or 'ppo'")
        if self.synapse not in ("stpn", "tm"):
            raise ConfigError("agent.synapse", self.synapse, "'stpn' or 'tm'")
        for k in (
            "hidden",
            "lr",
            "n_steps",
            "grad_clip",
            "n_epochs",
            "minibatches",
            "clip_range",
            "ticks",
            "v_th",
        ):
            check_positive(f"agent.{k}", getattr(self, k))
        check_range("agent.gamma", self.gamma, 0.0, 1.0)
        check_range("agent.gae_lambda", self.gae_lambda, 0.0, 1.0)
        check_range("agent.beta", self.beta, 0.0, 1.0)
        check_positive("agent.value_scale", self.value_scale)
        for k in ("entropy_coef", "value_coef"):
            if getattr(self, k) < 0:
                raise ConfigError(f"agent.{k}", getattr(self, k), "a value >= 0")
        if self.clamp is not None:
            check_positive("agent.clamp", self.clamp)


class RecurrentAgent(DeepAgent):
    """Torso → recurrent cell → heads, trained by :class:`RecurrentActorCritic`."""

    def __init__(
        self, cfg: RecurrentAgentConfig, env: EnvInfo, device: torch.device | str = "cpu"
    ) -> None:
        super().__init__(cfg, env, device)
        space = env.action_space
        if isinstance(space, gym.spaces.Discrete):
            self.box, n_act = False, int(space.n)
            self.act_low = self.act_high = None
        elif isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
            self.box, n_act = True, int(space.shape[0])
            self.act_low = torch.as_tensor(space.low, dtype=torch.float32, device=self.device)
            self.act_high = torch.as_tensor(space.high, dtype=torch.float32, device=self.device)
        else:
            raise Unsupported(
                "env", str(space), f"a Discrete or 1-d Box action space for agent={cfg.name}"
            )
        shape = tuple(env.observation_space.shape or ())
        if len(shape) not in (1, 3):
            raise Unsupported(
                "env",
                str(env.observation_space),
                f"a flat or [C, H, W] observation for agent={cfg.name}",
            )
        self.n_act = n_act
        self._build(seed=0)

    def _build(self, seed: int) -> None:
        from snnrl.networks.recurrent import ObsTorso, RecurrentPolicyNet, make_cell

        c, env = self.cfg, self.env_info
        # the cells initialise from torch's global generator: seed it without leaving a trace
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            torso = ObsTorso(tuple(env.observation_space.shape), env.obs_low, env.obs_high)
            cell = make_cell(
                c.cell,
                torso.out_dim,
                c.hidden,
                {
                    "clamp": c.clamp,
                    "row_norm": c.row_norm,
                    "ticks": c.ticks,
                    "beta": c.beta,
                    "v_th": c.v_th,
                    "synapse": c.synapse,
                },
            )
            self.net = RecurrentPolicyNet(torso, cell, self.n_act, self.box).to(self.device)

    def fit(
        self,
        env: BatchedEnv,
        total_steps: int,
        seed: int,
        log: LogFn,
        log_every: int,
        run_dir: Path,
    ) -> int:
        """Build the network from ``seed`` and train it (A2C or PPO, BPTT through time)."""
        from snnrl.learners.recurrent import RecurrentActorCritic, RecurrentLearnerConfig

        c = self.cfg
        self._build(seed)
        # the learner's hyper-parameters are the agent config's fields of the same names
        lc = RecurrentLearnerConfig(**{f.name: getattr(c, f.name)
                                       for f in fields(RecurrentLearnerConfig)})
        learner = RecurrentActorCritic(lc, self.net, env, seed, self.act_low, self.act_high)
        return learner.train(total_steps, log, log_every)

    def initial_state(self, batch: int) -> tuple[Tensor, ...]:
        """The cell's state at an episode's start (zeros; STPN: ``F = 0``)."""
        return self.net.initial_state(batch, self.device)

    @torch.no_grad()
    def policy_act(
        self, obs: Tensor, state: Any, episode_start: Tensor, deterministic: bool = True
    ) -> tuple[Tensor, Any]:
        """One step of the frozen policy; the cell state is reset where ``episode_start``.

        Deterministic: the argmax of the logits or the Gaussian mean; otherwise a sample (from
        torch's global generator).
        """
        from snnrl.networks.recurrent import reset_state

        state = reset_state(state, self.initial_state(obs.shape[0]), episode_start)
        out, _, state = self.net(obs, state)
        if not self.box:
            if deterministic:
                return out.argmax(-1), state
            return torch.distributions.Categorical(logits=out).sample(), state
        a = out if deterministic else out + self.net.log_std.exp() * torch.randn_like(out)
        assert self.act_low is not None and self.act_high is not None
        return self.act_low + (a.clamp(-1, 1) + 1) * 0.5 * (self.act_high - self.act_low), state

    def save(self, path: Path) -> None:
        """The network's ``state_dict`` (CPU tensors)."""
        torch.save({k: v.detach().cpu() for k, v in self.net.state_dict().items()}, path)

    def load(self, path: Path) -> None:
        """Read what :meth:`save` wrote (``weights_only=True``)."""
        sd = torch.load(path, map_location=self.device, weights_only=True)
        self.net.load_state_dict(sd)

    def op_counter(self) -> Any:
        """Counter of the frozen network's operations (:mod:`snnrl.networks.op_counter`).

        Placement: the observation scaling (flat observations) and the value head (the critic,
        evaluated at every step by this network) on the host; the image torso, the cell and the
        policy head on the chip. The STPN cells are plastic (fast weights, TM efficacies) and
        count themselves; ``stpn_snn`` is the only spiking one (LIF, ``ticks`` per step). Graded
        inputs (an ANN layer, or the observation features a spiking cell receives as current)
        make a chip layer ``graded``, which binary-spike chips refuse (snnrl/energy/model.py).
        """
        from torch import nn

        from snnrl.networks.op_counter import LayerPlan, OpCounter

        net, c = self.net, self.cfg
        plan: dict[str, LayerPlan] = {}
        if not net.torso.image:
            plan["torso"] = LayerPlan("affine", placement="host", graded=True)
        for name, m in net.torso.named_modules():
            if isinstance(m, nn.Linear | nn.Conv2d):
                kind = "linear" if isinstance(m, nn.Linear) else "conv"
                plan[f"torso.{name}"] = LayerPlan(kind)
        n_pre = net.torso.out_dim + c.hidden
        if c.cell == "lstm":
            plan["cell.cell"] = LayerPlan("lstm_cell")
        elif c.cell == "rnn":
            plan["cell.cell"] = LayerPlan("rnn_cell")
        else:
            plan["cell"] = LayerPlan("self", spiking=c.cell == "stpn_snn", plastic=True,
                                     neurons=c.hidden, fan_in=n_pre)
        plan["pi"] = LayerPlan("linear")
        plan["v"] = LayerPlan("linear", placement="host")
        return OpCounter(net, plan)

    @property
    def n_params(self) -> int:
        """Trainable parameters (torso, cell, heads, ``log_std``)."""
        return sum(p.numel() for p in self.net.parameters())
