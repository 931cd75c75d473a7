"""Real-data check: dat_cifar trained on real Fashion-MNIST (padded to 32x32) beats chance by far.

The only long test of the training code (one to two minutes on a 2-core CPU). It trains on the
Fashion-MNIST sample bundled with dat_edu (4,000 training and 1,000 test images of the official
files), so it runs on every machine, with no network and no data package, on the same images
everywhere.

Budget and bar: see FASHION_RUN / MIN_ACCURACY below; the accuracy measured on the 2-core
development machine is in the comment next to the bar.
"""

from __future__ import annotations

import time

import torch

from dat_edu.data.fashion_mnist import FASHION_MNIST_SAMPLE, SAMPLE_SIZES
from dat_edu.train import train

# dat_cifar at half width (0.57M parameters instead of 1.27M, same blocks: L S | L D | L D):
# about 1.7x the images/s of the full model on this CPU, so more images fit in the budget.
SIBLING = dict(dims=(32, 64, 128), heads=(1, 2, 4), groups=(None, 1, 2))
FASHION_RUN = dict(
    dataset="fashion_mnist",
    data_root=str(FASHION_MNIST_SAMPLE),
    model="dat_cifar",
    model_kwargs=SIBLING,
    train_size=SAMPLE_SIZES[True],
    test_size=SAMPLE_SIZES[False],
    epochs=4,
    batch_size=64,
    lr=2e-3,
    warmup_epochs=0.3,
    amp="bf16",
    crop_padding=2,
    flip=True,
    threads=1,
    out_dir=None,
    progress=False,
    device="cpu",
    seed=0,
)
# Measured on the 2-core development machine (shared, load average ~2), one thread: test
# accuracy 0.759 after 91 s of CPU time (3 epochs: 0.731 after 70 s). Chance is 0.10; the bar
# leaves ~10 points for other CPUs and bf16 rounding.
MIN_ACCURACY = 0.65


def test_dat_cifar_learns_fashion_mnist():
    t0 = time.perf_counter()
    r = train(FASHION_RUN)
    elapsed = time.perf_counter() - t0
    acc = r["final"]["test_acc"]
    print(f"Fashion-MNIST: test accuracy {acc:.4f} after {elapsed:.0f} s ({r['images_per_s']:.0f} img/s)")
    assert r["model"].__class__.__name__ == "DAT"
    assert acc > MIN_ACCURACY, r["history"]
    # the deformable blocks really moved their sampling points away from the reference grid
    x = r["data"].test.normalized(0, 16)
    with torch.no_grad():
        _, pos, ref = r["model"].eval()(x, return_positions=True)
    moved = [float((p - q).abs().mean()) for p, q in zip(pos, ref) if p is not None]
    assert moved and all(m > 1e-3 for m in moved), moved
