"""Run directories, W&B mirroring and plots."""

from snnrl.tracking.rundir import (
    RunDir,
    atomic_write,
    config_hash,
    git_commit,
    versions,
    write_json,
)

__all__ = ["RunDir", "atomic_write", "config_hash", "git_commit", "versions", "write_json"]
