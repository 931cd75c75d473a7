import math

import pytest
import torch

from dat_edu.position_bias import relative_position_index
from dat_edu.windows import (
    WindowAttention,
    dat_shift,
    shifted_window_mask,
    shifted_window_regions,
    window_partition,
    window_reverse,
)


# ---------- brute-force references (plain loops, no einops) ----------

def brute_mask(h: int, w: int, window: int, shift: int) -> torch.Tensor:
    """Label each pixel of the rolled map by whether it wrapped around (per axis), then compare pairs."""
    nw_r, nw_c = h // window, w // window
    masks = []
    for wr in range(nw_r):
        for wc in range(nw_c):
            labels = []
            for i in range(window):
                for j in range(window):
                    r, c = wr * window + i, wc * window + j
                    labels.append((r >= h - shift, c >= w - shift))  # came from the other border?
            n = window * window
            m = torch.zeros(n, n)
            for a in range(n):
                for b in range(n):
                    if labels[a] != labels[b]:
                        m[a, b] = -100.0
            masks.append(m)
    return torch.stack(masks)


def brute_index(window: int) -> torch.Tensor:
    n = window * window
    idx = torch.zeros(n, n, dtype=torch.long)
    for a in range(n):
        for b in range(n):
            dy = a // window - b // window
            dx = a % window - b % window
            idx[a, b] = (dy + window - 1) * (2 * window - 1) + (dx + window - 1)
    return idx


def manual_window_attention(m: WindowAttention, x: torch.Tensor) -> torch.Tensor:
    """Loop over windows: roll, cut, attend with bias (+ mask), un-cut, roll back."""
    B, C, H, W = x.shape
    ws, s, nh = m.window, m.shift, m.num_heads
    hc = C // nh
    xr = torch.roll(x, (-s, -s), (2, 3)) if s else x
    mask = brute_mask(H, W, ws, s) if s else None
    idx = brute_index(ws)
    table = m.relative_position_bias_table
    out = torch.zeros_like(x)
    for b in range(B):
        n = 0
        for wr in range(H // ws):
            for wc in range(W // ws):
                patch = xr[b, :, wr * ws:(wr + 1) * ws, wc * ws:(wc + 1) * ws]  # (C, ws, ws)
                t = patch.reshape(C, -1).T  # (N, C), row-major tokens
                qkv = t @ m.proj_qkv.weight.T + m.proj_qkv.bias
                q, k, v = qkv[:, :C], qkv[:, C:2 * C], qkv[:, 2 * C:]
                heads = []
                for hh in range(nh):
                    sl = slice(hh * hc, (hh + 1) * hc)
                    sc = (q[:, sl] @ k[:, sl].T) / math.sqrt(hc) + table[idx, hh]
                    if mask is not None:
                        sc = sc + mask[n]
                    heads.append(torch.softmax(sc, -1) @ v[:, sl])
                o = torch.cat(heads, -1) @ m.proj_out.weight.T + m.proj_out.bias  # (N, C)
                out[b, :, wr * ws:(wr + 1) * ws, wc * ws:(wc + 1) * ws] = o.T.reshape(C, ws, ws)
                n += 1
    return torch.roll(out, (s, s), (2, 3)) if s else out


# ---------- partition / reverse ----------

def test_partition_reverse_roundtrip_and_layout():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    win = window_partition(x, 2)
    assert win.shape == (2 * 2 * 3, 4, 3)
    # window 4 = batch 0, window row 1, window col 1; its token 3 = pixel (3, 3)
    torch.testing.assert_close(win[4, 3], x[0, :, 3, 3])
    # window 6 = batch 1, row 0, col 0; token 1 = pixel (0, 1)
    torch.testing.assert_close(win[6, 1], x[1, :, 0, 1])
    torch.testing.assert_close(window_reverse(win, 2, 4, 6), x)


def test_partition_errors():
    with pytest.raises(ValueError, match="feature map 5x6 is not divisible by window 2"):
        window_partition(torch.zeros(1, 1, 5, 6), 2)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        window_partition(torch.zeros(5, 6), 2)
    with pytest.raises(ValueError, match="each map gives 6 windows"):
        window_reverse(torch.zeros(7, 4, 3), 2, 4, 6)


# ---------- masks and index ----------

@pytest.mark.parametrize("size", [14, 28])
def test_mask_matches_brute_force(size):
    m = shifted_window_mask(size, size, 7, 4)
    assert m.shape == ((size // 7) ** 2, 49, 49) and m.dtype == torch.float32
    torch.testing.assert_close(m, brute_mask(size, size, 7, 4))


def test_masks_for_14_and_28_differ_and_nonsquare_and_swin_shift():
    m14, m28 = shifted_window_mask(14, 14, 7, 4), shifted_window_mask(28, 28, 7, 4)
    assert m14.shape != m28.shape
    # the first window of 28x28 is interior (no wrap) but at 14x14 it borders the wrapped strip
    assert (m28[0] == 0).all() and (m14[0] == 0).all()
    assert (m28[5] == 0).all() and not (m14[3] == 0).all()
    torch.testing.assert_close(shifted_window_mask(8, 12, 4, 2), brute_mask(8, 12, 4, 2))
    torch.testing.assert_close(shifted_window_mask(14, 14, 7, 3), brute_mask(14, 14, 7, 3))
    assert not torch.equal(shifted_window_mask(14, 14, 7, 3), shifted_window_mask(14, 14, 7, 4))


def test_mask_errors():
    with pytest.raises(ValueError, match="0 < shift < window"):
        shifted_window_mask(14, 14, 7, 0)
    with pytest.raises(ValueError, match="0 < shift < window"):
        shifted_window_mask(14, 14, 7, 7)
    with pytest.raises(ValueError, match="feature map 15x14 is not divisible by window 7"):
        shifted_window_mask(15, 14, 7, 4)


@pytest.mark.parametrize("window", [1, 2, 7])
def test_relative_position_index_matches_brute_force(window):
    idx = relative_position_index(window)  # the one WindowAttention registers as a buffer
    assert idx.dtype == torch.long and idx.shape == (window**2, window**2)
    torch.testing.assert_close(idx, brute_index(window))
    assert idx.max().item() == (2 * window - 1) ** 2 - 1
    torch.testing.assert_close(WindowAttention(8, 2, window).relative_position_index, idx)


def test_dat_shift_is_ceil_half_window_and_the_model_uses_it():
    assert [dat_shift(w) for w in (2, 4, 7, 8)] == [1, 2, 4, 4]  # Swin's window // 2 would give 3 at 7
    assert [dat_shift(w) for w in (3, 5, 7)] == [math.ceil(w / 2) for w in (3, 5, 7)]
    from dat_edu.model import DAT

    m = DAT(img_size=28, patch_size=4, dims=(8,), stage_spec=("LS",), heads=(2,), window_sizes=7, groups=None, use_pes=False)
    assert [b.attn.shift for b in m.stages[0].blocks] == [0, 4] and m.block_letters == ["L", "S"]
    with pytest.raises(ValueError, match="window >= 2"):
        dat_shift(1)


def test_regions_label_the_rolled_map_like_the_brute_force_mask():
    labels = shifted_window_regions(8, 12, 4, 2)
    assert labels.shape == (8, 12) and labels.unique().tolist() == list(range(9))
    assert labels[0, 0] == 0 and labels[-1, -1] == 8 and labels[5, 0] == 3 and labels[0, 9] == 1
    mask = shifted_window_mask(8, 12, 4, 2)
    torch.testing.assert_close(mask, brute_mask(8, 12, 4, 2))  # the mask is built from these labels


# ---------- the module ----------

def test_state_dict_names_and_shapes_match_official():
    m = WindowAttention(64, 2, 7, shift=4)
    sd = m.state_dict()
    assert set(sd) == {
        "proj_qkv.weight", "proj_qkv.bias", "proj_out.weight", "proj_out.bias",
        "relative_position_bias_table", "relative_position_index",
    }
    assert sd["proj_qkv.weight"].shape == (192, 64)
    assert sd["relative_position_bias_table"].shape == (169, 2)
    assert sd["relative_position_index"].shape == (49, 49)
    assert 0 < m.relative_position_bias_table.std().item() < 0.02  # trunc-normal std 0.01


@pytest.mark.parametrize("shift", [0, 4])
def test_matches_manual_loop(shift):
    torch.manual_seed(0)
    m = WindowAttention(8, 2, 7, shift=shift).eval()
    with torch.no_grad():
        m.relative_position_bias_table.normal_()  # make the bias matter
    x = torch.randn(2, 8, 14, 14)
    with torch.no_grad():
        torch.testing.assert_close(m(x), manual_window_attention(m, x))


def test_same_module_gives_right_answer_at_two_sizes():
    # the mask must follow the input size: 14x14 then 28x28 then 14x14 again
    torch.manual_seed(0)
    m = WindowAttention(4, 1, 7, shift=4).eval()
    with torch.no_grad():
        for size in (14, 28, 14):
            x = torch.randn(1, 4, size, size)
            torch.testing.assert_close(m(x), manual_window_attention(m, x))


def test_wrong_answers_are_detected():
    torch.manual_seed(0)
    m = WindowAttention(8, 2, 4, shift=2).eval()
    x = torch.randn(1, 8, 8, 8)
    with torch.no_grad():
        y = m(x)
        m3 = WindowAttention(8, 2, 4, shift=3).eval()
        m3.load_state_dict(m.state_dict())
        assert not torch.allclose(m3(x), y, atol=1e-4)  # wrong shift
        m0 = WindowAttention(8, 2, 4, shift=0).eval()
        m0.load_state_dict(m.state_dict())
        unmasked = torch.roll(m0(torch.roll(x, (-2, -2), (2, 3))), (2, 2), (2, 3))
        assert not torch.allclose(unmasked, y, atol=1e-4)  # forgetting the mask


def test_unshifted_output_depends_only_on_own_window():
    torch.manual_seed(0)
    m = WindowAttention(8, 2, 4).eval()
    x = torch.randn(1, 8, 8, 8)
    x2 = x.clone()
    x2[:, :, 4:, 4:] += torch.randn(1, 8, 4, 4)  # perturb the bottom-right window only
    with torch.no_grad():
        y, y2 = m(x), m(x2)
    torch.testing.assert_close(y2[:, :, :4, :], y[:, :, :4, :])  # top windows unchanged
    torch.testing.assert_close(y2[:, :, 4:, :4], y[:, :, 4:, :4])  # bottom-left unchanged
    assert not torch.allclose(y2[:, :, 4:, 4:], y[:, :, 4:, 4:])
    # with a shift, the perturbation leaks across the old window border
    ms = WindowAttention(8, 2, 4, shift=2).eval()
    with torch.no_grad():
        assert not torch.allclose(ms(x2)[:, :, 2:4, 2:4], ms(x)[:, :, 2:4, 2:4])


def test_gradcheck_float64_tiny():
    torch.manual_seed(0)
    m = WindowAttention(4, 2, 2, shift=1).double()
    with torch.no_grad():
        m.relative_position_bias_table.normal_()
    x = torch.randn(1, 4, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))


def test_value_errors_name_the_problem_and_fix():
    with pytest.raises(ValueError, match="dim 10 is not divisible by num_heads 3"):
        WindowAttention(10, 3, 7)
    with pytest.raises(ValueError, match=r"shift 7 must satisfy 0 <= shift < window 7.*ceil\(window/2\) = 4"):
        WindowAttention(8, 2, 7, shift=7)
    m = WindowAttention(8, 2, 7, shift=4)
    with pytest.raises(
        ValueError,
        match="feature map 15x14 is not divisible by window 7: pad the input to a multiple of 7 "
        "or pick a window that divides both 15 and 14",
    ):
        m(torch.randn(1, 8, 15, 14))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\), got shape \(1, 196, 8\)"):
        m(torch.randn(1, 196, 8))
    with pytest.raises(ValueError, match="6 channels"):
        m(torch.randn(1, 6, 14, 14))
