"""Fuzzy c-means: memberships, recovery, the point-on-a-centre case, the estimator contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import v_measure_score

from geouic.cluster import _base
from geouic.cluster._fcm import FuzzyCMeans, fuzzy_memberships
from geouic.errors import ModelError, NotFittedError, ParameterError

from .test_isodata import blobs

THREE_BLOBS = [(-2, 0, 0, 0), (2, 0, 0, 0), (0, 3, 0, 1)]


@pytest.fixture(scope="module")
def fitted():
    X, y = blobs(THREE_BLOBS, n=200, std=0.3)
    return FuzzyCMeans(n_clusters=3, random_state=0).fit(X), X, y


def test_memberships_are_probabilities(fitted):
    model, X, _ = fitted
    for data in (X, X.astype(np.float32)):
        u = model.predict_proba(data)
        assert u.shape == (len(X), 3) and u.dtype == np.float32
        assert (u >= 0).all() and (u <= 1).all()
        np.testing.assert_allclose(u.sum(axis=1), 1.0, atol=1e-5)


def test_hard_labels_recover_blobs(fitted):
    model, X, y = fitted
    assert v_measure_score(y, model.labels_) >= 0.99
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    np.testing.assert_array_equal(model.predict_proba(X).argmax(axis=1), model.labels_)
    assert model.cluster_centers_.shape == (3, 4) and model.cluster_centers_.dtype == np.float64
    assert model.n_clusters_ == 3 and 1 <= model.n_iter_ <= model.max_iter
    assert model.objective_ > 0


def test_point_on_a_centre_gets_full_membership_without_nan(fitted):
    model, _, _ = fitted
    u = model.predict_proba(model.cluster_centers_)
    assert np.isfinite(u).all()
    np.testing.assert_allclose(u, np.eye(3), atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_membership_formula_exact_zero_distances(dtype):
    d2 = np.array([[0.0, 4.0, 9.0], [0.0, 0.0, 1.0], [1.0, 1.0, 4.0], [1.0, 4.0, 4.0]], dtype)
    u = fuzzy_memberships(d2, 2.0)
    assert u.dtype == dtype and np.isfinite(u).all()
    np.testing.assert_allclose(u[0], [1, 0, 0])
    np.testing.assert_allclose(u[1], [0.5, 0.5, 0])
    np.testing.assert_allclose(u[2], [4 / 9, 4 / 9, 1 / 9], rtol=1e-6)  # 1/d2: 1, 1, 1/4
    np.testing.assert_allclose(u[3], [4 / 6, 1 / 6, 1 / 6], rtol=1e-6)


def test_fuzziness_controls_how_soft_memberships_are():
    X, _ = blobs(THREE_BLOBS, n=100, std=0.8)
    hard = FuzzyCMeans(n_clusters=3, m=1.2, random_state=0).fit(X).predict_proba(X)
    soft = FuzzyCMeans(n_clusters=3, m=3.0, random_state=0).fit(X).predict_proba(X)
    assert hard.max(axis=1).mean() > soft.max(axis=1).mean()


def test_m_close_to_one_stays_finite():
    X, y = blobs(THREE_BLOBS, n=100)
    model = FuzzyCMeans(n_clusters=3, m=1.001, random_state=0).fit(X)
    assert np.isfinite(model.cluster_centers_).all() and np.isfinite(model.predict_proba(X)).all()
    assert v_measure_score(y, model.labels_) >= 0.99


def test_deterministic_with_random_state_and_n_init():
    X, _ = blobs(THREE_BLOBS, n=100, std=0.8)
    a = FuzzyCMeans(n_clusters=3, n_init=3, random_state=3).fit(X)
    b = FuzzyCMeans(n_clusters=3, n_init=3, random_state=3).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    one = FuzzyCMeans(n_clusters=3, n_init=1, random_state=3).fit(X)
    assert a.objective_ <= one.objective_ + 1e-9  # the first of the three runs is this one


def test_predict_in_small_chunks_gives_the_same_result(fitted, monkeypatch):
    model, X, _ = fitted
    whole = model.predict_proba(X)
    monkeypatch.setattr(_base, "CHUNK_ROWS", 11)
    np.testing.assert_array_equal(model.predict_proba(X), whole)
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_rebuild_from_params_and_state_attrs(fitted):
    model, X, _ = fitted
    rebuilt = FuzzyCMeans(**json.loads(json.dumps(model.get_params())))
    for name in FuzzyCMeans._state_attrs:
        setattr(rebuilt, name, np.array(getattr(model, name)))
    np.testing.assert_array_equal(rebuilt.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(rebuilt.predict(X), model.labels_)


def test_not_fitted_and_bad_input(fitted):
    with pytest.raises(NotFittedError):
        FuzzyCMeans().predict(np.zeros((2, 2)))
    with pytest.raises(NotFittedError):
        FuzzyCMeans().predict_proba(np.zeros((2, 2)))
    model, _, _ = fitted
    with pytest.raises(ModelError, match="2 features"):
        model.predict_proba(np.zeros((3, 2)))
    with pytest.raises(ParameterError, match="fewer than n_clusters"):
        FuzzyCMeans(n_clusters=5).fit(np.eye(4))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"m": 1.0}, "m=1.0 is invalid: must be a number > 1.0."),
        ({"m": 0.5}, "m=0.5 is invalid"),
        ({"m": float("inf")}, "m=inf is invalid"),
        ({"n_clusters": 0}, "n_clusters=0 is invalid: must be an integer >= 1."),
        ({"max_iter": 0}, "max_iter=0 is invalid"),
        ({"tol": -1e-3}, "tol=-0.001 is invalid: must be a number >= 0.0."),
        ({"n_init": 0}, "n_init=0 is invalid"),
        ({"random_state": 1.5}, "random_state=1.5 is invalid"),
    ],
)
def test_parameter_validation(params, message):
    X, _ = blobs(THREE_BLOBS, n=20)
    with pytest.raises(ParameterError) as info:
        FuzzyCMeans(**params).fit(X)
    assert message in str(info.value)
