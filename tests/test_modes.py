"""dat_edu.modes: the pinned mode never depends on the machine; auto and full use what it has."""
from __future__ import annotations

import pytest
import torch

from data_fixtures import install_small_cifar, make_idx_split
from dat_edu import modes
from dat_edu.data import fashion_mnist as fm


@pytest.fixture
def bare_machine(monkeypatch, tmp_path):
    """No GPU, no Debian package, no $DAT_EDU_FASHION_MNIST, an empty data folder, no network."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(fm, "FASHION_MNIST_DIR", tmp_path / "no-package")
    monkeypatch.delenv("DAT_EDU_FASHION_MNIST", raising=False)
    monkeypatch.delenv(modes.MODE_ENV, raising=False)
    monkeypatch.setenv("DAT_EDU_DATA", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def rich_machine(bare_machine, monkeypatch):
    """A GPU, CIFAR-10 in the data folder and the full Fashion-MNIST installed."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Test GPU")
    install_small_cifar(bare_machine / "data", n=2)
    package = bare_machine / "package"
    package.mkdir()
    make_idx_split(package, "train", 8)
    make_idx_split(package, "t10k", 4, seed=1)
    monkeypatch.setattr(fm, "FASHION_MNIST_DIR", package)
    return bare_machine


def test_mode_comes_from_argument_then_environment_then_default(monkeypatch):
    monkeypatch.delenv(modes.MODE_ENV, raising=False)
    assert modes.mode_from_env() == ("auto", "default")
    monkeypatch.setenv(modes.MODE_ENV, "Pinned")
    assert modes.mode_from_env() == ("pinned", "DAT_EDU_MODE")
    assert modes.mode_from_env("full") == ("full", "argument")
    monkeypatch.setenv(modes.MODE_ENV, "fast")
    with pytest.raises(ValueError, match=r"unknown run mode 'fast' in \$DAT_EDU_MODE: choose one of pinned, auto, full"):
        modes.mode_from_env()


@pytest.mark.parametrize("data", [("cifar10", "shapes"), ("fashion_mnist",), ()])
def test_pinned_is_the_same_on_a_bare_and_a_rich_machine(data, bare_machine, monkeypatch, capsys):
    bare = modes.run_mode("pinned", data=data)
    line_bare = capsys.readouterr().out
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Test GPU")
    install_small_cifar(bare_machine / "data", n=2)
    monkeypatch.setattr(fm, "FASHION_MNIST_DIR", fm.FASHION_MNIST_SAMPLE)  # "installed"
    rich = modes.run_mode("pinned", data=data)
    assert capsys.readouterr().out == line_bare
    assert rich == bare
    assert bare.device == "cpu" and not bare.large and bare.threads == 1 and torch.get_num_threads() == 1
    assert "\n" not in line_bare.rstrip("\n") and str(bare_machine) not in line_bare  # one line, no paths


def test_pinned_data_choices(bare_machine):
    run = modes.run_mode("pinned", data=("cifar10", "shapes"), quiet=True)
    assert (run.dataset, run.data_root) == ("shapes", None)
    assert "cifar10 is never used in pinned mode" in run.data_note
    run = modes.run_mode("pinned", data=("fashion_mnist", "shapes"), quiet=True)
    assert (run.dataset, run.data_root) == ("fashion_mnist", str(fm.FASHION_MNIST_SAMPLE))
    with pytest.raises(ValueError, match="end the list with one that is always there"):
        modes.run_mode("pinned", data=("cifar10",), quiet=True)
    with pytest.raises(ValueError, match="unknown data set"):
        modes.run_mode("pinned", data=("imagenet",), quiet=True)


def test_auto_on_a_bare_machine_is_the_small_cpu_run_with_what_is_there(bare_machine, capsys):
    run = modes.run_mode(data=("cifar10", "shapes"))
    line = capsys.readouterr().out
    assert (run.mode, run.source, run.large, run.device, run.dataset) == ("auto", "default", False, "cpu", "shapes")
    assert "cifar10 not found (`make data` fetches it)" in line
    assert 'run_mode("pinned")' in line and 'run_mode("full")' in line and 'run_mode("auto")' not in line
    # Fashion-MNIST: fetching fails without a network, so the bundled sample is used and the line says why
    run = modes.run_mode(data=("fashion_mnist",))
    assert run.data_root == str(fm.FASHION_MNIST_SAMPLE)
    assert "full set not available" in run.data_note and "No network?" in run.data_note
    assert not (bare_machine / "data" / "fashion-mnist").exists() or not list((bare_machine / "data" / "fashion-mnist").iterdir())


def test_auto_on_a_rich_machine_takes_the_gpu_and_the_real_data(rich_machine, capsys):
    run = modes.run_mode(data=("cifar10", "shapes"))
    line = capsys.readouterr().out
    assert (run.large, run.device, run.gpu, run.dataset) == (True, "cuda", "Test GPU", "cifar10")
    assert run.data_root == str(rich_machine / "data")
    assert line.startswith("run mode: auto (default): GPU (Test GPU), large run; data: cifar10")
    run = modes.run_mode(data=("fashion_mnist",), quiet=True)
    assert run.data_root == str(rich_machine / "package") and "the full set" in run.data_note


def test_full_without_a_gpu_says_it_is_slow_and_fetches(bare_machine, monkeypatch):
    asked = []
    real = modes._pick_data

    def spy(mode, data):
        asked.append(mode)
        return real(mode, data)

    monkeypatch.setattr(modes, "_pick_data", spy)
    run = modes.run_mode("full", data=("cifar10", "shapes"), quiet=True)
    assert (run.large, run.device, run.dataset) == (True, "cpu", "shapes")
    assert "No network?" in run.data_note  # full mode tried to download CIFAR-10
    assert "no GPU, so expect hours" in run.line()
    assert asked == ["full"]


def test_pinned_env_is_what_the_test_command_and_the_executor_set():
    from dat_edu.course import execute

    assert modes.pinned_env()[modes.MODE_ENV] == "pinned"
    env = execute.kernel_env()
    assert all(env[k] == v for k, v in modes.pinned_env().items())
