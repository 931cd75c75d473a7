"""torchrun with two CPU processes (gloo): DDP training matches a single process on the same batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from dat_edu import train as T

# augmentation and drop-path off: then the two ranks' halves of each batch are exactly the
# single-process batch and nothing random differs between the runs. dat_cifar at 1/3 width.
ARGS = ["--preset", "tiny", "--model", "dat_cifar", "--model-kw", "dims=(16, 32, 64)",
        "--model-kw", "heads=(1, 2, 4)", "--model-kw", "groups=(None, 1, 2)", "--model-kw", "drop_path_rate=0.0",
        "--epochs", "2", "--crop-padding", "0", "--no-flip", "--no-progress", "--train-size", "64",
        "--test-size", "30", "--batch-size", "16"]


def test_two_process_ddp_matches_single_process(tmp_path, monkeypatch):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("DAT_EDU_FAST", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "dat_edu.train", *ARGS, "--out-dir", str(tmp_path), "--run-name", "ddp"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    monkeypatch.delenv("DAT_EDU_FAST", raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = T.main([*ARGS, "--out-dir", str(tmp_path), "--run-name", "single"])
    finally:
        torch.set_num_threads(threads)

    ddp = T.load_checkpoint(tmp_path / "ddp")
    assert ddp["epoch"] == 2 and len(ddp["rng"]["aug"]) == 2  # both ranks' generators saved
    w_ddp, w_one = ddp["model"], single["model"].state_dict()
    # Equal up to float rounding (the gradient all-reduce sums in another order; AdamW divides by
    # sqrt(v), which magnifies rounding of near-zero gradients to ~1e-4). A wrong shard (both
    # ranks on the same images, or a batch missed) moves weights by ~lr = 1e-3 per step.
    for k in w_one:
        torch.testing.assert_close(w_ddp[k], w_one[k], rtol=1e-3, atol=5e-4)
    # metrics come from rank 0 only, once per epoch, and agree with the single process
    rows = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2]
    for a, b in zip(rows, single["history"]):
        for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
            assert abs(a[key] - b[key]) < 2e-3, (key, a[key], b[key])
    assert a["step"] == b["step"] == 8
