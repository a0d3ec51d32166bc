"""Compile geouic's numba kernels once, at setup, so the first real sieve does not pay for it.

numba compiles the sieve's kernels (``geouic.postprocess._numba``, ``cache=True``) on their first
call in a fresh environment, about 10 CPU s, and caches the machine code per argument type.
This sieves two tiny class maps, one of 8-bit and one of 16-bit codes, at both connectivities,
so every kernel is compiled for the types real maps give. Run by ``scripts/setup.sh``; harmless
to run again (it then only loads the cache). Without numba it does nothing.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rasterio.transform import from_origin
from rasterio.windows import Window


def main() -> int:
    """Sieve the tiny maps; 0 when done (or when numba is absent)."""
    from geouic.output import Legend, ThematicProfile, ThematicWriter
    from geouic.postprocess import sieve
    from geouic.postprocess._kernels import kernels

    if kernels() is None:
        print("numba not available: the sieve uses its numpy forms (nothing to compile)")
        return 0
    t0 = time.process_time()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="geouic-warm-") as tmp:
        for top in (5, 300):  # uint8 and uint16 codes
            classes = rng.integers(1, 6, (40, 40)).astype(np.uint8 if top < 256 else np.uint16)
            classes[:3, :3] = 0  # some nodata
            path = Path(tmp) / f"map{top}.tif"
            with ThematicWriter(path, crs="EPSG:32633", transform=from_origin(500000, 4600000, 30, 30), width=40,
                                height=40, legend=Legend.default(top), n_classes=top,
                                profile=ThematicProfile(blocksize=16)) as w:
                w.write(Window(0, 0, 40, 40), classes)
                w.close(tags={})
            for connectivity in (4, 8):
                sieve(path, Path(tmp) / f"out{top}_{connectivity}.tif", mmu="4px", connectivity=connectivity,
                      overviews=False, mem_limit_mb=1)
    print(f"geouic's compiled kernels are ready ({time.process_time() - t0:.1f} CPU s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
