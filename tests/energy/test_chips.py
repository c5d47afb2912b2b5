"""Chip files: every shipped file loads and is well-formed; the schema rejects bad files."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from snnrl.energy.chips import (
    GRADES,
    KINDS,
    TERMS,
    ChipFileError,
    chip_dir,
    load_chip,
    load_chips,
    parse_chip,
)

SHIPPED = sorted(p.stem for p in chip_dir().glob("*.yaml"))


def test_shipped_chip_files_are_found() -> None:
    assert {"loihi", "loihi_sanafe", "truenorth", "spinnaker", "spinnaker2", "horowitz45_fp32",
            "horowitz45_int8", "cpu_degnan", "gpu_degnan"} <= set(SHIPPED)
    repo_conf = Path(__file__).resolve().parents[2] / "conf" / "chip"
    if repo_conf.is_dir():  # the installed package ships exactly the repository's chip files
        assert SHIPPED == sorted(p.stem for p in repo_conf.glob("*.yaml"))


def test_every_shipped_chip_loads_and_is_well_formed() -> None:
    chips = load_chips()
    assert sorted(chips) == SHIPPED
    for name, chip in chips.items():
        assert chip.name == name, "the file name is the chip's name"
        assert chip.kind in KINDS
        assert chip.prices or chip.all_in is not None, f"{name}: nothing priced"
        for term, price in chip.prices.items():
            assert term in TERMS, (name, term)
            assert math.isfinite(price.value) and price.value >= 0, (name, term)
            assert price.value < 1e-6, f"{name}.{term}: joules per op, not pJ"
            assert price.source.strip(), (name, term)
            assert price.grade in GRADES, (name, term)
            assert price.scope == "per-term", (name, term)
        for term, where in chip.included.items():
            assert term in TERMS and where.strip() and term not in chip.prices, (name, term)
        if chip.static_power_w is not None:
            assert chip.static_power_w >= 0
        c = chip.constraints
        assert isinstance(c["on_chip_learning"], bool) and isinstance(c["graded_inputs"], bool)
        assert c["weight_bits"] is None or c["weight_bits"] >= 1


def test_truenorth_is_all_in_only() -> None:
    tn = load_chips(["truenorth"])["truenorth"]
    assert tn.all_in is not None and tn.all_in.value == pytest.approx(26e-12)
    assert tn.all_in_applies_to == "synaptic_op"
    assert tn.all_in.grade in GRADES and tn.all_in.source.strip()
    assert tn.prices == {}, "an all-in price is never combined with per-term prices"
    assert tn.constraints["on_chip_learning"] is False


def test_loihi_figures_match_davies_2018_table_2() -> None:
    lo = load_chips(["loihi"])["loihi"]
    expected = {"synaptic_op": 23.6e-12, "neuron_update_active": 81e-12,
                "neuron_update_idle": 52e-12, "spike": 1.7e-12, "learning_update": 120e-12}
    for term, value in expected.items():
        assert lo.prices[term].value == pytest.approx(value, rel=1e-9), term
        assert lo.prices[term].grade == "paper"
    assert lo.static_power_w == pytest.approx(0.104)
    assert lo.all_in is None
    assert lo.constraints["weight_bits"] == 8 and lo.constraints["graded_inputs"] is False


# --------------------------------------------------------------------------------------------
# the schema rejects bad files, naming the key


def _loihi_data() -> dict[str, Any]:
    return yaml.safe_load((chip_dir() / "loihi.yaml").read_text())


def _truenorth_data() -> dict[str, Any]:
    return yaml.safe_load((chip_dir() / "truenorth.yaml").read_text())


def test_parse_chip_accepts_the_shipped_data() -> None:
    assert parse_chip(_loihi_data(), "loihi.yaml").name == "loihi"
    assert parse_chip(_truenorth_data(), "truenorth.yaml").all_in is not None


def _bad(mutate) -> dict[str, Any]:  # noqa: ANN001
    d = copy.deepcopy(_loihi_data())
    mutate(d)
    return d


def _del_constraint(key: str):  # noqa: ANN202
    return lambda d: d["constraints"].pop(key)


BAD = [
    ("all_in with prices", lambda d: d.__setitem__("all_in", {
        "value": 26e-12, "applies_to": "synaptic_op", "grade": "paper", "source": "x"}),
     "all_in"),
    ("unknown term", lambda d: d["prices"].__setitem__("teleport", {
        "value": 1e-12, "grade": "paper", "source": "x"}), "teleport"),
    ("negative value", lambda d: d["prices"]["synaptic_op"].__setitem__("value", -1e-12),
     "prices.synaptic_op.value"),
    ("string value", lambda d: d["prices"]["synaptic_op"].__setitem__("value", "23 pJ"),
     "prices.synaptic_op.value"),
    ("bool value", lambda d: d["prices"]["synaptic_op"].__setitem__("value", True),
     "prices.synaptic_op.value"),
    ("bad grade", lambda d: d["prices"]["spike"].__setitem__("grade", "trust-me"),
     "prices.spike.grade"),
    ("missing grade", lambda d: d["prices"]["spike"].pop("grade"), "grade"),
    ("missing source", lambda d: d["prices"]["spike"].pop("source"), "source"),
    ("price not a mapping", lambda d: d["prices"].__setitem__("spike", 1.7e-12), "prices.spike"),
    ("missing constraints", lambda d: d.pop("constraints"), "constraints"),
    ("missing weight_bits", _del_constraint("weight_bits"), "weight_bits"),
    ("missing on_chip_learning", _del_constraint("on_chip_learning"), "on_chip_learning"),
    ("missing graded_inputs", _del_constraint("graded_inputs"), "graded_inputs"),
    ("missing max_fan_in", _del_constraint("max_fan_in"), "max_fan_in"),
    ("missing name", lambda d: d.pop("name"), "name"),
    ("bad kind", lambda d: d.__setitem__("kind", "quantum"), "kind"),
    ("negative static", lambda d: d["static"].__setitem__("power_w", -0.1), "static.power_w"),
    ("bad static per", lambda d: d["static"].__setitem__("per", "board"), "static.per"),
]


@pytest.mark.parametrize(("mutate", "key"), [(m, k) for _, m, k in BAD],
                         ids=[i for i, _, _ in BAD])
def test_parse_chip_rejects_naming_the_key(mutate, key: str) -> None:  # noqa: ANN001
    with pytest.raises(ChipFileError) as e:
        parse_chip(_bad(mutate), "bad.yaml")
    assert key in str(e.value) and "bad.yaml" in str(e.value), str(e.value)


def test_parse_chip_rejects_bad_all_in() -> None:
    d = _truenorth_data()
    d["all_in"]["applies_to"] = "teleport"
    with pytest.raises(ChipFileError, match="all_in.applies_to"):
        parse_chip(d, "tn.yaml")
    d = _truenorth_data()
    d["all_in"]["value"] = -26e-12
    with pytest.raises(ChipFileError, match="all_in.value"):
        parse_chip(d, "tn.yaml")
    d = _truenorth_data()
    del d["all_in"]["applies_to"]
    with pytest.raises(ChipFileError, match="applies_to"):
        parse_chip(d, "tn.yaml")


@pytest.mark.parametrize("data", [None, [], "loihi", 3])
def test_parse_chip_rejects_non_mappings(data: Any) -> None:
    with pytest.raises(ChipFileError, match="x.yaml"):
        parse_chip(data, "x.yaml")


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_parse_chip_rejects_non_finite_prices(value: float) -> None:
    d = _loihi_data()
    d["prices"]["synaptic_op"]["value"] = value
    with pytest.raises(ChipFileError, match="synaptic_op.value"):
        parse_chip(d, "bad.yaml")


@pytest.mark.parametrize("value", [True, math.nan])
def test_parse_chip_rejects_bool_or_nan_static_power(value: Any) -> None:
    d = _loihi_data()
    d["static"]["power_w"] = value
    with pytest.raises(ChipFileError, match="static.power_w"):
        parse_chip(d, "bad.yaml")


def test_load_chip_reads_a_file(tmp_path: Path) -> None:
    p = tmp_path / "mychip.yaml"
    p.write_text((chip_dir() / "loihi.yaml").read_text())
    assert load_chip(p).prices["synaptic_op"].value == pytest.approx(23.6e-12)
    p.write_text("name: [unclosed\n")
    with pytest.raises(ChipFileError, match="mychip.yaml"):
        load_chip(p)


def test_yaml_python_tags_are_rejected_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.yaml"
    text = (chip_dir() / "loihi.yaml").read_text().replace(
        "name: loihi", f'name: !!python/object/apply:os.system ["touch {marker}"]')
    assert "!!python/object/apply" in text
    p.write_text(text)
    with pytest.raises(ChipFileError, match="evil.yaml"):
        load_chip(p)
    assert not marker.exists(), "the YAML tag was executed"
    p.write_text('!!python/object/apply:os.system ["echo hi"]\n')
    with pytest.raises(ChipFileError):
        load_chip(p)


def test_load_chips_unknown_name_lists_the_alternatives() -> None:
    with pytest.raises(ChipFileError) as e:
        load_chips(["nope"])
    msg = str(e.value)
    assert "nope" in msg and "loihi" in msg and "truenorth" in msg
    assert sorted(load_chips(["truenorth", "loihi"])) == ["loihi", "truenorth"]


@pytest.mark.parametrize(("path", "value", "key"), [
    (("prices",), [1, 2], "prices"),
    (("static",), [1], "static"),
    (("constraints",), None, "constraints"),
    (("constraints", "weight_bits"), "8", "weight_bits"),
    (("constraints", "on_chip_learning"), "yes", "on_chip_learning"),
    (("voltage_v",), 750, "voltage_v"),
    (("prices", "synaptic_op", "scope"), "all-in", "scope"),
])
def test_parse_chip_rejects_malformed_fields_with_one_error(path: tuple[str, ...], value: Any,
                                                            key: str) -> None:
    d = _loihi_data()
    node = d
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    with pytest.raises(ChipFileError, match=key):
        parse_chip(d, "bad.yaml")


def test_static_power_per_core_is_charged_per_core_used() -> None:
    from snnrl.energy.model import Assumptions, estimate
    from snnrl.networks import LayerInfo

    per_chip = parse_chip(_loihi_data(), "loihi.yaml")
    d = _loihi_data()
    d["static"] = {"power_w": 0.104 / 128, "per": "core", "source": "test", "grade": "derived"}
    per_core = parse_chip(d, "loihi_core.yaml")
    layers = {"a": LayerInfo("chip", 20, 61, False, False)}
    ops = {"a": {"neuron_updates_idle": 160.0, "ticks": 8.0}}
    host = per_chip
    e_chip = estimate(per_chip, ops, layers, host, Assumptions())
    e_core = estimate(per_core, ops, layers, host, Assumptions())
    assert e_core.static_J == pytest.approx(e_chip.static_J, rel=1e-12)
    whole = estimate(per_core, ops, layers, host, Assumptions(static_scope="chip"))
    assert whole.static_J == pytest.approx(128 * e_core.static_J, rel=1e-12)
