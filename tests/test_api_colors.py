"""Colour names in schema files go through matplotlib's parser (issue 14 requirement 4); matplotlib stays lazy."""

from __future__ import annotations

import subprocess
import sys

import pytest

from geouic.colors import parse_color
from geouic.errors import ParameterError
from geouic.schema import LandCoverSchema


@pytest.mark.parametrize("text, rgb", [("red", (255, 0, 0)), ("forestgreen", (34, 139, 34)),
                                       ("tab:blue", (31, 119, 180)), ("#abc", (170, 187, 204)),
                                       ("#2166ac", (33, 102, 172)), ("10, 20, 30", (10, 20, 30))])
def test_colour_names_and_forms(text, rgb):
    assert parse_color(text) == rgb


def test_unknown_name_is_a_parameter_error():
    with pytest.raises(ParameterError, match="'nocolour' is not a colour.*forestgreen"):
        parse_color("nocolour")


def test_schema_file_with_named_colours(tmp_path):
    path = tmp_path / "legend.yaml"
    path.write_text("classes:\n  - {code: 1, name: water, color: blue}\n  - {code: 2, name: forest, color: forestgreen}\n")
    schema = LandCoverSchema.from_yaml(path)
    assert [c.hex for c in schema] == ["#0000ff", "#228b22"]


def test_hex_colours_do_not_import_matplotlib():
    code = "import sys; from geouic.colors import parse_color; parse_color('#00ff00'); print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
