"""Tests for dat_edu.weights: loading official DAT v1 state dicts."""

from __future__ import annotations

import pytest
import torch

from dat_edu.deformable import DeformableAttention
from dat_edu.model import DAT, dat_cifar, dat_tiny
from dat_edu.weights import StateDictKeyError, load_official_state_dict, official_key_map
from dat_edu.windows import shifted_window_mask
from official_reference import (
    dat_tiny_official_shapes,
    official_dattention_forward,
    official_dattention_shapes,
)




def random_state_dict(shapes: dict, seed: int = 0) -> dict:
    """Random float tensors with the given shapes (long for relative_position_index, masks 0/-100)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in shapes.items():
        if k.endswith("relative_position_index"):
            w = int(round(shape[0] ** 0.5))
            ys, xs = torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")
            c = torch.stack((ys.flatten(), xs.flatten()))
            rel = c[:, :, None] - c[:, None, :] + (w - 1)
            sd[k] = rel[0] * (2 * w - 1) + rel[1]
        elif k.endswith("attn_mask"):
            sd[k] = None  # filled in by the caller, which knows the map size
        else:
            sd[k] = torch.randn(shape, generator=g)
    return sd


def dat_tiny_official_state_dict() -> dict:
    sd = random_state_dict(dat_tiny_official_shapes())
    for s, size in ((0, 56), (1, 28)):
        sd[f"stages.{s}.attns.1.attn_mask"] = shifted_window_mask(size, size, 7, 4)
    return sd


# --------------------------------------------------------------------------------------------
# DAT-T from the spec's names


def test_dat_tiny_official_names_load():
    sd = dat_tiny_official_state_dict()
    assert len(sd) == 219  # the official DAT-T state dict has 219 entries
    torch.manual_seed(0)
    m = dat_tiny()
    key_map = official_key_map(m)
    assert len(key_map) == 219 - 8 - 2  # minus 8 relative_position_index and 2 attn_mask buffers
    assert set(key_map.values()) == {n for n, _ in m.named_parameters()}
    out = load_official_state_dict(m, {"model": sd})  # wrapped, as the released .pth files
    assert out is m
    params = dict(m.named_parameters())
    for official, ours in key_map.items():
        assert torch.equal(params[ours], sd[official]), official
    # spot checks written out by hand
    assert torch.equal(m.stem.conv.weight, sd["patch_proj.0.weight"])
    assert torch.equal(m.stages[2].blocks[1].norm2.norm.weight, sd["stages.2.layer_norms.3.norm.weight"])
    assert torch.equal(m.stages[2].blocks[5].attn.conv_offset.proj.weight, sd["stages.2.attns.5.conv_offset.3.weight"])
    assert torch.equal(m.stages[3].blocks[1].mlp.fc2.bias, sd["stages.3.mlps.1.chunk.linear2.bias"])
    assert torch.equal(m.downsamples[2].norm.norm.bias, sd["down_projs.2.1.norm.bias"])
    assert torch.equal(m.head.weight, sd["cls_head.weight"])


def test_missing_unexpected_misshaped_keys_name_the_key():
    with torch.device("meta"):
        m = dat_tiny()
    shapes = dat_tiny_official_shapes()
    sd = {k: torch.empty(v, device="meta") for k, v in shapes.items() if not k.endswith(("index", "mask"))}

    bad = dict(sd)
    del bad["stages.2.attns.3.rpe_table"]
    with pytest.raises(StateDictKeyError, match=r"missing.*stages\.2\.attns\.3\.rpe_table.*\(12, 27, 27\)"):
        load_official_state_dict(m, bad)
    with pytest.raises(KeyError):  # StateDictKeyError is a KeyError
        load_official_state_dict(m, bad)

    bad = dict(sd, **{"stages.0.attns.0.rpe_table": torch.empty(3, 111, 111, device="meta")})
    with pytest.raises(StateDictKeyError, match=r"unexpected.*stages\.0\.attns\.0\.rpe_table"):
        load_official_state_dict(m, bad)

    bad = dict(sd, **{"cls_head.weight": torch.empty(10, 768, device="meta")})
    with pytest.raises(ValueError, match=r"cls_head\.weight.*expected \(1000, 768\), got \(10, 768\)"):
        load_official_state_dict(m, bad)


def test_derived_buffers_are_checked():
    torch.manual_seed(0)
    m = dat_cifar()
    sd = official_from_ours(m)
    sd["stages.0.attns.1.attn_mask"] = shifted_window_mask(16, 16, 4, 2)
    sd["stages.0.attns.0.relative_position_index"] = m.stages[0].blocks[0].attn.relative_position_index.clone()
    load_official_state_dict(m, sd)  # consistent buffers are accepted (and not loaded)
    wrong = dict(sd, **{"stages.0.attns.1.attn_mask": shifted_window_mask(16, 16, 4, 1)})
    with pytest.raises(ValueError, match=r"stages\.0\.attns\.1\.attn_mask"):
        load_official_state_dict(m, wrong)
    wrong = dict(sd, **{"stages.0.attns.1.attn_mask": shifted_window_mask(32, 32, 4, 2)})
    with pytest.raises(ValueError, match=r"attn_mask has shape \(64, 16, 16\)"):
        load_official_state_dict(m, wrong)


# --------------------------------------------------------------------------------------------
# round trip through the key map


def official_from_ours(m: torch.nn.Module) -> dict:
    """Our parameters under official names: the key map read backwards."""
    params = dict(m.named_parameters())
    return {official: params[ours].detach().clone() for official, ours in official_key_map(m).items()}


def test_round_trip_small_model():
    torch.manual_seed(0)
    src = dat_cifar().eval()
    sd = official_from_ours(src)
    g = torch.Generator().manual_seed(1)
    for k in sd:  # perturb so that the load visibly changes the target
        sd[k] = sd[k] + 0.05 * torch.randn(sd[k].shape, generator=g)
    torch.manual_seed(1)
    dst = dat_cifar().eval()
    x = torch.randn(2, 3, 32, 32)
    load_official_state_dict(dst, sd)
    # the same official dict loaded into the source gives the same model
    load_official_state_dict(src, sd)
    torch.testing.assert_close(dst(x), src(x))
    params = dict(dst.named_parameters())
    for official, ours in official_key_map(dst).items():
        assert torch.equal(params[ours], sd[official])


def test_module_prefix_and_dtype():
    torch.manual_seed(0)
    m = DeformableAttention(16, 4, 2, (6, 6))
    sd = {"module." + k: v.double() for k, v in official_from_ours(m).items()}
    load_official_state_dict(m, sd)
    assert m.proj_q.weight.dtype == torch.float32


def test_unsupported_modules():
    with pytest.raises(TypeError):
        official_key_map(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="continuous"):
        official_key_map(DeformableAttention(16, 4, 2, (6, 6), position_bias="continuous"))


# --------------------------------------------------------------------------------------------
# equal outputs: official-named tensors through the official forward vs DeformableAttention


@pytest.mark.parametrize("C, heads, groups, size, ksize", [(32, 4, 2, (7, 5), 5), (24, 6, 3, (6, 6), 3)])
def test_dattention_equals_official_after_loading(C, heads, groups, size, ksize):
    shapes = official_dattention_shapes(C, heads, groups, size, ksize)
    g = torch.Generator().manual_seed(0)
    sd = {k: 0.3 * torch.randn(v, generator=g) for k, v in shapes.items()}
    m = DeformableAttention(C, heads, groups, size, kernel_size=ksize).eval()
    load_official_state_dict(m, sd)
    x = torch.randn(2, C, *size, generator=g)
    with torch.no_grad():
        y, pos, ref = m(x, return_positions=True)
        y0, pos0, ref0 = official_dattention_forward(x, sd, heads, groups)
    torch.testing.assert_close(y, y0, atol=1e-5, rtol=0)
    torch.testing.assert_close(pos, pos0, atol=1e-6, rtol=0)


def test_official_no_off_offset_network_is_ignored():
    m = DeformableAttention(16, 4, 2, (6, 6), use_offsets=False)
    shapes = official_dattention_shapes(16, 4, 2, (6, 6), 3)
    sd = {k: torch.randn(v) for k, v in shapes.items()}
    load_official_state_dict(m, sd)  # conv_offset.* accepted and dropped
    assert torch.equal(m.rpe_table, sd["rpe_table"])


def test_dat_with_official_blocks_matches_reference():
    """A whole (small) DAT after loading: each D block equals the official forward on its input."""
    torch.manual_seed(0)
    m = DAT(img_size=16, patch_size=2, num_classes=5, dims=(16, 32), stage_spec=("LS", "LD"),
            heads=(2, 4), window_sizes=4, groups=(None, 2), use_pes=(False, True), offset_kernel_sizes=3).eval()
    sd = official_from_ours(m)
    g = torch.Generator().manual_seed(3)
    sd = {k: v + 0.2 * torch.randn(v.shape, generator=g) for k, v in sd.items()}
    load_official_state_dict(m, sd)
    block = m.stages[1].blocks[1]
    x = torch.randn(2, 32, 4, 4)
    p = {k[len("stages.1.attns.1."):]: v for k, v in sd.items() if k.startswith("stages.1.attns.1.")}
    with torch.no_grad():
        y0, _, _ = official_dattention_forward(x, p, 4, 2)
        torch.testing.assert_close(block.attn(x), y0, atol=1e-5, rtol=0)
