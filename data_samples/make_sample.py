"""Generate the synthetic Landsat-8-like sample scene of geouic, deterministically.

Writes, into ``--out`` (default: the folder of this script):

- ``scene.tif``: ``size x size`` pixels, 6 uint16 bands (blue, green, red, nir, swir1, swir2),
  surface reflectance scaled by 10000, 30 m pixels in EPSG:32633, nodata 0 in a slanted collar;
- ``truth.tif``: the ground-truth land cover (uint8, 1-5, 0 in the collar) with a colour table;
- ``training.gpkg``: small reference polygons well inside each class;
- ``validation.gpkg``: stratified random points drawn from the truth, away from the polygons.

Every field is a function of the pixel's scene coordinates (smooth noise is interpolated from a
fixed coarse lattice), so the scene is rendered block by block with a small halo for the sensor's
point-spread function, and the memory stays bounded at any ``--size``. The seed is fixed: running
``python data_samples/make_sample.py`` twice gives identical pixel values and attributes.
"""

from __future__ import annotations

import argparse
import logging
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window
from scipy import ndimage

__all__ = ["CLASSES", "ENDMEMBERS", "SceneModel", "make_sample", "main"]

logger = logging.getLogger("make_sample")

SEED = 20240607
BANDS = ("blue", "green", "red", "nir", "swir1", "swir2")
WAVELENGTHS_UM = (0.482, 0.561, 0.655, 0.865, 1.609, 2.201)
CRS = "EPSG:32633"
PIXEL = 30.0
ORIGIN = (499_785.0, 5_302_815.0)  # UTM 33N upper-left corner on the Landsat 15 m phase
HALO = 3  # pixels of context for the point-spread function

#: code -> (name, RGBA colour)
CLASSES: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    1: ("water", (31, 120, 180, 255)),
    2: ("forest", (27, 120, 55, 255)),
    3: ("cropland", (255, 215, 0, 255)),
    4: ("bare_soil", (166, 97, 26, 255)),
    5: ("built_up", (227, 26, 28, 255)),
}
WATER, FOREST, CROP, BARE, BUILT = 1, 2, 3, 4, 5

#: Pure-material spectra, surface reflectance x 10000, in the order of BANDS.
ENDMEMBERS: dict[str, np.ndarray] = {
    k: np.asarray(v, dtype=np.float32)
    for k, v in {
        "water_clear": [520, 560, 360, 180, 90, 60],
        "water_turbid": [700, 950, 850, 420, 190, 120],
        "forest": [230, 400, 250, 2700, 1300, 540],
        "crop_green": [330, 680, 400, 4000, 2000, 950],
        "crop_ripe": [470, 800, 760, 3000, 2400, 1400],
        "soil": [1000, 1400, 1800, 2300, 3300, 2750],
        "grass": [400, 750, 550, 3200, 2100, 1100],
        "roof": [1200, 1300, 1400, 1550, 1700, 1600],
        "asphalt": [750, 850, 900, 1050, 1250, 1150],
    }.items()
}
NOISE_SIGMA = np.asarray([40, 35, 35, 50, 45, 40], dtype=np.float32)  # sensor noise per band


def _bspline_weights(f: np.ndarray) -> np.ndarray:
    """Cubic B-spline weights of the 4 lattice taps around fractional positions ``f``."""
    return np.stack([
        (1 - f) ** 3 / 6,
        (3 * f**3 - 6 * f**2 + 4) / 6,
        (-3 * f**3 + 3 * f**2 + 3 * f + 1) / 6,
        f**3 / 6,
    ], axis=-1)


class Noise:
    """Smooth Gaussian noise of feature size ``scale`` pixels over an ``n x n`` scene.

    A coarse lattice of white noise is drawn once; a window is the separable cubic B-spline
    interpolation of the lattice cells it covers, so any window can be evaluated alone and agrees
    exactly with its neighbours. The result has unit variance on average.
    """

    _VAR = float(np.mean(np.sum(_bspline_weights(np.linspace(0, 1, 1001)) ** 2, axis=1)))

    def __init__(self, n: int, scale: float, rng: np.random.Generator) -> None:
        self.scale = float(scale)
        self.pad = 4 + int(np.ceil(HALO / self.scale))
        m = int(np.ceil(n / self.scale)) + 2 * self.pad + 2
        self.lattice = rng.standard_normal((m, m)).astype(np.float32) / self._VAR

    def _taps(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lattice indices ``(len(pos), 4)`` and their B-spline weights."""
        t = (np.asarray(pos, dtype=np.float64) + 0.5) / self.scale
        i0 = np.floor(t).astype(np.intp)
        weights = _bspline_weights(t - i0).astype(np.float32)
        return i0[:, None] - 1 + np.arange(4) + self.pad, weights

    def window(self, r0: int, c0: int, h: int, w: int) -> np.ndarray:
        """The field on rows ``r0:r0+h`` and columns ``c0:c0+w`` (may extend past the scene)."""
        return self.sample(np.arange(r0, r0 + h), np.arange(c0, c0 + w))

    def sample(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The field on the grid ``rows x cols`` (1-D arrays of pixel indices).

        Four gathers along each axis, in a fixed order: no BLAS, so the values do not depend on
        the machine's thread count or its BLAS kernels.
        """
        ri, rw = self._taps(rows)
        ci, cw = self._taps(cols)
        lo, hi = ri.min(), ri.max() + 1
        sub = self.lattice[lo:hi]
        tmp = sum(sub[:, ci[:, k]] * cw[:, k] for k in range(4))  # (hi - lo, len(cols))
        return sum(tmp[ri[:, k] - lo] * rw[:, k, None] for k in range(4))


@dataclass
class Parcels:
    """Rotated strips of crop parcels, each strip cut into fields of random width."""

    angle: float
    strip_edges: np.ndarray  # (n_strips + 1,) in rotated v
    cut_keys: np.ndarray  # sorted u-cuts, offset by strip * span so one searchsorted finds both
    span: float
    stage: np.ndarray  # per parcel: 0 green crop, 1 ripe crop, 2 ploughed (bare soil)
    vigour: np.ndarray
    bright: np.ndarray

    @classmethod
    def draw(cls, n: int, rng: np.random.Generator, phys) -> Parcels:
        half = 0.8 * n
        heights = rng.uniform(phys(14), phys(36), size=int(2 * half / phys(14)) + 2)
        edges = np.concatenate([[-half], -half + np.cumsum(heights)])
        span = 4 * half
        keys = []
        for s in range(len(edges) - 1):
            widths = rng.uniform(phys(12), phys(48), size=int(2 * half / phys(12)) + 2)
            keys.append(np.concatenate([[-half], -half + np.cumsum(widths)]) + s * span)
        keys = np.concatenate(keys)
        m = len(keys) + 1
        stage = rng.choice(3, size=m, p=[0.48, 0.3, 0.22])
        return cls(np.deg2rad(8.0), edges, keys, span, stage,
                   rng.uniform(0.62, 1.0, m).astype(np.float32),
                   rng.normal(1.0, 0.07, m).astype(np.float32))

    def lookup(self, yy: np.ndarray, xx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Parcel id and distance (pixels) to the parcel's nearest edge, per pixel."""
        ca, sa = np.cos(self.angle), np.sin(self.angle)
        x, y = xx - n / 2, yy - n / 2
        u, v = x * ca + y * sa, -x * sa + y * ca
        strip = np.clip(np.searchsorted(self.strip_edges, v) - 1, 0, len(self.strip_edges) - 2)
        key = u + strip * self.span
        pid = np.searchsorted(self.cut_keys, key)
        left = self.cut_keys[np.clip(pid - 1, 0, None)] - strip * self.span
        right = self.cut_keys[np.clip(pid, None, len(self.cut_keys) - 1)] - strip * self.span
        dist = np.minimum.reduce([u - left, right - u, v - self.strip_edges[strip],
                                  self.strip_edges[strip + 1] - v])
        return pid, dist


class SceneModel:
    """All random draws of the scene; :meth:`render` evaluates any window of it."""

    def __init__(self, size: int, seed: int = SEED) -> None:
        self.n = s = size
        self.seed = seed

        def phys(px: float) -> float:  # a physical length, shrunk for very small scenes
            return min(px, s / 6)

        self.phys = phys
        noise = {
            "zone": s / 2.5, "forest": phys(70), "forest2": phys(28), "forest3": phys(10),
            "bare": phys(32), "town": phys(30), "lake": max(s * 0.05, 3), "mid": 7, "fine": 2.2,
            "moist": phys(55), "haze": s / 2, "edge": 6, "bar": 5,
        }
        # one stream per field, so that retuning one field leaves the others as they were
        self.noise = {k: Noise(s, v, np.random.default_rng([seed, zlib.crc32(k.encode())]))
                      for k, v in noise.items()}
        # thresholds from a coarse preview, so the class shares do not hang on one draw
        grid = np.linspace(0, s - 1, 160)
        preview = {k: self.noise[k].sample(grid, grid) for k in ("forest", "forest2", "forest3",
                                                                 "zone", "bare")}
        self.t_forest = np.quantile(self._forest_score(preview), 1 - 0.26)
        self.t_bare = np.quantile(preview["bare"], 1 - 0.05)
        self.parcels = Parcels.draw(s, np.random.default_rng([seed, 1]), phys)
        # river centre line x(y) = x0 + a1 sin(2 pi y / p1 + ph1) + a2 sin(2 pi y / p2 + ph2)
        self.river = dict(x0=0.36 * s, a1=0.10 * s, p1=0.95 * s, ph1=0.6,
                          a2=min(26, 0.05 * s), p2=min(170, 0.45 * s), ph2=2.3,
                          width=max(3.0, min(11.0, 0.035 * s)))
        self.lake = (0.22 * s, 0.74 * s, 0.085 * s)  # row, col, radius
        self.town = (0.64 * s, 0.63 * s, 0.155 * s)
        self.road_spacing, self.road_angle = phys(13), np.deg2rad(-5.0)
        self.highways = [(0.64 * s, 0.63 * s, np.deg2rad(a)) for a in (28.0, 113.0, 200.0)]
        # the footprint of the scene: a rotated rectangle, shifted so the collar is irregular
        self.footprint = (0.47 * s, 0.55 * s, np.deg2rad(12.0), 0.5 * s, 0.545 * s)

    @staticmethod
    def _forest_score(f: dict[str, np.ndarray]) -> np.ndarray:
        return 0.8 * f["forest"] + 0.4 * f["forest2"] + 0.15 * f["forest3"] + 0.6 * f["zone"]

    # -- geometry -----------------------------------------------------------------------------
    def _river_distance(self, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        r = self.river
        k1, k2 = 2 * np.pi / r["p1"], 2 * np.pi / r["p2"]
        xc = r["x0"] + r["a1"] * np.sin(k1 * yy + r["ph1"]) + r["a2"] * np.sin(k2 * yy + r["ph2"])
        dx = r["a1"] * k1 * np.cos(k1 * yy + r["ph1"]) + r["a2"] * k2 * np.cos(k2 * yy + r["ph2"])
        return np.abs(xx - xc) / np.sqrt(1 + dx**2)

    def _valid(self, yy, xx, f) -> np.ndarray:
        """Inside the footprint of the acquisition (outside is the nodata collar)."""
        cy, cx, ang, hu, hv = self.footprint
        ca, sa = np.cos(ang), np.sin(ang)
        u = (xx - cx) * ca + (yy - cy) * sa
        v = -(xx - cx) * sa + (yy - cy) * ca
        # a jagged edge: smooth wobble plus a staircase of detector offsets every 16 rows
        jag = 1.2 * f["edge"] + 1.5 * ((np.floor(v / 16) % 3) - 1)
        return (np.abs(u) < hu + jag) & (np.abs(v) < hv + jag)

    def _classes(self, yy, xx, f, pid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Class map, road mask and lake mask from the fields of a window."""
        cls = np.full(yy.shape, CROP, dtype=np.uint8)
        cls[self.parcels.stage[pid] == 2] = BARE
        bank = self._river_distance(yy, xx) < self.river["width"] / 2 + 4
        bare = (f["bare"] > self.t_bare) | (bank & (f["bar"] > 0.9))  # quarries, gravel bars
        cls[bare] = BARE
        forest = self._forest_score(f) > self.t_forest
        cls[forest] = FOREST
        ty, tx, tr = self.town
        dt = np.hypot((yy - ty) / 1.15, xx - tx) / tr + 0.22 * f["town"] + 0.04 * f["mid"]
        town = dt < 1.0
        ca, sa = np.cos(self.road_angle), np.sin(self.road_angle)
        sp = self.road_spacing
        u, v = xx * ca + yy * sa, -xx * sa + yy * ca
        road = town & (((u % sp) < 1.1) | ((v % (1.4 * sp)) < 1.1))
        for hy, hx, a in self.highways:
            d = np.abs((xx - hx) * np.sin(a) - (yy - hy) * np.cos(a))
            along = (xx - hx) * np.cos(a) + (yy - hy) * np.sin(a)
            road |= (d < 0.9) & (along > 0)
        cls[town | road] = BUILT
        ly, lx, lr = self.lake
        lake = np.hypot((yy - ly) * 1.3, xx - lx) / lr + 0.25 * f["lake"] < 1.0
        river = self._river_distance(yy, xx) < self.river["width"] / 2 * (1 + 0.15 * f["moist"])
        water = lake | river
        cls[water] = WATER
        return cls, road & ~water, lake

    # -- rendering ----------------------------------------------------------------------------
    def render(self, r0: int, c0: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """Bands ``(6, h, w)`` uint16 and truth ``(h, w)`` uint8 of one window."""
        R0, C0, H, W = r0 - HALO, c0 - HALO, h + 2 * HALO, w + 2 * HALO
        f = {k: nz.window(R0, C0, H, W) for k, nz in self.noise.items()}
        yy, xx = np.mgrid[R0:R0 + H, C0:C0 + W].astype(np.float32) + 0.5
        pid, pdist = self.parcels.lookup(yy, xx, self.n)
        cls, road, lake = self._classes(yy, xx, f, pid)
        spec = self._spectra(yy, xx, cls, road, lake, f, pid, pdist)
        spec = ndimage.gaussian_filter(spec, sigma=(0, 0.55, 0.55), mode="nearest")
        core = (slice(HALO, HALO + h), slice(HALO, HALO + w))
        spec = spec[(slice(None),) + core]
        ss = np.random.SeedSequence([self.seed, self.n, r0, c0])  # fixed per block
        spec += np.random.default_rng(ss).standard_normal(spec.shape, dtype=np.float32) \
            * NOISE_SIGMA[:, None, None]
        valid = self._valid(yy[core], xx[core], {"edge": f["edge"][core]})
        out = np.clip(np.rint(spec), 1, 10000).astype(np.uint16)
        out[:, ~valid] = 0
        truth = np.where(valid, cls[core], 0).astype(np.uint8)
        return out, truth

    def _spectra(self, yy, xx, cls, road, lake, f, pid, pdist) -> np.ndarray:
        """Mix the endmembers per pixel: returns float32 ``(6, H, W)``."""
        E = ENDMEMBERS
        p = self.parcels
        shape = cls.shape
        spec = np.zeros((6,) + shape, dtype=np.float32)

        def put(mask, value):
            spec[:, mask] = value if value.ndim == 2 else value[:, None]

        moist = np.clip(0.5 + 0.35 * f["moist"], 0, 1)  # soil moisture darkens, most in SWIR
        soil_k = (1 - 0.22 * moist)[None] * np.asarray([1, 1, 1, 1, 0.9, 0.85],
                                                       dtype=np.float32)[:, None, None] ** moist
        soil = E["soil"][:, None, None] * soil_k * (1 + 0.05 * f["mid"])

        m = cls == WATER
        turb = np.clip(np.where(lake, 0.15, 0.7) + 0.15 * f["mid"], 0, 1)[m]
        put(m, (1 - turb) * E["water_clear"][:, None] + turb * E["water_turbid"][:, None])

        m = cls == FOREST
        gap = np.clip(0.08 + 0.07 * f["fine"] + 0.07 * f["mid"], 0, 0.4)[m]
        canopy = E["forest"][:, None] * (1 + 0.09 * f["fine"][m] + 0.05 * f["forest2"][m])
        put(m, (1 - gap) * canopy + gap * soil[:, m])

        m = cls == CROP
        green = p.stage[pid][m] == 0
        crop = np.where(green, E["crop_green"][:, None], E["crop_ripe"][:, None])
        veg = np.clip(p.vigour[pid][m] + 0.08 * f["mid"][m], 0.4, 1.0)
        edge = np.clip(1.2 - pdist[m], 0, 1) * 0.6  # grassy margins and tracks
        mix = (1 - edge) * (veg * crop + (1 - veg) * soil[:, m]) + edge * E["grass"][:, None]
        put(m, mix * p.bright[pid][m])

        m = cls == BARE
        put(m, soil[:, m] * np.where(p.stage[pid][m] == 2, p.bright[pid][m], 1.08))

        m = (cls == BUILT) & ~road
        ty, tx, tr = self.town  # denser centre, greener suburbs
        rel = np.hypot((yy - ty) / 1.15, xx - tx)[m] / tr
        park = 0.5 * np.clip(f["forest2"][m] - 0.9, 0, 1)
        vegf = np.clip(0.05 + 0.4 * rel + 0.1 * f["mid"][m] + park, 0, 0.7)
        # bright flat roofs of an industrial quarter where the town field is high
        roof = E["roof"][:, None] * (1 + 0.12 * f["fine"][m] + 0.12 * np.clip(f["town"][m], 0, 2))
        put(m, (1 - vegf) * roof + vegf * E["grass"][:, None])
        m = road & (cls == BUILT)  # a street is narrower than a pixel: asphalt mixed with roofs
        put(m, 0.7 * E["asphalt"][:, None] + 0.3 * E["roof"][:, None] * (1 + 0.1 * f["fine"][m]))

        haze = np.clip(1 + 0.5 * f["haze"], 0, 2) * np.asarray([90, 50, 25, 10, 0, 0],
                                                              dtype=np.float32)[:, None, None]
        return spec + haze


# -- writing ------------------------------------------------------------------------------------
def _profiles(size: int) -> tuple[dict, dict]:
    block = 256 if size >= 512 else 128 if size >= 256 else 64
    base = dict(driver="GTiff", width=size, height=size, crs=CRS, nodata=0, tiled=True,
                transform=from_origin(*ORIGIN, PIXEL, PIXEL), blockxsize=block,
                blockysize=block, compress="deflate", num_threads="all_cpus")
    scene = dict(base, count=len(BANDS), dtype="uint16", predictor=2, interleave="pixel")
    truth = dict(base, count=1, dtype="uint8")
    return scene, truth


def write_rasters(model: SceneModel, out: Path) -> None:
    """Render the model block by block into ``scene.tif`` and ``truth.tif``."""
    p_scene, p_truth = _profiles(model.n)
    block = p_scene["blockxsize"]
    with rasterio.open(out / "scene.tif", "w", **p_scene) as dst, \
            rasterio.open(out / "truth.tif", "w", **p_truth) as tdst:
        tdst.write_colormap(1, {0: (0, 0, 0, 0), **{k: v[1] for k, v in CLASSES.items()}})
        for r0 in range(0, model.n, block):
            for c0 in range(0, model.n, block):
                h, w = min(block, model.n - r0), min(block, model.n - c0)
                bands, truth = model.render(r0, c0, h, w)
                win = Window(c0, r0, w, h)
                dst.write(bands, window=win)
                tdst.write(truth, 1, window=win)
        dst.descriptions = BANDS
        dst.update_tags(
            generator="python data_samples/make_sample.py", seed=str(SEED), size=str(model.n),
            sensor="synthetic, Landsat-8 OLI-like surface reflectance", scale_factor="0.0001",
        )
        for i, (name, wl) in enumerate(zip(BANDS, WAVELENGTHS_UM), start=1):
            dst.update_tags(i, name=name, center_wavelength_um=str(wl))
        tdst.descriptions = ("land_cover",)
        tdst.update_tags(generator="python data_samples/make_sample.py", seed=str(SEED),
                         **{f"class_{k}": v[0] for k, v in CLASSES.items()})


# -- reference data -----------------------------------------------------------------------------
def _pixel_boxes(truth: np.ndarray, rng: np.random.Generator, per_class: int) -> list[tuple]:
    """Pick ``per_class`` boxes per class, each inside the class with a 1-pixel margin.

    Returns ``(code, row0, col0, height, width)`` tuples; boxes of one class are spread apart.
    """
    boxes = []
    for code in CLASSES:
        mask = truth == code
        for side in (7, 5, 3, 2):
            # top-left corners whose (side + 2) x (side + 2) box is all ``code``
            k = side + 2
            inner = ndimage.minimum_filter(mask.astype(np.uint8), size=k, origin=-(k // 2),
                                           mode="constant", cval=0)
            cand = np.flatnonzero(inner)
            if len(cand) >= per_class:
                break
        rng.shuffle(cand)
        chosen: list[tuple[int, int]] = []
        min_gap = max(truth.shape[0] / 12, 2 * k)
        for gap in (min_gap, min_gap / 2, k):  # never closer than k: boxes do not overlap
            for c in cand[: 20000]:
                r, q = divmod(int(c), truth.shape[1])
                if all(max(abs(r - a), abs(q - b)) >= gap for a, b in chosen):
                    chosen.append((r, q))
                if len(chosen) == per_class:
                    break
            if len(chosen) == per_class:
                break
        # rectangles of varied shape, each within its vetted square
        hw = rng.integers(max(side - 3, 1), side + 1, size=(len(chosen), 2))
        boxes += [(code, r + 1, q + 1, int(h), int(w)) for (r, q), (h, w) in zip(chosen, hw)]
    return boxes


def write_reference(out: Path, rng: np.random.Generator, *, per_class_boxes: int = 6,
                    n_points: int = 300) -> None:
    """Write ``training.gpkg`` (polygons) and ``validation.gpkg`` (points) from ``truth.tif``."""
    import geopandas as gpd
    from shapely.geometry import Point, box

    with rasterio.open(out / "truth.tif") as src:
        truth, transform = src.read(1), src.transform
    boxes = _pixel_boxes(truth, rng, per_class_boxes)
    geoms, codes = [], []
    taken = np.zeros(truth.shape, dtype=bool)
    for code, r, c, h, w in boxes:
        x0, y0 = transform * (c, r)
        x1, y1 = transform * (c + w, r + h)
        geoms.append(box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        codes.append(code)
        b = 5  # keep validation points clear of the training areas
        taken[max(r - b, 0):r + h + b, max(c - b, 0):c + w + b] = True
    gpd.GeoDataFrame(
        {"class": [CLASSES[k][0] for k in codes], "class_code": np.asarray(codes, np.int32)},
        geometry=geoms, crs=CRS,
    ).to_file(out / "training.gpkg", driver="GPKG", layer="training")

    per = n_points // len(CLASSES)  # equal allocation: every class gets the same number
    rows, cols, refs = [], [], []
    for code in CLASSES:
        idx = np.flatnonzero((truth == code) & ~taken)
        pick = np.sort(rng.choice(idx, size=min(per, len(idx)), replace=False))
        r, c = np.divmod(pick, truth.shape[1])
        rows.append(r), cols.append(c), refs.append(np.full(len(pick), code, np.int32))
    rows, cols, refs = map(np.concatenate, (rows, cols, refs))
    xs, ys = transform * (cols + 0.5, rows + 0.5)
    gpd.GeoDataFrame(
        {"ref": refs, "class": [CLASSES[k][0] for k in refs]},
        geometry=[Point(x, y) for x, y in zip(xs, ys)], crs=CRS,
    ).to_file(out / "validation.gpkg", driver="GPKG", layer="validation")


def make_sample(out: Path, size: int = 512, *, seed: int = SEED) -> None:
    """Generate the scene, its truth and its reference data into the folder ``out``."""
    if size < 64:
        raise ValueError(f"size={size} is too small for all five classes; use 64 or more.")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = SceneModel(size, seed)
    write_rasters(model, out)
    logger.info("rasters %dx%d written in %.1f s", size, size, time.perf_counter() - t0)
    write_reference(out, np.random.default_rng([seed, size, 1]))
    logger.info("reference data written; total %.1f s", time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="output folder (default: the folder of this script)")
    parser.add_argument("--size", type=int, default=512, help="rows = columns (default 512)")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(message)s")
    logger.setLevel(logging.INFO)
    make_sample(args.out, args.size)


if __name__ == "__main__":
    main()
