"""Tests of the Gaussian maximum-likelihood classifier."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import chi2
from sklearn.base import clone, is_classifier

from geouic.errors import ModelError, NotFittedError, ParameterError, ReferenceDataError
from geouic.supervised import _mlc
from geouic.supervised._mlc import MaximumLikelihood

CODES = np.array([2, 5, 9])


def gaussian_classes(n_per_class: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated 4-band Gaussian classes with codes 2, 5, 9 and different shapes."""
    shape_rng = np.random.default_rng(42)  # the same classes for every seed
    rng = np.random.default_rng(seed)
    means = np.array([[20.0, 40, 60, 30], [60, 20, 30, 80], [90, 90, 20, 50]])
    X, y = [], []
    for code, mean in zip(CODES, means):
        a = shape_rng.normal(size=(4, 4)) * 3
        cov = a @ a.T + np.eye(4) * 4
        X.append(rng.multivariate_normal(mean, cov, n_per_class))
        y.append(np.full(n_per_class, code))
    return np.concatenate(X), np.concatenate(y)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return gaussian_classes()


def test_recovers_gaussian_classes(data):
    X, y = data
    model = MaximumLikelihood().fit(X, y)
    assert model.classes_.tolist() == CODES.tolist()
    assert model.means_.shape == (3, 4) and model.covariances_.shape == (3, 4, 4)
    np.testing.assert_allclose(model.priors_, 1 / 3)
    for code, mean in zip(CODES, model.means_):
        np.testing.assert_allclose(mean, X[y == code].mean(axis=0))
    X_test, y_test = gaussian_classes(500, seed=1)
    assert (model.predict(X_test) == y_test).mean() > 0.99
    proba = model.predict_proba(X_test)
    assert proba.dtype == np.float32 and proba.shape == (1500, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(model.classes_[proba.argmax(axis=1)], model.predict(X_test))
    assert is_classifier(model) and clone(model).get_params() == model.get_params()


def test_sample_priors_follow_counts(data):
    X, y = data
    keep = (y != 9) | (np.arange(len(y)) % 4 == 0)
    model = MaximumLikelihood(priors="sample").fit(X[keep], y[keep])
    np.testing.assert_allclose(model.priors_, [4 / 9, 4 / 9, 1 / 9])


def test_reject_outliers_only(data):
    X, y = data
    model = MaximumLikelihood(reject=0.999).fit(X, y)
    X_test, y_test = gaussian_classes(10000, seed=2)
    pred = model.predict(X_test)
    rejected = (pred == 0).mean()
    assert rejected < 0.004  # expected about 1 - P = 0.001
    assert (pred[pred != 0] == y_test[pred != 0]).mean() > 0.99
    far = model.means_ + 500.0
    assert (model.predict(far) == 0).all()
    assert (MaximumLikelihood().fit(X, y).predict(far) != 0).all()
    # the threshold is the chi-square quantile with n_features degrees of freedom
    assert model._reject_threshold() == pytest.approx(chi2.ppf(0.999, 4))


def test_priors_change_a_borderline_decision():
    # two 1-band classes with identical spread around 0 and 2: x = 1.1 is just on class 2's side
    offsets = np.array([-1.0, -0.5, 0.5, 1.0])
    X = np.concatenate([offsets, offsets + 2.0])[:, None]
    y = np.repeat([1, 2], 4)
    x = np.array([[1.1]])
    assert MaximumLikelihood().fit(X, y).predict(x)[0] == 2
    assert MaximumLikelihood(priors=[0.9, 0.1]).fit(X, y).predict(x)[0] == 1
    assert MaximumLikelihood(priors=[0.1, 0.9]).fit(X, y).predict(x)[0] == 2


def test_few_pixels_class_is_regularised(data):
    X, y = data
    rng = np.random.default_rng(3)
    X_small = rng.normal(loc=[50, 50, 90, 10], scale=2.0, size=(3, 4))  # rank-2 scatter in 4-D
    X2 = np.concatenate([X, X_small])
    y2 = np.concatenate([y, [12, 12, 12]])
    model = MaximumLikelihood().fit(X2, y2)
    j = model.classes_.tolist().index(12)
    n_min = np.ceil(model.min_samples_factor * (4 + 1))
    assert model.shrinkage_[j] == pytest.approx(1 - 3 / n_min)
    assert np.all(model.shrinkage_[:j] == 0)
    eig = np.linalg.eigvalsh(model.covariances_[j])
    assert eig.min() > 1e-3 * eig.max()  # well conditioned, positive definite
    unshrunk = MaximumLikelihood(min_samples_factor=0).fit(X2, y2)
    eig0 = np.linalg.eigvalsh(unshrunk.covariances_[j])
    assert eig0.min() > 0 and eig0.min() < 1e-4 * eig0.max()  # only the ridge keeps it PD
    assert np.isfinite(model.predict_proba(X2)).all()


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"priors": "uniform"}, "priors"),
        ({"priors": [0.5, 0.5]}, "priors"),
        ({"priors": [0.5, 0.4, 0.2]}, "priors"),
        ({"priors": [1.0, 0.0, 0.0]}, "priors"),
        ({"priors": ["a", "b", "c"]}, "priors"),
        ({"priors": np.array([0.2, 0.2, 0.2])}, "priors=\\[0.2, 0.2, 0.2\\] sum to 0.6"),
        ({"reject": 1.0}, "reject"),
        ({"reject": 0}, "reject"),
        ({"reg": -1e-3}, "reg"),
        ({"min_samples_factor": float("nan")}, "min_samples_factor"),
    ],
)
def test_bad_parameters(data, params, name):
    X, y = data
    with pytest.raises(ParameterError, match=name):
        MaximumLikelihood(**params).fit(X, y)


def test_bad_training_data(data):
    X, y = data
    with pytest.raises(ReferenceDataError, match="class \\[7\\]"):
        MaximumLikelihood().fit(np.vstack([X, X[:1]]), np.append(y, 7))
    with pytest.raises(ReferenceDataError, match="at least 2 classes"):
        MaximumLikelihood().fit(X[y == 2], y[y == 2])
    with pytest.raises(ReferenceDataError, match="reject=0.9 marks rejected pixels with code 0"):
        MaximumLikelihood(reject=0.9).fit(X, np.where(y == 2, 0, y))
    with pytest.raises(ReferenceDataError, match="integer codes other than 0"):
        MaximumLikelihood(reject=0.9).fit(X, np.array(["a", "b", "c"])[np.searchsorted(CODES, y)])
    with pytest.raises(ParameterError, match="NaN"):
        MaximumLikelihood().fit(np.where(np.arange(len(X))[:, None] == 5, np.nan, X), y)
    with pytest.raises(ParameterError, match="inconsistent numbers of samples"):
        MaximumLikelihood().fit(X, y[:-1])
    with pytest.raises(ParameterError, match="Unknown label type"):
        MaximumLikelihood().fit(X, y + 0.5)
    with pytest.raises(NotFittedError, match="fit"):
        MaximumLikelihood().predict(X)
    with pytest.raises(ModelError, match="3 features, but MaximumLikelihood is expecting 4"):
        MaximumLikelihood().fit(X, y).predict(X[:, :3])


def test_state_round_trip(data):
    X, y = data
    model = MaximumLikelihood(priors=[0.2, 0.3, 0.5], reject=0.99).fit(X, y.astype(float))
    params = json.loads(json.dumps(model.get_params()))
    state = {name: np.array(getattr(model, name)) for name in MaximumLikelihood._state_attrs}
    rebuilt = MaximumLikelihood(**params)
    for name, value in state.items():
        setattr(rebuilt, name, value)
    X_test = np.vstack([gaussian_classes(200, seed=4)[0], model.means_ + 300])
    np.testing.assert_array_equal(rebuilt.predict(X_test), model.predict(X_test))
    np.testing.assert_array_equal(rebuilt.predict_proba(X_test), model.predict_proba(X_test))
    assert (rebuilt.predict(X_test) == 0).sum() >= 3


def test_float32_path_and_chunks_match_float64(data, monkeypatch):
    X, y = data
    model = MaximumLikelihood().fit(X, y)
    assert model._float32_safe()
    X_test = np.clip(gaussian_classes(400, seed=5)[0], 0, 255).astype(np.uint8)
    fast = model.predict(X_test)
    monkeypatch.setattr(_mlc, "_CHUNK_ROWS", 100)
    monkeypatch.setattr(MaximumLikelihood, "_float32_safe", lambda self: False)
    np.testing.assert_array_equal(model.predict(X_test), fast)
    np.testing.assert_allclose(model.decision_function(X_test.astype(np.float32)),
                               model.decision_function(X_test), rtol=1e-12)


def test_non_finite_rows_are_refused(data):
    X, y = data
    model = MaximumLikelihood().fit(X, y)
    X_test = X[:4].copy()
    X_test[1, 2] = np.nan
    for method in (model.predict, model.predict_proba, model.decision_function):
        with pytest.raises(ParameterError, match="NaN or infinite values; mask nodata pixels"):
            method(X_test)


def test_any_label_values_as_label_encoder(data):
    """Labels 0 and strings work as scikit-learn's LabelEncoder takes them: sorted in classes_."""
    X, y = data
    coded = MaximumLikelihood().fit(X, y)
    index = np.searchsorted(CODES, y)
    for labels in (index, np.array(["water", "crop", "urban"])[index], y * 10 - 20):
        model = MaximumLikelihood().fit(X, labels)
        np.testing.assert_array_equal(model.classes_, np.unique(labels))
        expected = dict(zip(y, labels))
        np.testing.assert_array_equal(model.predict(X), [expected[v] for v in coded.predict(X)])
        code_of = {v: k for k, v in expected.items()}
        columns = [coded.classes_.tolist().index(code_of[label]) for label in model.classes_]
        np.testing.assert_allclose(model.predict_proba(X), coded.predict_proba(X)[:, columns], rtol=1e-5)


def test_binary_decision_function_is_the_log_odds(data):
    X, y = data
    keep = y < CODES[-1]
    model = MaximumLikelihood().fit(X[keep], y[keep])
    d = model.decision_function(X)
    assert d.shape == (len(X),)
    np.testing.assert_array_equal(model.classes_[(d > 0).astype(int)], model.predict(X))


