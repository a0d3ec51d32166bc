"""scikit-learn's own estimator checks on geouic's four pixel-wise estimators (issue 14, requirement 3).

Every check passes for the default parameters, so none is declared as an expected failure; an
estimator that one day cannot meet a check declares it itself in ``_expected_failed_checks()``
(``{check_name: reason}``), which this test hands to scikit-learn, as any caller of
``check_estimator`` can.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from geouic.cluster import ISODATA, FuzzyCMeans, KMeans
from geouic.supervised import MaximumLikelihood

ESTIMATORS = [KMeans(n_clusters=3, random_state=0), ISODATA(n_clusters=3, random_state=0),
              FuzzyCMeans(n_clusters=3, random_state=0), MaximumLikelihood()]


def _declared(estimator) -> dict[str, str]:
    return getattr(estimator, "_expected_failed_checks", dict)()


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_declared)
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes on the checks' tiny random data
        check(estimator)


def test_the_checks_cover_every_estimator():
    names = {type(e).__name__ for e in ESTIMATORS}
    assert names == {"KMeans", "ISODATA", "FuzzyCMeans", "MaximumLikelihood"}
    assert not any(_declared(e) for e in ESTIMATORS)


@pytest.mark.parametrize("labels", [np.array([0, 0, 0, 1, 1, 1]), np.array(["b", "b", "b", "a", "a", "a"])])
def test_mlc_takes_label_zero_and_strings(labels):
    X = np.array([[0.0, 0.1], [0.2, 0.0], [0.1, 0.3], [5.0, 5.2], [5.1, 4.9], [4.8, 5.0]])
    model = MaximumLikelihood().fit(X, labels)
    np.testing.assert_array_equal(model.classes_, np.unique(labels))
    np.testing.assert_array_equal(model.predict(X), labels)
