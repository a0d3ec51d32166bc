"""Smoke test of the scoring functions of benchmarks/quality.py (no real data, no engines)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _quality_lib as ql  # noqa: E402


def test_matched_scores_perfect_up_to_renumbering():
    true = np.repeat([1, 2, 3], 10)
    pred = np.repeat([7, 4, 5], 10)
    s = ql.matched_scores(pred, true)
    assert s["oa"] == 1.0 and s["kappa"] == 1.0 and s["nmi"] == pytest.approx(1.0)


def test_matched_scores_against_sklearn_values():
    # 4 clusters, 3 classes: best matching 5->1, 6->2, 7->3; cluster 8 stays unmatched (wrong).
    true = np.array([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3])
    pred = np.array([5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 8, 5])
    s = ql.matched_scores(pred, true)
    assert s["oa"] == pytest.approx(8 / 12)
    # expected values from scikit-learn 1.9 (hard-coded: importing sklearn.metrics is slow):
    # cohen_kappa_score(true, [1,1,1,2,2,2,2,3,3,3,0,1]) and normalized_mutual_info_score(true, pred)
    assert s["kappa"] == pytest.approx(0.52)
    assert s["nmi"] == pytest.approx(0.47351938745261474)


def test_kappa_known_value():
    # rows = map, columns = reference; po = 0.7, pe = 0.5 -> kappa 0.4
    assert ql.kappa_from_confusion(np.array([[35, 15], [15, 35]])) == pytest.approx(0.4)


def test_majority_on_checkerboard():
    board = ql.checkerboard((4, 6), block=2)
    assert board[0, 0] and not board[0, 2] and not board[2, 0] and board[2, 2]
    assert board.sum() == 12
    true = np.array([1, 1, 2, 2, 2, 3])
    pred = np.array([5, 5, 6, 6, 7, 8])  # cluster 8 has no training pixel
    train = np.array([True, False, True, False, False, False])
    s = ql.majority_scores(pred, true, train)
    # test pixels: 5->1 ok, 6->2 ok, 7->2 unassigned (wrong), 8->3 unassigned (wrong)
    assert s["oa"] == pytest.approx(0.5) and s["unassigned"] == pytest.approx(0.5)
    assert (s["n_train"], s["n_test"]) == (2, 4)


def test_smooth_valid_ignores_invalid_pixels():
    data = np.ones((1, 5, 5), np.float32)
    data[0, 2, 2] = 1000.0
    valid = np.ones((5, 5), bool)
    valid[2, 2] = False
    out = ql.smooth_valid(data, valid, 3)
    assert out[0, 2, 2] == 0.0
    np.testing.assert_allclose(out[0][valid], 1.0)
