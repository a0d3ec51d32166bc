"""Library messages name Python parameters; the CLI shows the same message with its flags."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from geouic.cli import main
from geouic.errors import ParameterError, ParameterWarning, RasterInputError
from geouic.raster import open_raster
from geouic.recode import merge_classes, merge_groups
from tests.conftest import write_raster


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def files(tmp_path) -> dict:
    classes = np.repeat(np.array([1, 2, 3, 4], np.uint8), 16)[:, None].repeat(64, axis=1)
    rng = np.random.default_rng(0)
    scene = (classes[None] * 100 + rng.normal(0, 5, (3, 64, 64))).astype(np.uint16)
    return {"map": write_raster(tmp_path / "classes.tif", classes, nodata=0),
            "scene": write_raster(tmp_path / "scene.tif", scene, descriptions=["blue", "green", "red"]),
            "dir": tmp_path}


@pytest.mark.parametrize("bands, python, cli", [
    ("1,9", "for this 3-band raster (valid indexes 1-3); fix bands.", "(valid indexes 1-3); fix --bands."),
    ("1,1", "bands lists a band twice", "--bands lists a band twice"),
    ("1,nir", "give bands as 1-based band indexes or as those names.",
     "give --bands as 1-based band indexes or as those names."),
])
def test_band_messages(files, bands, python, cli):
    with pytest.raises(RasterInputError) as err:
        open_raster(files["scene"], bands=bands.split(","))
    assert python in str(err.value) and "--" not in str(err.value) and err.value.params == ("bands",)
    result = run("classify", files["scene"], "--method", "kmeans", "-k", 2, "--bands", bands,
                 "-o", files["dir"] / "out.tif")
    assert result.exit_code == 2 and cli in result.output, result.output
    assert result.output.count("--bands") == 1, result.output  # only the parameter is renamed


@pytest.mark.parametrize("kwargs, python, args, cli", [
    ({"groups": [[3]]}, "groups entry 3 names fewer than two classes",
     ["--merge", "3"], "--merge entry 3 names fewer than two classes; list two or more, e.g. 3,7."),
    ({"groups": [[1, 2], [2, 3]]}, "class 2 is in two groups entries; join them into one, e.g. 1,2,3.",
     ["--merge", "1,2", "--merge", "2,3"], "class 2 is in two --merge entries; join them into one, e.g. 1,2,3."),
    ({"to": 2}, "to=2 needs class means: give scene (the image) or stats (a stats.json of the map).",
     ["--to", "2"], "--to 2 needs class means: give --scene (the image) or --stats (a stats.json of the map)."),
    ({}, "give either groups (lists of classes that become one) or to=N",
     [], "give either --merge (lists of classes that become one) or --to N (the number of classes left)"),
])
def test_merge_messages(files, kwargs, python, args, cli):
    with pytest.raises(ParameterError, match=python.replace("(", r"\(").replace(")", r"\)")):
        merge_groups([1, 2, 3, 4], **kwargs)
    result = run("merge", files["map"], *args, "-o", files["dir"] / "m.tif")
    assert result.exit_code == 2 and cli in result.output, result.output


def test_merge_warnings_name_flags(files):
    with pytest.warns(ParameterWarning, match="scene and stats are only used with to=N"):
        merge_classes(files["map"], files["dir"] / "a.tif", groups=[[1, 2]], scene=files["scene"])
    result = run("merge", files["map"], "--merge", "1,2", "--scene", files["scene"], "-o", files["dir"] / "b.tif")
    assert result.exit_code == 0 and "Warning: --scene and --stats are only used with --to N; ignored." in result.output
    result = run("merge", files["map"], "--to", 4, "--scene", files["scene"], "-o", files["dir"] / "c.tif")
    assert result.exit_code == 0 and "Warning: --to 4 keeps all 4 classes; nothing is merged." in result.output


def test_sample_design_warning_names_flags(files):
    result = run("sample-design", files["map"], "--n", 60, "--min-per-class", 50, "-o", files["dir"] / "p.gpkg")
    assert result.exit_code == 0, result.output
    assert "Warning: --n 60 cannot give 50 points" in result.output
    assert "(lower --min-per-class or raise --n)." in result.output


def test_existing_output_names_the_flag(files):
    result = run("stats", files["map"], "-o", files["dir"] / "st")
    assert result.exit_code == 0, result.output
    result = run("stats", files["map"], "-o", files["dir"] / "st")
    assert result.exit_code == 2 and "pass --overwrite to replace it" in result.output
    assert "overwrite=True" not in result.output


def test_output_clash_names_the_output_flag(files):
    mapping = files["dir"] / "lc.mapping.csv"  # the table that -o lc.tif writes
    mapping.write_text("class,code\n1,11\n2,11\n3,21\n4,21\n")
    result = run("assign-schema", files["map"], "--mapping", mapping, "--schema", "nlcd", "-o", files["dir"] / "lc.tif",
                 "--overwrite")
    # caught by the CLI's input/output check (geouic.paths.check_distinct) before the library's own
    assert result.exit_code == 2 and result.output.startswith("Error: --output ")
    assert "would replace the input --mapping" in result.output and "choose another name." in result.output
