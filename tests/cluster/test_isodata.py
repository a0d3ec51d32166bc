"""ISODATA: recovery, the split / merge / discard rules, convergence, the estimator contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import v_measure_score

from geouic.cluster import _base
from geouic.cluster._isodata import ISODATA, _merge, _Run, _Settings, _split
from geouic.errors import ModelError, NotFittedError, ParameterError


def blobs(centers, n=150, std=0.2, seed=0):
    """Gaussian blobs around ``centers`` with ``n`` points each; returns X and true labels."""
    rng = np.random.default_rng(seed)
    centers = np.asarray(centers, dtype=float)
    X = np.concatenate([rng.normal(c, std, (n, centers.shape[1])) for c in centers])
    return X, np.repeat(np.arange(len(centers)), n)


FOUR_BLOBS = [(0, 0, 0, 0, 0), (4, 0, 0, 0, 0), (0, 4, 0, 0, 0), (0, 0, 4, 4, 0)]
SQUARE = [(-3, -3), (-3, 3), (3, -3), (3, 3)]


def settings(**kw) -> _Settings:
    base = dict(n_clusters=4, min_clusters=2, max_clusters=8, max_iter=20, convergence=0.98,
                min_class_size=5, max_std=1.0, min_distance=0.5, max_merges=2,
                sample_interval=1, split_factor=0.8, init="kmeans++")
    return _Settings(**{**base, **kw})


# ------------------------------------------------------------------------------ recovery
def test_recovers_well_separated_blobs():
    X, y = blobs(FOUR_BLOBS)
    model = ISODATA(n_clusters=4, random_state=0).fit(X)
    assert model.n_clusters_ == 4
    assert v_measure_score(y, model.labels_) >= 0.99
    assert model.cluster_centers_.shape == (4, 5) and model.cluster_centers_.dtype == np.float64
    assert model.labels_.shape == (len(X),) and np.issubdtype(model.labels_.dtype, np.integer)
    assert set(np.unique(model.labels_)) == set(range(model.n_clusters_))
    assert model.n_iter_ == len(model.history_) and model.n_features_in_ == 5


def test_spectral_diagonal_init_recovers_blobs_on_the_diagonal():
    X, y = blobs([(-2, -2, -2), (0, 0, 0), (2, 2, 2)])
    model = ISODATA(n_clusters=3, init="spectral_diagonal").fit(X)
    assert v_measure_score(y, model.labels_) >= 0.99


def test_predict_matches_labels_and_float32_input():
    X, _ = blobs(FOUR_BLOBS, std=0.6)
    model = ISODATA(n_clusters=4, random_state=1).fit(X)
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    np.testing.assert_array_equal(model.predict(X.astype(np.float32)), model.labels_)


def test_sample_interval_fits_on_a_subset_but_labels_every_row():
    X, y = blobs(FOUR_BLOBS)
    model = ISODATA(n_clusters=4, sample_interval=3, min_class_size=5, random_state=0).fit(X)
    assert model.labels_.shape == (len(X),)
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert v_measure_score(y, model.labels_) >= 0.99


# ------------------------------------------------------------------------------ split / merge
def test_split_raises_the_class_count():
    """Four blobs seeded as two classes: the spread-out classes split until all four are found."""
    X, y = blobs(SQUARE, std=0.3)
    model = ISODATA(n_clusters=2, max_clusters=4, random_state=0).fit(X)
    assert model.history_[0]["n_clusters"] == 2
    assert model.n_splits_ >= 2
    assert model.n_clusters_ == 4
    assert v_measure_score(y, model.labels_) >= 0.99
    assert any(h["splits"] for h in model.history_ if h["iteration"] % 2 == 1)


def test_default_never_exceeds_the_classes_asked_for():
    """ArcGIS/ERDAS semantics: ``n_clusters`` is the most classes the result holds."""
    X, _ = blobs(SQUARE, std=0.3)
    assert ISODATA(n_clusters=2, random_state=0).fit(X).n_clusters_ <= 2
    assert ISODATA(n_clusters=3, random_state=1).fit(X).n_clusters_ <= 3


def test_no_split_when_max_std_is_large():
    X, _ = blobs(SQUARE, std=0.3)
    model = ISODATA(n_clusters=2, max_std=10.0, random_state=0).fit(X)
    assert model.n_splits_ == 0 and model.n_clusters_ == 2


def test_merge_joins_near_identical_classes():
    """Two blobs 0.3 apart (below min_distance=0.5) end up as one class."""
    X, _ = blobs([(0, 0), (0.3, 0), (5, 5)], std=0.05)
    model = ISODATA(n_clusters=3, min_class_size=5, random_state=0).fit(X)
    assert model.n_merges_ >= 1
    assert model.n_clusters_ == 2
    near = model.labels_[:300]
    assert len(np.unique(near)) == 1 and model.labels_[300] != near[0]


def test_merges_stop_at_min_clusters():
    X, _ = blobs([(0, 0)], n=400, std=0.2)
    model = ISODATA(n_clusters=4, min_clusters=3, min_distance=100.0, max_merges=5,
                    min_class_size=5, random_state=0).fit(X)
    assert model.history_[0]["n_clusters"] == 4
    assert model.n_merges_ >= 1 and model.n_clusters_ == 3


def test_merge_helper_is_size_weighted_closest_first_and_bounded():
    centers = np.array([[0.0, 0.0], [0.2, 0.0], [5.0, 5.0], [5.1, 5.0], [9.0, 0.0]])
    run = _Run(centers=centers.copy(), ids=np.arange(5), next_id=5)
    merged = _merge(np.array([30, 10, 50, 50, 40]), run, settings(max_merges=1))
    assert merged == 1  # only the closest pair (5,5)-(5.1,5) within the budget
    np.testing.assert_allclose(run.centers[2], [5.05, 5.0])
    assert len(run.centers) == 4

    run = _Run(centers=centers.copy(), ids=np.arange(5), next_id=5)
    assert _merge(np.array([30, 10, 50, 50, 40]), run, settings(max_merges=2)) == 2
    np.testing.assert_allclose(run.centers[0], [0.05, 0.0])  # (30*0 + 10*0.2) / 40
    assert list(run.ids) == [0, 2, 4]


def test_split_helper_moves_centres_along_the_widest_band():
    run = _Run(centers=np.array([[0.0, 0.0, 0.0], [9.0, 9.0, 9.0]]), ids=np.arange(2), next_id=2)
    var = np.array([[0.1, 4.0, 0.2], [0.1, 0.1, 0.1]])
    n = _split(var, np.array([100, 100]), run, forced=False, s=settings())
    assert n == 1 and len(run.centers) == 3
    np.testing.assert_allclose(run.centers[0], [0.0, 1.6, 0.0])  # + 0.8 * sigma (2.0)
    np.testing.assert_allclose(run.centers[2], [0.0, -1.6, 0.0])
    assert list(run.ids) == [0, 1, 2]


def test_split_respects_max_clusters():
    run = _Run(centers=np.zeros((3, 2)), ids=np.arange(3), next_id=3)
    var = np.array([[9.0, 0.0], [4.0, 0.0], [4.0, 0.0]])
    assert _split(var, np.array([100, 100, 100]), run, forced=True, s=settings(max_clusters=4)) == 1


# ------------------------------------------------------------------------------ discarding
def test_min_class_size_discards_tiny_classes():
    X, _ = blobs([(0, 0), (4, 0)], n=200, std=0.2)
    outliers = np.random.default_rng(1).normal((0, 12), 0.1, (8, 2))
    X = np.concatenate([X, outliers])
    model = ISODATA(n_clusters=3, min_class_size=20, max_std=20.0, random_state=0).fit(X)
    assert model.n_dropped_ >= 1
    assert model.n_clusters_ == 2
    assert np.bincount(model.labels_).min() >= 20
    kept = ISODATA(n_clusters=3, min_class_size=5, max_std=20.0, random_state=0).fit(X)
    assert kept.n_clusters_ == 3 and kept.n_dropped_ == 0


def test_never_fewer_than_two_classes():
    X, _ = blobs([(0, 0)], n=100)
    model = ISODATA(n_clusters=2, min_class_size=1000, min_distance=50.0).fit(X)
    assert model.n_clusters_ == 2
    assert np.count_nonzero(np.bincount(model.labels_)) == 2


def test_diagonal_init_with_empty_classes_leaves_no_empty_class():
    X, _ = blobs([(-3, 3), (3, -3)], n=100, std=0.1)  # anticorrelated: off the diagonal
    model = ISODATA(n_clusters=4, init="spectral_diagonal", min_class_size=1).fit(X)
    assert np.bincount(model.labels_).min() > 0
    assert len(model.cluster_centers_) == model.n_clusters_


# ------------------------------------------------------------------------------ convergence
def test_stops_at_convergence():
    X, _ = blobs(FOUR_BLOBS)
    model = ISODATA(n_clusters=4, max_iter=50, random_state=0).fit(X)
    assert model.converged_ and model.n_iter_ < 50
    assert model.history_[-1]["changed_fraction"] <= 1 - model.convergence
    assert model.history_[0]["changed_fraction"] == 1.0


def test_max_iter_stops_without_convergence():
    X, _ = blobs(FOUR_BLOBS, std=0.8)
    model = ISODATA(n_clusters=4, max_iter=1, random_state=0).fit(X)
    assert model.n_iter_ == 1 and not model.converged_
    assert model.history_[0]["splits"] == model.history_[0]["merges"] == 0


def test_full_convergence_means_no_pixel_changed():
    X, _ = blobs(FOUR_BLOBS, std=0.8)
    model = ISODATA(n_clusters=4, convergence=1.0, max_iter=100, random_state=0).fit(X)
    assert model.converged_ and model.history_[-1]["changed_fraction"] == 0.0


# ------------------------------------------------------------------------------ contract
def test_deterministic_with_random_state():
    X, _ = blobs(SQUARE, std=0.5)
    a = ISODATA(n_clusters=3, random_state=7).fit(X)
    b = ISODATA(n_clusters=3, random_state=7).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.history_ == b.history_


def test_predict_before_fit_raises():
    with pytest.raises(NotFittedError, match="fit"):
        ISODATA().predict(np.zeros((3, 2)))


def test_rebuild_from_params_and_state_attrs():
    X, _ = blobs(FOUR_BLOBS)
    model = ISODATA(n_clusters=4, random_state=0).fit(X)
    params = json.loads(json.dumps(model.get_params()))
    state = {a: np.array(getattr(model, a)) for a in ISODATA._state_attrs}
    rebuilt = ISODATA(**params)
    for name, value in state.items():
        setattr(rebuilt, name, value)
    np.testing.assert_array_equal(rebuilt.predict(X), model.labels_)


def test_predict_in_small_chunks_gives_the_same_labels(monkeypatch):
    X, _ = blobs(FOUR_BLOBS, std=0.8)
    model = ISODATA(n_clusters=4, random_state=0).fit(X)
    monkeypatch.setattr(_base, "CHUNK_ROWS", 7)
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_sklearn_clone_and_fit_predict():
    X, y = blobs(FOUR_BLOBS)
    model = clone(ISODATA(n_clusters=4, random_state=0))
    assert v_measure_score(y, model.fit_predict(X)) >= 0.99


def test_bad_input_data():
    model = ISODATA(n_clusters=2, random_state=0).fit(blobs([(0, 0), (3, 3)])[0])
    with pytest.raises(ModelError, match="3 features"):
        model.predict(np.zeros((4, 3)))
    X = blobs([(0, 0), (3, 3)])[0]
    X[5, 1] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        ISODATA(n_clusters=2).fit(X)
    with pytest.raises(ParameterError, match="identical"):
        ISODATA(n_clusters=2).fit(np.ones((50, 2)))
    with pytest.raises(ParameterError, match="fewer than n_clusters"):
        ISODATA(n_clusters=8).fit(np.arange(10.0).reshape(5, 2))


def test_init_only_stores_parameters():
    model = ISODATA(n_clusters=-3, init="bogus")
    assert model.n_clusters == -3 and model.init == "bogus"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_class_size": -1}, "min_class_size=-1 is invalid: must be an integer >= 1."),
        ({"n_clusters": 0}, "n_clusters=0 is invalid: must be an integer >= 1."),
        ({"n_clusters": 2.5}, "n_clusters=2.5 is invalid"),
        ({"n_clusters": True}, "n_clusters=True is invalid"),
        ({"min_clusters": 9}, "min_clusters=9 is invalid: must be an integer in [2, 8]."),
        ({"min_clusters": 1}, "min_clusters=1 is invalid"),
        ({"max_clusters": 7}, "max_clusters=7 is invalid: must be an integer >= 8."),
        ({"max_iter": 0}, "max_iter=0 is invalid"),
        ({"convergence": 1.5}, "convergence=1.5 is invalid: must be a number in [0.0, 1.0]."),
        ({"convergence": "high"}, "convergence='high' is invalid"),
        ({"max_std": 0.0}, "max_std=0.0 is invalid: must be a number > 0.0."),
        ({"min_distance": -1.0}, "min_distance=-1.0 is invalid: must be a number >= 0.0."),
        ({"max_merges": -1}, "max_merges=-1 is invalid"),
        ({"sample_interval": 0}, "sample_interval=0 is invalid"),
        ({"split_factor": 0.0}, "split_factor=0.0 is invalid: must be a number in (0.0, 1.0]."),
        ({"split_factor": 1.5}, "split_factor=1.5 is invalid"),
        ({"init": "random"}, "init='random' is invalid: must be one of kmeans++, spectral_diag"),
        ({"random_state": "abc"}, "random_state='abc' is invalid"),
        ({"random_state": -1}, "random_state=-1 is invalid"),
    ],
)
def test_parameter_validation(params, message):
    X, _ = blobs(FOUR_BLOBS, n=30)
    with pytest.raises(ParameterError) as info:
        ISODATA(**params).fit(X)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)
