"""The UIC loop's parts: nodata-free loss, empty-class repair, the configuration, the pool, stopping."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from geouic.errors import ParameterError  # noqa: E402
from geouic.raster import open_raster  # noqa: E402
from geouic.uic.data import PatchPool, Projection, Region  # noqa: E402
from geouic.uic.model import UICNet, init_weights  # noqa: E402
from geouic.uic.config import UICConfig  # noqa: E402
from geouic.uic.labels import initial_labels, repair_empty  # noqa: E402
from geouic.uic.train import TrainingStopped, label_nmi, train_member, uic_loss  # noqa: E402


@pytest.mark.parametrize("balance_weight", [0.0, 0.5])
def test_nodata_pixels_take_no_part_in_the_loss(balance_weight):
    """Logits under ignored (-1) pixels change neither the loss nor receive gradient."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 6, 6, generator=gen)
    labels = torch.randint(0, 4, (2, 6, 6), generator=gen)
    labels[:, :, :2] = -1  # nodata
    a = logits.clone().requires_grad_(True)
    loss_a = uic_loss(a, labels, balance_weight=balance_weight)
    loss_a.backward()
    b = logits.clone()
    b[:, :, :, :2] = 1e3 * torch.randn(2, 4, 6, 2, generator=gen)
    loss_b = uic_loss(b, labels, balance_weight=balance_weight)
    assert torch.allclose(loss_a, loss_b)
    assert torch.all(a.grad[:, :, :, :2] == 0)
    assert torch.any(a.grad[:, :, :, 2:] != 0)


def test_loss_of_an_all_nodata_batch_is_zero():
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    loss = uic_loss(logits, torch.full((1, 4, 4), -1), balance_weight=1.0)
    loss.backward()
    assert float(loss.detach()) == 0.0


def test_entropy_term_is_zero_for_balanced_use():
    logits = torch.zeros(1, 4, 2, 2)
    labels = torch.tensor([[[0, 1], [2, 3]]])
    plain = uic_loss(logits, labels)
    assert torch.allclose(uic_loss(logits, labels, balance_weight=1.0), plain)


def test_empty_class_is_refilled_by_a_feature_space_split():
    """Class 0 holds two distinct groups, class 2 is empty: 2-means gives class 2 one group whole."""
    rng = np.random.default_rng(0)
    hidden = 6
    g1 = rng.normal(0, 0.1, (300, hidden)) + np.eye(hidden)[0] * 3
    g2 = rng.normal(0, 0.1, (200, hidden)) + np.eye(hidden)[1] * 3
    g3 = rng.normal(0, 0.1, (150, hidden)) + np.eye(hidden)[2] * 3
    emb = np.concatenate([g1, g2, g3]).astype(np.float32)
    group = np.repeat([0, 1, 2], [300, 200, 150])
    labels = np.repeat([0, 0, 1], [300, 200, 150])  # class 2 empty; class 0 = groups 0 and 1
    net = UICNet(3, 3, hidden=hidden, n_spatial=0)
    init_weights(net, torch.Generator().manual_seed(0))
    with torch.no_grad():  # a head that reproduces the labels before the repair
        assert net.head.bias is not None
        net.head.weight.zero_()
        net.head.bias.zero_()
        net.head.weight[0, :, 0, 0] = torch.tensor([1.0, 1, 0, 0, 0, 0])
        net.head.weight[1, :, 0, 0] = torch.tensor([0.0, 0, 1, 0, 0, 0])
        net.head.bias[2] = -10.0
    new, repaired = repair_empty(net, labels, emb, min_count=10, seed=0)
    assert repaired == [2]
    moved = group[new == 2]
    assert len(np.unique(moved)) == 1  # one whole group, not a random half
    assert (new == 2).sum() in (200, 300)
    # the classifier was split the same way: the head now predicts the three groups
    with torch.no_grad():
        pred = net.head(torch.from_numpy(emb)[:, :, None, None])[:, :, 0, 0].argmax(1).numpy()
    assert np.array_equal(pred, new)
    assert set(np.unique(new)) == {0, 1, 2}


def test_repair_leaves_used_classes_alone():
    net = UICNet(3, 2, hidden=4, n_spatial=0)
    labels = np.array([0] * 50 + [1] * 50)
    before = net.head.weight.detach().clone()
    new, repaired = repair_empty(net, labels, np.random.default_rng(0).normal(size=(100, 4)), min_count=5, seed=0)
    assert repaired == [] and np.array_equal(new, labels)
    assert torch.equal(net.head.weight, before)


def test_config_validation_names_the_parameter():
    cases: list[tuple[dict[str, Any], str]] = [({"patch_size": 2}, "patch_size"), ({"lr": 0}, "lr"), ({"covariance": "x"}, "covariance"),
                          ({"augment": {"hue": 0.1}}, "augment has unknown key"), ({"agreement": 1.5}, "agreement"),
                          ({"n_classes": 1}, "n_classes"), ({"threads": 0}, "threads"), ({"smoothing": -1}, "smoothing")]
    for kwargs, match in cases:
        with pytest.raises(ParameterError, match=match):
            UICConfig(**kwargs).validate()
    assert UICConfig().validate().epochs == 12


def test_obsolete_parameters_are_refused_with_the_reason():
    with pytest.raises(ParameterError, match="teacher.*removed with the self-labelling phase"):
        UICConfig.from_params({"teacher": "ema"})
    from geouic.uic import UICEngine

    with pytest.raises(ParameterError, match="warmup_epochs"):
        UICEngine(4, warmup_epochs=3)


def _pool(path):
    with open_raster(path) as src:
        from geouic.sampling import sample_pixels

        proj = Projection().fit(sample_pixels([src], 5000, seed=0))
        return PatchPool.from_sources([src], proj, pool_pixels=1 << 16, seed=0)


def test_distillation_stops_at_the_agreement(blobs):
    """A member ends at the first epoch whose network reproduces ``agreement`` of its labels."""
    pool = _pool(blobs[0])
    arch = {"hidden": 8, "n_spatial": 1, "kernel": 3}
    cfg = UICConfig(n_classes=3, epochs=8, steps_per_epoch=4, patch_size=16, batch_size=4, lr=1e-2, agreement=0.6)
    res = train_member(pool, initial_labels(pool, 3, 0), cfg, seed=0, arch=arch, device=torch.device("cpu"))
    agreements = [h["agreement"] for h in res.history]
    assert agreements[-1] >= 0.6 and all(a < 0.6 for a in agreements[:-1])
    assert len(res.history) < 8


def test_stop_flag_ends_training_at_once(blobs):
    import threading

    pool = _pool(blobs[0])
    stop = threading.Event()
    stop.set()
    cfg = UICConfig(n_classes=3, epochs=2, steps_per_epoch=2, patch_size=16, batch_size=4)
    with pytest.raises(TrainingStopped):
        train_member(pool, initial_labels(pool, 3, 0), cfg, seed=0, arch={"hidden": 8, "n_spatial": 1, "kernel": 3},
                     device=torch.device("cpu"), stop=stop)


def test_label_nmi_matches_scikit_learn():
    from sklearn.metrics import normalized_mutual_info_score

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 500), rng.integers(0, 3, 500)
    b[:300] = a[:300] % 3
    assert label_nmi(a, b) == pytest.approx(normalized_mutual_info_score(a, b), abs=1e-9)
    assert label_nmi(a, a) == pytest.approx(1.0)


def test_pool_excludes_nodata(blobs_nodata):
    path, labels = blobs_nodata
    with open_raster(path) as src:
        from geouic.sampling import sample_pixels

        proj = Projection().fit(sample_pixels([src], 5000, seed=0))
        pool = PatchPool.from_sources([src], proj, pool_pixels=1 << 16, seed=0)
    assert pool.n_valid == int((labels > 0).sum())
    for reg in pool.regions:
        assert np.all(reg.x[:, ~reg.valid] == 0)
    x, valid, y = pool.sample(20, 16, np.random.default_rng(0), pool.split(np.zeros(pool.n_valid, np.int64)))
    assert y is not None
    assert np.all(y[~valid] == -1) and np.all(y[valid] == 0)
    assert np.all(x[:, :, ~valid[0]][0] == 0)


def test_member_history_logs_nmi_and_sizes(blobs, caplog):
    path, _ = blobs
    with open_raster(path) as src:
        from geouic.sampling import sample_pixels

        proj = Projection().fit(sample_pixels([src], 5000, seed=0))
        pool = PatchPool.from_sources([src], proj, pool_pixels=1 << 16, seed=0)
    cfg = UICConfig(n_classes=4, epochs=3, agreement=1.0, steps_per_epoch=2, patch_size=16, batch_size=4)
    with caplog.at_level("INFO", logger="geouic.uic.train"):
        res = train_member(pool, initial_labels(pool, 4, 0), cfg, seed=0, arch={"hidden": 8, "n_spatial": 1, "kernel": 3},
                           device=torch.device("cpu"))
    assert len(res.history) == 3
    assert all(0 <= h["nmi"] <= 1 and len(h["sizes"]) == 4 for h in res.history)
    assert "NMI with previous epoch" in caplog.text
    assert res.labels.shape == (pool.n_valid,)


def test_single_small_region_pads_patches():
    reg = Region(np.ones((2, 5, 7), np.float32), np.ones((5, 7), bool))
    pool = PatchPool([reg])
    x, valid, _ = pool.sample(3, 8, np.random.default_rng(0))
    assert x.shape == (3, 2, 8, 8) and valid.sum() == 3 * 35


def test_potts_field_removes_isolated_pixels_and_keeps_the_boundary():
    """Two fields with a few flipped pixels: smoothing gives each field its class back."""
    from geouic.uic.labels import potts_smooth

    truth = np.zeros((20, 20), int)
    truth[:, 10:] = 1
    noisy = truth.copy()
    rng = np.random.default_rng(0)
    flips = rng.choice(400, 30, replace=False)
    noisy.ravel()[flips] = 1 - noisy.ravel()[flips]
    log_prob = np.log(np.where(np.arange(2)[:, None, None] == noisy[None], 0.7, 0.3))
    valid = np.ones((20, 20), bool)
    assert np.array_equal(potts_smooth(log_prob, valid, beta=0).argmax(0), noisy)
    smoothed = potts_smooth(log_prob, valid, beta=2.0).argmax(0)
    assert (smoothed != truth).sum() <= 2  # of 30 flipped pixels


def test_degenerate_member_is_never_the_medoid():
    from geouic.uic.engine import _medoid, degenerate

    rng = np.random.default_rng(0)
    good = rng.integers(0, 3, 3000)
    collapsed = np.where(rng.random(3000) < 0.95, 0, good)
    assert degenerate(collapsed, 3) and not degenerate(good, 3)
    # two copies of the collapsed labelling agree best with each other, but are not chosen
    best, _ = _medoid([collapsed, collapsed.copy(), good], 3)
    assert best == 2
