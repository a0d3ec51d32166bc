"""Spatially regularised EM of the starting mixture: the M-step and its use in initial_labels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from geouic.uic.data import SmoothedFeatures
from geouic.uic.data import Projection
from geouic.uic.labels import (CONSENSUS_MARGIN, choose_mixture, fit_mixture, initial_labels, potts_smooth,
                               quantisation_scale)
from geouic.uic.mixture import MIN_SHARE, FieldStatistics, refit_mixture
from tests.conftest import write_raster
from tests.uic.conftest import blob_labels, blob_scene
from tests.uic.test_budget import _pool

pytest.importorskip("torch")


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(m, s, (400, 3)) for m, s in ((0, 1.0), (5, 0.5), (-4, 2.0))]) + 1000.0
    q = rng.dirichlet(np.ones(3) * 0.3, size=len(X))
    return X, q


@pytest.mark.parametrize("kind", ["full", "tied", "diag", "spherical"])
def test_refit_is_the_weighted_estimate(kind):
    X, q = _data()
    gmm = GaussianMixture(3, covariance_type=kind, random_state=0, reg_covar=1e-4).fit(X)
    stats = FieldStatistics(3, X.mean(axis=0))
    for part in np.array_split(np.arange(len(X)), 7):  # strip by strip
        stats.add(X[part], q[part])
    out = refit_mixture(gmm, stats)
    n = q.sum(axis=0)
    means = (q.T @ X) / n[:, None]
    full = np.stack([((X - means[c]) * q[:, c : c + 1]).T @ (X - means[c]) / n[c] for c in range(3)])
    expect = {"full": full + 1e-4 * np.eye(3),
              "tied": (full * (n / n.sum())[:, None, None]).sum(axis=0) + 1e-4 * np.eye(3),
              "diag": np.diagonal(full, axis1=1, axis2=2) + 1e-4,
              "spherical": np.diagonal(full, axis1=1, axis2=2).mean(axis=1) + 1e-4}[kind]
    np.testing.assert_allclose(out.weights_, n / n.sum())
    np.testing.assert_allclose(out.means_, means, rtol=1e-9)
    np.testing.assert_allclose(out.covariances_, expect, rtol=1e-6, atol=1e-9)
    # the refit predicts as a mixture built from those parameters does
    ref = GaussianMixture(3, covariance_type=kind, reg_covar=1e-4, weights_init=out.weights_, means_init=out.means_,
                          precisions_init=out.precisions_, max_iter=1)
    ref._initialize_parameters(X, np.random.RandomState(0))
    np.testing.assert_allclose(out._estimate_weighted_log_prob(X), ref._estimate_weighted_log_prob(X), rtol=1e-6)
    assert gmm.means_ is not out.means_ and not np.allclose(gmm.means_, out.means_)  # the input is left alone


def test_degenerate_refit_is_refused():
    X, q = _data()
    gmm = GaussianMixture(3, random_state=0).fit(X)
    swamped = FieldStatistics(3, X.mean(axis=0))
    swamped.add(X, np.tile([0.95, 0.04, 0.01], (len(X), 1)))
    assert refit_mixture(gmm, swamped, max_share=0.9) is None
    emptied = FieldStatistics(3, X.mean(axis=0))
    emptied.add(X, np.tile([0.6, 0.4, MIN_SHARE / 10], (len(X), 1)))
    assert refit_mixture(gmm, emptied) is None
    assert refit_mixture(gmm, FieldStatistics(3, X.mean(axis=0))) is None  # nothing accumulated


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    labels = blob_labels(64, 4, seed=1)
    return write_raster(tmp_path_factory.mktemp("em") / "noisy.tif", blob_scene(labels, noise=120, seed=1), nodata=0)


def test_one_round_uses_the_refit_mixture(noisy):
    """em_rounds=1: the labels are the field of the mixture re-estimated from the first field."""
    pool = _pool(noisy)
    features = SmoothedFeatures(pool, pool.geometry)
    X = features.rows(None)
    rng = np.random.default_rng(0)
    gmm = fit_mixture(X, 4, rng.integers(0, 2**31 - 1, size=2), covariance="full", max_share=0.9)
    valid = pool.regions[0].valid

    def field(g):
        img = np.zeros((4, *valid.shape), np.float32)
        img[:, valid] = np.log(np.maximum(g.predict_proba(X), 1e-30)).T
        return potts_smooth(img, valid, beta=4.0)[:, valid].T

    stats = FieldStatistics(4, X.mean(axis=0))
    stats.add(X, field(gmm))
    expect = field(refit_mixture(gmm, stats)).argmax(axis=1)
    got = initial_labels(pool, 4, 0, n_init=2, em_rounds=1)
    assert (got == expect).mean() > 0.999  # float32 field: ties may round either way
    assert not np.array_equal(got, initial_labels(pool, 4, 0, n_init=2, em_rounds=0))
    assert np.array_equal(initial_labels(pool, 4, 0, n_init=2, em_rounds=3, beta=0),
                          initial_labels(pool, 4, 0, n_init=2, em_rounds=0, beta=0))  # no field, no EM


def test_rounds_that_empty_a_class_are_not_kept(tmp_path):
    """K = 12 on 4 fields: refitting from the field would empty the smallest classes (measured: 3
    of 12 after one round); the mixture before is kept, so every class that held labels still does."""
    labels = blob_labels(64, 4, seed=1)
    pool = _pool(write_raster(tmp_path / "s.tif", blob_scene(labels, seed=1), nodata=0))
    share0 = np.bincount(initial_labels(pool, 12, 0, em_rounds=0), minlength=12) / pool.n_valid
    share = np.bincount(initial_labels(pool, 12, 0), minlength=12) / pool.n_valid
    assert (share[share0 >= MIN_SHARE] >= MIN_SHARE).all()


def _elongated(seed: int) -> np.ndarray:
    """One large class stretched along the bands' common direction beside two small close ones.

    Measured (seeds 0-3): the tied and the diagonal mixtures agree with each other (ARI about
    0.7) and not with the full one (0.1-0.25), which models the stretch instead.
    """
    rng = np.random.default_rng(seed)
    u, v, w = np.ones(4) / 2, np.array([1, -1, 0, 0]) / np.sqrt(2), np.array([0, 0, 1, -1]) / np.sqrt(2)
    big = rng.normal(0, 0.3, (4800, 4)) + np.outer(rng.normal(0, 3, 4800), u)
    small = [rng.normal(0, 0.3, (600, 4)) + 2 * v + g * w for g in (0.0, 1.2)]
    return np.concatenate([big, *small])


@pytest.mark.parametrize("seed", [0, 1])
def test_choose_mixture_takes_tied_where_tied_and_diag_agree_against_full(seed):
    X = _elongated(seed)
    seeds = np.arange(4)
    info: dict = {}
    got = choose_mixture(X, 3, seeds, info=info)
    assert got.covariance_type == "tied" and info["covariance"] == "tied"
    assert info["ari"]["tied_diag"] - max(info["ari"]["full_tied"], info["ari"]["full_diag"]) >= CONSENSUS_MARGIN
    np.testing.assert_allclose(got.means_, fit_mixture(X, 3, seeds, covariance="tied").means_)
    assert choose_mixture(X, 3, seeds, margin=1.0).covariance_type == "full"  # no margin is reached


def test_choose_mixture_keeps_full_where_the_three_agree():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(m, 0.5, (500, 3)) for m in (0.0, 6.0, 12.0)])
    got = choose_mixture(X, 3, np.arange(2))
    assert got.covariance_type == "full"
    assert CONSENSUS_MARGIN > 0  # equal agreement (every ARI 1) never switches


def test_auto_is_full_where_full_is_chosen(noisy):
    """On the blob scene every covariance finds the blobs, so "auto" gives exactly the full labels."""
    pool = _pool(noisy)
    assert np.array_equal(initial_labels(pool, 4, 0, n_init=2), initial_labels(pool, 4, 0, n_init=2, covariance="full"))


def test_first_stage_lattice_and_quantisation_scale():
    """One digital number through the first stage: 1 / scale per z-scored band; 0 for a continuous band
    (up to float spacing); through a PCA, the steps combine."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 4, 5000) * 2.0, rng.normal(0, 1, 5000), rng.integers(0, 400, 5000) * 1.0])
    proj = Projection("zscore").fit(X)
    np.testing.assert_allclose(proj.lattice_[[0, 2]], [2.0, 1.0] / X[:, [0, 2]].std(axis=0), rtol=1e-3)
    assert proj.lattice_[1] < 1e-4
    pca = Projection("zscore", n_components=2).fit(X)
    assert pca.lattice_.shape == (2,) and (pca.lattice_ > 0).all()
    Z = proj.transform_block(X.T[:, :, None], np.ones((5000, 1), bool))[:, :, 0].T
    shrink = quantisation_scale(Z, proj.lattice_)  # 1e-3 x mean variance 1: only the four-level band
    assert shrink[0] == pytest.approx(np.sqrt(1e-3 * Z.var(axis=0).mean() / (proj.lattice_[0] ** 2 / 12)), rel=1e-6)
    assert shrink[1] == 1 and shrink[2] == 1


def _levels_scene(tmp_path):
    """Three fields (two continuous bands) and a third band of four levels in 6x6 blocks, unrelated to the
    fields, 85 % on one level: a 60 m cirrus band resampled to 10 m."""
    rng = np.random.default_rng(3)
    h = w = 96
    field = (np.arange(w)[None, :] * 3 // w).repeat(h, axis=0)
    bands = [200.0 + 60.0 * field + rng.normal(0, 20, (h, w)) for _ in range(2)]
    blocks = rng.choice([9, 10, 11, 12], p=[0.06, 0.85, 0.06, 0.03], size=(h // 6, w // 6))
    data = np.stack([*bands, np.kron(blocks, np.ones((6, 6)))]).round().astype(np.uint16)
    return write_raster(tmp_path / "levels.tif", data), field


def test_dequantised_mixture_is_not_taken_by_a_band_of_few_levels(tmp_path):
    """Over-clustered (K = 6 on 3 fields): without dequantisation some components sit on the cirrus
    band's levels across fields (measured purity 0.928, seeds 0 and 1); with it every cluster stays
    inside one field."""
    path, field = _levels_scene(tmp_path)
    pool = _pool(path)
    truth = field[pool.regions[0].valid]

    def purity(labels):
        table = np.zeros((6, 3))
        np.add.at(table, (labels, truth), 1)
        return table.max(axis=1).sum() / len(labels)

    info: dict = {}
    assert purity(initial_labels(pool, 6, 0, n_init=2, info=info)) > 0.99
    assert list(info["dequantised"]) == [2] and info["dequantised"][2] < 0.2  # only the cirrus band is scaled
    assert purity(initial_labels(pool, 6, 0, n_init=2, dequantise=False)) < 0.95
