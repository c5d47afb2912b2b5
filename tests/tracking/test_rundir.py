"""The run directory's provenance helpers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def test_git_commit_ignores_the_leaderboards_data(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A change under leaderboards/ is results, not code: it does not make the tree dirty."""
    import snnrl.tracking.rundir as rd

    repo = tmp_path / "repo"
    (repo / "snnrl" / "tracking").mkdir(parents=True)
    (repo / "leaderboards").mkdir()
    (repo / "code.py").write_text("x = 1\n")
    (repo / "leaderboards" / "ledger.jsonl").write_text("{}\n")
    fake = repo / "snnrl" / "tracking" / "rundir.py"
    fake.write_text("")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t",
                        *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "c")
    monkeypatch.setattr(rd, "__file__", str(fake))
    head = rd.git_commit()
    assert head is not None and len(head) == 40
    (repo / "leaderboards" / "ledger.jsonl").write_text("{}\n{}\n")
    assert rd.git_commit() == head
    (repo / "code.py").write_text("x = 2\n")
    assert rd.git_commit() == head + "-dirty"


def test_git_commit_outside_a_checkout_is_none(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import snnrl.tracking.rundir as rd

    fake = tmp_path / "a" / "b" / "c.py"
    fake.parent.mkdir(parents=True)
    monkeypatch.setattr(rd, "__file__", str(fake))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert rd.git_commit() is None
