"""dat_edu.bench: the attention sweep, the block table (with a stand-in for the official code),
the DAT-T table, the time-to-accuracy runner and the GPU script's tiny CPU mode."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch

from dat_edu import bench
from dat_edu.bench import auto_window, format_table, paired_times, run_benchmark, saved_activation_bytes
from dat_edu.bench.blocks import run_blocks
from dat_edu.bench.official import OfficialCodeError, load_official_blocks, official_files

TINY = {"tiny": (16, 4, 2, 6, 1)}  # (channels, heads, groups, size, stage index)


def test_saved_activation_bytes_counts_what_autograd_keeps():
    x = torch.randn(1000, requires_grad=True)
    y, n = saved_activation_bytes(lambda: x.exp())  # exp saves its output: 1000 float32
    assert n == 4000
    torch.testing.assert_close(y, x.exp())
    # x * x saves x twice (once per operand): one storage, counted once
    _, n = saved_activation_bytes(lambda: x * x)
    assert n == 4000
    # a Linear saves its input (and its weight, which we exclude as a parameter)
    lin = torch.nn.Linear(10, 10)
    inp = torch.randn(3, 10, requires_grad=True)
    _, n_all = saved_activation_bytes(lambda: lin(inp))
    _, n_act = saved_activation_bytes(lambda: lin(inp), exclude=tuple(lin.parameters()))
    assert n_act == 3 * 10 * 4 and n_all == n_act + 10 * 10 * 4


def test_auto_window():
    assert [auto_window(s) for s in (8, 16, 32, 14, 28, 56, 5)] == [4, 4, 4, 7, 7, 7, 5]


def test_paired_times_reports_cpu_and_wall_medians():
    slow = lambda: sum(range(200_000))  # noqa: E731
    fast = lambda: sum(range(2_000))  # noqa: E731
    t_slow, t_fast = paired_times([slow, fast], repeats=5, warmup=1)
    assert t_slow.cpu_ms > t_fast.cpu_ms > 0 and t_slow.wall_ms > 0 and t_slow.repeats == 5
    cpu, wall = t_fast.ratio_to(t_slow)
    assert cpu > 1 and wall > 0


def test_run_benchmark_tiny():
    rows = run_benchmark(sizes=(8,), dim=8, heads=2, batch=1, repeats=1, warmup=0)
    by_name = {r["attention"]: r for r in rows}
    assert set(by_name) == {"dense", "window", "deformable", "deformable (readable)"}
    assert by_name["dense"]["keys_per_query"] == 64 and by_name["dense"]["vs_dense"] == 1.0
    assert by_name["window"]["keys_per_query"] == 16 and by_name["window"]["note"] == "window 4"
    for r in rows:
        assert r["cpu_ms"] > 0 and r["wall_ms"] > 0 and r["saved_mib"] > 0 and r["cuda_peak_mib"] is None
        assert r["params"] > 0 and r["vs_dense"] > 0
    for name in ("deformable", "deformable (readable)"):
        assert by_name[name]["keys_per_query"] == 64  # stride 1: as many keys as pixels


def test_dense_saves_more_than_window_and_grows_with_size():
    rows = run_benchmark(sizes=(8, 16), dim=8, heads=2, batch=1, repeats=1, warmup=0)
    saved = {(r["size"], r["attention"]): r["saved_mib"] for r in rows}
    assert saved[(16, "dense")] > saved[(16, "window")]
    # the dense attention matrix grows with (HW)^2: 16x more pixels^2 ... at least 8x the memory
    assert saved[(16, "dense")] > 8 * saved[(8, "dense")]


def test_window_that_does_not_divide_is_skipped():
    rows = run_benchmark(sizes=(6,), dim=8, heads=2, batch=1, repeats=1, warmup=0, window=4)
    w = next(r for r in rows if r["attention"] == "window")
    assert w["cpu_ms"] is None and "window 4 does not divide 6" in w["note"]


def test_deformable_that_cannot_be_built_is_skipped_with_the_reason():
    rows = run_benchmark(sizes=(4,), dim=8, heads=2, batch=1, repeats=1, warmup=0, groups=3)
    d = next(r for r in rows if r["attention"] == "deformable")
    assert d["cpu_ms"] is None and "not divisible by num_groups 3" in d["note"]
    assert "skipped" in format_table(rows)


def test_cli_attention_prints_table(capsys):
    threads = torch.get_num_threads()
    rows = bench.main(["attention", "--sizes", "4", "--dim", "8", "--heads", "2", "--batch", "1",
                       "--repeats", "1", "--warmup", "0", "--threads", "1"])
    assert torch.get_num_threads() == threads  # restored
    out = capsys.readouterr().out
    assert "1 CPU thread(s)" in out and "CPU ms" in out and "wall ms" in out and "x dense" in out
    assert "saved activations MiB" in out and "keys/query" in out
    assert "4x4" in out and "dense" in out and "window" in out and "deformable (readable)" in out
    assert len(rows) == 4


def test_cli_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        bench.main(["attention", "--dim", "10", "--heads", "3", "--sizes", "4", "--repeats", "1"])
    assert "not divisible by num_heads" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["blocks", "--official", "/nonexistent/dat"])
    assert "no official DAT code" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            bench.main(["attention", "--device", "cuda", "--sizes", "4"])
        assert "use --device cpu" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# the block table, paired with a stand-in for the official code


STAND_IN = '''
"""A stand-in for the official models/dat_blocks.py (v1 signature and parameter names)."""
import torch
import torch.nn as nn
from timm.models.layers import to_2tuple, trunc_normal_  # the bench provides these three helpers
import official_reference


class LayerNormProxy(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)


class DAttentionBaseline(nn.Module):
    def __init__(self, q_size, kv_size, n_heads, n_head_channels, n_groups, attn_drop, proj_drop,
                 stride, offset_range_factor, use_pe, dwc_pe, no_off, fixed_pe, stage_idx):
        super().__init__()
        c, h, w = n_heads * n_head_channels, *to_2tuple(q_size)
        cg, k = c // n_groups, [9, 7, 5, 3][stage_idx]
        self.n_heads, self.n_groups, self.stride, self.factor = n_heads, n_groups, stride, offset_range_factor
        self.conv_offset = nn.Sequential(nn.Conv2d(cg, cg, k, stride, k // 2, groups=cg), LayerNormProxy(cg),
                                         nn.GELU(), nn.Conv2d(cg, 2, 1, 1, 0, bias=False))
        self.proj_q, self.proj_k, self.proj_v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))
        self.rpe_table = nn.Parameter(torch.zeros(n_heads, 2 * h - 1, 2 * w - 1))
        trunc_normal_(self.rpe_table, std=0.01)

    def forward(self, x):
        return official_reference.official_dattention_forward(
            x, dict(self.named_parameters()), self.n_heads, self.n_groups, self.stride, self.factor)
'''


@pytest.fixture
def official_clone(tmp_path):
    models = tmp_path / "DAT" / "models"
    models.mkdir(parents=True)
    (models / "dat_blocks.py").write_text(textwrap.dedent(STAND_IN))
    return tmp_path / "DAT"


def test_official_files_are_found_in_a_clone_its_models_folder_or_the_file(official_clone):
    blocks, dat = official_files(official_clone)
    assert blocks.name == "dat_blocks.py" and dat is None  # no dat.py in the stand-in
    assert official_files(official_clone / "models")[0] == blocks == official_files(blocks)[0]
    with pytest.raises(OfficialCodeError, match="566a593"):
        official_files(official_clone / "nothing here")


def test_loading_the_official_code_leaves_no_timm_behind(official_clone):
    had_timm = "timm" in sys.modules
    module = load_official_blocks(official_clone)
    assert hasattr(module, "DAttentionBaseline")
    assert ("timm" in sys.modules) == had_timm


def test_a_dat_plus_plus_checkout_is_refused(tmp_path):
    (tmp_path / "dat_blocks.py").write_text(
        "import torch.nn as nn\nclass DAttentionBaseline(nn.Module):\n"
        "    def __init__(self, q_size, kv_size, n_heads, n_head_channels, n_groups, attn_drop,\n"
        "                 proj_drop, stride, offset_range_factor, use_pe, dwc_pe, no_off, fixed_pe,\n"
        "                 ksize, log_cpb):\n        super().__init__()\n")
    with pytest.raises(OfficialCodeError, match="not the v1 block.*566a593"):
        load_official_blocks(tmp_path / "dat_blocks.py")


def test_block_table_pairs_official_readable_and_fast(official_clone):
    rows = run_blocks(batch=1, repeats=1, warmup=0, official=str(official_clone), settings=TINY)
    by_name = {r.candidate: r for r in rows}
    assert list(by_name) == ["official", "readable", "fast", "fast, corrected"]
    assert by_name["official"].speedup_cpu == 1.0
    for name in ("official", "readable", "fast"):  # same weights: same outputs and gradients
        assert by_name[name].max_diff_out < 1e-5 and by_name[name].max_diff_grad < 1e-5
    assert by_name["fast, corrected"].max_diff_out is None  # other numbers by design
    assert all(r.fwd_bwd_cpu_ms > 0 and r.fwd_wall_ms > 0 for r in rows)


def test_block_table_sees_a_wrong_block(official_clone, monkeypatch):
    """The comparison is not vacuous: a block whose bias table is read with the heads swapped
    differs from the official one by far more than 1e-5."""
    from dat_edu.fast import deformable as fast_deformable

    real = fast_deformable._position_bias

    def swapped(m, pos, h, w):
        return real(m, pos, h, w).flip(0)

    monkeypatch.setattr(fast_deformable, "_position_bias", swapped)
    rows = run_blocks(batch=2, repeats=1, warmup=0, official=str(official_clone), settings=TINY)
    assert next(r for r in rows if r.candidate == "fast").max_diff_out > 1e-4


def test_cli_blocks_with_official(official_clone, capsys):
    bench.main(["blocks", "--official", str(official_clone), "--block-batch", "1", "--block-repeats", "1",
                "--stages", "stage4"])
    out = capsys.readouterr().out
    assert "x official" in out and "fast, corrected" in out and "stage4" in out


def test_parts_table_times_every_part_and_states_the_ceiling(official_clone, capsys):
    from dat_edu.bench.parts import run_parts

    rows = run_parts(batch=1, repeats=1, warmup=0, official=str(official_clone), settings=TINY)
    assert [r.part for r in rows] == ["official block", "whole block", "4 projections", "offset network",
                                      "feature sampling", "bias lookup forward", "bias lookup backward",
                                      "  grid gradient only", "attention"]
    assert all(r.cpu_ms > 0 and r.wall_ms > 0 for r in rows)
    assert next(r.share for r in rows if r.part == "whole block") == 1.0
    bench.main(["parts", "--official", str(official_clone), "--parts-batch", "1", "--parts-repeats", "1",
                "--stages", "stage4"])
    out = capsys.readouterr().out
    assert "stage4  4 projections" in out and "can be more than" in out


def test_parts_ceiling_is_the_official_time_over_the_projections():
    from dat_edu.bench.parts import PartRow, ceilings

    rows = [PartRow("s", "official block", 30.0, 30.0), PartRow("s", "whole block", 20.0, 20.0, 1.0),
            PartRow("s", "4 projections", 12.0, 12.0, 0.6)]
    assert ceilings(rows) == ["s: fast block 1.50x the official; the projections alone take 12.0 ms, so no block "
                              "that runs them can be more than 2.50x faster (1.5x needs the whole step within "
                              "20.0 ms)"]
    assert ceilings(rows[1:]) == []  # without the official block there is no ceiling to state


# --------------------------------------------------------------------------------------------
# DAT-T, time to accuracy, GPU script


def test_model_table_readable_and_fast():
    from dat_edu.bench.model import format_model, run_model
    from dat_edu.model import dat_cifar

    rows = run_model(batch=2, repeats=1, warmup=0, train_batch=2, factory=dat_cifar)  # DAT-T: the CLI
    assert [r["model"] for r in rows] == ["readable", "fast"]
    assert rows[1]["max_diff_logits"] < 1e-4 and rows[0]["infer_speedup"] == 1.0
    assert "inference CPU ms/img" in format_model(rows, "readable")


def test_tta_runs_the_dat_and_both_baselines(capsys):
    from dat_edu.bench.tta import main, small_cnn, window_only

    assert window_only(("LS", "LD", "LD")) == ("LS", "LL", "LL")
    assert sum(p.numel() for p in small_cnn().parameters()) == 421_642
    rows = main(["--preset", "tiny", "--threads", "1", "--budget", "1"])
    assert [r["model"].split(" (")[0] for r in rows] == ["DAT", "small CNN", "window-only DAT"]
    assert all(r["epochs"] >= 1 and 0 <= r["test_acc"] <= 1 for r in rows)
    assert "test acc per epoch" in capsys.readouterr().out


def test_gpu_script_tiny_cpu_mode(capsys):
    from dat_edu.bench.gpu import main

    rows = main(["--tiny"])
    out = capsys.readouterr().out
    assert "CPU (tiny mode)" in out and "measurement" in out
    whats = " ".join(r["what"] for r in rows)
    for step in ("gpu preset", "Fashion-MNIST", "block tiny fast", "attention 4x4 deformable"):
        assert step in whats
