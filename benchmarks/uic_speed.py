"""Speed of the UIC engine on CPU: training and inference on a 1-megapixel 6-band scene.

Writes a synthetic 1000 x 1000 x 6 uint16 scene (smooth irregular fields of 8 land-cover
spectra, sensor noise, 256 x 256 tiles) unless it exists, then runs the real commands with
default settings and times them::

    geouic classify SCENE -k 8 -o classes.tif --save-model m.geouic --overwrite
    geouic predict m.geouic SCENE -o predicted.tif --overwrite

``classify`` prints its fit and predict seconds; ``predict`` is timed as a whole (process
start, torch import and model loading included) and, separately, in-process (apply_engine
only). The load of the machine (``uptime``, ``top``) is recorded before each run, because the
machine is shared. Usage::

    python benchmarks/uic_speed.py                    # default settings, one run
    python benchmarks/uic_speed.py --repeats 2 --markdown benchmarks/_work/uic_speed.md
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from make_big_scene import SPECTRA as BASE_SPECTRA  # same folder: on sys.path when run as a script

WORK = Path(__file__).resolve().parent / "_work" / "uic_speed"
#: Per-class spectra (surface reflectance x 10000): make_big_scene's six (blue, green, red, nir,
#: swir1, swir2), then grassland and shrub.
SPECTRA = np.vstack([BASE_SPECTRA, np.asarray([
    [400, 600, 500, 3200, 1700, 800],     # grassland
    [700, 900, 1100, 2000, 2600, 2100],   # shrub
], dtype=np.float32)])


def make_scene(path: Path, size: int = 1000, seed: int = 0) -> np.ndarray:
    """Write the benchmark scene and return its true class map (1..8)."""
    import rasterio
    from rasterio.transform import from_origin
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    k = len(SPECTRA)
    # irregular fields: Voronoi cells of random sites, boundaries roughened by smooth noise
    sites = rng.uniform(0, size, (400, 2))
    rr, cc = np.mgrid[0:size, 0:size].astype(np.float32)
    warp = gaussian_filter(rng.normal(0, 1, (2, size, size)), sigma=(0, 12, 12)) * 120
    rr, cc = rr + warp[0], cc + warp[1]
    best = np.full((size, size), np.inf, np.float32)
    cell = np.zeros((size, size), np.int32)
    for i, (r, c) in enumerate(sites):
        d = (rr - r) ** 2 + (cc - c) ** 2
        closer = d < best
        best[closer], cell[closer] = d[closer], i
    truth = (rng.integers(0, k, len(sites))[cell] + 1).astype(np.uint8)
    field_gain = 1 + 0.06 * rng.normal(size=len(sites)).astype(np.float32)[cell]
    data = SPECTRA[truth - 1].transpose(2, 0, 1) * field_gain[None]
    data += rng.normal(0, 60, data.shape).astype(np.float32)
    data = np.clip(np.round(data), 1, 65535).astype(np.uint16)
    profile = dict(driver="GTiff", width=size, height=size, count=6, dtype="uint16", nodata=0,
                   crs="EPSG:32633", transform=from_origin(500000, 4600000, 30, 30), tiled=True,
                   blockxsize=256, blockysize=256, compress="deflate")
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, name in enumerate(["blue", "green", "red", "nir", "swir1", "swir2"], 1):
            dst.set_band_description(i, name)
    np.save(path.with_suffix(".truth.npy"), truth)
    return truth


def load() -> str:
    """One line: the load average and the busiest other processes."""
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    top = subprocess.run(["top", "-bn1"], capture_output=True, text=True).stdout.splitlines()
    busy = []
    for line in top[7:]:
        parts = line.split()
        if len(parts) >= 12 and float(parts[8].replace(",", ".")) >= 20:
            busy.append(f"{parts[11]}({parts[8]}%)")
    return f"{up}; busy processes: {', '.join(busy) or 'none'}"


def run(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode:
        sys.exit(f"command failed: {' '.join(cmd)}\n{res.stdout}\n{res.stderr}")
    return wall, res.stdout.strip()


def in_process_predict(model: Path, scene: Path, out: Path, repeats: int = 2) -> float:
    """Best wall seconds of apply_engine alone (model loaded, torch imported)."""
    from geouic.model import load_model
    from geouic.pipeline import apply_engine
    from geouic.raster import open_raster

    engine = load_model(model)
    best = np.inf
    with open_raster(scene) as src:
        for _ in range(repeats):
            t0 = time.perf_counter()
            apply_engine(src, engine, out, overwrite=True)
            best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--classes", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--markdown", type=Path, default=None, help="Append a results table here.")
    args = ap.parse_args()
    scene = WORK / f"scene_{args.size}.tif"
    if not scene.exists():
        make_scene(scene, args.size)
    truth = np.load(scene.with_suffix(".truth.npy"))
    geouic = ["geouic"]
    lines = []
    mpx = args.size * args.size / 1e6
    for rep in range(args.repeats):
        before = load()
        cmd = [*geouic, "classify", str(scene), "-k", str(args.classes), "-o", str(WORK / "classes.tif"),
               "--save-model", str(WORK / "m.geouic"), "--overwrite"]
        wall, out = run(cmd)
        fit = float(re.search(r"fit ([0-9.]+) s", out).group(1))
        pred = float(re.search(r"predict ([0-9.]+) s", out).group(1))
        import rasterio
        from sklearn.metrics import v_measure_score

        with rasterio.open(WORK / "classes.tif") as ds:
            v = v_measure_score(truth[::2, ::2].ravel(), ds.read(1)[::2, ::2].ravel())
        pcmd = [*geouic, "predict", str(WORK / "m.geouic"), str(scene), "-o", str(WORK / "predicted.tif"),
                "--overwrite"]
        pwall, _ = run(pcmd)
        inproc = in_process_predict(WORK / "m.geouic", scene, WORK / "inproc.tif")
        after = load()
        lines.append(
            f"| {rep + 1} | {args.size}x{args.size}x6 | {wall:.1f} | {fit:.1f} | {pred:.2f} ({mpx / pred:.2f} Mpx/s) "
            f"| {pwall:.1f} ({mpx / pwall:.2f} Mpx/s) | {inproc:.2f} ({mpx / inproc:.2f} Mpx/s) | {v:.3f} "
            f"| {before} | {after} |"
        )
        print(lines[-1], flush=True)
    header = ("| run | scene | classify wall s | fit s | predict in classify s | `geouic predict` wall s "
              "| apply_engine only s | V-measure vs truth | load before | load after |\n"
              "|---|---|---|---|---|---|---|---|---|---|")
    text = "\n".join([f"Commands: `{' '.join(cmd)}` then `{' '.join(pcmd)}`; cores: {os.cpu_count()}.",
                      "", header, *lines, ""])
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        with open(args.markdown, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
