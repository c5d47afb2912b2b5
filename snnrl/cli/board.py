"""``snnrl board``: submit runs to the leaderboards, check, verify and render them.

    snnrl board submit DIR... [--root leaderboards]     one entry from runs of one config
    snnrl board check [FILE...] [--root leaderboards]   entries (default: the whole root)
    snnrl board verify FILE [--device cpu]              re-run the evaluation, record it
    snnrl board energy FILE [--device cpu]              count and price the stored checkpoints
                                                        of an entry that records no energy
    snnrl board energy FILE --reprice                   price its stored counts with today's
                                                        conf/chip (after a chip data change)
    snnrl board render [--root leaderboards] [--check]  README.md (--check: fail if stale)

``submit`` and ``verify`` re-render ``README.md`` after writing. Bad input (a run that cannot be
submitted, an entry that fails check before verify) is one line and exit status 2; problems that
``check`` finds and stale tables are exit status 1; a verification whose figures differ is
recorded in the entry and is exit status 1. docs/LEADERBOARDS.md is the guide.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from snnrl.config import ConfigError

USAGE = """usage: snnrl board COMMAND [ARGS...]

commands:
  submit DIR... [--root leaderboards] [--reps N] [--by NAME]
  check [FILE...] [--root leaderboards]
  verify FILE [--device cpu] [--tolerance 0] [--by NAME]
  reproduce FILE [--seeds 1,2] [--device cpu] [--workdir DIR] [--by NAME]
  energy FILE [--device cpu] [--reprice] [--by NAME]
  render [--root leaderboards] [--check]
"""


def _write_readme(root: Path) -> Path:
    from snnrl.leaderboard.store import README, write_text
    from snnrl.leaderboard.tables import render

    path = root / README
    write_text(path, render(root))
    return path


def _submit(argv: list[str]) -> int:
    from snnrl.leaderboard.store import BOOTSTRAP_REPS
    from snnrl.leaderboard.submission import submit

    p = argparse.ArgumentParser(prog="snnrl board submit",
                                description="Make a leaderboard entry of runs of one config.")
    p.add_argument("dirs", nargs="+", type=Path, help="run directories, or sweeps holding them")
    p.add_argument("--root", type=Path, default=Path("leaderboards"))
    p.add_argument("--reps", type=int, default=BOOTSTRAP_REPS, help="bootstrap resamples")
    p.add_argument("--by", default="snnrl board submit", help="who submits (for the history)")
    args = p.parse_args(argv)
    entry = submit(args.dirs, args.root, reps=args.reps, by=args.by)
    readme = _write_readme(args.root)
    print(f"snnrl board: submitted {entry}\n  tables: {readme}\n  verify it: snnrl board "
          f"verify {entry}")
    return 0


def _check(argv: list[str]) -> int:
    from snnrl.leaderboard.checks import check, check_all

    p = argparse.ArgumentParser(prog="snnrl board check",
                                description="Check entries (default: the whole root).")
    p.add_argument("files", nargs="*", type=Path, help="entry files (default: all, + ledger, "
                   "+ README.md)")
    p.add_argument("--root", type=Path, default=Path("leaderboards"))
    args = p.parse_args(argv)
    if args.files:
        problems, notes = [], [f"{len(args.files)} entries checked"]
        for f in args.files:
            if not f.is_file():
                raise ConfigError("FILE", str(f), "an existing entry file")
            problems += check(f)
    else:
        if not args.root.is_dir():
            raise ConfigError("--root", str(args.root), "an existing leaderboard directory")
        problems, notes = check_all(args.root)
    for line in problems:
        print(f"snnrl board: {line}", file=sys.stderr)
    for note in notes:
        print(f"snnrl board: {note}")
    print(f"snnrl board: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def _verify(argv: list[str]) -> int:
    from snnrl.leaderboard.store import root_of
    from snnrl.leaderboard.verification import verify

    p = argparse.ArgumentParser(prog="snnrl board verify",
                                description="Re-run the protocol evaluation of an entry.")
    p.add_argument("file", type=Path)
    p.add_argument("--device", default="cpu", help="cpu | cuda (default cpu)")
    p.add_argument("--tolerance", type=float, default=0.0,
                   help="largest |difference| accepted per figure (default 0: bit-identical)")
    p.add_argument("--by", default="snnrl board verify", help="who verifies (for the history)")
    args = p.parse_args(argv)
    if not args.file.is_file():
        raise ConfigError("FILE", str(args.file), "an existing entry file")
    res = verify(args.file, args.device, tolerance=args.tolerance, by=args.by)
    readme = _write_readme(root_of(args.file))
    print(f"snnrl board: {'re-evaluated' if res.ok else 'MISMATCH'}: {args.file}\n"
          f"  {res.details}\n  level: {res.level}\n  tables: {readme}")
    return 0 if res.ok else 1


def _energy(argv: list[str]) -> int:
    from snnrl.leaderboard.energy import count_energy, reprice_energy
    from snnrl.leaderboard.store import root_of

    p = argparse.ArgumentParser(
        prog="snnrl board energy",
        description="Count and price the stored checkpoints of an entry that records no energy.")
    p.add_argument("file", type=Path)
    p.add_argument("--device", default="cpu", help="cpu | cuda (default cpu)")
    p.add_argument("--reprice", action="store_true",
                   help="price the stored counts again with today's conf/chip (after a chip's "
                        "data changed); runs nothing")
    p.add_argument("--by", default=None, help="who counts (for the history)")
    args = p.parse_args(argv)
    if not args.file.is_file():
        raise ConfigError("FILE", str(args.file), "an existing entry file")
    if args.reprice:
        res = reprice_energy(args.file, by=args.by or "snnrl board energy --reprice")
    else:
        res = count_energy(args.file, args.device, by=args.by or "snnrl board energy")
    readme = _write_readme(root_of(args.file))
    chips = sorted({chip for per in res.per_seed.values() for chip in per})
    lines = []
    for chip in chips:
        js = [per.get(chip) for per in res.per_seed.values()]
        ok = [j for j in js if j is not None]
        lines.append(f"  {chip:<20} " + (f"{sum(ok) / len(ok):.4g} J/step (mean of {len(ok)} "
                                          "seeds)" if ok else "does not fit"))
    what = "re-priced" if args.reprice else "counted"
    print(f"snnrl board: energy {what}: {args.file}\n  {res.details}\n" + "\n".join(lines)
          + f"\n  level: {res.level}\n  tables: {readme}")
    return 0


def _reproduce(argv: list[str]) -> int:
    from snnrl.leaderboard.store import root_of
    from snnrl.leaderboard.verification import reproduce

    p = argparse.ArgumentParser(prog="snnrl board reproduce",
                                description="Re-train an entry's seeds; compare with its CI.")
    p.add_argument("file", type=Path)
    p.add_argument("--seeds", default="", help="comma-separated seeds (default: all)")
    p.add_argument("--device", default="cpu", help="cpu | cuda (default cpu)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="keep the re-trained run dirs here (default: a temporary directory)")
    p.add_argument("--by", default="snnrl board reproduce", help="who reproduces (history)")
    args = p.parse_args(argv)
    if not args.file.is_file():
        raise ConfigError("FILE", str(args.file), "an existing entry file")
    try:
        seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    except ValueError:
        raise ConfigError("--seeds", args.seeds, "comma-separated integers, e.g. 1,2") from None
    res = reproduce(args.file, seeds or None, args.device, workdir=args.workdir, by=args.by)
    readme = _write_readme(root_of(args.file))
    print(f"snnrl board: {'reproduced' if res.ok else 'NOT REPRODUCED'}: {args.file}\n"
          f"  {res.details}\n  level: {res.level}\n  tables: {readme}")
    return 0 if res.ok else 1


def _render(argv: list[str]) -> int:
    from snnrl.leaderboard.store import README
    from snnrl.leaderboard.tables import render

    p = argparse.ArgumentParser(prog="snnrl board render", description="Write README.md.")
    p.add_argument("--root", type=Path, default=Path("leaderboards"))
    p.add_argument("--check", action="store_true",
                   help="only compare with README.md; exit 1 when it is stale")
    args = p.parse_args(argv)
    path = args.root / README
    if args.check:
        text = render(args.root)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            print(f"snnrl board: {path} is stale; run snnrl board render --root {args.root}",
                  file=sys.stderr)
            return 1
        print(f"snnrl board: {path} is up to date")
        return 0
    _write_readme(args.root)
    print(f"snnrl board: wrote {path}")
    return 0


def run_board(argv: list[str]) -> int:
    """Entry point of ``snnrl board``; returns the exit status."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="", file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    commands = {"submit": _submit, "check": _check, "verify": _verify, "reproduce": _reproduce,
                "energy": _energy, "render": _render}
    if cmd not in commands:
        raise ConfigError("snnrl board", cmd, f"one of {', '.join(commands)}")
    return commands[cmd](rest)
