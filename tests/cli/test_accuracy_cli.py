"""``geouic accuracy`` through click: the Olofsson et al. (2014) example end to end, reports, bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from rasterio.transform import from_origin

from geouic.cli import main
from tests.conftest import quadrant_labels, write_raster
from tests.test_accuracy import OLOFSSON_COUNTS, OLOFSSON_PIXELS, check_olofsson_numbers

TRANSFORM = from_origin(500000, 4600000, 30, 30)


def run(args: list) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_clean_failure(result, *, expect: str, outputs: list[Path]) -> None:
    assert result.exit_code == 2, result.output
    text = result.output.strip()
    errors = [line for line in text.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "Traceback" not in text, text
    assert expect.lower() in errors[0].lower(), text
    for p in outputs:
        assert not p.exists(), f"{p} was written"
        assert not list(p.parent.glob(f".{p.name}*")), "temporary folder left behind"


def olofsson_inputs(folder: Path) -> tuple[Path, Path]:
    """A 30 m UTM map of 5000 x 2000 pixels whose classes have exactly the paper's mapped pixels,
    one band of rows per class, and 640 points whose map x reference counts are the paper's matrix."""
    width = 5000
    rows_per_class = [p // width for p in OLOFSSON_PIXELS]  # 40, 30, 640, 1290 rows
    assert [r * width for r in rows_per_class] == OLOFSSON_PIXELS
    column = np.repeat(np.arange(1, 5, dtype=np.uint8), rows_per_class)
    map_path = folder / "map.tif"
    profile = dict(driver="GTiff", width=width, height=len(column), count=1, dtype="uint8", crs="EPSG:32633",
                   transform=TRANSFORM, nodata=0, tiled=True, blockxsize=512, blockysize=512, compress="deflate")
    with rasterio.open(map_path, "w", **profile) as dst:
        dst.write(np.broadcast_to(column[:, None], (len(column), width)), 1)
    first_row = np.cumsum([0, *rows_per_class[:-1]])
    rows, cols, refs = [], [], []
    for i, counts in enumerate(OLOFSSON_COUNTS):
        for j, n in enumerate(counts):
            k = np.arange(n) + sum(counts[:j])       # distinct pixels inside stratum i
            rows.append(first_row[i] + k // 100)
            cols.append((k % 100) * 37 + 11)
            refs.append(np.full(n, j + 1))
    rows, cols, refs = (np.concatenate(v) for v in (rows, cols, refs))
    x, y = TRANSFORM * (cols + 0.5, rows + 0.5)
    points = folder / "points.gpkg"
    gpd.GeoDataFrame({"ref": refs}, geometry=shapely.points(x, y), crs="EPSG:32633").to_file(points)
    return map_path, points


def test_olofsson_example_end_to_end(tmp_path):
    t0 = time.perf_counter()
    map_path, points = olofsson_inputs(tmp_path)
    assert time.perf_counter() - t0 < 5, "building the 10-Mpx map took too long"
    report = tmp_path / "report"
    result = run(["accuracy", map_path, "--reference", points, "--field", "ref", "--area-adjusted", "-o", report])
    assert result.exit_code == 0, result.output
    assert "area-adjusted OA 0.947" in result.output
    d = json.loads((report / "report.json").read_text())
    assert d["n_samples"] == 640 and d["confusion_matrix"]["counts"] == OLOFSSON_COUNTS
    aa = d["area_adjusted"]
    codes = ["1", "2", "3", "4"]
    check_olofsson_numbers(aa["overall_accuracy"], [aa["users_accuracy"][c] for c in codes],
                           [aa["producers_accuracy"][c] for c in codes], [aa["area_ha"][c] for c in codes])
    assert aa["total_area_ha"] == pytest.approx(900_000)
    assert [round(aa["mapped_area_ha"][c]) for c in codes] == [18_000, 13_500, 288_000, 580_500]
    assert d["warnings"] == []
    for name in ("report.html", "report.md", "confusion.csv", "confusion.png", "class_accuracy.png",
                 "area.png", "map_preview.png"):
        assert (report / name).stat().st_size > 0
    assert map_path.stat().st_size < 1_000_000


@pytest.fixture
def inputs(tmp_path):
    labels = quadrant_labels(64)
    map_path = write_raster(tmp_path / "map.tif", labels, nodata=0)
    rows, cols = np.array([5, 5, 40, 40, 20]), np.array([10, 40, 10, 40, 20])
    x, y = TRANSFORM * (cols + 0.5, rows + 0.5)
    points = tmp_path / "points.gpkg"
    gpd.GeoDataFrame({"ref": [1, 2, 3, 1, 1]}, geometry=shapely.points(x, y), crs="EPSG:32633").to_file(points)
    return map_path, points


def test_polygon_reference_warns_in_report(inputs, tmp_path):
    map_path, _ = inputs
    polys = tmp_path / "polys.gpkg"
    gpd.GeoDataFrame({"cls": [1, 4]}, geometry=[shapely.box(500300, 4599400, 500600, 4599700),
                                                shapely.box(501500, 4598500, 502200, 4598800)],
                     crs="EPSG:32633").to_file(polys)
    result = run(["accuracy", map_path, "-r", polys, "--field", "cls", "--no-figures", "-o", tmp_path / "rep"])
    assert result.exit_code == 0, result.output
    assert "Warning: reference and map overlap only partly" in result.output
    assert "Warning: the reference comes from polygons" in result.output
    d = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert len(d["warnings"]) == 2 and d["excluded"]["outside_map"] > 0
    assert "not independent samples" in (tmp_path / "rep" / "report.html").read_text()


def test_clusters_cli(inputs, tmp_path):
    map_path, _ = inputs
    ref = write_raster(tmp_path / "ref.tif", np.array([0, 4, 3, 2, 1], np.uint8)[quadrant_labels(64)], nodata=0)
    result = run(["accuracy", map_path, "-r", ref, "--clusters", "--no-figures", "-o", tmp_path / "rep"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"-> {tmp_path / 'rep'}")
    d = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert d["clusters"]["matched_overall_accuracy"] == 1.0 and d["clusters"]["nmi"] == pytest.approx(1.0)
    assert {m["cluster"]: m["reference"] for m in d["clusters"]["matching"]} == {1: 4, 2: 3, 3: 2, 4: 1}


def test_reference_not_overlapping(inputs, tmp_path):
    map_path, _ = inputs
    far = tmp_path / "far.gpkg"
    gpd.GeoDataFrame({"ref": [1]}, geometry=shapely.points([10.0], [10.0]), crs="EPSG:32633").to_file(far)
    out = tmp_path / "rep"
    assert_clean_failure(run(["accuracy", map_path, "-r", far, "--field", "ref", "-o", out]),
                         expect="overlap", outputs=[out])


def test_missing_field(inputs, tmp_path):
    map_path, points = inputs
    out = tmp_path / "rep"
    assert_clean_failure(run(["accuracy", map_path, "-r", points, "--field", "class", "-o", out]),
                         expect="no field 'class'", outputs=[out])


def test_existing_output(inputs, tmp_path):
    map_path, points = inputs
    out = tmp_path / "rep"
    out.mkdir()
    result = run(["accuracy", map_path, "-r", points, "--field", "ref", "-o", out])
    assert_clean_failure(result, expect="already exists", outputs=[])
    assert list(out.iterdir()) == []
    result = run(["accuracy", map_path, "-r", points, "--field", "ref", "--no-figures", "--overwrite", "-o", out])
    assert result.exit_code == 0 and (out / "report.json").exists()


@pytest.mark.parametrize("args, expect", [
    (["--area-adjusted", "--clusters"], "exclude each other"),
    (["-r", "missing.gpkg"], "not found"),
])
def test_bad_options(inputs, tmp_path, args, expect):
    map_path, points = inputs
    out = tmp_path / "rep"
    base = ["accuracy", map_path, "--field", "ref", "-o", out]
    if "-r" not in args:
        base += ["-r", points]
    assert_clean_failure(run(base + [str(tmp_path / a) if a.endswith(".gpkg") else a for a in args]),
                         expect=expect, outputs=[out])


def test_missing_map(inputs, tmp_path):
    _, points = inputs
    out = tmp_path / "rep"
    assert_clean_failure(run(["accuracy", tmp_path / "nope.tif", "-r", points, "--field", "ref", "-o", out]),
                         expect="no such file", outputs=[out])


def test_points_on_unassigned_land_count_as_errors(tmp_path):
    from tests.test_assign import SCHEMA, spectral_classes

    cmap = write_raster(tmp_path / "classes.tif", spectral_classes(), nodata=0)
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    (tmp_path / "m.csv").write_text("class,name\n1,forest\n2,water\n3,cleared\n4,fallen_dry\n5,\n")
    lc = tmp_path / "lc.tif"
    result = run(["assign-schema", cmap, "--mapping", tmp_path / "m.csv", "--schema", tmp_path / "schema.yaml",
                  "-o", lc])
    assert result.exit_code == 0, result.output
    # 5 points per quadrant on its own class, and 4 forest points on class 5's land (left unassigned)
    cells = [(r, c, code) for (r0, c0, code) in [(0, 0, 3), (0, 32, 4), (32, 0, 1), (32, 32, 2)]
             for r, c in [(r0 + 4 + 5 * i, c0 + 4) for i in range(5)]]
    cells += [(4 + 6 * i, 24, 3) for i in range(4)]
    x, y = TRANSFORM * (np.array([c for _, c, _ in cells]) + 0.5, np.array([r for r, _, _ in cells]) + 0.5)
    pts = tmp_path / "pts.gpkg"
    gpd.GeoDataFrame({"ref": [k for _, _, k in cells]}, geometry=gpd.points_from_xy(x, y),
                     crs="EPSG:32633").to_file(pts)
    result = run(["accuracy", lc, "--reference", pts, "--field", "ref", "--area-adjusted", "-o", tmp_path / "rep"])
    assert result.exit_code == 0, result.output
    assert "4 reference points fall on land the map leaves unassigned (class 255" in result.output
    doc = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert doc["n_samples"] == 24 and doc["excluded"]["map_nodata"] == 0
    assert doc["overall_accuracy"] == pytest.approx(20 / 24)
    labels = doc["confusion_matrix"]["labels"]
    assert labels[-1] == 255 and doc["class_names"]["255"] == "unassigned"
    assert doc["confusion_matrix"]["counts"][-1] == [0, 0, 4, 0, 0]  # the row of unassigned: 4 forest points
    assert doc["area_adjusted"]["mapped_area_ha"]["255"] == pytest.approx(32 * 16 * 0.09)  # its own stratum
    assert "unassigned" in (tmp_path / "rep" / "report.md").read_text()


def test_map_preview_draws_unassigned_apart_from_nodata(tmp_path):
    from geouic.plots import plot_map_preview
    from tests.test_assign import SCHEMA, spectral_classes

    classes = spectral_classes()
    classes[60:, :] = 0  # a nodata strip
    cmap = write_raster(tmp_path / "classes.tif", classes, nodata=0)
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    (tmp_path / "m.csv").write_text("class,name\n1,forest\n2,water\n3,cleared\n4,fallen_dry\n5,\n")
    lc = tmp_path / "lc.tif"
    assert run(["assign-schema", cmap, "--mapping", tmp_path / "m.csv", "--schema", tmp_path / "schema.yaml",
                "-o", lc]).exit_code == 0
    fig = plot_map_preview(lc)
    legend = fig.axes[0].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert "255: unassigned" in labels and labels[-1] == "0: nodata (blank)"
    colours = {t.get_text(): h.get_facecolor() for t, h in zip(legend.get_texts(), legend.legend_handles)}
    assert colours["255: unassigned"][:3] == pytest.approx((112 / 255,) * 3) and colours["0: nodata (blank)"][3] == 0


def test_provenance_chain_and_report_header(quadrants, tmp_path):
    from geouic.provenance import provenance_chain, read_provenance

    scene, labels = quadrants
    classes, lc = tmp_path / "classes.tif", tmp_path / "lc.tif"
    assert run(["classify", scene, "--method", "kmeans", "-k", 4, "--seed", 7, "-o", classes]).exit_code == 0
    with rasterio.open(classes) as ds:
        truth = ds.read(1)
    names = {int(truth[labels == q][0]): n for q, n in zip(range(1, 5), ["a", "b", "c", "d"])}
    (tmp_path / "m.csv").write_text("class,name\n" + "".join(f"{c},{n}\n" for c, n in sorted(names.items())))
    (tmp_path / "s.yaml").write_text("name: abcd\nclasses:\n" + "".join(
        f"  - {{code: {i}, name: {n}}}\n" for i, n in enumerate("abcd", 1)))
    result = run(["assign-schema", classes, "--mapping", tmp_path / "m.csv", "--schema", tmp_path / "s.yaml",
                  "-o", lc])
    assert result.exit_code == 0, result.output
    chain = provenance_chain(read_provenance(lc))
    assert [s["method"] for s in chain] == ["assign-schema", "kmeans"]
    assert chain[1]["input"] == str(scene) and chain[1]["seed"] == "7"
    assert chain[1]["parameters"]["params"]["n_clusters"] == 4
    x, y = TRANSFORM * (np.array([8, 40, 8, 40]) + 0.5, np.array([8, 8, 40, 40]) + 0.5)
    pts = tmp_path / "pts.gpkg"
    gpd.GeoDataFrame({"ref": [1, 2, 3, 4]}, geometry=gpd.points_from_xy(x, y), crs="EPSG:32633").to_file(pts)
    assert run(["accuracy", lc, "--reference", pts, "--field", "ref", "-o", tmp_path / "rep"]).exit_code == 0
    doc = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert doc["map_info"]["crs"] == "EPSG:32633" and doc["map_info"]["pixel_size"] == [30.0, 30.0]
    md = (tmp_path / "rep" / "report.md").read_text()
    head = md.split("## ")[0]
    assert f"| map | {lc} |" in head and "| made by | assign-schema (schema=abcd, mapping=" in head
    assert "| made from | kmeans (" in head and "n_clusters=4" in head and f"seed=7) on {scene} |" in head
    assert f"| reference | {pts} (points, field ref) |" in head and "| CRS | EPSG:32633 |" in head
    assert "| pixel size | 30 x 30 metre |" in head and "| assessed | " in head and "| geouic version | " in head
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "<th>made from</th>" in html and "<th>pixel size</th>" in html
