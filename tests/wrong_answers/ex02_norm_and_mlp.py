"""Realistic wrong answers for exercises/02_norm_and_mlp.ipynb.

WRONG[part] = [(description, code), ...]; ``code`` replaces the body of that part's solution region
(the N-th ``### BEGIN SOLUTION`` region of solutions/02_norm_and_mlp.ipynb belongs to part N) and
must make exactly that part's check cell fail with ExerciseCheckFailed ("Part N (...): ...").
"""


def _bn(norm_var="x.var(dim=(0, 2, 3), unbiased=False)", run_var="x.var(dim=(0, 2, 3))",
        update="(1 - momentum) * old + momentum * new"):
    return (
        "mean = x.mean(dim=(0, 2, 3))\n"
        f"var = {norm_var}\n"
        "out = (x - mean[:, None, None]) / torch.sqrt(var[:, None, None] + eps) * weight[:, None, None] + bias[:, None, None]\n"
        f"upd = lambda old, new: {update}\n"
        f"return out, upd(running_mean, mean), upd(running_var, {run_var})"
    )


WRONG = {
    1: [
        ("normalizes over the pixels (H, W) instead of the channels",
         "mean = x.mean(dim=(2, 3), keepdim=True)\n"
         "var = x.var(dim=(2, 3), keepdim=True, unbiased=False)\n"
         "return (x - mean) / torch.sqrt(var + eps) * weight[:, None, None] + bias[:, None, None]"),
        ("normalizes over C, H and W together (GroupNorm(1, C))",
         "mean = x.mean(dim=(1, 2, 3), keepdim=True)\n"
         "var = x.var(dim=(1, 2, 3), keepdim=True, unbiased=False)\n"
         "return (x - mean) / torch.sqrt(var + eps) * weight[:, None, None] + bias[:, None, None]"),
        ("uses the unbiased variance (divides by C - 1)",
         "mean = x.mean(dim=1, keepdim=True)\n"
         "var = x.var(dim=1, keepdim=True)\n"
         "return (x - mean) / torch.sqrt(var + eps) * weight[:, None, None] + bias[:, None, None]"),
        ("broadcasts weight and bias over the last axis (W) instead of the channels",
         "mean = x.mean(dim=1, keepdim=True)\n"
         "var = x.var(dim=1, keepdim=True, unbiased=False)\n"
         "return (x - mean) / torch.sqrt(var + eps) * weight + bias"),
        ("adds eps to the standard deviation (outside the square root)",
         "mean = x.mean(dim=1, keepdim=True)\n"
         "var = x.var(dim=1, keepdim=True, unbiased=False)\n"
         "return (x - mean) / (torch.sqrt(var) + eps) * weight[:, None, None] + bias[:, None, None]"),
        ("forgets eps altogether",
         "mean = x.mean(dim=1, keepdim=True)\n"
         "var = x.var(dim=1, keepdim=True, unbiased=False)\n"
         "return (x - mean) / torch.sqrt(var) * weight[:, None, None] + bias[:, None, None]"),
        ("ignores the eps argument (always 1e-5)",
         "mean = x.mean(dim=1, keepdim=True)\n"
         "var = x.var(dim=1, keepdim=True, unbiased=False)\n"
         "return (x - mean) / torch.sqrt(var + 1e-5) * weight[:, None, None] + bias[:, None, None]"),
        ("calls F.layer_norm after moving the channels last",
         "y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), weight, bias, eps)\n"
         "return y.permute(0, 3, 1, 2)"),
    ],
    2: [
        ("the tanh approximation",
         "return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))"),
        ("the sigmoid approximation x * sigmoid(1.702 x)",
         "return x * torch.sigmoid(1.702 * x)"),
        ("ReLU",
         "return torch.clamp(x, min=0)"),
    ],
    3: [
        ("reshapes (B, C, H, W) to (B, HW, C) without moving the channels",
         "b, c, h, w = x.shape\n"
         "t = fc2(F.gelu(fc1(x.reshape(b, h * w, c))))\n"
         "return t.reshape(b, c, h, w)"),
        ("forgets the GELU",
         "h, w = x.shape[-2:]\n"
         "t = fc2(fc1(rearrange(x, 'b c h w -> b (h w) c')))\n"
         "return rearrange(t, 'b (h w) c -> b c h w', h=h, w=w)"),
        ("ReLU instead of GELU",
         "h, w = x.shape[-2:]\n"
         "t = fc2(F.relu(fc1(rearrange(x, 'b c h w -> b (h w) c'))))\n"
         "return rearrange(t, 'b (h w) c -> b c h w', h=h, w=w)"),
    ],
    4: [
        ("post-norm: normalizes after the residual addition",
         "return norm(x + mlp(x))"),
        ("forgets the residual connection",
         "return mlp(norm(x))"),
        ("forgets the norm",
         "return x + mlp(x)"),
    ],
    5: [
        ("normalizes with the unbiased variance",
         _bn(norm_var="x.var(dim=(0, 2, 3))")),
        ("running variance from the biased batch variance",
         _bn(run_var="var")),
        ("momentum the wrong way round: (1 - m) * batch + m * old",
         _bn(update="momentum * old + (1 - momentum) * new")),
        ("per-sample statistics (over H and W only, like InstanceNorm)",
         "mean = x.mean(dim=(2, 3), keepdim=True)\n"
         "var = x.var(dim=(2, 3), keepdim=True, unbiased=False)\n"
         "out = (x - mean) / torch.sqrt(var + eps) * weight[:, None, None] + bias[:, None, None]\n"
         "m, v = mean.mean(dim=(0, 2, 3)), var.mean(dim=(0, 2, 3))\n"
         "return out, (1 - momentum) * running_mean + momentum * m, (1 - momentum) * running_var + momentum * v"),
        ("forgets to update the running statistics (returns the old ones)",
         _bn(update="old")),
        ("updates the running statistics in place and returns them",
         _bn(update="old.mul_(1 - momentum).add_(momentum * new)")),
        ("adds eps to the running variance as well",
         _bn(run_var="x.var(dim=(0, 2, 3)) + eps")),
        ("ignores the eps argument (always 1e-5)",
         _bn().replace("+ eps)", "+ 1e-5)")),
        ("normalizes with the running statistics (evaluation mode)",
         "out = (x - running_mean[:, None, None]) / torch.sqrt(running_var[:, None, None] + eps)\n"
         "out = out * weight[:, None, None] + bias[:, None, None]\n"
         "n = x.numel() // x.shape[1]\n"
         "mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3))\n"
         "return out, (1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var"),
    ],
    6: [
        ("the unbiased standard deviation (divides by C - 1)",
         "ln_of_1234 = [-1.162, -0.387, 0.387, 1.162]"),
        ("divides by the variance instead of the standard deviation",
         "ln_of_1234 = [-1.2, -0.4, 0.4, 1.2]"),
        ("centres but does not scale",
         "ln_of_1234 = [-1.5, -0.5, 0.5, 1.5]"),
        ("a single number instead of four",
         "ln_of_1234 = 1.342"),
    ],
}

# Wrong answers that passed the visible check before it was made deterministic (old_checks.py).
PASSED_OLD = [(1, d, c) for d, c, *_ in WRONG[1] if d in (
    "adds eps to the standard deviation (outside the square root)", "forgets eps altogether",
    "ignores the eps argument (always 1e-5)")]
