"""The method registry and make_engine: every common parameter reaches every method that takes it."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from geouic import engine as engine_module
from geouic.engine import PixelEngine, engine_from_state, make_engine
from geouic.errors import ModelError, ParameterError
from geouic.methods import COMMON_PARAMS, REGISTRY, get_method, methods_taking
from geouic.raster import open_raster

METHODS = list(REGISTRY)
GIVEN = {"n_classes": 7, "seed": 3, "sample_size": 5000, "normalize": "robust"}


def reached(engine, spec, param):
    """Where the built engine holds a common parameter."""
    if spec.pixelwise and param in spec.forward:  # handed to the estimator under its own name
        return getattr(engine.estimator, spec.forward[param])
    return getattr(engine, param)


def common_for(method):
    return {p: v for p, v in GIVEN.items() if get_method(method).takes(p)}


@pytest.mark.parametrize("method", METHODS)
def test_sample_size_is_kept_for_every_method(method):
    kwargs = {"n_classes": 4} if get_method(method).takes("n_classes") else {}
    assert make_engine(method, sample_size=5000, **kwargs).sample_size == 5000


@pytest.mark.parametrize("method", METHODS)
def test_every_common_parameter_reaches_every_method(method):
    spec = get_method(method)
    engine = make_engine(method, **common_for(method))
    assert engine.method == method and engine.supervised == spec.supervised
    for param in spec.common:
        assert reached(engine, spec, param) == GIVEN[param], param
    if spec.pixelwise:  # the wrapper holds the sampling and normalisation parameters
        assert (engine.sample_size, engine.normalize, engine.seed) == (5000, "robust", 3)
        assert engine.describe()["sample_size"] == 5000


def test_every_method_takes_every_common_parameter_or_says_why():
    for spec in REGISTRY.values():
        missing = set(COMMON_PARAMS) - spec.common
        assert not missing or spec.not_common, spec.name


@pytest.mark.parametrize("method", [m for m in METHODS if get_method(m).pixelwise and not get_method(m).supervised])
def test_sample_size_is_the_number_of_pixels_fitted(quadrants, method):
    path, _ = quadrants
    with open_raster(path) as src:
        engine = make_engine(method, n_classes=4, seed=0, sample_size=500).fit([src])
    assert len(engine.estimator.labels_) == 500


@pytest.mark.parametrize("method", [m for m in METHODS if not get_method(m).takes("n_classes")])
def test_a_common_parameter_a_method_does_not_take_is_refused(method):
    with pytest.raises(ParameterError, match=f"n_classes does not apply to method '{method}'") as info:
        make_engine(method, n_classes=5)
    assert info.value.params == ("n_classes",)


@pytest.mark.parametrize("method", [m for m in METHODS if get_method(m).takes("n_classes")])
def test_clustering_methods_need_the_number_of_classes(method):
    with pytest.raises(ParameterError, match="needs n_classes"):
        make_engine(method)


@pytest.mark.parametrize("param, value, message", [
    ("n_classes", 1, "n_classes=1 is invalid: must be between 2 and 65535"),
    ("n_classes", 65536, "n_classes=65536 is invalid"),
    ("n_classes", 2.5, "n_classes=2.5 is invalid"),
    ("n_classes", True, "n_classes=True is invalid"),
    ("seed", -1, "seed=-1 is invalid"),
    ("seed", "zero", "seed='zero' is invalid"),
    ("sample_size", 0, "sample_size=0 is invalid"),
    ("normalize", "minmax", "normalize='minmax' is invalid: choose one of zscore, robust, none"),
])
@pytest.mark.parametrize("method", ["kmeans", "uic"])
def test_invalid_common_parameters_name_the_parameter(method, param, value, message):
    kwargs = {"n_classes": 4, param: value}
    with pytest.raises(ParameterError, match=message) as info:
        make_engine(method, **kwargs)
    assert info.value.params == (param,)


def test_numpy_integers_are_accepted():
    engine = make_engine("kmeans", n_classes=np.int64(5), seed=np.uint8(2), sample_size=np.int32(300))
    assert engine.estimator.n_clusters == 5 and type(engine.estimator.n_clusters) is int
    assert engine.seed == 2 and engine.sample_size == 300


def test_unknown_method_names_the_choices():
    with pytest.raises(ParameterError, match="method='dbscan' is unknown: choose one of uic, kmeans"):
        make_engine("dbscan", n_classes=3)


def test_a_parameter_of_another_method_names_the_methods_that_take_it():
    with pytest.raises(ParameterError, match=r"m does not apply to method 'kmeans' \(it applies to method fcm\)"):
        make_engine("kmeans", n_classes=3, m=2.0)
    with pytest.raises(ParameterError, match="no method takes it") as info:
        make_engine("isodata", n_classes=3, fuzziness=2.0)
    assert info.value.params == ("fuzziness",)


def test_method_parameters_are_forwarded():
    engine = make_engine("isodata", n_classes=6, min_class_size=9, max_iter=4)
    assert (engine.estimator.min_class_size, engine.estimator.max_iter) == (9, 4)
    assert make_engine("mlc", reject=0.99, priors="sample").estimator.get_params()["reject"] == 0.99
    assert make_engine("uic", n_classes=4, epochs=2, members=1).config.epochs == 2


@pytest.mark.parametrize("method", METHODS)
def test_registry_names_what_the_factory_takes(method):
    spec = get_method(method)
    signature = inspect.signature(spec.load().__init__).parameters
    keywords = {n for n, p in signature.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)} - {"self"}
    assert set(spec.params) <= keywords, set(spec.params) - keywords
    assert set(spec.forward.values()) <= keywords
    if not spec.open_params:  # every parameter of the factory is reachable through make_engine
        assert keywords == set(spec.params) | set(spec.forward.values())


def test_methods_taking():
    assert methods_taking("max_iter") == ["kmeans", "isodata", "fcm"]
    assert methods_taking("n_classes") == ["uic", "kmeans", "isodata", "fcm"]
    assert methods_taking("reject") == ["mlc"]
    assert methods_taking("no_such_parameter") == []


def test_legacy_tables_are_views_of_the_registry():
    assert engine_module.METHODS == ("uic", "kmeans", "isodata", "fcm", "mlc")
    assert engine_module.SUPERVISED == {"mlc"}
    assert engine_module.ENGINES == {"uic": "geouic.uic:UICEngine"}
    assert engine_module.ESTIMATORS["kmeans"] == "geouic.cluster:KMeans"
    assert set(engine_module.ESTIMATORS) | set(engine_module.ENGINES) == set(REGISTRY)


def test_model_state_of_unknown_engines_and_methods():
    with pytest.raises(ModelError, match="unknown engine 'forest'"):
        engine_from_state({"engine": "forest"}, {})
    with pytest.raises(ModelError, match="unknown method 'forest'"):
        PixelEngine.from_state({"engine": "pixel", "method": "forest"}, {})
    with pytest.raises(ModelError, match="unknown method 'uic'"):  # not a pixel-wise method
        PixelEngine.from_state({"engine": "pixel", "method": "uic"}, {})


def test_unsupervised_fit_with_too_few_pixels_names_n_classes(tmp_path):
    from tests.conftest import write_raster

    data = np.zeros((2, 16, 16), np.uint16)
    data[:, 0, :3] = [[5, 6, 7], [8, 9, 10]]
    path = write_raster(tmp_path / "sparse.tif", data, nodata=0)
    with open_raster(path) as src, pytest.raises(ParameterError, match="only 3 valid pixels for 4 classes") as info:
        make_engine("kmeans", n_classes=4).fit([src])
    assert info.value.params == ("n_classes",)
