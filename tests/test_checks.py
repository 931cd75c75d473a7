"""dat_edu.course.checks: pass and fail messages of every helper (in-process, fast)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dat_edu.course.checks import (
    ExerciseCheckFailed,
    Part,
    check,
    check_close,
    check_not_implemented,
    check_shape,
    forbid_calls,
    part,
    passed,
)

P = part(2, "offsets")


def test_failure_is_an_assertion_error_with_part_prefix():
    assert issubclass(ExerciseCheckFailed, AssertionError)
    with pytest.raises(ExerciseCheckFailed) as info:
        check(P, False, "the offsets must be bounded by the range factor")
    assert str(info.value) == "Part 2 (offsets): the offsets must be bounded by the range factor"


def test_check_passes_and_tuple_part():
    check(P, True, "never shown")
    with pytest.raises(ExerciseCheckFailed, match=r"^Part 3 \(x\): bad$"):
        check((3, "x"), 0, "bad")
    with pytest.raises(ExerciseCheckFailed, match=r"^Part 7 \(softmax rows\): rows must sum to 1$"):
        check("Part 7 (softmax rows)", False, "rows must sum to 1")
    with pytest.raises(ValueError, match="not of the form"):
        check("part seven", True, "x")
    with pytest.raises(ExerciseCheckFailed, match="could not be evaluated"):
        check(P, torch.ones(3), "ambiguous")


def test_passed_prints_exact_line(capsys):
    passed(P)
    assert capsys.readouterr().out == "Part 2 (offsets): passed\n"


def test_part_context_prints_passed_and_is_the_default_part(capsys):
    with part(1, "grid") as p:
        assert isinstance(p, Part)
        check(None, True, "fine")
        check_shape(torch.zeros(2, 3), (2, 3), "the grid")
    assert capsys.readouterr().out == "Part 1 (grid): passed\n"
    with pytest.raises(ExerciseCheckFailed, match=r"^Part 1 \(grid\): the grid has shape"):
        with part(1, "grid"):
            check_shape(torch.zeros(2, 4), (2, 3), "the grid")
    assert capsys.readouterr().out == ""  # no "passed" after a failure
    with pytest.raises(ValueError, match="no part given"):
        check(None, True, "outside any part")


def test_part_context_turns_not_implemented_into_not_done():
    def learner():
        # YOUR CODE HERE
        raise NotImplementedError()

    with pytest.raises(ExerciseCheckFailed) as info:
        with part(4, "softmax"):
            learner()
    assert str(info.value).startswith("Part 4 is not done yet: replace `raise NotImplementedError()`")


def test_part_context_reports_other_errors_without_hiding_them():
    with pytest.raises(ExerciseCheckFailed, match=r"^Part 4 \(softmax\): your code raised TypeError: boom") as info:
        with part(4, "softmax"):
            raise TypeError("boom")
    assert isinstance(info.value.__cause__, TypeError)


def test_check_shape_messages():
    check_shape(np.zeros((4, 8, 8, 2)), (4, None, None, 2), "the positions", part=P)
    with pytest.raises(ExerciseCheckFailed, match=r"has 3 dimensions \(4, 8, 2\), but should have 4 \(4, any, any, 2\)"):
        check_shape(torch.zeros(4, 8, 2), (4, None, None, 2), "the positions", part=P)
    with pytest.raises(ExerciseCheckFailed, match=r"dimension 1 differs"):
        check_shape(torch.zeros(4, 7, 8, 2), (4, 8, 8, 2), "the positions", part=P)
    with pytest.raises(ExerciseCheckFailed, match="should be a tensor or array, but it is a list"):
        check_shape([1, 2], (2,), "the positions", part=P)


def test_check_close_passes_and_does_not_reveal_the_answer():
    check_close(torch.tensor([1.0, 2.0]), [1.0, 2.0 + 1e-8], "the weights", part=P)
    check_close(0.1 + 0.2, 0.3, "the sum", part=P)
    check_close(torch.ones(3, dtype=torch.float64), 1.0, "the weights", part=P)  # broadcast scalar
    expected = torch.tensor([0.375, 0.125, 0.375, 0.125])
    with pytest.raises(ExerciseCheckFailed) as info:
        check_close(torch.tensor([0.375, 0.125, 0.5, 0.125]), expected, "the weights", atol=1e-6, part=P)
    msg = str(info.value)
    assert msg.startswith("Part 2 (offsets): the weights: 1 of 4 values are not close")
    assert "index (2,)" in msg
    assert "0.375" not in msg and "0.125" not in msg  # the expected values never appear
    with pytest.raises(ExerciseCheckFailed, match=r"^Part 2 \(offsets\): the sum is not the expected value") as info:
        check_close(3.5, 4.25, "the sum", part=P)
    assert "4.25" not in str(info.value)


def test_check_close_shape_nan_and_type():
    with pytest.raises(ExerciseCheckFailed, match=r"has shape \(3,\), but should have shape \(4,\)"):
        check_close(torch.zeros(3), torch.zeros(4), "the weights", part=P)
    with pytest.raises(ExerciseCheckFailed, match="contains NaN"):
        check_close(torch.tensor([float("nan"), 1.0]), torch.ones(2), "the weights", part=P)
    with pytest.raises(ExerciseCheckFailed, match="should be a number, tensor or array"):
        check_close(object(), 1.0, "the weights", part=P)
    grads = torch.ones(2, requires_grad=True) * 2  # tensors that need grad are fine
    check_close(grads, [2.0, 2.0], "the gradient", part=P)


def test_check_not_implemented():
    assert check_not_implemented(lambda a, b: a + b, P, 1, 2) == 3

    def stub(x):
        raise NotImplementedError()

    with pytest.raises(ExerciseCheckFailed, match=r"^Part 2 is not done yet: replace `raise NotImplementedError\(\)`"):
        check_not_implemented(stub, P, 1)


# ---- forbid_calls -------------------------------------------------------------------

def _grid():
    torch.manual_seed(0)
    x = torch.randn(1, 2, 4, 4)
    grid = torch.rand(1, 3, 3, 2) * 2 - 1
    return x, grid


def cheating_sample(x, grid):
    return F.grid_sample(x, grid, mode="bilinear", align_corners=False)


def honest_sample(x, grid):
    # a (deliberately simple) nearest-pixel lookup that uses no grid_sample
    n, c, h, w = x.shape
    ix = ((grid[..., 0] + 1) * w - 1) / 2
    iy = ((grid[..., 1] + 1) * h - 1) / 2
    ix = ix.round().clamp(0, w - 1).long()
    iy = iy.round().clamp(0, h - 1).long()
    return x[0][:, iy[0], ix[0]].unsqueeze(0)


def test_forbid_calls_lets_an_honest_function_through():
    x, grid = _grid()
    out = forbid_calls(honest_sample, "F.grid_sample", "F.conv2d", args=(x, grid), part=P)
    assert out.shape == (1, 2, 3, 3)
    assert F.grid_sample is torch.nn.functional.grid_sample  # everything restored
    F.grid_sample(x, grid, align_corners=False)


def test_forbid_calls_catches_grid_sample_statically():
    x, grid = _grid()
    with pytest.raises(ExerciseCheckFailed) as info:
        forbid_calls(cheating_sample, "F.grid_sample", args=(x, grid), part=P)
    assert str(info.value) == (
        "Part 2 (offsets): `cheating_sample` refers to `grid_sample`, which this part asks you not to use"
    )


def test_forbid_calls_catches_hidden_and_aliased_calls_at_run_time():
    x, grid = _grid()
    ns: dict = {}
    # the call is hidden from the bytecode check (getattr with a built string) ...
    exec(
        "import torch\n"
        "def sneaky(x, grid):\n"
        "    fn = getattr(torch.nn.functional, 'grid' + '_sample')\n"
        "    return fn(x, grid, align_corners=False)\n",
        ns,
    )
    with pytest.raises(ExerciseCheckFailed, match="your code called `torch.nn.functional.grid_sample`"):
        forbid_calls(ns["sneaky"], "torch.nn.functional.grid_sample", args=(x, grid), part=P)
    # ... the lower-level entry point counts too, and a helper that swallows errors is still caught
    exec(
        "import torch\n"
        "def helper(x, grid):\n"
        "    try:\n"
        "        return getattr(torch, 'grid' + '_sampler')(x, grid, 0, 0, False)\n"
        "    except Exception:\n"
        "        return x[..., :3, :3]\n"
        "def sneaky2(x, grid):\n"
        "    return helper(x, grid)\n",
        ns,
    )
    with pytest.raises(ExerciseCheckFailed, match="your code called `torch.grid_sampler`"):
        forbid_calls(ns["sneaky2"], "F.grid_sample", args=(x, grid), part=P)
    assert torch.grid_sampler is not None and F.grid_sample.__name__ == "grid_sample"


def test_forbid_calls_catches_from_import_alias_and_conv2d():
    x, _ = _grid()
    ns: dict = {}
    exec(
        "from torch.nn.functional import conv2d as c\n"
        "def blur(x):\n"
        "    k = x.new_ones(2, 1, 3, 3) / 9\n"
        "    return c(x, k, padding=1, groups=2)\n",
        ns,
    )
    with pytest.raises(ExerciseCheckFailed, match="your code called `torch.nn.functional.conv2d`"):
        forbid_calls(ns["blur"], "F.conv2d", args=(x,), part=P)
    assert ns["c"] is F.conv2d  # the learner's global is restored

    layer = torch.nn.Conv2d(2, 2, 3, padding=1)
    with pytest.raises(ExerciseCheckFailed, match="conv2d"):
        forbid_calls(lambda t: layer(t), "F.conv2d", args=(x,), part=P)


def test_forbid_calls_not_done_and_bad_names():
    def stub(x, grid):
        raise NotImplementedError()

    x, grid = _grid()
    with pytest.raises(ExerciseCheckFailed, match="^Part 5 is not done yet"):
        with part(5, "bilinear"):
            forbid_calls(stub, "F.grid_sample", args=(x, grid))
    with pytest.raises(ValueError, match="cannot find 'F.no_such_function'"):
        forbid_calls(stub, "F.no_such_function", part=P)


def test_forbid_calls_restores_an_inherited_method_without_copying_it():
    import torch

    assert "softmax" not in vars(torch.Tensor)  # defined on the C base class, inherited

    def uses_method(x):  # the name is hidden from the static check, so the run-time patch is hit
        return getattr(x, "soft" + "max")(-1)

    with pytest.raises(ExerciseCheckFailed, match="softmax"):
        with part(1, "stable softmax"):
            forbid_calls(uses_method, "torch.Tensor.softmax", args=(torch.zeros(3),))
    assert "softmax" not in vars(torch.Tensor), "the patch must be deleted, not copied onto the class"
    assert torch.allclose(torch.zeros(2).softmax(-1), torch.full((2,), 0.5))


# ---- below Python aliases: operators, code objects ----------------------------------------------

from dat_edu.course.forbid import EQUIVALENTS, record_calls  # noqa: E402
from dat_edu.course.intercept import ForbiddenCall, Intercept  # noqa: E402

_X = torch.randn(1, 2, 5, 5)
CALLS = {
    "torch.nn.functional.grid_sample": [lambda: F.grid_sample(_X, torch.zeros(1, 3, 3, 2), align_corners=False),
                                        lambda: torch.grid_sampler(_X, torch.zeros(1, 3, 3, 2), 0, 0, False)],
    "torch.nn.functional.conv2d": [lambda: F.conv2d(_X, torch.randn(2, 2, 3, 3)), lambda: torch.nn.Conv2d(2, 2, 3)(_X),
                                   lambda: torch.ops.aten.convolution(_X, torch.randn(2, 2, 3, 3), None, [1, 1], [0, 0], [1, 1],
                                                                      False, [0, 0], 1)],
    "torch.nn.functional.interpolate": [lambda: F.interpolate(_X, scale_factor=2, mode="bilinear"),
                                        lambda: F.interpolate(_X, scale_factor=2)],
    "torch.nn.functional.softmax": [lambda: F.softmax(_X, -1), lambda: _X.softmax(-1), lambda: torch.softmax(_X, -1)],
    "torch.softmax": [lambda: _X.softmax(-1)],
    "torch.Tensor.softmax": [lambda: F.softmax(_X, -1)],
    "torch.nn.functional.scaled_dot_product_attention": [
        lambda: F.scaled_dot_product_attention(_X, _X, _X),
        lambda: F.scaled_dot_product_attention(_X.double(), _X.double(), _X.double()),
        lambda: F.scaled_dot_product_attention(_X.requires_grad_(), _X, _X)],
    "torch.nn.functional.gelu": [lambda: F.gelu(_X), lambda: torch.nn.GELU()(_X)],
    "torch.nn.functional.layer_norm": [lambda: F.layer_norm(_X, (5,)), lambda: torch.nn.LayerNorm(5)(_X)],
    "torch.nn.functional.group_norm": [lambda: F.group_norm(_X, 1), lambda: torch.nn.GroupNorm(1, 2)(_X)],
}


def test_every_table_entry_is_caught_at_the_operator():
    """Whatever Python path reaches it, the operator of a forbidden function raises."""
    assert set(CALLS) == set(EQUIVALENTS)
    for name, calls in CALLS.items():
        ops = {op: name for op in EQUIVALENTS[name][1]}
        for i, call in enumerate(calls):
            with pytest.raises(ForbiddenCall):
                with Intercept([], ops, "forbid"):
                    call()
            call()  # fine again afterwards


def test_forbidden_python_functions_raise_through_any_alias():
    from dat_edu.sampling import reference_grid

    keep = [reference_grid]
    closure = (lambda f: lambda h, w: f(h, w))(reference_grid)

    def with_default(h, w, g=reference_grid):
        return g(h, w)

    for fn in (lambda h, w: keep[0](h, w), closure, with_default):
        with pytest.raises(ExerciseCheckFailed, match="your code called `dat_edu.sampling.reference_grid`"):
            forbid_calls(fn, "dat_edu.sampling.reference_grid", args=(2, 3), part=P)
    assert reference_grid(2, 3).shape == (2, 3, 2)  # the code object is back


def test_record_calls_sees_every_convolution():
    def by_hand(x, w, groups):
        return torch.cat([F.conv2d(a, b, padding=1) for a, b in zip(x.chunk(groups, 1), w.chunk(groups, 0))], 1)

    x, w = torch.randn(1, 4, 5, 5), torch.randn(4, 2, 3, 3)
    out, calls = record_calls(by_hand, "F.conv2d", args=(x, w, 2), part=P)
    assert torch.allclose(out, F.conv2d(x, w, padding=1, groups=2), atol=1e-5)
    assert [c["args"]["groups"] for c in calls] == [1, 1] and calls[0]["args"]["input"] == (1, 2, 5, 5)
    _, calls = record_calls(torch.nn.Conv2d(4, 4, 3, groups=4), "F.conv2d", args=(x,), part=P)
    assert [c["args"]["groups"] for c in calls] == [4]
    from dat_edu.sampling import reference_grid

    _, calls = record_calls(lambda: reference_grid(3, 4) + reference_grid(1, 1).sum(), "dat_edu.sampling.reference_grid", part=P)
    assert [(c["args"]["h"], c["args"]["w"]) for c in calls] == [(3, 4), (1, 1)]
