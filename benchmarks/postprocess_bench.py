"""Sieve + polygonize on a large class map: geouic vs GDAL's gdal_sieve.py + gdal_polygonize.py.

Writes a synthetic class map strip by strip (never held in memory): 8 classes as zones of a
two-octave smooth random field (curved field boundaries, patches of hundreds of pixels), pixel
noise added before the zones are cut (mixed pixels along every boundary: chains of small
patches) and 0.5 % random speckle; palette and class names as `geouic classify` writes them.
Then runs, each as its own process under ``/usr/bin/time -v`` (wall time, peak RSS):

* geouic sieve MAP --mmu N px -o g_sieved.tif (and with --no-overviews: GDAL's sieve writes none;
  with --no-overviews --co COMPRESS=NONE: GDAL writes uncompressed; with --no-overviews and an
  empty numba cache, so the kernels are compiled in that run; with --no-overviews and
  GEOUIC_NO_NUMBA=1, the numpy forms); geouic polygonize g_sieved.tif -o g.gpkg
* gdal_sieve.py -st N -4 MAP gd_sieved.tif ; gdal_polygonize.py gd_sieved.tif -f GPKG gd.gpkg

and checks both sieved maps (every geouic sieve run must give the same pixels, and the same as
``--reference`` when given, e.g. a map sieved by an earlier commit): patches below N pixels that
touch another class (counted independently, per class with scipy.ndimage.label, strip-free, on a
4000 x 4000 crop) and the
pixel agreement of the two sieves (they differ by rule: longest border vs largest neighbour).

Usage::

    nice -n 10 .venv/bin/python benchmarks/postprocess_bench.py --size 16000 --mmu 20 \\
        --work benchmarks/_work/post --markdown benchmarks/_work/post/section.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NAMES = {1: "water", 2: "wetland", 3: "forest", 4: "shrub", 5: "grass", 6: "crop", 7: "bare", 8: "urban"}


def _smooth(rows: np.ndarray, cols: np.ndarray, grid: np.ndarray, scale: float) -> np.ndarray:
    """Bilinear interpolation of a coarse random grid at pixel rows x cols."""
    y, x = rows / scale, cols / scale
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    g = grid
    return ((1 - fy) * ((1 - fx) * g[y0][:, x0] + fx * g[y0][:, x0 + 1])
            + fy * ((1 - fx) * g[y0 + 1][:, x0] + fx * g[y0 + 1][:, x0 + 1]))


def make_map(path: Path, size: int, seed: int = 0) -> None:
    """The synthetic class map (see module notes), 256-row strips."""
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    from geouic.output import Legend, ThematicWriter

    rng = np.random.default_rng(seed)
    coarse = rng.random((size // 400 + 3, size // 400 + 3))
    fine = rng.random((size // 90 + 3, size // 90 + 3))
    legend = Legend.default(8, names=NAMES)
    cols = np.arange(size)
    with ThematicWriter(path, crs="EPSG:32633", transform=from_origin(300000, 5000000, 30, 30), width=size,
                        height=size, legend=legend, n_classes=8, overwrite=True) as w:
        for r0 in range(0, size, 256):
            rows = np.arange(r0, min(size, r0 + 256))
            f = 0.7 * _smooth(rows, cols, coarse, 400) + 0.3 * _smooth(rows, cols, fine, 90)
            f += rng.normal(0, 0.006, f.shape)
            classes = np.clip(((f - 0.15) / 0.7 * 8).astype(int) + 1, 1, 8).astype(np.uint8)
            speck = rng.random(f.shape) < 0.005
            classes[speck] = rng.integers(1, 9, int(speck.sum()))
            w.write(Window(0, r0, size, len(rows)), classes)
        w.close(tags={"GEOUIC_METHOD": "synthetic", "GEOUIC_INPUT": "postprocess_bench.py"})


def timed(name: str, cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd`` under /usr/bin/time -v; wall seconds, CPU seconds and peak RSS (MB)."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{name} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    get = lambda key: float(re.search(rf"{key}: ([0-9.]+)", p.stderr).group(1))  # noqa: E731
    row = {"step": name, "command": " ".join(cmd), "wall_s": round(wall, 1),
           "cpu_s": round(get("User time \\(seconds\\)") + get("System time \\(seconds\\)"), 1),
           "peak_rss_mb": round(get("Maximum resident set size \\(kbytes\\)") / 1024, 0)}
    print(json.dumps(row), flush=True)
    return row


def check_sieved(path: Path, mmu: int, crop: int) -> dict:
    """Patches below ``mmu`` that touch another class, on a corner crop (independent count)."""
    import rasterio
    from rasterio.windows import Window
    from scipy import ndimage

    with rasterio.open(path) as ds:
        m = ds.read(1, window=Window(0, 0, min(crop, ds.width), min(crop, ds.height)))
    small_touching = 0
    structure = ndimage.generate_binary_structure(2, 1)
    for code in np.unique(m[m > 0]):
        lab, n = ndimage.label(m == code, structure)
        sizes = np.bincount(lab.ravel())
        cand = np.flatnonzero(sizes[1:] < mmu) + 1
        if not len(cand):
            continue
        # a small patch touches another class unless all its neighbours are nodata or the crop edge
        grown = ndimage.grey_dilation(np.where(np.isin(lab, cand), lab, 0), footprint=structure)
        other = (grown > 0) & (lab != grown) & (m > 0) & (m != code)
        touching = np.unique(grown[other])
        # patches cut by the crop edge are not complete: skip them
        edge = np.unique(np.r_[lab[0], lab[-1], lab[:, 0], lab[:, -1]])
        small_touching += len(np.setdiff1d(touching, edge))
    return {"crop": crop, "small_patches_touching_another_class": int(small_touching)}


def identical(a: Path, b: Path) -> bool:
    """Same pixels, block by block."""
    import rasterio

    with rasterio.open(a) as da, rasterio.open(b) as db:
        if (da.width, da.height) != (db.width, db.height):
            return False
        return all(np.array_equal(da.read(1, window=win), db.read(1, window=win)) for _, win in da.block_windows(1))


def agreement(a: Path, b: Path) -> float:
    import rasterio

    same = total = 0
    with rasterio.open(a) as da, rasterio.open(b) as db:
        for _, win in da.block_windows(1):
            x, y = da.read(1, window=win), db.read(1, window=win)
            same += int(np.count_nonzero(x == y))
            total += x.size
    return same / total


def quickstart_check(folder: Path, mmu_ha: float = 0.5) -> dict:
    """The issue's DONE-WHEN on the quickstart's land-cover map (``bash examples/quickstart.sh`` first).

    Sieves ``landcover.tif`` to ``mmu_ha``, counts patches independently (scipy per class, and
    GDAL's polygonizer through ``gdal_polygonize.py``), compares colours and names with the input,
    polygonizes and compares class areas with the raster's, and runs ``ogrinfo``.
    """
    import xml.etree.ElementTree as ET

    import geopandas as gpd
    import rasterio
    from scipy import ndimage

    from geouic.classstats import class_areas

    src, out, gpkg = folder / "landcover.tif", folder / "landcover_mmu.tif", folder / "landcover_mmu.gpkg"
    geouic = str(ROOT / ".venv" / "bin" / "geouic")
    subprocess.run([geouic, "sieve", str(src), "--mmu", f"{mmu_ha}ha", "-o", str(out), "--overwrite"], check=True)
    subprocess.run([geouic, "polygonize", str(out), "-o", str(gpkg), "--overwrite"], check=True)
    with rasterio.open(src) as a, rasterio.open(out) as b:
        raw, m = a.read(1), b.read(1)
        pixel_ha = abs(b.transform.a * b.transform.e) / 1e4
        cmap_a, cmap_b = a.colormap(1), b.colormap(1)
    names = [[c.text for c in ET.parse(str(p) + ".aux.xml").getroot().iter("Category")] for p in (src, out)]
    # independent count 1: scipy, per class, 4-connectivity; a small patch is allowed only when it
    # touches no other class
    structure = ndimage.generate_binary_structure(2, 1)
    before = after = small_touching = small_isolated = 0
    for arr, is_out in ((raw, False), (m, True)):
        for code in np.unique(arr[arr > 0]):
            lab, n = ndimage.label(arr == code, structure)
            if not is_out:
                before += n
                continue
            after += n
            sizes = np.bincount(lab.ravel())
            for k in np.flatnonzero(sizes[1:] * pixel_ha < mmu_ha * (1 - 1e-9)) + 1:
                ring = ndimage.binary_dilation(lab == k, structure) & (lab != k)
                if np.any((arr[ring] > 0) & (arr[ring] != code)):
                    small_touching += 1
                else:
                    small_isolated += 1
    # independent count 2: GDAL's polygonizer on the sieved map
    gd = folder / "landcover_mmu_gdal.gpkg"
    if gd.exists():
        gd.unlink()
    subprocess.run(["gdal_polygonize.py", "-q", str(out), "-f", "GPKG", str(gd), "patches", "code"], check=True)
    gdf = gpd.read_file(gd)
    gdal_small = int((gdf.area / 1e4 < mmu_ha * (1 - 1e-9)).sum())
    df = gpd.read_file(gpkg)
    raster = class_areas(out)
    worst = max(abs(df.area[df.code == c].sum() / 1e4 - ha) / ha for c, (_, ha) in raster.items())
    worst_field = max(abs(df.area_ha[df.code == c].sum() - ha) / ha for c, (_, ha) in raster.items())
    ogr = subprocess.run(["ogrinfo", "-so", "-al", str(gpkg)], capture_output=True, text=True).stdout
    result = {
        "patches_before": before, "patches_after": after,
        "scipy_small_patches_touching_another_class": small_touching,
        "scipy_small_patches_touching_no_other_class": small_isolated,
        "gdal_polygonize_features": len(gdf), "gdal_polygons_below_mmu": gdal_small,
        "colour_table_identical": all(cmap_a.get(c) == cmap_b.get(c) for c in range(256)),
        "category_names_identical": names[0] == names[1],
        "qml_identical": src.with_suffix(".qml").read_text() == out.with_suffix(".qml").read_text(),
        "features": len(df), "max_class_area_rel_error_geometry": worst,
        "max_class_area_rel_error_area_ha": worst_field,
        "ogrinfo": [line.strip() for line in ogr.splitlines() if ":" in line and any(k in line for k in (
            "Geometry", "Feature Count", "code", "name", "area_ha", "pixels", "PROJCRS", "Layer name"))],
    }
    print(json.dumps(result, indent=1), flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=16000)
    ap.add_argument("--mmu", type=int, default=20, help="minimum mapping unit in pixels")
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work" / "post")
    ap.add_argument("--markdown", type=Path, default=None)
    ap.add_argument("--reuse-map", action="store_true")
    ap.add_argument("--sieve-only", action="store_true", help="skip the two polygonize steps")
    ap.add_argument("--reference", type=Path, default=None,
                    help="a sieved map to compare pixels with (e.g. from an earlier commit)")
    ap.add_argument("--quickstart", type=Path, default=None, metavar="OUT",
                    help="only run the DONE-WHEN checks on OUT/landcover.tif of examples/quickstart.sh")
    args = ap.parse_args()
    if args.quickstart:
        quickstart_check(args.quickstart)
        return
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"classes_{args.size}.tif"
    if not (args.reuse_map and src.exists()):
        t0 = time.perf_counter()
        make_map(src, args.size)
        print(f"map written in {time.perf_counter() - t0:.0f} s", flush=True)
    for f in [*work.glob("g.gpkg"), *work.glob("gd.gpkg"), *work.glob("g_*")]:
        f.unlink()
    for f in work.glob("gd_*"):
        f.unlink()
    geouic = str(ROOT / ".venv" / "bin" / "geouic")
    load_before = os.getloadavg()
    sieve_cmd = [geouic, "sieve", str(src), "--mmu", f"{args.mmu}px"]
    cold = work / "numba_cache_cold"
    if cold.exists():
        shutil.rmtree(cold)
    cold.mkdir()
    rows = [
        timed("geouic sieve", [*sieve_cmd, "-o", str(work / "g_sieved.tif")]),
        timed("geouic sieve --no-overviews", [*sieve_cmd, "--no-overviews", "-o", str(work / "g_sieved_noovr.tif")]),
        timed("geouic sieve --no-overviews --co COMPRESS=NONE",
              [*sieve_cmd, "--no-overviews", "--co", "COMPRESS=NONE", "-o", str(work / "g_sieved_raw.tif")]),
        timed("geouic sieve --no-overviews, empty numba cache (compiles the kernels)",
              [*sieve_cmd, "--no-overviews", "-o", str(work / "g_sieved_cold.tif")],
              env={**os.environ, "NUMBA_CACHE_DIR": str(cold)}),
        timed("geouic sieve --no-overviews, numpy forms (GEOUIC_NO_NUMBA=1)",
              [*sieve_cmd, "--no-overviews", "-o", str(work / "g_sieved_numpy.tif")],
              env={**os.environ, "GEOUIC_NO_NUMBA": "1"}),
        timed("gdal_sieve.py", ["gdal_sieve.py", "-q", "-st", str(args.mmu), "-4", str(src),
                                str(work / "gd_sieved.tif")]),
    ]
    if not args.sieve_only:
        rows += [
            timed("geouic polygonize", [geouic, "polygonize", str(work / "g_sieved.tif"), "-o", str(work / "g.gpkg")]),
            timed("gdal_polygonize.py", ["gdal_polygonize.py", "-q", str(work / "gd_sieved.tif"), "-f", "GPKG",
                                         str(work / "gd.gpkg"), "patches", "code"]),
        ]
    load_after = os.getloadavg()
    import pyogrio

    runs = ["g_sieved_noovr.tif", "g_sieved_raw.tif", "g_sieved_cold.tif", "g_sieved_numpy.tif"]
    checks = {
        "geouic_runs_identical": all(identical(work / "g_sieved.tif", work / r) for r in runs),
        **({"identical_to_reference": identical(work / "g_sieved.tif", args.reference)} if args.reference else {}),
        "geouic": check_sieved(work / "g_sieved.tif", args.mmu, 4000),
        "gdal": check_sieved(work / "gd_sieved.tif", args.mmu, 4000),
        "agreement": round(agreement(work / "g_sieved.tif", work / "gd_sieved.tif"), 4),
    }
    if not args.sieve_only:
        checks.update(features_geouic=pyogrio.read_info(work / "g.gpkg")["features"],
                      features_gdal=pyogrio.read_info(work / "gd.gpkg")["features"])
    print(json.dumps(checks), flush=True)
    if args.markdown:
        _markdown(args, rows, checks, load_before, load_after)


def _markdown(args, rows, checks, load_before, load_after) -> None:
    import rasterio

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    gdal = subprocess.run(["gdalinfo", "--version"], capture_output=True, text=True).stdout.strip()
    lines = [f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Machine: {os.cpu_count()} CPUs, "
             f"{platform.python_version()}; geouic commit {commit}, rasterio {rasterio.__version__} "
             f"(GDAL {rasterio.__gdal_version__}); command-line GDAL: {gdal}.",
             f"Load (1/5/15 min) before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, "
             f"after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}.", "",
             "| step | wall s | CPU s | peak RSS MB |", "|---|---|---|---|"]
    lines += [f"| {r['step']} | {r['wall_s']} | {r['cpu_s']} | {r['peak_rss_mb']:.0f} |" for r in rows]
    lines += ["", f"Checks: {json.dumps(checks)}", "", "Commands:", ""]
    lines += [f"- `{r['command']}`" for r in rows]
    args.markdown.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
