"""dat_edu.train is one package; its command line is generated from TrainConfig; it trains without tqdm."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import typing

import pytest

import dat_edu.train as T
from dat_edu.train import cli, progress


def test_dat_edu_train_is_one_object_on_every_access():
    # a fresh interpreter: the first access used to return a lazily exported function, the second the module
    code = (
        "import types, dat_edu\n"
        "first = dat_edu.train\n"
        "second = dat_edu.train\n"
        "from dat_edu import train as third\n"
        "import dat_edu.train as fourth\n"
        "assert first is second is third is fourth, (first, second, third, fourth)\n"
        "assert isinstance(first, types.ModuleType) and first.__name__ == 'dat_edu.train'\n"
        "from dat_edu.train import train, evaluate\n"
        "assert callable(train) and train is first.train and evaluate is dat_edu.evaluate\n"
        "assert type(first.evaluate) is types.FunctionType  # no submodule shadows a function\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _sample_argv(f: dataclasses.Field, kind) -> tuple[list[str], object]:
    """A command-line setting for field ``f`` and the value it must produce."""
    flag = "--" + f.name.replace("_", "-")
    if kind is bool:
        return ([f"--no-{flag[2:]}"], False) if f.default else ([flag], True)
    if kind is dict:
        return [flag, "depth=2", flag, "name=abc"], {"depth": 2, "name": "abc"}
    if f.metadata.get("parse") == "bool_or_auto":
        return [flag, "false"], False
    if f.metadata.get("choices"):
        choice = f.metadata["choices"][-1]
        return [flag, choice], choice
    base = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
    sample = {int: ("3", 3), float: ("0.25", 0.25), str: ("abc", "abc")}[base]
    return [flag, sample[0]], sample[1]


def test_the_cli_exposes_every_trainconfig_field():
    parser = cli.build_parser()
    dests = {a.dest: a for a in parser._actions}
    kinds = typing.get_type_hints(T.TrainConfig)
    help_text = parser.format_help()
    for f in dataclasses.fields(T.TrainConfig):
        assert f.name in dests, f"no command-line flag for TrainConfig.{f.name}"
        assert f.metadata["help"] and dests[f.name].help.startswith(f.metadata["help"]), f.name
        argv, expected = _sample_argv(f, kinds[f.name])
        values = vars(parser.parse_args(argv))
        got = values.pop(f.name)
        assert (dict(got) if kinds[f.name] is dict else got) == expected, (f.name, got)
        assert set(values) == {"preset", "print_config"}, f"{argv} set more than {f.name}: {values}"
    assert "--model-kw" in help_text and "--cutmix" in help_text and "--no-flip" in help_text  # the old spellings
    assert all(name in help_text for name in T.PRESETS)


def test_cli_values_reach_the_config(capsys):
    T.main(["--preset", "ci", "--eval-batch-size", "7", "--cutmix-alpha", "0.5", "--clip-grad", "none",
            "--train-size", "none", "--channels-last", "auto", "--print-config"])
    cfg = json.loads(capsys.readouterr().out)
    assert (cfg["eval_batch_size"], cfg["cutmix_alpha"], cfg["clip_grad"], cfg["train_size"]) == (7, 0.5, None, None)
    T.main(["--preset", "ci", "--clip-grad", "0", "--print-config"])  # 0 disables clipping too
    assert json.loads(capsys.readouterr().out)["clip_grad"] is None
    with pytest.raises(SystemExit):
        T.main(["--dataset", "imagenet", "--print-config"])  # choices come from dat_edu.data.DATASETS


def test_training_without_tqdm_prints_plain_lines(monkeypatch, capsys):
    monkeypatch.setattr(progress, "_tqdm", None)  # what a core install (no course extra) has
    monkeypatch.setattr(progress.EpochProgress, "INTERVAL", 0.0)  # a line per update
    r = T.train({"preset": "tiny", "progress": True, "out_dir": None, "epochs": 1})
    out = capsys.readouterr().out
    assert "epoch 1/1: step 1/4" in out and "loss" in out  # progress inside the epoch
    assert "epoch 1/1  train loss" in out and out.rstrip().splitlines()[-1].startswith("done: 1 epoch(s)")
    assert len(r["history"]) == 1
