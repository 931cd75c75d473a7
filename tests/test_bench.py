import pytest
import torch

from dat_edu import bench
from dat_edu.bench import auto_window, format_table, run_benchmark, saved_activation_bytes


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


def test_run_benchmark_tiny():
    rows = run_benchmark(sizes=(8,), dim=8, heads=2, batch=1, repeats=1, warmup=0)
    by_name = {r["attention"]: r for r in rows}
    assert set(by_name) == {"dense", "window", "deformable"}
    assert by_name["dense"]["keys_per_query"] == 64
    assert by_name["window"]["keys_per_query"] == 16 and by_name["window"]["note"] == "window 4"
    for name in ("dense", "window"):
        r = by_name[name]
        assert r["time_ms"] > 0 and r["saved_mib"] > 0 and r["cuda_peak_mib"] is None and r["params"] > 0
    d = by_name["deformable"]
    if d["time_ms"] is None:  # dat_edu.deformable not available: the row says why
        assert d["note"].startswith("skipped")
    else:
        assert d["keys_per_query"] == 64  # stride 1: as many keys as pixels


def test_dense_saves_more_than_window_and_grows_with_size():
    rows = run_benchmark(sizes=(8, 16), dim=8, heads=2, batch=1, repeats=1, warmup=0)
    saved = {(r["size"], r["attention"]): r["saved_mib"] for r in rows}
    assert saved[(16, "dense")] > saved[(16, "window")]
    # the dense attention matrix grows with (HW)^2: 16x more pixels^2 ... at least 8x the memory
    assert saved[(16, "dense")] > 8 * saved[(8, "dense")]


def test_window_that_does_not_divide_is_skipped():
    rows = run_benchmark(sizes=(6,), dim=8, heads=2, batch=1, repeats=1, warmup=0, window=4)
    w = next(r for r in rows if r["attention"] == "window")
    assert w["time_ms"] is None and "window 4 does not divide 6" in w["note"]


def test_deformable_that_cannot_be_built_is_skipped_with_the_reason():
    rows = run_benchmark(sizes=(4,), dim=8, heads=2, batch=1, repeats=1, warmup=0, groups=3)
    d = next(r for r in rows if r["attention"] == "deformable")
    assert d["time_ms"] is None and "not divisible by num_groups 3" in d["note"]
    assert "skipped" in format_table(rows)


def test_cli_prints_table(capsys):
    threads = torch.get_num_threads()
    rows = bench.main(["--sizes", "4", "--dim", "8", "--heads", "2", "--batch", "1", "--repeats", "1",
                       "--warmup", "0", "--threads", "1"])
    assert torch.get_num_threads() == threads  # restored
    out = capsys.readouterr().out
    assert "1 CPU threads" in out
    assert "saved activations MiB" in out and "keys/query" in out
    assert "4x4" in out and "dense" in out and "window" in out
    assert len(rows) == 3


def test_cli_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--dim", "10", "--heads", "3", "--sizes", "4", "--repeats", "1"])
    assert "not divisible by num_heads" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            bench.main(["--device", "cuda", "--sizes", "4"])
        assert "use --device cpu" in capsys.readouterr().err
