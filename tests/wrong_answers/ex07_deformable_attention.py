"""Realistic wrong answers for exercises/07_deformable_attention.ipynb.

WRONG[part] = [(description, code), ...]; ``code`` replaces the body of that part's solution region
(the N-th ``### BEGIN SOLUTION`` region of solutions/07_deformable_attention.ipynb belongs to part N)
and must make exactly that part's check cell fail with ExerciseCheckFailed ("Part N (...): ...").
"""


def _positions(split="(g c)", bound="torch.tensor([1.0 / Hk, 1.0 / Wk])", squash="torch.tanh(raw)",
               ys="(torch.arange(Hk) + 0.5) / Hk * 2 - 1", xs="(torch.arange(Wk) + 0.5) / Wk * 2 - 1",
               last="rearrange(raw, 'n p h w -> n h w p')", unbounded="(ref + raw).clamp(-1.0, 1.0)",
               negative="torch.tanh(ref + raw)", bounded="ref + squash * bound"):
    return (
        "g = block.num_groups\n"
        f"q_groups = rearrange(q, 'b {split} h w -> (b g) c h w', g=g)\n"
        "raw = block.conv_offset(q_groups)\n"
        "Hk, Wk = raw.shape[2:]\n"
        f"raw = {last}\n"
        f"ys = {ys}\n"
        f"xs = {xs}\n"
        "ref = torch.stack(torch.meshgrid(ys, xs, indexing='ij'), dim=-1)\n"
        "factor = block.offset_range_factor\n"
        "if factor is None:\n"
        f"    return {unbounded}\n"
        "if factor < 0:\n"
        f"    return {negative}\n"
        f"bound = {bound} * factor\n"
        f"squash = {squash}\n"
        f"return {bounded}"
    )


def _sample(grid="pos.flip(-1)", align="align_corners", split="(g c)", padding="zeros"):
    return (
        f"x_groups = rearrange(x, 'b {split} h w -> (b g) c h w', g=groups)\n"
        f"sampled = F.grid_sample(x_groups, {grid}, mode='bilinear', padding_mode='{padding}', align_corners={align})\n"
        f"return rearrange(sampled, '(b g) c h w -> b {split} h w', g=groups)"
    )


def _forward(heads="(h c)", scale="block.head_dim ** -0.5", align="official", corrected="not official",
             bias="deformable_position_bias(block.rpe_table, reference_grid(H, W), pos, corrected={corrected})",
             softmax="scores.softmax(dim=-1)", out="block.proj_out(z)", v="block.proj_v(sampled)", source="x_groups"):
    bias = bias.format(corrected=corrected)
    return (
        "B, C, H, W = x.shape\n"
        "nh, g = block.num_heads, block.num_groups\n"
        "official = block.coords == 'official'\n"
        "q = block.proj_q(x)\n"
        "pos, _ = block.sampling_positions(q)\n"
        "x_groups = rearrange(x, 'b (g c) h w -> (b g) c h w', g=g)\n"
        "q_groups = rearrange(q, 'b (g c) h w -> (b g) c h w', g=g)\n"
        f"sampled = F.grid_sample({source}, pos.flip(-1), mode='bilinear', padding_mode='zeros', align_corners={align})\n"
        "sampled = rearrange(sampled, '(b g) c h w -> b (g c) h w', g=g)\n"
        f"q = rearrange(q, 'b {heads} y x -> b h (y x) c', h=nh)\n"
        f"k = rearrange(block.proj_k(sampled), 'b {heads} y x -> b h (y x) c', h=nh)\n"
        f"v = rearrange({v}, 'b {heads} y x -> b h (y x) c', h=nh)\n"
        f"scores = torch.einsum('bhmc,bhnc->bhmn', q, k) * {scale}\n"
        "pos = rearrange(pos, '(b g) hk wk p -> b g hk wk p', g=g)\n"
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
        ("forgets the tanh (unbounded offsets in the bounded mode)",
         _positions(squash="raw")),
        ("reference points with the align_corners=True grid i / (Hk - 1)",
         _positions(ys="torch.arange(Hk) / (Hk - 1) * 2 - 1", xs="torch.arange(Wk) / (Wk - 1) * 2 - 1")),
        ("groups taken as strided channels ((c g) instead of (g c))",
         _positions(split="(c g)")),
        ("reads the offset channels as (Δx, Δy)",
         _positions(last="rearrange(raw.flip(1), 'n p h w -> n h w p')")),
        ("reference points over the query map H x W instead of the key grid",
         _positions(ys="(torch.arange(q.shape[2]) + 0.5) / q.shape[2] * 2 - 1",
                    xs="(torch.arange(q.shape[3]) + 0.5) / q.shape[3] * 2 - 1")),
        ("factor None: forgets the clamp to [-1, 1]",
         _positions(unbounded="ref + raw")),
        ("factor None: treated like a factor of 1 (bounded by 1/Hk)",
         _positions(unbounded="ref + torch.tanh(raw) * torch.tensor([1.0 / Hk, 1.0 / Wk])")),
        ("negative factor: ref + tanh(raw) instead of tanh(ref + raw)",
         _positions(negative="ref + torch.tanh(raw)")),
        ("negative factor: uses |factor| as a bound",
         _positions(negative="ref + torch.tanh(raw) * torch.tensor([1.0 / Hk, 1.0 / Wk]) * -factor")),
        ("clamps the bounded positions to [-1, 1] as well",
         _positions(bounded="(ref + squash * bound).clamp(-1.0, 1.0)")),
    ],
    2: [
        ("passes (y, x) to grid_sample without the swap",
         _sample(grid="pos")),
        ("ignores align_corners (always True, the official convention)",
         _sample(align="True")),
        ("align_corners inverted",
         _sample(align="not align_corners")),
        ("groups taken as strided channels ((c g))",
         _sample(split="(c g)")),
        ("padding_mode='border': keys outside the map read the border",
         _sample(padding="border")),
    ],
    3: [
        ("samples with align_corners=True in both modes",
         _forward(align="True")),
        ("reads the table with the official lookup in both modes",
         _forward(corrected="False")),
        ("reads the table with the corrected lookup in both modes",
         _forward(corrected="True")),
        ("samples the queries instead of the input",
         _forward(source="q_groups")),
        ("forgets the 1/sqrt(hc) scale",
         _forward(scale="1.0")),
        ("scales by 1/sqrt(C) instead of 1/sqrt(hc)",
         _forward(scale="x.shape[1] ** -0.5")),
        ("softmax over the queries",
         _forward(softmax="scores.softmax(dim=-2)")),
        ("heads as strided channels ((c h) instead of (h c))",
         _forward(heads="(c h)")),
        ("forgets the position bias",
         _forward(bias="0.0")),
        ("values from proj_k",
         _forward(v="block.proj_k(sampled)")),
        ("forgets proj_out",
         _forward(out="z")),
    ],
    4: [
        ("the official stride 1: 196 x 196",
         "entries_14x14_stride2 = 196 * 196"),
        ("keys only: 7 x 7",
         "entries_14x14_stride2 = 49"),
        ("divides the stride-1 count by the stride (2), not by stride squared",
         "entries_14x14_stride2 = 196 * 196 // 2"),
        ("7 x 7 queries and keys (both strided)",
         "entries_14x14_stride2 = 49 * 49"),
    ],
}

