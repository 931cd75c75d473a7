"""Realistic wrong answers for exercises/01_convolutions.ipynb.

WRONG[part] = [(description, code), ...]; ``code`` replaces the body of that part's solution region
(the N-th ``### BEGIN SOLUTION`` region of solutions/01_convolutions.ipynb belongs to part N) and
must make exactly that part's check cell fail with ExerciseCheckFailed ("Part N (...): ...").
"""

WRONG = {
    1: [
        ("forgets to divide the input channels by groups",
         "return out_ch * in_ch * kernel_size * kernel_size + (out_ch if bias else 0)"),
        ("ignores the bias",
         "return out_ch * (in_ch // groups) * kernel_size * kernel_size"),
        ("kernel counted once, not k*k",
         "return out_ch * (in_ch // groups) * kernel_size + (out_ch if bias else 0)"),
        ("builds an nn.Conv2d instead of counting",
         "conv = nn.Conv2d(in_ch, out_ch, kernel_size, groups=groups, bias=bias)\n"
         "return sum(p.numel() for p in conv.parameters())"),
    ],
    2: [
        ("depthwise part counted as a standard k x k conv",
         "return in_ch * in_ch * kernel_size * kernel_size + out_ch * in_ch + ((in_ch + out_ch) if bias else 0)"),
        ("pointwise part given a k x k kernel",
         "return in_ch * kernel_size * kernel_size + out_ch * in_ch * kernel_size * kernel_size + ((in_ch + out_ch) if bias else 0)"),
        ("bias only on the pointwise conv",
         "return in_ch * kernel_size * kernel_size + out_ch * in_ch + (out_ch if bias else 0)"),
    ],
    3: [
        ("counts FLOPs (2 per multiply-add) instead of MACs",
         "return 2 * out_h * out_w * out_ch * (in_ch // groups) * kernel_size * kernel_size"),
        ("assumes a square output (out_h * out_h)",
         "return out_h * out_h * out_ch * (in_ch // groups) * kernel_size * kernel_size"),
        ("forgets the groups",
         "return out_h * out_w * out_ch * in_ch * kernel_size * kernel_size"),
    ],
    4: [
        ("calls a groups>1 convolution instead of splitting",
         "return F.conv2d(x, weight, padding=padding, groups=groups)"),
        ("splits the input channels strided (x[:, i::groups]) instead of in consecutive blocks",
         "w_parts = torch.chunk(weight, groups, dim=0)\n"
         "return torch.cat([F.conv2d(x[:, i::groups], w_parts[i], padding=padding) for i in range(groups)], dim=1)"),
        ("every group uses the filters of group 0",
         "x_parts = torch.chunk(x, groups, dim=1)\n"
         "w0 = torch.chunk(weight, groups, dim=0)[0]\n"
         "return torch.cat([F.conv2d(xp, w0, padding=padding) for xp in x_parts], dim=1)"),
        ("concatenates the groups in reverse order",
         "x_parts = torch.chunk(x, groups, dim=1)\n"
         "w_parts = torch.chunk(weight, groups, dim=0)\n"
         "outs = [F.conv2d(xp, wp, padding=padding) for xp, wp in zip(x_parts, w_parts)]\n"
         "return torch.cat(outs[::-1], dim=1)"),
    ],
}
