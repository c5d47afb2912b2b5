"""Chip models as data: ``conf/chip/*.yaml``, loaded with ``yaml.safe_load`` and checked.

Each file holds a chip's per-operation prices (joules per operation), each with its source,
scope (``per-term``, or an ``all_in`` price that covers everything and is never added to per-term
prices), evidence grade (``paper`` quote, ``code`` read in public code, ``sec`` secondary
source, ``derived`` by arithmetic from those, ``U`` unverified), the chip's architectural
constraints for the fit check, and its static power. A term a chip file does not price is
*unpriced*: figures that need it are lower bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

TERMS = ("synaptic_op", "mac", "neuron_update_active", "neuron_update_idle", "spike", "hop",
         "learning_update", "trace_update", "memory_bit")
"""Priced terms of the energy formula (docs/ENERGY.md)."""

KINDS = ("neuromorphic", "digital", "commodity")
GRADES = ("paper", "code", "sec", "derived", "U")


class ChipFileError(ValueError):
    """A chip file that is not what the schema expects (names the file and the key)."""


@dataclass(frozen=True)
class Price:
    """One priced term."""

    value: float  # J per operation (per bit for memory_bit)
    source: str
    grade: str
    scope: str = "per-term"


@dataclass(frozen=True)
class Chip:
    """A chip model (see the module docstring)."""

    name: str
    title: str
    kind: str
    constraints: dict[str, Any]
    prices: dict[str, Price] = field(default_factory=dict)
    included: dict[str, str] = field(default_factory=dict)  # term -> where it is included
    all_in: Price | None = None
    all_in_applies_to: str | None = None
    static_power_w: float | None = None
    static_per: str = "chip"
    static_source: str = ""
    voltage_v: float | None = None
    process: str | None = None


def _req(d: dict[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise ChipFileError(f"{where}: missing key '{key}'")
    return d[key]


def _mapping(d: Any, where: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise ChipFileError(f"{where}: expected a mapping, got {type(d).__name__}")
    return d


def _optional_int(d: dict[str, Any], key: str, where: str) -> None:
    v = d[key]
    if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
        raise ChipFileError(f"{where}.{key}: expected null or an integer > 0, got {v!r}")


def _price(d: Any, where: str, scope: str = "per-term") -> Price:
    if not isinstance(d, dict):
        raise ChipFileError(f"{where}: expected a mapping with value/source/grade")
    value = _req(d, "value", where)
    if (not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value)
            or value < 0):
        raise ChipFileError(f"{where}.value: expected a finite number >= 0 (joules), "
                            f"got {value!r}")
    grade = _req(d, "grade", where)
    if grade not in GRADES:
        raise ChipFileError(f"{where}.grade: expected one of {GRADES}, got {grade!r}")
    got_scope = d.get("scope", scope)
    if got_scope != scope:
        raise ChipFileError(f"{where}.scope: expected '{scope}' here, got {got_scope!r} (all-in "
                            "prices go under all_in, never among per-term prices)")
    return Price(float(value), str(_req(d, "source", where)), grade, scope)


def parse_chip(data: Any, where: str) -> Chip:
    """Validate one chip file's parsed YAML; raise :class:`ChipFileError` naming the key."""
    if not isinstance(data, dict):
        raise ChipFileError(f"{where}: expected a mapping")
    name = str(_req(data, "name", where))
    kind = _req(data, "kind", where)
    if kind not in KINDS:
        raise ChipFileError(f"{where}.kind: expected one of {KINDS}, got {kind!r}")
    constraints = _mapping(_req(data, "constraints", where), f"{where}.constraints")
    for key in ("neurons_per_core", "cores", "max_fan_in", "weight_bits", "on_chip_learning",
                "graded_inputs"):
        _req(constraints, key, f"{where}.constraints")
    for key in ("neurons_per_core", "cores", "max_fan_in", "weight_bits"):
        _optional_int(constraints, key, f"{where}.constraints")
    for key in ("on_chip_learning", "graded_inputs"):
        if not isinstance(constraints[key], bool):
            raise ChipFileError(f"{where}.constraints.{key}: expected true or false")
    voltage = data.get("voltage_v")
    if voltage is not None and (isinstance(voltage, bool) or not isinstance(voltage, int | float)
                                or not 0 < voltage < 10):
        raise ChipFileError(f"{where}.voltage_v: expected null or a voltage in (0, 10) V")
    prices: dict[str, Price] = {}
    included: dict[str, str] = {}
    for term, spec in _mapping(data.get("prices") or {}, f"{where}.prices").items():
        if term not in TERMS:
            raise ChipFileError(f"{where}.prices.{term}: unknown term; expected one of {TERMS}")
        if isinstance(spec, dict) and "included" in spec:
            included[term] = str(spec["included"])
        else:
            prices[term] = _price(spec, f"{where}.prices.{term}")
    all_in = None
    applies = None
    if "all_in" in data:
        if prices:
            raise ChipFileError(f"{where}.all_in: an all-in price cannot be combined with "
                                "per-term prices (it would count the same energy twice)")
        all_in = _price(data["all_in"], f"{where}.all_in", scope="all-in")
        applies = _req(data["all_in"], "applies_to", f"{where}.all_in")
        if applies not in TERMS:
            raise ChipFileError(f"{where}.all_in.applies_to: expected one of {TERMS}")
    static = _mapping(data.get("static") or {}, f"{where}.static")
    power = static.get("power_w")
    if power is not None and (not isinstance(power, int | float) or isinstance(power, bool)
                              or not math.isfinite(power) or power < 0):
        raise ChipFileError(f"{where}.static.power_w: expected null or a finite number >= 0, "
                            f"got {power!r}")
    per = static.get("per", "chip")
    if per not in ("chip", "core"):
        raise ChipFileError(f"{where}.static.per: expected 'chip' or 'core'")
    return Chip(name=name, title=str(data.get("title", name)), kind=kind,
                constraints=dict(constraints), prices=prices, included=included, all_in=all_in,
                all_in_applies_to=applies, static_power_w=None if power is None else float(power),
                static_per=per, static_source=str(static.get("source", "")),
                voltage_v=data.get("voltage_v"), process=data.get("process"))


def chip_dir() -> Path:
    """The shipped ``conf/chip`` directory."""
    return Path(str(files("snnrl.conf"))) / "chip"


def load_chip(path: str | Path) -> Chip:
    """Load and validate one chip file (YAML is parsed with ``safe_load``: data only)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ChipFileError(f"{p}: not valid YAML ({e.__class__.__name__})") from None
    return parse_chip(data, p.name)


def load_chips(names: list[str] | None = None) -> dict[str, Chip]:
    """All shipped chips (or the named ones), by name."""
    found = {p.stem: p for p in sorted(chip_dir().glob("*.yaml"))}
    if names:
        unknown = [n for n in names if n not in found]
        if unknown:
            raise ChipFileError(f"unknown chip {unknown[0]!r}; expected one of {sorted(found)}")
        found = {n: found[n] for n in names}
    return {n: load_chip(p) for n, p in found.items()}
