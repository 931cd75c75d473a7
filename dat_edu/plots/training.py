"""Figures of a training run: loss/accuracy/learning-rate curves and the confusion matrix.

Each function returns the matplotlib ``Figure`` (made with ``plt.subplots`` so that a notebook
cell ending in ``plt.show()`` displays it). Every figure has a title, axis labels and a legend
or colour bar.
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

from dat_edu.train import evaluate

__all__ = ["plot_training_curves", "confusion_matrix", "plot_confusion_matrix"]


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
