"""Batched meta-RL grid maze in torch: the maze task of Miconi et al., as used by STPN.

## Description
The "grid maze" of Miconi, Clune & Stanley (2018, ICML, "Differentiable plasticity", sec. 4.5)
and Miconi, Rawal, Clune & Stanley (2019, ICLR, "Backpropamine", sec. 4.2), in the version that
Rodriguez, Guo & Moraitis (2022, ICML, "Short-term plasticity neurons learning to learn and
forget") trained STPN, LSTM, RNN and plastic networks on. An odd ``size × size`` grid has walls
on its border and pillars on every cell whose row and column are both even; the centre cell is
always free (for sizes 9 and 13 it would otherwise be a pillar). An invisible reward cell is
drawn at the start of every episode and stays put for the episode; each time the agent steps
onto it, it earns ``+10`` and is teleported to a random free cell other than the reward cell.
A memoryless agent can only search; to score well, the agent has to find the reward cell by
exploring, remember where it is and go back to it from wherever it lands. That is the
meta-learning (learning within an episode) that plastic networks are tested on.

Cells are numbered row-major, ``cell = row * size + col``; row 0 is the top.

## Action Space
``Discrete(4)``: 0 up (row − 1), 1 down (row + 1), 2 left (col − 1), 3 right (col + 1). A move
into a wall or pillar leaves the agent where it is (reward ``-wall_penalty``, 0 by default).

## Observation Space
``Box(17,)`` float32:

| index | input | range |
|---|---|---|
| 0–8 | 3×3 walls around the agent, row-major from the upper-left (1 wall, 0 free) | {0, 1} |
| 9 | unused, always 0 (kept so the layout matches the reference code) | 0 |
| 10 | bias, always 1 | 1 |
| 11 | time in the block: (steps since the block began) / ``block_steps`` | [0, 1] |
| 12 | the reward of the previous step (0 at the start of an episode) | {−wall_penalty, 0, 10} |
| 13–16 | one-hot of the previous action (action 0 at the start of an episode) | {0, 1} |

Index 4 is the agent's own cell (always 0). At the start of an episode the previous action is
shown as 0 ("up"), as in the reference code, whose action buffer starts at zeros.

The time input is ``numstep / eplen`` of the reference: 0 on an episode's (or block's) first
observation, ``(block_steps - 1) / block_steps`` on its last decision. It reaches 1 only in the
final observation of a truncated episode (``info["final_obs"]``), which shows the time *after*
the last step, as for any other step, rather than the 0 of the next episode's start (the
reference has no observation after its last step; a critic bootstrapping from it should see no
time left in the block). A block boundary inside an episode (lifetime variant) starts a new
block, so there the time input wraps to 0.

## Rewards
``+10`` on the step that enters the reward cell (the agent is then teleported); ``-wall_penalty``
(default 0) for a move into a wall; 0 otherwise.

## Starting State
The agent starts every episode at the centre cell ``(size // 2, size // 2)``. The reward cell is
uniform over the free cells other than the centre; a teleport lands uniformly on the free cells
other than the reward cell (possibly the centre, possibly where the agent was).

## Episode End
Never terminates; truncation after ``max_episode_steps`` (200). In the batched env, finished envs
autoreset in the same step (see :mod:`snnrl.envs.protocol`); the ended episode's last
observation, ``info["final_obs"]``, shows the time reached by its last step (1 when the episode
ends with a block). All envs of a batch share one clock
(episodes have one fixed length and never end early), so block boundaries and resets happen for
the whole batch at once and need no device-to-host synchronisation.

## Lifetimes and blocks
For long-horizon evaluation (``conf/env/maze_lifetime.yaml``) set ``max_episode_steps=None``: the
episode never ends and is cut into blocks of ``block_steps`` (200) steps. At each block boundary
the reward cell is re-drawn uniformly over the free cells other than the agent's cell and the old
reward cell (so it always moves), and the time input wraps to 0; the agent stays where it is and
the previous-reward and previous-action inputs carry on. With ``max_episode_steps=200`` and
``block_steps=200`` (training), a block is an episode. Plastic state that persists across blocks
or episodes lives in the agent.

## Checked against the reference code
Read (never copied: both licences forbid it) in uber-research/differentiable-plasticity
``maze/maze.py`` (the Backpropamine maze, Uber Non-Commercial licence) and
NeuromorphicComputing/STPN ``Maze/Scripts/run_maze.py`` (no licence):

- layout: border walls, pillars at (even row, even column), centre forced free — both;
- observation: 3×3 ``lab`` slice flattened row-major (1 = wall), then ``ADDITIONALINPUTS = 4``
  ("1 input for the previous reward, 1 input for numstep, 1 unused, 1 bias"), written at
  offsets 9 + 1 (bias), 9 + 2 (``numstep / eplen``, 0 on the first step), 9 + 3 (previous
  reward): slot 9 is the unused one; then one-hot of the previous action at 13–16, whose buffer
  starts at zeros, so the first input of an episode shows action 0 — both;
- actions U, D, L, R as row −1, row +1, col −1, col +1; a move into a wall stays, with reward
  ``−wp``; ``wp`` is 0 in the Backpropamine default and in every STPN maze command
  (``--wp 0.0``) — both;
- reward ``+10`` (``--rew 10``), 200-step episodes (``--eplen 200``), start at the centre,
  hitting is tested after the move, then a teleport to a uniform free cell that is not the
  reward cell — both;
- reward cell: Backpropamine draws it uniformly over free cells *other than the centre* (the
  start); STPN allows the centre (and, for size 11, whose centre is not a pillar, lists it twice,
  so it is twice as likely, and when it holds the reward a teleport can land on it). snnrl
  follows Backpropamine;
- STPN trains on ``--msize 13`` (A2C, batch 512, γ 0.9); its "oracle" script
  (``Maze/Scripts/calculate-expected-reward-oracle.py``) computes ``10 · 200 / mean Manhattan
  distance``, which ignores pillars and the walk from the centre: a loose ceiling.
  ``scripts/maze_references.py`` measures the shortest-path oracle of this env instead.

What is snnrl's own: the block/lifetime variant (the reference has 200-step episodes only),
``wall_penalty`` as an argument, and the vectorised sampling (a uniform rank among the allowed
free cells instead of rejection sampling; same distribution).

## Arguments
``num_envs``, ``size`` (9; odd, ≥ 5), ``max_episode_steps`` (200; ``None``: never truncate),
``block_steps`` (200), ``wall_penalty`` (0.0), ``device``, ``autoreset`` (True; the single-env
Gymnasium class turns it off).

## Version History
* v0: Miconi's grid maze as above (Gymnasium 1.x).

>>> env = TorchMaze(num_envs=3, size=11)
>>> obs, _ = env.reset(seed=0)
>>> obs.shape
torch.Size([3, 17])
>>> obs[0, :9].view(3, 3)  # the centre of an 11x11 maze: pillars on the four diagonals
tensor([[1., 0., 1.],
        [0., 0., 0.],
        [1., 0., 1.]])
>>> out = env.step(env.oracle_action())
>>> out.reward.shape, out.truncated.any().item()
(torch.Size([3]), False)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from snnrl.envs.gym_vector import TorchVectorEnv
from snnrl.envs.protocol import BatchedEnv, EnvStep

NUM_ACTIONS = 4
"""Up, down, left, right."""
OBS_DIM = 17
"""3×3 walls, unused, bias, time, previous reward, one-hot previous action."""
REWARD = 10.0
"""Reward for entering the reward cell (``--rew 10`` in the reference code)."""

_SLOT_REWARD = 12
"""Observation index of the previous reward."""


def maze_layout(size: int) -> np.ndarray:
    """Wall map of the grid maze: ``[size, size]`` bool, True on walls and pillars.

    Border walls, pillars where row and column are both even, centre free.

    >>> maze_layout(5).astype(int)
    array([[1, 1, 1, 1, 1],
           [1, 0, 0, 0, 1],
           [1, 0, 0, 0, 1],
           [1, 0, 0, 0, 1],
           [1, 1, 1, 1, 1]])
    """
    if size < 5 or size % 2 == 0:
        raise ValueError(f"size must be odd and >= 5, got {size}")
    r = np.arange(size)
    wall = (r[:, None] % 2 == 0) & (r[None, :] % 2 == 0)
    wall[[0, -1], :] = True
    wall[:, [0, -1]] = True
    wall[size // 2, size // 2] = False
    return wall


class TorchMaze(BatchedEnv):
    """``num_envs`` grid mazes in lockstep on ``device``.

    Args:
        num_envs: batch size ``B``.
        size: side of the square grid (odd, ≥ 5; 9, 11 and 13 are the published ones).
        max_episode_steps: truncation horizon (``None``: never truncate, the lifetime variant).
        block_steps: steps per block: the reward cell is re-drawn and the time input wraps at
            every multiple of it.
        wall_penalty: reward subtracted for a move into a wall (0 in the reference).
        device: torch device of the state and of the returned tensors.
        autoreset: reset finished envs inside ``step`` (same-step rule).

    Attributes:
        wall_map: ``[size, size]`` bool, True on walls.
        free_cells: ``[n_free]`` long, the free cells' indices in increasing order.
        distances: ``[size², size²]`` float, shortest-path steps between free cells (inf where
            either is a wall).
        pos: ``[B]`` long, the agent's cell.
        goal: ``[B]`` long, the reward cell.
        elapsed: steps since the episode began (one clock for the whole batch).
    """

    env_id = "snnrl/Maze-v0"

    def __init__(
        self,
        num_envs: int = 1,
        size: int = 9,
        max_episode_steps: int | None = 200,
        block_steps: int = 200,
        wall_penalty: float = 0.0,
        device: torch.device | str = "cpu",
        autoreset: bool = True,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1 or None, got {max_episode_steps}")
        if block_steps < 1:
            raise ValueError(f"block_steps must be >= 1, got {block_steps}")
        if wall_penalty < 0:
            raise ValueError(f"wall_penalty must be >= 0, got {wall_penalty}")
        wall = maze_layout(size)
        self.num_envs = num_envs
        self.size = size
        self.max_episode_steps = max_episode_steps
        self.block_steps = block_steps
        self.wall_penalty = float(wall_penalty)
        self.device = torch.device(device)
        self.autoreset = autoreset
        dev = self.device

        self.wall_map = torch.as_tensor(wall, device=dev)  # [size, size]
        self._wall = self.wall_map.reshape(-1)  # [C], C = size²
        self.free_cells = torch.nonzero(~self._wall).squeeze(1)  # [F]
        self.n_free = int(self.free_cells.numel())
        self._rank = torch.full((size * size,), -1, dtype=torch.long, device=dev)  # [C]
        self._rank[self.free_cells] = torch.arange(self.n_free, device=dev)
        self.centre = (size // 2) * size + size // 2
        # cell offsets of up, down, left, right, and of the 3x3 view (row-major)
        self._moves = torch.tensor([-size, size, -1, 1], device=dev)  # [4]
        self._view = torch.tensor(
            [dr * size + dc for dr in (-1, 0, 1) for dc in (-1, 0, 1)], device=dev
        )  # [9]
        self.distances = self._shortest_paths()  # [C, C]
        self._const = torch.tensor([0.0, 1.0, 0.0], device=dev)  # unused, bias, time
        self._time_unit = torch.tensor([0.0, 0.0, 1.0], device=dev)

        low = np.zeros(OBS_DIM, dtype=np.float32)
        high = np.ones(OBS_DIM, dtype=np.float32)
        low[_SLOT_REWARD], high[_SLOT_REWARD] = -self.wall_penalty, REWARD
        self.single_observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.single_action_space = gym.spaces.Discrete(NUM_ACTIONS)

        b = num_envs
        self.pos = torch.full((b,), self.centre, dtype=torch.long, device=dev)
        self.prev_reward = torch.zeros(b, dtype=torch.float32, device=dev)
        self.prev_action = torch.zeros(b, dtype=torch.long, device=dev)
        self.elapsed = 0
        self.generator = torch.Generator(device=dev)
        self.generator.manual_seed(0)
        self.goal = self._draw_free(self._uniform(), self.pos)

    # --- layout helpers ----------------------------------------------------------------------

    def _shortest_paths(self) -> Tensor:
        """All-pairs shortest-path lengths by synchronous BFS over the whole grid at once."""
        c = self.size * self.size
        cells = torch.arange(c, device=self.device)
        # neighbour of every cell in every direction; walls (and moves into walls) map to self,
        # which adds no path. Free cells are never on the border, so no index leaves the grid.
        nbr = (cells[:, None] + self._moves[None, :]).clamp(0, c - 1)  # [C, 4]
        nbr = torch.where(self._wall[nbr] | self._wall[:, None], cells[:, None], nbr)
        dist = torch.full((c, c), float("inf"), device=self.device)
        dist[self.free_cells, self.free_cells] = 0.0
        for _ in range(c):  # the diameter bounds the iterations; stops when nothing changes
            new = torch.minimum(dist, dist[nbr].amin(1) + 1.0)
            if torch.equal(new, dist):
                break
            dist = new
        return dist

    def _uniform(self) -> Tensor:
        """One uniform number in [0, 1) per env, ``[B]`` float64."""
        return torch.rand(
            self.num_envs, generator=self.generator, dtype=torch.float64, device=self.device
        )

    def _draw_free(self, u: Tensor, *exclude: Tensor) -> Tensor:
        """Free cell uniform over the free cells minus ``exclude`` (distinct free cells), ``[B]``.

        Draws a rank ``k`` among the ``n_free - len(exclude)`` allowed cells from ``u`` and
        steps it over the excluded ranks in increasing order: one pass, no rejection loop.
        """
        n = self.n_free - len(exclude)
        k = (u * n).long().clamp_(max=n - 1)  # [B]
        ranks = torch.stack([self._rank[e] for e in exclude], -1).sort(-1).values  # [B, m]
        for j in range(ranks.shape[1]):
            k = k + (k >= ranks[:, j]).long()
        return self.free_cells[k]

    # --- observation -------------------------------------------------------------------------

    def _observe(self, episode_end: bool = False) -> Tensor:
        """The 17 inputs of every env, ``[B, 17]`` float32.

        With ``episode_end`` (the final observation of a truncated episode) no new block
        follows, so the time input counts the steps of the block so far in ``(0, 1]`` instead
        of wrapping to 0 at a block boundary.
        """
        b = self.num_envs
        local = self._wall[self.pos[:, None] + self._view].float()  # [B, 9]
        if episode_end:
            t = ((self.elapsed - 1) % self.block_steps + 1) / self.block_steps
        else:
            t = (self.elapsed % self.block_steps) / self.block_steps
        const = (self._const + t * self._time_unit).expand(b, 3)  # unused, bias, time
        onehot = torch.nn.functional.one_hot(self.prev_action, NUM_ACTIONS).float()  # [B, 4]
        return torch.cat((local, const, self.prev_reward[:, None], onehot), 1)

    def _start_episode(self) -> None:
        """Every env: agent at the centre, a fresh reward cell, cleared previous inputs."""
        self.pos = torch.full_like(self.pos, self.centre)
        self.goal = self._draw_free(self._uniform(), self.pos)
        self.prev_reward = torch.zeros_like(self.prev_reward)
        self.prev_action = torch.zeros_like(self.prev_action)
        self.elapsed = 0

    # --- protocol ----------------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> tuple[Tensor, dict[str, Any]]:
        """Reset every env; ``seed`` reseeds the batch's generator."""
        if seed is not None:
            self.generator.manual_seed(int(seed))
        self._start_episode()
        return self._observe(), {}

    def step(self, action: Tensor) -> EnvStep:
        """Advance every env one step (same-step autoreset when ``autoreset``).

        Random numbers drawn per step: one per env for a teleport (used only where the reward
        cell was hit), one per env at every block boundary and one per env at every reset, so
        the stream depends on the clock only, and a batch of one draws exactly what the
        single-env class draws.
        """
        # a copy: the previous action is kept as state, and the caller may reuse its tensor
        action = torch.as_tensor(action, device=self.device).reshape(self.num_envs).long().clone()
        target = self.pos + self._moves[action]
        bump = self._wall[target]
        pos = torch.where(bump, self.pos, target)
        reward = torch.where(bump, -self.wall_penalty, 0.0).float()
        hit = pos == self.goal
        reward = reward + hit.float() * REWARD
        landing = self._draw_free(self._uniform(), self.goal)
        self.pos = torch.where(hit, landing, pos)
        self.prev_reward, self.prev_action = reward, action
        self.elapsed += 1
        if self.elapsed % self.block_steps == 0:  # a new block: the reward cell moves
            self.goal = self._draw_free(self._uniform(), self.pos, self.goal)

        limit = self.max_episode_steps
        truncated_now = limit is not None and self.elapsed >= limit
        truncated = torch.full((self.num_envs,), truncated_now, device=self.device)
        terminated = torch.zeros_like(truncated)
        final_obs = self._observe(episode_end=truncated_now)
        if self.autoreset and truncated_now:
            self._start_episode()
            obs = self._observe()
        else:
            obs = final_obs
        return EnvStep(obs, reward, terminated, truncated, {"final_obs": final_obs})

    # --- oracle ------------------------------------------------------------------------------

    def oracle_action(self) -> Tensor:
        """The action of an agent that knows the reward cell: a step along a shortest path.

        Ties go to the lowest action index. Its return is the ceiling that normalised maze
        scores divide by (``scripts/maze_references.py``).

        Returns:
            ``[B]`` long actions.
        """
        target = self.pos[:, None] + self._moves[None, :]  # [B, 4]
        target = torch.where(self._wall[target], self.pos[:, None], target)
        return self.distances[target, self.goal[:, None]].argmin(1)


def _reset_generator(env: TorchMaze, seed: int | None, np_random: np.random.Generator) -> None:
    if seed is not None:
        env.generator.manual_seed(int(seed))
    else:
        env.generator.manual_seed(int(np_random.integers(2**62)))


class MazeEnv(gym.Env):
    """Single-env Gymnasium face of :class:`TorchMaze` (id ``snnrl/Maze-v0``).

    Truncation comes from the ``TimeLimit`` that ``gym.make`` adds (``max_episode_steps=200``);
    ``gym.make("snnrl/Maze-v0", max_episode_steps=N)`` makes a longer lifetime of
    ``block_steps`` blocks. The dynamics are :class:`TorchMaze`'s with ``num_envs=1``: the same
    seed and actions give the same observations and rewards, except the time input of the
    observation on which the ``TimeLimit`` truncates at the end of a block: the env cannot see
    that wrapper, so it shows the next block's 0 where :class:`TorchMaze`'s ``final_obs`` (and
    :class:`MazeVectorEnv`'s) shows 1.

    Args:
        render_mode: unused (no rendering).
        size: side of the grid (odd, ≥ 5).
        block_steps: steps per block (reward cell re-drawn, time input wraps).
        wall_penalty: reward subtracted for a move into a wall.

    >>> import gymnasium as gym
    >>> from snnrl.envs.maze import register_maze
    >>> register_maze()
    >>> env = gym.make("snnrl/Maze-v0")
    >>> obs, info = env.reset(seed=1)
    >>> obs.shape, obs.dtype
    ((17,), dtype('float32'))
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        render_mode: str | None = None,
        size: int = 9,
        block_steps: int = 200,
        wall_penalty: float = 0.0,
    ) -> None:
        self._env = TorchMaze(
            num_envs=1,
            size=size,
            max_episode_steps=None,
            block_steps=block_steps,
            wall_penalty=wall_penalty,
            autoreset=False,
        )
        self.observation_space = self._env.single_observation_space
        self.action_space = self._env.single_action_space
        self.render_mode = render_mode
        self._seeded = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Gymnasium reset: agent at the centre, a fresh reward cell."""
        super().reset(seed=seed)
        if seed is not None or not self._seeded:
            _reset_generator(self._env, seed, self.np_random)
        self._seeded = True
        obs, _ = self._env.reset()
        return obs[0].cpu().numpy(), {}

    def step(self, action):
        """Gymnasium step (never terminates; the ``TimeLimit`` truncates)."""
        out = self._env.step(torch.tensor([int(action)]))
        return out.obs[0].cpu().numpy(), float(out.reward[0]), False, False, {}


class MazeVectorEnv(TorchVectorEnv):
    """Gymnasium vector face of :class:`TorchMaze`, autoresetting in the same step.

    Made by ``gym.make_vec("snnrl/Maze-v0", num_envs=N, vectorization_mode="vector_entry_point")``
    (``max_episode_steps=None`` for the lifetime variant); the final observation of a finished
    episode is ``info["final_obs"]`` (an object array holding ``None`` where an env did not
    finish, with ``info["_final_obs"]`` its mask), as Gymnasium's SAME_STEP mode lays it out.

    Args:
        num_envs: number of mazes.
        max_episode_steps: truncation horizon (``None``: never truncate).
        render_mode: unused.
        device: torch device of the batched env.
        size: side of the grid.
        block_steps: steps per block.
        wall_penalty: reward subtracted for a move into a wall.

    >>> import gymnasium as gym
    >>> from snnrl.envs.maze import register_maze
    >>> register_maze()
    >>> envs = gym.make_vec("snnrl/Maze-v0", num_envs=4, vectorization_mode="vector_entry_point")
    >>> obs, info = envs.reset(seed=0)
    >>> obs.shape
    (4, 17)
    """

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int | None = 200,
        render_mode: str | None = None,
        device: str = "cpu",
        size: int = 9,
        block_steps: int = 200,
        wall_penalty: float = 0.0,
    ) -> None:
        env = TorchMaze(num_envs, size=size, max_episode_steps=max_episode_steps,
                        block_steps=block_steps, wall_penalty=wall_penalty, device=device,
                        autoreset=True)
        super().__init__(env, render_mode)


def register_maze() -> None:
    """Register ``snnrl/Maze-v0`` (single and vector entry points) with Gymnasium (idempotent)."""
    if "snnrl/Maze-v0" not in gym.registry:
        gym.register(
            id="snnrl/Maze-v0",
            entry_point="snnrl.envs.maze:MazeEnv",
            vector_entry_point="snnrl.envs.maze:MazeVectorEnv",
            max_episode_steps=200,
        )
