"""The sieve's compiled kernels (numba); imported only through :func:`geouic.postprocess._kernels.kernels`.

See :mod:`geouic.postprocess._kernels` for why each loop is compiled and how the numpy forms
stand in when numba is absent.
"""

# ruff: noqa: D103
from __future__ import annotations

import numba
import numpy as np

__all__ = ["mark_codes", "strip_parts", "strip_edges", "dissolve", "apply_lut", "components"]

_NO_PIXEL = np.iinfo(np.int64).max

@numba.njit(cache=True, nogil=True)
def mark_codes(flat, seen):
    """``seen[code] = True`` for every code in ``flat``."""
    for i in range(flat.size):
        seen[flat[i]] = True


@numba.njit(cache=True, nogil=True)
def apply_lut(labels, lut, classes):
    """``lut[labels]`` in the dtype of ``classes`` (its codes fit), and how many pixels changed."""
    out = np.empty_like(classes)
    fo, fl, fc = out.ravel(), labels.ravel(), classes.ravel()
    changed = 0
    for i in range(fl.size):
        v = lut[fl[i]]
        fo[i] = v
        changed += v != fc[i]
    return out, changed


@numba.njit(cache=True, nogil=True)
def strip_parts(flat, classes, n, cols, row_off, row_area, threshold):
    """Pixels, class, size, small flag and first small pixel of each label 0..n of a strip."""
    pixels = np.zeros(n + 1, np.int64)
    cls = np.zeros(n + 1, np.uint16)
    size = np.zeros(n + 1, np.float64)
    first = np.full(n + 1, _NO_PIXEL, np.int64)
    base = row_off * cols
    weighted = row_area.size > 0
    for i in range(flat.size):
        lab = flat[i]
        if pixels[lab] == 0:
            first[lab] = base + i
            cls[lab] = classes[i]
        pixels[lab] += 1
        if weighted:
            size[lab] += row_area[row_off + i // cols]
    if not weighted:
        for k in range(n + 1):
            size[k] = pixels[k]
    small = size < threshold
    small[0] = False
    for k in range(n + 1):
        if not small[k]:
            first[k] = _NO_PIXEL  # the first pixel orders small parts only
    return pixels, cls, size, small, first

@numba.njit(cache=True, nogil=True)
def _row_pairs(labels, ra, rb, shift, small, po, pn, m):
    """Append the pairs ``(labels[ra, c], labels[rb, c + shift])`` at ``m``: the new count, or -1 if full.

    A pair is filed under its small part (the lower label when both are small). One loop per
    row and direction: the per-pixel work stays inline (a call per pixel would cost more).
    """
    cols = labels.shape[1]
    lo_c, hi_c = max(0, -shift), min(cols, cols - shift)
    if m + (hi_c - lo_c) > po.size:
        return -1
    for c in range(lo_c, hi_c):
        a, b = labels[ra, c], labels[rb, c + shift]
        if a == b or a == 0 or b == 0:
            continue
        sa, sb = small[a], small[b]
        if not (sa or sb):
            continue
        if sa and (not sb or a < b):
            po[m], pn[m] = a, b
        else:
            po[m], pn[m] = b, a
        m += 1
    return m


@numba.njit(cache=True, nogil=True)
def _grow(x, m):
    y = np.empty(2 * x.size + 1, x.dtype)
    y[:m] = x[:m]
    return y


@numba.njit(cache=True, nogil=True)
def strip_edges(labels, small, conn8):
    """Touching label pairs with a small part and their border length, one entry per pair.

    Returns ``(lo, hi, count)`` with ``lo < hi``, grouped by the part the pair is filed under
    (in the order of their first pixel pair).
    One pass over the pixels collects the pairs; a counting sort groups them by that part.
    """
    rows, cols = labels.shape
    n = small.size
    po = np.empty(max(16, labels.size // 4), labels.dtype)
    pn = np.empty(po.size, labels.dtype)
    m = 0
    for r in range(rows):
        for k in range(4 if conn8 else 2):
            if r + 1 == rows and k > 0:
                break
            # k = 0: right neighbour (a row with itself, shifted); 1: below; 2, 3: below right, below left
            rb = r if k == 0 else r + 1
            shift = 1 if k in (0, 2) else (-1 if k == 3 else 0)
            m2 = _row_pairs(labels, r, rb, shift, small, po, pn, m)
            while m2 < 0:
                po, pn = _grow(po, m), _grow(pn, m)
                m2 = _row_pairs(labels, r, rb, shift, small, po, pn, m)
            m = m2
    start = np.zeros(n + 1, np.int64)
    for j in range(m):
        start[po[j] + 1] += 1
    for k in range(n):
        start[k + 1] += start[k]
    pos = start[:-1].copy()
    nb = np.empty(m, labels.dtype)
    for j in range(m):
        o = po[j]
        nb[pos[o]] = pn[j]
        pos[o] += 1
    lo = np.empty(m, np.int64)
    hi = np.empty(m, np.int64)
    w = np.empty(m, np.int64)
    slot = np.full(n, -1, np.int64)  # entry of each neighbour of the current part (no sort needed)
    out = 0
    for o in range(n):
        s, e = start[o], start[o + 1]
        for j in range(s, e):
            other = nb[j]
            if slot[other] < 0:
                slot[other] = out
                lo[out], hi[out], w[out] = min(o, other), max(o, other), 1
                out += 1
            else:
                w[slot[other]] += 1
        for j in range(s, e):
            slot[nb[j]] = -1
    m = out
    return lo[:m], hi[:m], w[:m]

@numba.njit(cache=True, nogil=True)
def dissolve(cls, size, first, eu, ev, ew, threshold):
    """Smallest first, one patch at a time (see :func:`geouic.postprocess.sieve.dissolve_small`).

    Returns the new class of every patch and how many patches are still small afterwards
    among those with a border.
    """
    n = cls.size
    c = cls.astype(np.int64)
    s = size.astype(np.float64)
    f = first.astype(np.int64)
    parent = np.arange(n)
    # Half-edges in one linked list per patch; a merge splices the lists.
    n_half = 2 * eu.size
    dst = np.empty(n_half, np.int64)
    wt = np.empty(n_half, np.int64)
    nxt = np.full(n_half, -1, np.int64)
    head = np.full(n, -1, np.int64)
    tail = np.full(n, -1, np.int64)
    has_edge = np.zeros(n, np.bool_)
    for h in range(n_half):
        j = h // 2
        a, b = (eu[j], ev[j]) if h % 2 == 0 else (ev[j], eu[j])
        dst[h], wt[h] = b, ew[j]
        has_edge[a] = True
        if head[a] < 0:
            head[a] = h
        else:
            nxt[tail[a]] = h
        tail[a] = h
    n_code = 0
    for k in range(n):
        n_code = max(n_code, c[k] + 1)
    border = np.zeros(n_code, np.int64)
    seen = np.zeros(n_code, np.bool_)
    codes = np.empty(n_code, np.int64)
    roots = np.empty(n, np.int64)
    stack = np.empty(n + 1, np.int64)

    def _find(x):
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    # A small patch is dissolved once it comes before all its small neighbours in (size, first
    # pixel) order; one that has a smaller small neighbour waits on a stack until that one is done.
    for k0 in range(n):
        if not (s[k0] < threshold and has_edge[k0]) or parent[k0] != k0:
            continue
        stack[0] = k0
        top = 1
        while top > 0:
            p = _find(stack[top - 1])
            if not s[p] < threshold:
                top -= 1
                continue
            # Drop internal half-edges; look for a small neighbour that comes first.
            q = -1
            h, last = head[p], -1
            while h >= 0:
                t = _find(dst[h])
                if t == p:
                    if last < 0:
                        head[p] = nxt[h]
                    else:
                        nxt[last] = nxt[h]
                else:
                    dst[h] = t
                    last = h
                    if s[t] < threshold and (s[t] < s[p] or (s[t] == s[p] and f[t] < f[p])):
                        if q < 0 or s[t] < s[q] or (s[t] == s[q] and f[t] < f[q]):
                            q = t
                h = nxt[h]
            tail[p] = last
            if q >= 0:
                stack[top] = q
                top += 1
                continue
            top -= 1
            if head[p] < 0:
                continue  # touches no other patch
            # Border per neighbouring class: the longest, then the lowest code.
            n_codes = 0
            h = head[p]
            while h >= 0:
                k = c[dst[h]]
                if not seen[k]:
                    seen[k] = True
                    codes[n_codes] = k
                    n_codes += 1
                border[k] += wt[h]
                h = nxt[h]
            best = -1
            for i in range(n_codes):
                k = codes[i]
                if best < 0 or border[k] > border[best] or (border[k] == border[best] and k < best):
                    best = k
            for i in range(n_codes):
                border[codes[i]] = 0
                seen[codes[i]] = False
            # Join every neighbour of that class; the lists are spliced.
            n_roots = 0
            h = head[p]
            while h >= 0:
                t = _find(dst[h])
                if t != p and c[t] == best:
                    parent[t] = p
                    roots[n_roots] = t
                    n_roots += 1
                h = nxt[h]
            c[p] = best
            for i in range(n_roots):
                t = roots[i]
                s[p] += s[t]
                f[p] = min(f[p], f[t])
                if head[t] >= 0:
                    if head[p] < 0:
                        head[p] = head[t]
                    else:
                        nxt[tail[p]] = head[t]
                    tail[p] = tail[t]
            if s[p] < threshold:
                stack[top] = p  # the union may still be small: look at it again
                top += 1
    out = np.empty(n, np.int64)
    still = 0
    for k in range(n):
        r = _find(k)
        out[k] = c[r]
        if r == k and s[k] < threshold and has_edge[k]:
            still += 1
    return out, still


@numba.njit(cache=True, nogil=True)
def components(n, a, b):
    """Connected components of nodes ``0..n-1`` joined by ``a[j]``-``b[j]``: ``(count, labels)``.

    Numbered like :func:`scipy.sparse.csgraph.connected_components` (components in the order of
    their lowest node), by union-find with the lower node as the root.
    """
    parent = np.arange(n)

    def _find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for j in range(a.size):
        x, y = _find(a[j]), _find(b[j])
        if x < y:
            parent[y] = x
        elif y < x:
            parent[x] = y
    labels = np.empty(n, np.int32)
    count = 0
    for v in range(n):
        r = _find(v)
        if r == v:
            labels[v] = count
            count += 1
        else:
            labels[v] = labels[r]
    return count, labels
