"""Seed derivation: every random stream of a run comes from (seed, purpose, index).

Streams are derived by hashing, so no two purposes (training agent, training env, evaluation
agent, evaluation env) and no two seeds ever share a stream, as naive ``seed + offset`` schemes
do (``seed=0``'s evaluation would be ``seed=1``'s training).

>>> derive_seed(0, "train/agent", 0) != derive_seed(0, "train/env", 0)
True
>>> derive_seed(3, "eval/agent") == derive_seed(3, "eval/agent")
True
"""

from __future__ import annotations

import hashlib


def derive_seed(seed: int, purpose: str, index: int = 0) -> int:
    """A 63-bit seed for the stream ``purpose`` number ``index`` of run seed ``seed``."""
    digest = hashlib.sha256(f"snnrl/{seed}/{purpose}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)
