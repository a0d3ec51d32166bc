"""Tests of reading reference data (polygons, points, label rasters) onto a scene grid."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import Resampling, calculate_default_transform, reproject
from rasterio.windows import Window

from geouic.errors import ParameterError, ReferenceDataError
from geouic.reference import Grid, ReferenceData, open_reference

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
UTM = CRS.from_epsg(32633)
TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4500000.0)
SIZE = 64


def write_raster(path: Path, data: np.ndarray, transform: Affine = TRANSFORM, crs: CRS | None = UTM,
                 nodata: float | None = None) -> Path:
    height, width = data.shape
    profile = dict(driver="GTiff", width=width, height=height, count=1, dtype=data.dtype, crs=crs,
                   transform=transform, nodata=nodata, tiled=True, blockxsize=16, blockysize=16)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def write_vector(path: Path, geoms: list, crs: CRS | str | None = UTM, **fields: list) -> Path:
    gdf = gpd.GeoDataFrame(fields, geometry=geoms, crs=crs)
    gdf.to_file(path, engine="pyogrio")
    return path


def pixels(row: int, col: int, rows: int, cols: int) -> shapely.Polygon:
    """A polygon covering exactly the pixels [row:row+rows, col:col+cols] of the test grid."""
    (x0, y0), (x1, y1) = TRANSFORM @ (col, row + rows), TRANSFORM @ (col + cols, row)
    return shapely.box(x0, y0, x1, y1)


def centre(row: int, col: int) -> shapely.Point:
    return shapely.Point(TRANSFORM @ (col + 0.5, row + 0.5))


@pytest.fixture
def grid(tmp_path: Path) -> Grid:
    path = write_raster(tmp_path / "scene.tif", np.ones((SIZE, SIZE), np.uint8))
    with rasterio.open(path) as ds:
        return Grid.from_dataset(ds)


@pytest.fixture
def boxes(tmp_path: Path) -> Path:
    geoms = [pixels(2, 3, 4, 6), pixels(10, 10, 5, 5), pixels(40, 40, 3, 3)]
    names = ["water", "forest", "forest"]
    return write_vector(tmp_path / "boxes.gpkg", geoms, name=names, code=[7, 3, 3])


def test_grid_from_dataset_and_validation(grid):
    assert grid == Grid(UTM, TRANSFORM, SIZE, SIZE)
    assert grid.shape == (SIZE, SIZE)
    assert grid.bounds == pytest.approx((500000, 4499360, 500640, 4500000))
    assert Grid("EPSG:32633", TRANSFORM, 1, 1).crs == UTM
    with pytest.raises(ParameterError, match="width=0"):
        Grid(UTM, TRANSFORM, 0, 5)
    with pytest.raises(ParameterError, match="window"):
        grid.check_window(Window(60, 0, 10, 10))


def test_polygons_with_string_field(grid, boxes):
    ref = open_reference(boxes, grid, field="name")
    assert isinstance(ref, ReferenceData) and ref.kind == "polygons" and ref.field == "name"
    assert ref.codes.tolist() == [1, 2]
    assert ref.names == {1: "forest", 2: "water"}
    labels = ref.read()
    assert labels.dtype == np.int32 and labels.shape == (SIZE, SIZE)
    expected = np.zeros((SIZE, SIZE), np.int32)
    expected[2:6, 3:9] = 2
    expected[10:15, 10:15] = 1
    expected[40:43, 40:43] = 1
    np.testing.assert_array_equal(labels, expected)


def test_integer_field_codes_used_directly(grid, boxes):
    ref = open_reference(boxes, grid, field="code")
    assert ref.codes.tolist() == [3, 7] and ref.names == {3: "3", 7: "7"}
    labels = ref.read()
    assert (labels == 7).sum() == 24 and (labels == 3).sum() == 34


def test_integer_field_with_zero_is_remapped(grid, tmp_path):
    path = write_vector(tmp_path / "z.gpkg", [pixels(0, 0, 2, 2), pixels(5, 5, 2, 2)], k=[0.0, 2.0])
    with pytest.warns(UserWarning, match="0->1, 2->2"):
        ref = open_reference(path, grid, field="k")
    assert ref.names == {1: "0", 2: "2"}
    assert ref.read()[0, 0] == 1 and ref.read()[5, 5] == 2


def test_reprojected_polygons_land_on_the_right_pixels(grid, boxes, tmp_path):
    geographic = gpd.read_file(boxes).to_crs("EPSG:4326")
    path = tmp_path / "boxes_4326.geojson"
    geographic.to_file(path, engine="pyogrio")
    ref = open_reference(path, grid, field="name")
    np.testing.assert_array_equal(ref.read(), open_reference(boxes, grid, field="name").read())


def test_vector_crs_and_grid_without_crs_warns(boxes, tmp_path):
    bare = Grid(None, TRANSFORM, SIZE, SIZE)
    with pytest.warns(UserWarning, match="assuming both use the same coordinates"):
        ref = open_reference(boxes, bare, field="name")
    assert (ref.read() > 0).sum() == 58


def test_points_outside_are_warned_and_skipped(grid, tmp_path):
    inside = [(3, 4), (20, 30), (63, 0)]
    geoms = [centre(r, c) for r, c in inside] + [centre(-5, 3), centre(10, 80)]
    path = write_vector(tmp_path / "points.gpkg", geoms, label=["a", "b", "a", "b", "c"])
    with pytest.warns(UserWarning) as record:
        ref = open_reference(path, grid, field="label")
    messages = " | ".join(str(w.message) for w in record)
    assert "2 of 5 features" in messages and "['c']" in messages  # class c only outside
    assert ref.kind == "points" and ref.codes.tolist() == [1, 2, 3]
    with pytest.warns(UserWarning, match="2 of 5 points"):
        rows, cols, codes = ref.point_samples()
    assert list(zip(rows.tolist(), cols.tolist())) == inside
    assert codes.tolist() == [1, 2, 1]
    labels = ref.read()
    assert labels[3, 4] == 1 and labels[20, 30] == 2 and labels[63, 0] == 1
    assert (labels > 0).sum() == 3


def test_non_overlapping_reference_raises(grid, tmp_path):
    far = shapely.affinity.translate(pixels(0, 0, 5, 5), xoff=100_000)
    path = write_vector(tmp_path / "far.gpkg", [far], name=["x"])
    message = "do not overlap the scene.*scene bounds.*check the CRS"
    with pytest.raises(ReferenceDataError, match=message):
        open_reference(path, grid, field="name")


def test_missing_field_lists_available_fields(grid, boxes):
    with pytest.raises(ReferenceDataError, match="no field 'klass'; available fields: name, code"):
        open_reference(boxes, grid, field="klass")
    with pytest.raises(ReferenceDataError, match="pass field=.*name, code"):
        open_reference(boxes, grid)


def test_window_reads_equal_full_read_sliced(grid, tmp_path):
    rng = np.random.default_rng(0)
    geoms = [shapely.Point(TRANSFORM @ tuple(rng.uniform(0, SIZE, 2))).buffer(rng.uniform(20, 120))
             for _ in range(25)]
    line = shapely.LineString([TRANSFORM @ (1.5, 60.2), TRANSFORM @ (62.3, 33.7)])
    geoms += [line, centre(31, 17)]
    path = write_vector(tmp_path / "mixed.gpkg", geoms, c=rng.integers(1, 6, len(geoms)).tolist())
    ref = open_reference(path, grid, field="c")
    full = ref.read()
    assert ref.kind == "polygons" and (full > 0).mean() > 0.3
    assert full[31, 17] == ref.read(Window(17, 31, 1, 1))[0, 0] > 0
    for window in [*grid.tiles(16), Window(5, 7, 20, 11), Window(63, 0, 1, 64)]:
        rows, cols = window.toslices()
        np.testing.assert_array_equal(ref.read(window), full[rows, cols])
    rows, cols, codes = map(np.concatenate, zip(*ref.iter_labelled(grid.tiles(24))))
    expected = np.zeros_like(full)
    expected[rows, cols] = codes
    np.testing.assert_array_equal(expected, full)
    assert len(codes) == (full > 0).sum()


def test_null_and_empty_geometries_and_values_are_skipped(grid, tmp_path):
    geoms = [pixels(0, 0, 2, 2), None, shapely.Polygon(), pixels(5, 5, 2, 2)]
    path = write_vector(tmp_path / "nulls.gpkg", geoms, name=["a", "b", "c", None])
    with pytest.warns(UserWarning, match="1 features .* no value"):
        ref = open_reference(path, grid, field="name")
    assert ref.names == {1: "a"}
    assert (ref.read() > 0).sum() == 4


def test_raster_reference_on_the_same_grid(grid, tmp_path):
    data = np.zeros((SIZE, SIZE), np.uint8)
    data[:10, :10] = 1
    data[20:30, :] = 3
    data[50:, 50:] = 255
    path = write_raster(tmp_path / "labels.tif", data, nodata=255)
    (tmp_path / "labels.tif.aux.xml").write_text(
        '<PAMDataset><PAMRasterBand band="1"><CategoryNames><Category></Category>'
        "<Category>water</Category><Category></Category><Category>urban</Category>"
        "</CategoryNames></PAMRasterBand></PAMDataset>"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ref = open_reference(path, grid)
    assert ref.kind == "raster" and ref.field is None
    assert ref.codes.tolist() == [1, 3] and ref.names == {1: "water", 3: "urban"}
    expected = np.where(data == 255, 0, data)
    np.testing.assert_array_equal(ref.read(), expected)
    np.testing.assert_array_equal(ref.read(Window(45, 18, 19, 40)), expected[18:58, 45:])


def test_raster_reference_on_another_grid_is_warped(grid, tmp_path):
    coarse = Affine(20.0, 0.0, 499980.0, 0.0, -20.0, 4500020.0)  # 20 m, shifted by one 10 m pixel
    src_rows, src_cols = np.mgrid[0:40, 0:40]
    data = ((src_rows * 40 + src_cols) % 250 + 1).astype(np.uint8)
    ref = open_reference(write_raster(tmp_path / "coarse.tif", data, transform=coarse), grid)
    # nearest neighbour: the source pixel that holds each grid pixel's centre
    r, c = np.mgrid[0:SIZE, 0:SIZE]
    expected = data[(10 * r + 25) // 20, (10 * c + 25) // 20]
    np.testing.assert_array_equal(ref.read(), expected)
    np.testing.assert_array_equal(ref.read(Window(9, 30, 17, 5)), expected[30:35, 9:26])


def test_raster_reference_in_another_crs_is_warped(grid, tmp_path):
    blocks = np.kron(np.arange(1, 17, dtype=np.uint8).reshape(4, 4), np.ones((16, 16), np.uint8))
    dst_transform, width, height = calculate_default_transform(
        UTM, "EPSG:4326", SIZE, SIZE, *grid.bounds
    )
    geographic = np.zeros((height, width), np.uint8)
    reproject(blocks, geographic, src_transform=TRANSFORM, src_crs=UTM, dst_transform=dst_transform,
              dst_crs="EPSG:4326", resampling=Resampling.nearest, src_nodata=0, dst_nodata=0)
    path = write_raster(tmp_path / "geo.tif", geographic, dst_transform, CRS.from_epsg(4326))
    labels = open_reference(path, grid).read()
    assert (labels == blocks).mean() > 0.95


def test_reference_pickles(grid, boxes):
    ref = open_reference(boxes, grid, field="name")
    ref.read(Window(0, 0, 8, 8))  # builds the spatial index
    clone = pickle.loads(pickle.dumps(ref))
    np.testing.assert_array_equal(clone.read(), ref.read())


def test_bad_inputs(grid, boxes, tmp_path):
    with pytest.raises(ReferenceDataError, match="point_samples.*polygons"):
        open_reference(boxes, grid, field="name").point_samples()
    with pytest.raises(ReferenceDataError, match="not found"):
        open_reference(tmp_path / "missing.gpkg", grid, field="name")
    (tmp_path / "junk.txt").write_text("not geodata\n")
    with pytest.raises(ReferenceDataError, match="neither a vector file nor a raster"):
        open_reference(tmp_path / "junk.txt", grid)
    labels = write_raster(tmp_path / "l.tif", np.ones((SIZE, SIZE), np.uint8))
    with pytest.raises(ParameterError, match="band=2"):
        open_reference(labels, grid, band=2)
    with pytest.raises(ParameterError, match="grid="):
        open_reference(labels, (SIZE, SIZE))
    fractional = write_vector(tmp_path / "f.gpkg", [pixels(0, 0, 2, 2)], v=[1.5])
    with pytest.raises(ReferenceDataError, match="non-integer"):
        open_reference(fractional, grid, field="v")


@pytest.mark.realdata
@pytest.mark.skipif(not (DATA / "landsat5_amazon").is_dir(), reason="../shared/data is absent")
def test_real_polygons_match_their_published_rasterisation():
    folder = DATA / "landsat5_amazon"
    with rasterio.open(folder / "image.tif") as ds:
        grid = Grid.from_dataset(ds)
    polygons = open_reference(folder / "training_polygons.gpkg", grid, field="class_code")
    raster = open_reference(folder / "training_polygons_rasterized.tif", grid)
    mine, theirs = polygons.read(), raster.read()
    labelled = (mine > 0) | (theirs > 0)
    agreement = (mine[labelled] == theirs[labelled]).mean()
    assert agreement > 0.99, f"agreement on labelled pixels {agreement:.4f}"
    assert polygons.codes.tolist() == raster.codes.tolist() == [1, 2, 3, 4]
    named = open_reference(folder / "training_polygons.gpkg", grid, field="class")
    assert named.names == {1: "cleared", 2: "fallen_dry", 3: "forest", 4: "water"}


def test_self_intersecting_polygons_are_repaired_and_counted(grid, tmp_path):
    # a bow tie over pixels [0:20, 0:20]: crossing at the centre, two triangles left and right
    (x0, y0), (x1, y1) = TRANSFORM @ (0, 20), TRANSFORM @ (20, 0)
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    assert not bowtie.is_valid
    path = write_vector(tmp_path / "bow.gpkg", [bowtie, pixels(40, 40, 8, 8)], cls=[1, 2])
    with pytest.warns(UserWarning, match=r"1 of 2 features of bow.gpkg have invalid .* repaired with "
                                         r"shapely.make_valid"):
        ref = open_reference(path, grid, field="cls")
    labels = ref.read(Window(0, 0, SIZE, SIZE))
    assert (labels[40:48, 40:48] == 2).all()
    left, right = labels[8:12, 1], labels[8:12, 18]  # inside each triangle, not only along the border
    assert (left == 1).all() and (right == 1).all() and labels[1, 10] == 0  # the notches stay unlabelled
