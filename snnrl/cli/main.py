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
from typing import Any

USAGE = """usage: snnrl COMMAND [ARGS...]

commands:
  train    train an agent (Hydra app): snnrl train agent=rstdp env=cartpole seed=3
           train.env_steps=1280000 hydra.run.dir=out/x   (-m for sweeps, --help for Hydra's help)

  energy   price a run's operation counts on neuromorphic chips: snnrl energy RUN_DIR
           [--chip loihi] [--no-eval]

  compare  aggregate runs over seeds (IQM, 95% CIs, P(improvement), plots): snnrl compare
           DIR... [--metric eval/return_mean] [--by agent,env_id] [--normalise] [--out DIR]

  eval     long-horizon stability of a trained run (k x its lifetime, plastic state never reset):
           snnrl eval RUN_DIR [--horizons 1,10,100] [--lifetimes 16] [--control]

  zoo      the zoo: agents x envs (runs / tuned / unsupported): snnrl zoo [--env NAME];
           plasticity rules and their locality: snnrl zoo --rules

  board    leaderboards: snnrl board submit DIR... | check [FILE...] | verify FILE
           [--device cpu] | render [--check]   (--root leaderboards: where they live)

  tune     hyper-parameter search (Optuna; mean over tuning seeds, resumable): snnrl tune --study
           NAME --trials 20 --objective eval/return_mean:max --param agent.lr=float:1e-4:1e-2:log
           [--storage runs/tune] [--seeds 100,101] [-- FIXED_OVERRIDES...]
"""

PLANNED: tuple[str, ...] = ()
AVAILABLE = "train, eval, energy, compare, zoo, board, tune"


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
    texts = [str(e)] + ([str(e.__cause__)] if e.__cause__ is not None else [])
    lines: list[str] = []
    for t in texts:
        for x in t.splitlines():
            x = x.strip()
            if x and x not in lines and not x.startswith(("full_key:", "object_type=",
                                                           "reference_type=")):
                lines.append(x)
    text = " ".join(lines)
    m = re.search(r"Error merging override ([^=\s]+)=(\S*)", text)
    if m:
        conv = re.search(r"could not be converted to (\w+)", text)
        expected = f"a value of type {conv.group(1)}" if conv else "a valid value"
        return f"config: {m.group(1)}={m.group(2)!r}: expected {expected}"
    m = re.search(r"Could not override '([^']+)'", text) or re.search(
        r"Key '([^']+)' is not in struct", text)
    if m:
        return f"config: {m.group(1)}: unknown key (see `snnrl train --cfg job` for valid keys)"
    m = re.search(r"missing mandatory value: (\S+)", text)
    if m:
        key = getattr(e, "full_key", None) or getattr(e.__cause__, "full_key", None) or m.group(1)
        return f"config: {key}: missing; expected a value (set it with {key}=...)"
    return f"config: {text or type(e).__name__}"


class _DropHydraJobError:
    """stderr proxy that drops Hydra's "Error executing job with overrides" line.

    Hydra writes that line straight to ``sys.stderr`` before re-raising a job's exception; we
    print our own single line instead.
    """

    PREFIX = "Error executing job with overrides:"

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if text.startswith(self.PREFIX):
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


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
    if cmd == "energy":
        return _guarded(rest, "snnrl.cli.energy", "run_energy")
    if cmd == "eval":
        return _guarded(rest, "snnrl.cli.evaluate", "run_eval")
    if cmd == "zoo":
        return _guarded(rest, "snnrl.cli.zoo", "run_zoo")
    if cmd == "compare":
        return _guarded(rest, "snnrl.cli.compare", "run_compare")
    if cmd == "board":
        return _guarded(rest, "snnrl.cli.board", "run_board")
    if cmd == "tune":
        return _guarded(rest, "snnrl.cli.tune", "run_tune")
    if cmd in PLANNED:
        return _error(f"'{cmd}' is not available yet in this version; available: {AVAILABLE}")
    return _error(f"unknown command '{cmd}'; expected one of: {AVAILABLE}")


def _guarded(rest: list[str], module: str, func: str) -> int:
    """Run a sub-command; bad input (ConfigError, a bad chip file) becomes one line, exit 2."""
    import importlib

    from snnrl.config import ConfigError
    from snnrl.energy.chips import ChipFileError

    try:
        return int(getattr(importlib.import_module(module), func)(rest))
    except (ConfigError, ChipFileError) as e:
        return _error(str(e))


def _train(rest: list[str]) -> int:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from snnrl.cli.app import run_train_app
    from snnrl.config import ConfigError

    user_full_error = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach us; we print them as one line
    saved_stderr = sys.stderr
    sys.stderr = _DropHydraJobError(saved_stderr)  # type: ignore[assignment]
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
        sys.stderr = saved_stderr
        if not user_full_error:
            os.environ.pop("HYDRA_FULL_ERROR", None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
