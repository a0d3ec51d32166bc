"""The Python API (issue 14): paths, arrays and DataArrays in, the same kind out, through the CLI's passes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from sklearn.metrics import v_measure_score

import geouic
from geouic.api import ArraySource, MapResult
from geouic.errors import GeouicError, ParameterError, RasterInputError
from tests.conftest import make_scene, quadrant_labels, write_raster

xr = pytest.importorskip("xarray")
rioxarray = pytest.importorskip("rioxarray")

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"
SCHEMA = Path(__file__).resolve().parents[1] / "examples" / "sample_schema.yaml"
KMEANS = dict(method="kmeans", n_classes=4)


def _read(path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


# ------------------------------------------------------------------ the top level
def test_import_geouic_stays_light_and_names_load_on_use():
    code = ("import sys, geouic; heavy = [m for m in ('torch', 'matplotlib', 'geouic.api', 'rasterio') "
            "if m in sys.modules]; f = geouic.classify; "
            "print(heavy, 'geouic.api' in sys.modules, 'torch' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("]")
    assert out[0] == "["
    assert out[1].split() == ["True", "False", "False"]


def test_top_level_names():
    for name in ("classify", "train", "predict", "assign_schema", "accuracy", "load_model", "sieve", "majority",
                 "polygonize"):
        assert name in geouic.__all__ and callable(getattr(geouic, name)) and name in dir(geouic)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        geouic.nope  # noqa: B018


def test_unknown_input_kind_and_missing_output(quadrants):
    with pytest.raises(ParameterError, match="a dict is not a raster input"):
        geouic.classify({}, **KMEANS)
    with pytest.raises(ParameterError, match="output is required for a file input"):
        geouic.classify(quadrants[0], **KMEANS)


# ------------------------------------------------------------------ kinds in and out
def test_path_in_file_out_matches_the_cli(quadrants, tmp_path):
    from click.testing import CliRunner

    from geouic.cli import main

    scene, labels = quadrants
    result = geouic.classify(scene, output=tmp_path / "api.tif", seed=3, **KMEANS)
    assert isinstance(result, MapResult) and result.path == tmp_path / "api.tif"
    assert result.details["n_classes"] == 4 and result.model.n_classes_ == 4
    cli = CliRunner().invoke(main, ["classify", str(scene), "--method", "kmeans", "-k", "4", "--seed", "3", "-o",
                                    str(tmp_path / "cli.tif")])
    assert cli.exit_code == 0, cli.output
    np.testing.assert_array_equal(_read(tmp_path / "api.tif"), _read(tmp_path / "cli.tif"))
    assert v_measure_score(labels.ravel(), result.read().ravel()) == pytest.approx(1.0)


def test_dataarray_in_dataarray_out_same_labels_as_the_file(quadrants, tmp_path):
    scene, _ = quadrants
    on_file = geouic.classify(scene, output=tmp_path / "c.tif", **KMEANS).read()
    da = rioxarray.open_rasterio(scene)
    out = geouic.classify(da, **KMEANS)
    assert isinstance(out, xr.DataArray) and out.dims == ("y", "x")
    np.testing.assert_array_equal(out.values, on_file)
    np.testing.assert_array_equal(out.x.values, da.x.values)
    np.testing.assert_array_equal(out.y.values, da.y.values)
    assert out.rio.crs == da.rio.crs and out.rio.transform() == da.rio.transform() and out.rio.nodata == 0
    assert sorted(out.attrs["class_names"]) == [1, 2, 3, 4] and out.attrs["class_colors"][1].startswith("#")
    assert out.attrs["method"] == "kmeans"


def test_ndarray_in_ndarray_out_with_nodata(tmp_path):
    labels = quadrant_labels(32)
    data = make_scene(labels).astype(np.uint16)
    data[:, :2, :] = 0
    out = geouic.classify(data, nodata=0, transform=Affine(30, 0, 500000, 0, -30, 4600000), crs="EPSG:32633",
                          output=tmp_path / "kept.tif", **KMEANS)
    assert isinstance(out, np.ndarray) and out.shape == (32, 32)
    assert (out[:2] == 0).all() and (out[2:] > 0).all()
    with rasterio.open(tmp_path / "kept.tif") as ds:  # output= keeps the file too
        assert ds.crs == "EPSG:32633" and ds.transform.a == 30
    assert v_measure_score(labels[2:].ravel(), out[2:].ravel()) == pytest.approx(1.0)


def test_rasterio_dataset_in_result_out(quadrants, tmp_path):
    with rasterio.open(quadrants[0]) as ds:
        result = geouic.classify(ds, output=tmp_path / "c.tif", **KMEANS)
    assert isinstance(result, MapResult) and result.read().max() == 4


def test_dask_dataarray_is_computed_window_by_window(tmp_path):
    da_mod = pytest.importorskip("dask.array")
    from dask.callbacks import Callback

    labels = np.kron(quadrant_labels(4), np.ones((64, 64), np.uint8))  # 256 x 256, 16 blocks of 64
    scene = write_raster(tmp_path / "big.tif", make_scene(labels), nodata=0, block=32)
    eager = rioxarray.open_rasterio(scene)
    lazy = eager.chunk({"band": -1, "y": 32, "x": 32})
    source = geouic.api._inputs._dataarray_source(lazy, None, None)
    assert isinstance(source._array, da_mod.Array) and source.block_shape == (32, 32)
    n_chunks = lazy.data.npartitions
    sizes: list[int] = []
    with Callback(start=lambda dsk: sizes.append(sum(1 for k in dsk if isinstance(k, tuple)
                                                     and k[0] == lazy.data.name))):
        out = geouic.classify(lazy, mem_limit_mb=0.2, workers=1, **KMEANS)
    assert len(sizes) > 4 and max(sizes) <= n_chunks // 4  # sampling units and windows, never the whole array
    np.testing.assert_array_equal(out.values, geouic.classify(eager, **KMEANS).values)


def test_array_source_reads_like_a_file(quadrants_nodata):
    scene, _ = quadrants_nodata
    with rasterio.open(scene) as ds:
        data = ds.read()
    from geouic.raster import open_raster

    with open_raster(scene) as src:
        want_data, want_valid = src.read()
    got_data, got_valid = ArraySource(data, nodata=0).read()
    np.testing.assert_array_equal(got_valid, want_valid)
    np.testing.assert_array_equal(got_data, want_data)
    floats = data.astype(np.float32)
    floats[1, 10, 10] = np.nan
    assert not ArraySource(floats, nodata=0).read()[1][10, 10]


def test_bad_arrays_are_geouic_errors():
    with pytest.raises(RasterInputError, match="shape \\(4,\\) is not a raster"):
        ArraySource(np.zeros(4))
    with pytest.raises(RasterInputError, match="complex"):
        ArraySource(np.zeros((1, 4, 4), np.complex64))
    with pytest.raises(RasterInputError, match="no band 'swir'"):
        geouic.classify(np.ones((2, 8, 8)), bands=["swir"], **KMEANS)


def test_train_on_mixed_kinds_then_predict(quadrants, tmp_path):
    scene, labels = quadrants
    da = rioxarray.open_rasterio(scene)
    model = geouic.train([da, str(scene)], save_model=tmp_path / "m.geouic", **KMEANS)
    assert model.n_classes_ == 4 and (tmp_path / "m.geouic").exists()
    pred = geouic.predict(tmp_path / "m.geouic", da)
    assert v_measure_score(labels.ravel(), pred.values.ravel()) == pytest.approx(1.0)
    np.testing.assert_array_equal(geouic.predict(model, da.values).ravel(), pred.values.ravel())
    with pytest.raises(GeouicError, match="same bands"):
        geouic.train([da, da.isel(band=[0, 1])], **KMEANS)


# ------------------------------------------------------------------ schema, accuracy, post-processing
def test_assign_schema_and_accuracy_on_dataarrays_match_the_files(tmp_path):
    da = rioxarray.open_rasterio(SAMPLES / "scene.tif")
    labels = geouic.classify(da, method="kmeans", n_classes=10)
    lc = geouic.assign_schema(labels, reference=SAMPLES / "training.gpkg", field="class", schema=SCHEMA)
    assert lc.dims == ("y", "x") and lc.rio.crs == da.rio.crs
    assert lc.attrs["schema"] and set(lc.attrs["mapping"]) == set(range(1, 11))
    assert "forest" in lc.attrs["class_names"].values()
    file_lc = geouic.assign_schema(geouic.classify(SAMPLES / "scene.tif", method="kmeans", n_classes=10,
                                                   output=tmp_path / "c.tif").path,
                                   reference=SAMPLES / "training.gpkg", field="class", schema=SCHEMA,
                                   output=tmp_path / "lc.tif")
    np.testing.assert_array_equal(lc.values, file_lc.read())
    assert file_lc.extras["mapping.yaml"].exists()
    report = geouic.accuracy(lc, reference=SAMPLES / "validation.gpkg", field="ref", area_adjusted=True,
                             output=tmp_path / "report", figures=False)
    file_report = geouic.accuracy(file_lc.path, reference=SAMPLES / "validation.gpkg", field="ref",
                                  area_adjusted=True)
    assert report.overall_accuracy == file_report.overall_accuracy > 0.8
    assert (tmp_path / "report" / "report.json").exists() and report.folder == tmp_path / "report"
    table = report.to_dataframe()
    assert {"users_accuracy", "producers_accuracy", "f1", "area_ha", "area_ha_ci95"} <= set(table.columns)
    assert json.loads(json.dumps(report.to_dict()))["n_samples"] == 300
    assert "overall_accuracy=" in repr(report)
    assert report._repr_html_().startswith("<iframe srcdoc=") and "&lt;table" in report._repr_html_()
    assert report.confusion_dataframe().to_numpy().sum() == 300


def test_map_result_conversions(quadrants, tmp_path):
    result = geouic.classify(quadrants[0], output=tmp_path / "c.tif", **KMEANS)
    frame = result.to_dataframe()
    assert list(frame.index) == [1, 2, 3, 4] and frame["pixels"].sum() == 64 * 64
    assert json.loads(json.dumps(result.to_dict()))["classes"][0]["code"] == 1
    assert "MapResult(step='classify'" in repr(result) and "<table>" in result._repr_html_()
    assert result.to_xarray().shape == (64, 64)
    assert "4/4 classes" in result.summary()


def test_post_processing_on_arrays_and_files(tmp_path):
    m = np.ones((20, 20), np.uint8)
    m[10:, :] = 2
    m[3, 3] = 2
    assert geouic.sieve(m, mmu="2px")[3, 3] == 1
    assert geouic.majority(m, size=3)[3, 3] == 1
    gdf = geouic.polygonize(m)
    assert sorted(gdf["code"].tolist()) == [1, 2, 2]
    path = write_raster(tmp_path / "m.tif", m)
    result = geouic.sieve(path, mmu="2px", output=tmp_path / "s.tif")
    assert result.details["pixels_changed"] == 1 and result.read()[3, 3] == 1
    vector = geouic.polygonize(path, output=tmp_path / "p.gpkg")
    assert Path(vector.path).exists()


# ------------------------------------------------------------------ estimator on images
def test_raster_classifier_fits_and_predicts_images(quadrants):
    da = rioxarray.open_rasterio(quadrants[0])
    est = geouic.RasterClassifier("kmeans", n_classes=4).fit(da)
    out = est.predict(da)
    assert isinstance(out, xr.DataArray) and est.n_classes_ == 4
    assert v_measure_score(quadrants[1].ravel(), out.values.ravel()) == pytest.approx(1.0)
    assert est.get_params()["n_classes"] == 4


def test_raster_classifier_uic_on_a_tiny_image(tmp_path):
    pytest.importorskip("torch")
    labels = quadrant_labels(32)
    image = make_scene(labels, n_bands=3).astype(np.float32)
    est = geouic.RasterClassifier("uic", n_classes=4, params={"epochs": 2, "members": 1, "device": "cpu"})
    out = est.fit_predict(image)
    assert out.shape == (32, 32) and out.min() >= 1 and est.engine_.method == "uic"
    assert v_measure_score(labels.ravel(), out.ravel()) > 0.8
    est.save(tmp_path / "uic.geouic")
    np.testing.assert_array_equal(geouic.predict(tmp_path / "uic.geouic", image), out)


# ------------------------------------------------------------------ the issue's snippet, as written
@pytest.mark.slow
def test_issue_snippet_runs_as_written_on_the_sample(tmp_path, monkeypatch):
    import shutil

    for name in ("scene.tif", "training.gpkg", "validation.gpkg"):
        shutil.copy(SAMPLES / name, tmp_path / name)
    # The sample's reference names (water, forest, ...) are not NLCD's: its own legend stands in for "nlcd",
    # and its one scene for "scene2.tif"; everything else is the issue's text.
    nlcd = str(SCHEMA)
    monkeypatch.chdir(tmp_path)
    da = da1 = rioxarray.open_rasterio("scene.tif")

    result = geouic.classify("scene.tif", n_classes=12, method="uic", output="classes.tif")   # path in, file out
    labels = geouic.classify(da, n_classes=12)
    model = geouic.train([da1, "scene.tif"], n_classes=16)
    lc = geouic.assign_schema(labels, reference="training.gpkg", field="class", schema=nlcd)
    report = geouic.accuracy(lc, reference="validation.gpkg", field="ref", area_adjusted=True)
    report.overall_accuracy, report.to_dataframe()

    np.testing.assert_array_equal(labels.values, result.read())
    assert model.n_classes_ == 16 and 0 <= report.overall_accuracy <= 1


def test_geouic_accuracy_is_the_module_and_the_function():
    import types

    import geouic.accuracy as module
    from geouic.accuracy import assess

    assert geouic.accuracy is module and isinstance(module, types.ModuleType) and module.assess is assess
    report = geouic.accuracy(np.array([[1, 1, 2, 2]] * 4), reference=np.array([[1, 1, 2, 1]] * 4))
    assert report.overall_accuracy == pytest.approx(0.75)
