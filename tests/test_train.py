"""Training loop: config/presets, schedule, determinism, exact resume, checkpoints, metrics files."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn as nn

from dat_edu import train as T
from dat_edu.data import load_dataset


class StandIn(nn.Module):
    """Tiny conv net with the model API of dat_cifar (for fast tests of the loop itself)."""

    def __init__(self, num_classes=10, in_chans=3, img_size=32):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 8, 3, stride=2, padding=1)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, num_classes)
        self.drop = nn.Dropout(0.1)  # exercises the global RNG stream

    def forward(self, x):
        h = torch.relu(self.conv(x)).mean((2, 3))
        return self.head(self.drop(self.norm(h)))


class SmallCNN(nn.Module):
    """Three convolutions and max pooling: enough to tell the shapes apart."""

    def __init__(self, num_classes=10, in_chans=3, img_size=32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.head(self.features(x).amax((2, 3)))


@pytest.fixture(autouse=True)
def one_thread():
    """One thread: faster and steadier than two on a shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# dat_cifar at a tenth of its width: same code paths (window, shifted, deformable blocks), fast
TINY_DAT = dict(dims=(16, 32, 64), heads=(1, 2, 4), groups=(None, 1, 2))


def tiny(**kw):
    base = dict(preset="tiny", progress=False, out_dir=None, model="dat_cifar", model_kwargs=TINY_DAT)
    base.update(kw)
    return base


def test_presets_resolve_and_validate():
    for name in T.PRESETS:
        cfg, explicit = T.make_config(name)
        assert isinstance(cfg, T.TrainConfig) and "epochs" in explicit
    cfg, _ = T.make_config({"preset": "cpu", "epochs": 7})
    assert cfg.epochs == 7 and cfg.device == "cpu"
    with pytest.raises(ValueError, match="unknown preset"):
        T.make_config("laptop")
    with pytest.raises(ValueError, match="unknown training setting"):
        T.make_config({"epoch": 3})
    with pytest.raises(ValueError, match="amp"):
        T.make_config({"amp": "fp16"})


def test_gpu_preset_uses_the_gpu_features():
    cfg, _ = T.make_config("gpu")
    assert cfg.amp == "bf16" and cfg.channels_last is True and cfg.dataset == "cifar10"
    assert cfg.batch_size >= 256


def test_fast_env_shrinks(monkeypatch):
    monkeypatch.setenv("DAT_EDU_FAST", "1")
    cfg, _ = T.make_config("gpu")
    assert cfg.epochs == 1 and cfg.train_size <= 1024 and cfg.test_size <= 512


def test_lr_schedule_warmup_then_cosine():
    lrs = [T.lr_at(s, 100, 10, 1e-3, 1e-5) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:10]))  # rising warm-up
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # falling cosine
    assert lrs[-1] == pytest.approx(1e-5)
    assert lrs[55] == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * 45 / 89)))


def test_scheduler_follows_lr_at_per_step():
    r = T.train(tiny(epochs=2, lr=1e-3, min_lr=1e-4))
    # 64 images / 16 = 4 steps per epoch; 8 steps; lr of the last epoch row = lr_at(8) (after 8 steps)
    assert r["history"][-1]["step"] == 8
    assert r["history"][0]["lr"] == pytest.approx(T.lr_at(4, 8, 2, 1e-3, 1e-4))


def test_same_seed_same_run_and_different_seed_differs():
    a = T.train(tiny(epochs=2))
    b = T.train(tiny(epochs=2))
    c = T.train(tiny(epochs=2, seed=1))
    sa, sb, sc = (r["model"].state_dict() for r in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    strip = lambda h: [{k: v for k, v in row.items() if k not in ("epoch_time_s", "images_per_s")} for row in h]  # noqa: E731
    assert strip(a["history"]) == strip(b["history"])


def _stripped(history):
    return [{k: v for k, v in row.items() if k not in ("epoch_time_s", "images_per_s")} for row in history]


@pytest.mark.parametrize("cutmix", [0.0, 0.5])
def test_resume_is_exact(tmp_path, cutmix):
    kw = dict(epochs=2, out_dir=str(tmp_path), cutmix_prob=cutmix, amp="bf16")
    straight = T.train(tiny(run_name="straight", **kw))
    first = T.train(tiny(run_name="split", stop_after=1, **kw))
    assert len(first["history"]) == 1 and not first["finished"]
    resumed = T.train(tiny(run_name="split", resume=str(tmp_path / "split"), **kw))
    assert resumed["finished"]
    s1, s2 = straight["model"].state_dict(), resumed["model"].state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert _stripped(straight["history"]) == _stripped(resumed["history"])
    # the metrics file of the resumed run holds both epochs
    rows = json.loads((tmp_path / "split" / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2]
    # optimizer state equal too
    o1 = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["optimizer"]["state"]
    o2 = torch.load(tmp_path / "split" / "last.pt", weights_only=True)["optimizer"]["state"]
    assert all(torch.equal(o1[k]["exp_avg"], o2[k]["exp_avg"]) for k in o1)


def test_resume_with_checkpoint_settings_only(tmp_path):
    T.train(tiny(epochs=2, stop_after=1, out_dir=str(tmp_path), run_name="r"))
    # only `resume` given: everything else comes from the checkpoint
    r = T.train({"resume": str(tmp_path / "r" / "last.pt"), "progress": False})
    assert [h["epoch"] for h in r["history"]] == [1, 2] and r["config"]["dataset"] == "synthetic"


def test_metrics_files_and_checkpoint_contents(tmp_path):
    r = T.train(tiny(epochs=2, out_dir=str(tmp_path), run_name="m"))
    run = tmp_path / "m"
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "last.pt", "metrics.csv", "metrics.json", "summary.json"]
    lines = (run / "metrics.csv").read_text().strip().splitlines()
    assert lines[0].startswith("epoch,step,lr,train_loss,train_acc,test_loss,test_acc") and len(lines) == 3
    ck = T.load_checkpoint(run)
    assert ck["epoch"] == 2 and ck["step"] == 8 and ck["config"]["dataset"] == "synthetic"
    assert set(ck["rng"]) == {"order", "aug", "torch", "cuda"}
    assert 0 <= r["final"]["test_acc"] <= 1 and r["images_per_s"] > 0
    # a finished run's folder is not overwritten by accident
    with pytest.raises(ValueError, match="already holds a run"):
        T.train(tiny(epochs=2, out_dir=str(tmp_path), run_name="m"))


def test_corrupt_and_foreign_checkpoints_are_clear(tmp_path):
    T.train(tiny(out_dir=str(tmp_path), run_name="c"))
    path = tmp_path / "c" / "last.pt"
    data = path.read_bytes()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(T.CheckpointError, match="corrupt"):
        T.train(tiny(resume=str(bad)))
    foreign = tmp_path / "weights.pt"
    torch.save(StandIn().state_dict(), foreign)  # bare weights, not a training checkpoint
    with pytest.raises(T.CheckpointError, match="not a dat_edu training checkpoint"):
        T.load_checkpoint(foreign)
    with pytest.raises(T.CheckpointError, match="no checkpoint"):
        T.load_checkpoint(tmp_path / "nothing.pt")


def test_mismatched_checkpoint_is_clear(tmp_path):
    T.train(tiny(out_dir=str(tmp_path), run_name="c"))
    with pytest.raises(T.CheckpointError, match="different settings.*batch_size"):
        T.train(tiny(resume=str(tmp_path / "c"), batch_size=8))

    with pytest.raises(T.CheckpointError, match="does not fit this model"):
        T.train(tiny(resume=str(tmp_path / "c")), model=StandIn)  # another architecture


def test_evaluate_counts_and_inputs():
    data = load_dataset("synthetic", train_size=8, test_size=20)

    class Const(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            out = torch.zeros(x.shape[0], 10)
            out[:, 3] = 1
            return out + self.w

    m = Const()
    r = T.evaluate(m, data, batch_size=7, return_preds=True)
    expected = (data.test.labels == 3).float().mean().item()
    assert r["n"] == 20 and r["acc"] == pytest.approx(expected)
    assert r["preds"].tolist() == [3] * 20 and torch.equal(r["labels"], data.test.labels)
    r2 = T.evaluate(m, (data.test.images, data.test.labels), mean=data.test.mean, std=data.test.std)
    assert r2["acc"] == r["acc"] and r2["loss"] == pytest.approx(r["loss"])
    with pytest.raises(ValueError, match="mean= and std="):
        T.evaluate(m, (data.test.images, data.test.labels))


def test_training_learns_shapes():
    # 48 steps of a small CNN on the shapes data beat chance (25%) clearly (measured: 0.64)
    r = T.train({"preset": "ci", "out_dir": None, "epochs": 3, "train_size": 1024}, model=SmallCNN)
    assert r["final"]["test_acc"] > 0.45, r["history"]


def test_cli_print_config(capsys):
    T.main(["--preset", "ci", "--epochs", "5", "--model-kw", "depth=2", "--print-config"])
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["epochs"] == 5 and cfg["model_kwargs"] == {"depth": 2} and cfg["dataset"] == "shapes"


def test_cli_runs_with_import_path_model(tmp_path, monkeypatch):
    (tmp_path / "standin_mod.py").write_text(
        "import torch.nn as nn\n"
        "def make(num_classes, in_chans, img_size):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(in_chans * img_size * img_size, num_classes))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    r = T.main(["--preset", "tiny", "--model", "standin_mod:make", "--out-dir", str(tmp_path), "--run-name", "cli"])
    assert (tmp_path / "cli" / "metrics.csv").exists() and len(r["history"]) == 1
    with pytest.raises(ValueError, match="cannot find model"):
        T.main(["--preset", "tiny", "--model", "standin_mod:nope", "--out-dir", str(tmp_path), "--run-name", "x"])


def test_cli_without_network_exits_with_the_manual_download_hint(tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(url, timeout=None):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(SystemExit) as info:
        T.main(["--preset", "tiny", "--dataset", "cifar10", "--data-root", str(tmp_path / "d"), "--out-dir", str(tmp_path)])
    msg = str(info.value)
    assert "cifar-10-python.tar.gz" in msg and str(tmp_path / "d") in msg and "No network" in msg
