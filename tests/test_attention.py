import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dat_edu.attention import (
    MultiHeadSelfAttention,
    naive_softmax,
    scaled_dot_product_attention,
    stable_softmax,
)


def test_stable_softmax_equals_torch_softmax():
    torch.manual_seed(0)
    s = torch.randn(3, 4, 7) * 5
    for dim in (-1, 0, 1):
        torch.testing.assert_close(stable_softmax(s, dim=dim), torch.softmax(s, dim=dim))


def test_stable_softmax_survives_huge_scores_where_naive_overflows():
    s = torch.tensor([[1e4, 1e4 - 1.0, 0.0], [-1e4, 0.0, 1e4]])
    naive = naive_softmax(s)
    assert torch.isnan(naive).any()  # exp(1e4) = inf -> inf/inf = nan
    stable = stable_softmax(s)
    assert torch.isfinite(stable).all()
    torch.testing.assert_close(stable, torch.softmax(s, dim=-1))
    torch.testing.assert_close(stable.sum(-1), torch.ones(2))


def test_stable_softmax_gradient_matches_torch():
    torch.manual_seed(0)
    s = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 5, dtype=torch.float64)
    (g1,) = torch.autograd.grad((stable_softmax(s) * w).sum(), s)
    (g2,) = torch.autograd.grad((torch.softmax(s, -1) * w).sum(), s)
    torch.testing.assert_close(g1, g2)


def _qkv(B=2, h=3, nq=5, nk=6, d=4, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(B, h, nq, d, generator=g, dtype=dtype),
        torch.randn(B, h, nk, d, generator=g, dtype=dtype),
        torch.randn(B, h, nk, d, generator=g, dtype=dtype),
    )


def test_sdpa_matches_torch_sdpa_plain_bias_and_bool_mask():
    q, k, v = _qkv()
    out, attn = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 3, 5))

    bias = torch.randn(3, 5, 6)  # (h, Nq, Nk), broadcast over batch
    out, _ = scaled_dot_product_attention(q, k, v, bias=bias)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=bias))

    mask = torch.rand(2, 1, 5, 6) > 0.3
    mask[..., 0] = True  # every query keeps at least one key
    out, attn = scaled_dot_product_attention(q, k, v, mask=mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert (attn.masked_select(~mask.expand_as(attn)) == 0).all()

    out, _ = scaled_dot_product_attention(q, k, v, scale=0.3)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, scale=0.3))


def test_sdpa_wrong_scale_is_detected():
    q, k, v = _qkv()
    out, _ = scaled_dot_product_attention(q, k, v, scale=1.0)
    assert not torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=1e-4)


def test_sdpa_gradcheck_float64():
    q, k, v = _qkv(B=1, h=2, nq=3, nk=4, d=2, dtype=torch.float64)
    bias = torch.randn(2, 3, 4, dtype=torch.float64)
    for t in (q, k, v, bias):
        t.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda q, k, v, b: scaled_dot_product_attention(q, k, v, bias=b)[0], (q, k, v, bias)
    )


def test_sdpa_shape_errors():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="head dimension"):
        scaled_dot_product_attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match="each key needs one value"):
        scaled_dot_product_attention(q, k, v[:, :, :4])


def test_mhsa_matches_nn_multihead_attention():
    torch.manual_seed(0)
    dim, heads, H, W = 8, 2, 3, 4
    mine = MultiHeadSelfAttention(dim, heads).eval()
    ref = nn.MultiheadAttention(dim, heads, batch_first=True).eval()
    with torch.no_grad():  # same layout: rows [q | k | v], heads (h d) inside each block
        ref.in_proj_weight.copy_(mine.proj_qkv.weight)
        ref.in_proj_bias.copy_(mine.proj_qkv.bias)
        ref.out_proj.weight.copy_(mine.proj_out.weight)
        ref.out_proj.bias.copy_(mine.proj_out.bias)
    x = torch.randn(2, dim, H, W)
    y, attn = mine(x, return_attn=True)
    assert y.shape == (2, dim, H, W) and attn.shape == (2, heads, H * W, H * W)
    tokens = x.flatten(2).transpose(1, 2)  # (B, HW, C)
    y_ref, attn_ref = ref(tokens, tokens, tokens, average_attn_weights=False)
    torch.testing.assert_close(y.flatten(2).transpose(1, 2), y_ref)
    torch.testing.assert_close(attn, attn_ref)


def test_mhsa_is_permutation_equivariant_and_wrong_head_split_fails():
    # Dense attention has no notion of position: shuffling pixels shuffles the output.
    torch.manual_seed(0)
    m = MultiHeadSelfAttention(8, 2).eval()
    x = torch.randn(1, 8, 3, 3)
    perm = torch.randperm(9)
    y = m(x).flatten(2)
    y_perm = m(x.flatten(2)[..., perm].reshape(1, 8, 3, 3)).flatten(2)
    torch.testing.assert_close(y_perm, y[..., perm])
    # A different number of heads (same weights) gives a different answer: the split matters.
    m4 = MultiHeadSelfAttention(8, 4).eval()
    m4.load_state_dict(m.state_dict())
    assert not torch.allclose(m4(x), m(x), atol=1e-4)


def test_mhsa_gradcheck_float64():
    torch.manual_seed(0)
    m = MultiHeadSelfAttention(4, 2).double()
    x = torch.randn(1, 4, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))


def test_mhsa_value_errors():
    with pytest.raises(ValueError, match="dim 10 is not divisible by num_heads 3"):
        MultiHeadSelfAttention(10, 3)
    m = MultiHeadSelfAttention(8, 2)
    with pytest.raises(ValueError, match=r"NCHW feature map \(B, C, H, W\), got shape \(2, 9, 8\)"):
        m(torch.randn(2, 9, 8))
    with pytest.raises(ValueError, match="6 channels"):
        m(torch.randn(1, 6, 2, 2))


def test_stable_softmax_does_not_record_the_max_for_backward():
    # Only exp(shifted) (one full matrix) and the row sums are kept; amax on a tracked tensor
    # would also keep a copy of the scores.
    s = torch.randn(4, 50, requires_grad=True)
    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        stable_softmax(s)
    assert sum(saved.values()) == 4 * 50 * 4 + 4 * 4


def test_sdpa_survives_huge_scores():
    q = torch.full((1, 1, 2, 1), 100.0)
    k = torch.tensor([[[[100.0], [99.0], [-100.0]]]])
    v = torch.eye(3).reshape(1, 1, 3, 3)
    out, attn = scaled_dot_product_attention(q, k, v, scale=1.0)  # scores 1e4, 9.9e3, -1e4
    assert torch.isfinite(out).all()
    torch.testing.assert_close(attn[0, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
