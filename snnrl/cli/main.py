"""The ``snnrl`` command: a dispatcher over sub-commands.

``snnrl train [OVERRIDES...]`` is a Hydra app (overrides, ``-m`` for sweeps,
``hydra.run.dir=...``). Bad input ends with one line on stderr, ``snnrl: error: ...``, and exit
status 2; no traceback (set ``HYDRA_FULL_ERROR=1`` to see one).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence

USAGE = """usage: snnrl COMMAND [ARGS...]

commands:
  train    train an agent (Hydra app): snnrl train agent=rstdp env=cartpole seed=3
           train.env_steps=1280000 hydra.run.dir=out/x   (-m for sweeps, --help for Hydra's help)

coming with later issues: eval, energy, zoo, compare, board
"""

PLANNED = ("eval", "energy", "zoo", "compare", "board")


def _one_line(e: BaseException) -> str:
    """Condense a Hydra/OmegaConf error into one line naming the key."""
    from hydra.errors import MissingConfigException

    from snnrl.config import ConfigError

    if isinstance(e, ConfigError):
        return f"config: {e}"
    if isinstance(e, MissingConfigException):
        m = re.search(r"Could not find '([^']+)'", str(e))
        target = m.group(1) if m else (e.missing_cfg_file or "config")
        if "/" in target:
            group, name = target.rsplit("/", 1)
            options = ", ".join(o for o in (e.options or []) if not o.endswith("_schema"))
            return f"config: {group}={name}: unknown; expected one of: {options}"
        return f"config: {target}: not found"
    cause = e
    while cause.__cause__ is not None and not str(cause).strip():
        cause = cause.__cause__
    text = str(e)
    inner = e.__cause__
    key = None
    for src in (inner, e):
        if src is not None and getattr(src, "full_key", None):
            key = src.full_key
            break
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    msg = lines[0] if lines else type(e).__name__
    if inner is not None and str(inner).strip():
        inner_first = str(inner).strip().splitlines()[0]
        if inner_first not in msg:
            msg = f"{msg} {inner_first}"
    m = re.search(r"Key '([^']+)' is not in struct", text + str(inner or ""))
    if m and key is None:
        key = m.group(1)
    if "Could not override" in msg or "not in struct" in msg:
        k = re.search(r"Could not override '([^']+)'", msg)
        key = k.group(1) if k else key
        return f"config: {key}: unknown key (see `snnrl train --cfg job` for the valid keys)"
    if key and key not in msg:
        msg = f"{key}: {msg}"
    return f"config: {msg}"


def _error(msg: str) -> int:
    print(f"snnrl: error: {msg}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``snnrl`` console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if args else 2
    cmd, rest = args[0], args[1:]
    if cmd == "train":
        return _train(rest)
    if cmd in PLANNED:
        return _error(f"'{cmd}' is not available yet in this version; available: train")
    return _error(f"unknown command '{cmd}'; expected one of: train")


def _train(rest: list[str]) -> int:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from snnrl.cli.app import run_train_app
    from snnrl.config import ConfigError

    user_full_error = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach us; we print them as one line
    try:
        run_train_app(rest)
    except (ConfigError, HydraException, OmegaConfBaseException) as e:
        if user_full_error:
            raise
        return _error(_one_line(e))
    except SystemExit as e:  # Hydra's own --help / bad CLI syntax
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        return code
    finally:
        if not user_full_error:
            os.environ.pop("HYDRA_FULL_ERROR", None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
