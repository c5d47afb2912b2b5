"""Leaderboards in git: one YAML file per submission, checked, re-evaluable, append-only.

- :func:`submit` turns finished runs of one config (one per seed, at least 5) into an entry
  under ``leaderboards/entries/`` with their checkpoints, configs and summaries stored under
  ``leaderboards/checkpoints/`` (size-capped) and a line in ``leaderboards/ledger.jsonl``.
- :func:`check` finds what is wrong with an entry without running anything (schema, hashes,
  recomputed aggregates, config consistency, ledger); :func:`check_all` checks a whole root.
- :func:`verify` re-runs the protocol evaluation of every stored seed and records the outcome.
- :func:`~snnrl.leaderboard.energy.count_energy` counts and prices the stored checkpoints of an
  entry whose runs recorded no energy (``snnrl board energy``).
- :func:`render` builds ``leaderboards/README.md``.

The schema is in :mod:`snnrl.leaderboard.schema`, the files on disk in
:mod:`snnrl.leaderboard.store`; docs/LEADERBOARDS.md is the user's guide.
"""

from snnrl.leaderboard.checks import check, check_all
from snnrl.leaderboard.submission import submit
from snnrl.leaderboard.tables import render
from snnrl.leaderboard.verification import VerifyResult, verify

__all__ = ["VerifyResult", "check", "check_all", "render", "submit", "verify"]
