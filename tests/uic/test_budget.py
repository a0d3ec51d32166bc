"""The UIC fit's memory budget: the pool and the work strips follow ``mem_limit_mb``, the labels do not."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from geouic.errors import ParameterError
from geouic.raster import open_raster
from geouic.sampling import sample_pixels
from geouic.uic.budget import MIN_CHUNK_PIXELS, label_dtype, plan_fit, pool_bytes_per_pixel, strip_bytes_per_pixel
from geouic.uic.data import PatchPool, Projection, SmoothedFeatures
from geouic.uic.labels import initial_labels
from tests.conftest import write_raster
from tests.uic.conftest import FAST, blob_labels, blob_scene

torch = pytest.importorskip("torch")


def _pool(path, pool_pixels=1 << 16, n_components=16):
    with open_raster(path) as src:
        proj = Projection(n_components=n_components).fit(sample_pixels([src], 5000, seed=0))
        return PatchPool.from_sources([src], proj, pool_pixels=pool_pixels, seed=0)


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A 96x80 scene in 16x16 tiles with a nodata hole: several regions when the pool is partial."""
    labels = blob_labels(size=96, k=4, seed=3)[:, :80]
    data = blob_scene(labels, n_bands=5, seed=3)
    data[:, 30:37, 10:50] = 0
    return write_raster(tmp_path_factory.mktemp("budget") / "wide.tif", data, nodata=0)


def test_no_limit_keeps_the_pool_and_a_limit_shrinks_it_in_proportion(caplog):
    """The pool is shrunk only below what it needs, in proportion to the budget, with a warning."""
    asked = 1 << 20
    assert plan_fit(None, channels=16, k=12, pool_pixels=asked, members_at_once=2).pool_pixels == asked
    per = pool_bytes_per_pixel(16, 12, 2)
    with caplog.at_level(logging.WARNING, logger="geouic.uic.budget"):
        plan = plan_fit(16, channels=16, k=12, pool_pixels=asked, members_at_once=2)
    room = 16 * 2**20 - MIN_CHUNK_PIXELS * strip_bytes_per_pixel(16, 12)  # one smallest work strip stays free
    assert plan.shrunk and plan.pool_pixels == int(room // per)
    assert plan.pool_pixels * per + plan.chunk_pixels(plan.pool_pixels) * strip_bytes_per_pixel(16, 12) <= 16 * 2**20
    assert "raise --mem-limit" in caplog.text and str(plan.pool_pixels) in caplog.text
    half = plan_fit(8, channels=16, k=12, pool_pixels=asked, members_at_once=2)
    assert half.pool_pixels == int((room - 8 * 2**20) // per)


def test_default_limit_holds_the_default_pool_of_few_channels():
    """At 64 MB the 1 Mpx default pool of up to 11 channels is not shrunk (default maps unchanged)."""
    for channels in (3, 6, 10, 11):
        assert not plan_fit(64, channels=channels, k=12, pool_pixels=1 << 20, members_at_once=2).shrunk
    assert not plan_fit(64, channels=16, k=12, pool_pixels=1 << 20, members_at_once=2, scene_pixels=800_000).shrunk
    assert plan_fit(64, channels=16, k=12, pool_pixels=1 << 20, members_at_once=2).shrunk


def test_chunks_grow_with_the_budget_and_fit_in_it():
    small = plan_fit(16, channels=8, k=6, pool_pixels=1 << 16, members_at_once=2)
    big = plan_fit(256, channels=8, k=6, pool_pixels=1 << 16, members_at_once=2)
    assert big.chunk_pixels(1 << 16) > 10 * small.chunk_pixels(1 << 16)
    held = (1 << 16) * small.pool_bytes_per_pixel
    assert held + small.chunk_pixels(1 << 16) * strip_bytes_per_pixel(8, 6) <= 16 * 2**20


@pytest.mark.parametrize("bad", [0, -5, "64"])
def test_bad_limit_is_refused_with_the_fix(bad):
    with pytest.raises(ParameterError, match="mem_limit_mb=.*--mem-limit"):
        plan_fit(bad, channels=3, k=4, pool_pixels=1 << 16, members_at_once=1)


def test_label_dtype_is_compact():
    assert label_dtype(12) == np.int16 and label_dtype(40000) == np.int32


def test_strips_cover_each_region_within_the_chunk(wide):
    pool = _pool(wide)
    for i, reg in enumerate(pool.regions):
        rows, cols = reg.valid.shape
        strips = pool.strips(i, 700, halo=5)
        assert [s[0] for s in strips] == sorted(s[0] for s in strips) and strips[0][0] == 0
        assert all(a[1] == b[0] for a, b in zip(strips, strips[1:])) and strips[-1][1] == rows
        assert all((b - a) * cols <= 700 or r1 - r0 == 1 for r0, r1, a, b in strips)
        assert all(a == max(0, r0 - 5) and b == min(rows, r1 + 5) for r0, r1, a, b in strips)
        assert pool.strips(i, None, 5) == [(0, rows, 0, rows)]


def test_smoothed_features_on_demand_equal_the_whole(wide):
    pool = _pool(wide, pool_pixels=3000)
    whole = pool.smoothed_features(pool.geometry).astype(np.float64)
    feats = SmoothedFeatures(pool, pool.geometry)
    pick = np.random.default_rng(0).choice(pool.n_valid, 500, replace=False)
    assert np.array_equal(feats.rows(pick), whole[pick])
    assert np.array_equal(feats.rows(None), whole)
    start = 0
    for i, reg in enumerate(pool.regions):
        n = int(reg.valid[:9].sum())
        assert np.array_equal(feats.strip(i, 0, 9), whole[start : start + n])
        start += int(reg.valid.sum())


@pytest.mark.parametrize("pool_pixels", [1 << 16, 3000])
def test_starting_labels_do_not_depend_on_the_strips(wide, pool_pixels):
    """One whole region or many strips with a halo: the same labels (the median, posterior and
    field are computed strip by strip)."""
    pool = _pool(wide, pool_pixels)
    whole = initial_labels(pool, 4, 0, n_init=1)
    for chunk in (900, 2000):
        assert max(pool.strips(0, chunk, 5), key=lambda s: s[1] - s[0])[1] < pool.regions[0].valid.shape[0] \
            or len(pool.regions) > 1
        assert np.array_equal(initial_labels(pool, 4, 0, n_init=1, chunk_pixels=chunk), whole)
    assert np.array_equal(initial_labels(pool, 4, 0, n_init=1, beta=0, chunk_pixels=900),
                          initial_labels(pool, 4, 0, n_init=1, beta=0))


def test_strips_of_nodata_rows_are_skipped(tmp_path):
    """A scene whose last rows are nodata, cut into strips that hold none of its valid pixels
    (nc_landsat7 at K = 21 failed so: a mixture posterior of 0 pixels): the same labels as whole."""
    data = blob_scene(blob_labels(size=48, k=4, seed=5), n_bands=5, seed=5)
    data[:, 30:, :] = 0
    pool = _pool(write_raster(tmp_path / "bottom.tif", data, nodata=0))
    assert len(pool.regions) == 1 and not pool.regions[0].valid[30:].any()
    assert any(not pool.regions[0].valid[a:b].any() for _, _, a, b in pool.strips(0, 300, 5))
    whole = initial_labels(pool, 4, 0, n_init=1)
    assert np.array_equal(initial_labels(pool, 4, 0, n_init=1, chunk_pixels=300), whole)
    assert np.array_equal(initial_labels(pool, 4, 0, n_init=1, beta=0, chunk_pixels=300),
                          initial_labels(pool, 4, 0, n_init=1, beta=0))


def test_pool_labels_are_the_argmax_of_the_logits(wide):
    from geouic.uic.model import build_net, init_weights
    from geouic.uic.train import predict_pool

    pool = _pool(wide)
    net = build_net(pool.n_channels, 5, {"hidden": 8, "n_spatial": 1, "kernel": 3})
    init_weights(net, torch.Generator().manual_seed(0))
    logits = predict_pool(net, pool, torch.device("cpu"))
    labels = predict_pool(net, pool, torch.device("cpu"), what="labels")
    assert labels.dtype == np.int16 and np.array_equal(labels, logits.argmax(1))


def test_fit_pool_follows_the_budget(tmp_path, caplog):
    from geouic.uic import UICEngine

    labels = blob_labels(size=256, k=4, seed=1)
    path = write_raster(tmp_path / "big.tif", blob_scene(labels, n_bands=5, seed=1), nodata=0)  # 128x128 units
    with open_raster(path) as src:
        free = UICEngine(4, **FAST).fit([src])
        with caplog.at_level(logging.WARNING, logger="geouic.uic.budget"):
            tight = UICEngine(4, **FAST).fit([src], mem_limit_mb=2)
    assert free.fit_memory_["pool_pixels"] == 256 * 256 and free.fit_memory_["mem_limit_mb"] is None
    asked = int((2 * 2**20 - MIN_CHUNK_PIXELS * strip_bytes_per_pixel(5, 4)) // pool_bytes_per_pixel(5, 4, 1))
    # the pool is read in whole block-aligned units: it stops at the first unit past its share
    assert asked <= tight.fit_memory_["pool_pixels"] < asked + 128 * 128
    assert "training pool is" in caplog.text
    assert tight.get_state()[0]["training"]["memory"]["mem_limit_mb"] == 2
    caplog.clear()
    with open_raster(path) as src, caplog.at_level(logging.WARNING, logger="geouic.uic.budget"):
        roomy = UICEngine(4, **FAST).fit([src], mem_limit_mb=8)  # holds the whole scene: not shrunk, no warning
    assert roomy.fit_memory_["pool_pixels"] == 256 * 256 and "training pool is" not in caplog.text


def test_pipeline_passes_the_budget_only_to_engines_that_take_it(wide):
    from geouic.engine import make_engine
    from geouic.pipeline import fit_engine

    seen = {}

    class Old:
        def fit(self, sources, *, training=None, progress=None):
            seen["old"] = True
            return self

    class New:
        def fit(self, sources, *, training=None, progress=None, mem_limit_mb=None):
            seen["new"] = mem_limit_mb
            return self

    with open_raster(wide) as src:
        fit_engine(Old(), [src], mem_limit_mb=32)
        fit_engine(New(), [src], mem_limit_mb=32)
        km = fit_engine(make_engine("kmeans", n_classes=3), [src], mem_limit_mb=32)
    assert seen == {"old": True, "new": 32} and km.n_classes_ == 3


def test_pool_embeddings_on_demand_equal_the_whole_pass(tmp_path):
    """Tiles computed only where rows are asked for give the full pass's features (3x3 tiles here)."""
    from geouic.uic.model import build_net, init_weights
    from geouic.uic.train import PoolEmbeddings, predict_pool

    labels = blob_labels(size=64, k=4, seed=2)
    pool = _pool(write_raster(tmp_path / "s.tif", blob_scene(labels, seed=2), nodata=0))
    net = build_net(pool.n_channels, 4, {"hidden": 8, "n_spatial": 2, "kernel": 3})
    init_weights(net, torch.Generator().manual_seed(0))
    whole = predict_pool(net, pool, torch.device("cpu"), what="embed")
    lazy = PoolEmbeddings(net, pool, torch.device("cpu"), tile=24)
    rows = np.random.default_rng(0).choice(pool.n_valid, 300, replace=False)
    small = PoolEmbeddings(net, pool, torch.device("cpu"), tile=256)
    assert len(lazy) == pool.n_valid and lazy.shape == whole.shape
    assert np.array_equal(small[rows], whole[rows]) and np.array_equal(small[np.arange(pool.n_valid)], whole)
    assert np.allclose(lazy[rows], whole[rows], atol=1e-5)  # other tiles: the same values up to rounding


def test_repair_with_features_on_demand_matches_the_array(tmp_path):
    from geouic.uic.labels import repair_empty
    from geouic.uic.model import build_net, init_weights
    from geouic.uic.train import PoolEmbeddings, predict_pool

    labels = blob_labels(size=64, k=4, seed=2)
    pool = _pool(write_raster(tmp_path / "s.tif", blob_scene(labels, seed=2), nodata=0))
    nets = []
    for _ in range(2):
        net = build_net(pool.n_channels, 4, {"hidden": 8, "n_spatial": 1, "kernel": 3})
        init_weights(net, torch.Generator().manual_seed(0))
        nets.append(net)
    start = np.zeros(pool.n_valid, np.int16)
    start[: pool.n_valid // 2] = 1  # classes 2 and 3 empty
    whole = predict_pool(nets[0], pool, torch.device("cpu"), what="embed")
    a, rep_a = repair_empty(nets[0], start, whole, min_count=10, seed=0)
    b, rep_b = repair_empty(nets[1], start, lambda: PoolEmbeddings(nets[1], pool, torch.device("cpu")),
                            min_count=10, seed=0)
    assert rep_a == rep_b == [2, 3] and np.array_equal(a, b)
    assert torch.equal(nets[0].head.weight, nets[1].head.weight)


def test_median_by_sort_equals_nanmedian():
    """The 3x3 masked median (ties, even counts, edges, lone pixels) equals numpy's nanmedian."""
    from geouic.uic.data import _masked_median3, _masked_median3_at

    rng = np.random.default_rng(0)
    x = np.round(rng.normal(size=(3, 40, 30)) * 4).astype(np.float32) / 2  # many ties
    valid = rng.random((40, 30)) > 0.35
    x[:, ~valid] = 0
    shifts = [(i, j) for i in range(3) for j in range(3) if (i, j) != (1, 1)]
    ref = np.zeros_like(x)
    for c in range(3):
        padded = np.pad(np.where(valid, x[c], np.nan), 1, constant_values=np.nan)
        stack = np.stack([padded[i : i + 40, j : j + 30] for i, j in shifts] + [np.where(valid, x[c], 0.0)])
        ref[c] = np.where(valid, np.nanmedian(stack, axis=0), 0.0)
    assert np.array_equal(_masked_median3(x, valid), ref)
    r, c = np.nonzero(valid)
    assert np.array_equal(_masked_median3_at(x, valid, r, c), ref[:, r, c])


def test_classify_and_train_give_the_budget_to_the_fit(tmp_path):
    """``classify(mem_limit_mb=)`` / ``geouic classify --mem-limit`` and ``train`` reach the UIC fit."""
    from click.testing import CliRunner

    from geouic.api import classify, train
    from geouic.cli import main

    labels = blob_labels(size=256, k=4, seed=1)
    path = write_raster(tmp_path / "big.tif", blob_scene(labels, n_bands=5, seed=1), nodata=0)
    res = classify(str(path), n_classes=4, output=tmp_path / "c.tif", mem_limit_mb=2, **FAST)
    assert res.model.fit_memory_["mem_limit_mb"] == 2 and res.model.fit_memory_["pool_pixels"] < 256 * 256
    engine = train([str(path)], n_classes=4, mem_limit_mb=2, **FAST)
    assert engine.fit_memory_["pool_pixels"] == res.model.fit_memory_["pool_pixels"]
    assert train([str(path)], n_classes=4, **FAST).fit_memory_["pool_pixels"] == 256 * 256
    out = CliRunner().invoke(main, ["train", str(path), "--method", "kmeans", "-k", "3", "--mem-limit", "16",
                                    "-o", str(tmp_path / "m.geouic")])
    assert out.exit_code == 0, out.output


def test_a_scene_read_whole_is_read_unit_by_unit_into_one_region(tmp_path):
    """A scene within the pool is one region equal to one read of it, though read in units."""
    from rasterio.windows import Window

    from geouic.sampling import unit_pass

    labels = blob_labels(size=300, k=4, seed=4)
    data = blob_scene(labels, n_bands=5, seed=4)
    data[:, 100:140, 30:200] = 0
    path = write_raster(tmp_path / "s.tif", data, nodata=0)
    with open_raster(path) as src:
        assert len(unit_pass(src)) > 1
        proj = Projection().fit(sample_pixels([src], 5000, seed=0))
        pool = PatchPool.from_sources([src], proj, pool_pixels=1 << 20, seed=0)
        raw, valid = src.read(Window(0, 0, 300, 300))
    assert len(pool.regions) == 1
    assert np.array_equal(pool.regions[0].valid, valid)
    assert np.array_equal(pool.regions[0].x, proj.transform_block(raw, valid))
