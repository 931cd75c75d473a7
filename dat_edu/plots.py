"""One-call figures for training runs: curves, confusion matrix, deformable sampling points.

Each function returns the matplotlib ``Figure`` (made with ``plt.subplots`` so that a notebook
cell ending in ``plt.show()`` displays it). Every figure has a title, axis labels and a legend
or colour bar.

Coordinates in :func:`plot_sampling_points`: the model returns positions normalized to
[-1, 1], last dim (y, x), relative to the feature map the block reads. They are drawn in image
pixels: ``f = (u + 1) / 2 * (Hf - 1)`` (``align_corners=True``, the official reading) or
``f = ((u + 1) * Hf - 1) / 2`` (``align_corners=False``) on the feature map of height ``Hf``,
then ``p = f * s + (s - 1) / 2`` with stride ``s = H / Hf`` in image pixels.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn

__all__ = [
    "plot_training_curves",
    "plot_confusion_matrix",
    "confusion_matrix",
    "plot_sampling_points",
    "collect_positions",
    "normalized_to_image",
]


# --------------------------------------------------------------------------- training curves


def _load_history(metrics) -> list[dict]:
    if isinstance(metrics, dict) and "history" in metrics:
        return list(metrics["history"])
    if isinstance(metrics, (str, os.PathLike)):
        path = Path(metrics)
        if path.is_dir():
            path = path / "metrics.json"
        if path.suffix == ".csv":
            import csv

            with open(path) as f:
                return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
        return json.loads(path.read_text())
    if isinstance(metrics, (list, tuple)):
        return list(metrics)
    raise ValueError("metrics must be a list of per-epoch dicts, a train() result, or a run folder / metrics file")


def plot_training_curves(metrics, *, title: str = "Training curves") -> plt.Figure:
    """Loss, accuracy and learning rate per epoch.

    metrics: the ``history`` list (dicts with ``epoch``, ``train_loss``, ``test_loss``,
    ``train_acc``, ``test_acc``, ``lr``), a :func:`dat_edu.train.train` result, or a run folder
    / ``metrics.json`` / ``metrics.csv`` path.
    """
    hist = _load_history(metrics)
    if not hist:
        raise ValueError("no epochs to plot: the metrics list is empty")
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(hist)]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    panels = [("loss", "Loss", "cross-entropy"), ("acc", "Accuracy", "accuracy")]
    for ax, (key, name, ylabel) in zip(axes, panels):
        for split, style in (("train", "o-"), ("test", "s--")):
            k = f"{split}_{key}"
            if any(k in h for h in hist):
                ax.plot(epochs, [h.get(k, np.nan) for h in hist], style, label=split)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    ax = axes[2]
    if any("lr" in h for h in hist):
        ax.plot(epochs, [h.get("lr", np.nan) for h in hist], "o-", color="tab:green", label="lr at epoch end")
    ax.set_title("Learning rate")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- confusion matrix


def confusion_matrix(preds, labels, num_classes: int | None = None) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted class."""
    p = torch.as_tensor(preds).long().flatten().cpu()
    t = torch.as_tensor(labels).long().flatten().cpu()
    if p.shape != t.shape:
        raise ValueError(f"{p.numel()} predictions but {t.numel()} labels")
    if num_classes is not None:
        k = num_classes
    else:
        k = int(max(p.max().item(), t.max().item())) + 1 if p.numel() else 1
    return torch.bincount(t * k + p, minlength=k * k).view(k, k).numpy()


def plot_confusion_matrix(
    model_or_preds,
    data=None,
    *,
    labels=None,
    classes: Sequence[str] | None = None,
    normalize: bool = True,
    title: str | None = None,
    **evaluate_kwargs,
) -> plt.Figure:
    """Confusion matrix as an image with a colour bar (rows: true class, columns: predicted).

    model_or_preds: an ``nn.Module`` (then ``data`` is a DataBundle/DataSplit/(images, labels)
    pair, evaluated with :func:`dat_edu.train.evaluate`), the dict that
    ``evaluate(..., return_preds=True)`` returns, or a tensor/array of predicted classes (then
    pass ``labels``). ``normalize``: show each row as fractions of the true class.
    """
    if isinstance(model_or_preds, nn.Module):
        if data is None:
            raise ValueError("pass data= (e.g. result['data'] or a DataSplit) to evaluate the model on")
        from .train import evaluate

        r = evaluate(model_or_preds, data, return_preds=True, **evaluate_kwargs)
        preds, labels = r["preds"], r["labels"]
        if classes is None:
            split = getattr(data, "test", data)
            classes = getattr(split, "classes", None) or None
    elif isinstance(model_or_preds, dict):
        preds, labels = model_or_preds["preds"], model_or_preds["labels"]
    else:
        preds = model_or_preds
        if labels is None:
            raise ValueError("predictions need labels= (the true classes) for a confusion matrix")
    k = len(classes) if classes else None
    cm = confusion_matrix(preds, labels, k)
    k = cm.shape[0]
    names = list(classes) if classes else [str(i) for i in range(k)]
    acc = np.trace(cm) / max(cm.sum(), 1)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * k, 0.6 + 0.5 * k) if k > 6 else (5, 4.2))
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, label="fraction of true class" if normalize else "count")
    if k <= 12:
        for i in range(k):
            for j in range(k):
                v = shown[i, j]
                text = f"{v:.2f}" if normalize else str(int(v))
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if v > (0.5 if normalize else shown.max() / 2) else "black")
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or f"Confusion matrix (accuracy {acc:.3f}, n={int(cm.sum())})")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- sampling points


def normalized_to_image(u: torch.Tensor, image_size: int, feature_size: int | None = None,
                        align_corners: bool = False) -> torch.Tensor:
    """Normalized coordinate(s) ``u`` in [-1, 1] of a feature map -> image pixel coordinates.

    ``feature_size``: side of the feature map the positions refer to (None: the image itself).
    ``align_corners``: the grid_sample convention the block reads its input with.
    """
    hf = feature_size or image_size
    f = (u + 1) / 2 * (hf - 1) if align_corners else ((u + 1) * hf - 1) / 2
    s = image_size / hf
    return f * s + (s - 1) / 2


def _deformable_meta(model: nn.Module) -> list:
    """Forward hooks that record (H, W, align_corners) of every deformable block call, in order."""
    try:
        from .deformable import DeformableAttention
    except ImportError:  # pragma: no cover - the library always has it
        return []
    records: list = []
    handles = []
    for m in model.modules():
        if isinstance(m, DeformableAttention):
            def hook(mod, args, rec=records):
                x = args[0]
                rec.append((x.shape[-2], x.shape[-1], bool(getattr(mod, "align_corners", True))))

            handles.append(m.register_forward_pre_hook(hook))
    records.append(handles)  # the caller removes the hooks
    return records


@torch.no_grad()
def collect_positions(model: nn.Module, images: torch.Tensor) -> tuple[list, list, list]:
    """Run ``model(images, return_positions=True)``; keep the deformable blocks.

    Returns ``(blocks, positions, references)``: block indices (into the model's per-block lists)
    and, for each, float tensors (B, g, Hk, Wk, 2), normalized, (y, x), on the CPU.
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


def _to_display(images: torch.Tensor, mean, std) -> tuple[torch.Tensor, np.ndarray]:
    """(model input float, displayable (B, H, W, C) in [0, 1])."""
    from .data.augment import denormalize, normalize

    if images.dtype == torch.uint8:
        if mean is None or std is None:
            raise ValueError("uint8 images need mean= and std= (the data set statistics) to be normalized")
        x = normalize(images, mean, std)
        show = images.float() / 255
    else:
        x = images.float()
        if mean is not None and std is not None:
            show = denormalize(x, mean, std)
        else:  # unknown statistics: stretch each image to [0, 1]
            lo = x.amin((1, 2, 3), keepdim=True)
            hi = x.amax((1, 2, 3), keepdim=True)
            show = (x - lo) / (hi - lo).clamp_min(1e-8)
    return x, show.permute(0, 2, 3, 1).cpu().numpy()


def plot_sampling_points(
    model: nn.Module,
    images,
    *,
    block: int | None = None,
    groups: Sequence[int] | None = None,
    max_images: int = 4,
    mean=None,
    std=None,
    labels=None,
    classes: Sequence[str] | None = None,
    arrows: bool = True,
    boxes=None,
    title: str | None = None,
) -> plt.Figure:
    """Reference points (hollow circles) and learned sampling positions (red crosses) on images.

    model: returns ``(logits, positions, references)`` for ``return_positions=True``.
    images: float (B, C, H, W) already normalized (give ``mean``/``std`` to show true colours),
    uint8 (B, C, H, W) with ``mean``/``std``, or a DataSplit (its first ``max_images``).
    block: index into the model's per-block lists (default: the last deformable block).
    groups: which offset groups to draw (default: all; one colour per group).
    boxes: optional (B, 4) normalized (y0, x0, y1, x1) object boxes (shapes data) drawn as a frame.
    Arrows go from each reference point to its sampling position.
    """
    from .data import DataSplit

    if isinstance(images, DataSplit):
        split = images
        images = split.images[:max_images]
        mean, std = split.mean, split.std
        labels = split.labels[:max_images] if labels is None else labels
        classes = classes or split.classes
        if boxes is None and "boxes_norm" in split.extra:
            boxes = split.extra["boxes_norm"][:max_images]
    if images.ndim != 4:
        raise ValueError(f"images must be a (B, C, H, W) batch, got {tuple(images.shape)}")
    images = images[:max_images]
    device = next(model.parameters()).device
    x, show = _to_display(images, mean, std)
    meta = _deformable_meta(model)
    handles = meta.pop() if meta else []
    try:
        blocks, pos_list, ref_list = collect_positions(model, x.to(device))
    finally:
        for h in handles:
            h.remove()
    if not blocks:
        raise ValueError("the model has no deformable blocks (all positions are None): nothing to draw")
    which = len(blocks) - 1 if block is None else (blocks.index(block) if block in blocks else None)
    if which is None:
        raise ValueError(f"block {block} is not deformable; deformable blocks: {blocks}")
    pos, ref = pos_list[which], ref_list[which]  # (B, g, Hk, Wk, 2), (y, x)
    if pos.ndim != 5 or pos.shape[-1] != 2:
        raise ValueError(f"positions must be (B, g, Hk, Wk, 2), got {tuple(pos.shape)}")
    H, W = show.shape[1:3]
    if len(meta) == len(blocks):  # hooks saw every deformable call: exact feature-map mapping
        hf, wf, ac = meta[which]
    else:
        hf, wf, ac = H, W, False
    to_y = lambda u: normalized_to_image(u, H, hf, ac)  # noqa: E731
    to_x = lambda u: normalized_to_image(u, W, wf, ac)  # noqa: E731
    g_all = range(pos.shape[1]) if groups is None else groups
    colors = plt.cm.autumn(np.linspace(0, 0.8, max(len(list(g_all)), 1)))
    n = show.shape[0]
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.8), squeeze=False)
    for i, ax in enumerate(axes[0]):
        img = show[i]
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                  extent=(-0.5, W - 0.5, H - 0.5, -0.5), interpolation="nearest")
        for gi, g in enumerate(g_all):
            ry, rx = to_y(ref[i, g, ..., 0]).flatten(), to_x(ref[i, g, ..., 1]).flatten()
            py, px = to_y(pos[i, g, ..., 0]).flatten(), to_x(pos[i, g, ..., 1]).flatten()
            ax.scatter(rx, ry, s=28, facecolors="none", edgecolors="cyan", linewidths=1.0,
                       label="reference points" if gi == 0 else None, zorder=3)
            ax.scatter(px, py, s=30, marker="x", color=colors[gi], linewidths=1.4,
                       label=f"sampling positions (group {g})", zorder=4)
            if arrows:
                ax.quiver(rx, ry, px - rx, py - ry, angles="xy", scale_units="xy", scale=1, width=0.004,
                          color=colors[gi], alpha=0.6, zorder=2)
        if boxes is not None:
            y0, x0, y1, x1 = [float(v) for v in torch.as_tensor(boxes)[i]]
            # normalized box edges -> pixel edges (edge e -> (e + 1) / 2 * size - 0.5)
            py0, px0 = (y0 + 1) / 2 * H - 0.5, (x0 + 1) / 2 * W - 0.5
            py1, px1 = (y1 + 1) / 2 * H - 0.5, (x1 + 1) / 2 * W - 0.5
            ax.add_patch(plt.Rectangle((px0, py0), px1 - px0, py1 - py0, fill=False, ec="lime", lw=1.5,
                                       ls="--", label="object box"))
        ax.set_xlim(-0.5 - 0.1 * W, W - 0.5 + 0.1 * W)
        ax.set_ylim(H - 0.5 + 0.1 * H, -0.5 - 0.1 * H)
        name = ""
        if labels is not None:
            lab = int(torch.as_tensor(labels)[i])
            name = f"{classes[lab]}" if classes else f"class {lab}"
        ax.set_title(name or f"image {i}")
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")
    handles_, names_ = axes[0, 0].get_legend_handles_labels()
    ncol = min(len(names_), 3)
    rows = -(-len(names_) // ncol)
    fig.legend(handles_, names_, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    fig.suptitle(title or f"Deformable block {blocks[which]}: references (o) and sampling positions (x)")
    fig.tight_layout(rect=(0, 0.03 + 0.055 * rows, 1, 1))
    return fig
