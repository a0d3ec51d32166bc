"""Peak RSS of ``geouic accuracy`` and ``geouic assign-schema`` on a big class map against ``--mem-limit``.

Writes (once, window by window) a 16000 x 16000 uint8 class map of 8 classes in 256 x 256
DEFLATE tiles, and a GeoPackage of random reference points labelled with the true class (a
tenth of them wrong), then runs each command as its own process under ``/usr/bin/time -v`` at
each memory limit and records the peak resident set size of the process (``Maximum resident
set size``), wall and CPU time. The map's memory must follow ``--mem-limit``: the difference
between two limits is about the windows' working memory, the rest (Python, GDAL) is the same at
every limit. ``accuracy`` runs with ``--area-adjusted`` (the point pass and the mapped-area pass)
and without (the point pass alone), both with ``--no-figures``: matplotlib's figures would
otherwise set the peak (about 370 MB) and hide the passes.

Usage::

    python benchmarks/rss_mem_limit.py                        # 16000 x 16000, limits 16 and 256 MB
    python benchmarks/rss_mem_limit.py --size 4000 --limits 16 64 --markdown /tmp/rss.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WORK = Path(__file__).resolve().parent / "_work" / "rss_mem_limit"
BLOCK = 256
N_CLASSES = 8


def make_class_map(path: Path, size: int, seed: int = 0) -> Path:
    """Blobs of 8 classes (a smooth random field, quantised), written strip by strip."""
    import rasterio
    from rasterio.transform import from_origin

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    # smooth field: sum of a few random sinusoids, evaluated per strip (no whole-map array)
    waves = [(rng.uniform(0.5, 4) * 2 * np.pi / size, rng.uniform(0.5, 4) * 2 * np.pi / size,
              rng.uniform(0, 2 * np.pi)) for _ in range(6)]
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint8", nodata=0, tiled=True,
                   blockxsize=BLOCK, blockysize=BLOCK, compress="deflate", crs="EPSG:32633",
                   transform=from_origin(500000, 4600000, 30, 30), BIGTIFF="IF_SAFER")
    tmp = path.with_suffix(".part.tif")
    cols = np.arange(size)[None, :]
    with rasterio.open(tmp, "w", **profile) as dst:
        for row in range(0, size, BLOCK):
            rows = np.arange(row, min(size, row + BLOCK))[:, None]
            field = sum(np.sin(a * rows + b * cols + c) for a, b, c in waves)
            classes = np.clip(((field + 3) / 6 * N_CLASSES).astype(np.int64), 0, N_CLASSES - 1) + 1
            classes[(rows % 4000 < 40) & (cols < size // 10)] = 0  # a little nodata
            dst.write(classes.astype(np.uint8)[None], window=((row, row + len(rows)), (0, size)))
        dst.write_colormap(1, {k: (30 * k % 256, 80 + 20 * k, 200 - 20 * k, 255) for k in range(1, N_CLASSES + 1)})
    tmp.rename(path)
    return path


def make_points(path: Path, class_map: Path, n: int, seed: int = 0) -> Path:
    """Random points on the map, field ``ref`` = the map class (10 % replaced by another class)."""
    import geopandas as gpd
    import rasterio
    import shapely

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    with rasterio.open(class_map) as ds:
        rows, cols = rng.integers(0, ds.height, n), rng.integers(0, ds.width, n)
        values = np.array([v[0] for v in ds.sample(zip(*ds.xy(rows, cols)))], np.int64)
        x, y = ds.xy(rows, cols)
        crs = ds.crs.to_wkt()
    keep = values > 0
    ref = values[keep].copy()
    wrong = rng.random(len(ref)) < 0.1
    ref[wrong] = rng.integers(1, N_CLASSES + 1, int(wrong.sum()))
    frame = gpd.GeoDataFrame({"ref": ref.astype(np.int32)},
                             geometry=shapely.points(np.asarray(x)[keep], np.asarray(y)[keep]), crs=crs)
    frame.to_file(path, driver="GPKG")
    return path


def run_timed(cmd: list[str]) -> dict[str, float]:
    """Run ``cmd`` under /usr/bin/time -v; peak RSS (MB), wall and CPU seconds."""
    t0 = time.perf_counter()
    # run from the work folder: with --code, `python -c` puts the cwd first on sys.path
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, cwd=WORK)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}")

    def field(name: str) -> float:
        return float(re.search(rf"{re.escape(name)}: ([\d.:]+)", proc.stderr).group(1))
    return {"peak_rss_mb": field("Maximum resident set size (kbytes)") / 1024, "wall_s": wall,
            "cpu_s": field("User time (seconds)") + field("System time (seconds)")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16000)
    parser.add_argument("--limits", type=float, nargs="+", default=[16, 256])
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    parser.add_argument("--code", type=Path, help="run geouic from this source tree (e.g. an older commit "
                        "unpacked with git archive) instead of the installed one")
    parser.add_argument("--tag", default="", help="label of this run in the output files")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    if args.code:
        os.environ["PYTHONPATH"] = str(args.code.resolve())
        geouic = [sys.executable, "-c", "import sys; from geouic.cli import main; sys.exit(main())"]
    else:
        geouic = [str(Path(sys.executable).with_name("geouic"))]
    t0 = time.perf_counter()
    class_map = make_class_map(WORK / f"classes_{args.size}.tif", args.size)
    points = make_points(WORK / f"points_{args.size}.gpkg", class_map, args.points)
    print(f"inputs ready in {time.perf_counter() - t0:.0f} s: {class_map} ({class_map.stat().st_size / 1e6:.0f} MB)")
    rows = []
    for limit in args.limits:
        out = WORK / f"out_{args.size}_{limit:g}{args.tag}"
        commands = {
            "accuracy": [*geouic, "accuracy", "-q", str(class_map), "--reference", str(points), "--field", "ref",
                         "--area-adjusted", "--no-figures", "--mem-limit", f"{limit:g}", "-o", str(out / "report"),
                         "--overwrite"],
            "accuracy (points only)": [*geouic, "accuracy", "-q", str(class_map), "--reference", str(points),
                                       "--field", "ref", "--no-figures", "--mem-limit", f"{limit:g}",
                                       "-o", str(out / "report_points"), "--overwrite"],
            "assign-schema": [*geouic, "assign-schema", "-q", str(class_map), "--reference", str(points),
                              "--field", "ref", "--mem-limit", f"{limit:g}", "-o", str(out / "lc.tif"),
                              "--overwrite"],
        }
        out.mkdir(exist_ok=True)
        for name, cmd in commands.items():
            res = run_timed(cmd)
            rows.append({"command": name, "mem_limit_mb": limit, "code": str(args.code or "installed"), **res})
            print(json.dumps(rows[-1]))
    load = os.getloadavg()[0]
    table = ["| command | --mem-limit (MB) | peak RSS (MB) | wall (s) | CPU (s) |", "|---|---|---|---|---|"]
    table += [f"| {r['command']} | {r['mem_limit_mb']:g} | {r['peak_rss_mb']:.0f} | {r['wall_s']:.1f} | "
              f"{r['cpu_s']:.1f} |" for r in sorted(rows, key=lambda r: (r["command"], r["mem_limit_mb"]))]
    text = "\n".join(table) + f"\n\n{args.size} x {args.size} uint8 class map, {args.points} points; " \
        f"1-minute load after the runs: {load:.2f}\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    (WORK / f"results_{args.size}{args.tag}.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
