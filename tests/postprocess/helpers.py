"""Tiny class maps written as geouic writes them (palette, names, .qml, tags), and independent checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window
from scipy import ndimage

from geouic.output import Legend, ThematicWriter

NAMES = {1: "water", 2: "forest", 3: "crop", 4: "urban", 5: "bare"}


def write_map(path: Path, classes: np.ndarray, *, crs="EPSG:32633", transform=None, block: int = 16,
              tags: dict | None = None) -> Path:
    """A class map with 16x16 tiles (so strips are really cut), legend and provenance tags."""
    top = max(5, int(classes.max()))
    legend = Legend.default(top, names=NAMES)
    from geouic.output import ThematicProfile

    with ThematicWriter(path, crs=crs, transform=transform or from_origin(500000, 4600000, 30, 30),
                        width=classes.shape[1], height=classes.shape[0], legend=legend, n_classes=top,
                        profile=ThematicProfile(blocksize=block)) as w:
        w.write(Window(0, 0, classes.shape[1], classes.shape[0]), classes)
        w.close(tags=tags or {"GEOUIC_METHOD": "kmeans", "GEOUIC_INPUT": "scene.tif"})
    return path


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def patch_sizes(classes: np.ndarray, connectivity: int = 4) -> list[tuple[int, int, bool]]:
    """(class, pixels, touches another class) of every patch, from scipy alone."""
    structure = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    out = []
    for code in np.unique(classes):
        if code == 0:
            continue
        lab, n = ndimage.label(classes == code, structure)
        sizes = np.bincount(lab.ravel())
        for k in range(1, n + 1):
            ring = ndimage.binary_dilation(lab == k, structure) & (lab != k)
            touches = bool(np.any((classes[ring] != code) & (classes[ring] > 0)))
            out.append((int(code), int(sizes[k]), touches))
    return out


def noisy_map(size: int = 64, seed: int = 0, noise: float = 0.2, n_classes: int = 4, block: int = 8) -> np.ndarray:
    """Blocky fields with speckle: small patches of every size, chains of small patches."""
    rng = np.random.default_rng(seed)
    base = np.kron(rng.integers(1, n_classes + 1, (size // block + 1, size // block + 1)),
                   np.ones((block, block), int))[:size, :size]
    speck = rng.random((size, size)) < noise
    return np.where(speck, rng.integers(1, n_classes + 1, (size, size)), base).astype(np.uint8)
