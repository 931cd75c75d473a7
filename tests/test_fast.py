"""dat_edu.fast computes what the readable blocks (and the official v1 block) compute.

Every option of the deformable block is compared with the readable block in float64: output,
sampling positions, reference points and the gradient of every parameter and of the input. The
default (official) mode is also compared with tests/official_reference.py, which imports nothing
from dat_edu, and the DAT-T stage settings in float32 within 1e-5. Window attention, the MLP and
whole models are compared the same way.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dat_edu.deformable import DeformableAttention
from dat_edu.fast import FastDeformableAttention, FastMlp, FastWindowAttention, linear
from dat_edu.mlp import Mlp
from dat_edu.model import dat_cifar, dat_shapes
from dat_edu.windows import WindowAttention
from official_reference import official_dattention_forward
from test_deformable import OPTIONS, official_params, randomize_


def pair_of_blocks(dim, heads, groups, q_size, dtype=torch.float64, std=0.3, **kw):
    """A readable block and a fast block holding the same random parameters."""
    torch.manual_seed(0)
    slow = randomize_(DeformableAttention(dim, heads, groups, q_size, **kw).to(dtype), std)
    fast = FastDeformableAttention(dim, heads, groups, q_size, **kw).to(dtype)
    fast.load_state_dict(slow.state_dict())
    return slow.eval(), fast.eval()


def outputs_and_grads(m, x, seed=1):
    """(y, pos, ref, grads of x and of every parameter) for a random upstream gradient."""
    x = x.detach().clone().requires_grad_()
    y, pos, ref = m(x, return_positions=True)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed)).to(y.dtype)
    params = [p for _, p in sorted(m.named_parameters())]
    grads = torch.autograd.grad(y, [x, *params], g)
    return y, pos, ref, grads


def assert_same(a, b, atol, rtol=0.0):
    ya, pa, ra, ga = a
    yb, pb, rb, gb = b
    torch.testing.assert_close(yb, ya, atol=atol, rtol=rtol)
    torch.testing.assert_close(pb, pa, atol=atol, rtol=rtol)
    torch.testing.assert_close(rb, ra, atol=atol, rtol=rtol)
    assert len(ga) == len(gb)
    for u, v in zip(ga, gb):
        torch.testing.assert_close(v, u, atol=atol, rtol=rtol)


CASES = [(16, 4, 2, (6, 8), kw) for kw in OPTIONS] + [
    (24, 6, 3, (7, 5), {"stage_idx": 2}),  # 3 groups, kernel 5, non-square
    (16, 4, 4, (5, 5), {"stride": 3, "coords": "corrected"}),  # one head per group, few keys
    (8, 2, 1, (1, 6), {}),  # a map one pixel high: the corrected table has size 1 along y
    (8, 2, 1, (1, 6), {"coords": "corrected"}),
]


@pytest.mark.parametrize("dim, heads, groups, q_size, kw", CASES,
                         ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else None)
def test_fast_equals_readable_float64(dim, heads, groups, q_size, kw):
    slow, fast = pair_of_blocks(dim, heads, groups, q_size, **kw)
    x = torch.randn(2, dim, *q_size, dtype=torch.float64)
    assert_same(outputs_and_grads(slow, x), outputs_and_grads(fast, x), atol=1e-10)


@pytest.mark.parametrize("dim, heads, groups, q_size, kw", CASES,
                         ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else None)
def test_fast_inference_equals_readable_float64(dim, heads, groups, q_size, kw):
    """Without gradients the fast block takes the fused attention kernel: still the same numbers."""
    slow, fast = pair_of_blocks(dim, heads, groups, q_size, **kw)
    x = torch.randn(2, dim, *q_size, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), slow(x), atol=1e-10, rtol=0)


def test_the_comparison_would_see_a_mistake():
    """Equal up to 1e-10 is a sharp test: the corrected coordinates, or a swapped pair of head
    tables, make the fast block differ from the readable one by far more."""
    slow, fast = pair_of_blocks(16, 4, 2, (6, 8))
    x = torch.randn(2, 16, 6, 8, dtype=torch.float64)
    with torch.no_grad():
        y = slow(x)
        fast.coords = "corrected"
        assert (fast(x) - y).abs().max() > 1e-3
        fast.coords = "official"
        fast.rpe_table.copy_(fast.rpe_table.flip(0))
        assert (fast(x) - y).abs().max() > 1e-4


@pytest.mark.parametrize("kw", [{}, {"stride": 2}, {"offset_range_factor": -1.0}])
def test_fast_equals_official_forward(kw):
    _, fast = pair_of_blocks(16, 4, 2, (6, 8), dtype=torch.float32, **kw)
    x = torch.randn(2, 16, 6, 8)
    with torch.no_grad():
        y, pos, ref = fast(x, return_positions=True)
        y0, pos0, ref0 = official_dattention_forward(x, official_params(fast), 4, 2, **kw)
    torch.testing.assert_close(pos, pos0, atol=1e-6, rtol=0)
    torch.testing.assert_close(ref, ref0, atol=1e-6, rtol=0)
    torch.testing.assert_close(y, y0, atol=1e-5, rtol=0)


@pytest.mark.parametrize("coords", ["official", "corrected"])
@pytest.mark.parametrize("dim, heads, groups, size, stage", [(384, 12, 3, 14, 2), (768, 24, 6, 7, 3)],
                         ids=["dat_t_stage3", "dat_t_stage4"])
def test_dat_tiny_stage_settings_float32(coords, dim, heads, groups, size, stage):
    """The benchmark's settings (batch 2 here), float32, default init.

    Outputs and gradients agree within 1e-5 of each tensor's largest entry (absolute 1e-5 for
    tensors below 1; some gradients reach 50, where float32 itself resolves ~1e-5). Measured
    against float64 the fast block is as accurate as the readable one.
    """
    torch.manual_seed(0)
    slow = DeformableAttention(dim, heads, groups, size, stage_idx=stage, coords=coords)
    fast = FastDeformableAttention(dim, heads, groups, size, stage_idx=stage, coords=coords)
    fast.load_state_dict(slow.state_dict())
    exact = DeformableAttention(dim, heads, groups, size, stage_idx=stage, coords=coords).double()
    exact.load_state_dict(slow.state_dict())
    x = torch.randn(2, dim, size, size)
    a, b, c = outputs_and_grads(slow, x), outputs_and_grads(fast, x), outputs_and_grads(exact, x.double())
    for u, v, w in zip([a[0], *a[3]], [b[0], *b[3]], [c[0], *c[3]]):
        scale = max(1.0, u.abs().max().item())
        assert (u - v).abs().max().item() <= 1e-5 * scale
        err_slow = (u.double() - w).abs().max().item()
        err_fast = (v.double() - w).abs().max().item()
        assert err_fast <= 2 * err_slow + 1e-6 * scale


@pytest.mark.parametrize("kw", [{}, {"coords": "corrected", "stride": 2}, {"position_bias": "continuous"}],
                         ids=["default", "corrected,stride=2", "continuous"])
def test_gradcheck_float64(kw):
    torch.manual_seed(0)
    m = randomize_(FastDeformableAttention(4, 2, 2, (3, 3), **kw).double(), 0.5)
    x = torch.randn(1, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: m(t), (x,), eps=1e-6, atol=1e-5)


def test_dropout_is_active_in_training_only():
    slow, fast = pair_of_blocks(16, 4, 2, (6, 8), attn_drop=0.5, proj_drop=0.5)
    x = torch.randn(2, 16, 6, 8, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), slow(x))  # eval: no dropout
        fast.train()
        assert (fast(x) - slow(x)).abs().max() > 1e-3


def test_same_parameters_state_dict_and_errors():
    slow, fast = pair_of_blocks(16, 4, 2, (6, 8))
    assert isinstance(fast, DeformableAttention)
    assert list(fast.state_dict()) == list(slow.state_dict())
    with pytest.raises(ValueError, match=r"8x6.*q_size=\(6, 8\)"):
        fast(torch.randn(1, 16, 8, 6, dtype=torch.float64))
    with pytest.raises(ValueError, match="channels"):
        fast(torch.randn(1, 8, 6, 8, dtype=torch.float64))


# --------------------------------------------------------------------------------------------
# window attention, MLP, the whole model


def grads_of(m, x, seed=1):
    x = x.detach().clone().requires_grad_()
    y = m(x)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed)).to(y.dtype)
    return (y, *torch.autograd.grad(y, [x, *[p for _, p in sorted(m.named_parameters())]], g))


@pytest.mark.parametrize("shift, size", [(0, (8, 12)), (2, (8, 12)), (3, (12, 6))])
@pytest.mark.parametrize("memory", [torch.contiguous_format, torch.channels_last])
def test_fast_window_attention_equals_readable(shift, size, memory):
    torch.manual_seed(0)
    slow = randomize_(WindowAttention(16, 4, 6 if shift == 3 else 4, shift=shift).double())
    fast = FastWindowAttention(16, 4, slow.window, shift=shift).double()
    fast.load_state_dict(slow.state_dict())
    x = torch.randn(2, 16, *size, dtype=torch.float64).contiguous(memory_format=memory)
    for u, v in zip(grads_of(slow, x), grads_of(fast, x)):
        torch.testing.assert_close(v, u, atol=1e-10, rtol=0)
    with torch.no_grad():  # the fused kernel, with the shifted-window mask
        torch.testing.assert_close(fast(x), slow(x), atol=1e-10, rtol=0)


def test_fused_attention_is_used_only_without_gradients(monkeypatch):
    """attend() (no backward of its bias here) must never run where a gradient is wanted."""
    import dat_edu.fast.deformable as fd
    import dat_edu.fast.windows as fw

    calls = []
    for mod in (fd, fw):
        monkeypatch.setattr(mod, "attend", lambda *a, _f=mod.attend: calls.append(1) or _f(*a))
    _, fast = pair_of_blocks(16, 4, 2, (6, 8))
    win = FastWindowAttention(16, 4, 4, shift=2).double()
    x = torch.randn(2, 16, 8, 8, dtype=torch.float64, requires_grad=True)
    fast(x[..., :6, :]).sum().backward()
    win(x).sum().backward()
    assert calls == []
    with torch.no_grad():
        fast(x[..., :6, :]), win(x)
    assert len(calls) == 2


def test_fast_mlp_equals_readable():
    torch.manual_seed(0)
    slow = randomize_(Mlp(12, 20).double())
    fast = FastMlp(12, 20).double()
    fast.load_state_dict(slow.state_dict())
    x = torch.randn(2, 12, 5, 7, dtype=torch.float64)
    for u, v in zip(grads_of(slow, x), grads_of(fast, x)):
        torch.testing.assert_close(v, u, atol=1e-10, rtol=0)


def test_onednn_linear_equals_f_linear():
    """At inference the fused oneDNN Linear(+GELU) is used where available: same numbers."""
    torch.manual_seed(0)
    x, w, b = torch.randn(3, 5, 24), torch.randn(40, 24), torch.randn(40)
    with torch.no_grad():
        torch.testing.assert_close(linear(x, w, b, gelu=True), F.gelu(F.linear(x, w, b)), atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(linear(x, w, None), F.linear(x, w), atol=1e-6, rtol=1e-6)
    xg = x.clone().requires_grad_()
    linear(xg, w, b, gelu=True).sum().backward()  # with a gradient: F.linear + F.gelu
    assert xg.grad is not None


def test_onednn_weight_copy_follows_the_weight():
    """linear() keeps a reordered copy of each weight: a changed weight must never read the old copy."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(24, 40)
    x = torch.randn(7, 24)
    with torch.no_grad():
        linear(x, lin.weight, lin.bias)
        lin.weight.add_(1.0)  # an optimizer step: in place, same address
        torch.testing.assert_close(linear(x, lin.weight, lin.bias), F.linear(x, lin.weight, lin.bias))
        lin.load_state_dict({"weight": torch.randn(40, 24), "bias": lin.bias.clone()})
        torch.testing.assert_close(linear(x, lin.weight, lin.bias), F.linear(x, lin.weight, lin.bias))
        lin.weight.data = torch.randn(40, 24)  # a new tensor behind the same Parameter
        torch.testing.assert_close(linear(x, lin.weight, lin.bias), F.linear(x, lin.weight, lin.bias))
        view = lin.weight.view(40, 24, 1, 1).view(40, 24)  # as the 1x1 convolutions pass their weights
        torch.testing.assert_close(linear(x, view, lin.bias), F.linear(x, lin.weight, lin.bias))


@pytest.mark.parametrize("factory", [dat_cifar, dat_shapes])
def test_fast_model_equals_readable_model(factory):
    """DAT(fast=True), the default, and DAT(fast=False), the lessons' classes: same parameters,
    same logits, positions and gradients (float64)."""
    torch.manual_seed(0)
    slow = factory(fast=False).double().eval()  # eval: no drop path
    fast = factory().double().eval()
    fast.load_state_dict(slow.state_dict())
    assert isinstance(fast.stages[-1].blocks[-1].attn, FastDeformableAttention)
    assert not isinstance(slow.stages[-1].blocks[-1].attn, FastDeformableAttention)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    ys, ps, _ = slow(x, return_positions=True)
    yf, pf, _ = fast(x, return_positions=True)
    torch.testing.assert_close(yf, ys, atol=1e-10, rtol=0)
    for a, b in zip(ps, pf):
        assert (a is None and b is None) or torch.allclose(a, b, atol=1e-10)
    for u, v in zip(grads_of(slow, x)[1:], grads_of(fast, x)[1:]):
        torch.testing.assert_close(v, u, atol=1e-9, rtol=0)


def test_flop_counter_sees_the_same_work_in_both_models():
    """Lessons count multiply-adds with FlopCounterMode under no_grad: the fast model then keeps
    F.linear (which the counter knows) instead of oneDNN's kernel, so both count the same."""
    from torch.utils.flop_counter import FlopCounterMode

    counts = []
    for fast in (False, True):
        m = dat_cifar(fast=fast).eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            m(torch.randn(1, 3, 32, 32))
        counts.append(counter.get_total_flops())
    assert counts[0] == counts[1] > 0


def test_attention_written_into_the_bias_equals_the_written_out_form():
    """attend_into_bias: same values and gradients (q, k, v, bias) in float64, twice on one graph."""
    from dat_edu.fast.attend import attend_into_bias

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(6, n, 5, generator=g, dtype=torch.float64, requires_grad=True) for n in (7, 9, 9))
    table = torch.randn(6, 7, 9, generator=g, dtype=torch.float64, requires_grad=True)
    gz = torch.randn(6, 7, 5, generator=g, dtype=torch.float64)
    want = torch.bmm((torch.baddbmm(table, q, k.transpose(1, 2), alpha=0.3)).softmax(-1), v)
    want_grads = torch.autograd.grad(want, (q, k, v, table), gz)
    got = attend_into_bias(q, k, v, table * 2.0 - table, 0.3)  # a fresh tensor the call may overwrite
    for _ in range(2):  # retain_graph: the saved probabilities survive the first backward
        got_grads = torch.autograd.grad(got, (q, k, v, table), gz, retain_graph=True)
        torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
        for a, b in zip(got_grads, want_grads):
            torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="not a view"):
        attend_into_bias(q, k, v, (table * 1.0).view(6, 63), 0.3)


def test_training_writes_the_scores_into_the_bias(monkeypatch):
    """The deformable block's training step takes the in-place attention (with a table bias)."""
    import dat_edu.fast.deformable as fd

    calls = []
    monkeypatch.setattr(fd, "attend_into_bias", lambda *a, _f=fd.attend_into_bias: calls.append(1) or _f(*a))
    _, fast = pair_of_blocks(16, 4, 2, (6, 8))
    x = torch.randn(2, 16, 6, 8, dtype=torch.float64, requires_grad=True)
    fast.train()(x).sum().backward()
    assert calls == [1]
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast casts: the written-out form
        fast.float()(x.float()).sum().backward()
    assert calls == [1]


def test_training_forward_on_the_meta_device():
    """Shapes only (as lesson 08 counts them): the in-place path steps aside, no autocast query fails."""
    m = FastDeformableAttention(16, 4, 2, (6, 8)).to("meta").train()
    assert m(torch.empty(2, 16, 6, 8, device="meta")).shape == (2, 16, 6, 8)


@pytest.mark.parametrize("k, memory", [(5, torch.channels_last), (7, torch.contiguous_format)])
def test_depthwise_backward_as_forward_convolutions_float64(k, memory):
    """fast.conv.depthwise_conv2d: F.conv2d's values and gradients, and gradcheck, in float64."""
    from dat_edu.fast.conv import depthwise_conv2d

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 7, generator=g, dtype=torch.float64).contiguous(memory_format=memory).requires_grad_()
    w, b = (torch.randn(*s, generator=g, dtype=torch.float64, requires_grad=True) for s in ((3, 1, k, k), (3,)))
    y = depthwise_conv2d(x, w, b, k // 2)
    assert type(y.grad_fn).__name__ == "_DepthwiseConv2dBackward"
    want = F.conv2d(x, w, b, padding=k // 2, groups=3)
    gy = torch.randn(want.shape, generator=g, dtype=torch.float64)
    torch.testing.assert_close(y, want, atol=1e-12, rtol=0)
    for a, e in zip(torch.autograd.grad(y, (x, w, b), gy), torch.autograd.grad(want, (x, w, b), gy)):
        torch.testing.assert_close(a, e, atol=1e-12, rtol=0)
    assert torch.autograd.gradcheck(lambda *t: depthwise_conv2d(*t, k // 2), (x, w, b))


def test_depthwise_keeps_pytorchs_convolution_where_it_is_fast_or_not_covered():
    """3x3 kernels (PyTorch's own backward is fast), strides, no gradient, autocast: F.conv2d."""
    from dat_edu.fast.conv import depthwise_conv2d

    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    w5, w3, b = torch.randn(4, 1, 5, 5), torch.randn(4, 1, 3, 3), torch.randn(4)
    assert type(depthwise_conv2d(x, w5, b, 2).grad_fn).__name__ == "_DepthwiseConv2dBackward"
    for y in (depthwise_conv2d(x, w3, b, 1), depthwise_conv2d(x, w5, b, 2, stride=2)):
        assert type(y.grad_fn).__name__ == "ConvolutionBackward0"
    with torch.no_grad():
        assert depthwise_conv2d(x, w5, b, 2).grad_fn is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert type(depthwise_conv2d(x, w5, b, 2).grad_fn).__name__ == "ConvolutionBackward0"
    torch.testing.assert_close(depthwise_conv2d(x, w5, b, 2, stride=2),
                               F.conv2d(x, w5, b, stride=2, padding=2, groups=4))
