"""Land-cover schemas: YAML parsing, validation messages, presets, lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from geouic.errors import SchemaError
from geouic.output import Legend
from geouic.schema import PRESETS, LandCoverSchema, SchemaClass, load_schema, normalize_name

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "amazon_schema.yaml"

GOOD = """\
name: amazon-demo
classes:
  - {code: 1, name: cleared, color: "#d8b365"}
  - {code: 2, name: forest, color: "#01665e"}
"""


def write(tmp_path: Path, text: str, name: str = "schema.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_yaml(tmp_path):
    s = load_schema(write(tmp_path, GOOD))
    assert s.name == "amazon-demo"
    assert s.codes == [1, 2] and s.names == ["cleared", "forest"]
    assert s.classes[1] == SchemaClass(2, "forest", (1, 102, 94))


def test_example_schema_is_valid():
    s = load_schema(EXAMPLE)
    assert s.names == ["cleared", "fallen_dry", "forest", "water"]


@pytest.mark.parametrize("key", [2, "2", "forest", "FOREST", " Forest "])
def test_lookup_by_code_or_name(tmp_path, key):
    assert load_schema(write(tmp_path, GOOD)).lookup(key).code == 2


def test_lookup_tolerates_underscores_and_spaces():
    s = load_schema(EXAMPLE)
    assert s.lookup("Fallen Dry").code == 2
    assert s.lookup("fallen-dry").code == 2
    assert "FALLEN_DRY" in s and "pasture" not in s
    assert normalize_name("  Open__water ") == "open water"


def test_lookup_miss_lists_names():
    with pytest.raises(SchemaError, match="cleared.*fallen_dry.*forest.*water"):
        load_schema(EXAMPLE).lookup("pasture")


def test_to_legend():
    legend = load_schema(EXAMPLE).to_legend()
    assert isinstance(legend, Legend)
    assert legend.names[3] == "forest" and legend.colors[3] == (1, 102, 94)


def test_yaml_round_trip(tmp_path):
    s = load_schema("nlcd")  # names with commas and slashes
    path = tmp_path / "nlcd.yaml"
    s.to_yaml(path)
    assert load_schema(path) == s


def test_missing_colour_is_generated(tmp_path):
    s = load_schema(write(tmp_path, "classes:\n  - {code: 1, name: a}\n  - {code: 2, name: b}\n"))
    assert s.classes[0].color != s.classes[1].color
    assert s.name == "schema"  # file stem when the schema has no name


@pytest.mark.parametrize("name, n, first, last", [
    ("nlcd", 16, (11, "Open Water", "#466b9f"), (95, "Emergent Herbaceous Wetlands", "#6c9fb8")),
    ("worldcover", 11, (10, "Tree cover", "#006400"), (100, "Moss and lichen", "#fae6a0")),
    ("corine1", 5, (1, "Artificial surfaces", "#e6004d"), (5, "Water bodies", "#00ccf2")),
])
def test_presets(name, n, first, last):
    s = load_schema(name)
    assert len(s) == n
    assert (s.classes[0].code, s.classes[0].name, s.classes[0].hex) == first
    assert (s.classes[-1].code, s.classes[-1].name, s.classes[-1].hex) == last
    assert load_schema(name.upper()) == s
    assert name in PRESETS


def test_nlcd_codes():
    assert load_schema("nlcd").codes == [11, 12, 21, 22, 23, 24, 31, 41, 42, 43, 52, 71, 81, 82, 90, 95]


# -- one test per kind of invalid schema -------------------------------------------------------
BAD = {
    "duplicate code": ("classes:\n  - {code: 1, name: a}\n  - {code: 1, name: b}\n", r"classes\[1\].*code 1.*own code"),
    "duplicate name": ("classes:\n  - {code: 1, name: Forest}\n  - {code: 2, name: forest}\n",
                       r"classes\[1\].*duplicates classes\[0\].*own name"),
    "bad colour": ("classes:\n  - {code: 1, name: a, color: '#12345'}\n", r"classes\[0\].*not a colour.*#rrggbb"),
    "bad colour value": ("classes:\n  - {code: 1, name: a, color: '300,0,0'}\n", r"not a colour.*0-255"),
    "unquoted hex colour": ("classes:\n  - code: 1\n    name: a\n    color: #d8b365\n", r"colour is empty.*quote"),
    "code 0": ("classes:\n  - {code: 0, name: a}\n", r"classes\[0\].*code 0 is out of range.*1\.\.65535"),
    "negative code": ("classes:\n  - {code: -4, name: a}\n", r"code -4 is out of range"),
    "code too large": ("classes:\n  - {code: 70000, name: a}\n", r"code 70000 is out of range"),
    "non-integer code": ("classes:\n  - {code: 1.5, name: a}\n", r"code 1.5 is not an integer"),
    "missing code": ("classes:\n  - {name: a}\n", r"no code"),
    "missing name": ("classes:\n  - {code: 1, color: '#000000'}\n", r"classes\[0\].*no name.*name:"),
    "empty class list": ("name: x\nclasses: []\n", r"list is empty"),
    "no class list": ("name: x\n", r"no 'classes:' list"),
    "entry not a mapping": ("classes:\n  - forest\n", r"classes\[0\].*must be a mapping"),
    "unknown key": ("classes:\n  - {code: 1, name: a, colr: '#000000'}\n", r"unknown key.*colr"),
    "unreadable yaml": ("classes:\n  - {code: 1, name: a\n", r"not valid YAML at line"),
    "empty file": ("", r"empty"),
    "top level list of strings": ("- a\n- b\n", r"must be a mapping"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_invalid_schema(tmp_path, kind):
    text, pattern = BAD[kind]
    path = write(tmp_path, text, "bad.yaml")
    with pytest.raises(SchemaError, match=pattern) as info:
        load_schema(path)
    assert "bad.yaml" in str(info.value)  # names the file
    assert "\n" not in str(info.value)


def test_unknown_preset_or_missing_file(tmp_path):
    with pytest.raises(SchemaError, match="nlcd, worldcover, corine1"):
        load_schema("modis")
    with pytest.raises(SchemaError, match="no such schema file"):
        load_schema(tmp_path / "nope.yaml")


def test_schema_error_is_value_error():
    with pytest.raises(ValueError):
        LandCoverSchema([])
