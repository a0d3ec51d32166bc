"""Clusters of small patches, dissolved as soon as the strip pass has closed them.

The sieve's result for one *cluster* (small patches joined by shared borders, see
:func:`geouic.postprocess.sieve.dissolve_small`) depends only on its own patches (class, size,
first pixel), their borders and the classes of the anchors around it: anchors never change, so
clusters are independent. A patch is *closed* once a strip is done in whose last row it has no
pixel: nothing below can join it or touch it, so its size and borders are final. A cluster can
be dissolved as soon as all its small patches are closed (an open neighbour that is already an
anchor cannot become small; one that is still small belongs to the cluster and holds it open).

:class:`ClusterSieve` is a :class:`~geouic.postprocess.patches.PatchTable` that does this after
every strip. What it keeps between strips is bounded by the open patches (those touching the
strip's last row), the clusters still waiting for one of them, and the anchors next to those:
one representative per patch, not one entry per patch of the map. The new class of every patch
part goes to a per-strip look-up table; a strip's table is handed over (:meth:`ClusterSieve.take_decided`,
or written to ``lut_file``) as soon as every part of it (and of the strips before) is decided,
so the sieve writes that strip at once.
"""

from __future__ import annotations

from typing import IO

import numpy as np

from geouic.postprocess._kernels import kernels
from geouic.postprocess.patches import PatchTable, group_sum

__all__ = ["ClusterSieve"]

_NO_PIXEL = np.iinfo(np.int64).max
_Z64 = np.zeros(0, np.int64)


def _node_index(keys: np.ndarray, carried: np.ndarray, start: int) -> np.ndarray:
    """Index of ``keys`` among a step's nodes: the carried keys (sorted), then ``start, start + 1, ...``."""
    out = keys - start + len(carried)
    old = keys < start
    if old.any():
        out[old] = np.searchsorted(carried, keys[old])
    return out


def _components(n: int, a: np.ndarray, b: np.ndarray) -> tuple[int, np.ndarray]:
    """Connected components of ``n`` nodes joined by ``a``-``b``, numbered as scipy numbers them."""
    k = kernels()
    if k is not None:
        count, labels = k.components(n, a, b)
        return int(count), labels
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    graph = sparse.coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)


class ClusterSieve(PatchTable):
    """Label strips, join patches across seams and dissolve small-patch clusters once closed.

    Parameters
    ----------
    width, height : int
        Map size.
    connectivity : {4, 8}
    threshold : float
        Patches smaller than this (pixels, or hectares with ``row_area``) are dissolved.
    row_area : ndarray of float64, optional
        Pixel area (ha) of every map row.
    lut_file : binary file, optional
        Where the per-strip look-up tables go (read back by :meth:`strip_lut`); without it they
        wait in memory until :meth:`take_decided` hands them over, as soon as they are decided.
    """

    def __init__(self, width: int, connectivity: int, *, threshold: float, lut_file: IO[bytes] | None = None,
                 row_area: np.ndarray | None = None, height: int | None = None) -> None:
        super().__init__(width, connectivity, small_below=threshold, row_area=row_area, height=height)
        self.threshold = float(threshold)
        self.lut_file = lut_file
        # One carried node per patch still needed: representative key, class, size, first pixel,
        # and whether the patch is already closed (and counted).
        self._c_key, self._c_cls = _Z64, np.zeros(0, np.uint16)
        self._c_size, self._c_first, self._c_closed = np.zeros(0), _Z64, np.zeros(0, bool)
        self._p_key, self._p_rep = _Z64, _Z64  # keys of undecided parts -> representative key
        self._e_u, self._e_v, self._e_w = _Z64, _Z64, np.zeros(0, np.int64)  # borders between representatives
        self._segments: dict[int, np.ndarray] = {}  # strip -> new class per local label
        self._undecided: dict[int, int] = {}  # strip -> parts not decided yet
        self._written: list[int] = []  # lengths of the decided tables, in strip order
        self._ready: list[tuple[int, np.ndarray]] = []  # decided tables not taken yet (no lut_file)
        self.patches = self.removed = self.kept_small = 0
        self.present = np.zeros(2**16, bool)  # class codes seen
        self.peak_carried = 0

    # ------------------------------------------------------------------------- the strip pass
    def add(self, row_off: int, classes: np.ndarray) -> np.ndarray:
        """Label the next strip, then dissolve every cluster it closes (see module notes)."""
        labels = super().add(row_off, classes)
        self._step(final=False)
        return labels

    def close(self) -> None:
        """After the last strip: every patch is closed; dissolve the rest and write every table."""
        self._step(final=True)
        if self._segments or self._p_key.size:  # pragma: no cover - every part is decided at the end
            raise RuntimeError("sieve: parts left undecided after the last strip")

    def take_decided(self) -> list[tuple[int, np.ndarray]]:
        """``(strip index, table)`` of the strips decided since the last call, in strip order.

        Only without a ``lut_file``; a table gives the new class per local label (label 0: 0).
        """
        ready, self._ready = self._ready, []
        return ready

    def strip_lut(self, index: int) -> np.ndarray:
        """New class per local label of strip ``index`` (label 0: 0), read from the file in order."""
        if self.lut_file is None:
            raise RuntimeError("strip_lut needs a lut_file; use take_decided")
        if index == 0:
            self.lut_file.flush()
            self.lut_file.seek(0)
        return np.fromfile(self.lut_file, np.uint16, count=self._written[index])

    # ------------------------------------------------------------------------- one step
    def _take_new(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Keys, classes, sizes and first pixels of the parts added since the last step."""
        if not self._cls:
            return _Z64, np.zeros(0, np.uint16), np.zeros(0), _Z64
        cls = np.concatenate(self._cls)
        size = np.concatenate(self._area if self.row_area is not None else self._pixels).astype(np.float64)
        first = np.concatenate(self._first)
        self.present[cls] = True
        start = self.offsets[-len(self._cls)] + 1
        for i, part in zip(range(len(self.offsets) - len(self._cls), len(self.offsets)), self._cls):
            self._segments[i] = np.zeros(len(part) + 1, np.uint16)
            self._undecided[i] = len(part)
        for parts in (self._cls, self._pixels, self._area, self._first):
            parts.clear()
        return np.arange(start, start + len(cls), dtype=np.int64), cls, size, first

    def _step(self, *, final: bool) -> None:
        keys, cls, size, first = self._take_new()
        n_old = len(self._c_key)
        node_key = np.concatenate([self._c_key, keys])  # sorted: carried keys come from earlier strips
        n = len(node_key)
        if n == 0:
            self._write_done()  # strips without any patch
            return
        node_cls = np.concatenate([self._c_cls, cls])
        closed_before = np.concatenate([self._c_closed, np.zeros(len(keys), bool)])
        # Patches: carried representatives joined with the new parts across the seam.
        ja = np.concatenate([j[0] for j in self._join]).astype(np.int64) if self._join else _Z64
        jb = np.concatenate([j[1] for j in self._join]).astype(np.int64) if self._join else _Z64
        self._join.clear()
        start = int(keys[0]) if len(keys) else int(node_key[-1]) + 1
        n_p, lab = _components(n, _node_index(ja, self._c_key, start), _node_index(jb, self._c_key, start))
        p_cls = np.zeros(n_p, np.uint16)
        p_cls[lab] = node_cls
        p_size = np.bincount(lab, weights=np.concatenate([self._c_size, size]), minlength=n_p)
        p_first = np.full(n_p, _NO_PIXEL, np.int64)
        np.minimum.at(p_first, lab, np.concatenate([self._c_first, first]))
        p_rep = np.full(n_p, np.iinfo(np.int64).max, np.int64)
        np.minimum.at(p_rep, lab, node_key)
        p_open = np.zeros(n_p, bool)
        if not final and self._last is not None:
            last = self._last[0]
            p_open[lab[_node_index(last[last > 0].astype(np.int64), self._c_key, start)]] = True
        small = p_size < self.threshold
        # Borders (each involves a small part), as patch pairs; those between two anchors are dropped.
        eu = np.concatenate([self._e_u, *(e[0].astype(np.int64) for e in self._edges)])
        ev = np.concatenate([self._e_v, *(e[1].astype(np.int64) for e in self._edges)])
        ew = np.concatenate([self._e_w, *(e[2].astype(np.int64) for e in self._edges)])
        self._edges.clear()
        pu, pv = lab[_node_index(eu, self._c_key, start)], lab[_node_index(ev, self._c_key, start)]
        keep = small[pu] | small[pv]
        pu, pv, ew = pu[keep], pv[keep], ew[keep]
        # Clusters of small patches; one with an open patch waits.
        ss = small[pu] & small[pv]
        _, cluster = _components(n_p, pu[ss], pv[ss])
        waiting = np.zeros(n_p, bool)
        waiting[cluster[small & p_open]] = True
        undecided = small & waiting[cluster]
        ready = small & ~undecided
        new_cls = p_cls.copy()
        if ready.any():
            e_ready = ready[pu] | ready[pv]
            # The ready patches and their neighbours, sorted (a mask: a sort cost 10 % of the sieve).
            mark = ready.copy()
            mark[pu[e_ready]] = True
            mark[pv[e_ready]] = True
            nodes = np.flatnonzero(mark)
            where = np.zeros(n_p, np.int64)
            where[nodes] = np.arange(len(nodes))
            su, sv = where[pu[e_ready]], where[pv[e_ready]]
            from geouic.postprocess.sieve import dissolve_small

            out, kept = dissolve_small(p_cls[nodes], p_size[nodes], p_first[nodes], su, sv,
                                       ew[e_ready].astype(np.int32), self.threshold)
            new_cls[nodes] = out
            self.kept_small += kept
            self.removed += int(np.count_nonzero(new_cls[ready] != p_cls[ready]))
        counted = np.zeros(n_p, bool)
        counted[lab[:n_old][closed_before[:n_old]]] = True
        self.patches += int(np.count_nonzero(~p_open & ~counted))
        self._decide(node_key, lab, n_old, new_cls, undecided, p_rep)
        self._carry(node_key, lab, p_rep, p_cls, p_size, p_first, p_open, small, undecided, pu, pv, ew)
        self._write_done()

    def _decide(self, node_key: np.ndarray, lab: np.ndarray, n_old: int, new_cls: np.ndarray,
                undecided: np.ndarray, p_rep: np.ndarray) -> None:
        """Write the class of every part whose patch is decided; keep the others pending."""
        # Pending parts of earlier strips follow their representative (a carried node) into this
        # step's patches; the new parts are this step's nodes after the carried ones.
        patch = lab[np.searchsorted(node_key[:n_old], self._p_rep)] if self._p_key.size else _Z64
        all_keys = np.concatenate([self._p_key, node_key[n_old:]])
        all_patch = np.concatenate([patch, lab[n_old:]])
        wait = undecided[all_patch]
        self._p_key, self._p_rep = all_keys[wait], p_rep[all_patch[wait]]
        done_keys, values = all_keys[~wait], new_cls[all_patch[~wait]]
        if not done_keys.size:
            return
        order = np.argsort(done_keys, kind="stable")
        done_keys, values = done_keys[order], values[order]
        offsets = np.asarray(self.offsets, np.int64)
        strip = np.searchsorted(offsets, done_keys - 1, side="right") - 1
        heads = np.flatnonzero(np.r_[True, strip[1:] != strip[:-1]])
        for a, b in zip(heads, np.r_[heads[1:], len(strip)]):
            s = int(strip[a])
            self._segments[s][done_keys[a:b] - offsets[s]] = values[a:b]
            self._undecided[s] -= int(b - a)

    def _carry(self, node_key: np.ndarray, lab: np.ndarray, p_rep: np.ndarray, p_cls: np.ndarray,
               p_size: np.ndarray, p_first: np.ndarray, p_open: np.ndarray, small: np.ndarray,
               undecided: np.ndarray, pu: np.ndarray, pv: np.ndarray, ew: np.ndarray) -> None:
        """Keep what the next strips need: open patches, waiting clusters and the anchors next to them."""
        e_wait = undecided[pu] | undecided[pv]
        pu, pv, ew = pu[e_wait], pv[e_wait], ew[e_wait]
        carried = p_open | undecided
        carried[pu] = True
        carried[pv] = True
        idx = np.flatnonzero(carried)
        idx = idx[np.argsort(p_rep[idx], kind="stable")]
        self._c_key, self._c_cls = p_rep[idx], p_cls[idx]
        self._c_size, self._c_first, self._c_closed = p_size[idx], p_first[idx], ~p_open[idx]
        if pu.size:
            lo, hi = np.minimum(p_rep[pu], p_rep[pv]), np.maximum(p_rep[pu], p_rep[pv])
            span = int(hi.max()) + 1
            k, w = group_sum(lo * span + hi, ew)
            self._e_u, self._e_v, self._e_w = k // span, k % span, w
        else:
            self._e_u = self._e_v = self._e_w = _Z64
        if self._last is not None:  # the next seam joins the open patches through their representatives
            keys, lcls, lsmall = self._last
            rep = np.zeros(len(keys), np.int64)
            some = keys > 0
            rep[some] = p_rep[lab[np.searchsorted(node_key, keys[some])]]
            self._last = (rep, lcls, lsmall)
        self.peak_carried = max(self.peak_carried, len(idx) + len(self._p_key) + len(self._e_u))

    def _write_done(self) -> None:
        """Append the tables of the strips now fully decided, in order."""
        i = len(self._written)
        while i in self._segments and self._undecided[i] == 0:
            seg = self._segments.pop(i)
            del self._undecided[i]
            seg[0] = 0
            if self.lut_file is None:
                self._ready.append((i, seg))
            else:
                seg.tofile(self.lut_file)
            self._written.append(len(seg))
            i += 1
