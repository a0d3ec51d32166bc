"""The one NMI and matched accuracy of geouic agree with scikit-learn and a brute-force matching."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from geouic.errors import ParameterError
from geouic.metrics import cluster_metrics, contingency, matched_accuracy, nmi


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nmi_ari_and_matching_against_references(seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 5, 3000)
    pred = np.where(rng.random(3000) < 0.7, (truth % 4) + 1, rng.integers(1, 5, 3000))
    table, rows, cols = contingency(pred, truth)
    assert rows == [1, 2, 3, 4] and cols == [1, 2, 3, 4]
    assert nmi(table) == pytest.approx(normalized_mutual_info_score(truth, pred))
    assert cluster_metrics(table).ari == pytest.approx(adjusted_rand_score(truth, pred))
    best = max(sum(table[i, p[i]] for i in range(4)) for p in itertools.permutations(range(4)))
    assert matched_accuracy(table) == pytest.approx(best / table.sum())


def test_contingency_ignores_unlabelled_and_checks_lengths():
    table, rows, cols = contingency(np.array([0, 1, 1, 2]), np.array([5, 5, 0, 6]))
    assert table.tolist() == [[1, 0], [0, 1]] and rows == [1, 2] and cols == [5, 6]
    with pytest.raises(ParameterError, match="differ in length"):
        contingency([1, 2], [1])
    with pytest.raises(ParameterError, match="counts >= 0"):
        nmi([[1, -1]])
