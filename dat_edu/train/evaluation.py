"""Loss and accuracy of a model on a data split: no augmentation, no label smoothing, no gradients."""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import DataBundle, DataSplit, normalize
from .distributed import all_reduce_sum

__all__ = ["evaluate", "amp_context"]


def amp_context(device: torch.device, amp: bool):
    """bf16 autocast on ``device`` when ``amp``, else nothing."""
    if not amp:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _as_split(data, mean, std) -> DataSplit:
    if isinstance(data, DataBundle):
        return data.test
    if isinstance(data, DataSplit):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = data
        if images.dtype == torch.uint8 and (mean is None or std is None):
            raise ValueError("uint8 images need mean= and std= (the data set's statistics) to be normalized; "
                             "or pass a DataSplit/DataBundle from dat_edu.data.load_dataset")
        c = images.shape[1]
        return DataSplit(images, labels, tuple(mean or (0.0,) * c), tuple(std or (1.0,) * c), ())
    raise ValueError("data must be a DataBundle, DataSplit or an (images, labels) pair")


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data,
    *,
    batch_size: int = 500,
    device=None,
    amp: bool = False,
    channels_last: bool = False,
    mean=None,
    std=None,
    return_preds: bool = False,
    shard: tuple[int, int] | None = None,
) -> dict:
    """Loss and accuracy of ``model`` on ``data`` (no augmentation, no label smoothing).

    data: a :class:`DataBundle` (its test split), a :class:`DataSplit`, or ``(images, labels)``
    with images uint8 (then pass ``mean``/``std``) or already-normalized float (N, C, H, W).
    Returns ``{"loss", "acc", "n"}`` and, with ``return_preds``, ``"preds"`` and ``"labels"``
    (int64 CPU tensors). ``shard=(rank, world)`` evaluates every world-th image and sums the
    counts over ranks (used under torchrun). The model's train/eval mode is restored afterwards.
    """
    split = _as_split(data, mean, std)
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    images, labels = split.images, split.labels
    if shard is not None and shard[1] > 1:
        images, labels = images[shard[0]:: shard[1]], labels[shard[0]:: shard[1]]
    was_training = model.training
    model.eval()
    loss_sum, correct, preds = 0.0, 0, []
    try:
        for i in range(0, images.shape[0], batch_size):
            xb = images[i : i + batch_size].to(device, non_blocking=True)
            yb = labels[i : i + batch_size].to(device, non_blocking=True)
            x = normalize(xb, split.mean, split.std) if xb.dtype == torch.uint8 else xb.float()
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with amp_context(device, amp):
                logits = model(x)
            logits = logits.float()
            loss_sum += F.cross_entropy(logits, yb, reduction="sum").item()
            pred = logits.argmax(1)
            correct += (pred == yb).sum().item()
            if return_preds:
                preds.append(pred.cpu())
    finally:
        model.train(was_training)
    n = images.shape[0]
    if shard is not None and shard[1] > 1:
        loss_sum, correct, n = all_reduce_sum([loss_sum, float(correct), float(n)], device)
        correct, n = int(correct), int(n)
    out = {"loss": loss_sum / max(n, 1), "acc": correct / max(n, 1), "n": n}
    if return_preds:
        out["preds"] = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)
        out["labels"] = labels.cpu()
    return out
