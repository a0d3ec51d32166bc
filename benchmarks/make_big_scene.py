"""Write a large 6-band uint16 benchmark scene window by window, never holding it in memory.

The big scene is a mirror tiling of a smaller tile scene (by default the 4000 x 4000 scene of
``data_samples/make_sample.py``): tile copies are flipped alternately along rows and columns,
so the mosaic has no seams (row ``r`` of the output is row ``r mod 2n`` of the tile, read
backwards in the second half of each period). Output: tiled (256 x 256), DEFLATE (predictor 2),
pixel-interleaved GeoTIFF with the tile's CRS, pixel size, nodata and band descriptions; BigTIFF
when needed. Memory: one strip of 256 output rows (``256 x size x bands x 2`` bytes, 49 MB at
16000 x 6) plus the tile rows it comes from.

When no tile scene is given and ``data_samples/make_sample.py`` is absent, a simple built-in
generator renders the tile block by block (smooth class fields, per-class spectra, noise).

Usage::

    python benchmarks/make_big_scene.py --tile benchmarks/_work/scene_4000/scene.tif \\
        --size 16000 --out benchmarks/_work/scene_16000.tif
    python benchmarks/make_big_scene.py --size 4000 --out /tmp/scene_4000.tif   # built-in generator
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

logger = logging.getLogger("make_big_scene")

BLOCK = 256
BANDS = ("blue", "green", "red", "nir", "swir1", "swir2")
#: Built-in generator: per-class spectra (surface reflectance x 10000), in the order of BANDS.
SPECTRA = np.asarray([
    [520, 560, 360, 180, 90, 60],         # water
    [230, 400, 250, 2700, 1300, 540],     # forest
    [330, 680, 400, 4000, 2000, 950],     # green crop
    [500, 820, 850, 2800, 2450, 1450],    # ripe crop
    [1000, 1400, 1800, 2300, 3300, 2750], # bare soil
    [1200, 1300, 1400, 1550, 1700, 1600], # built-up
], dtype=np.float32)


def profile_for(size: int, count: int, crs, transform, nodata) -> dict:
    """Creation options of the benchmark scenes."""
    return dict(driver="GTiff", width=size, height=size, count=count, dtype="uint16", crs=crs,
                transform=transform, nodata=nodata, tiled=True, blockxsize=BLOCK, blockysize=BLOCK,
                compress="deflate", predictor=2, interleave="pixel", BIGTIFF="IF_SAFER",
                num_threads="all_cpus")


def mirror_index(start: int, stop: int, n: int) -> np.ndarray:
    """Tile indexes of output positions ``start..stop-1`` for a mirror tiling of period ``2n``."""
    m = np.arange(start, stop) % (2 * n)
    return np.where(m < n, m, 2 * n - 1 - m)


def tile_scene(tile: Path, out: Path, size: int) -> None:
    """Write ``out`` (``size x size``) as a mirror tiling of the scene ``tile``, strip by strip."""
    with rasterio.open(tile) as src:
        if src.width != src.height:
            raise SystemExit(f"{tile}: the tile must be square, not {src.width}x{src.height}.")
        n = src.width
        profile = profile_for(size, src.count, src.crs, src.transform, src.nodata)
        profile["dtype"] = src.dtypes[0]
        cols = mirror_index(0, size, n)
        with rasterio.open(out, "w", **profile) as dst:
            for r0 in range(0, size, BLOCK):
                h = min(BLOCK, size - r0)
                rows = mirror_index(r0, r0 + h, n)
                lo, hi = int(rows.min()), int(rows.max()) + 1
                part = src.read(window=Window(0, lo, n, hi - lo))   # (bands, hi-lo, n)
                strip = part[:, rows - lo][:, :, cols]              # (bands, h, size)
                dst.write(strip, window=Window(0, r0, size, h))
            dst.descriptions = src.descriptions
            dst.update_tags(generator="benchmarks/make_big_scene.py", tile=str(tile),
                            tiling="mirror", tile_size=str(n))


def _smooth_field(rows: np.ndarray, cols: np.ndarray, seed: int, scale: float) -> np.ndarray:
    """A smooth pseudo-random field: a sum of a few plane waves (a function of coordinates)."""
    rng = np.random.default_rng(seed)
    y, x = rows[:, None].astype(np.float32), cols[None, :].astype(np.float32)
    out = np.zeros((len(rows), len(cols)), np.float32)
    for _ in range(6):
        ang, ph = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        k = rng.uniform(0.5, 2.0) * 2 * np.pi / scale
        out += np.sin(k * (np.cos(ang) * x + np.sin(ang) * y) + ph)
    return out / 6


def generate_tile(out: Path, size: int, seed: int = 20240607) -> None:
    """Built-in generator: render a ``size x size`` 6-band scene block by block."""
    prof = profile_for(size, len(BANDS), "EPSG:32633", from_origin(499_785.0, 5_302_815.0, 30, 30), 0)
    noise_sigma = np.asarray([40, 35, 35, 50, 45, 40], np.float32)[:, None, None]
    with rasterio.open(out, "w", **prof) as dst:
        for r0 in range(0, size, BLOCK):
            for c0 in range(0, size, BLOCK):
                h, w = min(BLOCK, size - r0), min(BLOCK, size - c0)
                rows, cols = np.arange(r0, r0 + h), np.arange(c0, c0 + w)
                a = _smooth_field(rows, cols, seed, 700.0)
                b = _smooth_field(rows, cols, seed + 1, 180.0)
                cls = np.clip(((a + 1) * 3 + b).astype(np.int64), 0, len(SPECTRA) - 1)
                bright = 1 + 0.1 * _smooth_field(rows, cols, seed + 2, 60.0)
                rng = np.random.default_rng([seed, r0, c0])
                data = SPECTRA[cls].transpose(2, 0, 1) * bright + rng.normal(0, 1, (6, h, w)) * noise_sigma
                dst.write(np.clip(data, 1, 65535).astype(np.uint16), window=Window(c0, r0, w, h))
        dst.descriptions = BANDS
        dst.update_tags(generator="benchmarks/make_big_scene.py (built-in)", seed=str(seed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile", type=Path, default=None,
                        help="square scene to mirror-tile (default: render one with the built-in generator)")
    parser.add_argument("--size", type=int, required=True, help="rows = columns of the output")
    parser.add_argument("--out", type=Path, required=True, help="output GeoTIFF")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(message)s", level=logging.INFO)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.tile is None:
        generate_tile(args.out, args.size)
    else:
        tile_scene(args.tile, args.out, args.size)
    mb = args.out.stat().st_size / 1e6
    logger.info("%s: %dx%d x 6 uint16, %.0f MB on disk, written in %.1f s",
                args.out, args.size, args.size, mb, time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
