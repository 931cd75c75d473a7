"""Real-data check: dat_cifar trained on real Fashion-MNIST (padded to 32x32) beats chance by far.

The only long test of the training code (about 2 minutes on a 2-core CPU). It needs the Debian
package ``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``; CI installs it)
and is skipped, saying so, when /usr/share/datasets/fashion-mnist is missing.

Budget and bar: see FASHION_RUN / MIN_ACCURACY below; the accuracy measured on the 2-core
development machine is in the comment next to the bar.
"""

from __future__ import annotations

import time

import pytest
import torch

from dat_edu.data.fashion_mnist import fashion_mnist_root
from dat_edu.train import train

pytestmark = pytest.mark.skipif(
    not (fashion_mnist_root() / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"Fashion-MNIST not found in {fashion_mnist_root()}: apt-get install dataset-fashion-mnist",
)

# dat_cifar at half width (0.57M parameters instead of 1.27M, same blocks: L S | L D | L D):
# about 1.7x the images/s of the full model on this CPU, so more images fit in the budget.
SIBLING = dict(dims=(32, 64, 128), heads=(1, 2, 4), groups=(None, 1, 2))
FASHION_RUN = dict(
    dataset="fashion_mnist",
    model="dat_cifar",
    model_kwargs=SIBLING,
    train_size=6000,
    test_size=2000,
    epochs=3,
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
# Measured on the 2-core development machine (busy, load average ~5): test accuracy 0.752
# after 138 s (150 img/s; 2 epochs: 0.732 after 98 s). Chance is 0.10; the bar leaves ~10
# points for other CPUs, thread timings and bf16 rounding.
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
