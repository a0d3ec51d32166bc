"""The UIC engine through the public API: learning, tiling, determinism, model files, devices."""

from __future__ import annotations

from typing import cast

import numpy as np
import pytest
import rasterio
from sklearn.metrics import v_measure_score

from tests.conftest import write_raster
from tests.uic.conftest import FAST, blob_labels, blob_scene

torch = pytest.importorskip("torch")

from geouic.engine import make_engine  # noqa: E402
from geouic.errors import ModelError, NotFittedError, ParameterError  # noqa: E402
from geouic.model import load_model, save_model  # noqa: E402
from geouic.pipeline import apply_engine  # noqa: E402
from geouic.raster import open_raster  # noqa: E402
from geouic.uic import UICEngine  # noqa: E402


def _predict(engine, path):
    with open_raster(path) as src:
        data, valid = src.read()
    return engine.predict_block(data, valid)["labels"]


def test_make_engine_builds_uic():
    engine = make_engine("uic", n_classes=5, seed=3, epochs=2)
    assert isinstance(engine, UICEngine)
    assert (engine.config.n_classes, engine.config.seed, engine.config.epochs) == (5, 3, 2)
    assert engine.halo >= 1
    with pytest.raises(NotFittedError):
        engine.predict_block(np.zeros((3, 4, 4), np.float32), np.ones((4, 4), bool))


def test_make_engine_forwards_the_sample_size():
    assert cast(UICEngine, make_engine("uic", n_classes=4, sample_size=5000)).config.sample_size == 5000


def test_learns_a_tiny_coherent_scene(fitted, blobs):
    path, labels = blobs
    pred = _predict(fitted, path)
    assert pred.dtype == np.uint16 and pred.min() >= 1 and pred.max() <= 4
    assert v_measure_score(labels.ravel(), pred.ravel()) >= 0.9


def test_tiling_is_seamless(fitted, blobs, tmp_path):
    """The scene predicted in one window or in many 16x16 windows gives identical labels."""
    path, _ = blobs
    with open_raster(path) as src:
        assert len(src.windows(mem_limit_mb=0.02, halo=fitted.halo)) > 4
        assert len(src.windows(mem_limit_mb=64, halo=fitted.halo)) == 1
        one = apply_engine(src, fitted, tmp_path / "one.tif", mem_limit_mb=64, workers=1)
        many = apply_engine(src, fitted, tmp_path / "many.tif", mem_limit_mb=0.02, workers=2)
    with rasterio.open(one.path) as a, rasterio.open(many.path) as b:
        assert np.array_equal(a.read(1), b.read(1))
    np.testing.assert_array_equal(one.counts, many.counts)


def test_halo_covers_the_receptive_field(fitted):
    assert fitted.halo >= fitted.net_.radius


def test_same_seed_same_map(blobs, fitted):
    path, _ = blobs
    with open_raster(path) as src:
        again = cast(UICEngine, make_engine("uic", n_classes=4, seed=0, **FAST).fit([src]))
    assert np.array_equal(_predict(again, path), _predict(fitted, path))
    for (k, a), (_, b) in zip(fitted.net_.state_dict().items(), again.net_.state_dict().items()):
        assert torch.equal(a, b), k


def test_model_round_trip(fitted, blobs, tmp_path):
    path, _ = blobs
    model = save_model(fitted, tmp_path / "m.geouic")
    loaded = load_model(model)
    assert isinstance(loaded, UICEngine)
    assert np.array_equal(_predict(loaded, path), _predict(fitted, path))
    meta, arrays = loaded.get_state()
    assert meta["engine"] == "uic" and meta["n_classes"] == 4
    assert meta["band_names"] == ["b1", "b2", "b3", "b4", "b5"]
    assert meta["arch"]["receptive_radius"] + meta["map_field"]["iterations"] == loaded.halo
    assert meta["map_field"] == {"beta": 4.0, "iterations": 5}
    assert meta["normalizer"]["method"] == "zscore"
    assert "torch_version" in meta and meta["training"]["config"]["patch_size"] == 16
    # the starting mixture's covariance and the agreements that chose it (blobs: full, all agree)
    assert meta["training"]["mixture"] == fitted.mixture_ and fitted.mixture_["covariance"] == "full"
    assert set(fitted.mixture_["ari"]) == {"full_tied", "full_diag", "tied_diag"}
    assert any(k.startswith("net.") for k in arrays) and "norm.center" in arrays
    # the file holds plain arrays and JSON: no pickle
    from safetensors import safe_open

    with safe_open(str(model), framework="np") as f:
        assert all(f.get_tensor(k).dtype != object for k in f.keys())


def test_band_mismatch_is_refused(fitted, tmp_path):
    other = write_raster(tmp_path / "three.tif", np.ones((3, 16, 16), np.uint16))
    with open_raster(other) as src, pytest.raises(ModelError, match="trained on 5"):
        fitted.check_bands(src)
    with open_raster(other) as src, pytest.raises(ModelError):
        apply_engine(src, fitted, tmp_path / "out.tif")


def test_extra_outputs(fitted, blobs_nodata):
    path, labels = blobs_nodata
    with open_raster(path) as src:
        data, valid = src.read()
    out = fitted.predict_block(data, valid, outputs=frozenset({"confidence", "entropy", "memberships"}))
    assert np.all(out["labels"][labels == 0] == 0) and np.all(out["labels"][labels > 0] > 0)
    conf, ent, mem = out["confidence"], out["entropy"], out["memberships"]
    assert conf.shape == labels.shape and mem.shape == (4, *labels.shape)
    v = labels > 0
    # confidence: the network's probability of the map's label (below 1/K where the field overrode it)
    assert np.all(conf[v] >= 0) and np.all(conf[v] <= 1 + 1e-6)
    assert np.median(conf[v]) > 0.5
    assert np.all(ent[v] >= -1e-6) and np.all(ent[v] <= np.log(4) + 1e-5)
    np.testing.assert_allclose(mem[:, v].sum(0), 1.0, atol=1e-5)
    assert np.all(conf[~v] == 0) and np.all(mem[:, ~v] == 0)
    # the map's labels are the argmax of the memberships
    assert np.array_equal(out["labels"][v], mem[:, v].argmax(0) + 1)


def test_nodata_scene_trains_and_stays_nodata(blobs_nodata, tmp_path):
    path, labels = blobs_nodata
    with open_raster(path) as src:
        engine = make_engine("uic", n_classes=4, seed=0, **FAST).fit([src])
        res = apply_engine(src, engine, tmp_path / "map.tif")
    with rasterio.open(res.path) as ds:
        out = ds.read(1)
    assert np.all(out[labels == 0] == 0) and np.all(out[labels > 0] > 0)
    assert v_measure_score(labels[labels > 0], out[labels > 0]) >= 0.85


def test_no_collapse_with_more_classes_than_fields(tmp_path):
    """K = 12 on a 4-class scene: the classes are repaired instead of vanishing.

    Default training (one member, to keep it to about ten seconds): the FAST settings are too
    short for the moving average of the weights to take the repaired classes up, and the requirement is
    about the defaults.
    """
    labels = blob_labels(64, 4, seed=1)
    path = write_raster(tmp_path / "s.tif", blob_scene(labels, seed=1), nodata=0)
    with open_raster(path) as src:
        engine = cast(UICEngine, make_engine("uic", n_classes=12, seed=0, members=1).fit([src]))
    # the network keeps the repaired classes; the map's Potts field then merges the ones that are
    # only scattered fragments of a homogeneous field (measured: 8 of 12 here)
    engine.field_ = {"beta": 0.0, "iterations": 0}
    assert len(np.unique(_predict(engine, path))) >= 11


def test_several_scenes_share_classes(blobs, tmp_path):
    """Training on two scenes: the classes mean the same in both."""
    path, labels = blobs
    shifted = write_raster(tmp_path / "b.tif", blob_scene(labels, seed=5), nodata=0)
    with open_raster(path) as a, open_raster(shifted) as b:
        engine = make_engine("uic", n_classes=4, seed=0, **FAST).fit([a, b])
    pa, pb = _predict(engine, path), _predict(engine, shifted)
    assert np.mean(pa == pb) >= 0.9  # same fields, same class numbers


@pytest.mark.parametrize("kwargs, match", [
    ({"device": "tpu"}, "device"),
    ({"members": 0}, "members"),
    ({"balance": "equal"}, "balance does not apply"),
    ({"lr": 2.0}, "lr=2.0 is invalid"),
    ({"agreement": 0}, "agreement"),
    ({"bogus": 1}, "bogus"),
])
def test_parameter_errors(blobs, kwargs, match):
    with open_raster(blobs[0]) as src, pytest.raises(ParameterError, match=match):
        make_engine("uic", n_classes=4, seed=0, **{**FAST, **kwargs}).fit([src])


def test_device_auto_and_cpu(fitted):
    fitted.set_device("cpu")
    assert fitted.net_.head.weight.device.type == "cpu"
    fitted.set_device("auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert fitted.net_.head.weight.device.type == expected
    fitted.set_device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.cuda
def test_cuda_predicts_like_cpu(fitted, blobs):
    path, _ = blobs
    cpu = _predict(fitted, path)
    fitted.set_device("cuda")
    try:
        gpu = _predict(fitted, path)
    finally:
        fitted.set_device("cpu")
    assert np.mean(cpu == gpu) >= 0.999


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.cuda
def test_cuda_trains(blobs):
    path, labels = blobs
    with open_raster(path) as src:
        engine = make_engine("uic", n_classes=4, seed=0, device="cuda", **FAST).fit([src])
    assert v_measure_score(labels.ravel(), _predict(engine, path).ravel()) >= 0.9


def test_cuda_refused_without_gpu(blobs):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with open_raster(blobs[0]) as src, pytest.raises(ParameterError, match="CUDA"):
        make_engine("uic", n_classes=4, seed=0, device="cuda", **FAST).fit([src])


def test_interrupt_stops_the_other_members_without_waiting(blobs, monkeypatch):
    """Ctrl-C in one member: fit raises at once and the others see the stop flag (issue 10)."""
    import threading
    import time

    import geouic.uic.engine as engine_module

    seen: list[bool] = []
    started = threading.Event()

    def fake_member(pool, initial, cfg, *, seed, arch, device, stop, **log):
        if not started.is_set():
            started.set()
            time.sleep(0.05)
            raise KeyboardInterrupt
        seen.append(stop.wait(timeout=30))  # a long member: only the stop flag ends it early
        raise AssertionError("stopped")

    monkeypatch.setattr(engine_module, "train_member", fake_member)
    with open_raster(blobs[0]) as src:
        engine = make_engine("uic", n_classes=4, seed=0, threads=2, device="cpu", **{**FAST, "members": 2})
        t0 = time.perf_counter()
        with pytest.raises(KeyboardInterrupt):
            engine.fit([src])
        assert time.perf_counter() - t0 < 20  # the mixture is fitted first; the members are not waited for
    for _ in range(100):
        if seen:
            break
        time.sleep(0.02)
    assert seen == [True]


def test_model_files_from_before_the_folded_configuration_still_load(fitted, blobs):
    """Old files name the removed training knobs (teacher, balance, warm-up): they load and predict the same."""
    from geouic.engine import engine_from_state

    meta, arrays = fitted.get_state()
    old = {**meta, "teacher": "ema", "balance": "entropy", "epochs": None, "train": {"warmup_epochs": 3, "crop": 4}}
    for key in ("agreement", "steps_per_epoch"):
        old.pop(key)
    loaded = cast(UICEngine, engine_from_state(old, arrays))
    assert np.array_equal(_predict(loaded, blobs[0]), _predict(fitted, blobs[0]))
    assert loaded.config.crop == 4 and loaded.config.epochs == 12


def test_fit_reports_every_member_epoch(blobs):
    from geouic.raster import open_raster

    calls = []
    with open_raster(blobs[0]) as src:
        make_engine("uic", n_classes=4, seed=0, **{**FAST, "members": 2, "epochs": 3}).fit(
            [src], progress=lambda advance, total, note: calls.append((advance, total, note)))
    assert {total for _, total, _ in calls} == {6} and sum(a for a, _, _ in calls) == 6
    notes = [n for _, _, n in calls if n]
    assert any(n.startswith("member 1/2, epoch 1/3, NMI ") for n in notes)
    assert any(n.startswith("member 2/2, epoch 1/3, NMI ") for n in notes)


def test_model_files_from_before_the_map_field_predict_as_trained(fitted, blobs):
    """A file without ``map_field`` (written before the map had a Potts field) predicts with the
    network's own argmax and the network's halo, as it did; the field changes only the map."""
    from geouic.engine import engine_from_state
    from geouic.raster import open_raster

    meta, arrays = fitted.get_state()
    old = {k: v for k, v in meta.items() if k != "map_field"}
    loaded = cast(UICEngine, engine_from_state(old, arrays))
    assert loaded.field_ == {"beta": 0.0, "iterations": 0} and loaded.halo == fitted.net_.radius
    with open_raster(blobs[0]) as src:
        data, valid = src.read()
    plain = loaded.predict_block(data, valid, outputs=frozenset({"memberships"}))
    x = torch.from_numpy(loaded.projection_.transform_block(data, valid))[None]
    with torch.no_grad():
        argmax = loaded.net_(x)[0].argmax(0).numpy() + 1
    assert np.array_equal(plain["labels"][valid], argmax[valid])
    assert fitted.field_ == {"beta": 4.0, "iterations": 5} and fitted.halo == fitted.net_.radius + 5


def test_potts_field_is_exact_in_any_window():
    """The map's field on a window with ``iterations`` pixels of context equals it on the whole array."""
    from geouic.uic.labels import potts_field, potts_smooth

    gen = torch.Generator().manual_seed(0)
    logp = torch.log_softmax(torch.randn(4, 40, 50, generator=gen) * 3, 0)
    valid = torch.rand(40, 50, generator=gen) > 0.1
    whole = potts_field(logp, valid, beta=4.0, iterations=5)
    part = potts_field(logp[:, 7:33, 10:45], valid[7:33, 10:45], beta=4.0, iterations=5)
    assert torch.equal(whole[:, 12:28, 15:40], part[:, 5:21, 5:30])
    # the same mean field as the starting labels' numpy version
    ref = potts_smooth(logp.numpy(), valid.numpy(), beta=4.0, iterations=5)
    np.testing.assert_allclose(whole.numpy(), ref, atol=1e-5)
    assert torch.equal(potts_field(logp, valid, beta=0.0), torch.softmax(logp, 0) * valid)


def test_one_member_gives_the_map_of_two(blobs):
    """With two members the medoid is a tie that keeps the first (unless it is degenerate), and
    member i's seed does not depend on how many are trained: one member gives the same map."""
    maps = []
    for members in (1, 2):
        with open_raster(blobs[0]) as src:
            engine = cast(UICEngine, make_engine("uic", n_classes=4, seed=0, **{**FAST, "members": members}).fit([src]))
        assert engine.chosen_member_ == 0
        maps.append(_predict(engine, blobs[0]))
    assert np.array_equal(maps[0], maps[1])


def test_a_spare_member_replaces_a_degenerate_one(blobs, monkeypatch):
    """When every member's map is degenerate, one spare is trained with the next seed, counted
    in the progress total, and kept when it is not degenerate."""
    import geouic.uic.engine as uic_engine

    real = uic_engine.degenerate
    first: list[np.ndarray] = []

    def first_collapses(labels, k, **kw):
        if not first:
            first.append(labels)
        return labels is first[0] or real(labels, k, **kw)  # the first member's map counts as collapsed

    monkeypatch.setattr(uic_engine, "degenerate", first_collapses)
    calls = []
    with open_raster(blobs[0]) as src:
        engine = cast(UICEngine, make_engine("uic", n_classes=4, seed=0, **{**FAST, "epochs": 2}).fit(
            [src], progress=lambda advance, total, note: calls.append((advance, total, note))))
    assert engine.chosen_member_ == 1 and np.asarray(engine.member_nmi_).shape == (2, 2)
    assert calls[-1][1] == 4 and sum(a for a, _, _ in calls) == 4
    assert any(n and n.startswith("member 2/2, epoch 1/2") for _, _, n in calls)


def test_first_stage_and_starting_labels_run_on_one_blas_thread(blobs, monkeypatch):
    """The mixture's many small BLAS products spin when BLAS threads share cores with another
    process (salinas_150's fit took 137 s against 4 s on a busy 2-core machine): the first stage
    and the starting labels run with one BLAS thread, as the pixel engines' fits do."""
    from threadpoolctl import threadpool_info

    import geouic.uic.engine as uic_engine

    seen: list[int] = []
    real = uic_engine.initial_labels

    def spy(*args, **kwargs):
        seen.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
        return real(*args, **kwargs)

    monkeypatch.setattr(uic_engine, "initial_labels", spy)
    engine = make_engine("uic", n_classes=4, seed=0, **FAST)
    with open_raster(blobs[0]) as src:
        engine.fit([src])
    assert seen and set(seen) == {1}
