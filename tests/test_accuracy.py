"""Accuracy metrics, the Olofsson et al. (2014) estimators and the windowed assessment."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pytest
import shapely
from rasterio.transform import from_origin
from sklearn import metrics as skm

from geouic.accuracy import (
    assess, cluster_metrics, confusion_matrix, f1_scores, kappa, matched_confusion, olofsson,
    overall_accuracy, producers_accuracy, users_accuracy,
)
from geouic.errors import ParameterError, RasterInputError, ReferenceDataError
from tests.conftest import quadrant_labels, write_raster

# Olofsson et al. (2014), Remote Sensing of Environment 148: 42-57, worked example (section 5).
OLOFSSON_COUNTS = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
OLOFSSON_PIXELS = [200_000, 150_000, 3_200_000, 6_450_000]
PUBLISHED_AREA_HA = [(21_158, 6_158), (11_686, 3_756), (285_770, 15_510), (581_386, 16_282)]
PUBLISHED_UA = [0.88, 0.73, 0.93, 0.96]
PUBLISHED_PA = [0.75, 0.85, 0.93, 0.96]
TRANSFORM = from_origin(500000, 4600000, 30, 30)


def check_olofsson_numbers(overall, users, producers, areas) -> None:
    """Compare estimates (``{"estimate", "ci95"}`` dicts) with the published worked example."""
    assert round(overall["estimate"], 3) == 0.947 and round(overall["estimate"], 2) == 0.95
    assert round(overall["ci95"], 2) == 0.02  # the paper's 0.95 +- 0.02
    assert [round(u["estimate"], 2) for u in users] == PUBLISHED_UA
    assert [round(p["estimate"], 2) for p in producers] == PUBLISHED_PA
    assert [(round(a["estimate"]), round(a["ci95"])) for a in areas] == PUBLISHED_AREA_HA


def test_olofsson_worked_example():
    r = olofsson(OLOFSSON_COUNTS, OLOFSSON_PIXELS, 0.09)
    check_olofsson_numbers(r.overall_accuracy.to_dict(), [e.to_dict() for e in r.users_accuracy],
                           [e.to_dict() for e in r.producers_accuracy], [e.to_dict() for e in r.area_ha])
    # user's accuracy intervals as published (0.88 +- 0.07, 0.73 +- 0.10, 0.93 +- 0.04, 0.96 +- 0.02)
    assert [round(e.ci95, 2) for e in r.users_accuracy] == [0.07, 0.10, 0.04, 0.02]
    assert r.total_area_ha == pytest.approx(900_000)
    assert r.proportions.sum() == pytest.approx(1.0)


def test_olofsson_per_class_pixel_area_equals_scalar():
    scalar = olofsson(OLOFSSON_COUNTS, OLOFSSON_PIXELS, 0.09)
    vector = olofsson(OLOFSSON_COUNTS, OLOFSSON_PIXELS, [0.09] * 4)
    assert [e.ci95 for e in scalar.area_ha] == pytest.approx([e.ci95 for e in vector.area_ha])


def test_olofsson_edge_cases():
    with pytest.raises(ParameterError, match="mapped area but no sample"):
        olofsson([[5, 0], [0, 0]], [10, 10], 1.0)
    with pytest.raises(ParameterError, match="one per class"):
        olofsson([[5, 0], [0, 5]], [10, 10, 10], 1.0)
    r = olofsson([[5, 1], [0, 1]], [10, 10], 1.0)  # one sample in stratum 2: no interval
    assert np.isnan(r.overall_accuracy.ci95) and np.isfinite(r.overall_accuracy.estimate)
    assert np.isfinite(r.users_accuracy[0].ci95) and np.isnan(r.users_accuracy[1].ci95)
    # a reference-only class (no mapped area, no map samples) is fine
    r = olofsson([[5, 1, 1], [0, 4, 0], [0, 0, 0]], [10, 10, 0], 1.0)
    assert r.area_ha[2].estimate == pytest.approx(10 * 1 / 7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plain_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    ref = rng.integers(1, 6, 500)
    mapped = np.where(rng.random(500) < 0.7, ref, rng.integers(1, 6, 500))
    labels = [1, 2, 3, 4, 5]
    cm = confusion_matrix(mapped, ref, labels)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(mapped, ref, labels=labels))
    assert overall_accuracy(cm) == pytest.approx(skm.accuracy_score(ref, mapped))
    assert kappa(cm) == pytest.approx(skm.cohen_kappa_score(ref, mapped))
    np.testing.assert_allclose(users_accuracy(cm), skm.precision_score(ref, mapped, average=None))
    np.testing.assert_allclose(producers_accuracy(cm), skm.recall_score(ref, mapped, average=None))
    np.testing.assert_allclose(f1_scores(cm), skm.f1_score(ref, mapped, average=None))


def test_known_small_matrix():
    cm = np.array([[45, 5], [10, 40]])
    assert overall_accuracy(cm) == 0.85
    assert kappa(cm) == pytest.approx(0.7)  # pe = (50*55 + 50*45) / 100^2 = 0.5
    np.testing.assert_allclose(users_accuracy(cm), [0.9, 0.8])
    np.testing.assert_allclose(producers_accuracy(cm), [45 / 55, 40 / 45])
    assert np.isnan(users_accuracy([[0, 0], [1, 1]])[0])
    with pytest.raises(ParameterError, match="square"):
        overall_accuracy(np.zeros((2, 3)))


@pytest.mark.parametrize("seed", [0, 1])
def test_cluster_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    ref = rng.integers(1, 5, 2000)
    clusters = np.where(rng.random(2000) < 0.8, ref * 3 % 7, rng.integers(0, 7, 2000))  # relabelled, 7 clusters
    table = skm.cluster.contingency_matrix(clusters, ref)
    m = cluster_metrics(table)
    assert m.nmi == pytest.approx(skm.normalized_mutual_info_score(ref, clusters))
    assert m.ari == pytest.approx(skm.adjusted_rand_score(ref, clusters))
    assert 0.8 < m.matched_overall_accuracy < 0.9


def test_matched_accuracy_and_table():
    ref = np.repeat([1, 2, 3], 10)
    clusters = np.repeat([7, 5, 9], 10)
    clusters[:2] = 4  # an extra cluster inside class 1
    table = np.array([[np.sum((clusters == c) & (ref == r)) for r in (1, 2, 3)] for c in (4, 5, 7, 9)])
    m = cluster_metrics(table, [4, 5, 7, 9], [1, 2, 3])
    assert m.matched_overall_accuracy == pytest.approx(28 / 30)
    assert m.majority_overall_accuracy == 1.0  # the extra cluster 4 is pure class 1
    assert m.matching == [(4, None, 2), (5, 2, 10), (7, 1, 8), (9, 3, 10)]
    labels, cm = matched_confusion(m)
    assert labels == [1, 2, 3, 0]
    assert cm[3].tolist() == [2, 0, 0, 0] and np.trace(cm) == 28
    one = cluster_metrics(np.array([[10, 0], [0, 10]]))
    assert one.nmi == one.ari == one.matched_overall_accuracy == 1.0


# ------------------------------------------------------------------------ assess on files
@pytest.fixture
def class_map(tmp_path):
    """Quadrant classes 1..4 with a 4-column nodata (0) strip on the left, 16x16 tiles."""
    labels = quadrant_labels(64)
    labels[:, :4] = 0
    return write_raster(tmp_path / "map.tif", labels, nodata=0), labels


def _points(path, rows, cols, codes, crs="EPSG:32633", transform=TRANSFORM):
    x, y = transform * (np.asarray(cols) + 0.5, np.asarray(rows) + 0.5)
    gpd.GeoDataFrame({"ref": np.asarray(codes, int)}, geometry=shapely.points(x, y), crs=crs).to_file(path)
    return path


def test_assess_points_with_nodata_and_outside(class_map, tmp_path):
    path, labels = class_map
    truth = quadrant_labels(64)
    rows = np.array([5, 5, 40, 40, 10, 10, 70])
    cols = np.array([10, 40, 10, 40, 1, 2, 10])   # two on the nodata strip, one below the map
    codes = [1, 2, 3, 1, 1, 1, 3]
    pts = _points(tmp_path / "pts.gpkg", rows, cols, codes)
    with pytest.warns(UserWarning, match="overlap only partly"):
        r = assess(path, pts, field="ref")
    assert r.n_samples == 4 and r.excluded == {"map_nodata": 2, "outside_map": 1}
    assert r.counts[3, 0] == 1 and r.overall_accuracy == 0.75   # map 4, reference 1
    assert truth[40, 40] == 4
    assert any("overlap only partly" in w for w in r.warnings)
    d = r.to_dict()
    assert d["users_accuracy"]["4"] == 0.0 and d["producers_accuracy"]["1"] == 0.5


def test_assess_raster_windowed_equals_whole(class_map, tmp_path):
    path, labels = class_map
    rng = np.random.default_rng(0)
    ref = np.where(rng.random((64, 64)) < 0.8, quadrant_labels(64), rng.integers(1, 5, (64, 64))).astype(np.uint8)
    ref[:10] = 0
    ref_path = write_raster(tmp_path / "ref.tif", ref, nodata=0)
    small = assess(path, ref_path, mem_limit_mb=0.01)  # 16x16-pixel windows
    whole = assess(path, ref_path, mem_limit_mb=64)
    keep = (ref > 0) & (labels > 0)
    expected = confusion_matrix(labels[keep], ref[keep], [1, 2, 3, 4])
    np.testing.assert_array_equal(small.counts, expected)
    np.testing.assert_array_equal(whole.counts, expected)
    assert small.excluded["map_nodata"] == int(((ref > 0) & (labels == 0)).sum())


def test_assess_polygons_warns(class_map, tmp_path):
    path, _ = class_map
    polys = gpd.GeoDataFrame(
        {"cls": ["forest", "water"]},
        geometry=[shapely.box(500300, 4599400, 500600, 4599700),      # inside class 1
                  shapely.box(499700, 4598500, 500300, 4598800)],     # half west of the map
        crs="EPSG:32633")
    polys.to_file(tmp_path / "polys.gpkg")
    with pytest.warns(UserWarning) as record:
        r = assess(path, tmp_path / "polys.gpkg", field="cls", area_adjusted=True)
    messages = [str(w.message) for w in record]
    assert any("not independent samples" in m and "stratified random sample" in m for m in messages)
    assert any("overlap only partly" in m for m in messages)
    assert r.reference_kind == "polygons"
    assert r.excluded["outside_map"] == 100 and r.excluded["map_nodata"] == 40
    assert any("not independent" in w for w in r.warnings)


def test_text_classes_align_with_map_names(class_map, tmp_path):
    path, _ = class_map
    (tmp_path / "map.tif.aux.xml").write_text(
        "<PAMDataset><PAMRasterBand band=\"1\"><CategoryNames><Category>nodata</Category>"
        "<Category>water</Category><Category>forest</Category><Category>crop</Category>"
        "<Category>urban</Category></CategoryNames></PAMRasterBand></PAMDataset>")
    # sorted text classes would be crop=1, forest=2, urban=3, water=4: names must win
    rows, cols = np.array([5, 5, 40, 40]), np.array([10, 40, 10, 40])
    x, y = TRANSFORM * (cols + 0.5, rows + 0.5)
    gpd.GeoDataFrame({"cls": ["water", "forest", "crop", "urban"]}, geometry=shapely.points(x, y),
                     crs="EPSG:32633").to_file(tmp_path / "pts.gpkg")
    r = assess(path, tmp_path / "pts.gpkg", field="cls")
    assert r.overall_accuracy == 1.0 and r.labels == [1, 2, 3, 4]
    assert r.names[2] == "forest"


def test_assess_clusters(class_map, tmp_path):
    path, labels = class_map
    ref = quadrant_labels(64)
    ref = np.array([0, 3, 1, 2, 2], np.uint8)[ref]  # classes renamed; quadrants 3 and 4 both class 2
    ref_path = write_raster(tmp_path / "ref.tif", ref, nodata=0)
    r = assess(path, ref_path, clusters=True)
    c = r.clusters
    assert c.class_labels == [1, 2, 3] and c.cluster_labels == [1, 2, 3, 4]
    assert sorted(m[1] for m in c.matching if m[1] is not None) == [1, 2, 3]
    assert [m[1] for m in c.matching].count(None) == 1
    assert c.matched_overall_accuracy == pytest.approx(r.overall_accuracy)
    assert r.labels[-1] == 0 and c.matched_overall_accuracy == pytest.approx(0.75, abs=0.02)
    assert "clusters" in r.to_dict()


def test_assess_area_adjusted_unsampled_stratum(class_map, tmp_path):
    path, _ = class_map
    rows = np.repeat([5, 5, 40], 3) + np.tile([0, 1, 2], 3)
    cols = np.repeat([10, 40, 10], 3)
    pts = _points(tmp_path / "pts.gpkg", rows, cols, [1, 1, 1, 2, 2, 2, 3, 3, 3])
    with pytest.warns(UserWarning, match="no reference sample"):
        r = assess(path, pts, field="ref", area_adjusted=True)
    aa = r.area_adjusted
    assert aa.overall_accuracy.estimate == 1.0
    assert aa.mapped_area_ha[3] == 0  # class 4 dropped from the estimate
    assert r.mapped[4][0] == 32 * 32


def test_assess_geographic_areas(tmp_path):
    """Mapped areas of a geographic map come from the ellipsoid (checked against pyproj.Geod)."""
    from pyproj import Geod

    labels = np.repeat(np.arange(1, 5, dtype=np.uint8), 16)[:, None].repeat(64, 1)  # 16 rows per class
    path = write_raster(tmp_path / "geo.tif", labels, nodata=0, crs="EPSG:4326",
                        transform=from_origin(10.0, 62.0, 0.125, 0.125))
    rows, cols = np.arange(0, 64, 4), np.arange(16) * 4
    x, y = from_origin(10.0, 62.0, 0.125, 0.125) * (cols + 0.5, rows + 0.5)
    gpd.GeoDataFrame({"ref": labels[rows, cols].astype(int)}, geometry=shapely.points(x, y),
                     crs="EPSG:4326").to_file(tmp_path / "pts.gpkg")
    r = assess(path, tmp_path / "pts.gpkg", field="ref", area_adjusted=True)
    geod = Geod(ellps="WGS84")
    lon = np.linspace(10, 18, 801)  # densified parallels: the band between two latitudes
    for k, code in enumerate([1, 2, 3, 4]):
        top, bottom = 62 - 2 * k, 60 - 2 * k
        area, _ = geod.polygon_area_perimeter(np.r_[lon, lon[::-1]], np.r_[[top] * 801, [bottom] * 801])
        assert r.mapped[code][1] == pytest.approx(abs(area) / 1e4, rel=1e-4)
        assert r.area_adjusted.area_ha[k].estimate == pytest.approx(abs(area) / 1e4, rel=1e-4)
    assert r.mapped[1][1] < r.mapped[4][1]  # pixels shrink towards the pole


def test_assess_errors(class_map, tmp_path):
    path, _ = class_map
    far = _points(tmp_path / "far.gpkg", [5], [10], [1], transform=from_origin(0, 0, 30, 30))
    with pytest.raises(ReferenceDataError, match="overlap"):
        assess(path, far, field="ref")
    pts = _points(tmp_path / "pts.gpkg", [5], [10], [1])
    with pytest.raises(ReferenceDataError, match="no field 'class'"):
        assess(path, pts, field="class")
    with pytest.raises(ParameterError, match="exclude each other"):
        assess(path, pts, field="ref", area_adjusted=True, clusters=True)
    floats = write_raster(tmp_path / "float.tif", quadrant_labels(64).astype(np.float32) + 0.5)
    with pytest.raises(RasterInputError, match="integer class codes"):
        assess(floats, pts, field="ref")
    nodata_only = _points(tmp_path / "nod.gpkg", [5, 6], [1, 2], [1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ReferenceDataError, match="no labelled reference point"):
            assess(path, nodata_only, field="ref")


def test_every_pass_follows_mem_limit_with_the_same_answer(class_map, tmp_path):
    """The point pass and the label-raster outside count used fixed budgets; both now follow mem_limit_mb."""
    path, _ = class_map
    ref = quadrant_labels(64).astype(np.uint8)
    ref[:10] = 0
    shifted = write_raster(tmp_path / "shifted.tif", ref, nodata=0,
                           transform=from_origin(500000 + 8 * 30, 4600000, 30, 30))  # 8 columns east of the map
    pts = _points(tmp_path / "pts.gpkg", np.array([5, 40, 40, 70]), np.array([10, 10, 40, 10]), [1, 3, 1, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        results = [(assess(path, shifted, mem_limit_mb=m), assess(path, pts, field="ref", mem_limit_mb=m))
                   for m in (0.005, 64)]
    (r_small, p_small), (r_big, p_big) = results
    assert r_small.excluded["outside_map"] == r_big.excluded["outside_map"] == 54 * 8
    np.testing.assert_array_equal(r_small.counts, r_big.counts)
    assert p_small.excluded == p_big.excluded and p_small.excluded["outside_map"] == 1
    np.testing.assert_array_equal(p_small.counts, p_big.counts)
