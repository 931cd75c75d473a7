"""The shared input checks: one wording per mistake, naming the layer and the fix."""

import pytest
import torch

from dat_edu.validate import check_divisible, check_nchw, pair


def test_pair_takes_a_number_or_a_pair():
    assert pair(7, "size") == (7, 7) and pair((3, 5), "size") == (3, 5) and pair([0.5, -1], "shift") == (0.5, -1)
    for bad in ((1, 2, 3), "ab c", None, True):
        with pytest.raises(ValueError, match="size must be a number or a pair"):
            pair(bad, "size")


def test_check_nchw_names_the_layer_the_shape_and_the_hint():
    check_nchw(torch.zeros(1, 3, 2, 2), "Layer", 3)
    with pytest.raises(ValueError, match=r"Layer expects an NCHW feature map \(B, C, H, W\), got shape \(3, 2, 2\); use x\[None\]"):
        check_nchw(torch.zeros(3, 2, 2), "Layer", hint="use x[None]")
    with pytest.raises(ValueError, match="got a list"):
        check_nchw([1, 2], "Layer")
    with pytest.raises(ValueError, match=r"built for 4 channels \(dim=4\) but the input has 3 channels"):
        check_nchw(torch.zeros(1, 3, 2, 2), "Layer", 4)


def test_check_divisible_says_why_and_what_would_work():
    check_divisible(12, "dim", 4, "num_heads", "every head needs the same number of channels")
    with pytest.raises(ValueError, match=r"dim 10 is not divisible by num_heads 3: every head .*; pick num_heads among the divisors of 10"):
        check_divisible(10, "dim", 3, "num_heads", "every head needs the same number of channels")
    with pytest.raises(ValueError, match="num_groups 0"):
        check_divisible(8, "dim", 0, "num_groups", "why")
