"""SchemaMapper (majority, Hungarian, purity) and assign_schema on small tiled files."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from shapely.geometry import Point, box

from geouic.assign import CrossTab, SchemaMapper, assign_schema, read_mapping, sidecar_paths
from geouic.errors import NotFittedError, ParameterError, SchemaError
from geouic.schema import load_schema
from tests.conftest import quadrant_labels, write_raster

SCHEMA = """\
name: demo
classes:
  - {code: 1, name: cleared, color: "#d8b365"}
  - {code: 2, name: fallen_dry, color: "#f6e8c3"}
  - {code: 3, name: forest, color: "#01665e"}
  - {code: 4, name: water, color: "#2166ac"}
"""
#: Land cover of each quadrant 1..4 (top-left, top-right, bottom-left, bottom-right).
QUADRANT_COVER = {1: "forest", 2: "water", 3: "cleared", 4: "fallen_dry"}
QUADRANT_CODE = {1: 3, 2: 4, 3: 1, 4: 2}


# ----------------------------------------------------------------------------------- fixtures
def spectral_classes() -> np.ndarray:
    """64x64 map of 5 spectral classes: quadrants 1..4, with the top-left quadrant split into 1 and 5."""
    classes = quadrant_labels(64)
    classes[:32, 16:32] = 5
    return classes


@pytest.fixture
def scene(tmp_path) -> dict:
    """A UTM class map, its schema file and reference polygons (EPSG:4326) inset in each quadrant."""
    cmap = write_raster(tmp_path / "classes.tif", spectral_classes(), nodata=0)
    schema = tmp_path / "schema.yaml"
    schema.write_text(SCHEMA)
    x0, y0, px = 500000, 4600000, 30  # conftest's grid: EPSG:32633, 30 m, 16x16 tiles
    boxes, names = [], []
    for q, (r, c) in zip(range(1, 5), [(0, 0), (0, 32), (32, 0), (32, 32)]):
        left, top = x0 + (c + 3) * px, y0 - (r + 3) * px
        boxes.append(box(left, top - 26 * px, left + 26 * px, top))
        names.append(QUADRANT_COVER[q])
    gdf = gpd.GeoDataFrame({"landcover": names}, geometry=boxes, crs="EPSG:32633").to_crs("EPSG:4326")
    ref = tmp_path / "reference.gpkg"
    gdf.to_file(ref)
    return {"map": cmap, "schema": schema, "reference": ref, "dir": tmp_path}


# ------------------------------------------------------------------------------- SchemaMapper
# rows: spectral classes 1..3; columns: labels 1..2. Classes 1 and 2 both fall in label 1.
CT = np.array([[50, 2], [40, 1], [3, 60]])


def test_majority_maps_many_to_one():
    m = SchemaMapper(method="majority").fit(CT)
    assert m.mapping_ == {1: 1, 2: 1, 3: 2}
    assert set(m.status_.values()) == {"assigned"}
    np.testing.assert_allclose(m.purity_, [50 / 52, 40 / 41, 60 / 63])


def test_hungarian_leaves_the_extra_class_unassigned():
    m = SchemaMapper(method="hungarian").fit(CT)
    assert m.mapping_ == {1: 1, 2: 0, 3: 2}
    assert m.status_[2] == "unmatched"


def test_min_purity_unassigns_impure_classes():
    ct = np.array([[60, 40], [0, 90]])
    m = SchemaMapper(min_purity=0.7, unassigned=9).fit(ct, classes=[4, 7], labels=[11, 22])
    assert m.mapping_ == {4: 9, 7: 22}
    assert m.status_ == {4: "impure", 7: "assigned"}
    assert SchemaMapper(min_purity=0.6).fit(ct).mapping_ == {1: 1, 2: 2}


def test_class_without_reference_is_unassigned():
    m = SchemaMapper().fit(np.array([[5, 0], [0, 0]]))
    assert m.mapping_ == {1: 1, 2: 0} and m.status_[2] == "no reference"


def test_fit_on_arrays_and_transform():
    classes = spectral_classes()
    ref = np.vectorize(QUADRANT_CODE.get)(quadrant_labels(64))
    ref[::2] = 0  # half the rows unlabelled
    m = SchemaMapper().fit(classes, ref)
    assert m.mapping_ == {1: 3, 2: 4, 3: 1, 4: 2, 5: 3}
    out = m.transform(np.array([[0, 1, 5], [2, 9, 4]]))
    assert out.tolist() == [[0, 3, 3], [4, 0, 2]]  # 0 stays 0, unknown class 9 -> unassigned
    assert m.lookup_table().tolist() == [0, 3, 4, 1, 2, 3]


@pytest.mark.parametrize("params, match", [
    ({"method": "vote"}, "method='vote'.*majority, hungarian"),
    ({"min_purity": 1.5}, "min_purity=1.5.*0..1"),
    ({"unassigned": -1}, "unassigned=-1"),
])
def test_invalid_parameters(params, match):
    with pytest.raises(ParameterError, match=match):
        SchemaMapper(**params).fit(CT)


def test_not_fitted():
    with pytest.raises(NotFittedError):
        SchemaMapper().transform(np.ones((2, 2), int))


def test_crosstab_accumulates_windows():
    table = CrossTab(2)
    table.update(np.array([[1, 1], [3, 0]]), np.array([[0, -1], [1, 1]]))
    table.update(np.array([[3, 3]]), np.array([[1, -1]]))
    assert table.classes.tolist() == [1, 3]
    assert table.table().tolist() == [[1, 0], [0, 2]]
    assert table.pixels[[1, 3]].tolist() == [2, 3]


# ------------------------------------------------------------------------------ assign_schema
def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def expected_majority() -> np.ndarray:
    q = quadrant_labels(64)
    return np.vectorize(QUADRANT_CODE.get)(q).astype(np.uint8)


def test_reprojected_polygons_majority(scene):
    out = scene["dir"] / "lc.tif"
    result = assign_schema(scene["map"], out, reference=scene["reference"], field="landcover", schema=scene["schema"])
    assert result.mapping == {1: 3, 2: 4, 3: 1, 4: 2, 5: 3}
    np.testing.assert_array_equal(read(out), expected_majority())
    with rasterio.open(out) as ds:
        assert ds.crs.to_epsg() == 32633 and ds.nodata == 0 and ds.dtypes[0] == "uint8"
        tags = ds.tags()
        assert tags["GEOUIC_ASSIGN_METHOD"] == "majority" and tags["GEOUIC_MIN_PURITY"] == "0.0"
        assert tags["GEOUIC_REFERENCE"] == str(scene["reference"]) and tags["GEOUIC_INPUT"] == str(scene["map"])
    side = sidecar_paths(out)
    doc = json.loads(side["json"].read_text())
    row = next(r for r in doc["classes"] if r["class"] == 5)
    assert row["pixels"] == 32 * 16 and row["name"] == "forest" and row["purity"] == 1.0
    assert row["labelled"] == sum(row["reference"].values()) > 0 and list(row["reference"]) == ["forest"]
    header = side["csv"].read_text().splitlines()[0]
    assert header == "class,pixels,labelled,purity,code,name,status,reference"


def test_hungarian_on_files(scene):
    out = scene["dir"] / "lc.tif"
    result = assign_schema(scene["map"], out, reference=scene["reference"], field="landcover",
                           schema=scene["schema"], method="hungarian")
    assert sorted(result.mapping.items()) in ([(1, 3), (2, 4), (3, 1), (4, 2), (5, 255)],
                                               [(1, 255), (2, 4), (3, 1), (4, 2), (5, 3)])
    lc = read(out)
    assert (lc == 255).sum() == 32 * 16 and (lc == 0).sum() == 0  # half a quadrant unassigned, not nodata


def test_mapping_round_trip(scene, tmp_path):
    first = tmp_path / "lc.tif"
    assign_schema(scene["map"], first, reference=scene["reference"], field="landcover", schema=scene["schema"])
    mapping = sidecar_paths(first)["yaml"]
    mf = read_mapping(mapping)
    assert mf.schema == load_schema(scene["schema"])  # embedded: re-applicable without --schema
    again = tmp_path / "again.tif"
    result = assign_schema(scene["map"], again, mapping=mapping)
    np.testing.assert_array_equal(read(again), read(first))
    assert not sidecar_paths(again)["yaml"].exists()  # only learned mappings are written
    assert result.rows[0]["status"] == "assigned"
    # the same model's classes on another scene (here: flipped) get the same land cover
    other = write_raster(tmp_path / "other.tif", spectral_classes()[::-1].copy(), nodata=0)
    assign_schema(other, tmp_path / "other_lc.tif", mapping=mapping)
    np.testing.assert_array_equal(read(tmp_path / "other_lc.tif"), expected_majority()[::-1])


def test_csv_mapping_with_names_and_unknown_class(scene, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("class,name\n1,Forest\n2,water\n3,cleared\n4,\n")
    with pytest.warns(UserWarning, match="classes 5 .* not in the mapping"):
        assign_schema(scene["map"], tmp_path / "lc.tif", mapping=path, schema=scene["schema"])
    lc = read(tmp_path / "lc.tif")
    assert lc[0, 0] == 3 and lc[0, 20] == 255 and lc[63, 63] == 255 and lc[63, 0] == 1  # unassigned, not 0


def test_min_purity_and_unassigned_class(scene, tmp_path):
    # a label raster: the bottom-right quadrant is 60 % fallen_dry and 40 % cleared
    labels = expected_majority()
    labels[32:, 32:] = 2
    labels[32:, 32:45] = 1
    ref = write_raster(tmp_path / "labels.tif", labels, nodata=0)
    result = assign_schema(scene["map"], tmp_path / "lc.tif", reference=ref, schema=scene["schema"],
                           min_purity=0.7, unassigned_class="Water")
    assert result.mapping[4] == 4  # impure -> the named class
    row = next(r for r in result.rows if r["class"] == 4)
    assert row["status"] == "impure" and row["purity"] == pytest.approx(19 / 32, abs=1e-3)
    assert row["reference"] == {"fallen_dry": 32 * 19, "cleared": 32 * 13}


def test_points_reference_and_classes_without_reference(scene, tmp_path):
    x0, y0 = 500000, 4600000
    pts = [Point(x0 + 5 * 30 + 15, y0 - 5 * 30 - 15), Point(x0 + 40 * 30 + 15, y0 - 5 * 30 - 15)]
    ref = tmp_path / "points.gpkg"
    gpd.GeoDataFrame({"cls": ["forest", "water"]}, geometry=pts, crs="EPSG:32633").to_file(ref)
    with pytest.warns(UserWarning, match="3 spectral classes .* no reference pixel .*: 3, 4, 5"):
        result = assign_schema(scene["map"], tmp_path / "lc.tif", reference=ref, field="cls", schema=scene["schema"])
    assert result.mapping == {1: 3, 2: 4, 3: 255, 4: 255, 5: 255}


def test_without_schema_uses_reference_values(scene, tmp_path):
    out = tmp_path / "lc.tif"
    result = assign_schema(scene["map"], out, reference=scene["reference"], field="landcover")
    assert sorted(result.schema.names) == ["cleared", "fallen_dry", "forest", "water"]
    with rasterio.open(out) as ds:
        cmap = ds.colormap(1)
    colors = {cmap[c.code][:3] for c in result.schema}
    assert len(colors) == 4  # generated distinct colours


def test_reference_value_not_in_schema(scene, tmp_path):
    schema = tmp_path / "small.yaml"
    schema.write_text("name: small\nclasses:\n  - {code: 1, name: forest}\n  - {code: 2, name: water}\n")
    out = tmp_path / "lc.tif"
    with pytest.raises(SchemaError, match=r"'cleared', 'fallen_dry'.*1=forest, 2=water"):
        assign_schema(scene["map"], out, reference=scene["reference"], field="landcover", schema=schema)
    assert not out.exists() and not list(tmp_path.glob("lc.*"))


def test_reference_xor_mapping(scene):
    with pytest.raises(ParameterError, match="not neither"):
        assign_schema(scene["map"], scene["dir"] / "x.tif")


# ------------------------------------------------------------------------ unassigned is a class
def test_unassigned_land_is_a_class_with_a_legend_entry(scene):
    out = scene["dir"] / "lc.tif"
    result = assign_schema(scene["map"], out, reference=scene["reference"], field="landcover",
                           schema=scene["schema"], method="hungarian")
    with rasterio.open(out) as ds:
        assert ds.nodata == 0 and ds.dtypes[0] == "uint8"
        assert ds.colormap(1)[255] == (112, 112, 112, 255) and ds.colormap(1)[0][3] == 0
    from geouic.classmap import class_names

    assert Path(str(out) + ".aux.xml").read_text().count("<Category>") == 256
    assert class_names(out)[255] == "unassigned" and class_names(out)[3] == "forest"
    assert 'value="255" color="#707070" label="unassigned"' in out.with_suffix(".qml").read_text()
    row = next(r for r in result.rows if r["code"] == 255)
    assert row["name"] == "unassigned" and row["status"] == "unmatched"
    assert json.loads(sidecar_paths(out)["json"].read_text())["unassigned_code"] == 255


def test_unassigned_code_is_kept_by_a_mapping_file(scene, tmp_path):
    first = tmp_path / "lc.tif"
    assign_schema(scene["map"], first, reference=scene["reference"], field="landcover", schema=scene["schema"],
                  method="hungarian")
    mapping = sidecar_paths(first)["yaml"]
    assert "unassigned_code: 255" in mapping.read_text()
    # a hand-edited mapping file recording another free code keeps it
    edited = tmp_path / "edited.yaml"
    edited.write_text(mapping.read_text().replace("unassigned_code: 255", "unassigned_code: 200"))
    assign_schema(scene["map"], tmp_path / "again.tif", mapping=mapping)
    assign_schema(scene["map"], tmp_path / "edited.tif", mapping=edited)
    np.testing.assert_array_equal(read(tmp_path / "again.tif"), read(first))
    assert set(np.unique(read(tmp_path / "edited.tif"))) == {1, 2, 3, 4, 200}


def test_unassigned_code_of_large_schemas():
    from geouic.schema import LandCoverSchema, SchemaClass

    def schema(*codes):
        return LandCoverSchema([SchemaClass(c, f"c{c}", (0, 0, 0)) for c in codes])

    assert schema(1, 254).unassigned_code == 255 and load_schema("nlcd").unassigned_code == 255
    assert schema(1, 255).unassigned_code == 256 and schema(300).unassigned_code == 301
    with pytest.raises(SchemaError, match="code 65535.*--unassigned-class"):
        _ = schema(1, 65535).unassigned_code


def test_mapping_naming_a_class_not_in_the_map_warns(scene, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("class,name\n1,forest\n2,water\n3,cleared\n4,fallen_dry\n5,forest\n9,water\n12,water\n")
    with pytest.warns(UserWarning, match="the mapping names classes 9, 12 that classes.tif does not hold"):
        assign_schema(scene["map"], tmp_path / "lc.tif", mapping=path, schema=scene["schema"])


def test_existing_sidecar_is_refused_without_overwrite(scene, tmp_path):
    from geouic.errors import OutputError

    out = tmp_path / "lc.tif"
    out.with_suffix(".qml").write_text("my own style")
    with pytest.raises(OutputError, match=r"lc\.qml: already exists; pass overwrite=True"):
        assign_schema(scene["map"], out, reference=scene["reference"], field="landcover", schema=scene["schema"])
    assert out.with_suffix(".qml").read_text() == "my own style" and not out.exists()
    assign_schema(scene["map"], out, reference=scene["reference"], field="landcover", schema=scene["schema"],
                  overwrite=True)
    assert "paletteEntry" in out.with_suffix(".qml").read_text()
