"""Tests for dat_edu.model: official configurations, shapes, determinism, a learning check."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dat_edu.deformable import DeformableAttention
from dat_edu.model import DAT, dat_base, dat_cifar, dat_small, dat_tiny
from dat_edu.windows import WindowAttention




def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# --------------------------------------------------------------------------------------------
# official configurations (built on the meta device: shapes only, no memory, no init cost)


@pytest.mark.parametrize("factory, millions", [(dat_tiny, 28.32), (dat_small, 49.70), (dat_base, 87.88)])
def test_official_parameter_counts(factory, millions):
    with torch.device("meta"):
        m = factory()
    assert round(n_params(m) / 1e6, 2) == millions


def test_dat_tiny_layout():
    with torch.device("meta"):
        m = dat_tiny()
    assert m.block_letters == list("LS" + "LS" + "LDLDLD" + "LD")
    assert m.feature_sizes == [(56, 56), (28, 28), (14, 14), (7, 7)]
    attns = [b.attn for st in m.stages for b in st.blocks]
    shifts = [a.shift for a in attns if isinstance(a, WindowAttention)]
    assert shifts == [0, 4, 0, 4, 0, 0, 0, 0]  # S blocks shift ceil(7/2) = 4
    d = [a for a in attns if isinstance(a, DeformableAttention)]
    assert [a.num_groups for a in d] == [3, 3, 3, 6]
    assert [a.kernel_size for a in d] == [5, 5, 5, 3]
    assert [tuple(a.rpe_table.shape) for a in d] == [(12, 27, 27)] * 3 + [(24, 13, 13)]
    assert all(a.offset_range_factor == 2.0 and a.stride == 1 and a.coords == "official" for a in d)
    rates = [b.drop_path.p for st in m.stages for b in st.blocks]
    assert rates == pytest.approx(torch.linspace(0, 0.2, 12).tolist())
    assert m.stem.conv.kernel_size == (4, 4) and m.stem.conv.bias is not None
    assert all(ds.conv.kernel_size == (2, 2) and ds.conv.bias is None for ds in m.downsamples)


def test_dat_base_widths():
    with torch.device("meta"):
        m = dat_base()
    d = [b.attn for st in m.stages for b in st.blocks if isinstance(b.attn, DeformableAttention)]
    assert len(d) == 10 and d[0].num_heads == 16 and d[0].num_groups == 4 and d[-1].num_groups == 8
    assert m.head.in_features == 1024 and m.stem.conv.out_channels == 128


# --------------------------------------------------------------------------------------------
# the CIFAR-size model


def test_dat_cifar_shapes_and_positions():
    torch.manual_seed(0)
    m = dat_cifar().eval()
    assert 1e6 <= n_params(m) <= 2e6
    x = torch.randn(2, 3, 32, 32)
    logits, positions, references = m(x, return_positions=True)
    assert logits.shape == (2, 10)
    assert len(positions) == len(references) == len(m.block_letters)
    for letter, pos, ref, attn in zip(m.block_letters, positions, references,
                                      [b.attn for st in m.stages for b in st.blocks]):
        if letter == "D":
            h, w = attn.q_size
            assert pos.shape == ref.shape == (2, attn.num_groups, h, w, 2)
            assert pos.abs().max() <= 1 + 2.0 / h
        else:
            assert pos is None and ref is None
    assert "D" in m.block_letters
    assert torch.equal(m(x), logits)


def test_dat_cifar_one_channel():
    m = dat_cifar(in_chans=1, num_classes=10)
    assert m(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="in_chans=1"):
        m(torch.randn(2, 3, 32, 32))


def test_fewer_stages_and_options():
    torch.manual_seed(0)
    m = DAT(img_size=16, patch_size=2, dims=(16, 32), stage_spec=("LS", "DD"), heads=(2, 2),
            window_sizes=4, groups=(None, 1), use_pes=(False, True), offset_kernel_sizes=3,
            coords="corrected", position_bias="continuous", offset_range_factor=None, init="trunc_normal")
    logits, pos, ref = m(torch.randn(3, 3, 16, 16), return_positions=True)
    assert logits.shape == (3, 1000) and pos[2].shape == (3, 1, 4, 4, 2) and pos[0] is None


def test_determinism_under_a_seed():
    torch.manual_seed(123)
    a = dat_cifar()
    torch.manual_seed(123)
    b = dat_cifar()
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    torch.manual_seed(7)
    x = torch.randn(4, 3, 32, 32)
    a.eval(), b.eval()
    assert torch.equal(a(x), b(x))
    torch.manual_seed(124)
    c = dat_cifar()
    assert not torch.equal(c.head.weight, a.head.weight)


def test_init_modes():
    torch.manual_seed(0)
    official = dat_cifar()
    fc1 = official.stages[0].blocks[0].mlp.fc1
    # PyTorch default (Kaiming-uniform, a=sqrt(5)): |w| <= 1/sqrt(fan_in), biases non-zero
    assert fc1.weight.abs().max() <= 1 / math.sqrt(fc1.in_features) + 1e-6 and fc1.bias.abs().sum() > 0
    torch.manual_seed(0)
    tn = dat_cifar(init="trunc_normal")
    fc1 = tn.stages[0].blocks[0].mlp.fc1
    assert 0.015 < fc1.weight.std().item() < 0.02 and fc1.weight.abs().max() <= 0.04
    assert fc1.bias.abs().sum() == 0
    table = tn.stages[1].blocks[1].attn.rpe_table  # position tables keep their std 0.01
    assert 0.007 < table.std().item() < 0.013
    with pytest.raises(ValueError, match="init"):
        dat_cifar(init="xavier")


def test_drop_path_is_random_in_training_only():
    torch.manual_seed(0)
    m = dat_cifar(drop_path_rate=0.5)
    x = torch.randn(4, 3, 32, 32)
    m.train()
    assert not torch.equal(m(x), m(x))
    m.eval()
    assert torch.equal(m(x), m(x))


# --------------------------------------------------------------------------------------------
# errors


def test_wrong_input_size_is_a_clear_error():
    m = dat_cifar()
    with pytest.raises(ValueError, match=r"32x32.*28x28.*img_size=28"):
        m(torch.randn(1, 3, 28, 28))
    with pytest.raises(ValueError, match=r"img_size=\(32, 64\)"):
        m(torch.randn(1, 3, 32, 64))
    with pytest.raises(ValueError, match="B, C, H, W"):
        m(torch.randn(3, 32, 32))


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(img_size=30), "divisible by patch_size"),
        (dict(window_sizes=(4, 3, 4)), "not divisible by window 3"),
        (dict(groups=(None, None, 4)), "offset groups"),
        (dict(stage_spec=("LS", "LX", "LD")), "letters"),
        (dict(heads=(2, 4)), "3 stages"),
        (dict(dims=(48, 96, 190)), "not divisible by heads"),
    ],
)
def test_construction_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        dat_cifar(**kw)


# --------------------------------------------------------------------------------------------
# it learns


def quadrant_squares(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """4 classes: a bright 8x8 square somewhere in the top-left, top-right, bottom-left or
    bottom-right quadrant of a noisy 32x32 grey image."""
    x = 0.1 * torch.randn(n, 1, 32, 32, generator=generator)
    y = torch.randint(0, 4, (n,), generator=generator)
    for i in range(n):
        oy = 16 * (y[i] // 2) + torch.randint(0, 9, (1,), generator=generator).item()
        ox = 16 * (y[i] % 2) + torch.randint(0, 9, (1,), generator=generator).item()
        x[i, :, oy:oy + 8, ox:ox + 8] += 1.0
    return x, y


def test_learns_a_small_task():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    # a two-stage dat_cifar in miniature: 8x8 tokens (patch 4), L and S blocks, then L and D at 4x4
    m = DAT(img_size=32, patch_size=4, in_chans=1, num_classes=4, dims=(16, 32), stage_spec=("LS", "LD"),
            heads=(1, 2), window_sizes=4, groups=(None, 1), use_pes=(False, True), offset_kernel_sizes=3)
    x, y = quadrant_squares(64, g)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_offset_kernel_by_stage_has_one_rule_that_raises_past_stage_3():
    """The block owns the official 9, 7, 5, 3 rule; the model used to clamp a fifth stage to 3 silently."""
    from dat_edu.deformable import OFFSET_KERNEL_SIZES

    m = DAT(img_size=64, patch_size=4, dims=(8,) * 4, stage_spec=("D",) * 4, heads=1, window_sizes=1,
            groups=1, use_pes=False)
    assert [b.attn.kernel_size for s in m.stages for b in s.blocks] == list(OFFSET_KERNEL_SIZES)
    five = dict(img_size=64, patch_size=2, dims=(8,) * 5, stage_spec=("L", "L", "L", "L", "D"), heads=1,
                window_sizes=1, groups=(None,) * 4 + (1,), use_pes=False)
    with pytest.raises(ValueError, match=r"stage_idx must be in 0..3.*offset_kernel_sizes"):
        DAT(**five)
    assert DAT(**five, offset_kernel_sizes=3).stages[4].blocks[0].attn.kernel_size == 3


def test_blocks_dispatch_on_no_class_and_mixers_share_one_interface():
    from dat_edu.model import DATBlock

    class Identity(nn.Module):  # any token mixer with the interface works in a DAT block
        letter = "X"

        def forward(self, x, return_positions=False):
            return (x * 0, None, None) if return_positions else x * 0

    x = torch.randn(2, 8, 4, 4)
    block = DATBlock(8, Identity())
    y, pos, ref = block(x)
    assert block.letter == "X" and pos is None and ref is None and y.shape == x.shape
    w = WindowAttention(8, 2, 2, shift=1).eval()
    out, pos, ref = w(x, return_positions=True)
    assert torch.equal(out, w(x)) and pos is None and ref is None and w.letter == "S"


def test_attn_drop_is_a_probability_in_every_attention_class():
    from dat_edu.attention import MultiHeadSelfAttention

    torch.manual_seed(0)
    x = torch.randn(1, 8, 4, 4)
    for m in (MultiHeadSelfAttention(8, 2, attn_drop=1.0), WindowAttention(8, 2, 2, attn_drop=1.0),
              DeformableAttention(8, 2, 1, (4, 4), attn_drop=1.0)):
        assert isinstance(m.attn_drop, float) and m.attn_drop == 1.0
        dropped = m.train()(x)  # every attention weight dropped: only the output projection's bias is left
        proj = m.proj_out
        expected = proj.bias.view(1, -1, 1, 1).expand_as(x)
        torch.testing.assert_close(dropped, expected)
        assert not torch.allclose(m.eval()(x), expected)


def test_dat_fashion_is_shaped_for_28x28():
    from dat_edu.model import ConvStem, dat_fashion

    torch.manual_seed(0)
    m = dat_fashion()
    assert m.block_letters == ["L", "D"] and m.feature_sizes == [(7, 7)]
    assert m.img_size == (28, 28) and m.in_chans == 1 and round(n_params(m) / 1e6, 2) == 0.15
    assert isinstance(m.stem, ConvStem) and m.stem.layers[0].weight.shape == (32, 1, 3, 3)
    assert isinstance(m.stem.layers[1], torch.nn.BatchNorm2d) and m.head.in_features == 64 * 7 * 7
    assert m.stem.patch.conv.weight.shape == (64, 32, 3, 3) and m.stem.patch.conv.stride == (2, 2)
    logits, pos, _ = m(torch.randn(2, 1, 28, 28), return_positions=True)
    assert logits.shape == (2, 10) and pos[-1].shape == (2, 2, 7, 7, 2)
    cifar_sized = dat_fashion(in_chans=3, img_size=32)  # the window follows the map: 8x8
    assert cifar_sized(torch.randn(1, 3, 32, 32)).shape == (1, 10) and cifar_sized.feature_sizes == [(8, 8)]


def test_conv_stem_takes_the_whole_patch_size():
    """Each stem convolution and the patch layer halve the map: patch_size must be their product."""
    m = DAT(img_size=32, patch_size=8, dims=(16,), stage_spec=("L",), heads=(2,), window_sizes=4,
            groups=(None,), use_pes=(False,), stem_channels=(4, 8))
    assert m(torch.randn(1, 3, 32, 32)).shape == (1, 1000) and m.feature_sizes == [(4, 4)]
    with pytest.raises(ValueError, match="patch_size must be 8, got 4"):
        DAT(img_size=32, patch_size=4, dims=(16,), stage_spec=("L",), heads=(2,), window_sizes=4,
            groups=(None,), use_pes=(False,), stem_channels=(4, 8))


def test_conv_patches_match_the_official_use_conv_patches_shapes():
    """The official option: stem Conv2d(in, C0, 7, patch, 3), down_projs Conv2d(Ci, Ci+1, 3, 2, 1)."""
    with torch.device("meta"):
        m = dat_tiny(conv_patches=True)
    assert m.stem.conv.weight.shape == (96, 3, 7, 7) and m.stem.conv.stride == (4, 4)
    assert [d.conv.weight.shape for d in m.downsamples] == [(192, 96, 3, 3), (384, 192, 3, 3), (768, 384, 3, 3)]
    assert all(d.conv.stride == (2, 2) and d.conv.padding == (1, 1) and d.conv.bias is None for d in m.downsamples)
    with torch.device("meta"):
        assert dat_tiny().stem.conv.weight.shape == (96, 3, 4, 4)  # default: non-overlapping patches


def test_flatten_head_reads_every_position_in_the_same_order():
    """head="flatten": Linear over (h, w, C) of the last map, the same numbers on either memory layout."""
    torch.manual_seed(0)
    kw = dict(img_size=16, patch_size=4, dims=(8,), stage_spec=("L",), heads=(2,), window_sizes=4,
              groups=(None,), use_pes=(False,), head="flatten", num_classes=3)
    fast, readable = DAT(**kw), DAT(**kw, fast=False)
    readable.load_state_dict(fast.state_dict())
    assert fast.head.in_features == 8 * 4 * 4
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(fast(x), readable(x))
    # what the head's Linear reads: the normed map in (h, w, C) order, on either memory layout
    for m in (fast, readable):
        seen = {}
        m.head_norm.register_forward_hook(lambda mod, inp, out: seen.update(map=out))
        m.head.register_forward_hook(lambda mod, inp, out: seen.update(flat=inp[0]))
        m(x)
        assert seen["flat"].shape == (2, 8 * 4 * 4)
        torch.testing.assert_close(seen["flat"], seen["map"].permute(0, 2, 3, 1).reshape(2, -1), atol=0, rtol=0)
    with pytest.raises(ValueError, match="head must be one of"):
        DAT(**{**kw, "head": "cls"})
    with pytest.raises(ValueError, match="stem norm must be one of"):
        DAT(**{**kw, "stem_channels": (4,), "stem_norm": "group"})
    with pytest.raises(ValueError, match="give stem_channels"):
        DAT(**{**kw, "stem_norm": "batch"})  # no stem convolutions: the option would do nothing
