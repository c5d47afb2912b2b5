"""``snnrl train`` end to end, in-process: run directory contract, determinism, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snnrl.cli.main import main

TINY = ["lifetime_steps=200", "train.env_steps=800", "train.num_envs=4", "train.log_every=100",
        "eval.lifetimes=2", "progress=false"]


def run(tmp: Path, *overrides: str) -> int:
    return main(["train", *TINY, *overrides, f"hydra.run.dir={tmp}"])


def test_train_writes_the_run_directory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run(out, "seed=3") == 0
    names = {p.name for p in out.iterdir()}
    assert {"config.yaml", "metrics.jsonl", "summary.json", "checkpoint.pt",
            "learning_curve.png", ".hydra"} <= names
    assert not [n for n in names if n.startswith(".") and n != ".hydra"], "temporary files left"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok"
    assert summary["agent"] == "rstdp" and summary["env_id"] == "snnrl/CartPole-v1"
    assert summary["seed"] == 3 and summary["env_steps"] == 800
    assert summary["lifetime_steps"] == 200 and summary["device"] == "cpu"
    assert summary["torch_threads"] == 1 and summary["versions"]["torch"] == torch.__version__
    assert "git_commit" in summary and summary["protocol"] == "v2"
    m = summary["metrics"]
    for key in ("train/return_last_10pct", "eval/return_mean"):
        assert m[key] > 0
    assert all("/" in k for k in m), "metric keys are slash-namespaced"
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert records and all("step" in r for r in records)
    assert [r["step"] for r in records[:2]] == [400, 800]
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["state"]["w"].shape == (4, 20, 61)
    assert "seed: 3" in (out / "config.yaml").read_text()


def _strip_perf(d: dict) -> dict:
    return {k: v for k, v in d.items() if not k.startswith("perf/")}


def test_same_seed_gives_identical_metrics(tmp_path: Path) -> None:
    assert run(tmp_path / "a", "seed=5") == 0
    assert run(tmp_path / "b", "seed=5") == 0
    assert run(tmp_path / "c", "seed=6") == 0
    rec = {k: [_strip_perf(json.loads(x)) for x in (tmp_path / k / "metrics.jsonl")
               .read_text().splitlines()] for k in "abc"}
    summ = {k: _strip_perf(json.loads((tmp_path / k / "summary.json").read_text())["metrics"])
            for k in "abc"}
    assert rec["a"] == rec["b"] and summ["a"] == summ["b"]
    assert rec["a"] != rec["c"]


def test_plasticity_off_keeps_initial_weights(tmp_path: Path) -> None:
    assert run(tmp_path / "on", "seed=2") == 0
    assert run(tmp_path / "off", "seed=2", "agent.plasticity=false") == 0
    on = torch.load(tmp_path / "on" / "checkpoint.pt", weights_only=True)["state"]["w"]
    off = torch.load(tmp_path / "off" / "checkpoint.pt", weights_only=True)["state"]["w"]
    from snnrl.agents import EnvInfo, RSTDPAgent, RSTDPAgentConfig
    from snnrl.envs import TorchCartPole
    from snnrl.seeding import derive_seed

    env = TorchCartPole(4)
    agent = RSTDPAgent(RSTDPAgentConfig(), EnvInfo(env.single_observation_space,
                       env.single_action_space, (-2.4, -3.0, -0.21, -3.5), (2.4, 3.0, 0.21, 3.5)))
    gen = torch.Generator().manual_seed(derive_seed(2, "train/agent", 0))
    w0 = agent.init_state(4, gen).w
    assert torch.equal(off, w0), "the control keeps the same initial weights, unchanged"
    assert not torch.equal(on, w0), "plasticity changes the weights"
    summary = json.loads((tmp_path / "off" / "summary.json").read_text())
    assert summary["plasticity"] is False


def test_gymnasium_env_through_the_adapter(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = run(out, "env=gym", "env.id=CartPole-v1", "env.obs_low=[-2.4,-3.0,-0.21,-3.5]",
               "env.obs_high=[2.4,3.0,0.21,3.5]")
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["env_id"] == "CartPole-v1"
    assert summary["metrics"]["eval/return_mean"] > 0


def test_multirun_sweep(tmp_path: Path) -> None:
    code = main(["train", "-m", *TINY, "seed=1,2", f"hydra.sweep.dir={tmp_path}"])
    assert code == 0
    summaries = sorted(tmp_path.glob("*/summary.json"))
    assert len(summaries) == 2
    seeds = sorted(json.loads(p.read_text())["seed"] for p in summaries)
    assert seeds == [1, 2]


BAD = [
    (["agent=nope"], "agent=nope"),
    (["env=nope"], "env=nope"),
    (["train.env_steps=abc"], "train.env_steps"),
    (["train.env_steps=0"], "train.env_steps"),
    (["train.env_steps=-800"], "train.env_steps"),
    (["train.env_steps=1000"], "train.env_steps"),
    (["train.num_envs=0"], "train.num_envs"),
    (["lifetime_steps=0"], "lifetime_steps"),
    (["agent.group_size=0"], "agent.group_size"),
    (["agent.ticks_per_step=-1"], "agent.ticks_per_step"),
    (["agent.dt=0"], "agent.dt"),
    (["agent.tau_mem=-0.01"], "agent.tau_mem"),
    (["agent.tau_e=0"], "agent.tau_e"),
    (["agent.p_max=1.5"], "agent.p_max"),
    (["agent.lr=fast"], "agent.lr"),
    (["device=gpu"], "device"),
    (["no_such_key=1"], "no_such_key"),
    (["agent.no_such_key=1"], "agent.no_such_key"),
    (["train.num_envs=2.5"], "train.num_envs"),
    (["env=gym"], "env.id"),
    (["env=gym", "env.id=NoSuchEnv-v0"], "env.id"),
    (["env=gym", "env.id=CartPole-v1"], "env.obs_low"),
]
if not torch.cuda.is_available():
    BAD.append((["device=cuda"], "device"))


@pytest.mark.parametrize(("overrides", "key"), BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_config_fails_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        overrides: list[str], key: str) -> None:
    out = tmp_path / "run"
    code = run(out, *overrides)
    err = capsys.readouterr().err
    assert code == 2
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("snnrl: error:") and key in lines[0], lines[0]
    assert "Traceback" not in err
    assert not (out / "summary.json").exists()
    assert not out.exists() or not any(out.iterdir()), "nothing half-written"


def test_console_script_reports_bad_config(tmp_path: Path) -> None:
    """The installed ``snnrl`` command: one line on stderr, non-zero exit, no traceback."""
    proc = subprocess.run([sys.executable, "-m", "snnrl.cli.main", "train", "agent.dt=-1",
                           f"hydra.run.dir={tmp_path / 'r'}"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "snnrl: error: config: agent.dt=-1.0: expected a value > 0"]


def test_unknown_command_and_bare_board(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err
    assert main(["board"]) == 2
    assert "usage: snnrl board" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "train" in capsys.readouterr().out


def test_wandb_offline_writes_inside_run_dir(tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    out = tmp_path / "run"
    assert run(out, "logger=wandb", "logger.mode=offline") == 0
    assert list((out / "wandb").glob("offline-run-*/run-*.wandb"))
    assert json.loads((out / "summary.json").read_text())["status"] == "ok"


def test_wandb_not_imported_without_logger(tmp_path: Path) -> None:
    code = ("import sys\nfrom snnrl.cli.main import main\n"
            f"rc = main(['train', *{TINY!r}, 'hydra.run.dir={tmp_path / 'r'}'])\n"
            "assert rc == 0\nassert 'wandb' not in sys.modules, 'wandb imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_diverged_run_is_recorded_and_exits_zero(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from snnrl.agents import RSTDPAgent

    monkeypatch.setattr(RSTDPAgent, "health",
                        lambda self, state: {"train/actor_w_abs": float("inf")})
    out = tmp_path / "run"
    assert run(out) == 0, "a diverged run must not take a sweep down"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged"
    assert "train/actor_w_abs" in summary["reason"]
    assert "eval/return_mean" not in summary["metrics"]


def test_crashed_run_is_recorded_as_failed(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from snnrl.agents import RSTDPAgent

    def boom(self, state, obs, generator):
        raise RuntimeError("boom")

    monkeypatch.setattr(RSTDPAgent, "act", boom)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="boom"):
        run(out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and "boom" in summary["reason"]


def test_long_variant_without_episode_ends_scores_the_reward_rate(tmp_path: Path) -> None:
    """maze_lifetime never ends an episode inside a lifetime: not diverged, reward rate set."""
    out = tmp_path / "run"
    code = main(["train", "env=maze_lifetime", "lifetime_steps=40", "train.env_steps=80",
                 "train.num_envs=2", "train.log_every=20", "eval.lifetimes=2", "progress=false",
                 f"hydra.run.dir={out}"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok"
    m = summary["metrics"]
    assert m["train/return_last_10pct"] is None and m["eval/return_mean"] is None
    assert m["train/reward_rate_last_10pct"] >= 0 and m["eval/reward_rate_mean"] >= 0


def test_reward_rate_is_the_window_mean(tmp_path: Path) -> None:
    """Cart-pole pays 1 per step: the reward rate of every window is exactly 1."""
    assert run(tmp_path / "r") == 0
    m = json.loads((tmp_path / "r" / "summary.json").read_text())["metrics"]
    assert m["train/reward_rate_last_10pct"] == 1.0 and m["eval/reward_rate_mean"] == 1.0


def test_run_config_is_read_back_as_data(tmp_path: Path) -> None:
    from snnrl.cli.train import load_run_config
    from snnrl.config import ConfigError

    out = tmp_path / "run"
    assert run(out, "seed=4") == 0
    assert load_run_config(out).seed == 4
    text = (out / "config.yaml").read_text()
    (out / "config.yaml").write_text(text.replace("id: snnrl/CartPole-v1",
                                                  "id: ${oc.env:HOME}"))
    with pytest.raises(ConfigError, match="interpolation"):
        load_run_config(out)
    (out / "config.yaml").write_text("agent: [1, 2]\n")
    with pytest.raises(ConfigError, match="agent"):
        load_run_config(out)
    (out / "config.yaml").write_text("!!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError):
        load_run_config(out)
