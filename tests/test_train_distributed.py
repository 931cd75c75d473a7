"""torchrun with two CPU processes (gloo): DDP training matches a single process on the same batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from dat_edu import train as T

MODEL_SRC = '''
import torch.nn as nn

def make(num_classes, in_chans, img_size):
    return nn.Sequential(
        nn.Conv2d(in_chans, 8, 3, stride=2, padding=1), nn.GELU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes),
    )
'''

# augmentation off: then the two ranks' halves of each batch are exactly the single-process batch
ARGS = ["--preset", "tiny", "--model", "ddp_standin:make", "--epochs", "2", "--crop-padding", "0",
        "--no-flip", "--no-progress", "--train-size", "64", "--test-size", "30", "--batch-size", "16"]


def test_two_process_ddp_matches_single_process(tmp_path, monkeypatch):
    (tmp_path / "ddp_standin.py").write_text(MODEL_SRC)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    env.pop("DAT_EDU_FAST", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "dat_edu.train", *ARGS, "--out-dir", str(tmp_path), "--run-name", "ddp"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("DAT_EDU_FAST", raising=False)
    single = T.main([*ARGS, "--out-dir", str(tmp_path), "--run-name", "single"])

    ddp = T.load_checkpoint(tmp_path / "ddp")
    assert ddp["epoch"] == 2 and len(ddp["rng"]["aug"]) == 2  # both ranks' generators saved
    w_ddp, w_one = ddp["model"], single["model"].state_dict()
    for k in w_one:
        torch.testing.assert_close(w_ddp[k], w_one[k], rtol=1e-4, atol=1e-5)
    # metrics come from rank 0 only, once per epoch, and agree with the single process
    rows = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2]
    for a, b in zip(rows, single["history"]):
        for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
            assert abs(a[key] - b[key]) < 1e-4, (key, a[key], b[key])
    assert a["step"] == b["step"] == 8
