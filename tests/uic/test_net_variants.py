"""The sixth round's network variants and training-pixel rules (benchmarks/uic_net.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchmarks.uic_net import VarNet, _edge, parse_variant  # noqa: E402
from geouic.uic.model import init_weights  # noqa: E402


@pytest.mark.parametrize(("dilations", "multiscale", "radius"), [((1, 2, 4), (), 7), ((1,), (1, 2, 4), 5)])
def test_variant_radius_is_the_reach_of_one_pixel(dilations, multiscale, radius):
    """A changed input pixel changes outputs up to exactly the stated radius (the halo stays exact)."""
    net = VarNet(5, 3, 8, dilations, multiscale)
    init_weights(net, torch.Generator().manual_seed(0))
    assert net.radius == radius
    x = torch.randn(1, 5, 31, 31, generator=torch.Generator().manual_seed(1))
    y = x.clone()
    y[0, :, 15, 15] += 5.0
    with torch.no_grad():
        diff = (net(x) - net(y)).abs().sum(1)[0]
    changed = torch.nonzero(diff > 1e-6)
    assert int((changed - 15).abs().max()) == radius


def test_edge_marks_the_pixels_beside_a_boundary_only():
    valid = np.ones((6, 8), bool)
    valid[0, 0] = False
    pool_labels = np.zeros((6, 8), np.int64)
    pool_labels[:, 5:] = 1

    def split(flat):
        out = np.full(valid.shape, -1, flat.dtype)
        out[valid] = flat
        return [out]

    pool = SimpleNamespace(regions=[SimpleNamespace(valid=valid)], split=split)
    edge = split(_edge(pool, pool_labels[valid]).astype(np.int64))[0]
    assert set(np.flatnonzero((edge == 1).any(axis=0))) == {4, 5}
    assert edge[valid].sum() == 12


def test_variant_names_parse_and_unknown_ones_are_refused():
    v = parse_variant("dil-1-2-4+conf75")
    assert v["net"] == {"dilations": (1, 2, 4), "multiscale": ()} and v["keep"] == ("conf", 0.75)
    assert parse_variant("ns3")["config"] == {"n_spatial": 3}
    assert parse_variant("h64")["config"] == {"hidden": 64}
    assert parse_variant("conf75+agr99")["config"] == {"agreement": 0.99}
    with pytest.raises(SystemExit, match="unknown variant"):
        parse_variant("wide")
