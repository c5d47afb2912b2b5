r"""Stable-Baselines3 / sb3-contrib baselines as zoo agents (``agent=ppo|a2c|recurrent_ppo|dqn``).

SB3 trains the network on our batched env through :class:`snnrl.envs.sb3_vec.SB3VecEnv`; the
runner then evaluates the frozen policy with :meth:`SB3Agent.policy_act` on torch tensors. The
algorithms are SB3's own, unchanged:

- PPO (Schulman et al. 2017, arXiv 1707.06347): clipped surrogate
  :math:`L = \mathbb{E}_t[\min(r_t \hat A_t,\ \mathrm{clip}(r_t, 1-\epsilon, 1+\epsilon)\hat A_t)]`,
  :math:`r_t = \pi_\theta(a_t|s_t)/\pi_{\theta_\mathrm{old}}(a_t|s_t)`, GAE(:math:`\gamma,\lambda`)
  advantages (Schulman et al. 2016, arXiv 1506.02438), plus value loss and entropy bonus.
- A2C (Mnih et al. 2016, arXiv 1602.01783): :math:`L = -\log\pi(a_t|s_t)\hat A_t
  + c_v (R_t - V(s_t))^2 - c_e H[\pi(\cdot|s_t)]` on ``n_steps`` rollouts, synchronous.
- RecurrentPPO (sb3-contrib): PPO with an LSTM between features and heads, whose state
  :math:`(h, c)` is carried over the episode and zeroed where an episode starts.
- DQN (Mnih et al. 2015, Nature 518:529):
  :math:`L = (r + \gamma (1-d)\max_{a'} Q_{\bar\theta}(s',a') - Q_\theta(s,a))^2` (Huber),
  replay buffer, target network, :math:`\epsilon`-greedy.

Image observations: ALE frames (uint8 84×84) use SB3's NatureCNN (Mnih et al. 2015); MinAtar's
float ``[C, 10, 10]`` frames (below NatureCNN's 36×36 minimum) use :class:`MinAtarCNN`, the network
of Young & Tian 2019 (arXiv 1903.03176): one 3×3 stride-1 conv with 16 filters, ReLU, a 128-unit
linear layer, ReLU. Float frames are not divided by 255.

Weights are saved as ``policy.state_dict()`` with ``torch.save`` and read back with
``weights_only=True`` (never SB3's zip format, which unpickles).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import Tensor, nn

from snnrl.agents.base import EnvInfo
from snnrl.agents.deep import DeepAgent, LogFn
from snnrl.config import ConfigError, Unsupported
from snnrl.envs.protocol import BatchedEnv

ZOO_SB3: dict[str, str] = {
    "ppo": "PPO",
    "a2c": "A2C",
    "recurrent_ppo": "RecurrentPPO",
    "dqn": "DQN",
    "popsan_ppo": "PPO",
}
"""Zoo name → SB3 algorithm (adding a baseline is one line here plus its conf/agent yaml)."""

ALGOS: dict[str, str] = {
    "PPO": "stable_baselines3:PPO",
    "A2C": "stable_baselines3:A2C",
    "DQN": "stable_baselines3:DQN",
    "RecurrentPPO": "sb3_contrib:RecurrentPPO",
}
"""Algorithm name → ``module:Class`` (imported lazily)."""

EXTRA_POLICIES: dict[str, str] = {
    "popsan": "snnrl.networks.popsan:PopSANPolicy",
}
"""Extra ``agent.policy`` names → ``module:Class`` (an SB3 policy class). Only these names are
ever imported: a config never names a Python object directly."""

RUNNER_KEYS = ("env", "seed", "device", "verbose", "tensorboard_log", "policy", "policy_kwargs",
               "_init_setup_model")
"""Constructor arguments the runner (or another config field) sets: not allowed in hyperparams."""

SCHEDULE_KEYS = ("learning_rate", "clip_range")
"""Hyperparameters that accept ``"lin_<v>"``: a linear schedule from ``v`` to 0 (rl-zoo)."""

DQN_MAX_BUFFER = 100_000
"""Largest DQN replay buffer (transitions) a config may ask for."""

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU,
}
"""``policy_kwargs.activation_fn`` names (SB3 wants a class; configs give a name)."""

NATURE_CNN_MIN = 36
"""Smallest frame side NatureCNN accepts; smaller frames use :class:`MinAtarCNN`."""

_LIN = re.compile(r"^lin_([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)$")


def _import(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def algo_class(algo: str) -> type:
    """The SB3 algorithm class named ``algo`` (one of :data:`ALGOS`)."""
    try:
        return _import(ALGOS[algo])
    except KeyError:
        raise ConfigError("agent.algo", algo, f"one of {sorted(ALGOS)}") from None


def linear_schedule(v: float) -> Callable[[float], float]:
    """``progress_remaining -> progress_remaining * v`` (``v`` at the start, 0 at the end)."""
    return lambda progress_remaining: progress_remaining * v


def resolve_hyperparams(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """Constructor kwargs of the algorithm: ``"lin_<v>"`` schedules become callables."""
    out = dict(hyperparams)
    for key in SCHEDULE_KEYS:
        value = out.get(key)
        if isinstance(value, str):
            m = _LIN.match(value)
            if m is None:
                raise ConfigError(f"agent.hyperparams.{key}", value, "a number or 'lin_<number>'")
            out[key] = linear_schedule(float(m.group(1)))
    return out


@dataclass
class SB3AgentConfig:
    """Schema of ``conf/agent/{ppo,a2c,recurrent_ppo,dqn}.yaml``."""

    name: str = "ppo"
    """Zoo name (a key of :data:`ZOO_SB3`)."""
    algo: str = ""
    """``PPO`` | ``A2C`` | ``RecurrentPPO`` | ``DQN``; empty: the zoo name's algorithm."""
    policy: str = "auto"
    """``auto`` (MlpPolicy for flat observations, CnnPolicy for images; the Lstm versions for
    RecurrentPPO), one of the algorithm's SB3 policy names, or a name in
    :data:`EXTRA_POLICIES`."""
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    """Policy constructor arguments (``net_arch``, ``activation_fn`` by name, ...)."""
    hyperparams: dict[str, Any] = field(default_factory=dict)
    """Constructor arguments of the algorithm (SB3's defaults where absent)."""

    def __post_init__(self) -> None:
        if self.name not in ZOO_SB3:
            raise ConfigError("agent.name", self.name, f"one of {sorted(ZOO_SB3)}")
        if not self.algo:
            self.algo = ZOO_SB3[self.name]
        cls = algo_class(self.algo)
        aliases = sorted(getattr(cls, "policy_aliases", {}))
        if self.policy != "auto" and self.policy not in aliases \
                and self.policy not in EXTRA_POLICIES:
            raise ConfigError("agent.policy", self.policy,
                              f"one of {['auto', *aliases, *sorted(EXTRA_POLICIES)]}")
        if self.policy in EXTRA_POLICIES and self.algo == "DQN":
            raise ConfigError("agent.policy", self.policy, f"one of {['auto', *aliases]} for DQN")
        act = self.policy_kwargs.get("activation_fn")
        if act is not None and act not in ACTIVATIONS:
            raise ConfigError("agent.policy_kwargs.activation_fn", act,
                              f"one of {sorted(ACTIVATIONS)}")
        self.hyperparams = dict(self.hyperparams)
        allowed = [p for p in inspect.signature(cls.__init__).parameters
                   if p not in ("self", "args", "kwargs") and p not in RUNNER_KEYS]
        for key, value in self.hyperparams.items():
            if key not in allowed:
                raise ConfigError(f"agent.hyperparams.{key}", value, f"one of {allowed}")
        resolve_hyperparams(self.hyperparams)  # checks "lin_<v>" strings
        if self.algo == "DQN":
            hp = self.hyperparams
            hp.setdefault("buffer_size", DQN_MAX_BUFFER)
            if isinstance(hp["buffer_size"], float) and hp["buffer_size"].is_integer():
                hp["buffer_size"] = int(hp["buffer_size"])  # YAML's 1e5 is a float
            size = hp["buffer_size"]
            if isinstance(size, bool) or not isinstance(size, int) \
                    or not 0 < size <= DQN_MAX_BUFFER:
                raise ConfigError("agent.hyperparams.buffer_size", hp["buffer_size"],
                                  f"a value in [1, {DQN_MAX_BUFFER}]")
            hp.setdefault("optimize_memory_usage", True)
            if hp["optimize_memory_usage"]:
                rb = dict(hp.get("replay_buffer_kwargs") or {})
                rb.setdefault("handle_timeout_termination", False)
                if rb["handle_timeout_termination"]:
                    raise ConfigError(
                        "agent.hyperparams.replay_buffer_kwargs.handle_timeout_termination",
                        True, "false with optimize_memory_usage=true (SB3 supports not both)")
                hp["replay_buffer_kwargs"] = rb


class MinAtarCNN(BaseFeaturesExtractor):
    """Young & Tian 2019's MinAtar body: conv 16@3×3 stride 1, ReLU, flatten, linear 128, ReLU.

    For ``[C, H, W]`` frames smaller than NatureCNN's 36×36; chosen automatically.
    """

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 128,
                 filters: int = 16) -> None:
        super().__init__(observation_space, features_dim)
        c, h, w = observation_space.shape
        self.cnn = nn.Sequential(nn.Conv2d(c, filters, kernel_size=3, stride=1), nn.ReLU(),
                                 nn.Flatten())
        self.linear = nn.Sequential(nn.Linear(filters * (h - 2) * (w - 2), features_dim),
                                    nn.ReLU())

    def forward(self, observations: Tensor) -> Tensor:
        """``[B, C, H, W]`` float frames → ``[B, features_dim]`` features."""
        return self.linear(self.cnn(observations.float()))


def _supported_actions(algo: str) -> tuple[type, ...]:
    if algo == "DQN":
        return (gym.spaces.Discrete,)
    return (gym.spaces.Discrete, gym.spaces.Box, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)


def check_finite(policy: nn.Module) -> None:
    """Raise ``FloatingPointError`` if any parameter of ``policy`` is NaN or infinite."""
    params = [p for p in policy.parameters()]
    if params and not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
        raise FloatingPointError("a policy parameter became NaN/Inf (the run diverged)") from None


class QuietLogger(Logger):
    """An SB3 logger that writes nothing and keeps the latest numeric ``train/*`` values."""

    def __init__(self) -> None:
        super().__init__(folder=None, output_formats=[])
        self.latest: dict[str, float] = {}

    def record(self, key: str, value: Any, exclude: Any = None) -> None:
        """Record as SB3 does; remember numeric ``train/*`` values."""
        super().record(key, value, exclude)
        if key.startswith("train/") and isinstance(value, (int, float, np.number)):
            self.latest[key] = float(value)


class LogCallback(BaseCallback):
    """Logs episode returns and SB3's latest train losses every ``interval`` env steps.

    Raises ``FloatingPointError`` once a policy parameter is non-finite.
    """

    def __init__(self, log: LogFn, interval: int, logger: QuietLogger) -> None:
        super().__init__(verbose=0)
        self.log_fn, self.interval, self.quiet = log, interval, logger
        self.returns: list[float] = []
        self.last = 0

    def _on_step(self) -> bool:
        dones = self.locals.get("dones")
        infos = self.locals.get("infos")
        if dones is not None and infos is not None:
            for i in np.flatnonzero(dones):  # only the envs that finished
                ep = infos[i].get("episode")
                if ep is not None:
                    self.returns.append(float(ep["r"]))
        if self.num_timesteps - self.last >= self.interval:
            self.record()
        return True

    def _on_rollout_end(self) -> None:
        check_finite(self.model.policy)

    def record(self) -> None:
        """Send one metrics record and start a new window of episodes."""
        check_finite(self.model.policy)
        rec: dict[str, Any] = {
            "step": int(self.num_timesteps),
            "train/episode_return": float(np.mean(self.returns)) if self.returns else None,
            "train/episodes": len(self.returns),
        }
        rec.update(self.quiet.latest)
        self.log_fn(rec)
        self.returns = []
        self.last = self.num_timesteps


class SB3Agent(DeepAgent):
    """An SB3 algorithm trained on our batched env; its frozen policy acts on torch tensors.

    The constructor only checks that the algorithm can use the env's spaces (raising
    :class:`~snnrl.config.Unsupported` otherwise); the SB3 model is built in :meth:`fit`, the
    bare policy in :meth:`load` (or on first use).
    """

    def __init__(self, cfg: SB3AgentConfig, env: EnvInfo,
                 device: torch.device | str = "cpu") -> None:
        super().__init__(cfg, env, device)
        self.algo: str = cfg.algo or ZOO_SB3[cfg.name]
        obs_space, act_space = env.observation_space, env.action_space
        if not isinstance(obs_space, gym.spaces.Box):
            raise Unsupported("env.observation_space", str(obs_space),
                              f"a Box observation space for {self.algo}")
        allowed = _supported_actions(self.algo)
        if not isinstance(act_space, allowed):
            raise Unsupported("env.action_space", str(act_space),
                              f"{' or '.join(c.__name__ for c in allowed)} for {self.algo}")
        self.recurrent = self.algo == "RecurrentPPO"
        if cfg.policy.startswith("Cnn") and len(obs_space.shape) != 3:
            raise Unsupported("env.observation_space", str(obs_space),
                              f"image observations [C, H, W] for policy {cfg.policy}")
        self.model: Any = None
        self._policy: Any = None
        self._policy_spec: tuple[str, Any, dict[str, Any]] | None = None

    # -- building -------------------------------------------------------------------------------

    def policy_spec(self) -> tuple[str, Any, dict[str, Any]]:
        """``(policy name, what SB3 gets as policy (alias or class), policy_kwargs)``."""
        if self._policy_spec is not None:
            return self._policy_spec
        obs_space = self.env_info.observation_space
        image = len(obs_space.shape) == 3
        kwargs: dict[str, Any] = {}
        name = self.cfg.policy
        if name == "auto":
            name = ("Cnn" if image else "Mlp") + ("LstmPolicy" if self.recurrent else "Policy")
        if name in EXTRA_POLICIES:
            policy: Any = _import(EXTRA_POLICIES[name])
            label = policy.__name__
            if name == "popsan" and not image and self.env_info.obs_low:
                # the encoder's range: the env's encoder ranges (conf/env), as every snnrl
                # population coder uses; policy_kwargs.obs_low/obs_high override them
                kwargs["obs_low"] = list(self.env_info.obs_low)
                kwargs["obs_high"] = list(self.env_info.obs_high)
        else:
            policy = label = name
            if name.startswith("Cnn"):
                kwargs["normalize_images"] = obs_space.dtype == np.uint8
                if min(obs_space.shape[1:]) < NATURE_CNN_MIN:
                    kwargs["features_extractor_class"] = MinAtarCNN
                    label = f"{name}(MinAtarCNN)"
        user = dict(self.cfg.policy_kwargs)
        if isinstance(user.get("activation_fn"), str):
            user["activation_fn"] = ACTIVATIONS[user["activation_fn"]]
        kwargs.update(user)
        self._policy_spec = (label, policy, kwargs)
        return self._policy_spec

    @property
    def policy_class_name(self) -> str:
        """Name of the policy network (e.g. ``MlpPolicy``, ``CnnPolicy(MinAtarCNN)``)."""
        return self.policy_spec()[0]

    def _build_model(self, venv: Any, seed: int) -> Any:
        cls = algo_class(self.algo)
        _, policy, policy_kwargs = self.policy_spec()
        model = cls(policy, venv, policy_kwargs=dict(policy_kwargs), seed=seed,
                    device=self.device, verbose=0,
                    **resolve_hyperparams(self.cfg.hyperparams))
        model.set_logger(QuietLogger())
        return model

    def _build_policy(self) -> Any:
        """The bare policy (no algorithm) with the architecture :meth:`fit` would build."""
        cls = algo_class(self.algo)
        _, policy, policy_kwargs = self.policy_spec()
        policy_class = cls.policy_aliases[policy] if isinstance(policy, str) else policy
        extra = {} if self.algo == "DQN" else {
            "use_sde": bool(self.cfg.hyperparams.get("use_sde", False))}
        net = policy_class(self.env_info.observation_space, self.env_info.action_space,
                           lambda _: 0.0, **extra, **policy_kwargs)
        return net.to(self.device)

    @property
    def policy(self) -> Any:
        """The SB3 policy (the trained one after :meth:`fit`; built untrained if needed)."""
        if self.model is not None:
            return self.model.policy
        if self._policy is None:
            self._policy = self._build_policy()
        return self._policy

    # -- DeepAgent API --------------------------------------------------------------------------

    def fit(self, env: BatchedEnv, total_steps: int, seed: int, log: LogFn,
            log_every: int, run_dir: Path) -> int:
        """Train with ``model.learn(total_steps)``; see :meth:`DeepAgent.fit`."""
        from snnrl.envs.sb3_vec import SB3VecEnv

        venv = SB3VecEnv(env)
        self.model = self._build_model(venv, seed)
        self._policy = None
        callback = LogCallback(log, max(1, log_every * env.num_envs), self.model.logger)
        try:
            self.model.learn(total_steps, callback=callback, progress_bar=False)
        except ValueError:
            # NaN weights usually surface first as torch.distributions' argument check
            check_finite(self.model.policy)
            raise
        if self.model.num_timesteps > callback.last:
            callback.record()
        check_finite(self.model.policy)
        return int(self.model.num_timesteps)

    def initial_state(self, batch: int) -> Any:
        """None (feed-forward); RecurrentPPO: actor LSTM ``(h, c)``, zeros ``[layers, B, H]``."""
        if not self.recurrent:
            return None
        layers, _, hidden = self.policy.lstm_hidden_state_shape
        z = torch.zeros(layers, batch, hidden, device=self.device)
        return (z, z.clone())

    def policy_act(self, obs: Tensor, state: Any, episode_start: Tensor,
                   deterministic: bool = True) -> tuple[Tensor, Any]:
        """Act on a ``[B, *obs_shape]`` batch; see :meth:`DeepAgent.policy_act`."""
        policy = self.policy
        policy.set_training_mode(False)
        x = obs.to(policy.device)
        with torch.no_grad():
            if self.recurrent:
                if state is None:
                    state = self.initial_state(obs.shape[0])
                starts = episode_start.to(device=policy.device, dtype=torch.float32)
                h, c = (s.to(policy.device) for s in state)
                action, new_state = policy._predict(x, lstm_states=(h, c),
                                                    episode_starts=starts,
                                                    deterministic=deterministic)
                state = (new_state[0], new_state[1])
            else:
                action = policy._predict(x, deterministic=deterministic)
            space = self.env_info.action_space
            if isinstance(space, gym.spaces.Box):
                low = torch.as_tensor(space.low, device=action.device, dtype=action.dtype)
                high = torch.as_tensor(space.high, device=action.device, dtype=action.dtype)
                action = action.reshape(-1, *space.shape)
                if policy.squash_output:
                    action = low + 0.5 * (action + 1.0) * (high - low)
                else:
                    action = torch.clamp(action, low, high)
        return action.to(obs.device), state

    def op_counter(self) -> Any:
        """Counter of the frozen policy's operations (:mod:`snnrl.networks.op_counter`).

        Every Linear, Conv2d and ``nn.LSTM`` of the policy is hooked; only those that run when
        acting are reported (SB3 evaluates no critic in ``_predict``; DQN's target network is
        idle). ANN layers are placed on the chip with graded inputs (so binary-spike chips
        report "does not fit", digital ones price MACs); critic layers, should they run, on the
        host. PopSAN (``policy=popsan``): the LIF layers of the spiking actor are spiking chip
        layers (binary inputs: ACs), its conv layer on image frames stands for ``ticks`` ticks
        of the same input; the actor counts its spikes, encoder and readout (host) itself.
        """
        from snnrl.networks.op_counter import LayerPlan, OpCounter
        from snnrl.networks.popsan import SpikingActor

        policy = self.policy
        plan: dict[str, LayerPlan] = {}
        for name, m in policy.named_modules():
            critic = any(p in name for p in ("value_net", "critic", "vf"))
            placement = "host" if critic else "chip"
            if isinstance(m, SpikingActor):
                plan[name] = LayerPlan("self")
                plan[f"{name}.encoder"] = LayerPlan("info", placement="host", graded=True,
                                                    neurons=0 if m.encoder is None
                                                    else m.encoder.size, fan_in=1)
                plan[f"{name}.readout"] = LayerPlan("info", placement="host",
                                                    neurons=m.n_out, fan_in=m.pop_out)
                for j in range(len(m.layers)):
                    plan[f"{name}.layers.{j}"] = LayerPlan("linear", spiking=True)
                if m.conv is not None:
                    plan[f"{name}.conv"] = LayerPlan("conv", spiking=True, repeat=m.ticks)
            elif name in plan:
                continue
            elif isinstance(m, nn.LSTM):
                plan[name] = LayerPlan("lstm", placement=placement)
            elif isinstance(m, nn.Linear):
                plan[name] = LayerPlan("linear", placement=placement)
            elif isinstance(m, nn.Conv2d):
                plan[name] = LayerPlan("conv", placement=placement)
        return OpCounter(policy, plan)

    def save(self, path: Path) -> None:
        """``torch.save(policy.state_dict(), path)``."""
        torch.save(self.policy.state_dict(), Path(path))

    def load(self, path: Path) -> None:
        """Load what :meth:`save` wrote (``weights_only=True``) into the policy."""
        sd = torch.load(Path(path), map_location=self.device, weights_only=True)
        self.policy.load_state_dict(sd)

    @property
    def n_params(self) -> int:
        """Trainable parameters (DQN: the online Q-network, not its target copy)."""
        net = self.policy.q_net if self.algo == "DQN" else self.policy
        return sum(p.numel() for p in net.parameters() if p.requires_grad)
