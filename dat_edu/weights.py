"""Load official DAT v1 checkpoints (LeapLabTHU/DAT) into dat_edu models.

The official code and dat_edu compute the same thing with the same tensors, but name the modules
differently (dat_edu groups each block's norms, attention and MLP together, the official code keeps
one list per kind per stage). :func:`official_key_map` spells out the translation:

    official                                   dat_edu
    patch_proj.0.*                             stem.conv.*
    patch_proj.1.norm.*                        stem.norm.norm.*
    stages.{s}.layer_norms.{2d}.norm.*         stages.{s}.blocks.{d}.norm1.norm.*    (before attention)
    stages.{s}.layer_norms.{2d+1}.norm.*       stages.{s}.blocks.{d}.norm2.norm.*    (before the MLP)
    stages.{s}.mlps.{d}.chunk.linear1.*        stages.{s}.blocks.{d}.mlp.fc1.*
    stages.{s}.mlps.{d}.chunk.linear2.*        stages.{s}.blocks.{d}.mlp.fc2.*
    stages.{s}.attns.{d}.<name>                stages.{s}.blocks.{d}.attn.<name>     (L/S: proj_qkv,
                                               proj_out, relative_position_bias_table; D: proj_q/k/v/out,
                                               rpe_table, and conv_offset.0/.1.norm/.3 -> conv_offset.
                                               dwconv/.norm.norm/.proj)
    down_projs.{i}.0.weight                    downsamples.{i}.conv.weight
    down_projs.{i}.1.norm.*                    downsamples.{i}.norm.norm.*
    cls_norm.norm.*                            head_norm.norm.*
    cls_head.*                                 head.*

Official checkpoints also hold buffers that are *derived* from the configuration: every window
block's ``relative_position_index`` and every shifted block's ``attn_mask``. They are not loaded;
when present they are compared with the ones dat_edu computes, and a disagreement (shape or value)
is an error, because it means the checkpoint was made for another window size or input size.

Everything else must match exactly: a missing, unexpected or misshaped key is an error that names
the key (and the expected and found shapes).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from dat_edu.deformable import DeformableAttention
from dat_edu.model import DAT
from dat_edu.windows import WindowAttention

__all__ = ["official_key_map", "load_official_state_dict", "StateDictKeyError"]


class StateDictKeyError(KeyError):
    """A key is missing from, or unexpected in, an official state dict (message printed as is)."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


# ------------------------------------------------------------------------------------------------
# key maps


def _dattention_map(m: DeformableAttention, official: str, ours: str) -> dict[str, str]:
    """official_name -> dat_edu_name for one deformable attention block, with name prefixes."""
    if m.cpb is not None:
        raise ValueError(
            f"{ours or 'the block'} uses position_bias='continuous', which has no DAT v1 counterpart: "
            "official checkpoints only fit position_bias='table' (or None)"
        )
    names = {}
    for p in ("q", "k", "v", "out"):
        for t in ("weight", "bias"):
            names[f"proj_{p}.{t}"] = f"proj_{p}.{t}"
    if m.conv_offset is not None:
        names.update({
            "conv_offset.0.weight": "conv_offset.dwconv.weight",  # depthwise conv
            "conv_offset.0.bias": "conv_offset.dwconv.bias",
            "conv_offset.1.norm.weight": "conv_offset.norm.norm.weight",  # LayerNormProxy
            "conv_offset.1.norm.bias": "conv_offset.norm.norm.bias",
            # conv_offset.2 is the GELU (no parameters)
            "conv_offset.3.weight": "conv_offset.proj.weight",  # 1x1 conv to (Δy, Δx), no bias
        })
    if m.rpe_table is not None:
        names["rpe_table"] = "rpe_table"
    return {official + k: ours + v for k, v in names.items()}


def _window_map(official: str, ours: str) -> dict[str, str]:
    names = ("proj_qkv.weight", "proj_qkv.bias", "proj_out.weight", "proj_out.bias",
             "relative_position_bias_table")
    return {official + n: ours + n for n in names}


def _conv_norm_map(official: str, ours: str, bias: bool) -> dict[str, str]:
    keys = {official + "0.weight": ours + "conv.weight"}
    if bias:
        keys[official + "0.bias"] = ours + "conv.bias"
    keys[official + "1.norm.weight"] = ours + "norm.norm.weight"
    keys[official + "1.norm.bias"] = ours + "norm.norm.bias"
    return keys


def official_key_map(module: nn.Module) -> dict[str, str]:
    """official_name -> dat_edu_name for every parameter of a DAT or a DeformableAttention.

    The derived buffers (``relative_position_index``, ``attn_mask``) are not in the map: they are
    checked, not loaded (see the module docstring).
    """
    if isinstance(module, DeformableAttention):
        keys = _dattention_map(module, "", "")
    elif isinstance(module, DAT):
        keys = _conv_norm_map("patch_proj.", "stem.", bias=True)
        for s, stage in enumerate(module.stages):
            for d, block in enumerate(stage.blocks):
                off, ours = f"stages.{s}.", f"stages.{s}.blocks.{d}."
                for t in ("weight", "bias"):
                    keys[off + f"layer_norms.{2 * d}.norm.{t}"] = ours + f"norm1.norm.{t}"
                    keys[off + f"layer_norms.{2 * d + 1}.norm.{t}"] = ours + f"norm2.norm.{t}"
                    keys[off + f"mlps.{d}.chunk.linear1.{t}"] = ours + f"mlp.fc1.{t}"
                    keys[off + f"mlps.{d}.chunk.linear2.{t}"] = ours + f"mlp.fc2.{t}"
                if isinstance(block.attn, DeformableAttention):
                    keys.update(_dattention_map(block.attn, off + f"attns.{d}.", ours + "attn."))
                else:
                    keys.update(_window_map(off + f"attns.{d}.", ours + "attn."))
        for i in range(len(module.downsamples)):
            keys.update(_conv_norm_map(f"down_projs.{i}.", f"downsamples.{i}.", bias=False))
        for t in ("weight", "bias"):
            keys[f"cls_norm.norm.{t}"] = f"head_norm.norm.{t}"
            keys[f"cls_head.{t}"] = f"head.{t}"
    else:
        raise TypeError(
            f"official_key_map supports DAT and DeformableAttention, got {type(module).__name__}"
        )
    # Every parameter must be covered exactly once: otherwise the map (or the model) is wrong.
    ours = {n for n, _ in module.named_parameters()}
    uncovered = ours - set(keys.values())
    if uncovered:
        raise ValueError(f"these parameters have no official name: {sorted(uncovered)}")
    return keys


def _derived_buffers(module: nn.Module) -> dict[str, torch.Tensor]:
    """official buffer name -> the tensor dat_edu computes for it (checked, never loaded)."""
    derived: dict[str, torch.Tensor] = {}
    if not isinstance(module, DAT):
        return derived
    for s, stage in enumerate(module.stages):
        h, w = module.feature_sizes[s]
        for d, block in enumerate(stage.blocks):
            attn = block.attn
            if isinstance(attn, WindowAttention):
                derived[f"stages.{s}.attns.{d}.relative_position_index"] = attn.relative_position_index
                if attn.shift > 0:
                    derived[f"stages.{s}.attns.{d}.attn_mask"] = attn.attention_mask(h, w)
    return derived


def _ignored_keys(module: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> set[str]:
    """Official keys that are accepted and dropped: the unused offset network of a no_off block."""
    blocks: list[tuple[str, DeformableAttention]] = []
    if isinstance(module, DeformableAttention):
        blocks = [("", module)]
    elif isinstance(module, DAT):
        blocks = [(f"stages.{s}.attns.{d}.", b.attn) for s, st in enumerate(module.stages)
                  for d, b in enumerate(st.blocks) if isinstance(b.attn, DeformableAttention)]
    return {k for prefix, m in blocks if m.conv_offset is None
            for k in state_dict if k.startswith(prefix + "conv_offset.")}


def _unwrap(state_dict: Mapping) -> dict[str, torch.Tensor]:
    """Accept {'model': sd} (the official checkpoint files) and DataParallel's 'module.' prefix."""
    if "model" in state_dict and isinstance(state_dict["model"], Mapping):
        state_dict = state_dict["model"]
    sd = dict(state_dict)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def _list(keys, limit: int = 8) -> str:
    keys = sorted(keys)
    more = f", ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


# ------------------------------------------------------------------------------------------------
# loading


def load_official_state_dict(module: nn.Module, state_dict: Mapping) -> nn.Module:
    """Copy an official DAT v1 state dict into ``module`` (a DAT or a DeformableAttention) in place.

    Args:
        module: a DAT built with the checkpoint's configuration (e.g. ``dat_tiny()`` for
            ``dat_tiny_in1k_224.pth``), or a DeformableAttention matching a ``DAttentionBaseline``.
        state_dict: official names -> tensors; ``{'model': state_dict}`` (as in the released
            checkpoint files) is unwrapped.

    Returns the module. Raises StateDictKeyError (a KeyError) for missing or unexpected keys and
    ValueError for a shape mismatch or a derived buffer that disagrees with the model's.
    """
    sd = _unwrap(state_dict)
    key_map = official_key_map(module)
    derived = _derived_buffers(module)
    ignored = _ignored_keys(module, sd)
    params = dict(module.named_parameters())

    unexpected = set(sd) - set(key_map) - set(derived) - ignored
    if unexpected:
        raise StateDictKeyError(
            f"unexpected key(s) in the official state dict: {_list(unexpected)}. The checkpoint "
            f"does not fit this {type(module).__name__}: build the model with the checkpoint's "
            "configuration (stage_spec, dims, use_pes, ...)"
        )
    missing = set(key_map) - set(sd)
    if missing:
        details = [f"{k} (expected shape {tuple(params[key_map[k]].shape)})" for k in sorted(missing)]
        raise StateDictKeyError(f"missing key(s) in the official state dict: {_list(details)}")

    for official, ours in key_map.items():
        expected, got = tuple(params[ours].shape), tuple(sd[official].shape)
        if expected != got:
            raise ValueError(
                f"shape mismatch for {official} (dat_edu {ours}): expected {expected}, got {got}"
            )
    for official, ours_tensor in derived.items():
        if official not in sd:
            continue  # derived buffers are optional: we compute them ourselves
        theirs = sd[official]
        if tuple(theirs.shape) != tuple(ours_tensor.shape):
            raise ValueError(
                f"derived buffer {official} has shape {tuple(theirs.shape)} but this model computes "
                f"{tuple(ours_tensor.shape)}: the checkpoint was made for another window or input size"
            )
        if not torch.equal(theirs.to(ours_tensor.device, ours_tensor.dtype), ours_tensor):
            raise ValueError(
                f"derived buffer {official} differs from the one this model computes: the checkpoint "
                "uses another window layout or shift"
            )

    with torch.no_grad():
        for official, ours in key_map.items():
            params[ours].copy_(sd[official])  # copy_ also converts dtype and device
    return module
