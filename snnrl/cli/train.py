"""``snnrl train``: one training job (a Hydra app), writing one run directory.

For agents that learn within a lifetime and have no outer learner (R-STDP), training *is* living:
``train.num_envs`` lifetimes run in parallel for ``lifetime_steps`` env steps each, repeated in
rounds of fresh lifetimes until ``train.env_steps`` is spent. Evaluation then follows
docs/PROTOCOL.md v1.
"""

from __future__ import annotations

import logging
import math
import shutil
import statistics
import sys
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from snnrl.agents import EnvInfo, make_agent
from snnrl.agents.registry import unsupported_error
from snnrl.config import ConfigError, TrainConfig, Unsupported, resolve_device, to_objects
from snnrl.envs import make_env
from snnrl.eval import last_fraction_return, run_lifetimes
from snnrl.seeding import derive_seed
from snnrl.tracking import RunDir, config_hash, git_commit, versions, write_json
from snnrl.tracking.plots import learning_curve

log = logging.getLogger("snnrl")

PROTOCOL_VERSION = "v2"


def _as_dict(x: Any) -> Any:
    return asdict(x) if is_dataclass(x) and not isinstance(x, type) else x


def _discard_fresh_run_dir(path: Path) -> None:
    """Remove what Hydra wrote into a run dir for a job that failed validation.

    Only Hydra's own files are removed, and the directory only if that leaves it empty, so
    nothing a user put there is touched and no half-made run is left behind.
    """
    shutil.rmtree(path / ".hydra", ignore_errors=True)
    for f in path.glob("*.log"):
        f.unlink(missing_ok=True)
    try:
        path.rmdir()
    except OSError:
        pass


def validate(cfg: DictConfig) -> TrainConfig:
    """Schema objects with every range check, plus the checks that span sections."""
    c = to_objects(cfg)
    learner = c.learner.name
    if is_deep(c.agent.name):
        if learner != "none":
            raise ConfigError("learner", learner, f"none: agent {c.agent.name} is trained by its "
                              "own algorithm (see conf/agent/" + c.agent.name + ".yaml)")
        return c
    outer = bool(getattr(c.agent, "meta_init", None) is not None)  # plastic zoo agents
    if outer and learner == "none":
        raise ConfigError("learner", "none", f"es or bptt: agent {c.agent.name} is meta-learned "
                          "(e.g. learner=es)")
    if not outer and learner != "none":
        raise ConfigError("learner", learner, f"none: agent {c.agent.name} learns online only")
    if learner == "es":
        per_gen = c.learner.popsize * c.train.num_envs * c.lifetime_steps
        if c.train.env_steps % per_gen != 0:
            raise ConfigError(
                "train.env_steps", c.train.env_steps,
                f"a multiple of learner.popsize * train.num_envs * lifetime_steps = {per_gen} "
                "(whole generations)")
        return c
    if learner == "bptt":
        per_window = c.train.num_envs * c.learner.window
        if c.train.env_steps % per_window != 0 or c.lifetime_steps % c.learner.window != 0:
            raise ConfigError(
                "train.env_steps", c.train.env_steps,
                f"a multiple of train.num_envs * learner.window = {per_window}, with "
                f"lifetime_steps a multiple of learner.window = {c.learner.window}")
        return c
    per_round = c.train.num_envs * c.lifetime_steps
    if c.train.env_steps % per_round != 0:
        raise ConfigError(
            "train.env_steps",
            c.train.env_steps,
            f"a multiple of train.num_envs * lifetime_steps = {per_round} (whole lifetimes)",
        )
    if c.train.log_every > c.lifetime_steps:
        raise ConfigError(
            "train.log_every", c.train.log_every, f"at most lifetime_steps = {c.lifetime_steps}"
        )
    return c


def is_deep(agent_name: str) -> bool:
    """True for agents trained by gradient RL with frozen weights at test time (SB3, STPN, ...)."""
    from snnrl.agents.registry import DEEP_AGENTS

    return agent_name in DEEP_AGENTS


def finished_summary(run_dir: Path, cfg_hash: str) -> dict[str, Any] | None:
    """The summary of a run already finished in ``run_dir`` with this config hash, else None.

    Finished means status ``ok`` or ``diverged`` (a diverged run is a result). A ``failed`` or
    ``running`` summary, or one with another config hash, is not: that job runs again (an
    outer learner resumes from its checkpoint).
    """
    import json

    path = run_dir / "summary.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if summary.get("config_hash") == cfg_hash and summary.get("status") in ("ok", "diverged"):
        return summary
    return None


def check_resumable(run_dir: Path, cfg_hash: str) -> None:
    """Refuse, before anything is written, a run dir holding another config's learner state.

    Raises:
        ConfigError: ``learner_state.pt`` exists and was written by a different config.
    """
    path = run_dir / "learner_state.pt"
    if not path.is_file():
        return
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True).get("config_hash")
    except Exception:  # noqa: BLE001 - unreadable: the learner reports it when it loads
        return
    if saved != cfg_hash:
        raise ConfigError(str(path), saved, f"a learner state written by this config (hash "
                          f"{cfg_hash}); use a fresh hydra.run.dir")


def _env_info(env: Any, c: TrainConfig) -> EnvInfo:
    return EnvInfo(
        env.single_observation_space,
        env.single_action_space,
        tuple(c.env.obs_low),
        tuple(c.env.obs_high),
    )


def _table(rows: list[tuple[str, str]]) -> str:
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{w}}  {v}" for k, v in rows)


def train_job(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Run one training job into ``run_dir``; return its summary.

    Raises:
        ConfigError: bad input (before anything is written).
    """
    try:
        c = validate(cfg)
        device = resolve_device(c.device)
    except (ConfigError, OmegaConfBaseException):
        _discard_fresh_run_dir(run_dir)
        raise
    torch.set_num_threads(c.torch_threads)
    torch.manual_seed(c.seed)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    done = finished_summary(run_dir, config_hash(resolved))
    if done is not None:  # a finished job is never rerun (sweeps re-run into the same dirs)
        print(f"snnrl train: {run_dir} already finished with this config "
              f"(status {done['status']}); skipped", flush=True)
        return done
    check_resumable(run_dir, config_hash(resolved))
    env = None
    n_envs = c.train.num_envs * (c.learner.popsize if c.learner.name == "es" else 1)
    try:
        env = make_env(c.env, n_envs, device)
        try:
            agent = make_agent(c.agent, _env_info(env, c), device)
        except Unsupported as err:
            raise unsupported_error(c.agent.name, c.env.name, _env_info(env, c), err) from None
    except ConfigError:
        if env is not None:
            env.close()
        _discard_fresh_run_dir(run_dir)
        raise
    rd = RunDir(run_dir)
    rd.write_config(OmegaConf.to_yaml(cfg, resolve=True))
    if c.learner.name == "none":
        rd.reset_metrics()  # outer learners resume from learner_state.pt or reset themselves
    mirror = None
    if c.logger.name == "wandb":
        from snnrl.tracking.wandb_logger import WandbMirror

        mirror = WandbMirror(
            run_dir,
            resolved | {"env_id": c.env.id},
            c.logger.project,
            c.logger.mode,
            c.logger.group,
            list(c.logger.tags),
            name=f"{c.agent.name}-{c.env.name}-s{c.seed}",
        )
    summary: dict[str, Any] = {
        "status": "running",
        "agent": c.agent.name,
        "env_id": c.env.id,
        "seed": c.seed,
        "env_steps": 0,
        "env_steps_budget": c.train.env_steps,
        "lifetime_steps": c.lifetime_steps,
        "num_envs": c.train.num_envs,
        "plasticity": bool(getattr(c.agent, "plasticity", False)),
        "protocol": PROTOCOL_VERSION,
        "versions": versions(),
        "git_commit": git_commit(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "config_hash": config_hash(resolved),
        "learner": c.learner.name,
        "n_synapses": agent.n_synapses,
        "rules": [
            {"name": r.name, "signals": list(r.signals), "local": r.local} for r in agent.rules
        ],
    }
    t_start = time.perf_counter()
    exit_code = 0
    try:
        if is_deep(c.agent.name):
            from snnrl.cli.deep import train_deep

            summary |= train_deep(c, agent, env, rd, mirror, device)
        elif c.learner.name == "none":
            summary |= _train_and_eval(c, agent, env, rd, mirror, device)
        else:
            from snnrl.cli.meta import train_meta

            summary |= train_meta(c, agent, env, rd, mirror, device, summary["config_hash"])
    except Exception as e:  # a crash is recorded, never silently lost
        exit_code = 1
        summary |= {"status": "failed", "reason": f"{type(e).__name__}: {e}"}
        raise
    finally:
        env.close()
        summary["wall_time_s"] = time.perf_counter() - t_start
        if mirror is not None:
            mirror.summary(summary.get("metrics", {}), status=summary["status"],
                           reason=summary.get("reason"), env_steps=summary["env_steps"],
                           wall_time_s=summary["wall_time_s"])
            mirror.finish(exit_code)
        rd.write_summary(summary)
    _print_results(summary, run_dir)
    return summary


def _train_and_eval(
    c: TrainConfig, agent: Any, env: Any, rd: RunDir, mirror: Any, device: torch.device
) -> dict[str, Any]:
    b, t_life = c.train.num_envs, c.lifetime_steps
    rounds = c.train.env_steps // (b * t_life)
    bar = _progress(c, c.train.env_steps, "train")
    done_steps = 0
    per_lifetime: list[float] = []
    rates: list[float] = []
    diverged = None
    last_state = None
    last_res = None
    t0 = time.perf_counter()
    for r in range(rounds):
        gen = torch.Generator(device=device).manual_seed(derive_seed(c.seed, "train/agent", r))
        logger = _IntervalLogger(rd, mirror, bar, base=done_steps, num_envs=b, lifetime=r)
        res = run_lifetimes(
            agent,
            env,
            t_life,
            gen,
            env_seed=derive_seed(c.seed, "train/env", r),
            on_interval=logger,
            interval=c.train.log_every,
        )
        done_steps += res.steps * b
        last_state = res.state
        last_res = res
        _, per = last_fraction_return(res.episodes, b, t_life)
        per_lifetime += per
        rates += res.window_reward_rate
        if res.diverged:
            diverged = res.diverged
            break
    if bar is not None:
        bar.close()
    train_time = time.perf_counter() - t0
    metrics: dict[str, Any] = {
        # null where no episode ended in the window (long variants): see the reward rate
        "train/return_last_10pct": statistics.fmean(per_lifetime) if per_lifetime else None,
        "train/reward_rate_last_10pct": statistics.fmean(rates) if rates else None,
        "train/lifetimes": len(rates),
        "perf/train_sps": done_steps / max(train_time, 1e-9),
        "perf/train_time_s": train_time,
    }
    out: dict[str, Any] = {"env_steps": done_steps, "metrics": metrics, "energy": {}}
    if last_state is not None:
        rd.save_checkpoint(
            {
                "agent": c.agent.name,
                "env_id": c.env.id,
                "env_steps": done_steps,
                "state": {k: v.detach().cpu() for k, v in agent.state_dict(last_state).items()},
            }
        )
    energy_flags: dict[str, Any] = {}
    if last_res is not None and last_res.ops:
        energy_metrics, energy_flags = record_energy(rd, agent, last_res, c)
        metrics |= energy_metrics
    out["energy"] = energy_flags
    records = rd.read_metrics()
    learning_curve(
        records,
        rd.path / "learning_curve.png",
        f"{c.agent.name} on {c.env.id}, seed {c.seed} ({b} lifetimes)",
        lifetime_steps=t_life if rounds == 1 else None,
        num_envs=b,
    )
    if diverged:
        return out | {"status": "diverged", "reason": diverged}
    if c.eval.enabled:
        metrics |= _evaluate(c, agent, device)
        eval_rec = {
            "step": done_steps,
            **{k: v for k, v in metrics.items() if k.startswith("eval/")},
        }
        rd.log(eval_rec)
        if mirror is not None:
            mirror.log(eval_rec)
        if not math.isfinite(metrics["eval/reward_rate_mean"]):
            return out | {"status": "diverged", "reason": "non-finite evaluation reward"}
    return out | {"status": "ok"}


def record_energy(rd: RunDir, agent: Any, res: Any, c: TrainConfig
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write ``energy_counts.json`` of a training rollout; return summary metrics and flags.

    Counts are the mean per env step and lifetime over the final round of training lifetimes;
    J per episode uses that round's mean episode length (:func:`write_energy`).
    """
    lengths = res.episodes.length
    episode_length = statistics.fmean(lengths) if lengths else float(res.steps)
    return write_energy(rd.path, res.ops, agent.layers, episode_length,
                        "training rollout, final round of lifetimes", c)


def write_energy(run_dir: Path, ops: dict[str, dict[str, float]], layers: dict[str, Any],
                 episode_length: float, source: str, c: TrainConfig
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write ``energy_counts.json``; return summary metrics and per-chip flags.

    ``run_dir/energy_counts.json`` is the input of ``snnrl energy``: ``ops_per_step`` (layer → count
    key → mean per env step), ``layers`` (:class:`~snnrl.networks.LayerInfo` as dicts),
    ``episode_length``, ``assumptions``, ``source`` (where the counts were taken), ``agent``,
    ``env_id``. The flags qualify each figure (fit, lower bound, unpriced terms).
    """
    from snnrl.energy.model import Assumptions

    assume = Assumptions(tick_duration_s=float(getattr(c.agent, "dt", 1e-3)))
    write_json(run_dir / "energy_counts.json", {
        "ops_per_step": ops, "layers": {k: asdict(v) for k, v in layers.items()},
        "episode_length": episode_length, "assumptions": asdict(assume), "source": source,
        "agent": c.agent.name, "env_id": c.env.id})
    return price_counts(ops, layers, episode_length, assume)


def price_counts(ops: dict[str, dict[str, float]], layers: dict[str, Any],
                 episode_length: float, assume: Any
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Price counts on every chip in ``conf/chip``: summary metrics and per-chip flags.

    The metrics are ``energy/<chip>/J_per_step`` and ``J_per_episode``; what
    :func:`write_energy` records, and what ``snnrl board check`` re-derives.
    """
    from snnrl.energy.report import estimate_all, summary_metrics

    estimates = estimate_all(ops, layers, assume=assume)
    flags = {n: {"fits": e.fits, "reason": e.reason, "lower_bound": e.lower_bound,
                 "unpriced": e.unpriced, "rankable": e.rankable,
                 "quantised_bits": e.quantised_bits}
             for n, e in estimates.items() if not n.startswith("ann_twin@")}
    return summary_metrics(estimates, episode_length), flags


class _IntervalLogger:
    """Writes one metrics record per logging interval (file, W&B, progress bar)."""

    def __init__(
        self, rd: RunDir, mirror: Any, bar: Any, base: int, num_envs: int, lifetime: int
    ) -> None:
        self.rd, self.mirror, self.bar = rd, mirror, bar
        self.base, self.b, self.lifetime = base, num_envs, lifetime
        self.last_t, self.last_time = 0, time.perf_counter()

    def __call__(self, t: int, rec: dict[str, float]) -> None:
        now = time.perf_counter()
        steps_in = (t - self.last_t) * self.b
        full = {
            "step": self.base + t * self.b,
            "lifetime": self.lifetime,
            "lifetime_step": t,
            **rec,
            "perf/sps": steps_in / max(now - self.last_time, 1e-9),
        }
        self.last_t, self.last_time = t, now
        self.rd.log(full)
        if self.mirror is not None:
            self.mirror.log(full)
        if self.bar is not None:
            self.bar.update(steps_in)
            ret = rec.get("train/episode_return")
            self.bar.set_postfix(
                sps=f"{full['perf/sps']:.0f}",
                ret="-" if ret is None else f"{ret:.1f}",
                refresh=False,
            )


def _evaluate(c: TrainConfig, agent: Any, device: torch.device) -> dict[str, Any]:
    """docs/PROTOCOL.md v1: fresh lifetimes with plasticity on, score the last 10% of each."""
    metrics, _ = evaluate_lifetimes(c, agent, device)
    return metrics


def evaluate_lifetimes(c: TrainConfig, agent: Any, device: torch.device
                       ) -> tuple[dict[str, Any], Any]:
    """Run the protocol's evaluation; return ``(eval metrics, rollout result)``.

    Agents that learn within a lifetime: fresh lifetimes with plasticity on, scored on their last
    10%. Frozen-weight (deep) agents: ``eval.episodes`` episodes
    (:func:`snnrl.cli.deep.evaluate_episodes`; the second item is then the per-episode record).
    """
    if not agent.learns_within_lifetime:
        from snnrl.cli.deep import evaluate_episodes

        return evaluate_episodes(c, agent, device)
    n = c.eval.lifetimes
    env = make_env(c.env, n, device)
    gen = torch.Generator(device=device).manual_seed(derive_seed(c.seed, "eval/agent"))
    bar = _progress(c, n * c.lifetime_steps, "eval")

    def on_interval(t: int, rec: dict[str, float]) -> None:
        if bar is not None:
            bar.update(c.train.log_every * n)

    t0 = time.perf_counter()
    try:
        res = run_lifetimes(agent, env, c.lifetime_steps, gen,
                            env_seed=derive_seed(c.seed, "eval/env"), on_interval=on_interval,
                            interval=c.train.log_every)
    finally:
        env.close()
        if bar is not None:
            bar.close()
    mean, per = last_fraction_return(res.episodes, n, c.lifetime_steps)
    rate = res.window_reward_rate
    return {"eval/return_mean": mean if per else None,
            "eval/reward_rate_mean": statistics.fmean(rate) if rate else math.nan,
            "eval/return_std": statistics.pstdev(per) if len(per) > 1 else 0.0,
            "eval/fitness_mean": statistics.fmean(res.fitness) if res.fitness else math.nan,
            "eval/lifetimes": len(per),
            "perf/eval_time_s": time.perf_counter() - t0}, res


def _reject_interpolations(node: Any, where: str) -> None:
    """Refuse ``${...}`` anywhere in a config read back from disk.

    A config snnrl wrote is fully resolved; an interpolation could read the environment
    (``${oc.env:WANDB_API_KEY}``) when the file came from someone else.
    """
    if isinstance(node, dict):
        for k, v in node.items():
            _reject_interpolations(v, f"{where}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _reject_interpolations(v, f"{where}[{i}]")
    elif isinstance(node, str) and "${" in node:
        raise ConfigError(where.lstrip("."), node, "a resolved value (no ${...} interpolation)")


def load_run_config(run_dir: Path) -> TrainConfig:
    """The validated config of a finished run, from its ``config.yaml``, read as data only."""
    return to_objects(load_run_dictconfig(run_dir))


def load_run_dictconfig(run_dir: Path) -> DictConfig:
    """A finished run's ``config.yaml`` on snnrl's own schemas, as a ``DictConfig``.

    What :func:`train_job` takes; read as data only, validated.
    """
    import yaml

    from snnrl.agents.registry import AGENT_SCHEMAS

    path = run_dir / "config.yaml"
    if not path.is_file():
        raise ConfigError("RUN_DIR", str(run_dir), "a run directory with config.yaml")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(str(path), type(e).__name__, "valid YAML") from None
    if not isinstance(data, dict) or not isinstance(data.get("agent"), dict):
        raise ConfigError(str(path), type(data).__name__, "a mapping with an 'agent' mapping")
    _reject_interpolations(data, "")
    name = data["agent"].get("name")
    if name not in AGENT_SCHEMAS:
        raise ConfigError("agent.name", name, f"one of {sorted(AGENT_SCHEMAS)} in {path}")
    data.pop("hydra", None)
    from snnrl.learners.config import LEARNER_SCHEMAS

    learner = data.setdefault("learner", {"name": "none"})
    lname = learner.get("name") if isinstance(learner, dict) else None
    if lname not in LEARNER_SCHEMAS:
        raise ConfigError("learner.name", lname, f"one of {sorted(LEARNER_SCHEMAS)} in {path}")
    schema = OmegaConf.structured(TrainConfig(agent=AGENT_SCHEMAS[name](),
                                              learner=LEARNER_SCHEMAS[lname]()))
    try:
        merged = OmegaConf.merge(schema, OmegaConf.create(data))
        to_objects(merged)
        assert isinstance(merged, DictConfig)
        return merged
    except OmegaConfBaseException as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(str(path), "?", f"a config snnrl train wrote ({first})") from None


def _progress(c: TrainConfig, total: int, desc: str) -> Any:
    if not c.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="step",
        unit_scale=True,
        mininterval=1.0,
        file=sys.stderr,
        dynamic_ncols=True,
    )


def _print_results(summary: dict[str, Any], run_dir: Path) -> None:
    m = summary.get("metrics", {})
    rows = [
        ("status", summary["status"] + (f" ({summary['reason']})" if "reason" in summary else "")),
        ("agent / env", f"{summary['agent']} / {summary['env_id']}"),
        ("seed", str(summary["seed"])),
        ("env steps", f"{summary['env_steps']:,}"),
        ("lifetime steps", f"{summary['lifetime_steps']:,} x {summary['num_envs']} lifetimes"),
    ]
    for k in ("train/return_last_10pct", "train/fitness_mean_last_gen",
              "train/fitness_mean_last_lifetime", "eval/return_mean",
              "eval/return_std", "eval/fitness_mean", "eval/control_fitness_mean",
              "eval/control_return_mean", "perf/train_sps"):
        if k in m and m[k] is not None:
            rows.append((k, f"{m[k]:.1f}"))
    for k, ret in (("train/reward_rate_last_10pct", "train/return_last_10pct"),
                   ("eval/reward_rate_mean", "eval/return_mean")):
        if m.get(k) is not None and m.get(ret) is None:  # no episode ended: the rate is the score
            rows.append((k, f"{m[k]:.4f} per step"))
    rows.append(("wall time", f"{summary.get('wall_time_s', 0):.1f} s"))
    rows.append(("run dir", str(run_dir)))
    print("\nsnnrl train: results\n" + _table(rows), flush=True)
