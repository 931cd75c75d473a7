"""Realistic wrong answers for exercises/01_convolutions.ipynb.

WRONG[part] = [(description, code), ...]; ``code`` replaces the body of that part's solution region
(the N-th ``### BEGIN SOLUTION`` region of solutions/01_convolutions.ipynb belongs to part N) and
must make exactly that part's check cell fail with ExerciseCheckFailed ("Part N (...): ...").
"""


def _dense(cols="slice(i * cin_g, (i + 1) * cin_g)", rows="slice(i * cout_g, (i + 1) * cout_g)"):
    return (
        "c_out, cin_g, kh, kw = weight.shape\n"
        "cout_g = c_out // groups\n"
        "dense = weight.new_zeros(c_out, cin_g * groups, kh, kw)\n"
        "for i in range(groups):\n"
        f"    rows, cols = {rows}, {cols}\n"
        "    dense[rows, cols] = weight[rows]\n"
        "return dense"
    )


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
        ("tiles the group weight over every input group (no zeros between groups)",
         "return weight.repeat(1, groups, 1, 1)"),
        ("puts the blocks on the anti-diagonal (group i's filters on group g-1-i's channels)",
         _dense("slice((groups - 1 - i) * cin_g, (groups - i) * cin_g)")),
        ("input groups taken as strided channels (i::g) instead of consecutive blocks",
         _dense("slice(i, None, groups)")),
        ("output groups taken as strided filters (o % g) instead of consecutive blocks",
         _dense(rows="slice(i, None, groups)")),
        ("writes the blocks into the argument: changes `weight` instead of building a new tensor",
         "c_out, cin_g, kh, kw = weight.shape\n"
         "dense = torch.cat([weight] * groups, dim=1)\n"
         "cout_g = c_out // groups\n"
         "for i in range(groups):\n"
         "    for j in range(groups):\n"
         "        if i != j:\n"
         "            dense[i * cout_g:(i + 1) * cout_g, j * cin_g:(j + 1) * cin_g] = 0\n"
         "weight.zero_()\n"
         "return dense"),
    ],
    5: [
        ("the inverse ratio (separable / standard)",
         "ratio_7x7_192 = (192 * 49 + 192 * 192) / (192 * 192 * 49)"),
        ("forgets the pointwise 1x1 conv (ratio = C_out = 192)",
         "ratio_7x7_192 = 192.0"),
        ("forgets the depthwise conv (ratio = k*k = 49)",
         "ratio_7x7_192 = 49.0"),
        ("the saving of a 3x3 conv (1 / (1/192 + 1/9))",
         "ratio_7x7_192 = 1 / (1 / 192 + 1 / 9)"),
    ],
}
