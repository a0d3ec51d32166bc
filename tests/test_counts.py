"""The per-class count accumulator and the doctests of the pure rooms."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

from geouic.counts import ClassCounts
from geouic.errors import ParameterError


def test_counts_match_a_direct_tally_over_windows():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 6, (40, 30))
    labels = rng.integers(-1, 3, (40, 30))
    area = rng.random((40, 30))
    acc = ClassCounts(3)
    for rows in (slice(0, 13), slice(13, 40)):
        acc.add(classes[rows], labels=labels[rows], weights=area[rows])
    for c in range(1, 6):
        assert acc.pixels[c] == (classes == c).sum()
        assert acc.weights[c] == pytest.approx(area[classes == c].sum())
        for j in range(3):
            assert acc.counts[c, j] == ((classes == c) & (labels == j)).sum()
    pairs = acc.pairs(np.array([10, 20, 30]))
    assert sum(n for _, _, n in pairs) == ((classes > 0) & (labels >= 0)).sum()
    assert {lab for _, lab, _ in pairs} <= {10, 20, 30}


def test_merge_equals_one_accumulator():
    a, b, both = ClassCounts(2), ClassCounts(2), ClassCounts(2)
    x, y = np.array([1, 2, 7]), np.array([0, 1, 1])
    a.add(x, labels=y)
    b.add(x[:2], labels=y[:2])
    both.add(x, labels=y).add(x[:2], labels=y[:2])
    assert a.merge(b).as_dict() == both.as_dict()
    np.testing.assert_array_equal(a.counts, both.counts)
    with pytest.raises(ParameterError, match="3 labels into 2"):
        a.merge(ClassCounts(3))


@pytest.mark.parametrize("module", ["geouic.metrics", "geouic.counts", "geouic.windows", "geouic.provenance",
                                    "geouic.areas", "geouic.recode", "geouic.mapping"])
def test_doctests(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
