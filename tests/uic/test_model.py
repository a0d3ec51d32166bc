"""The network: receptive field, tiled forward pass, reproducible initialisation."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from geouic.uic.model import UICNet, build_net, forward_tiled, init_weights, receptive_radius  # noqa: E402


def _net(n_spatial: int = 2, seed: int = 0) -> UICNet:
    net = UICNet(5, 4, hidden=8, n_spatial=n_spatial)
    init_weights(net, torch.Generator().manual_seed(seed))
    return net.eval()


@pytest.mark.parametrize("n_spatial", [0, 1, 2, 3])
def test_receptive_radius_bounds_the_context(n_spatial):
    """Changing one input pixel changes outputs only within the receptive radius."""
    net = _net(n_spatial)
    r = receptive_radius(net.arch)
    assert r == n_spatial
    x = torch.randn(1, 5, 15, 15, generator=torch.Generator().manual_seed(1))
    y = x.clone()
    y[0, :, 7, 7] += 5.0
    with torch.no_grad():
        diff = (net(x) - net(y)).abs().sum(1)[0]
    changed = torch.nonzero(diff > 1e-6)
    assert changed.numel() > 0
    assert int((changed - 7).abs().max()) <= r


def test_forward_tiled_equals_whole_forward():
    net = _net()
    x = torch.randn(5, 37, 23, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = net(x[None])[0]
        tiled = forward_tiled(net, x, net.radius, tile=8)
    assert torch.allclose(whole, tiled, atol=1e-5)
    assert torch.equal(whole.argmax(0), tiled.argmax(0))


def test_init_is_reproducible_from_a_generator():
    a, b, c = _net(seed=3), _net(seed=3), _net(seed=4)
    for (_, pa), (_, pb), (_, _pc) in zip(a.state_dict().items(), b.state_dict().items(), c.state_dict().items()):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.head.weight, c.head.weight)


def test_build_net_from_stored_arch():
    net = build_net(7, 3, {"hidden": 16, "n_spatial": 1, "kernel": 3})
    out = net(torch.zeros(2, 7, 9, 9))
    assert out.shape == (2, 3, 9, 9)
    assert net.embed(torch.zeros(1, 7, 4, 4)).shape == (1, 16, 4, 4)


def test_even_kernel_is_refused():
    with pytest.raises(ValueError, match="kernel"):
        UICNet(3, 2, kernel=4)
