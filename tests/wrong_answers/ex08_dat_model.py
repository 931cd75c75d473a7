"""Realistic wrong answers for exercises/08_dat_model.ipynb.

WRONG[part] = [(description, code), ...]; ``code`` replaces the body of that part's solution region
(the N-th ``### BEGIN SOLUTION`` region of solutions/08_dat_model.ipynb belongs to part N) and
must make exactly that part's check cell fail with ExerciseCheckFailed ("Part N (...): ...").
"""


def _split(rates_line):
    return (
        "depths = [len(spec) for spec in stage_spec]\n"
        f"{rates_line}\n"
        "out, start = [], 0\n"
        "for d in depths:\n"
        "    out.append(rates[start:start + d])\n"
        "    start += d\n"
        "return out"
    )


def _attention(shift="math.ceil(window / 2)", d_args="dim, heads, groups, q_size", unknown="raise ValueError(f'unknown block letter {letter!r}')",
               s_letter="S"):
    return (
        "if letter == 'L':\n"
        "    return WindowAttention(dim, heads, window)\n"
        f"if letter == '{s_letter}':\n"
        f"    return WindowAttention(dim, heads, window, shift={shift})\n"
        "if letter == 'D':\n"
        f"    return DeformableAttention({d_args})\n"
        f"{unknown}"
    )


def _count(norms="2 * (2 * C)", mlp="(C * 4 * C + 4 * C) + (4 * C * C + C)", table_ls="(2 * window - 1) ** 2 * heads",
           offset="Cg * kernel_size * kernel_size + Cg + 2 * Cg + 2 * Cg", table_d="heads * (2 * H - 1) * (2 * W - 1)"):
    return (
        "C = dim\n"
        f"n = {norms}\n"
        f"n += {mlp}\n"
        "if letter in ('L', 'S'):\n"
        "    n += (3 * C * C + 3 * C) + (C * C + C)\n"
        f"    n += {table_ls}\n"
        "else:\n"
        "    H, W = q_size\n"
        "    Cg = C // groups\n"
        "    n += 4 * (C * C + C)\n"
        f"    n += {offset}\n"
        f"    n += {table_d}\n"
        "return n"
    )


WRONG = {
    1: [
        ("a separate linspace in every stage",
         "return [torch.linspace(0, drop_path_rate, len(spec)).tolist() for spec in stage_spec]"),
        ("drops the leading 0 (linspace over depth + 1 points, first removed)",
         _split("rates = torch.linspace(0, drop_path_rate, sum(depths) + 1).tolist()[1:]")),
        ("i * rate / depth (never reaches drop_path_rate)",
         _split("rates = [i * drop_path_rate / sum(depths) for i in range(sum(depths))]")),
        ("returns one flat list instead of one list per stage",
         "return torch.linspace(0, drop_path_rate, sum(len(s) for s in stage_spec)).tolist()"),
    ],
    2: [
        ("Swin's shift window // 2 instead of ceil(window / 2)",
         _attention(shift="window // 2")),
        ("S block without a shift (only L handled)",
         _attention(shift="0")),
        ("D block with q_size given as (W, H)",
         _attention(d_args="dim, heads, groups, q_size[::-1]")),
        ("D block with one offset group per head",
         _attention(d_args="dim, heads, heads, q_size")),
        ("unknown letters silently become window attention",
         _attention(unknown="return WindowAttention(dim, heads, window)")),
    ],
    3: [
        ("post-norm (norm after the residual sum)",
         "x = norm1(x + drop_path(attn(x)))\n"
         "return norm2(x + drop_path(mlp(x)))"),
        ("parallel branches (the MLP sees the block input)",
         "return x + drop_path(attn(norm1(x))) + drop_path(mlp(norm2(x)))"),
        ("norm1 used for both branches",
         "x = x + drop_path(attn(norm1(x)))\n"
         "return x + drop_path(mlp(norm1(x)))"),
        ("drop_path applied to the residual sum",
         "x = drop_path(x + attn(norm1(x)))\n"
         "return drop_path(x + mlp(norm2(x)))"),
        ("no residual around the MLP",
         "x = x + drop_path(attn(norm1(x)))\n"
         "return drop_path(mlp(norm2(x)))"),
    ],
    4: [
        ("position table counted once, not per head",
         _count(table_ls="(2 * window - 1) ** 2")),
        ("D table assumed square: (2H - 1) ** 2",
         _count(table_d="heads * (2 * H - 1) ** 2")),
        ("one offset network per group",
         _count(offset="groups * (Cg * kernel_size * kernel_size + Cg + 2 * Cg + 2 * Cg)")),
        ("forgets the two layer norms",
         _count(norms="0")),
        ("MLP without biases",
         _count(mlp="8 * C * C")),
        ("offset network's final 1x1 conv given a bias",
         _count(offset="Cg * kernel_size * kernel_size + Cg + 2 * Cg + 2 * Cg + 2")),
    ],
}
