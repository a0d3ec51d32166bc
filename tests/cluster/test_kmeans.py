"""k-means: recovery, the best of several initialisations, empty classes, the estimator contract."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import v_measure_score

from geouic.cluster import KMeans, _base
from geouic.cluster import _kmeans
from geouic.errors import ModelError, NotFittedError, ParameterError

from .test_isodata import FOUR_BLOBS, blobs


def test_recovers_well_separated_blobs():
    X, y = blobs(FOUR_BLOBS, n=200)
    model = KMeans(n_clusters=4, random_state=0).fit(X)
    assert v_measure_score(y, model.labels_) == pytest.approx(1.0)
    true_centres = np.asarray(FOUR_BLOBS, float)
    for centre in model.cluster_centers_:
        assert np.min(np.linalg.norm(true_centres - centre, axis=1)) < 0.1
    assert model.cluster_centers_.shape == (4, 5) and model.n_features_in_ == 5
    assert 1 <= model.n_iter_ <= model.max_iter


def test_inertia_is_the_sum_of_squared_distances_to_the_nearest_centre():
    X, _ = blobs(FOUR_BLOBS, n=100, seed=1)
    model = KMeans(n_clusters=4, random_state=0).fit(X)
    d2 = ((X[:, None, :] - model.cluster_centers_[None]) ** 2).sum(-1)
    assert model.inertia_ == pytest.approx(d2.min(axis=1).sum(), rel=1e-9)
    np.testing.assert_array_equal(model.labels_, d2.argmin(axis=1))


def test_the_run_with_the_lowest_inertia_is_kept(monkeypatch):
    # Overlapping blobs have local minima, so the runs end at different inertias.
    X, _ = blobs([(0, 0), (1, 0), (0, 1), (1, 1), (3, 3), (5, 0)], n=80, std=0.6, seed=3)
    inertias = []
    real = _kmeans._lloyd

    def spy(*args):
        run = real(*args)
        inertias.append(run[2])
        return run

    monkeypatch.setattr(_kmeans, "_lloyd", spy)
    model = KMeans(n_clusters=6, n_init=8, random_state=0).fit(X)
    assert len(inertias) == 8 and len(set(inertias)) > 1
    assert model.inertia_ == min(inertias)


def test_initialisations_compete_on_a_subsample_of_large_inputs(monkeypatch):
    X, y = blobs(FOUR_BLOBS, n=400, seed=2)
    monkeypatch.setattr(_kmeans, "INIT_SUBSAMPLE", 300)
    calls = []
    real = _kmeans._lloyd

    def spy(data, *args):
        calls.append(len(data))
        return real(data, *args)

    monkeypatch.setattr(_kmeans, "_lloyd", spy)
    model = KMeans(n_clusters=4, n_init=3, random_state=0).fit(X)
    assert calls == [300, 300, 300, len(X)]  # three runs on the subsample, the winner refined on all
    assert v_measure_score(y, model.labels_) == pytest.approx(1.0)


def test_deterministic_with_random_state():
    X, _ = blobs(FOUR_BLOBS, n=100, seed=4)
    a = KMeans(n_clusters=4, random_state=7).fit(X)
    b = KMeans(n_clusters=4, random_state=7).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.labels_, b.labels_)


def test_no_empty_class_when_samples_are_duplicated():
    X = np.repeat(np.array([[0.0, 0.0], [10.0, 10.0], [20.0, 0.0]]), [50, 50, 2], axis=0)
    model = KMeans(n_clusters=3, random_state=0).fit(X)
    assert set(np.unique(model.labels_)) == {0, 1, 2}


def test_predict_matches_labels_and_keeps_float32():
    X, _ = blobs(FOUR_BLOBS, n=100, seed=5)
    model = KMeans(n_clusters=4, random_state=0).fit(X)
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    labels32 = model.predict(X.astype(np.float32))
    assert labels32.dtype == np.int32
    assert (labels32 == model.labels_).mean() > 0.999


def test_predict_in_small_chunks_gives_the_same_labels(monkeypatch):
    X, _ = blobs(FOUR_BLOBS, n=100, seed=6)
    model = KMeans(n_clusters=4, random_state=0).fit(X)
    whole = model.predict(X)
    monkeypatch.setattr(_base, "CHUNK_ROWS", 7)
    np.testing.assert_array_equal(model.predict(X), whole)


def test_predict_before_fit_and_with_other_bands():
    with pytest.raises(NotFittedError, match="not fitted"):
        KMeans(n_clusters=2).predict(np.zeros((3, 2)))
    model = KMeans(n_clusters=2, random_state=0).fit(np.array([[0.0, 0], [0, 1], [5, 5], [5, 6]]))
    with pytest.raises(ModelError, match="3 features, but KMeans is expecting 2"):
        model.predict(np.zeros((4, 3)))


def test_clone_keeps_parameters_and_init_only_stores_them():
    model = KMeans(n_clusters=-1, n_init="x", max_iter=None, tol="bad", random_state=3)
    assert model.get_params() == {"n_clusters": -1, "n_init": "x", "max_iter": None, "tol": "bad",
                                  "random_state": 3}
    assert clone(KMeans(n_clusters=5, tol=0.1)).get_params()["tol"] == 0.1


@pytest.mark.parametrize("params, message", [
    ({"n_clusters": 0}, "n_clusters=0 is invalid"),
    ({"n_clusters": True}, "n_clusters=True is invalid"),
    ({"n_clusters": 3, "n_init": 0}, "n_init=0 is invalid"),
    ({"n_clusters": 3, "max_iter": 2.5}, "max_iter=2.5 is invalid"),
    ({"n_clusters": 3, "tol": -1.0}, "tol=-1.0 is invalid"),
    ({"n_clusters": 3, "random_state": -4}, "random_state=-4 is invalid"),
])
def test_parameter_validation_names_the_parameter(params, message):
    X, _ = blobs(FOUR_BLOBS, n=20)
    with pytest.raises(ParameterError, match=message) as info:
        KMeans(**params).fit(X)
    assert info.value.params == (message.split("=")[0],)


def test_more_classes_than_samples():
    with pytest.raises(ParameterError, match="n_clusters=5 is larger than the 3 samples") as info:
        KMeans(n_clusters=5).fit(np.arange(6.0).reshape(3, 2))
    assert info.value.params == ("n_clusters",)


def test_bad_input_data():
    with pytest.raises(ParameterError, match="NaN"):
        KMeans(n_clusters=2).fit(np.array([[0.0, np.nan], [1, 1], [2, 2]]))
    with pytest.raises(ParameterError, match="shape"):
        KMeans(n_clusters=2).fit(np.zeros(5))
