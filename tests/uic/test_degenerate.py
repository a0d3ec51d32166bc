"""Scenes that make a Gaussian-mixture component collapse (issue 15), and scenes with too few values.

Heavily quantised bands with a large constant area (an undeclared zero collar, as in the
3-band uint16 ``landsat8_brazil`` clip) gave scikit-learn's "ill-defined empirical covariance"
error from the mixture initialisation; a scene with fewer distinct pixel values than K cannot
give K classes and must say so in one line.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from geouic.cli import main  # noqa: E402
from geouic.errors import ParameterError  # noqa: E402
from geouic.raster import open_raster  # noqa: E402
from geouic.uic.labels import count_distinct, fit_mixture  # noqa: E402
from tests.conftest import shared_data, write_raster  # noqa: E402
from tests.uic.conftest import FAST  # noqa: E402


def quantised_scene(size: int = 96, zero: float = 0.12, step: int = 200, seed: int = 0):
    """3 uint16 bands: a constant 0 strip (``zero`` of the rows) and three classes of
    checkerboard fields, values rounded to multiples of ``step``. Returns (data, labels 0..3)."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[0:size, 0:size]
    labels = 1 + (rr // 20 + cc // 20) % 3
    labels[: int(zero * size), :] = 0
    means = np.array([[0, 0, 0], [6000, 6400, 5800], [7000, 6600, 7400], [8000, 8100, 7900]])
    data = means[labels].transpose(2, 0, 1) + rng.normal(0, 300, (3, size, size)) * (labels > 0)
    return (np.round(data / step) * step).clip(0).astype(np.uint16), labels


def _zscored(data: np.ndarray) -> np.ndarray:
    X = data.reshape(data.shape[0], -1).T.astype(np.float32)
    return ((X - X.mean(0)) / X.std(0)).astype(np.float32)


def test_plain_float32_mixture_collapses_on_the_quantised_scene():
    """The regression scene reproduces the failure of a plain scikit-learn fit (the old code).

    Whether the plain float32 fit collapses depends on the machine as well as on the versions: on
    2026-12-02 one machine with scikit-learn 1.9.1 and numpy 2.4.6, the versions it had collapsed
    with before, fitted the scene without the error. There the scene only shows that
    :func:`fit_mixture` is unaffected (the next test); where the plain fit fails, the failure must
    be the one the guard is for.
    """
    import sklearn
    from sklearn.mixture import GaussianMixture

    Z = _zscored(quantised_scene()[0])
    try:
        GaussianMixture(4, covariance_type="diag", random_state=0, reg_covar=1e-4).fit(Z)
    except ValueError as exc:
        assert "ill-defined empirical covariance" in str(exc)
    else:
        pytest.skip(f"scikit-learn {sklearn.__version__} fits the quantised scene in float32 without collapsing here")


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_fit_mixture_survives_the_collapse(covariance):
    data, labels = quantised_scene()
    Z = _zscored(data)
    gmm = fit_mixture(Z, 4, np.arange(3), covariance=covariance)
    pred = gmm.predict(Z.astype(np.float64))
    # the constant strip is one component of its own
    strip = pred[labels.ravel() == 0]
    assert len(np.unique(strip)) == 1
    assert not np.isin(strip[0], pred[labels.ravel() > 0])


def test_uic_classifies_the_quantised_scene(tmp_path):
    data, labels = quantised_scene()
    path = write_raster(tmp_path / "quantised.tif", data)
    from geouic.engine import make_engine

    with open_raster(path) as src:
        engine = make_engine("uic", n_classes=4, seed=0, **FAST).fit([src])
        pred = engine.predict_block(*src.read())["labels"]
    assert set(np.unique(pred)) == {1, 2, 3, 4}


def test_count_distinct_counts_rows():
    X = np.array([[1, 2], [1, 2], [2, 1], [0, 0], [2, 1]], np.float32)
    assert count_distinct(X) == 3 == len(np.unique(X, axis=0))
    assert count_distinct(np.zeros((0, 3))) == 0


def _few_values_scene(tmp_path):
    rng = np.random.default_rng(0)
    data = np.repeat(rng.choice([100, 900, 2000], size=(1, 32, 32)), 4, axis=0).astype(np.uint16)
    return write_raster(tmp_path / "three_values.tif", data)


def test_fewer_distinct_values_than_classes_is_one_clear_error(tmp_path):
    path = _few_values_scene(tmp_path)
    from geouic.engine import make_engine

    with open_raster(path) as src, pytest.raises(ParameterError) as info:
        make_engine("uic", n_classes=5, seed=0, **FAST).fit([src])
    msg = str(info.value)
    assert "three_values.tif" in msg and "only 3 distinct values" in msg and "lower n_classes to 3" in msg


def test_fewer_distinct_values_than_classes_exits_2(tmp_path):
    path = _few_values_scene(tmp_path)
    out = tmp_path / "c.tif"
    result = CliRunner().invoke(main, ["classify", str(path), "--classes", "5", "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "only 3 distinct values" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_landsat8_brazil_initialises_and_classifies():
    """The real scene of issue 15: the default initialisation on its pool gives K classes."""
    path = shared_data("landsat8_brazil/image.tif")
    from geouic.engine import make_engine

    with open_raster(path) as src:
        engine = make_engine("uic", n_classes=4, seed=0, **FAST).fit([src])
        data, valid = src.read()
    pred = engine.predict_block(data[:, :512, :512], valid[:512, :512])["labels"]
    assert len(np.unique(pred)) >= 3
    assert engine.n_classes_ == 4
