"""Stable-Baselines3 PPO (memoryless MLP policy) on ``snnrl/Maze-v0``, several seeds.

    python scripts/sb3_ppo_maze.py [--steps 300000] [--seeds 1 2 3] [--size 9] [--n-envs 8]

The env is used as registered (``gym.make("snnrl/Maze-v0", size=...)``: 200-step episodes,
``TimeLimit`` truncation) in SB3's ``make_vec_env`` (a ``DummyVecEnv`` of ``--n-envs`` envs with
``Monitor``), torch on one thread, seeds run one after another. PPO settings: SB3 defaults except
``n_steps=256`` per env (2,048 transitions per update), ``batch_size=256``, ``gamma=0.9`` (the
discount of the reference A2C) and ``ent_coef=0.01``.

Reported per seed: the mean return of the last 100 training episodes, and the mean return over
``--eval-episodes`` fresh episodes with ``evaluate_policy`` sampling actions from the policy
(``deterministic=False``, the headline figure: the task is a search, and a memoryless policy's
randomness is part of how it searches), and the greedy (``deterministic=True``) figure beside it;
each also normalised as ``(R - random) / (oracle - random)`` with the references of
``scripts/maze_references.py``. A memoryless policy cannot remember where the reward cell is,
so expect it far below the oracle: this is the baseline that agents with memory or plasticity
must beat.
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import torch

from snnrl.envs.maze import register_maze

# mean reward per 200-step episode, measured by scripts/maze_references.py (40,960 episodes)
REFERENCES = {9: (14.37, 415.70), 11: (7.64, 323.80), 13: (5.33, 268.99)}


def normalised(ret: float, size: int) -> float:
    """``(ret - random) / (oracle - random)``."""
    lo, hi = REFERENCES[size]
    return (ret - lo) / (hi - lo)


def run_seed(seed: int, a: argparse.Namespace) -> dict[str, float]:
    """Train PPO on one seed and evaluate it."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    env_kwargs = {"size": a.size, "render_mode": None}  # SB3 would ask for rgb_array
    t0 = time.perf_counter()
    venv = make_vec_env("snnrl/Maze-v0", n_envs=a.n_envs, seed=seed, env_kwargs=env_kwargs)
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=256,
        batch_size=256,
        gamma=0.9,
        ent_coef=0.01,
        seed=seed,
        device="cpu",
        verbose=0,
    )
    model.learn(total_timesteps=a.steps)
    train_s = time.perf_counter() - t0
    last = [ep["r"] for ep in model.ep_info_buffer]
    out = {"seed": seed, "train_last100": float(np.mean(last)), "train_s": train_s}
    for det in (False, True):
        eval_env = make_vec_env(
            "snnrl/Maze-v0", n_envs=1, seed=10_000 + seed, env_kwargs=env_kwargs
        )
        rets, _ = evaluate_policy(
            model,
            eval_env,
            n_eval_episodes=a.eval_episodes,
            deterministic=det,
            return_episode_rewards=True,
        )
        out["eval_greedy" if det else "eval"] = float(np.mean(rets))
        eval_env.close()
    venv.close()
    out["wall_s"] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300_000, help="env steps per seed")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--size", type=int, default=9, choices=sorted(REFERENCES))
    ap.add_argument("--n-envs", type=int, default=8)
    ap.add_argument("--eval-episodes", type=int, default=100)
    a = ap.parse_args()
    torch.set_num_threads(1)
    register_maze()
    assert "snnrl/Maze-v0" in gym.registry
    lo, hi = REFERENCES[a.size]
    print(
        f"PPO MlpPolicy on snnrl/Maze-v0 size {a.size}: {a.steps} env steps per seed, "
        f"{a.n_envs} envs, eval {a.eval_episodes} episodes; references random {lo}, oracle {hi}",
        flush=True,
    )
    rows = []
    for seed in a.seeds:
        r = run_seed(seed, a)
        rows.append(r)
        print(
            f"seed {seed}: train last-100 {r['train_last100']:.2f}, eval (stochastic) "
            f"{r['eval']:.2f}, eval (greedy) {r['eval_greedy']:.2f}, {r['wall_s']:.0f} s",
            flush=True,
        )
    print()
    print(
        "| seed | train: last 100 episodes | eval, stochastic | normalised | eval, greedy "
        "| normalised | wall time |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['seed']} | {r['train_last100']:.2f} | {r['eval']:.2f} "
            f"| {normalised(r['eval'], a.size):.3f} | {r['eval_greedy']:.2f} "
            f"| {normalised(r['eval_greedy'], a.size):.3f} | {r['wall_s']:.0f} s |"
        )
    if len(rows) > 1:
        m = {
            k: statistics.mean(r[k] for r in rows) for k in ("train_last100", "eval", "eval_greedy")
        }
        print(
            f"| **mean** | **{m['train_last100']:.2f}** | **{m['eval']:.2f}** "
            f"| **{normalised(m['eval'], a.size):.3f}** | **{m['eval_greedy']:.2f}** "
            f"| **{normalised(m['eval_greedy'], a.size):.3f}** | |"
        )


if __name__ == "__main__":
    main()
