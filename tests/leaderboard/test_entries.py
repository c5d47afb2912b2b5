"""The real leaderboard: every entry passes check, the ledger is consistent, README.md is fresh.

This is the leaderboard's CI gate (docs/LEADERBOARDS.md). It passes with no entries too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from snnrl.leaderboard import check, check_all, render
from snnrl.leaderboard.checks import entry_files

ROOT = Path(__file__).resolve().parents[2] / "leaderboards"


@pytest.mark.parametrize("entry", entry_files(ROOT), ids=lambda p: p.stem)
def test_entry_passes_check(entry: Path) -> None:
    assert check(entry) == []


def test_leaderboard_passes_check_all() -> None:
    # each entry is checked by test_entry_passes_check above; here only what spans entries
    problems, notes = check_all(ROOT, per_entry=False)
    assert problems == [], "\n".join(problems)


def test_readme_is_up_to_date() -> None:
    if not ROOT.is_dir():
        pytest.skip("no leaderboards/ directory")
    readme = ROOT / "README.md"
    assert readme.is_file(), "run: snnrl board render"
    assert readme.read_text(encoding="utf-8") == render(ROOT), "stale; run: snnrl board render"
