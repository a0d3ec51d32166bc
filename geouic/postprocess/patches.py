"""Connected patches of a class map, found strip by strip and joined exactly across strip seams.

A *patch* is a connected set of pixels of one class (4- or 8-connectivity); nodata (0) is never
part of a patch. :class:`PatchTable` labels each full-width strip with ``cc3d``
(connected-components-3d: multi-label connected components in one pass, about 20x faster here
than :func:`scipy.ndimage.label`, which labels binary images only and so needs one pass per class;
that is the fallback when cc3d is not installed), keeps one *key* per patch part of every strip,
and records which parts continue across each strip seam. After the last strip, the parts are
joined into patches with :func:`scipy.sparse.csgraph.connected_components`.

Per-label statistics and the borders of small parts come from compiled loops
(:mod:`geouic.postprocess._kernels`, numba) when numba is installed, else from numpy (same values;
the kernel files a strip's border pairs by part rather than sorting them, so ``edge_*`` come in
another order).

Memory: one strip of pixels plus about 20 bytes per patch part (class, pixels, first pixel)
and the adjacency of small parts (``small_below``), never the whole raster. GDAL's
``GDALSieveFilter`` likewise keeps per-polygon arrays over the whole band.

Patch order is tiling-independent: a patch is identified by its first pixel in raster order
(``row * width + col``), the same whether the map is read in one strip or many.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from geouic.errors import ParameterError
from geouic.postprocess._kernels import kernels

__all__ = ["PatchTable", "Patches", "label_patches", "check_connectivity", "group_sum", "sorted_counts"]

_NO_PIXEL = np.iinfo(np.int64).max


def check_connectivity(connectivity: int) -> int:
    """Validate a connectivity (4 or 8)."""
    if isinstance(connectivity, bool) or connectivity not in (4, 8):
        raise ParameterError(f"connectivity={connectivity!r} is invalid; use 4 (edges) or 8 (edges and corners).")
    return int(connectivity)


def _cc3d() -> Any:
    try:
        import cc3d
    except ImportError:  # optional speed-up
        return None
    return cc3d


def label_patches(classes: np.ndarray, connectivity: int = 4, *, classes_of: bool = True
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Label the patches of a class array.

    Parameters
    ----------
    classes : ndarray of shape (rows, cols), unsigned int
        Class codes; 0 is nodata and never labelled.
    connectivity : {4, 8}, default=4
    classes_of : bool, default=True
        Also return the class of each label (None otherwise; saves a pass).

    Returns
    -------
    labels : ndarray of shape (rows, cols), int32
        1..n per patch, 0 on nodata.
    label_class : ndarray of shape (n + 1,), uint16
        Class of each label (index 0: 0).
    """
    check_connectivity(connectivity)
    cc3d = _cc3d()
    if cc3d is not None and classes.size:
        labels, n = cc3d.connected_components(np.ascontiguousarray(classes), connectivity=connectivity,
                                              return_N=True, out_dtype=np.uint32)
        labels = labels.view(np.int32)
        if not classes_of:
            return labels, None
        label_class = np.zeros(n + 1, np.uint16)
        label_class[labels.ravel()] = classes.ravel()
        return labels, label_class
    return _label_per_class(classes, connectivity)


def _label_per_class(classes: np.ndarray, connectivity: int) -> tuple[np.ndarray, np.ndarray]:
    """Fallback without cc3d: one scipy pass per class, inside the class's bounding box."""
    from scipy import ndimage  # imported here: scipy.ndimage costs a sieve run 0.2 s to import

    structure = ndimage.generate_binary_structure(2, 1) if connectivity == 4 else np.ones((3, 3), bool)
    labels = np.zeros(classes.shape, np.int32)
    out = [np.zeros(1, np.uint16)]
    n = 0
    boxes = ndimage.find_objects(classes)  # bounding box of every class: label only inside it
    for code, box in enumerate(boxes, 1):
        if box is None:
            continue
        mask = classes[box] == code
        tmp = np.empty(mask.shape, np.int32)
        k = ndimage.label(mask, structure, output=tmp)
        np.add(tmp, n, out=labels[box], where=mask)
        out.append(np.full(k, code, np.uint16))
        n += k
    return labels, np.concatenate(out)


def group_sum(keys: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``keys`` (sorted) and the sum of ``weights`` per key.

    Sort-based: faster here than ``np.unique(return_inverse=True)``, which hashes.
    """
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    if not len(k):
        return k, weights[:0]
    head = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    return k[head], np.add.reduceat(weights[order], head)


def sorted_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``keys`` (sorted) and how often each occurs.

    ``np.unique(..., return_counts=True)``'s result, by one in-place sort: NumPy 2's hash-based
    unique took 4x longer on these int64 pair keys (profiled on the sieve).
    """
    keys = np.sort(keys)
    if not len(keys):
        return keys, np.zeros(0, np.int64)
    head = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[head], np.diff(np.r_[head, len(keys)])


def _touching(labels: np.ndarray, connectivity: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Label pairs of touching pixels of two different patches (both > 0), per direction.

    Works on the flat array (contiguous shifted views): pixel ``i`` and ``i + step``; pairs that
    wrap around a row end are dropped.
    """
    rows, cols = labels.shape
    flat = labels.ravel()
    out = []
    steps = [(1, "right"), (cols, "down")] + ([(cols + 1, "right"), (cols - 1, "left")] if connectivity == 8 else [])
    for step, side in steps:
        if step == 0 or step >= flat.size:
            continue
        a, b = flat[:-step], flat[step:]
        i = np.flatnonzero(a != b)
        u, v = a[i], b[i]
        keep = (u > 0) & (v > 0)
        if side == "right":
            keep &= (i % cols) != cols - 1
        elif side == "left":
            keep &= (i % cols) != 0
        out.append((u[keep], v[keep]))
    return out


def _seam_shifts(upper: np.ndarray, lower: np.ndarray, connectivity: int) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = [(upper, lower)]
    if connectivity == 8:
        pairs += [(upper[:-1], lower[1:]), (upper[1:], lower[:-1])]
    return pairs


@dataclass
class Patches:
    """The patches of a whole map, after all strips.

    Attributes
    ----------
    key_patch : ndarray of int64, shape (n_keys + 1,)
        Patch index of each strip part (key 0: unused).
    cls, pixels, first : ndarray, shape (n_patches,)
        Class, pixel count and first pixel (``row * width + col``) of each patch.
    area : ndarray of float64 or None
        Area (ha) of each patch when per-row pixel areas were given (geographic maps).
    edge_u, edge_v, edge_w : ndarray, shape (n_edges,)
        Touching patches and the number of touching pixel pairs, for every pair with at least
        one patch below ``small_below`` (empty when it was 0). A pair touching in several strips
        has one entry per strip.
    """

    key_patch: np.ndarray
    cls: np.ndarray
    pixels: np.ndarray
    first: np.ndarray
    area: np.ndarray | None
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_w: np.ndarray

    @property
    def n(self) -> int:
        """Number of patches."""
        return len(self.cls)


class PatchTable:
    """Accumulate patch parts strip by strip (top to bottom) and join them into patches.

    Parameters
    ----------
    width : int
        Map width (strips are full-width).
    connectivity : {4, 8}
    small_below : float, default=0
        Record adjacency only for parts smaller than this (pixels, or hectares with
        ``row_area``): a part at or above it belongs to a patch at least as large.
    row_area : ndarray of float64, optional
        Pixel area (ha) of every map row; patch sizes are then areas.
    """

    def __init__(self, width: int, connectivity: int = 4, *, small_below: float = 0.0,
                 row_area: np.ndarray | None = None, height: int | None = None) -> None:
        self.width = int(width)
        self.connectivity = check_connectivity(connectivity)
        self.small_below = float(small_below)
        self.row_area = row_area
        # Keys fit int32 unless the map has 2**31 pixels or more (a key per pixel at worst).
        rows = height if height is not None else (len(row_area) if row_area is not None else 2**31)
        self.key_dtype = np.int32 if rows * self.width < 2**31 else np.int64
        self.offsets: list[int] = []
        self._n = 0
        self._cls: list[np.ndarray] = []
        self._pixels: list[np.ndarray] = []
        self._area: list[np.ndarray] = []
        self._first: list[np.ndarray] = []
        self._join: list[tuple[np.ndarray, np.ndarray]] = []
        self._edges: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # keys, classes, small of last row

    def add(self, row_off: int, classes: np.ndarray) -> np.ndarray:
        """Label the next strip (rows ``row_off...``); return its local labels (offset: ``offsets[-1]``)."""
        labels, lcls, pixels, size, small, first = self._label(classes, row_off)
        n = len(lcls) - 1
        off = self._n
        if self.row_area is not None:
            self._area.append(size[1:])
        self._cls.append(lcls[1:])
        self._pixels.append(pixels[1:].astype(np.int32))
        self._first.append(first[1:])
        self._add_edges(labels, small, off)
        self._add_seam(labels[0], lcls, small, off)
        last = labels[-1]
        self._last = (np.where(last > 0, last.astype(np.int64) + off, 0), lcls[last], small[last])
        self.offsets.append(off)
        self._n += n
        return labels

    def _label(self, classes: np.ndarray, row_off: int) -> tuple[np.ndarray, ...]:
        """Labels of a strip, and class, pixels, size, small flag and first small pixel per label."""
        k = kernels()
        if k is not None and classes.size:
            # The kernel finds each label's class in the same pass (numpy's scatter cost as much
            # as the labelling itself).
            labels = label_patches(classes, self.connectivity, classes_of=False)[0]
            row_area = self.row_area if self.row_area is not None else np.zeros(0)
            stats = k.strip_parts(labels.ravel(), np.ascontiguousarray(classes).ravel(), int(labels.max(initial=0)),
                                  labels.shape[1], row_off, row_area, self.small_below)
            return (labels, stats[1], stats[0], *stats[2:])
        labels, label_class = label_patches(classes, self.connectivity)
        if label_class is None:  # pragma: no cover - classes_of=True always returns them
            raise RuntimeError("label_patches returned no label classes")
        lcls: np.ndarray = label_class
        n = len(lcls) - 1
        flat = labels.ravel()
        pixels = np.bincount(flat, minlength=n + 1)
        size: np.ndarray = pixels.astype(np.float64)
        if self.row_area is not None:
            weights = np.repeat(self.row_area[row_off: row_off + labels.shape[0]], labels.shape[1])
            size = np.bincount(flat, weights=weights, minlength=n + 1)
        small = size < self.small_below
        small[0] = False
        # The first pixel orders small patches only: a part at or above the unit never is small.
        nz = np.flatnonzero(small[flat])
        first = np.full(n + 1, _NO_PIXEL, np.int64)
        np.minimum.at(first, flat[nz], nz + row_off * self.width)
        return labels, lcls, pixels, size, small, first

    def _add_edges(self, labels: np.ndarray, small: np.ndarray, off: int) -> None:
        if not small.any():
            return
        k = kernels()
        if k is not None:
            # One entry per touching pair already (summed over directions), as sorted_counts gives.
            lo, hi, w = k.strip_edges(labels, small, self.connectivity == 8)
            if len(lo):
                kd = self.key_dtype
                self._edges.append(((lo + off).astype(kd), (hi + off).astype(kd), w.astype(np.int32)))
            return
        us, vs = [], []
        for u, v in _touching(labels, self.connectivity):
            keep = small[u] | small[v]
            us.append(u[keep])
            vs.append(v[keep])
        self._store_edges(np.concatenate(us).astype(np.int64) + off, np.concatenate(vs).astype(np.int64) + off)

    def _store_edges(self, u: np.ndarray, v: np.ndarray) -> None:
        if not len(u):
            return
        lo, hi = np.minimum(u, v), np.maximum(u, v)
        base = int(lo.min())
        span = int(hi.max()) - base + 1
        keys, counts = sorted_counts((lo - base) * span + (hi - base))
        kd = self.key_dtype
        self._edges.append(((keys // span + base).astype(kd), (keys % span + base).astype(kd), counts.astype(np.int32)))

    def _add_seam(self, top: np.ndarray, lcls: np.ndarray, small: np.ndarray, off: int) -> None:
        if self._last is None:
            return
        pkeys, pcls, psmall = self._last
        ckeys, ccls, csmall = np.where(top > 0, top + off, 0), lcls[top], small[top]
        us, vs, js, jt = [], [], [], []
        for (a, b) in _seam_shifts(np.arange(len(top)), np.arange(len(top)), self.connectivity):
            ka, kb = pkeys[a], ckeys[b]
            both = (ka > 0) & (kb > 0)
            same = both & (pcls[a] == ccls[b])
            js.append(ka[same])
            jt.append(kb[same])
            touch = both & ~same & (psmall[a] | csmall[b])
            us.append(ka[touch])
            vs.append(kb[touch])
        self._join.append((np.concatenate(js), np.concatenate(jt)))
        self._store_edges(np.concatenate(us).astype(np.int64), np.concatenate(vs).astype(np.int64))

    def finish(self) -> Patches:
        """Join the parts across seams into patches."""
        n_keys = self._n + 1
        if self._join:
            a = np.concatenate([j[0] for j in self._join])
            b = np.concatenate([j[1] for j in self._join])
        else:
            a = b = np.zeros(0, np.int64)
        from scipy import sparse
        from scipy.sparse.csgraph import connected_components

        graph = sparse.coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n_keys, n_keys)).tocsr()
        n_comp, comp = connected_components(graph, directed=False)
        # Component of key 0 (no pixel) is dropped by renumbering the real keys 0..n-1.
        used = np.zeros(n_comp, bool)
        used[comp[1:]] = True
        renum = np.cumsum(used) - 1
        key_patch = renum[comp].astype(self.key_dtype)
        key_patch[0] = -1
        n = int(used.sum())
        kp = key_patch[1:]
        cls = np.zeros(n, np.uint16)
        cat = (lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dt))  # noqa: E731
        cls[kp] = cat(self._cls, np.uint16)
        pixels = np.bincount(kp, weights=cat(self._pixels, np.int64), minlength=n).astype(np.int64)
        first = np.full(n, _NO_PIXEL, np.int64)
        np.minimum.at(first, kp, cat(self._first, np.int64))
        area = np.bincount(kp, weights=cat(self._area, np.float64), minlength=n) if self.row_area is not None else None
        eu, ev, ew = self._patch_edges(key_patch)
        return Patches(key_patch, cls, pixels, first, area, eu, ev, ew)

    def _patch_edges(self, key_patch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self._edges:
            z = np.zeros(0, self.key_dtype)
            return z, z, np.zeros(0, np.int32)
        # Part pairs are mapped to patch pairs but not aggregated again: a pair of patches that
        # touch in several strips keeps one entry per strip (borders add up where they are used).
        u = key_patch[np.concatenate([e[0] for e in self._edges])]
        v = key_patch[np.concatenate([e[1] for e in self._edges])]
        w = np.concatenate([e[2] for e in self._edges])
        self._edges.clear()
        return u, v, w
