"""Tests for dat_edu.conv: builders, exact parameter / multiply-add counts, the seed example."""

import pytest
import torch
from torch import nn

from dat_edu.conv import (
    conv_macs,
    conv_output_size,
    conv_params,
    count_parameters,
    depthwise_conv,
    depthwise_separable_conv,
    group_conv,
    separable_macs,
    separable_params,
    standard_conv,
)


def test_seed_worked_example():
    # 16 -> 32 channels, 3x3, no bias. The seed prints 4068; the right number is 4608.
    assert conv_params(16, 32, 3) == 4608
    assert conv_params(16, 32, 3) != 4068
    assert separable_params(16, 32, 3) == 656  # 16*9 + 32*16 = 144 + 512
    assert conv_params(16, 32, 3, groups=2) == 2304
    assert count_parameters(standard_conv(16, 32, 3)) == 4608
    assert count_parameters(depthwise_separable_conv(16, 32, 3)) == 656
    assert count_parameters(group_conv(16, 32, 3, groups=2)) == 2304


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("in_ch,out_ch,k,groups", [(16, 32, 3, 1), (16, 32, 3, 2), (12, 24, 5, 4), (8, 8, 7, 8)])
def test_counts_match_built_modules(in_ch, out_ch, k, groups, bias):
    conv = group_conv(in_ch, out_ch, k, groups, bias=bias)
    assert count_parameters(conv) == conv_params(in_ch, out_ch, k, groups, bias)
    sep = depthwise_separable_conv(in_ch, out_ch, k, bias=bias)
    assert count_parameters(sep) == separable_params(in_ch, out_ch, k, bias)


def test_depthwise_is_group_conv_with_groups_equal_channels():
    dw = depthwise_conv(10, 3)
    assert dw.groups == 10 and dw.weight.shape == (10, 1, 3, 3)
    assert count_parameters(dw) == conv_params(10, 10, 3, groups=10) == 90


@pytest.mark.parametrize("stride", [1, 2, 4])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_shapes_and_output_size(stride, k):
    x = torch.randn(2, 8, 14, 15)
    for m in (standard_conv(8, 16, k, stride), group_conv(8, 16, k, 4, stride),
              depthwise_separable_conv(8, 16, k, stride)):
        y = m(x)
        assert y.shape == (2, 16, conv_output_size(14, k, stride), conv_output_size(15, k, stride))
    assert depthwise_conv(8, k, stride)(x).shape[1] == 8


def test_macs_formula():
    # 16 -> 32, 3x3, 14x14 output: 14*14*32*16*9
    assert conv_macs(16, 32, 3, 14, 14) == 14 * 14 * 4608
    assert conv_macs(16, 32, 3, 14, 14, groups=2) == 14 * 14 * 2304
    assert separable_macs(16, 32, 3, 14, 14) == 14 * 14 * 656
    assert conv_macs(16, 32, 3, 7, 7) * 4 == conv_macs(16, 32, 3, 14, 14)


def test_macs_match_a_hand_count_via_unfold():
    # A standard conv is a matmul of the unfolded input (N, C*k*k, L) with weights (out, C*k*k).
    x = torch.randn(1, 4, 6, 6)
    cols = nn.functional.unfold(x, 3, padding=1)  # (1, 36, 36)
    macs = cols.shape[1] * cols.shape[2] * 5  # inner length * positions * out channels
    assert macs == conv_macs(4, 5, 3, 6, 6)


def test_trainable_only():
    m = depthwise_separable_conv(16, 32, 3)
    m[0].weight.requires_grad_(False)
    assert count_parameters(m) == 656
    assert count_parameters(m, trainable_only=True) == 512


@pytest.mark.parametrize("fn", [
    lambda: group_conv(10, 32, 3, groups=4),
    lambda: group_conv(16, 30, 3, groups=4),
    lambda: conv_params(10, 32, 3, groups=4),
    lambda: conv_macs(16, 30, 3, 7, 7, groups=4),
])
def test_indivisible_groups_raise(fn):
    with pytest.raises(ValueError, match="divisible by groups"):
        fn()


def test_bad_sizes_raise():
    with pytest.raises(ValueError):
        standard_conv(0, 4, 3)
    with pytest.raises(ValueError, match="too small"):
        conv_output_size(1, 5, padding=0)
