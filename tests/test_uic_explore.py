"""The fifth round's label-free spatial criteria (benchmarks/uic_explore.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from benchmarks.uic_explore import spatial_criteria


def _posteriors(labels: np.ndarray, k: int, sure: float = 0.9) -> np.ndarray:
    p = np.full((labels.size, k), (1 - sure) / (k - 1))
    p[np.arange(labels.size), labels.ravel()] = sure
    return p


def test_coherent_partition_scores_better_than_a_scattered_one() -> None:
    valid = np.ones((20, 20), bool)
    pool = SimpleNamespace(regions=[SimpleNamespace(valid=valid)])
    halves = np.zeros((20, 20), np.int64)
    halves[:, 10:] = 1
    checker = (np.indices((20, 20)).sum(axis=0) % 2).astype(np.int64)  # same class sizes, no coherence
    a = spatial_criteria(pool, _posteriors(halves, 2), beta=4.0)
    b = spatial_criteria(pool, _posteriors(checker, 2), beta=4.0)
    # halves: 20 of 760 neighbour pairs differ; checkerboard: all of them (D = 1 / 0.5 = 2)
    assert np.isclose(a["dis"], 20 / 760 / 0.5)
    assert np.isclose(b["dis"], 2.0)
    assert a["pl"] > b["pl"]
    assert a["mmp"] > b["mmp"]


def test_invalid_pixels_form_no_pairs() -> None:
    valid = np.ones((4, 6), bool)
    valid[:, 3] = False  # a nodata column between two fields
    pool = SimpleNamespace(regions=[SimpleNamespace(valid=valid)])
    labels = np.zeros((4, 6), np.int64)
    labels[:, 4:] = 1
    crit = spatial_criteria(pool, _posteriors(labels[valid], 2), beta=1.0)
    assert crit["dis"] == 0.0  # the two fields touch only across the nodata column
