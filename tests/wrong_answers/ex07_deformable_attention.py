"""Realistic wrong answers for exercises/07_deformable_attention.ipynb.

WRONG[part] = [(description, code), ...]; ``code`` replaces the body of that part's solution region
(the N-th ``### BEGIN SOLUTION`` region of solutions/07_deformable_attention.ipynb belongs to part N)
and must make exactly that part's check cell fail with ExerciseCheckFailed ("Part N (...): ...").
"""


def _positions(split="(g c)", bound="torch.tensor([1.0 / Hk, 1.0 / Wk])", squash="torch.tanh(offset)",
               ys="(torch.arange(Hk) + 0.5) / Hk * 2 - 1", xs="(torch.arange(Wk) + 0.5) / Wk * 2 - 1",
               last="rearrange(squash * bound, 'n p h w -> n h w p')"):
    return (
        "g = block.num_groups\n"
        f"q_groups = rearrange(q, 'b {split} h w -> (b g) c h w', g=g)\n"
        "offset = block.conv_offset(q_groups)\n"
        "Hk, Wk = offset.shape[2:]\n"
        f"bound = {bound}.view(1, 2, 1, 1) * block.offset_range_factor\n"
        f"squash = {squash}\n"
        f"offset = {last}\n"
        f"ys = {ys}\n"
        f"xs = {xs}\n"
        "ref = torch.stack(torch.meshgrid(ys, xs, indexing='ij'), dim=-1)\n"
        "return ref + offset"
    )


def _sample(grid="pos.flip(-1)", align="True", split="(g c)"):
    return (
        f"x_groups = rearrange(x, 'b {split} h w -> (b g) c h w', g=groups)\n"
        f"sampled = F.grid_sample(x_groups, {grid}, mode='bilinear', padding_mode='zeros', align_corners={align})\n"
        f"return rearrange(sampled, '(b g) c h w -> b {split} h w', g=groups)"
    )


def _attend(heads="(h c)", scale="block.head_dim ** -0.5", bias="deformable_position_bias(block.rpe_table, reference_grid(H, W), pos)",
            softmax="scores.softmax(dim=-1)", out="block.proj_out(z)", v="block.proj_v(x_sampled)"):
    return (
        "H, W = x.shape[2:]\n"
        "nh = block.num_heads\n"
        f"q = rearrange(block.proj_q(x), 'b {heads} y x -> b h (y x) c', h=nh)\n"
        f"k = rearrange(block.proj_k(x_sampled), 'b {heads} y x -> b h (y x) c', h=nh)\n"
        f"v = rearrange({v}, 'b {heads} y x -> b h (y x) c', h=nh)\n"
        f"scores = torch.einsum('bhmc,bhnc->bhmn', q, k) * {scale}\n"
        f"scores = scores + {bias}\n"
        f"attn = {softmax}\n"
        "z = torch.einsum('bhmn,bhnc->bhmc', attn, v)\n"
        f"z = rearrange(z, 'b h (y x) c -> b {heads} y x', y=H)\n"
        f"return {out}"
    )


WRONG = {
    1: [
        ("bounds Δy by 1/Wk and Δx by 1/Hk (x/y swapped)",
         _positions(bound="torch.tensor([1.0 / Wk, 1.0 / Hk])")),
        ("forgets the tanh (unbounded offsets)",
         _positions(squash="offset")),
        ("reference points with the align_corners=True grid i / (Hk - 1)",
         _positions(ys="torch.arange(Hk) / (Hk - 1) * 2 - 1", xs="torch.arange(Wk) / (Wk - 1) * 2 - 1")),
        ("groups taken as strided channels ((c g) instead of (g c))",
         _positions(split="(c g)")),
        ("reads the offset channels as (Δx, Δy)",
         _positions(last="rearrange((squash * bound).flip(1), 'n p h w -> n h w p')")),
        ("reference points over the query map H x W instead of the key grid",
         _positions(ys="(torch.arange(q.shape[2]) + 0.5) / q.shape[2] * 2 - 1",
                    xs="(torch.arange(q.shape[3]) + 0.5) / q.shape[3] * 2 - 1")),
    ],
    2: [
        ("passes (y, x) to grid_sample without the swap",
         _sample(grid="pos")),
        ("align_corners=False",
         _sample(align="False")),
        ("groups taken as strided channels ((c g))",
         _sample(split="(c g)")),
    ],
    3: [
        ("forgets the 1/sqrt(hc) scale",
         _attend(scale="1.0")),
        ("scales by 1/sqrt(C) instead of 1/sqrt(hc)",
         _attend(scale="x.shape[1] ** -0.5")),
        ("softmax over the queries",
         _attend(softmax="scores.softmax(dim=-2)")),
        ("heads as strided channels ((c h) instead of (h c))",
         _attend(heads="(c h)")),
        ("forgets the position bias",
         _attend(bias="0.0")),
        ("position bias from the corrected lookup instead of the official one",
         _attend(bias="deformable_position_bias(block.rpe_table, reference_grid(H, W), pos, corrected=True)")),
        ("values from proj_k",
         _attend(v="block.proj_k(x_sampled)")),
        ("forgets proj_out",
         _attend(out="z")),
    ],
}
