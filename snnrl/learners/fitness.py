"""The score of a lifetime that outer learners maximise.

``fitness = (reward summed over the lifetime) / (episodes begun in it)``: the mean episode
return, where the episode still running at the lifetime's end counts as one. It is defined for
every env the suite has, including cart-pole, whose reward per step is constant (so the summed
reward of a fixed-length lifetime says nothing; reward per episode does), and the long variants,
whose one episode spans the lifetime. The rollout is the same batched loop as
:func:`snnrl.eval.run_lifetimes`, stripped of logging: no host sync inside it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from snnrl.agents.base import Agent
from snnrl.envs.protocol import BatchedEnv


def lifetime_fitness(
    agent: Agent, env: BatchedEnv, steps: int, generator: torch.Generator, env_seed: int
) -> Tensor:
    """Live ``env.num_envs`` fresh lifetimes; return each lifetime's fitness ``[B]``.

    Non-finite agent outputs propagate as NaN fitness (the caller decides what a diverged
    candidate is worth).
    """
    b, device = env.num_envs, env.device
    state = agent.init_state(b, generator)
    obs, _ = env.reset(seed=env_seed)
    total = torch.zeros(b, dtype=torch.float64, device=device)
    episodes = torch.zeros(b, dtype=torch.float64, device=device)
    running = torch.zeros(b, dtype=torch.bool, device=device)
    for _ in range(steps):
        action, state, _, _ = agent.act(state, obs, generator)
        out = env.step(action)
        state, _, _ = agent.learn(state, out.reward, out.terminated, out.truncated,
                                  out.info["final_obs"], generator)
        total += out.reward
        episodes += out.done.to(torch.float64)
        running = ~out.done
        obs = out.obs
    fitness = total / (episodes + running.to(torch.float64))
    finite = getattr(agent, "finite_lifetimes", None)
    if finite is not None:
        fitness = torch.where(finite(state), fitness, torch.full_like(fitness, float("nan")))
    return fitness
