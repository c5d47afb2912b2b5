"""TorchMaze: layout, reward cell and teleport rules, observation slots, blocks, autoreset,
parity of the batched, single and vector faces, checkers and configs."""

from __future__ import annotations

from collections import deque

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from snnrl.envs.maze import (
    OBS_DIM,
    REWARD,
    MazeEnv,
    MazeVectorEnv,
    TorchMaze,
    maze_layout,
    register_maze,
)
from snnrl.envs.protocol import EnvStep

UP, DOWN, LEFT, RIGHT = range(4)
FREE_CELLS = {9: 41, 11: 65, 13: 97}


@pytest.fixture(autouse=True)
def _registered():
    register_maze()


def _expected_walls(size: int) -> np.ndarray:
    """The layout written out cell by cell, independently of maze_layout."""
    ctr = size // 2
    w = np.zeros((size, size), dtype=bool)
    for r in range(size):
        for c in range(size):
            border = r in (0, size - 1) or c in (0, size - 1)
            pillar = r % 2 == 0 and c % 2 == 0 and (r, c) != (ctr, ctr)
            w[r, c] = border or pillar
    return w


def _view(walls: np.ndarray, r: int, c: int) -> np.ndarray:
    return walls[r - 1 : r + 2, c - 1 : c + 2].astype(np.float32).reshape(-1)


def _cell(size: int, r: int, c: int) -> int:
    return r * size + c


def _f32(x: float) -> float:
    return float(np.float32(x))


def _set(env: TorchMaze, pos: list[int], goal: list[int]) -> None:
    env.pos = torch.tensor(pos, dtype=torch.long)
    env.goal = torch.tensor(goal, dtype=torch.long)


# --- layout ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [9, 11, 13])
def test_walls_and_pillars_layout(size):
    walls = _expected_walls(size)
    env = TorchMaze(num_envs=2, size=size)
    assert np.array_equal(maze_layout(size), walls)
    assert np.array_equal(env.wall_map.numpy(), walls)
    assert env.n_free == FREE_CELLS[size] == int((~walls).sum())
    assert env.free_cells.tolist() == np.flatnonzero(~walls.reshape(-1)).tolist()
    assert not walls[size // 2, size // 2]  # centre free, also where it would be a pillar
    assert walls[0].all() and walls[-1].all() and walls[:, 0].all() and walls[:, -1].all()
    assert walls[2, 2] and walls[size - 3, size - 3] and not walls[1, 2] and not walls[2, 1]


@pytest.mark.parametrize("bad", [1, 3, 4, 8, 10])
def test_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="size"):
        TorchMaze(num_envs=1, size=bad)


@pytest.mark.parametrize(
    "kwargs", [{"num_envs": 0}, {"block_steps": 0}, {"max_episode_steps": 0}, {"wall_penalty": -1}]
)
def test_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        TorchMaze(**{"num_envs": 1, **kwargs})


@pytest.mark.parametrize("size", [9, 13])
def test_shortest_path_distances_match_plain_bfs(size):
    walls = _expected_walls(size)
    env = TorchMaze(num_envs=1, size=size)
    free = [(r, c) for r in range(size) for c in range(size) if not walls[r, c]]
    for r0, c0 in free[:: max(1, len(free) // 12)]:  # a dozen sources
        dist = {(r0, c0): 0}
        queue = deque([(r0, c0)])
        while queue:
            r, c = queue.popleft()
            for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                n = (r + dr, c + dc)
                if not walls[n] and n not in dist:
                    dist[n] = dist[(r, c)] + 1
                    queue.append(n)
        row = env.distances[_cell(size, r0, c0)]
        for (r, c), d in dist.items():
            assert row[_cell(size, r, c)].item() == d
        assert torch.isinf(row[torch.from_numpy(walls.reshape(-1))]).all()
    assert len(dist) == len(free)  # the maze is connected


# --- reward cell and teleport ----------------------------------------------------------------


def test_draw_free_is_uniform_over_the_allowed_cells():
    # u on a regular grid of n points must give every allowed cell exactly once.
    env = TorchMaze(num_envs=1, size=9)
    free = env.free_cells.tolist()
    for excl in ([free[0]], [free[-1]], [free[5], free[17]], [free[30], free[2]]):
        n = len(free) - len(excl)
        u = (torch.arange(n, dtype=torch.float64) + 0.5) / n
        ex = [torch.full((n,), e) for e in excl]
        got = env._draw_free(u, *ex).tolist()
        assert sorted(got) == sorted(set(free) - set(excl))


def test_initial_reward_cell_uniform_over_free_cells_but_the_centre():
    env = TorchMaze(num_envs=4096, size=9)
    env.reset(seed=0)
    goals = env.goal
    assert not env.wall_map.reshape(-1)[goals].any()
    assert not (goals == env.centre).any()
    counts = torch.bincount(goals, minlength=81)[env.free_cells]
    counts = counts[env.free_cells != env.centre]
    assert len(counts) == 40 and counts.min() > 0.5 * 4096 / 40 and counts.max() < 1.5 * 4096 / 40
    assert torch.all(env.pos == env.centre)


@pytest.mark.parametrize("size", [9, 11])
def test_teleport_never_lands_on_reward_cell_or_wall(size):
    walls = _expected_walls(size)
    moves = {UP: (-1, 0), DOWN: (1, 0), LEFT: (0, -1), RIGHT: (0, 1)}
    opposite = {UP: DOWN, DOWN: UP, LEFT: RIGHT, RIGHT: LEFT}
    pos, goal, act = [], [], []
    for r in range(size):  # every free cell as the reward cell, entered from a free neighbour
        for c in range(size):
            if walls[r, c]:
                continue
            a = next(a for a, (dr, dc) in moves.items() if not walls[r + dr, c + dc])
            dr, dc = moves[a]
            pos.append(_cell(size, r + dr, c + dc))
            goal.append(_cell(size, r, c))
            act.append(opposite[a])
    reps = 100
    env = TorchMaze(num_envs=len(pos) * reps, size=size, autoreset=False)
    env.reset(seed=1)
    landed = []
    for _ in range(3):
        _set(env, pos * reps, goal * reps)
        out = env.step(torch.tensor(act * reps))
        assert torch.all(out.reward == REWARD)  # every env entered its reward cell
        assert not env.wall_map.reshape(-1)[env.pos].any()
        assert not (env.pos == env.goal).any()
        assert torch.equal(env.goal, torch.tensor(goal * reps))  # the reward cell stays
        landed.append(env.pos)
    landed = torch.cat(landed)
    assert set(landed.tolist()) == set(env.free_cells.tolist())  # anywhere else, centre included


def test_reward_cell_fixed_within_an_episode_and_redrawn_at_reset():
    env = TorchMaze(num_envs=512, size=9, max_episode_steps=200)
    env.reset(seed=2)
    g = torch.Generator().manual_seed(0)
    goal = env.goal.clone()
    for t in range(1, 601):
        out = env.step(torch.randint(0, 4, (512,), generator=g))
        if t % 200:
            assert torch.equal(env.goal, goal), t
            assert not out.done.any()
        else:
            assert out.truncated.all()
            assert not (env.goal == env.centre).any()
            assert (env.goal != goal).float().mean() > 0.9  # a fresh draw: rarely the same
            goal = env.goal.clone()


def test_lifetime_reward_cell_moves_at_block_boundaries():
    block = 50
    env = TorchMaze(num_envs=512, size=11, max_episode_steps=None, block_steps=block)
    env.reset(seed=3)
    g = torch.Generator().manual_seed(1)
    goal = env.goal.clone()
    goals_seen = [goal]
    for t in range(1, 8 * block + 1):
        out = env.step(torch.randint(0, 4, (512,), generator=g))
        assert not out.done.any()  # no time limit
        if t % block:
            assert torch.equal(env.goal, goal), t
        else:
            assert (env.goal != goal).all()  # it always moves
            assert (env.goal != env.pos).all()  # never under the agent
            assert not env.wall_map.reshape(-1)[env.goal].any()
            goal = env.goal.clone()
            goals_seen.append(goal)
    assert torch.stack(goals_seen).unique().numel() == env.n_free  # all over the maze


# --- observation slots -----------------------------------------------------------------------


def test_reset_observation():
    for size in (9, 11, 13):
        env = TorchMaze(num_envs=3, size=size)
        obs, info = env.reset(seed=0)
        assert isinstance(info, dict)
        assert obs.shape == (3, OBS_DIM) and obs.dtype == torch.float32
        c = size // 2
        expected = np.concatenate(
            [_view(_expected_walls(size), c, c), [0, 1, 0, 0], [1, 0, 0, 0]]
        ).astype(np.float32)
        for b in range(3):
            assert np.array_equal(obs[b].numpy(), expected)


def test_observation_slots_on_hand_made_situations():
    size = 9
    walls = _expected_walls(size)
    env = TorchMaze(num_envs=2, size=size, autoreset=False)
    env.reset(seed=0)
    far = _cell(size, 7, 7)
    _set(env, [_cell(size, 1, 1), _cell(size, 3, 3)], [far, far])

    out = env.step(torch.tensor([UP, LEFT]))  # env 0 bumps into the border, env 1 moves
    assert env.pos.tolist() == [_cell(size, 1, 1), _cell(size, 3, 2)]
    assert np.array_equal(out.obs[0, :9].numpy(), [1, 1, 1, 1, 0, 0, 1, 0, 1])
    assert np.array_equal(out.obs[0, :9].numpy(), _view(walls, 1, 1))
    assert np.array_equal(out.obs[1, :9].numpy(), _view(walls, 3, 2))
    assert np.array_equal(out.obs[1, :9].numpy(), [0, 1, 0, 0, 0, 0, 0, 1, 0])
    assert out.obs[:, 9].tolist() == [0.0, 0.0]  # unused
    assert out.obs[:, 10].tolist() == [1.0, 1.0]  # bias
    assert out.obs[:, 11].tolist() == [_f32(1 / 200)] * 2  # time
    assert out.obs[:, 12].tolist() == [0.0, 0.0]  # no reward, no wall penalty
    assert out.obs[0, 13:].tolist() == [1, 0, 0, 0] and out.obs[1, 13:].tolist() == [0, 0, 1, 0]

    env.goal = torch.tensor([_cell(size, 1, 2), far])  # env 0 steps right onto the reward
    out = env.step(torch.tensor([RIGHT, DOWN]))
    assert out.reward.tolist() == [REWARD, 0.0]
    assert out.obs[:, 12].tolist() == [REWARD, 0.0]  # previous reward
    assert out.obs[0, 13:].tolist() == [0, 0, 0, 1] and out.obs[1, 13:].tolist() == [0, 1, 0, 0]
    r, c = divmod(int(env.pos[0]), size)  # teleported: the view is the new cell's
    assert np.array_equal(out.obs[0, :9].numpy(), _view(walls, r, c))
    assert out.obs[:, 11].tolist() == [_f32(2 / 200)] * 2

    env.goal = torch.tensor([far, far])
    _set(env, [_cell(size, 1, 3), _cell(size, 5, 5)], [far, far])
    out = env.step(torch.tensor([DOWN, UP]))
    assert out.obs[0, 12].item() == 0.0  # the reward input lasts one step
    assert np.array_equal(out.obs[0, :9].numpy(), _view(walls, 2, 3))


def test_wall_penalty_and_bump_stays():
    env = TorchMaze(num_envs=1, size=9, wall_penalty=0.5, autoreset=False)
    env.reset(seed=0)
    _set(env, [_cell(9, 1, 2)], [_cell(9, 7, 7)])
    out = env.step(torch.tensor([DOWN]))  # (2, 2) is a pillar
    assert env.pos.item() == _cell(9, 1, 2)
    assert out.reward.item() == -0.5 and out.obs[0, 12].item() == -0.5
    assert out.obs[0].numpy() in env.single_observation_space
    assert TorchMaze(num_envs=1).single_observation_space.low[12] == 0.0


def test_time_input_wraps_per_block():
    env = TorchMaze(num_envs=2, size=9, max_episode_steps=None, block_steps=50)
    env.reset(seed=0)
    for t in range(1, 161):
        out = env.step(torch.tensor([UP, RIGHT]))
        assert out.obs[:, 11].tolist() == [_f32((t % 50) / 50)] * 2, t
        assert out.obs[:, 10].tolist() == [1.0, 1.0] and out.obs[:, 9].tolist() == [0.0, 0.0]


# --- episodes and same-step autoreset --------------------------------------------------------


def test_episode_is_200_steps_truncated_not_terminated():
    env = TorchMaze(num_envs=16, size=9)
    env.reset(seed=4)
    g = torch.Generator().manual_seed(4)
    ends = []
    for t in range(1, 701):
        out = env.step(torch.randint(0, 4, (16,), generator=g))
        assert isinstance(out, EnvStep)
        assert not out.terminated.any()
        assert out.truncated.all() or not out.truncated.any()
        if out.truncated.any():
            ends.append(t)
        assert out.obs[0, 11].item() == _f32((t % 200) / 200)
    assert ends == [200, 400, 600]


def test_same_step_autoreset_with_final_obs():
    # A twin without autoreset draws the same random numbers up to step 200: its observation
    # there is the batched env's final_obs.
    env = TorchMaze(num_envs=8, size=9, max_episode_steps=200)
    twin = TorchMaze(num_envs=8, size=9, max_episode_steps=200, autoreset=False)
    env.reset(seed=5)
    twin.reset(seed=5)
    g = torch.Generator().manual_seed(5)
    reset_obs, _ = TorchMaze(num_envs=8, size=9).reset(seed=0)
    for t in range(1, 201):
        a = torch.randint(0, 4, (8,), generator=g)
        out, ref = env.step(a), twin.step(a)
        assert torch.equal(out.reward, ref.reward)
        assert torch.equal(out.info["final_obs"], ref.obs)
        if t < 200:
            assert torch.equal(out.obs, ref.obs) and torch.equal(env.pos, twin.pos)
    assert out.truncated.all()
    assert torch.equal(out.obs, reset_obs)  # already the next episode's first observation
    assert not torch.equal(out.info["final_obs"], out.obs)
    assert torch.all(env.pos == env.centre) and env.elapsed == 0
    assert not (env.goal == env.centre).any()


@pytest.mark.parametrize(
    ("limit", "block", "end_time"), [(200, 200, 1.0), (100, 50, 1.0), (120, 50, 20 / 50)]
)
def test_final_obs_shows_the_time_reached_by_the_last_step(limit, block, end_time):
    # The last observation of a truncated episode is what the agent sees after its last step:
    # the time input has counted that step (1.0 at the end of a block), while obs restarts at 0.
    # Block boundaries inside the episode still wrap the time input to 0.
    env = TorchMaze(num_envs=3, size=9, max_episode_steps=limit, block_steps=block)
    vec = MazeVectorEnv(num_envs=3, max_episode_steps=limit, block_steps=block)
    env.reset(seed=7)
    vec.reset(seed=7)
    for t in range(1, limit + 1):
        out = env.step(torch.tensor([UP, LEFT, RIGHT]))
        _, _, _, _, info = vec.step(np.array([UP, LEFT, RIGHT]))
        if t < limit:
            assert torch.equal(out.info["final_obs"], out.obs)
            assert out.obs[:, 11].tolist() == [_f32((t % block) / block)] * 3
    assert out.truncated.all()
    assert out.info["final_obs"][:, 11].tolist() == [_f32(end_time)] * 3
    assert out.obs[:, 11].tolist() == [0.0] * 3
    for i in range(3):
        assert out.info["final_obs"][i].numpy() in env.single_observation_space
        assert info["final_obs"][i][11] == _f32(end_time)


def test_seeded_determinism():
    def rollout(seed):
        env = TorchMaze(num_envs=6, size=11, max_episode_steps=70, block_steps=30)
        obs, _ = env.reset(seed=seed)
        g = torch.Generator().manual_seed(99)
        traj, rewards, goals = [obs], [], [env.goal]
        for _ in range(300):
            out = env.step(torch.randint(0, 4, (6,), generator=g))
            traj += [out.obs, out.info["final_obs"]]
            rewards.append(out.reward)
            goals.append(env.goal)
        return torch.stack(traj), torch.stack(rewards), torch.stack(goals)

    a, b, c = rollout(123), rollout(123), rollout(124)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(a[2], c[2])
    assert a[1].sum() > 0  # rewards were found along the way


def test_oracle_walks_shortest_paths_and_beats_random():
    env = TorchMaze(num_envs=256, size=9)
    env.reset(seed=6)
    total = torch.zeros(256)
    for _ in range(200):
        d0 = env.distances[env.pos, env.goal]
        out = env.step(env.oracle_action())
        total += out.reward
        hit = out.reward > 0
        assert torch.all(d0[hit] == 1)
        if not out.truncated.any():  # (at the end the env has already restarted)
            d1 = env.distances[env.pos, env.goal]
            assert torch.all(d1[~hit] == d0[~hit] - 1)
    assert out.truncated.all()
    assert total.mean() > 380  # measured reference 415.7 (scripts/maze_references.py)

    env.reset(seed=6)
    g = torch.Generator().manual_seed(6)
    rand = sum(env.step(torch.randint(0, 4, (256,), generator=g)).reward for _ in range(200))
    assert rand.mean() < 30  # measured reference 14.4


# --- Gymnasium faces -------------------------------------------------------------------------


def test_register_maze_is_idempotent():
    register_maze()
    register_maze()
    spec = gym.spec("snnrl/Maze-v0")
    assert spec.max_episode_steps == 200
    assert spec.entry_point == "snnrl.envs.maze:MazeEnv"
    assert spec.vector_entry_point == "snnrl.envs.maze:MazeVectorEnv"


def test_gymnasium_check_env():
    env = gym.make("snnrl/Maze-v0")
    assert isinstance(env.unwrapped, MazeEnv)
    check_env(env.unwrapped)
    env.close()


def test_sb3_check_env():
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    env = gym.make("snnrl/Maze-v0")
    sb3_checker.check_env(env.unwrapped, warn=True)
    sb3_checker.check_env(env, warn=True)
    env.close()


def test_single_env_matches_batched_env():
    # Same seed and actions: gym.make (TimeLimit 200, reset by hand) equals TorchMaze(1).
    single = gym.make("snnrl/Maze-v0", size=11)
    batched = TorchMaze(num_envs=1, size=11, max_episode_steps=200)
    obs_s, _ = single.reset(seed=8)
    obs_b, _ = batched.reset(seed=8)
    assert np.array_equal(obs_s, obs_b[0].numpy())
    rng = np.random.default_rng(8)
    inner = single.unwrapped._env
    n_trunc = reward_sum = 0
    for _ in range(450):
        a = int(rng.integers(4))
        obs_s, r_s, term_s, trunc_s, _ = single.step(a)
        out = batched.step(torch.tensor([a]))
        assert obs_s.dtype == np.float32 and isinstance(r_s, float)
        assert r_s == out.reward.item() and not term_s and not out.terminated.item()
        assert trunc_s == out.truncated.item()
        final = out.info["final_obs"][0].numpy()
        if trunc_s:  # the TimeLimit is outside the single env: it sees a new block begin
            assert obs_s[11] == 0.0 and final[11] == 1.0
            obs_s, final = np.delete(obs_s, 11), np.delete(final, 11)
        assert np.array_equal(obs_s, final)
        assert inner.goal.item() == batched.goal.item() or trunc_s
        reward_sum += r_s
        if trunc_s:
            n_trunc += 1
            obs_s, _ = single.reset()
        assert np.array_equal(obs_s, out.obs[0].numpy())
        assert inner.goal.item() == batched.goal.item()
        assert inner.pos.item() == batched.pos.item()
    assert n_trunc == 2 and reward_sum > 0
    single.close()


def test_single_env_seeding_and_kwargs():
    env = gym.make("snnrl/Maze-v0", size=13, block_steps=40)
    inner = env.unwrapped._env
    assert inner.size == 13 and inner.block_steps == 40
    env.reset(seed=7)
    g1 = inner.goal.item()
    env.reset(seed=7)
    assert inner.goal.item() == g1
    goals = set()
    for _ in range(20):  # unseeded resets continue the stream
        env.reset()
        goals.add(inner.goal.item())
    assert len(goals) > 5
    env.close()


def test_make_vec_matches_torch_maze_and_lays_out_final_obs():
    envs = gym.make_vec(
        "snnrl/Maze-v0", num_envs=6, vectorization_mode="vector_entry_point", size=11
    )
    assert isinstance(envs, MazeVectorEnv)
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    assert envs.unwrapped._env.max_episode_steps == 200 and envs.unwrapped._env.size == 11
    ref = TorchMaze(num_envs=6, size=11, max_episode_steps=200)
    obs, _ = envs.reset(seed=9)
    ref_obs, _ = ref.reset(seed=9)
    assert np.array_equal(obs, ref_obs.numpy())
    rng = np.random.default_rng(9)
    seen_done = 0
    for _ in range(420):
        a = rng.integers(0, 4, 6)
        obs, reward, terminated, truncated, info = envs.step(a)
        out = ref.step(torch.from_numpy(a))
        assert obs.shape == (6, OBS_DIM) and obs.dtype == np.float32
        assert obs in envs.observation_space
        assert reward.dtype == np.float64 and terminated.dtype == np.bool_
        assert np.array_equal(obs, out.obs.numpy())
        assert np.array_equal(reward, out.reward.numpy())
        assert np.array_equal(truncated, out.truncated.numpy()) and not terminated.any()
        done = terminated | truncated
        if not done.any():
            assert "final_obs" not in info
            continue
        seen_done += 1
        final = info["final_obs"]
        assert final.dtype == object and final.shape == (6,)
        assert np.array_equal(info["_final_obs"], done)
        for i in range(6):
            assert isinstance(final[i], np.ndarray) and final[i].dtype == np.float32
            assert np.array_equal(final[i], out.info["final_obs"][i].numpy())
            assert obs[i, 10] == 1.0 and obs[i, 11] == 0.0 and obs[i, 12] == 0.0  # fresh start
    assert seen_done == 2
    envs.close()


def test_make_vec_lifetime_variant_never_truncates():
    envs = gym.make_vec(
        "snnrl/Maze-v0",
        num_envs=3,
        vectorization_mode="vector_entry_point",
        max_episode_steps=None,
        block_steps=100,
    )
    assert envs.unwrapped._env.max_episode_steps is None
    envs.reset(seed=0)
    for _ in range(450):
        _, _, terminated, truncated, info = envs.step(envs.action_space.sample())
        assert not (terminated | truncated).any() and "final_obs" not in info
    envs.close()


def test_sync_vector_env_of_single_mazes():
    envs = gym.make_vec("snnrl/Maze-v0", num_envs=3, vectorization_mode="sync")
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (3, OBS_DIM)
    obs, reward, *_ = envs.step(np.array([0, 1, 2]))
    assert obs.shape == (3, OBS_DIM) and reward.shape == (3,)
    envs.close()


# --- configs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "limit"), [("maze", 200), ("maze_lifetime", None)])
def test_env_configs_compose_and_build(name, limit, monkeypatch):
    from hydra import compose, initialize_config_dir

    from snnrl.cli.app import conf_dir
    from snnrl.config import register_schemas, to_objects
    from snnrl.envs import registry

    register_schemas()
    with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir())):
        cfg = to_objects(compose("train", overrides=[f"env={name}"])).env
    assert cfg.name == name and cfg.id == "snnrl/Maze-v0" and cfg.backend == "native"
    assert cfg.max_episode_steps == limit
    assert dict(cfg.kwargs) == {"size": 9, "block_steps": 200}
    assert len(cfg.obs_low) == len(cfg.obs_high) == OBS_DIM
    assert 5 < cfg.random_return < 25

    monkeypatch.setitem(registry.NATIVE_ENVS, "snnrl/Maze-v0", TorchMaze)
    env = registry.make_env(cfg, num_envs=4)
    assert isinstance(env, TorchMaze) and env.num_envs == 4
    assert env.max_episode_steps == limit and env.size == 9 and env.block_steps == 200
    obs, _ = env.reset(seed=0)
    low, high = torch.tensor(cfg.obs_low), torch.tensor(cfg.obs_high)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        out = env.step(torch.randint(0, 4, (4,), generator=g))
        assert torch.all(out.obs >= low) and torch.all(out.obs <= high)


# --- CUDA ------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_runs_on_cuda():
    env = TorchMaze(num_envs=512, size=13, device="cuda")
    obs, _ = env.reset(seed=0)
    assert obs.device.type == "cuda"
    total = torch.zeros(512, device="cuda")
    for _ in range(200):
        out = env.step(env.oracle_action())
        total += out.reward
    assert out.truncated.all() and out.info["final_obs"].device.type == "cuda"
    assert 240 < total.mean().item() < 300  # measured on CPU: 269.0
