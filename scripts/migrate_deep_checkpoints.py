"""Wrap deep-agent checkpoints written before commit "Deep runs: checkpoint.pt records agent..."
(a bare ``state_dict``) into the current format ``{"agent", "env_id", "env_steps", "weights"}``.

    python scripts/migrate_deep_checkpoints.py runs/zoo_maze

The weights are unchanged (the script checks every tensor after writing); agent, env id and env
steps come from the run's ``summary.json``. Runs already in the current format are left alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from snnrl.tracking import RunDir


def main(roots: list[str]) -> None:
    n = 0
    for root in roots:
        for summary_path in sorted(Path(root).glob("**/summary.json")):
            run = summary_path.parent
            ckpt = run / "checkpoint.pt"
            if not ckpt.is_file():
                continue
            obj = torch.load(ckpt, map_location="cpu", weights_only=True)
            if isinstance(obj, dict) and "weights" in obj:
                continue
            s = json.loads(summary_path.read_text())
            RunDir(run).save_checkpoint({"agent": s["agent"], "env_id": s["env_id"],
                                         "env_steps": s["env_steps"], "weights": obj})
            back = torch.load(ckpt, map_location="cpu", weights_only=True)["weights"]
            assert back.keys() == obj.keys() and all(torch.equal(back[k], obj[k]) for k in obj)
            n += 1
    print(f"migrated {n} checkpoints")


if __name__ == "__main__":
    main(sys.argv[1:])
