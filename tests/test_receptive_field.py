import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dat_edu.receptive_field import DeformableConv2d, gradient_receptive_field, receptive_fields


def _support(field: torch.Tensor) -> torch.Tensor:
    """Boolean (H, W): where the receptive field is non-zero."""
    return field > 0


def _box(h, w, rows, cols):
    m = torch.zeros(h, w, dtype=torch.bool)
    m[rows[0] : rows[1], cols[0] : cols[1]] = True
    return m


def test_conv3x3_receptive_field_is_exactly_the_3x3_neighbourhood():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 5, 3, padding=1)
    x = torch.randn(2, 4, 9, 9)
    field = gradient_receptive_field(conv, x, query=(4, 6))
    assert field.shape == (9, 9)
    assert torch.equal(_support(field), _box(9, 9, (3, 6), (5, 8)))
    assert field.max().item() == pytest.approx(1.0)
    # at a corner the neighbourhood is cut by the zero padding: 2x2
    corner = gradient_receptive_field(conv, x, query=(0, 0))
    assert torch.equal(_support(corner), _box(9, 9, (0, 2), (0, 2)))


def test_wrong_neighbourhood_is_detected():
    torch.manual_seed(0)
    conv5 = nn.Conv2d(2, 2, 5, padding=2)
    field = gradient_receptive_field(conv5, torch.randn(1, 2, 9, 9), query=(4, 4))
    assert not torch.equal(_support(field), _box(9, 9, (3, 6), (3, 6)))
    assert int(_support(field).sum()) == 25


def test_window_attention_field_lies_inside_the_query_window():
    from dat_edu.windows import WindowAttention

    torch.manual_seed(0)
    attn = WindowAttention(8, 2, window=4).eval()
    x = torch.randn(1, 8, 8, 8)
    for query, rows, cols in [((1, 2), (0, 4), (0, 4)), ((6, 5), (4, 8), (4, 8))]:
        field = gradient_receptive_field(attn, x, query=query)
        assert torch.equal(_support(field), _box(8, 8, rows, cols)), query


def test_dense_attention_field_covers_the_whole_map():
    from dat_edu.attention import MultiHeadSelfAttention

    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(8, 2).eval()
    field = gradient_receptive_field(attn, torch.randn(1, 8, 6, 6), query=(0, 5))
    assert bool(_support(field).all())


def test_deformable_conv_with_zero_offsets_is_a_plain_conv():
    torch.manual_seed(0)
    dcn = DeformableConv2d(3, 4, 3)
    x = torch.randn(2, 3, 7, 6)
    torch.testing.assert_close(dcn(x), F.conv2d(x, dcn.weight, dcn.bias, padding=1))
    field = gradient_receptive_field(dcn, x, query=(3, 3))
    assert torch.equal(_support(field), _box(7, 6, (2, 5), (2, 5)))


def test_deformable_conv_offsets_are_y_then_x_in_pixels():
    torch.manual_seed(0)
    dcn = DeformableConv2d(3, 4, 3)
    with torch.no_grad():  # every tap moves by exactly +2 px in x (channels ordered (tap, [Δy, Δx]))
        dcn.offset_conv.bias.view(9, 2)[:, 1] = 2.0
    x = torch.randn(1, 3, 8, 8)
    # output column j reads input columns j+1 .. j+3 (zeros outside): pad, drop 2 columns, valid conv
    shifted = F.pad(x, (1, 3, 1, 1))[..., 2:]
    torch.testing.assert_close(dcn(x), F.conv2d(shifted, dcn.weight, dcn.bias))
    # the receptive field moves 2 columns right; the offset conv's weights are zero, so no extra path
    field = gradient_receptive_field(dcn, x, query=(3, 2))
    assert torch.equal(_support(field), _box(8, 8, (2, 5), (3, 6)))


def test_deformable_conv_gradients_match_finite_differences():
    torch.manual_seed(0)
    dcn = DeformableConv2d(1, 1, 3, offset_scale=0.7).double()
    nn.init.normal_(dcn.offset_conv.weight, std=0.3)  # real offsets: gradients flow through them too
    x = torch.randn(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(dcn, (x,), fast_mode=True)


def test_receptive_fields_stacks_queries_and_validates_input():
    conv = nn.Conv2d(1, 1, 3, padding=1)
    out = receptive_fields({"conv": conv}, torch.randn(1, 1, 5, 5), [(0, 0), (2, 2)])
    assert out["conv"].shape == (2, 5, 5)
    with pytest.raises(ValueError, match="outside the 5x5 output map"):
        gradient_receptive_field(conv, torch.randn(1, 1, 5, 5), query=(5, 0))
    with pytest.raises(ValueError, match="NCHW"):
        gradient_receptive_field(conv, torch.randn(5, 5), query=(0, 0))
    with pytest.raises(ValueError, match="odd"):
        DeformableConv2d(2, 2, 4)


def test_detached_positions_keep_the_output_and_shrink_the_field_to_the_sampled_keys():
    from dat_edu.deformable import DeformableAttention
    from dat_edu.receptive_field import DetachedPositions

    torch.manual_seed(0)
    dat = DeformableAttention(8, 2, 1, (8, 8), stride=4, kernel_size=3).eval()
    wrapped = DetachedPositions(8, 2, 1, (8, 8), stride=4, kernel_size=3).eval()
    wrapped.load_state_dict(dat.state_dict())
    x = torch.randn(1, 8, 8, 8)
    torch.testing.assert_close(wrapped(x), dat(x))
    for a, b in zip(wrapped(x, return_positions=True), dat(x, return_positions=True)):
        torch.testing.assert_close(a, b)
    full = gradient_receptive_field(dat, x, query=(1, 1))
    keys_only = gradient_receptive_field(wrapped, x, query=(1, 1))
    # 2x2 keys, each read from at most 4 pixels, plus the query pixel itself (q = W_q x)
    assert int(_support(keys_only).sum()) <= 4 * 4 + 1
    assert bool(keys_only[1, 1] > 0)
    assert int(_support(full).sum()) > int(_support(keys_only).sum())


def test_reference_operators_fields():
    from dat_edu.receptive_field import reference_operators

    ops = reference_operators(dim=8, size=8, num_heads=2, window=4, dat_stride=4, detach_offsets=True)
    assert list(ops) == ["ViT (dense)", "Swin (window)", "DCN (deformable conv)", "DAT (deformable)"]
    x = torch.randn(1, 8, 8, 8)
    fields = receptive_fields(ops, x, [(1, 1)])
    sizes = {name: int(_support(f[0]).sum()) for name, f in fields.items()}
    assert sizes["ViT (dense)"] == 64
    assert sizes["Swin (window)"] == 16
    assert sizes["DAT (deformable)"] <= 17


def test_deformable_conv_returns_positions_like_the_deformable_block():
    """return_positions means (out, pos, ref), normalized (y, x), in every class that samples."""
    from dat_edu.sampling import normalized_to_pixel

    torch.manual_seed(0)
    dcn = DeformableConv2d(3, 4, 3)
    x = torch.randn(2, 3, 5, 6)
    out, pos, ref = dcn(x, return_positions=True)
    assert pos.shape == ref.shape == (2, 9, 5, 6, 2)
    torch.testing.assert_close(out, dcn(x))
    torch.testing.assert_close(pos, ref)  # zero offsets at initialisation: every tap at p + t
    pix = normalized_to_pixel(ref, (5, 6), True)  # the align_corners=True convention it samples with
    torch.testing.assert_close(pix[0, 0, 2, 3], torch.tensor([1.0, 2.0]))  # tap (-1, -1) of pixel (2, 3)
    torch.testing.assert_close(pix[1, 4], torch.stack(torch.meshgrid(torch.arange(5.0), torch.arange(6.0), indexing="ij"), -1))
    with torch.no_grad():
        dcn.offset_conv.bias.view(9, 2)[:, 1] = 2.0  # every tap 2 px to the right
    _, moved, ref2 = dcn(x, return_positions=True)
    torch.testing.assert_close(ref2, ref)
    torch.testing.assert_close(normalized_to_pixel(moved, (5, 6), True) - pix, torch.tensor([0.0, 2.0]).expand_as(pix))
