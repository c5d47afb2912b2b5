"""The leaderboard's files on disk: layout, limits, safe YAML, hashes and the ledger.

Layout under a leaderboard root (``leaderboards/`` in the repository)::

    ROOT/
      README.md                                   rendered tables (``snnrl board render``)
      ledger.jsonl                                append-only history, one JSON line per event
      entries/<env-slug>/<entry-name>.yaml        one file per submission
      checkpoints/<env-slug>/<entry-name>/        the entry's stored files, per seed k:
        seed<k>.pt                                  checkpoint.pt, byte for byte
        seed<k>.config.yaml                         config.yaml (resolved; needed to re-evaluate)
        seed<k>.summary.json                        summary.json (the per-seed scores' source)

``<entry-name>`` is ``<agent>__<budget tier or env steps>__<first 12 hex of the config hash
without seed>``; the entry id is ``<env-slug>/<entry-name>``. Paths inside an entry are relative
to ROOT.

Everything read back is read as data only: ``yaml.safe_load`` (a ``!!python/...`` tag is an
error, not an object), no YAML anchors/aliases, no ``${...}`` interpolation and no ``_target_``
key anywhere (nothing named in a file is ever imported or instantiated).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

from snnrl.config import ConfigError
from snnrl.tracking import atomic_write

SCHEMA_VERSION = 1
"""Version of the entry schema (``schema_version`` in every entry)."""
MIN_SEEDS = 5
"""An entry needs at least this many seeds (one run = one seed; docs/PROTOCOL.md)."""
MAX_FILE_BYTES = 4 * 1024 * 1024
"""Size cap of one stored file (checkpoint, config, summary or energy counts): 4 MiB. The
largest zoo policy that must have entries, sb3-contrib's RecurrentPPO with its defaults (578k
parameters), saves 2.3 MiB; 4 MiB leaves room for it, and still refuses an R-STDP maze
checkpoint of 64 lifetimes' weights (5.2 MiB: submit runs with fewer training lifetimes)."""
MAX_ENTRY_BYTES = 20 * 1024 * 1024
"""Size cap of all stored files of one entry together: 20 MiB."""
MAX_YAML_BYTES = 1024 * 1024
"""Largest entry or stored config read back (1 MiB): a YAML file is data, not a payload."""
LEVELS = ("checked", "re-evaluated", "reproduced")
"""Verification levels, lowest first (docs/LEADERBOARDS.md)."""
CONFIDENCE = 0.95
RANDOM_STATE = 0
BOOTSTRAP_REPS = 10_000
"""Bootstrap resamples of the CIs that ``submit`` records (each entry states its own)."""
MIN_REPS = 1_000
"""Fewest resamples an entry may state."""
LEDGER = "ledger.jsonl"
README = "README.md"


def mib(n: int) -> str:
    """``n`` bytes in MiB, for messages."""
    return f"{n / 1024 / 1024:.3g} MiB"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    """Hex SHA-256 of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode()).hexdigest()


def env_slug(env_id: str) -> str:
    """Directory name of an env id: ``snnrl/CartPole-v1`` → ``snnrl-CartPole-v1``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", env_id).strip("-.") or "env"


def name_part(text: str) -> str:
    """A file-name-safe form of an agent name or tier."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "x"


def now_utc() -> str:
    """The current time, ISO 8601 in UTC to the second (``2026-11-28T03:40:00Z``)."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def entry_rel(root: Path, entry_path: Path) -> str:
    """``entries/<slug>/<name>.yaml``: the entry's path relative to ``root`` (POSIX)."""
    return entry_path.resolve().relative_to(root.resolve()).as_posix()


def root_of(entry_path: Path) -> Path:
    """The leaderboard root an entry file lives in (``ROOT/entries/<slug>/<name>.yaml``).

    Raises:
        ConfigError: The file is not at that place.
    """
    p = entry_path.resolve()
    if p.suffix != ".yaml" or len(p.parents) < 3 or p.parents[1].name != "entries":
        raise ConfigError("ENTRY", str(entry_path),
                          "an entry file at <root>/entries/<env-slug>/<name>.yaml")
    return p.parents[2]


def _scan(node: Any, where: str, found: list[tuple[str, Any, str]]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{where}.{k}" if where else str(k)
            if k == "_target_":
                found.append((key, v, "plain data without '_target_' keys (nothing named in a "
                               "leaderboard file is imported or instantiated)"))
            elif not isinstance(k, str):
                found.append((key, k, "string keys"))
            _scan(v, key, found)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _scan(v, f"{where}[{i}]", found)
    elif isinstance(node, str) and "${" in node:
        found.append((where, node, "a resolved value (no ${...} interpolation)"))


def data_problems(node: Any) -> list[tuple[str, Any, str]]:
    """What makes loaded YAML unacceptable as leaderboard data: ``(key, value, expected)``.

    A ``_target_`` key anywhere, a ``${...}`` interpolation, a non-string key.
    """
    found: list[tuple[str, Any, str]] = []
    _scan(node, "", found)
    return found


def load_data(path: Path, what: str) -> Any:
    """Read a YAML file as plain data (see the module docstring for what is refused).

    Args:
        path: The file.
        what: What the file is, for messages (``entry``, ``stored config``).

    Raises:
        ConfigError: Unreadable, too large, not plain YAML data, or holding ``_target_`` or
            ``${...}``; the message names the file and the first problem.
    """
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise ConfigError(str(path), mib(size), f"a {what} of at most {mib(MAX_YAML_BYTES)}")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(str(path), type(e).__name__, f"a readable UTF-8 {what} file") from None
    return load_text(text, str(path), what)


def load_text(text: str, where: str, what: str) -> Any:
    """:func:`load_data` on text already read (``where`` names it in messages)."""
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise ConfigError(where, "a YAML anchor/alias", f"a plain {what} (no & or *)")
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(where, type(e).__name__,
                          f"a {what} of plain YAML data (no !!python tags; {first})") from None
    found = data_problems(data)
    if found:
        key, got, expected = found[0]
        raise ConfigError(f"{where}: {key}", got, expected)
    return data


class _Dumper(yaml.SafeDumper):
    """Safe dumper that never writes anchors (an entry holds no shared nodes)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(data: Any) -> str:
    """YAML text of an entry: keys in the order given, floats round-tripping exactly."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically (temporary file + rename)."""
    atomic_write(path, lambda f: f.write(text.encode()))


# --- the ledger -------------------------------------------------------------------------------

def read_ledger(root: Path) -> list[dict[str, Any]]:
    """The ledger's lines as dicts (``[]`` when there is none).

    Raises:
        ConfigError: A line that is not a JSON object with entry, sha256, event and date.
    """
    path = root / LEDGER
    if not path.is_file():
        return []
    out: list[dict[str, Any]] = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        if not (isinstance(rec, dict) and {"entry", "sha256", "event", "date"} <= rec.keys()):
            raise ConfigError(f"{path}:{i}", line[:60],
                              "a JSON object with entry, sha256, event and date")
        out.append(rec)
    return out


def append_ledger(root: Path, entry_path: Path, event: str) -> dict[str, Any]:
    """Append one line ``{entry, sha256, event, date}`` for the entry file as it is now.

    The file is rewritten atomically with the new line at the end, so a crash leaves either the
    old ledger or the new one, never half a line.
    """
    path = root / LEDGER
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    if old and not old.endswith("\n"):
        raise ConfigError(str(path), "a last line without newline", "complete JSON lines")
    rec = {"date": now_utc(), "entry": entry_rel(root, entry_path), "event": event,
           "sha256": sha256_file(entry_path)}
    write_text(path, old + json.dumps(rec, sort_keys=True) + "\n")
    return rec
