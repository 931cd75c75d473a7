"""Tests for dat_edu.offsets: OffsetNetwork, bound_offsets, key_grid_size."""

import pytest
import torch

from dat_edu.conv import count_parameters
from dat_edu.norm import LayerNorm2d
from dat_edu.offsets import OffsetNetwork, bound_offsets, key_grid_size


def test_structure_and_names():
    net = OffsetNetwork(32, 7, 1)
    assert net.dwconv.groups == 32 and net.dwconv.padding == (3, 3) and net.dwconv.bias is not None
    assert isinstance(net.norm, LayerNorm2d)
    assert net.proj.weight.shape == (2, 32, 1, 1) and net.proj.bias is None
    assert set(net.state_dict()) == {
        "dwconv.weight", "dwconv.bias", "norm.norm.weight", "norm.norm.bias", "proj.weight",
    }


@pytest.mark.parametrize("cg,k", [(32, 5), (32, 3), (64, 9)])
def test_parameter_count(cg, k):
    expected = cg * k * k + cg + 2 * cg + 2 * cg  # dwconv w+b, LayerNorm w+b, 1x1 proj (no bias)
    assert count_parameters(OffsetNetwork(cg, k, 1)) == expected


@pytest.mark.parametrize("stride", [1, 2, 4])
@pytest.mark.parametrize("k", [3, 5])
def test_shapes_follow_conv_arithmetic(stride, k):
    h, w = 14, 9
    out = OffsetNetwork(8, k, stride)(torch.randn(3, 8, h, w))
    hk, wk = key_grid_size(h, w, k, stride)
    assert out.shape == (3, 2, hk, wk)
    # Odd kernel with padding k // 2: ceil(size / stride).
    assert (hk, wk) == (-(-h // stride), -(-w // stride))


def test_key_grid_size_examples():
    assert key_grid_size(14, 14, 5, 1) == (14, 14)
    assert key_grid_size(14, 14, 5, 2) == (7, 7)
    assert key_grid_size(56, 28, 9, 4) == (14, 7)


def test_bound_offsets_limits_per_axis():
    torch.manual_seed(0)
    raw = torch.randn(4, 2, 7, 5) * 10  # large, so tanh saturates and the bound is tight
    factor = 2.0
    b = bound_offsets(raw, factor)
    assert b.shape == raw.shape
    assert torch.all(b[:, 0].abs() <= factor / 7)  # Δy by Hk
    assert torch.all(b[:, 1].abs() <= factor / 5)  # Δx by Wk
    assert b[:, 0].abs().max() > 0.99 * factor / 7 and b[:, 1].abs().max() > 0.99 * factor / 5
    # Wrong axes (scaling y by Wk) would exceed the y bound.
    assert (torch.tanh(raw[:, 0]) * factor / 5).abs().max() > factor / 7


def test_bound_offsets_formula_and_sign():
    raw = torch.tensor([0.3, -1.2]).view(1, 2, 1, 1).expand(1, 2, 2, 4)
    b = bound_offsets(raw, 3.0)
    torch.testing.assert_close(b[0, 0, 0, 0], torch.tanh(torch.tensor(0.3)) * 3.0 / 2)
    torch.testing.assert_close(b[0, 1, 1, 3], torch.tanh(torch.tensor(-1.2)) * 3.0 / 4)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="groups"):
        OffsetNetwork(8, 3, 1)(torch.randn(2, 16, 4, 4))
    with pytest.raises(ValueError, match="Δy, Δx"):
        bound_offsets(torch.randn(1, 3, 4, 4), 2.0)
    with pytest.raises(ValueError, match="factor"):
        bound_offsets(torch.randn(1, 2, 4, 4), -1.0)
