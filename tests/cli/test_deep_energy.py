"""Deep agents' energy: counted frozen-weight evaluation → energy_counts.json → snnrl energy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir

from snnrl.agents import make_agent
from snnrl.cli.app import conf_dir
from snnrl.cli.deep import evaluate_episodes
from snnrl.cli.main import main
from snnrl.cli.train import _env_info
from snnrl.config import register_schemas, to_objects
from snnrl.envs import make_env

TINY = ["env=cartpole", "env.max_episode_steps=60", "train.env_steps=64", "train.num_envs=2",
        "eval.episodes=2", "progress=false"]
SMALL = {"popsan_ppo": ["++agent.hyperparams.n_steps=32", "++agent.hyperparams.batch_size=64",
                        "agent.policy_kwargs.hidden=[32,32]"]}
"""Per-agent overrides that keep a test within a few seconds (SB3's PPO rolls out 2048 steps)."""


def _config(*overrides: str) -> Any:
    register_schemas()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return to_objects(compose("train", overrides=["progress=false", *overrides]))


@pytest.mark.parametrize(("agent", "spiking_layer", "loihi_fits"), [
    ("lstm", None, False),
    ("stpn_snn", "cell", False),  # LIF neurons, but the observation enters as a graded current
    ("ppo", None, False),
    ("popsan_ppo", "mlp_extractor.actor.layers.1", True),
])
def test_deep_run_writes_counts_that_snnrl_energy_prices(
        agent: str, spiking_layer: str | None, loihi_fits: bool, tmp_path: Path) -> None:
    run = tmp_path / agent
    assert main(["train", f"agent={agent}", *TINY, *SMALL.get(agent, []),
                 f"hydra.run.dir={run}"]) == 0
    data = json.loads((run / "energy_counts.json").read_text())
    episodes = json.loads((run / "eval_episodes.json").read_text())
    assert data["source"] == "frozen-weight evaluation episodes"
    assert data["agent"] == agent
    assert data["episode_length"] == pytest.approx(sum(episodes["length"]) / 2)
    assert set(data["ops_per_step"]) == set(data["layers"])
    for name, ops in data["ops_per_step"].items():
        assert ops["synops_dense"] >= ops.get("synops_ac", 0) + ops.get("synops_mac", 0), name
    chip = {n for n, i in data["layers"].items() if i["placement"] == "chip"}
    assert chip  # the policy network is what would run on a chip
    if spiking_layer is not None:
        ops = data["ops_per_step"][spiking_layer]
        assert ops["ticks"] > 1 and "spikes" in ops and "neuron_updates_idle" in ops
    if agent == "stpn_snn":
        assert data["layers"]["cell"]["plastic"] and data["ops_per_step"]["cell"][
            "plasticity_tick"] > 0 and data["ops_per_step"]["cell"]["stpn_proxy"] > 0
    if agent == "popsan_ppo":
        assert not any(data["layers"][n]["graded"] for n in chip)
        assert data["layers"]["mlp_extractor.actor.encoder"]["placement"] == "host"
    summary = json.loads((run / "summary.json").read_text())
    m = summary["metrics"]
    assert m["energy/horowitz45_fp32/J_per_step"] > 0
    assert (m["energy/loihi/J_per_step"] is not None) == loihi_fits
    assert summary["energy"]["loihi"]["fits"] == loihi_fits
    if not loihi_fits:
        assert "graded inputs" in summary["energy"]["loihi"]["reason"]
    assert main(["energy", str(run), "--no-eval"]) == 0
    report = json.loads((run / "energy" / "report.json").read_text())
    assert report["counts_source"] == "frozen-weight evaluation episodes"
    assert report["chips"]["loihi"]["fits"] == loihi_fits


def test_energy_on_a_deep_run_skips_the_chip_constrained_evaluation(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "ppo"
    assert main(["train", "agent=ppo", *TINY, f"hydra.run.dir={run}"]) == 0
    assert main(["energy", str(run)]) == 0  # horowitz45_int8 fits with 8-bit weights
    assert "no chip-constrained evaluation for the deep agent ppo" in capsys.readouterr().out


@pytest.mark.parametrize("agent", ["stpn_snn", "popsan_ppo", "recurrent_ppo", "dqn"])
def test_counting_changes_no_action(agent: str) -> None:
    c = _config(f"agent={agent}", "env=cartpole", "eval.episodes=3", "env.max_episode_steps=60",
                *SMALL.get(agent, []))
    probe = make_env(c.env, 1, "cpu")
    a = make_agent(c.agent, _env_info(probe, c), torch.device("cpu"))
    probe.close()
    plain, ep_plain = evaluate_episodes(c, a, torch.device("cpu"))
    counter = a.op_counter()
    counted, ep_counted = evaluate_episodes(c, a, torch.device("cpu"), counter)
    assert ep_counted == ep_plain
    assert counted["eval/return_mean"] == plain["eval/return_mean"]
    ops = counter.per_step()
    assert ops and all(v["synops_dense"] > 0 for v in ops.values() if "synops_dense" in v)
    # the mean is over the episodes' steps only (finished envs are masked out)
    assert float(counter.steps) == sum(ep_counted["length"])


def test_energy_counts_an_older_deep_run_from_its_checkpoint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a deep run trained before deep agents counted has checkpoint.pt but no energy_counts.json:
    # snnrl energy re-runs the frozen-weight evaluation with the counter and gets the same counts
    run = tmp_path / "stpn"
    assert main(["train", "agent=stpn", "agent.hidden=8", *TINY, f"hydra.run.dir={run}"]) == 0
    original = json.loads((run / "energy_counts.json").read_text())
    summary = (run / "summary.json").read_bytes()
    (run / "energy_counts.json").unlink()
    capsys.readouterr()
    assert main(["energy", str(run), "--no-eval"]) == 0
    assert "counted 2 frozen-weight evaluation episodes" in capsys.readouterr().out
    again = json.loads((run / "energy_counts.json").read_text())
    assert again["ops_per_step"] == original["ops_per_step"]
    assert again["layers"] == original["layers"]
    assert again["episode_length"] == original["episode_length"]
    assert (run / "summary.json").read_bytes() == summary


def test_energy_on_a_dir_without_counts_or_deep_checkpoint_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["energy", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "energy_counts.json" in err[0]
