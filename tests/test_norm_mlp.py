"""Tests for dat_edu.norm.LayerNorm2d, dat_edu.mlp.Mlp and DropPath."""

import pytest
import torch
from torch import nn

from dat_edu.mlp import DropPath, Mlp, drop_path
from dat_edu.norm import LayerNorm2d


def test_layernorm2d_normalises_each_pixel_over_channels():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 5, 4) * 3 + 1
    y = LayerNorm2d(6)(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y.mean(1), torch.zeros(2, 5, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(1, unbiased=False), torch.ones(2, 5, 4), atol=1e-3, rtol=0)


def test_layernorm2d_matches_channels_last_layernorm_with_affine():
    torch.manual_seed(0)
    ln = LayerNorm2d(6)
    nn.init.normal_(ln.norm.weight)
    nn.init.normal_(ln.norm.bias)
    x = torch.randn(2, 6, 3, 3)
    ref = nn.functional.layer_norm(x.permute(0, 2, 3, 1), (6,), ln.norm.weight, ln.norm.bias)
    torch.testing.assert_close(ln(x), ref.permute(0, 3, 1, 2))
    # A wrong axis (normalising over W instead of C) gives a different answer.
    assert not torch.allclose(ln(x), nn.functional.layer_norm(x, (3,)))


def test_layernorm2d_official_keys():
    assert set(LayerNorm2d(8).state_dict()) == {"norm.weight", "norm.bias"}


def test_layernorm2d_rejects_wrong_input():
    with pytest.raises(ValueError, match="NCHW"):
        LayerNorm2d(4)(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="channels"):
        LayerNorm2d(4)(torch.randn(2, 3, 4, 4))


def test_mlp_shape_names_and_params():
    m = Mlp(8)
    assert m.fc1.weight.shape == (32, 8) and m.fc2.weight.shape == (8, 32)
    assert sum(p.numel() for p in m.parameters()) == 8 * 32 + 32 + 32 * 8 + 8
    x = torch.randn(2, 8, 3, 5)
    assert m(x).shape == x.shape
    assert Mlp(8, hidden_dim=10).fc1.out_features == 10


def test_mlp_is_pointwise_and_matches_manual():
    torch.manual_seed(0)
    m = Mlp(4).eval()
    x = torch.randn(1, 4, 2, 3)
    y = m(x)
    pixel = x[0, :, 1, 2]
    ref = m.fc2(nn.functional.gelu(m.fc1(pixel)))
    torch.testing.assert_close(y[0, :, 1, 2], ref)


def test_mlp_rejects_wrong_channels():
    with pytest.raises(ValueError, match="4 channels"):
        Mlp(4)(torch.randn(1, 3, 2, 2))


def test_droppath_identity_in_eval_and_p0():
    x = torch.randn(4, 3, 2, 2)
    dp = DropPath(0.5).eval()
    assert torch.equal(dp(x), x)
    assert torch.equal(DropPath(0.0).train()(x), x)


def test_droppath_per_sample_and_scaled():
    torch.manual_seed(0)
    x = torch.ones(2000, 3, 2, 2)
    y = DropPath(0.25).train()(x)
    per_sample = y.flatten(1)
    # Each sample is either entirely dropped or entirely kept and scaled by 1/keep.
    assert torch.all((per_sample == 0).all(1) | (per_sample == 1 / 0.75).all(1))
    kept = (per_sample[:, 0] != 0).float().mean().item()
    assert abs(kept - 0.75) < 0.05
    assert abs(y.mean().item() - 1.0) < 0.07  # unbiased in expectation


def test_droppath_bad_p():
    with pytest.raises(ValueError):
        DropPath(1.0)
    with pytest.raises(ValueError):
        drop_path(torch.ones(1), -0.1, True)
