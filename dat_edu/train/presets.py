"""Named starting points for a run: each preset sets some fields of :class:`TrainConfig`.

This table is the one place presets live: the command line's ``--preset`` choices and help, the
lessons and the tests all read it. A value here wins over the field's default; a setting the caller
gives wins over the preset.
"""

from __future__ import annotations

__all__ = ["PRESETS"]

PRESETS: dict[str, dict] = {
    # a GPU, full CIFAR-10 (big batch, bf16, channels-last, data on the device)
    "gpu": dict(
        dataset="cifar10", epochs=60, batch_size=512, lr=2e-3, min_lr=1e-5, warmup_epochs=3,
        weight_decay=0.05, label_smoothing=0.1, clip_grad=5.0, cutmix_prob=0.25,
        amp="bf16", channels_last=True, device="auto",
    ),
    # a laptop CPU: real Fashion-MNIST at 28x28 (all 60,000 images) and dat_fashion (a convolutional
    # stem, one 7x7 stage, a flattening head), a recipe for a run of minutes: small batches and a
    # high learning rate (more steps per image), short warm-up, and none of the regularizers of long
    # runs (weight decay, label smoothing, crop, flip, CutMix: four epochs are too few for them to
    # pay off), fp32 (bf16 autocast is slower than fp32 for a model this small on a CPU)
    "cpu": dict(
        dataset="fashion_mnist_28", model="dat_fashion", epochs=4, batch_size=64, lr=4e-3,
        warmup_epochs=0.3, weight_decay=0.0, label_smoothing=0.0, crop_padding=0, flip=False,
        cutmix_prob=0.0, amp="none", channels_last=False, device="cpu",
    ),
    # a continuous-integration sized run on the generated shapes data
    "ci": dict(
        dataset="shapes", train_size=512, test_size=256, epochs=2, batch_size=64, lr=2e-3,
        warmup_epochs=0.5, amp="none", channels_last=False, device="cpu", progress=False,
    ),
    # deformable keys moving onto the objects of the synthetic shapes data, on one CPU thread:
    # the dat_shapes model (one key per offset group, see its docstring)
    "shapes": dict(
        dataset="shapes", model="dat_shapes", train_size=4000, test_size=1000, epochs=3, batch_size=64,
        lr=2e-3, warmup_epochs=0.3, label_smoothing=0.0, crop_padding=0, flip=False, amp="none",
        channels_last=False, device="cpu", threads=1,
    ),
    # the smallest run that touches every code path (for unit tests)
    "tiny": dict(
        dataset="synthetic", train_size=64, test_size=32, epochs=1, batch_size=16,
        eval_batch_size=16, warmup_epochs=0.5, amp="none", channels_last=False, device="cpu",
        progress=False,
    ),
}
