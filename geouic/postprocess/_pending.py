"""Strips labelled by the sieve's pass that wait for their look-up table, in memory or spilled to disk.

A strip's new classes are known once every cluster of small patches with a pixel in it is closed:
usually after the next strip, but a chain of small patches can hold a strip open for many. Its
classes and labels wait here instead of being read and labelled a second time (that second pass
cost about a tenth of the sieve). The most recent ``keep`` strips stay in memory; older waiting
strips go to a temporary file (raw arrays, written and read back in strip order), so memory
stays bounded whatever the chains.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

__all__ = ["PendingStrips"]


@dataclass
class _Strip:
    window: Any
    classes: np.ndarray | None
    labels: np.ndarray | None
    shape: tuple[int, int]
    dtypes: tuple[np.dtype, np.dtype]
    offset: int = -1  # byte offset in the spill file once spilled


class PendingStrips:
    """Classes and labels of strips not decided yet, keyed by strip index.

    Parameters
    ----------
    spill : binary file
        Temporary file (read and write) for the strips beyond ``keep``.
    keep : int, default=2
        Strips kept in memory.
    """

    def __init__(self, spill: IO[bytes], keep: int = 2) -> None:
        self.spill = spill
        self.keep = max(1, int(keep))
        self._strips: OrderedDict[int, _Strip] = OrderedDict()
        self._in_memory = 0
        self._end = 0
        self.spilled = 0  # strips that went to the file (for the log)

    def __len__(self) -> int:
        return len(self._strips)

    def put(self, index: int, window: Any, classes: np.ndarray, labels: np.ndarray) -> None:
        """Hold a strip until :meth:`take`; spill the oldest in memory beyond ``keep``."""
        self._strips[index] = _Strip(window, classes, labels, classes.shape, (classes.dtype, labels.dtype))
        self._in_memory += 1
        if self._in_memory > self.keep:
            for strip in self._strips.values():
                if strip.offset < 0:
                    self._spill(strip)
                    break

    def _spill(self, strip: _Strip) -> None:
        assert strip.classes is not None and strip.labels is not None
        self.spill.seek(self._end)
        strip.offset = self._end
        for arr in (strip.classes, strip.labels):
            arr.tofile(self.spill)
            self._end += arr.nbytes
        strip.classes = strip.labels = None
        self._in_memory -= 1
        self.spilled += 1

    def take(self, index: int) -> tuple[Any, np.ndarray, np.ndarray]:
        """Window, classes and labels of strip ``index`` (read back if it was spilled)."""
        strip = self._strips.pop(index)
        if strip.offset < 0:
            self._in_memory -= 1
            assert strip.classes is not None and strip.labels is not None
            return strip.window, strip.classes, strip.labels
        n = strip.shape[0] * strip.shape[1]
        self.spill.flush()
        self.spill.seek(strip.offset)
        classes = np.fromfile(self.spill, strip.dtypes[0], count=n).reshape(strip.shape)
        labels = np.fromfile(self.spill, strip.dtypes[1], count=n).reshape(strip.shape)
        if self._end and all(s.offset < 0 for s in self._strips.values()):
            self._end = 0  # nothing left in the file: reuse it from the start
            self.spill.truncate(0)
        return strip.window, classes, labels
