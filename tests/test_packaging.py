"""The wheel ships the configs, and a plain (non-editable) install finds and composes them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_configs_and_plain_install_finds_them(tmp_path: Path) -> None:
    pytest.importorskip("build")
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(dist), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = dist.glob("snnrl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for conf in ("snnrl/conf/train.yaml", "snnrl/conf/agent/rstdp.yaml",
                 "snnrl/conf/env/cartpole.yaml", "snnrl/conf/logger/none.yaml"):
        assert conf in names, f"{conf} missing from {wheel.name}"
    assert "snnrl/py.typed" in names
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile",
                    "--quiet", "--target", str(site), str(wheel)], check=True, timeout=300)
    probe = (
        "import snnrl, pathlib\n"
        "from snnrl.cli.app import conf_dir\n"
        "from snnrl.config import register_schemas\n"
        "from snnrl.cli.train import validate\n"
        "from hydra import compose, initialize_config_dir\n"
        "d = conf_dir()\n"
        f"assert pathlib.Path(snnrl.__file__).is_relative_to({str(site)!r}), snnrl.__file__\n"
        f"assert d.is_relative_to({str(site)!r}), d\n"
        "register_schemas()\n"
        "with initialize_config_dir(version_base='1.3', config_dir=str(d)):\n"
        "    cfg = compose('train', overrides=['seed=4'])\n"
        "c = validate(cfg)\n"
        "assert c.agent.name == 'rstdp' and c.env.id == 'snnrl/CartPole-v1' and c.seed == 4\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
