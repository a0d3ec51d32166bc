"""The one class-map reader: check, codes of a window, legend, and the LUT writer built on it."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from geouic.classmap import check_class_map, class_names, colour_table, open_class_map, read_classes, read_legend
from geouic.errors import RasterInputError
from geouic.output import Legend, ThematicWriter
from geouic.raster import open_raster
from geouic.recode import apply_lut, write_lut_map
from tests.conftest import quadrant_labels, write_raster


def test_read_classes_zeroes_nodata_and_negatives(tmp_path):
    data = np.array([[1, -3, 9], [9, 2, 0]], np.int16)
    path = write_raster(tmp_path / "m.tif", data, nodata=9, block=16)
    with open_class_map(path) as src:
        assert read_classes(src, Window(0, 0, 3, 2)).tolist() == [[1, 0, 0], [0, 2, 0]]


def test_not_a_class_map_names_the_file(tmp_path):
    path = write_raster(tmp_path / "f.tif", np.ones((2, 8, 8), np.float32), block=16)
    with open_raster(path) as src, pytest.raises(RasterInputError, match="f.tif: has 2 band"):
        check_class_map(src)
    big = write_raster(tmp_path / "big.tif", np.full((4, 4), 70000, np.int32), block=16)
    with open_class_map(big) as src, pytest.raises(RasterInputError, match="70000 > 65535"):
        read_classes(src, Window(0, 0, 4, 4))


def test_legend_and_names_come_from_the_written_map(tmp_path):
    legend = Legend(names={1: "water", 2: "forest"}, colors={1: (0, 0, 255), 2: (0, 128, 0)})
    path = tmp_path / "lc.tif"
    with ThematicWriter(path, crs="EPSG:32633", transform=rasterio.transform.from_origin(0, 64, 1, 1), width=8,
                        height=8, legend=legend, n_classes=2) as w:
        w.write(Window(0, 0, 8, 8), np.ones((8, 8), np.uint8))
        w.close()
    got = read_legend(path, [1, 2, 3])
    assert got.names == {1: "water", 2: "forest", 3: "class 3"}
    assert got.colors[1] == (0, 0, 255) and got.colors[2] == (0, 128, 0) and len(got.colors[3]) == 3
    assert class_names(path) == {1: "water", 2: "forest"}
    with rasterio.open(path) as ds:
        assert colour_table(ds)[2][:3] == (0, 128, 0)


def test_write_lut_map_recodes_and_counts(tmp_path):
    labels = quadrant_labels(64).astype(np.uint8)
    path = write_raster(tmp_path / "c.tif", labels, nodata=0)
    lut = np.array([0, 5, 5, 6], np.uint16)  # class 4 is beyond the table -> fill
    legend = Legend(names={5: "a", 6: "b", 7: "c"}, colors={5: (1, 2, 3), 6: (4, 5, 6), 7: (7, 8, 9)})
    seen = []
    with open_class_map(path) as src, write_lut_map(src, tmp_path / "o.tif", lut, fill=7, legend=legend, n_classes=7,
                                                    mem_limit_mb=0.01,
                                                    progress=lambda a, t: seen.append(t)) as (writer, counts):
        writer.close()
    with rasterio.open(tmp_path / "o.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), apply_lut(labels.astype(np.int64), lut, fill=7))
    assert counts.as_dict() == {c: int((labels == c).sum()) for c in (1, 2, 3, 4)}
    assert len(seen) > 1 and set(seen) == {len(seen)}
