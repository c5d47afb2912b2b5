"""The learner-state file both outer learners write (``learner_state.pt``).

A learner provides ``state_tree()`` (tensors and plain values only, so the file loads with
``torch.load(weights_only=True)``) and ``load_state_tree(tree)``; this mixin adds the atomic
write and the safe read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from snnrl.tracking.rundir import atomic_write


class LearnerCheckpoint:
    """``save`` / ``load`` of a learner's state tree, with extra fields (the config hash)."""

    def state_tree(self) -> dict[str, Any]:  # pragma: no cover - provided by the learner
        """Everything needed to resume: tensors and plain values only."""
        raise NotImplementedError

    def load_state_tree(self, tree: dict[str, Any]) -> None:  # pragma: no cover - ditto
        """Restore :meth:`state_tree`."""
        raise NotImplementedError

    def save(self, path: Path, extra: dict[str, Any] | None = None) -> None:
        """Write the learner state atomically."""
        obj = self.state_tree() | (extra or {})
        atomic_write(path, lambda f: torch.save(obj, f))

    def load(self, path: Path) -> dict[str, Any]:
        """Load a checkpoint written by :meth:`save` (``weights_only=True``)."""
        tree = torch.load(path, map_location="cpu", weights_only=True)
        self.load_state_tree(tree)
        return tree
