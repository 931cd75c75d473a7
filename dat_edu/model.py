"""The DAT pyramid: stem, stages of L/S/D blocks, downsampling, classification head.

    image (B, in_chans, S, S)
      stem:    Conv2d(in_chans, C0, patch, stride patch) -> LayerNorm2d         (B, C0, S/p, S/p)
      stage 0: blocks                                                          (B, C0, S/p, S/p)
      down 0:  Conv2d(C0, C1, 2, stride 2, bias=False) -> LayerNorm2d           (B, C1, S/2p, S/2p)
      stage 1: blocks ... and so on for every stage
      head:    LayerNorm2d -> global average pool -> Linear(C_last, classes)   (B, classes)
               (head="flatten": LayerNorm2d -> flatten -> Linear(C_last*h*w, classes))

Every block is pre-norm with two residual branches (official ``TransformerStage``):

    x = x + drop_path(attn(LN(x)))
    x = x + drop_path(mlp(LN(x)))

and its attention is one of three kinds, written as a letter in ``stage_spec``:
    L  window attention (Swin W-MSA, dat_edu.windows.WindowAttention, shift 0),
    S  shifted window attention (shift ceil(window/2): 4 for window 7, not Swin's 3),
    D  deformable attention (dat_edu.deformable.DeformableAttention).
The drop-path rate grows linearly from 0 to ``drop_path_rate`` over all blocks of the model; both
branches of a block use the block's rate.

Initialisation (an official quirk). The official ``DAT.reset_parameters`` loops over
``self.parameters()`` and tests ``isinstance(m, (nn.Linear, nn.Conv2d))``; a parameter is never a
module, so the loop does nothing and the released models train from PyTorch's default init
(Kaiming-uniform weights with a = sqrt(5), uniform biases), except the position tables, which their
modules draw from a truncated normal with std 0.01. ``init="official"`` (default) reproduces that.
``init="trunc_normal"`` is the common ViT/Swin recipe instead: Linear and Conv2d weights truncated
normal std 0.02, biases 0 (position tables and LayerNorms unchanged).

Size. A DAT is built for one input size: window sizes must divide every stage's map, the
deformable position tables are sized for their maps. forward raises a ValueError for any other
size (the official path to another resolution is to rebuild and interpolate the tables).

Parameter names (``official_key_map`` in dat_edu.weights translates official checkpoints):
    stem.conv, stem.norm.norm, stages.{s}.blocks.{d}.{norm1.norm, attn, norm2.norm, mlp.fc1, mlp.fc2},
    downsamples.{i}.conv, downsamples.{i}.norm.norm, head_norm.norm, head.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from dat_edu.deformable import DeformableAttention
from dat_edu.fast import FastDeformableAttention, FastMlp, FastWindowAttention
from dat_edu.mlp import DropPath, Mlp
from dat_edu.norm import LayerNorm2d
from dat_edu.validate import check_nchw, pair
from dat_edu.windows import WindowAttention, dat_shift

__all__ = ["ConvNorm", "ConvStem", "DATBlock", "DATStage", "DAT", "dat_tiny", "dat_small", "dat_base", "dat_cifar",
           "dat_fashion", "dat_shapes", "collect_positions", "pick_deformable"]

BLOCK_LETTERS = ("L", "S", "D")
INITS = ("official", "trunc_normal")


def _per_stage(value: Any, n: int, name: str) -> list:
    """Broadcast a scalar to n stages, or check that a sequence has one entry per stage."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name} has {len(value)} entries but the model has {n} stages (len(dims))")
        return list(value)
    return [value] * n


class ConvNorm(nn.Module):
    """Patch conv + LayerNorm: (B, Cin, H, W) -> (B, Cout, H/s, W/s).

    The stem (official ``patch_proj``, with bias) and the downsampling layers between stages
    (official ``down_projs``, no bias). By default the patches do not overlap (kernel = stride =
    patch size, 2 between stages); the official ``use_conv_patches`` option overlaps them (a 7x7
    stem with padding 3, 3x3 downsampling with padding 1): pass ``stride`` and ``padding``.
    Submodules ``conv`` and ``norm``.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, bias: bool, stride: int | None = None,
                 padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=kernel, stride=stride or kernel, padding=padding, bias=bias)
        self.norm = LayerNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


STEM_NORMS = ("layer", "batch")
HEADS = ("pool", "flatten")


class ConvStem(nn.Module):
    """Early convolutions before the first stage: (B, Cin, H, W) -> (B, Cout, H/p, W/p), p = 2 ** (len(channels) + 1).

    One 3x3 convolution + norm + GELU per entry of ``channels``, each at stride 2, then a 3x3
    :class:`ConvNorm` at stride 2 to ``out_ch`` (no GELU: the first block's norm follows). A few
    small convolutions in place of one patch projection ("early convolutions help transformers see
    better", Xiao et al. 2021) give a small transformer the local features a CNN learns in its first
    layers, so it needs fewer images to train. ``norm``: "layer" (LayerNorm2d, as the rest of DAT)
    or "batch" (BatchNorm2d after a bias-free convolution, the paper's conv-BN stem). Submodules
    ``layers`` (conv, norm, GELU, ...) and ``patch``.
    """

    def __init__(self, in_ch: int, channels: Sequence[int], out_ch: int, norm: str = "layer") -> None:
        super().__init__()
        if norm not in STEM_NORMS:
            raise ValueError(f"stem norm must be one of {STEM_NORMS}, got {norm!r}")
        layers: list[nn.Module] = []
        for c in channels:
            batch = norm == "batch"  # BatchNorm subtracts the mean: a conv bias would be undone
            layers += [nn.Conv2d(in_ch, c, 3, stride=2, padding=1, bias=not batch),
                       nn.BatchNorm2d(c) if batch else LayerNorm2d(c), nn.GELU()]
            in_ch = c
        self.layers = nn.Sequential(*layers)
        self.patch = ConvNorm(in_ch, out_ch, 3, bias=True, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.patch(self.layers(x))


class DATBlock(nn.Module):
    """One pre-norm transformer block on an NCHW map: (B, C, H, W) -> (B, C, H, W).

    Args:
        dim: C.
        attn: the token mixer, a WindowAttention (L/S) or a DeformableAttention (D): any module
            with ``forward(x, return_positions=True) -> (y, pos, ref)`` and a ``letter``.
        mlp_ratio: hidden width of the MLP is mlp_ratio * C (4 in DAT).
        drop: dropout inside the MLP.
        drop_path: stochastic-depth rate of this block (both branches).
        fast: build the MLP as :class:`dat_edu.fast.FastMlp` (same parameters and results).

    forward(x) -> (x, pos, ref): pos/ref are the mixer's sampling positions and reference points
    (B, g, Hk, Wk, 2), normalized, (y, x), or None for window blocks.
    """

    def __init__(self, dim: int, attn: nn.Module, mlp_ratio: float = 4.0, drop: float = 0.0,
                 drop_path: float = 0.0, fast: bool = False) -> None:
        super().__init__()
        self.norm1 = LayerNorm2d(dim)
        self.attn = attn
        self.norm2 = LayerNorm2d(dim)
        self.mlp = (FastMlp if fast else Mlp)(dim, int(dim * mlp_ratio), drop=drop)
        self.drop_path = DropPath(drop_path)

    @property
    def letter(self) -> str:
        """'D' for deformable attention, 'S' for shifted windows, 'L' for plain windows."""
        return self.attn.letter

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        a, pos, ref = self.attn(self.norm1(x), return_positions=True)
        x = x + self.drop_path(a)  # attention branch
        x = x + self.drop_path(self.mlp(self.norm2(x)))  # MLP branch
        return x, pos, ref


class DATStage(nn.Module):
    """A sequence of DATBlocks at one resolution. forward(x) -> (x, [pos per block], [ref per block])."""

    def __init__(self, blocks: Sequence[DATBlock]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list, list]:
        positions, references = [], []
        for block in self.blocks:
            x, pos, ref = block(x)
            positions.append(pos)
            references.append(ref)
        return x, positions, references


class DAT(nn.Module):
    """Deformable Attention Transformer (DAT v1) for image classification.

    Args (per-stage arguments take a sequence with one entry per stage, or one value for all):
        img_size: input size S (int or (H, W)); the model only runs at this size.
        patch_size: p, stem conv kernel and stride.
        in_chans: image channels (3 RGB, 1 grey).
        num_classes: outputs of the head.
        dims: channels per stage; the number of stages is len(dims) (DAT: 4; fewer is fine).
            The stem outputs dims[0] (the official ``dim_stem`` always equals dims[0]).
        stage_spec: per stage, a string of block letters (L, S, D); its length is the stage depth.
        heads: attention heads per stage.
        window_sizes: window of the L/S blocks per stage; must divide the stage's map.
        groups: offset groups of the D blocks per stage (None for stages without D blocks).
        use_pes: per stage, whether D blocks get a position bias (official: False, False, True, True).
        strides: key stride of the D blocks (official 1).
        offset_range_factor: of the D blocks (official 2.0; see DeformableAttention).
        offset_kernel_sizes: depthwise kernel of the offset networks per stage (None: the official
            9, 7, 5, 3 by stage index, see ``DeformableAttention(stage_idx=...)``; a model with D
            blocks in a fifth stage must give them).
        mlp_ratio, drop_rate, attn_drop_rate, drop_path_rate: as in the official code.
        coords, position_bias, use_offsets: options of every D block (DeformableAttention);
            position_bias applies to the stages whose ``use_pes`` entry is True.
        init: "official" (PyTorch defaults, see module docstring) or "trunc_normal".
        conv_patches: the official ``use_conv_patches``: overlapping patches (a 7x7 stem, 3x3
            downsampling convolutions, see :class:`ConvNorm`), which help small images.
        stem_channels: channels of the convolutions of a :class:`ConvStem` in place of the patch
            projection (each halves the map, and its last 3x3 patch layer too): patch_size must be
            2 ** (len(stem_channels) + 1). Empty (default): the official stem.
        stem_norm: the norm of those convolutions, "layer" (default) or "batch" (see :class:`ConvStem`).
        head: "pool" (official: global average pool, then Linear(C_last, classes)) or "flatten"
            (Linear over the whole last map, C_last*h*w inputs: the classifier knows where each
            feature is, which pooling throws away; for small images whose objects sit in place,
            such as Fashion-MNIST's centred garments).
        fast: True (default) builds the blocks' attention and MLPs from :mod:`dat_edu.fast` (same
            parameters, same results, fewer passes over memory) and runs the model on channels-last
            memory; False builds the readable classes of the lessons.

    forward(x, return_positions=False) -> logits (B, num_classes), or (logits, positions,
    references), two lists with one entry per block in order (None for L/S blocks).
    """

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        dims: Sequence[int] = (96, 192, 384, 768),
        stage_spec: Sequence[str] = ("LS", "LS", "LDLDLD", "LD"),
        heads: Sequence[int] | int = (3, 6, 12, 24),
        window_sizes: Sequence[int] | int = 7,
        groups: Sequence[int | None] | int | None = (None, None, 3, 6),
        use_pes: Sequence[bool] | bool = (False, False, True, True),
        strides: Sequence[int] | int = 1,
        offset_range_factor: Sequence[float | None] | float | None = 2.0,
        offset_kernel_sizes: Sequence[int] | int | None = None,
        mlp_ratio: float = 4.0,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        coords: str = "official",
        position_bias: str | None = "table",
        use_offsets: bool = True,
        init: str = "official",
        conv_patches: bool = False,
        stem_channels: Sequence[int] = (),
        stem_norm: str = "layer",
        head: str = "pool",
        fast: bool = True,
    ) -> None:
        super().__init__()
        n = len(dims)
        if n < 1:
            raise ValueError("dims must name at least one stage")
        stage_spec = _per_stage(stage_spec, n, "stage_spec")
        heads = _per_stage(heads, n, "heads")
        window_sizes = _per_stage(window_sizes, n, "window_sizes")
        groups = _per_stage(groups, n, "groups")
        use_pes = _per_stage(use_pes, n, "use_pes")
        strides = _per_stage(strides, n, "strides")
        factors = _per_stage(offset_range_factor, n, "offset_range_factor")
        kernels = _per_stage(offset_kernel_sizes, n, "offset_kernel_sizes")  # None: the block's stage rule
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if stem_norm not in STEM_NORMS:
            raise ValueError(f"stem norm must be one of {STEM_NORMS}, got {stem_norm!r}")
        if stem_norm != "layer" and not stem_channels:
            raise ValueError(f"stem_norm={stem_norm!r} is the norm of the stem convolutions, but there are none: "
                             f"give stem_channels (e.g. (32,)) or leave stem_norm='layer'")

        H, W = (int(s) for s in pair(img_size, "img_size"))
        scale = patch_size * 2 ** (n - 1)  # total downsampling of the last stage
        if H % scale or W % scale:
            raise ValueError(
                f"img_size {H}x{W} must be divisible by patch_size * 2**(stages-1) = {scale} "
                f"(patch {patch_size}, {n} stages) so that every stage has a whole map"
            )
        self.img_size = (H, W)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.stage_spec = ["".join(s) for s in stage_spec]
        for s, spec in enumerate(self.stage_spec):
            bad = [c for c in spec if c not in BLOCK_LETTERS]
            if not spec or bad:
                raise ValueError(f"stage_spec[{s}] = {spec!r}: use a non-empty string of the letters L, S, D")

        depth = sum(len(s) for s in self.stage_spec)
        # one rate per block, 0 first (device="cpu" so that building under torch.device("meta") works)
        dpr = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()

        if stem_channels:
            if patch_size != 2 ** (len(stem_channels) + 1):
                raise ValueError(
                    f"stem_channels {tuple(stem_channels)} halve the map {len(stem_channels) + 1} times (their "
                    f"patch layer included), so patch_size must be {2 ** (len(stem_channels) + 1)}, got {patch_size}"
                )
            self.stem = ConvStem(in_chans, stem_channels, dims[0], norm=stem_norm)
        elif conv_patches:  # official use_conv_patches: Conv2d(in, C0, 7, patch, 3), Conv2d(Ci, Ci+1, 3, 2, 1)
            self.stem = ConvNorm(in_chans, dims[0], 7, bias=True, stride=patch_size, padding=3)
        else:
            self.stem = ConvNorm(in_chans, dims[0], patch_size, bias=True)
        self.stages = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        self.feature_sizes: list[tuple[int, int]] = []  # map size of every stage
        h, w = H // patch_size, W // patch_size
        i = 0  # running block index, for the drop-path rate
        for s in range(n):
            C, nh, win, spec = dims[s], heads[s], window_sizes[s], self.stage_spec[s]
            if C % nh:
                raise ValueError(f"stage {s}: dims {C} is not divisible by heads {nh}")
            if ("L" in spec or "S" in spec) and (h % win or w % win):
                raise ValueError(
                    f"stage {s}: feature map {h}x{w} is not divisible by window {win}: pick a window "
                    f"that divides it or change img_size/patch_size"
                )
            if "D" in spec and not groups[s]:
                raise ValueError(f"stage {s} has D blocks: give it a number of offset groups (groups[{s}])")
            blocks = []
            for letter in spec:
                if letter == "D":
                    deformable_cls = FastDeformableAttention if fast else DeformableAttention
                    attn = deformable_cls(
                        C, nh, groups[s], (h, w), stride=strides[s], offset_range_factor=factors[s],
                        kernel_size=kernels[s], position_bias=position_bias if use_pes[s] else None,
                        use_offsets=use_offsets, coords=coords, attn_drop=attn_drop_rate,
                        proj_drop=drop_rate, stage_idx=s,
                    )
                else:
                    shift = dat_shift(win) if letter == "S" else 0
                    window_cls = FastWindowAttention if fast else WindowAttention
                    attn = window_cls(C, nh, win, shift=shift, attn_drop=attn_drop_rate, proj_drop=drop_rate)
                blocks.append(DATBlock(C, attn, mlp_ratio, drop=drop_rate, drop_path=dpr[i], fast=fast))
                i += 1
            self.stages.append(DATStage(blocks))
            self.feature_sizes.append((h, w))
            if s < n - 1:
                kernel, pad = (3, 1) if conv_patches else (2, 0)
                self.downsamples.append(ConvNorm(C, dims[s + 1], kernel, bias=False, stride=2, padding=pad))
                h, w = h // 2, w // 2
        self.head_norm = LayerNorm2d(dims[-1])
        self.head_kind = head
        self.head = nn.Linear(dims[-1] * (h * w if head == "flatten" else 1), num_classes)

        self.init = init
        self.fast = fast
        if init == "trunc_normal":
            self.apply(_trunc_normal_init)
        # init == "official": keep PyTorch's defaults, as the official reset_parameters (a loop over
        # parameters that never meets a module) effectively does.

    @property
    def block_letters(self) -> list[str]:
        """The letter of every block in order, e.g. ['L', 'S', 'L', 'S', 'L', 'D', ...]."""
        return [b.letter for stage in self.stages for b in stage.blocks]

    def no_weight_decay_keywords(self) -> set[str]:
        """Parameter-name fragments the official training excludes from weight decay (the position
        tables); :mod:`dat_edu.train` also spares every 1-D parameter (biases, norm weights)."""
        return {"relative_position_bias_table", "rpe_table"}

    def _check_input(self, x: torch.Tensor) -> None:
        check_nchw(x, "DAT")
        if x.shape[1] != self.in_chans:
            raise ValueError(
                f"the model was built for in_chans={self.in_chans} but the images have {x.shape[1]} "
                f"channels (shape {tuple(x.shape)}); rebuild with in_chans={x.shape[1]}"
            )
        if tuple(x.shape[2:]) != self.img_size:
            H, W = self.img_size
            h, w = x.shape[2:]
            raise ValueError(
                f"the model was built for {H}x{W} images but got {h}x{w}: window sizes and position "
                f"tables are fixed at build time. Resize/pad the input to {H}x{W}, or rebuild the "
                f"model with img_size={h if h == w else (h, w)}"
            )

    def forward(self, x: torch.Tensor, return_positions: bool = False):
        self._check_input(x)
        if self.fast:  # (B, H, W, C) memory: norms, MLPs and projections then need no transposes
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.stem(x)  # (B, C0, H/p, W/p)
        positions: list = []
        references: list = []
        for s, stage in enumerate(self.stages):
            if s > 0:
                x = self.downsamples[s - 1](x)  # halve the map, change channels
            x, pos, ref = stage(x)  # (B, Cs, Hs, Ws)
            positions += pos
            references += ref
        x = self.head_norm(x)
        if self.head_kind == "flatten":  # (B, C_last*h*w), in (h, w, C) order whatever the memory layout
            x = x.permute(0, 2, 3, 1).flatten(1)
        else:
            x = x.mean(dim=(2, 3))  # global average pool: (B, C_last)
        logits = self.head(x)  # (B, num_classes)
        if return_positions:
            return logits, positions, references
        return logits


def _trunc_normal_init(m: nn.Module) -> None:
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


# ------------------------------------------------------------------------------------------------
# Official configurations (LeapLabTHU/DAT configs/dat_{tiny,small,base}.yaml)


def dat_tiny(num_classes: int = 1000, **kw: Any) -> DAT:
    """DAT-T: 28.32M parameters at 1000 classes, 224x224, ImageNet-1K top-1 82.0."""
    cfg = dict(img_size=224, patch_size=4, dims=(96, 192, 384, 768),
               stage_spec=("LS", "LS", "LDLDLD", "LD"), heads=(3, 6, 12, 24), window_sizes=7,
               groups=(None, None, 3, 6), use_pes=(False, False, True, True), strides=1,
               offset_range_factor=2.0, drop_path_rate=0.2)
    cfg.update(kw)
    return DAT(num_classes=num_classes, **cfg)


def dat_small(num_classes: int = 1000, **kw: Any) -> DAT:
    """DAT-S: 49.70M parameters, top-1 83.7. DAT-T with 18 blocks in stage 2 (9 x LD)."""
    cfg = dict(stage_spec=("LS", "LS", "LD" * 9, "LD"), drop_path_rate=0.3)
    cfg.update(kw)
    return dat_tiny(num_classes, **cfg)


def dat_base(num_classes: int = 1000, **kw: Any) -> DAT:
    """DAT-B: 87.88M parameters, top-1 84.0. Wider than DAT-S (128 stem channels, 4 heads more per stage)."""
    cfg = dict(dims=(128, 256, 512, 1024), heads=(4, 8, 16, 32), groups=(None, None, 4, 8),
               stage_spec=("LS", "LS", "LD" * 9, "LD"), drop_path_rate=0.5)
    cfg.update(kw)
    return dat_tiny(num_classes, **cfg)


def dat_cifar(num_classes: int = 10, in_chans: int = 3, img_size: int = 32, **kw: Any) -> DAT:
    """A small DAT for 32x32 images (CIFAR-10, Fashion-MNIST padded to 32) that trains on a laptop CPU.

    Layout (3 stages; blocks L = window, S = shifted window, D = deformable):

        stem   Conv2d(in_chans, 48, 2, stride 2) + LN        32x32 -> 16x16 tokens
        stage0 48 ch, 2 heads, L S, window 4 (shift 2)       16x16
        down   Conv2d(48, 96, 2, stride 2) + LN              -> 8x8
        stage1 96 ch, 4 heads, L D, window 4, 2 groups       8x8, offset kernel 5
        down   Conv2d(96, 192, 2, stride 2) + LN             -> 4x4
        stage2 192 ch, 8 heads, L D, window 4, 4 groups      4x4, offset kernel 3
        head   LN -> average pool -> Linear(192, num_classes)

    About 1.27M parameters and 47M multiply-adds per 32x32 image (convolutions and matrix
    products; ResNet-20 has 0.27M and 41M). Head channels are 24 (official: 32).

    Why this shape:
    * patch 2 gives 16x16 = 256 tokens; the official patch 4 would leave 8x8 tokens, and 2x2 by
      the last stage.
    * three stages, not four: a fourth would run at 2x2.
    * window 4 divides every map (16, 8, 4); at 4x4 the L block is global attention.
    * D blocks only in the last two stages, as in DAT (stages 3-4): at stride 1 a D block
      attends to all Hk*Wk = H*W sampled keys, as many as global attention: 256 per query at
      16x16 against 16 in a 4x4 window, but only 64 and 16 at 8x8 and 4x4 (``python -m
      dat_edu.bench`` measures the cost).
    * the offset kernels follow the official rule (bigger maps, bigger kernels: 5 at 8x8, 3 at 4x4).
    * drop_path_rate 0.1, offset_range_factor 2, position-bias tables: the official recipe, scaled.

    Any argument of :class:`DAT` can be overridden through ``**kw``.
    """
    cfg = dict(patch_size=2, dims=(48, 96, 192), stage_spec=("LS", "LD", "LD"), heads=(2, 4, 8),
               window_sizes=4, groups=(None, 2, 4), use_pes=(False, True, True), strides=1,
               offset_range_factor=2.0, offset_kernel_sizes=(3, 5, 3), drop_path_rate=0.1)
    cfg.update(kw)
    return DAT(img_size=img_size, in_chans=in_chans, num_classes=num_classes, **cfg)


def dat_fashion(num_classes: int = 10, in_chans: int = 1, img_size: int = 28, **kw: Any) -> DAT:
    """A small DAT shaped for 28x28 images (Fashion-MNIST), sized to train on a CPU in minutes.

    Layout (one stage after a convolutional stem):

        stem   Conv2d(in_chans, 32, 3, stride 2) + BN + GELU         28x28 -> 14x14
               Conv2d(32, 64, 3, stride 2) + LN                       -> 7x7 tokens
        stage0 64 ch, 4 heads, L D, window 7 (the map), 2 groups      7x7, offset kernel 3
        head   LN -> flatten -> Linear(64 * 7 * 7, num_classes)

    Why this shape:
    * 28 = 4 x 7: the window is the whole 7x7 map, so the L block is global attention and the D
      block attends to all 49 sampled keys (49 queries x 49 keys: cheap). Other sizes keep that
      rule (32x32 images: an 8x8 map and window), so the model also trains on CIFAR-sized data.
    * the 14x14 map is left to a convolution: a transformer block there (four 7x7 windows) costs
      nearly as much as the whole 7x7 stage and did not make short runs learn faster.
    * early convolutions (:class:`ConvStem`): two small 3x3 convolutions learn the local strokes
      that one patch projection would have to learn from raw pixels; the transformer then learns
      from fewer images, which is what a run of minutes has. BatchNorm there (``stem_norm="batch"``,
      that paper's conv-BN stem) learned as fast as a LayerNorm over the 14x14 map.
    * a flattening head (``head="flatten"``): the garments are centred, so where a feature sits
      tells the classes apart (a collar at the top, a sole at the bottom); global average pooling
      throws that away and the transformer, whose blocks are translation-equivariant, cannot
      bring it back (the README's "Time to accuracy" measures both heads).
    * PyTorch's default init and no drop path: a short run needs every step (see the ``cpu`` preset).

    Any argument of :class:`DAT` can be overridden through ``**kw``.
    """
    side = min(pair(img_size, "img_size")) // 4  # the window: the whole (square) map
    cfg = dict(patch_size=4, dims=(64,), stage_spec=("LD",), heads=(4,), window_sizes=side, groups=(2,),
               use_pes=(True,), strides=1, offset_range_factor=2.0, offset_kernel_sizes=(3,),
               drop_path_rate=0.0, stem_channels=(32,), stem_norm="batch", head="flatten", init="official")
    cfg.update(kw)
    return DAT(img_size=img_size, in_chans=in_chans, num_classes=num_classes, **cfg)


def dat_shapes(num_classes: int = 4, in_chans: int = 3, img_size: int = 32, zero_init_offsets: bool = True,
               **kw: Any) -> DAT:
    """A tiny DAT whose deformable keys visibly move onto the object of the synthetic shapes data.

    Layout (2 stages, 82k parameters; trained by the ``"shapes"`` preset of :mod:`dat_edu.train`):

        stem   Conv2d(in_chans, 32, 2, stride 2) + LN          32x32 -> 16x16 tokens
        stage0 32 ch, 1 head, L (window 4)                      16x16, local context only
        down   Conv2d(32, 64, 2, stride 2) + LN                 -> 8x8
        stage1 64 ch, 2 heads, D: 2 groups, key stride 8        8x8 queries, 1x1 key per group
        head   LN -> average pool -> Linear(64, num_classes)

    Why this shape (tests/test_shapes_offsets.py checks that the keys move):
    * few keys. With stride 1 every key is a jitter of a full-resolution grid (dat_cifar): the
      object is always near some key, so no key gains by moving and the offsets drift randomly
      (sampling points ended *farther* from the object than the reference points). Here each group
      has ONE key for the whole 8x8 map, starting at the centre: the only way for the 64 queries
      to read the object is to move that key onto it. A 2x2 key grid (stride 4) moved far less.
    * the offset network sees the whole map: depthwise kernel 17 (stride 8, padding 8) on 8x8.
    * offset_range_factor=1: with one key, tanh(raw) * 1 * (1/Hk) reaches the image border and no
      further. Ranges past the border (factor 2-4, or None) let keys leave the map, where zero
      padding makes them a constant "sink" key. Lesson 09 asks learners to explore the range
      over seeds.
    * coords="corrected": a key position then maps 1:1 to image coordinates, so the distance to
      the object (dat_edu.data.shapes) is measured exactly; no drop path (every step counts).
    * zero_init_offsets=True zeroes the last 1x1 conv of each offset network, so before training
      every sampling position IS its reference point (a clean "before" picture); training moves it.

    Any argument of :class:`DAT` can be overridden through ``**kw``.
    """
    cfg = dict(patch_size=2, dims=(32, 64), stage_spec=("L", "D"), heads=(1, 2), window_sizes=4,
               groups=(None, 2), use_pes=(False, True), strides=(1, 8), offset_range_factor=1.0,
               offset_kernel_sizes=(3, 17), coords="corrected", drop_path_rate=0.0)
    cfg.update(kw)
    model = DAT(img_size=img_size, in_chans=in_chans, num_classes=num_classes, **cfg)
    if zero_init_offsets:
        for m in model.modules():
            if isinstance(m, DeformableAttention) and m.conv_offset is not None:
                nn.init.zeros_(m.conv_offset.proj.weight)
    return model


# ------------------------------------------------------------------------------------------------
# Looking inside a trained model


@torch.no_grad()
def collect_positions(model: nn.Module, images: torch.Tensor) -> tuple[list[int], list[torch.Tensor], list[torch.Tensor]]:
    """Run ``model(images, return_positions=True)`` in eval mode; keep the deformable blocks.

    model: returns ``(logits, positions, references)`` for ``return_positions=True`` (a :class:`DAT`);
    its training mode is restored afterwards. Returns ``(blocks, positions, references)``: block
    indices (into the model's per-block lists; empty if no block is deformable) and, for each,
    float tensors (B, g, Hk, Wk, 2), normalized, (y, x), on the CPU.
    """
    was = model.training
    model.eval()
    try:
        out = model(images, return_positions=True)
    finally:
        model.train(was)
    if not (isinstance(out, tuple) and len(out) == 3):
        raise ValueError("model(x, return_positions=True) must return (logits, positions, references)")
    _, positions, references = out
    blocks = [i for i, p in enumerate(positions) if p is not None]
    return blocks, [positions[i].float().cpu() for i in blocks], [references[i].float().cpu() for i in blocks]


def pick_deformable(blocks: list[int], block: int | None = None) -> int:
    """Which entry of ``blocks`` (from :func:`collect_positions`) is block ``block``; None: the last."""
    if not blocks:
        raise ValueError("the model has no deformable blocks (all positions are None): nothing to show")
    if block is None:
        return len(blocks) - 1
    if block not in blocks:
        raise ValueError(f"block {block} is not deformable; deformable blocks: {blocks}")
    return blocks.index(block)


if __name__ == "__main__":  # python -m dat_edu.model: size and layout of dat_cifar
    torch.manual_seed(0)
    m = dat_cifar()
    n = sum(p.numel() for p in m.parameters())
    print(f"dat_cifar: {n / 1e6:.2f}M parameters, blocks {m.block_letters}, maps {m.feature_sizes}")
