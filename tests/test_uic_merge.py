"""The sixth round's label-free merge criteria (benchmarks/uic_merge.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from benchmarks.uic_merge import merge_adjacency, merge_entropy, merge_likelihood, n_components, neighbour_counts


def _pool(shape: tuple[int, int]) -> SimpleNamespace:
    """A one-region pool whose every pixel is valid (only ``split`` is used)."""
    return SimpleNamespace(split=lambda flat, fill=-1: [np.asarray(flat).reshape(shape)])


def test_component_counts() -> None:
    assert [n_components(k, f) for k in (4, 5) for f in ("x1.5", "x2", "x3")] == [6, 8, 12, 8, 10, 15]


def test_neighbour_counts_of_two_halves() -> None:
    labels = np.zeros((4, 6), np.int64)
    labels[:, 3:] = 1
    n = neighbour_counts(_pool((4, 6)), labels.ravel(), 2)
    assert n[0, 1] == n[1, 0] == 4  # one vertical boundary, 4 rows long
    assert n[0, 0] == n[1, 1] == 4 * 2 + 3 * 3  # horizontal + vertical pairs inside each 4x3 half
    assert n.sum() - n[0, 1] == 4 * 5 + 3 * 6  # every 4-neighbour pair once


def test_adjacency_merges_interleaved_sub_components() -> None:
    checker = np.indices((8, 8)).sum(axis=0) % 2
    labels = np.where(np.arange(8)[None, :] < 4, checker, 2 + checker)  # 0/1 interleaved left, 2/3 right
    n = neighbour_counts(_pool((8, 8)), labels.ravel(), 4)
    for lift in (False, True):
        groups = merge_adjacency(n, 2, lift=lift)
        assert sorted(sorted(g) for g in groups) == [[0, 1], [2, 3]]


def test_entropy_merges_overlapping_components() -> None:
    rng = np.random.default_rng(0)
    t = np.zeros((300, 3))
    t[:200, 0] = rng.uniform(0.3, 0.7, 200)  # components 0 and 1 share their pixels
    t[:200, 1] = 1 - t[:200, 0]
    t[200:, 2] = 1.0  # component 2 is sure of its own
    assert sorted(sorted(g) for g in merge_entropy(t, 2)) == [[0, 1], [2]]


def test_likelihood_merges_the_nearest_gaussians() -> None:
    means = np.array([[0.0, 0.0], [0.5, 0.0], [10.0, 10.0]])
    covs = np.repeat(np.eye(2)[None], 3, axis=0)
    groups = merge_likelihood(np.array([0.3, 0.3, 0.4]), means, covs, 2)
    assert sorted(sorted(g) for g in groups) == [[0, 1], [2]]
