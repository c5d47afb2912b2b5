"""``snnrl energy RUN_DIR [--chip NAME ...]``: price a run's operation counts on every chip.

Reads ``RUN_DIR/energy_counts.json`` (written by training; for a deep or meta-learned plastic
run trained before those agents counted, it is made first from its ``checkpoint.pt`` by
:func:`count_run`), prints a breakdown by operation type
and by layer, and writes ``RUN_DIR/energy/report.json``, ``report.md`` and ``chips.png``. It
never rewrites ``summary.json``. For chips with fewer weight bits than float32 it also runs the
chip-constrained evaluation (weights on the chip's grid, stochastic rounding of plastic
updates; docs/PROTOCOL.md evaluation lifetimes) and reports that return, and the energy of the
quantised network, next to the float figure: agents with an ``agent.weight_bits`` option
(R-STDP) only; ``--no-eval`` skips it.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

from snnrl.config import ConfigError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="snnrl energy", description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--chip", action="append", default=None,
                   help="chip name (repeatable; default: every chip in conf/chip)")
    p.add_argument("--no-eval", action="store_true", help="skip the chip-constrained evaluation")
    p.add_argument("--tick-duration", type=float, default=None,
                   help="seconds per tick on the chip (default: the agent's dt, real time)")
    p.add_argument("--hops-per-spike", type=float, default=0.0)
    p.add_argument("--progress", action="store_true")
    return p


def count_run(run_dir: Path) -> bool:
    """Count a run's operations again from its checkpoint; write ``energy_counts.json``.

    For the runs whose counts come from an evaluation of frozen trained parameters, which the
    checkpoint holds: deep agents (the frozen-weight evaluation episodes, on the CPU) and
    meta-learned plastic agents (``learner=es|bptt``: the evaluation lifetimes with plasticity
    on, from ``theta``, on the run's device when this machine has it). Re-runs that evaluation
    from ``config.yaml`` and ``checkpoint.pt`` (read as data; ``weights_only=True``) with the
    operations counted, exactly as ``snnrl train`` does at the end of training, so the counts,
    layers and episode length equal those training wrote; writes (or rewrites)
    ``energy_counts.json``. ``summary.json`` is not touched. Returns False when ``run_dir`` is
    not such a run with a checkpoint (an R-STDP run's counts come from its training lifetimes:
    they cannot be re-counted).
    """
    import yaml

    from snnrl.cli.train import is_deep

    try:
        data = yaml.safe_load((run_dir / "config.yaml").read_text())
        name = str(data["agent"]["name"])
        learner = (data.get("learner") or {}).get("name", "none")
    except Exception:  # noqa: BLE001 - not a run dir this path can count: the caller says so
        return False
    if not (run_dir / "checkpoint.pt").is_file():
        return False
    if not (is_deep(name) or learner in ("es", "bptt")):
        return False
    return _count_from_checkpoint(run_dir, name, deep=is_deep(name))


def _count_from_checkpoint(run_dir: Path, name: str, deep: bool) -> bool:
    """:func:`count_run` once the run is known to be countable (:mod:`snnrl.eval.counted`)."""
    import torch

    from snnrl.cli.evaluate import load_agent
    from snnrl.cli.train import load_run_config, write_energy
    from snnrl.config import resolve_device
    from snnrl.eval.counted import counted_evaluation

    c = load_run_config(run_dir)
    device = torch.device("cpu")
    if not deep:
        try:  # the device training evaluated on (CUDA and CPU may differ in the last bit)
            device = resolve_device(c.device)
        except ConfigError:
            print(f"snnrl energy: {run_dir} was evaluated on {c.device}, which this machine "
                  "lacks; counting on the CPU (counts may differ from training's)")
    threads = torch.get_num_threads()
    torch.set_num_threads(c.torch_threads)
    try:
        c, agent = load_agent(run_dir, device)
        c.progress = False
        ce = counted_evaluation(c, agent, device)
    finally:
        torch.set_num_threads(threads)
    if ce is None:
        return False
    _warn_if_other_figures(run_dir, ce.metrics)
    write_energy(run_dir, ce.ops, ce.layers, ce.episode_length,
                 f"{ce.source} (counted by snnrl energy from checkpoint.pt)", c)
    ret = ce.metrics.get("eval/return_mean")
    scored = "" if ret is None else f" (eval return {ret:.6g})"
    n = c.eval.episodes if deep else c.eval.lifetimes
    print(f"snnrl energy: counted {n} {ce.source} of {name}{scored}; wrote "
          f"{run_dir}/energy_counts.json")
    return True


def _warn_if_other_figures(run_dir: Path, metrics: dict[str, Any]) -> None:
    """Say so when the counted evaluation does not give the run's recorded ``eval/`` figures.

    Then the counts describe this evaluation, not the scored one (another device or thread
    count, or different code); ``snnrl board energy`` refuses such a seed.
    """
    from snnrl.leaderboard.schema import COMPARE_KEYS

    try:
        stored = json.loads((run_dir / "summary.json").read_text())["metrics"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    differ = [f"{k} {metrics.get(k)!r} (summary: {stored[k]!r})" for k in COMPARE_KEYS
              if stored.get(k) is not None and stored[k] != metrics.get(k)]
    if differ:
        print(f"snnrl energy: warning: the counted evaluation of {run_dir} differs from its "
              f"summary: {'; '.join(differ)}; the counts describe the counted evaluation")


def _read_counts(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "energy_counts.json"
    if not path.is_file() and not count_run(run_dir):
        raise ConfigError("RUN_DIR", str(run_dir),
                          "a training run directory with energy_counts.json "
                          "(trained with agent.count_ops=true), or a deep or meta-learned "
                          "(learner=es|bptt) run with checkpoint.pt")
    try:
        data = json.loads(path.read_text())
        ops = data["ops_per_step"]
        layers = data["layers"]
        ep_len = float(data["episode_length"])
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(str(path), type(e).__name__,
                          "the JSON snnrl train writes (ops_per_step, layers, episode_length)"
                          ) from None
    if not isinstance(ops, dict) or not isinstance(layers, dict):
        raise ConfigError(str(path), "?", "ops_per_step and layers as mappings")
    if not (math.isfinite(ep_len) and ep_len >= 0):
        raise ConfigError(f"{path}: episode_length", ep_len, "a finite value >= 0")
    for layer, counts in ops.items():
        if not isinstance(counts, dict):
            raise ConfigError(f"{path}: ops_per_step.{layer}", counts, "a mapping of counts")
        for key, v in counts.items():
            if (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
                    or v < 0):
                raise ConfigError(f"{path}: ops_per_step.{layer}.{key}", v,
                                  "a finite count >= 0")
    if not isinstance(data.get("assumptions", {}), dict):
        raise ConfigError(f"{path}: assumptions", data.get("assumptions"), "a mapping")
    return data


def run_energy(argv: list[str]) -> int:
    """Entry point of ``snnrl energy``; returns the exit status."""
    from snnrl.energy.chips import load_chips
    from snnrl.energy.model import Assumptions, estimate
    from snnrl.energy.report import bar_chart, breakdown, estimate_all, layers_from_json, markdown
    from snnrl.tracking import atomic_write, write_json

    a = _parser().parse_args(argv)
    data = _read_counts(a.run_dir)
    names = [n for arg in (a.chip or []) for n in arg.split(",") if n]
    chips = load_chips(names or None)
    all_chips = load_chips()
    try:
        assume = Assumptions(**data.get("assumptions", {}))
        layers = layers_from_json(data["layers"])
    except TypeError as e:
        raise ConfigError(str(a.run_dir / "energy_counts.json"), "?",
                          f"assumptions and layers as snnrl train writes them ({e})") from None
    if a.tick_duration is not None:
        if not a.tick_duration > 0:
            raise ConfigError("--tick-duration", a.tick_duration, "a value > 0")
        assume = replace(assume, tick_duration_s=a.tick_duration)
    if a.hops_per_spike < 0:
        raise ConfigError("--hops-per-spike", a.hops_per_spike, "a value >= 0")
    assume = replace(assume, hops_per_spike=a.hops_per_spike)
    ops = data["ops_per_step"]
    ep_len = float(data["episode_length"])
    estimates = estimate_all(ops, layers, chips, assume)
    host = all_chips[assume.host_chip]
    constrained: dict[str, dict[str, Any]] = {}
    from snnrl.agents.plastic import ZOO_PLASTIC
    from snnrl.agents.registry import AGENT_SCHEMAS
    from snnrl.cli.train import is_deep

    agent_name = str(data.get("agent") or "")
    deep = is_deep(agent_name)
    schema = AGENT_SCHEMAS.get(agent_name)
    # float32 weights and no weight_bits option to evaluate with: deep and meta-learned agents
    unquantisable = deep or (schema is not None
                             and "weight_bits" not in {f.name for f in fields(schema)})
    if not a.no_eval and unquantisable:
        kind = ("the deep agent" if deep else "the meta-learned plastic agent"
                if agent_name in ZOO_PLASTIC else "the agent")
        print(f"snnrl energy: no chip-constrained evaluation for {kind} "
              f"{data.get('agent')} (no agent.weight_bits); figures are for float32 weights")
    if not a.no_eval and not unquantisable:
        bits_needed = sorted({e.quantised_bits for e in estimates.values()
                              if e.fits and e.quantised_bits and "@" not in e.chip})
        runs = {b: _constrained_eval(a.run_dir, b, a.progress) for b in bits_needed}
        for name, e in list(estimates.items()):
            if "@" in name or not e.fits or not e.quantised_bits:
                continue
            metrics, q_ops, q_len = runs[e.quantised_bits]
            q_est = estimate(all_chips[name], q_ops, layers, host, assume)
            constrained[name] = {"weight_bits": e.quantised_bits,
                                 "eval/return_mean": metrics["eval/return_mean"],
                                 "eval/reward_rate_mean": metrics["eval/reward_rate_mean"],
                                 "J_per_step": q_est.total_J,
                                 "J_per_episode": q_est.total_J * q_len,
                                 "lower_bound": q_est.lower_bound}
    # all chips: RUN_DIR/energy; a subset: RUN_DIR/energy/chips-<names> (never overwrites the
    # full report); files are made in a temporary directory and moved in at the end
    out_dir = a.run_dir / "energy"
    if names:
        out_dir = out_dir / ("chips-" + "-".join(sorted(names)))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    final_dir = out_dir
    out_dir = tmp_dir
    chip_data = {n: {"title": c.title, "kind": c.kind, "voltage_v": c.voltage_v,
                     "process": c.process, "static_source": c.static_source,
                     "prices": {t: asdict(p) for t, p in c.prices.items()},
                     "all_in": None if c.all_in is None else asdict(c.all_in),
                     "included": c.included}
                 for n, c in all_chips.items()}
    report = {"run_dir": str(a.run_dir), "agent": data.get("agent"), "env_id": data.get("env_id"),
              "assumptions": asdict(assume), "episode_length": ep_len,
              "counts_source": data.get("source"), "ops_per_step": ops,
              "chips": {n: e.to_dict() for n, e in estimates.items()},
              "chip_constrained": constrained, "chip_data": chip_data}
    write_json(out_dir / "report.json", report)
    returns = {n: c["eval/return_mean"] for n, c in constrained.items()}
    md = (f"# Energy of {data.get('agent')} on {data.get('env_id')}\n\n"
          f"Per env step and per episode (mean episode length {ep_len:.1f} steps); counts from "
          f"{data.get('source')}.\n\nAssumptions: {json.dumps(asdict(assume))}\n\n"
          + markdown(estimates, ep_len, returns) + "\n")
    atomic_write(out_dir / "report.md", lambda f: f.write(md.encode()))
    bar_chart(estimates, out_dir / "chips.png",
              f"{data.get('agent')} on {data.get('env_id')}: energy per env step")
    if final_dir.exists():  # replace the previous report of the same chips as a whole
        old = final_dir.with_name(f".{final_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        final_dir.rename(old)
        tmp_dir.rename(final_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp_dir.rename(final_dir)
    out_dir = final_dir
    shown = names or list(estimates)
    for n in shown:
        print(breakdown(estimates[n]))
        if n in constrained:
            c = constrained[n]
            print(f"    chip-constrained ({c['weight_bits']}-bit weights): eval return "
                  f"{c['eval/return_mean']:.1f}, {c['J_per_step']:.4g} J/step")
    print(f"\nreport: {out_dir / 'report.md'}  chart: {out_dir / 'chips.png'}")
    return 0


def _constrained_eval(run_dir: Path, bits: int, progress: bool
                      ) -> tuple[dict[str, Any], dict[str, dict[str, float]], float]:
    """Evaluation lifetimes of the run's agent with weights on a ``bits``-bit grid."""
    import statistics

    import torch

    from snnrl.agents import make_agent
    from snnrl.cli.train import _env_info, evaluate_lifetimes, load_run_config
    from snnrl.config import resolve_device
    from snnrl.envs import make_env

    c = load_run_config(run_dir)
    if not hasattr(c.agent, "weight_bits"):
        raise ConfigError("agent", c.agent.name, "an agent with a weight_bits option")
    c.agent = replace(c.agent, weight_bits=bits, count_ops=True)
    c.progress = progress
    device = resolve_device(c.device)
    torch.set_num_threads(c.torch_threads)
    probe = make_env(c.env, 1, device)
    agent = make_agent(c.agent, _env_info(probe, c), device)
    probe.close()
    metrics, res = evaluate_lifetimes(c, agent, device)
    lengths = res.episodes.length
    ep_len = statistics.fmean(lengths) if lengths else float(res.steps)
    if metrics["eval/return_mean"] is None:  # no episode ended (long variants)
        metrics["eval/return_mean"] = math.nan
    return metrics, res.ops, ep_len
