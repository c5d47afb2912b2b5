#!/usr/bin/env python3
"""Time to solve cart-pole: ES-meta-learned plastic networks against tuned SB3 PPO.

Two kinds of arm, run one after the other in one process, seed by seed:

- ``es:abcd_snn`` / ``es:abcd_ann``: :class:`snnrl.learners.es.ESLearner` (OpenAI-ES, defaults
  of ``conf/learner/es.yaml``: popsize 64, sigma 0.05, Adam lr 0.03, centred ranks, antithetic)
  over a :class:`snnrl.agents.plastic.PlasticAgent` configured by ``conf/agent/abcd_*.yaml``
  (ABCD rule, 32 hidden units, LIF or tanh; ``--set NAME.KEY=VALUE`` overrides a value) on the
  native batched :class:`snnrl.envs.TorchCartPole` (Gymnasium ``CartPole-v1`` dynamics) with
  the encoder ranges of ``conf/env/cartpole.yaml``; one generation is
  ``popsize x envs_per_candidate`` lifetimes of ``--lifetime`` steps.
- ``ppo``: Stable-Baselines3 PPO with the tuned ``CartPole-v1`` entry of rl-baselines3-zoo's
  ``hyperparams/ppo.yml`` (8 envs, 1e5 steps, MlpPolicy, n_steps 32, batch 256, GAE 0.8,
  gamma 0.98, 20 epochs, no entropy bonus, lr and clip range linearly annealed from 1e-3 and 0.2
  over the 1e5 steps) on Gymnasium's ``CartPole-v1``.

What is measured per seed: the training wall-clock and the env steps until the agent's
evaluation score first reaches ``--threshold`` (475). Evaluation time is *excluded* from the
clock of both arms (it is reported beside it); env steps are training steps only.

- PPO score: mean return of the deterministic policy over ``--eval-episodes`` (10) episodes of
  Gymnasium ``CartPole-v1`` (10 envs in a ``DummyVecEnv``, one episode each, fresh seeds),
  checked every ``--ppo-eval-every`` (2,048) env steps, after the policy update.
- ES score: the search centre (``agent.set_theta(center)``, P = 1) lives ``--eval-episodes``
  fresh lifetimes of ``--eval-lifetime`` (500) steps, plasticity on; the score is the mean of their
  :func:`snnrl.learners.fitness.lifetime_fitness` (reward / episodes begun = mean episode
  return in the lifetime), checked after every generation.

Failure (counted as never reaching the threshold): PPO at the zoo's budget (1e5 steps); ES after
``--es-max-seconds`` of training or ``--es-max-steps`` env steps. Medians over seeds count a
failure as infinitely slow.

For each ES run that reaches the threshold the solved centre is also scored (untimed) with its
plasticity switched off (the control: same initial weights, rule off) and on Gymnasium's own
``CartPole-v1`` through :class:`snnrl.envs.GymAdapter`.

Also reported: ES throughput (lifetimes/s and env steps/s) of one generation, timed after one
warm-up generation, at ``--throughput-popsizes`` for both agents.

    python benchmarks/es_vs_ppo.py --threads 1 --seeds 1,2,3,4,5 --out /tmp/es_vs_ppo.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

import torch
from omegaconf import OmegaConf

from snnrl.agents import EnvInfo, make_agent
from snnrl.agents.plastic import PlasticAgent, PlasticAgentConfig
from snnrl.cli.app import conf_dir
from snnrl.envs import GymAdapter, TorchCartPole
from snnrl.learners.config import ESConfig
from snnrl.learners.es import ESLearner
from snnrl.learners.fitness import lifetime_fitness
from snnrl.seeding import derive_seed

# rl-baselines3-zoo hyperparams/ppo.yml, CartPole-v1 (marked "# Tuned"; read at commit 00128b5d)
ZOO_PPO_CARTPOLE: dict[str, Any] = {
    "n_envs": 8,
    "n_timesteps": 100_000,
    "policy": "MlpPolicy",
    "n_steps": 32,
    "batch_size": 256,
    "gae_lambda": 0.8,
    "gamma": 0.98,
    "n_epochs": 20,
    "ent_coef": 0.0,
    "learning_rate": "lin_0.001",
    "clip_range": "lin_0.2",
}

AGENT_NEURON = {"abcd_snn": "lif", "abcd_ann": "rate"}


# ---------------------------------------------------------------------------------------------
# ES arm
# ---------------------------------------------------------------------------------------------


def load_conf(group: str, name: str) -> dict[str, Any]:
    """``conf/<group>/<name>.yaml`` as a dict, without its Hydra ``defaults`` list."""
    d = OmegaConf.to_container(OmegaConf.load(conf_dir() / group / f"{name}.yaml"))
    assert isinstance(d, dict)
    d.pop("defaults", None)
    return d


def parse_overrides(items: list[str]) -> dict[str, dict[str, float]]:
    """``NAME.KEY=VALUE`` (e.g. ``abcd_snn.init_gain=1.0``) → {NAME: {KEY: float(VALUE)}}."""
    defaults = PlasticAgentConfig()
    fields = {
        f.name
        for f in dataclasses.fields(PlasticAgentConfig)
        if type(getattr(defaults, f.name)) in (int, float)
    }
    out: dict[str, dict[str, float]] = {}
    for item in items:
        try:
            lhs, value = item.split("=", 1)
            name, key = lhs.split(".", 1)
            val = float(value)
        except ValueError:
            raise SystemExit(
                f"--set {item!r}: expected NAME.KEY=NUMBER, e.g. abcd_snn.init_gain=1.0"
            ) from None
        if name not in AGENT_NEURON or key not in fields:
            raise SystemExit(
                f"--set {item!r}: NAME must be one of {sorted(AGENT_NEURON)} and "
                f"KEY a numeric field of PlasticAgentConfig"
            )
        if isinstance(getattr(defaults, key), int):
            if val != int(val):
                raise SystemExit(f"--set {item!r}: {key} must be an integer")
            val = int(val)
        out.setdefault(name, {})[key] = val
    return out


def make_plastic(
    name: str, num_envs: int, overrides: dict[str, dict[str, float]]
) -> tuple[PlasticAgent, Any]:
    """Agent ``name`` as ``conf/agent/<name>.yaml`` defines it (``overrides[name]`` applied),
    on ``num_envs`` native cart-poles with the encoder ranges of ``conf/env/cartpole.yaml``."""
    cfg = PlasticAgentConfig(**(load_conf("agent", name) | overrides.get(name, {})))
    env_conf = load_conf("env", "cartpole")
    env = TorchCartPole(num_envs=num_envs, max_episode_steps=env_conf["max_episode_steps"])
    info = EnvInfo(
        env.single_observation_space,
        env.single_action_space,
        tuple(env_conf["obs_low"]),
        tuple(env_conf["obs_high"]),
    )
    agent = make_agent(cfg, info)
    assert isinstance(agent, PlasticAgent)
    return agent, env


def score_centre(
    agent: PlasticAgent, center: torch.Tensor, env: Any, lifetime: int, seed: int, plastic=True
) -> float:
    """Mean lifetime fitness of ``center`` over ``env.num_envs`` fresh lifetimes."""
    agent.set_theta(center)
    was = agent.plastic
    agent.plastic = plastic
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        f = lifetime_fitness(agent, env, lifetime, gen, env_seed=seed)
    agent.plastic = was
    return float(f.mean())


def run_es(name: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One ES run to the threshold (or the time/step limit)."""
    t_start = time.perf_counter()
    agent, env = make_plastic(name, args.popsize * args.envs_per_candidate, args.overrides)
    cfg = ESConfig(
        **(
            load_conf("learner", "es")
            | {"popsize": args.popsize, "sigma": args.sigma, "lr": args.lr}
        )
    )
    es = ESLearner(cfg, agent, env, args.lifetime, args.envs_per_candidate, seed=seed)
    eval_env = TorchCartPole(num_envs=args.eval_episodes)
    steps_per_gen = args.popsize * args.envs_per_candidate * args.lifetime
    eval_s = 0.0
    steps = 0
    history: list[tuple[int, float, float]] = []
    solved = None
    while True:
        es.step()
        steps += steps_per_gen
        train_s = time.perf_counter() - t_start - eval_s
        t_eval = time.perf_counter()
        score = score_centre(
            agent,
            es.center,
            eval_env,
            args.eval_lifetime,
            derive_seed(seed, "bench/eval", es.generation),
        )
        eval_s += time.perf_counter() - t_eval
        history.append((steps, round(train_s, 3), round(score, 1)))
        if score >= args.threshold:
            solved = {"steps": steps, "train_s": train_s, "score": score}
            break
        if train_s >= args.es_max_seconds or steps >= args.es_max_steps:
            break
    row: dict[str, Any] = {
        "arm": f"es:{name}",
        "seed": seed,
        "solved": solved is not None,
        "steps": solved["steps"] if solved else None,
        "train_s": solved["train_s"] if solved else None,
        "train_plus_eval_s": (solved["train_s"] + eval_s) if solved else None,
        "eval_s": eval_s,
        "generations": es.generation,
        "steps_run": steps,
        "train_s_run": history[-1][1],
        "final_score": history[-1][2],
        "history": history,
    }
    if solved:
        check = derive_seed(seed, "bench/check")
        row["score_plasticity_off"] = score_centre(
            agent, es.center, eval_env, args.eval_lifetime, check, plastic=False
        )
        row["score_plasticity_on_recheck"] = score_centre(
            agent, es.center, eval_env, args.eval_lifetime, check
        )
        gym_env = GymAdapter("CartPole-v1", num_envs=args.eval_episodes)
        row["score_gymnasium_env"] = score_centre(
            agent, es.center, gym_env, args.eval_lifetime, check
        )
        gym_env.close()
    return row


def es_throughput(name: str, popsize: int, args: argparse.Namespace) -> dict[str, Any]:
    """Lifetimes/s and env steps/s of one generation after a warm-up generation."""
    agent, env = make_plastic(name, popsize * args.envs_per_candidate, args.overrides)
    es = ESLearner(
        ESConfig(popsize=popsize, sigma=args.sigma, lr=args.lr),
        agent,
        env,
        args.lifetime,
        args.envs_per_candidate,
        seed=0,
    )
    es.step()  # warm-up
    t0 = time.perf_counter()
    es.step()
    dt = time.perf_counter() - t0
    lifetimes = popsize * args.envs_per_candidate
    return {
        "agent": name,
        "popsize": popsize,
        "envs_per_candidate": args.envs_per_candidate,
        "lifetime": args.lifetime,
        "generation_s": dt,
        "lifetimes_per_s": lifetimes / dt,
        "env_steps_per_s": lifetimes * args.lifetime / dt,
        "n_meta": agent.n_meta,
        "n_synapses": agent.n_synapses,
    }


# ---------------------------------------------------------------------------------------------
# PPO arm
# ---------------------------------------------------------------------------------------------


def linear(v: float):
    """rl-zoo's ``lin_<v>``: ``progress_remaining * v`` (1 at the start, 0 at the budget's end)."""
    return lambda progress_remaining: progress_remaining * v


def make_ppo(seed: int):
    """PPO with the zoo's tuned CartPole-v1 hyper-parameters on 8 Gymnasium envs."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    z = ZOO_PPO_CARTPOLE
    env = make_vec_env("CartPole-v1", n_envs=z["n_envs"], seed=seed)
    model = PPO(
        z["policy"],
        env,
        n_steps=z["n_steps"],
        batch_size=z["batch_size"],
        gae_lambda=z["gae_lambda"],
        gamma=z["gamma"],
        n_epochs=z["n_epochs"],
        ent_coef=z["ent_coef"],
        learning_rate=linear(1e-3),
        clip_range=linear(0.2),
        seed=seed,
        device="cpu",
        verbose=0,
    )
    return model


def run_ppo(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One PPO run to the threshold (or the zoo's 1e5-step budget)."""
    import gymnasium as gym
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    eval_env = DummyVecEnv([lambda: Monitor(gym.make("CartPole-v1"))] * args.eval_episodes)
    state: dict[str, Any] = {"eval_s": 0.0, "history": [], "solved": None, "stop": False}

    class ThresholdCallback(BaseCallback):
        """Evaluates after each policy update that completes ``--ppo-eval-every`` steps."""

        def evaluate(self) -> None:
            n = self.num_timesteps
            train_s = time.perf_counter() - t_start - state["eval_s"]
            t_eval = time.perf_counter()
            eval_env.seed(derive_seed(seed, "bench/eval", n) % 2**31)
            mean, _ = evaluate_policy(
                self.model, eval_env, n_eval_episodes=args.eval_episodes, deterministic=True
            )
            state["eval_s"] += time.perf_counter() - t_eval
            state["history"].append((n, round(train_s, 3), round(float(mean), 1)))
            if mean >= args.threshold and state["solved"] is None:
                state["solved"] = {"steps": n, "train_s": train_s, "score": float(mean)}
                state["stop"] = True

        def _on_rollout_start(self) -> None:  # the previous rollout's update is done
            n = self.num_timesteps
            if n and n % args.ppo_eval_every == 0:
                self.evaluate()

        def _on_training_end(self) -> None:  # the budget's last update
            if state["solved"] is None and (
                not state["history"] or state["history"][-1][0] != self.num_timesteps
            ):
                self.evaluate()

        def _on_step(self) -> bool:
            return not state["stop"]

    t_start = time.perf_counter()
    model = make_ppo(seed)
    model.learn(total_timesteps=int(args.ppo_max_steps), callback=ThresholdCallback())
    total = time.perf_counter() - t_start
    model.get_env().close()
    eval_env.close()
    solved, hist = state["solved"], state["history"]
    return {
        "arm": "ppo",
        "seed": seed,
        "solved": solved is not None,
        "steps": solved["steps"] if solved else None,
        "train_s": solved["train_s"] if solved else None,
        "train_plus_eval_s": (solved["train_s"] + state["eval_s"]) if solved else None,
        "eval_s": state["eval_s"],
        "steps_run": model.num_timesteps,
        "train_s_run": total - state["eval_s"],
        "final_score": hist[-1][2] if hist else None,
        "history": hist,
    }


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def median_inf(xs: list[float | None]) -> float:
    """Median with failures (None) counted as infinitely slow."""
    return statistics.median([math.inf if x is None else x for x in xs])


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-arm medians over seeds and success rates."""
    out: dict[str, Any] = {}
    for arm in dict.fromkeys(r["arm"] for r in rows):
        rs = [r for r in rows if r["arm"] == arm]
        out[arm] = {
            "seeds": [r["seed"] for r in rs],
            "success_rate": sum(r["solved"] for r in rs) / len(rs),
            "median_train_s": median_inf([r["train_s"] for r in rs]),
            "median_train_plus_eval_s": median_inf([r["train_plus_eval_s"] for r in rs]),
            "median_steps": median_inf([r["steps"] for r in rs]),
        }
    if "ppo" in out:
        p = out["ppo"]
        for arm, s in out.items():
            if arm == "ppo":
                continue
            for key, num, den in (
                ("speedup_vs_ppo_wallclock", "median_train_s", "median_train_s"),
                (
                    "speedup_vs_ppo_wallclock_incl_eval",
                    "median_train_plus_eval_s",
                    "median_train_plus_eval_s",
                ),
                ("ppo_steps_over_es_steps", "median_steps", "median_steps"),
            ):
                ok = math.isfinite(p[num]) and math.isfinite(s[den])
                s[key] = p[num] / s[den] if ok else None  # None: a median is "not reached"
    return out


def json_safe(x: Any) -> Any:
    """Infinite medians ("not reached") as null, so the file is strict JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    return x


def fmt(x: float | None, spec: str, fail: str = "—") -> str:
    if x is None or (isinstance(x, float) and math.isinf(x)):
        return fail
    return format(x, spec)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.strip().startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def git_commit() -> tuple[str, bool]:
    """Short HEAD and whether the working tree has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        return head, dirty
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def versions() -> dict[str, str]:
    import evotorch
    import gymnasium
    import stable_baselines3

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "gymnasium": gymnasium.__version__,
        "evotorch": evotorch.__version__,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds (reported: 1-5)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (both arms)")
    ap.add_argument("--agents", default="abcd_snn,abcd_ann", help="ES arms: abcd_snn, abcd_ann")
    ap.add_argument("--skip-ppo", action="store_true")
    ap.add_argument("--threshold", type=float, default=475.0)
    ap.add_argument(
        "--eval-episodes", type=int, default=10, help="PPO: episodes; ES: lifetimes of the centre"
    )
    es_conf = load_conf("learner", "es")
    ap.add_argument(
        "--popsize", type=int, default=es_conf["popsize"], help="default: conf/learner/es.yaml"
    )
    ap.add_argument("--sigma", type=float, default=es_conf["sigma"])
    ap.add_argument("--lr", type=float, default=es_conf["lr"], help="Adam step on the centre")
    ap.add_argument(
        "--lifetime", type=int, default=500, help="env steps per training lifetime (ES generations)"
    )
    ap.add_argument(
        "--eval-lifetime",
        type=int,
        default=500,
        help="env steps per evaluation lifetime of the ES centre (the score)",
    )
    ap.add_argument("--envs-per-candidate", type=int, default=1)
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME.KEY=VALUE",
        help="override an agent config value, e.g. abcd_snn.init_gain=1.0 "
        "(repeatable; default: the zoo configs)",
    )
    ap.add_argument("--es-max-seconds", type=float, default=60.0, help="ES training time limit")
    ap.add_argument("--es-max-steps", type=float, default=3e6, help="ES env-step limit")
    ap.add_argument(
        "--ppo-max-steps",
        type=float,
        default=ZOO_PPO_CARTPOLE["n_timesteps"],
        help="PPO budget (the zoo's n_timesteps; sets the lr/clip annealing)",
    )
    ap.add_argument(
        "--ppo-eval-every",
        type=int,
        default=2048,
        help="PPO evaluation interval in env steps (a multiple of 256)",
    )
    ap.add_argument(
        "--throughput-popsizes",
        default="64,256",
        help="comma-separated popsizes for the ES throughput table ('' to skip)",
    )
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
        tp_pops = [int(p) for p in args.throughput_popsizes.split(",") if p]
    except ValueError:
        ap.error("--seeds and --throughput-popsizes: expected comma-separated integers")
    agents = [a for a in args.agents.split(",") if a]
    for a in agents:
        if a not in AGENT_NEURON:
            ap.error(f"--agents: {a!r} is not one of {sorted(AGENT_NEURON)}")
    rollout = ZOO_PPO_CARTPOLE["n_envs"] * ZOO_PPO_CARTPOLE["n_steps"]
    if args.ppo_eval_every <= 0 or args.ppo_eval_every % rollout:
        ap.error(f"--ppo-eval-every: expected a positive multiple of {rollout} (one rollout)")
    if args.popsize <= 0 or args.popsize % 2 or any(p <= 0 or p % 2 for p in tp_pops):
        ap.error("--popsize and --throughput-popsizes: expected positive even numbers")

    args.overrides = parse_overrides(args.set)
    torch.set_num_threads(args.threads)
    commit, dirty = git_commit()
    meta: dict[str, Any] = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "commit": commit,
        "uncommitted_changes": dirty,
        "loadavg_start": loadavg(),
        **versions(),
        "args": vars(args),
        "zoo_ppo_cartpole": ZOO_PPO_CARTPOLE,
        "clock": "training wall-clock; evaluation time excluded (reported separately)",
    }
    for k in ("cpu", "cpus", "threads", "commit", "uncommitted_changes", "loadavg_start"):
        print(f"{k}: {meta[k]}")

    # warm-up: one-off import / lazy-initialisation costs stay out of every seed's clock
    if not args.skip_ppo:
        make_ppo(0).learn(total_timesteps=rollout)
    for a in agents:
        agent, env = make_plastic(a, 2, args.overrides)
        ESLearner(ESConfig(popsize=2), agent, env, 5, 1, seed=0).step()

    rows: list[dict[str, Any]] = []
    for seed in seeds:
        if not args.skip_ppo:
            rows.append(run_ppo(seed, args))
        for a in agents:
            rows.append(run_es(a, seed, args))
        for r in rows[-(len(agents) + (not args.skip_ppo)) :]:
            extra = ""
            if "score_plasticity_off" in r:
                extra = (
                    f" | plasticity off {r['score_plasticity_off']:.1f}, on Gymnasium env "
                    f"{r['score_gymnasium_env']:.1f}"
                )
            print(
                f"  seed {seed} {r['arm']:12s} solved={r['solved']!s:5s} "
                f"steps={fmt(r['steps'], ',')} train_s={fmt(r['train_s'], '.2f')} "
                f"eval_s={r['eval_s']:.2f} final score={r['final_score']}{extra}",
                flush=True,
            )

    throughput = [es_throughput(a, p, args) for a in agents for p in tp_pops]
    meta["loadavg_end"] = loadavg()
    meta["commit_end"], meta["uncommitted_changes_end"] = git_commit()
    meta["agent_configs"] = {
        a: dataclasses.asdict(make_plastic(a, 1, args.overrides)[0].cfg) for a in agents
    }
    summary = summarise(rows)

    print()
    print(
        "| arm | success | median s to 475 (train) | median s incl. eval | median env steps |"
        " speed-up vs PPO (wall-clock) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for arm, s in summary.items():
        sp = s.get("speedup_vs_ppo_wallclock")
        print(
            f"| {arm} | {s['success_rate']:.0%} | {fmt(s['median_train_s'], '.2f', 'n/r')} | "
            f"{fmt(s['median_train_plus_eval_s'], '.2f', 'n/r')} | "
            f"{fmt(s['median_steps'], ',.0f', 'n/r')} | "
            f"{fmt(sp, '.2f') + '×' if sp is not None else '—'} |"
        )
    print()
    print(
        "| seed | arm | reached 475 | s (train) | s incl. eval | env steps | "
        "score plasticity off | score on Gymnasium env |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["arm"], r["seed"])):
        print(
            f"| {r['seed']} | {r['arm']} | {'yes' if r['solved'] else 'no'} | "
            f"{fmt(r['train_s'], '.2f', '>' + format(r['train_s_run'], '.0f'))} | "
            f"{fmt(r['train_plus_eval_s'], '.2f')} | "
            f"{fmt(r['steps'], ',', '>' + format(r['steps_run'], ','))} | "
            f"{fmt(r.get('score_plasticity_off'), '.1f')} | "
            f"{fmt(r.get('score_gymnasium_env'), '.1f')} |"
        )
    if throughput:
        print()
        print(
            "| agent | popsize | lifetimes x steps | s / generation | lifetimes/s | env steps/s |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for t in throughput:
            print(
                f"| {t['agent']} | {t['popsize']} | "
                f"{t['popsize'] * t['envs_per_candidate']} x {t['lifetime']} | "
                f"{t['generation_s']:.3f} | {t['lifetimes_per_s']:,.1f} | "
                f"{t['env_steps_per_s']:,.0f} |"
            )
    print(f"\nload average at start: {meta['loadavg_start']}; at end: {meta['loadavg_end']}")
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(
                json_safe(
                    {"meta": meta, "summary": summary, "runs": rows, "throughput": throughput}
                ),
                f,
                indent=2,
                default=str,
            )
        os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
