"""`geouic assign-schema` through click's CliRunner: written files, mapping re-use, bad inputs, real data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.features import rasterize
from shapely.geometry import box

from geouic.cli import main
from geouic.schema import load_schema
from tests.conftest import quadrant_labels, shared_data, write_raster

SCHEMA = """\
name: demo
classes:
  - {code: 1, name: cleared, color: "#d8b365"}
  - {code: 2, name: fallen_dry, color: "#f6e8c3"}
  - {code: 3, name: forest, color: "#01665e"}
  - {code: 4, name: water, color: "#2166ac"}
"""
COVER = {1: "forest", 2: "water", 3: "cleared", 4: "fallen_dry"}  # per quadrant
NLCD = {1: 42, 2: 11, 3: 82, 4: 71}  # the same quadrants as NLCD codes


def run(*args, code: int = 0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def category_names(path: Path) -> list[str]:
    return [c.text or "" for c in ET.parse(str(path) + ".aux.xml").getroot().iter("Category")]


@pytest.fixture
def files(tmp_path) -> dict:
    classes = quadrant_labels(64)
    classes[:32, 16:32] = 5
    cmap = write_raster(tmp_path / "classes.tif", classes, nodata=0)
    x0, y0, px = 500000, 4600000, 30
    boxes = [box(x0 + (c + 3) * px, y0 - (r + 29) * px, x0 + (c + 29) * px, y0 - (r + 3) * px)
             for r, c in [(0, 0), (0, 32), (32, 0), (32, 32)]]
    ref = tmp_path / "training.gpkg"
    gpd.GeoDataFrame({"landcover": [COVER[q] for q in range(1, 5)], "nlcd": [NLCD[q] for q in range(1, 5)]},
                     geometry=boxes, crs="EPSG:32633").to_crs("EPSG:4326").to_file(ref)
    schema = tmp_path / "schema.yaml"
    schema.write_text(SCHEMA)
    return {"map": cmap, "ref": ref, "schema": schema, "dir": tmp_path}


def test_assign_with_schema_file(files):
    out = files["dir"] / "lc.tif"
    result = run("assign-schema", files["map"], "--reference", files["ref"], "--field", "landcover",
                 "--schema", files["schema"], "-o", out)
    assert str(out) in result.output and "5 spectral classes -> 4 of 4" in result.output
    schema = load_schema(files["schema"])
    with rasterio.open(out) as ds, rasterio.open(files["map"]) as src:
        assert ds.crs == src.crs and ds.transform == src.transform
        assert ds.dtypes[0] == "uint8" and ds.nodata == 0
        cmap = ds.colormap(1)
        assert cmap[0][3] == 0
        for c in schema:
            assert cmap[c.code][:3] == c.color
        data = ds.read(1)
    assert category_names(out)[:5] == ["nodata", "cleared", "fallen_dry", "forest", "water"]
    assert out.with_suffix(".qml").exists()
    for ext in ("csv", "json", "yaml"):
        assert (files["dir"] / f"lc.mapping.{ext}").exists()
    q = quadrant_labels(64)
    assert (data[q == 1] == 3).all() and (data[q == 4] == 2).all()


def test_nlcd_preset_with_code_field_and_mapping_reuse(files):
    out = files["dir"] / "lc.tif"
    run("assign-schema", files["map"], "--reference", files["ref"], "--field", "nlcd", "--schema", "nlcd",
        "--method", "hungarian", "-o", out)
    nlcd = load_schema("nlcd")
    with rasterio.open(out) as ds:
        data, cmap = ds.read(1), ds.colormap(1)
    assert set(np.unique(data)) == {255, 11, 42, 71, 82}  # the Hungarian leftover is unassigned, not nodata 0
    assert cmap[42][:3] == nlcd.lookup(42).color and cmap[255] == (112, 112, 112, 255)
    assert category_names(out)[42] == "Evergreen Forest" and category_names(out)[255] == "unassigned"
    again = files["dir"] / "again.tif"
    run("assign-schema", files["map"], "--mapping", files["dir"] / "lc.mapping.yaml", "-o", again)
    with rasterio.open(again) as ds:
        np.testing.assert_array_equal(ds.read(1), data)


def test_warning_is_one_line(files):
    single = files["dir"] / "one.gpkg"
    gpd.read_file(files["ref"]).iloc[:1].to_file(single)
    result = run("assign-schema", files["map"], "--reference", single, "--field", "landcover",
                 "--schema", files["schema"], "-o", files["dir"] / "lc.tif")
    warning = [line for line in result.output.splitlines() if line.startswith("Warning:")]
    assert len(warning) == 1 and "no reference pixel" in warning[0] and "2, 3, 4" in warning[0]


# ------------------------------------------------------------------------------- bad inputs
BAD_CASES = {
    "reference and mapping": (["--reference", "{ref}", "--field", "landcover", "--mapping", "{schema}"], "not both"),
    "neither": ([], "neither"),
    "invalid schema": (["--reference", "{ref}", "--field", "landcover", "--schema", "{bad_schema}"], "code 1 is also used"),
    "unknown preset": (["--reference", "{ref}", "--field", "landcover", "--schema", "modis"], "nlcd, worldcover"),
    "value not in schema": (["--reference", "{ref}", "--field", "landcover", "--schema", "corine1"],
                            "match no class of schema"),
    "missing field": (["--reference", "{ref}", "--field", "klass", "--schema", "{schema}"], "available fields"),
    "min purity": (["--reference", "{ref}", "--field", "landcover", "--min-purity", "1.5"], "min-purity"),
    "unassigned class": (["--reference", "{ref}", "--field", "landcover", "--schema", "{schema}",
                          "--unassigned-class", "urban"], "--unassigned-class 'urban'"),
    "bad mapping": (["--mapping", "{bad_mapping}", "--schema", "{schema}"], "not valid YAML"),
    "mapping target": (["--mapping", "{csv_mapping}", "--schema", "{schema}"], "class 2 maps to 'urban'"),
    "mapping without schema": (["--mapping", "{csv_mapping}"], "pass --schema"),
    "method with mapping": (["--mapping", "{csv_mapping}", "--method", "hungarian"], "--method applies to --reference"),
    "float map": (["--reference", "{ref}", "--field", "landcover"], "integer class codes"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input(files, case):
    d = files["dir"]
    (d / "bad.yaml").write_text("classes:\n  - {code: 1, name: a}\n  - {code: 1, name: b}\n")
    (d / "bad_mapping.yaml").write_text("mapping: {1: forest\n")
    (d / "m.csv").write_text("class,code\n1,forest\n2,urban\n")
    args, expect = BAD_CASES[case]
    subst = {"ref": files["ref"], "schema": files["schema"], "bad_schema": d / "bad.yaml",
             "bad_mapping": d / "bad_mapping.yaml", "csv_mapping": d / "m.csv"}
    args = [a.format(**subst) for a in args]
    source = files["map"]
    if case == "float map":
        source = write_raster(d / "float.tif", np.ones((32, 32), np.float32))
    out = d / "lc.tif"
    result = run("assign-schema", source, *args, "-o", out, code=2)
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "Traceback" not in result.output
    assert expect.lower() in result.output.lower(), result.output
    assert not list(d.glob("lc.*")) and not list(d.glob(".lc*")), "output left behind"


def test_existing_output_needs_overwrite(files):
    out = files["dir"] / "lc.tif"
    args = ["assign-schema", files["map"], "--reference", files["ref"], "--field", "landcover", "-o", out]
    run(*args)
    result = run(*args, code=2)
    assert "--overwrite" in result.output
    run(*args, "--overwrite")


# -------------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_amazon_kmeans12_to_four_classes(tmp_path):
    folder = shared_data("landsat5_amazon")
    schema = Path(__file__).resolve().parents[2] / "examples" / "amazon_schema.yaml"
    polygons = folder / "training_polygons.gpkg"
    c12, lc = tmp_path / "c12.tif", tmp_path / "lc.tif"
    run("classify", folder / "image.tif", "--method", "kmeans", "-k", 12, "-o", c12)  # the default is uic
    run("assign-schema", c12, "--reference", polygons, "--field", "class", "--schema", schema, "-o", lc)
    s = load_schema(schema)
    with rasterio.open(lc) as ds:
        data, cmap, transform, shape = ds.read(1), ds.colormap(1), ds.transform, ds.shape
    assert all(cmap[c.code][:3] == c.color for c in s)
    gdf = gpd.read_file(polygons)
    truth = rasterize(((g, s.lookup(v).code) for g, v in zip(gdf.geometry, gdf["class"])),
                      out_shape=shape, transform=transform, fill=0, dtype="uint8")
    labelled = truth > 0
    oa = float((data[labelled] == truth[labelled]).mean())
    print(f"landsat5_amazon k-means 12 -> 4 classes, majority: OA = {oa:.4f} on {labelled.sum()} pixels")
    assert oa >= 0.90
