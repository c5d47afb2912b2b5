"""Time one A2C update of each recurrent zoo agent on the maze (rollout + BPTT + Adam step).

    python benchmarks/recurrent_update.py --device cpu --envs 16 --window 25 --threads 1
    python benchmarks/recurrent_update.py --device cuda --envs 512 --window 200   # paper scale

Prints seconds per update, env steps per second and (CUDA) peak memory per agent. The maze is
the batched native env (`snnrl/envs/maze.py`); the update is the learner's own
(`RecurrentActorCritic.update`), so the figure is what `snnrl train` pays per update.
"""

from __future__ import annotations

import argparse
import time

import torch
from hydra import compose, initialize_config_dir

from snnrl.agents.base import EnvInfo
from snnrl.agents.recurrent import RecurrentAgent
from snnrl.cli.app import conf_dir
from snnrl.config import register_schemas, to_objects
from snnrl.envs import make_env
from snnrl.learners.recurrent import RecurrentActorCritic, RecurrentLearnerConfig


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--envs", type=int, default=16)
    p.add_argument("--window", type=int, default=25)
    p.add_argument("--updates", type=int, default=5, help="timed updates (after one warm-up)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--agents", default="rnn,lstm,stpn,stpn_snn")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    register_schemas()
    print(f"device {dev}, {args.envs} envs x {args.window}-step window, "
          f"{torch.get_num_threads()} thread(s)")
    print("| agent | parameters | s / update | env steps / s | peak memory |")
    print("|---|---:|---:|---:|---:|")
    for name in args.agents.split(","):
        with initialize_config_dir(str(conf_dir()), version_base="1.3"):
            c = to_objects(compose("train", overrides=[f"agent={name}", "env=maze"]))
        env = make_env(c.env, args.envs, dev)
        info = EnvInfo(env.single_observation_space, env.single_action_space,
                       tuple(c.env.obs_low), tuple(c.env.obs_high))
        agent = RecurrentAgent(c.agent, info, dev)
        lc = RecurrentLearnerConfig(n_steps=args.window, lr=c.agent.lr, gamma=0.9)
        learner = RecurrentActorCritic(lc, agent.net, env, seed=0)
        learner.update()  # warm-up
        if dev.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for _ in range(args.updates):
            learner.update()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        dt = (time.perf_counter() - t0) / args.updates
        mem = (f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if dev.type == "cuda"
               else "—")
        print(f"| {name} | {agent.n_params:,} | {dt:.3f} | {args.envs * args.window / dt:,.0f} "
              f"| {mem} |")
        env.close()


if __name__ == "__main__":
    main()
