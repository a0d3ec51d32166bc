"""After the map: sieve to a minimum mapping unit, majority filter, polygons that keep the legend.

Every function reads a class map strip by strip and writes a new file atomically with the
input's colours, names, QGIS style and provenance (extended with the step and its parameters).
"""

from __future__ import annotations

from geouic.postprocess.majority import MajorityResult, majority_filter
from geouic.postprocess.patches import PatchTable, Patches, label_patches
from geouic.postprocess.polygonize import PolygonizeResult, polygonize
from geouic.postprocess.sieve import SieveResult, dissolve_small, parse_mmu, sieve

__all__ = [
    "sieve",
    "SieveResult",
    "parse_mmu",
    "dissolve_small",
    "majority_filter",
    "MajorityResult",
    "polygonize",
    "PolygonizeResult",
    "PatchTable",
    "Patches",
    "label_patches",
]
