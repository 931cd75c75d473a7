"""Realistic wrong answers for exercises/02_norm_and_mlp.ipynb.

WRONG[part] = [(description, code), ...]; ``code`` replaces the body of that part's solution region
(the N-th ``### BEGIN SOLUTION`` region of solutions/02_norm_and_mlp.ipynb belongs to part N) and
must make exactly that part's check cell fail with ExerciseCheckFailed ("Part N (...): ...").
"""

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
}
