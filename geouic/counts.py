"""The per-class count accumulator of the window pass.

One :class:`ClassCounts` serves every per-class tally geouic makes window by window: pixels
and area per class (areas, statistics, merge), class x label counts (the cross-tabulation of
``assign-schema``, the map/reference pairs of ``accuracy``) and the strata counts of a sample
design. Class values index the arrays directly (a class map holds codes 0..65535, 0 = none),
and the arrays grow to the largest class seen.

Examples
--------
>>> import numpy as np
>>> counts = ClassCounts(n_labels=2)
>>> _ = counts.add(np.array([[1, 1], [2, 0]]), labels=np.array([[0, 1], [1, -1]]))
>>> counts.classes.tolist(), counts.pixels[1:].tolist()
([1, 2], [2, 1])
>>> counts.table().tolist()
[[1, 1], [0, 1]]
"""

from __future__ import annotations

import numpy as np

from geouic.errors import ParameterError

__all__ = ["ClassCounts"]


class ClassCounts:
    """Pixels, optional weights (areas) and optional class x label counts per class value.

    Parameters
    ----------
    n_labels : int, default=0
        Label columns of the cross-tabulation; windows give label indexes 0..n_labels-1
        (-1 = unlabelled). 0: no cross-tabulation.

    Attributes
    ----------
    pixels : ndarray of int64, indexed by class value
        Pixels of each class value (index 0: nodata / unclassified).
    weights : ndarray of float64, indexed by class value
        Sum of the weights given with the pixels (e.g. hectares).
    counts : ndarray of int64, shape (len(pixels), n_labels)
        Pixels of each class (> 0) with each label index.
    """

    def __init__(self, n_labels: int = 0) -> None:
        if n_labels < 0:
            raise ParameterError(f"n_labels={n_labels} is invalid: must be >= 0.", params=("n_labels",))
        self.n_labels = int(n_labels)
        self.pixels = np.zeros(1, np.int64)
        self.weights = np.zeros(1, np.float64)
        self.counts = np.zeros((1, self.n_labels), np.int64)

    def _grow(self, top: int) -> None:
        extra = top + 1 - len(self.pixels)
        if extra > 0:
            self.pixels = np.concatenate([self.pixels, np.zeros(extra, np.int64)])
            self.weights = np.concatenate([self.weights, np.zeros(extra)])
            self.counts = np.vstack([self.counts, np.zeros((extra, self.n_labels), np.int64)])

    def add(self, classes: np.ndarray, *, labels: np.ndarray | None = None,
            weights: np.ndarray | None = None) -> ClassCounts:
        """Add one window.

        Parameters
        ----------
        classes : ndarray of int
            Class values (>= 0; 0 = none) of the window's pixels.
        labels : ndarray of int, optional
            Label column index of each pixel (-1 = unlabelled), same shape as ``classes``.
        weights : ndarray of float, optional
            A weight per pixel (e.g. its area in hectares), same shape as ``classes``.

        Returns
        -------
        self
        """
        flat = np.asarray(classes).ravel()
        if flat.size == 0:
            return self
        self._grow(int(flat.max()))
        n = len(self.pixels)
        self.pixels += np.bincount(flat, minlength=n)
        if weights is not None:
            self.weights += np.bincount(flat, weights=np.asarray(weights).ravel(), minlength=n)
        if labels is not None and self.n_labels:
            index = np.asarray(labels).ravel()
            both = (flat > 0) & (index >= 0)
            if both.any():
                keys = flat[both].astype(np.int64) * self.n_labels + index[both]
                self.counts += np.bincount(keys, minlength=self.counts.size).reshape(self.counts.shape)
        return self

    def merge(self, other: ClassCounts) -> ClassCounts:
        """Add the counts of another accumulator (same ``n_labels``) into this one."""
        if other.n_labels != self.n_labels:
            raise ParameterError(f"cannot merge counts of {other.n_labels} labels into {self.n_labels}.")
        self._grow(len(other.pixels) - 1)
        k = len(other.pixels)
        self.pixels[:k] += other.pixels
        self.weights[:k] += other.weights
        self.counts[:k] += other.counts
        return self

    @property
    def classes(self) -> np.ndarray:
        """Class values (>= 1) with at least one pixel, sorted."""
        return np.flatnonzero(self.pixels[1:]) + 1

    def table(self) -> np.ndarray:
        """Class x label counts of the present classes (rows in the order of :attr:`classes`)."""
        return self.counts[self.classes]

    def as_dict(self) -> dict[int, int]:
        """``{class: pixels}`` of the present classes."""
        return {int(c): int(self.pixels[c]) for c in self.classes}

    def pairs(self, label_codes: np.ndarray) -> list[tuple[int, int, int]]:
        """``(class, label code, pixels)`` of every non-empty cell, ``label_codes[j]`` naming column j."""
        rows, cols = np.nonzero(self.counts)
        codes = np.asarray(label_codes)
        return [(int(r), int(codes[c]), int(self.counts[r, c])) for r, c in zip(rows, cols)]
