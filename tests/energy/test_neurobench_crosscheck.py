"""snnrl's synaptic-op counts equal NeuroBench's on the same network (needs neurobench).

NeuroBench is not a dependency: without it (or when it fails to import, e.g. beside an
incompatible torchaudio) this module is skipped. The check itself is
``benchmarks/neurobench_crosscheck.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

try:
    from neurobench.metrics.utils.layers import single_layer_MACs  # noqa: F401
except Exception as e:  # noqa: BLE001 - any import failure means "not available"
    pytest.skip(f"neurobench not importable ({type(e).__name__})", allow_module_level=True)

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "neurobench_crosscheck.py"


def _load():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("neurobench_crosscheck", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_counts_match_neurobench() -> None:
    r = _load().crosscheck(steps=3, batch=2, seed=0, prune=0.3)
    assert r["neurobench_spiking"] is True, "spike inputs: NeuroBench counts ACs"
    tot = r["total"]
    assert tot["neurobench_effective"] > 0
    assert tot["neurobench_effective"] < tot["neurobench_dense"]
    assert tot["snnrl_synops_ac"] == tot["neurobench_effective"]
    assert tot["snnrl_synops_dense"] == tot["neurobench_dense"]
    assert r["match"] is True
