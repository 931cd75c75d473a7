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


def _attention(shift="math.ceil(window / 2)", d_args="dim, heads, groups, q_size",
               d_kw="stride=stride, offset_range_factor=offset_range_factor, kernel_size=OFFSET_KERNEL_SIZES[stage], "
                    "position_bias='table' if use_pe else None",
               unknown="raise ValueError(f'unknown block letter {letter!r}')", s_letter="S"):
    return (
        "if letter == 'L':\n"
        "    return WindowAttention(dim, heads, window)\n"
        f"if letter == '{s_letter}':\n"
        f"    return WindowAttention(dim, heads, window, shift={shift})\n"
        "if letter == 'D':\n"
        f"    return DeformableAttention({d_args}, {d_kw})\n"
        f"{unknown}"
    )


_D_KW = dict(stride="stride", factor="offset_range_factor", kernel="OFFSET_KERNEL_SIZES[stage]", pe="'table' if use_pe else None")


def _d(**changes):
    kw = {**_D_KW, **changes}
    return _attention(d_kw=f"stride={kw['stride']}, offset_range_factor={kw['factor']}, kernel_size={kw['kernel']}, "
                           f"position_bias={kw['pe']}")


def _dat(stem="cfg['in_chans'] * dims[0] * p * p + dims[0] + 2 * dims[0]", down="dims[s - 1] * C * 2 * 2 + 2 * C",
         table="nh * (2 * size - 1) ** 2", cpb="(2 * 32 + 32) + (32 * nh + nh)", bias_kind="cfg['position_bias'] if cfg['use_pes'][s] else None",
         swin="(2 * cfg['window'] - 1) ** 2 * nh", head="2 * dims[-1] + dims[-1] * cfg['num_classes'] + cfg['num_classes']",
         size="cfg['img_size'] // p"):
    return (
        "p, dims = cfg['patch_size'], cfg['dims']\n"
        f"n = {stem}\n"
        f"size = {size}\n"
        "for s, (C, spec) in enumerate(zip(dims, cfg['stage_spec'])):\n"
        "    if s > 0:\n"
        f"        n += {down}\n"
        "        size //= 2\n"
        "    nh, g, k = cfg['heads'][s], cfg['groups'][s], cfg['kernels'][s]\n"
        f"    bias = {bias_kind}\n"
        "    for letter in spec:\n"
        "        n += 2 * (2 * C) + (C * 4 * C + 4 * C) + (4 * C * C + C)\n"
        "        n += 4 * (C * C + C)\n"
        "        if letter == 'D':\n"
        "            Cg = C // g\n"
        "            n += Cg * k * k + Cg + 2 * Cg + 2 * Cg\n"
        "            if bias == 'table':\n"
        f"                n += {table}\n"
        "            elif bias == 'continuous':\n"
        f"                n += {cpb}\n"
        "        else:\n"
        f"            n += {swin}\n"
        f"return n + {head}"
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
        ("D block with a wrong key stride",
         _d(stride="1")),
        ("D block with a wrong range factor",
         _d(factor="2.0")),
        ("D block with a wrong offset kernel",
         _d(kernel="3")),
        ("D block with the next stage's offset kernel",
         _d(kernel="OFFSET_KERNEL_SIZES[min(stage + 1, 3)]")),
        ("D block always gets a position table",
         _d(pe="'table'")),
        ("D block with its offsets switched off",
         _attention(d_kw="stride=stride, offset_range_factor=offset_range_factor, kernel_size=OFFSET_KERNEL_SIZES[stage], "
                         "use_offsets=use_pe")),
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
    5: [
        ("stem without its bias",
         _dat(stem="cfg['in_chans'] * dims[0] * p * p + 2 * dims[0]")),
        ("stem for RGB images whatever in_chans says",
         _dat(stem="3 * dims[0] * p * p + dims[0] + 2 * dims[0]")),
        ("downsampling convolutions with a bias",
         _dat(down="dims[s - 1] * C * 2 * 2 + C + 2 * C")),
        ("map sizes of the official patch 4 (img_size // 4), whatever patch_size says",
         _dat(size="cfg['img_size'] // 4")),
        ("D tables in every stage, whatever use_pes says",
         _dat(bias_kind="cfg['position_bias']")),
        ("a table even for position_bias='continuous'",
         _dat(cpb="nh * (2 * size - 1) ** 2")),
        ("the continuous bias with one MLP per group",
         _dat(cpb="g * ((2 * 32 + 32) + (32 * nh + nh))")),
        ("Swin tables for the official window 7, whatever window says",
         _dat(swin="13 ** 2 * nh")),
        ("forgets the head's LayerNorm",
         _dat(head="dims[-1] * cfg['num_classes'] + cfg['num_classes']")),
        ("D tables sized for 224 x 224 inputs (map 56 / 2**s)",
         _dat(table="nh * (2 * (56 >> s) - 1) ** 2")),
    ],
    6: [
        ("the table at 224 x 224 (14 x 14 map)",
         "rpe_384_stage3 = 12 * (2 * 14 - 1) ** 2"),
        ("(2H)^2 instead of (2H - 1)^2",
         "rpe_384_stage3 = 12 * (2 * 24) ** 2"),
        ("one table for all heads",
         "rpe_384_stage3 = (2 * 24 - 1) ** 2"),
        ("the map of stage 3 taken as 384 / 8 = 48",
         "rpe_384_stage3 = 12 * (2 * 48 - 1) ** 2"),
    ],
}


def _old_attention(d_call):
    # the make_attention of the old exercise: make_attention(letter, dim, heads, window, groups, q_size)
    return (
        "if letter == 'L':\n"
        "    return WindowAttention(dim, heads, window)\n"
        "if letter == 'S':\n"
        "    return WindowAttention(dim, heads, window, shift=math.ceil(window / 2))\n"
        "if letter == 'D':\n"
        f"    return {d_call}\n"
        "raise ValueError(f'unknown block letter {letter!r}')"
    )


# Wrong answers that passed the visible check before the D block's other arguments were checked
# (old_checks.py); the old part 2 asked for the defaults, so these build a D block unlike DAT's.
PASSED_OLD = [
    (2, "D block with a wrong key stride", _old_attention("DeformableAttention(dim, heads, groups, q_size, stride=2)")),
    (2, "D block with a wrong offset kernel",
     _old_attention("DeformableAttention(dim, heads, groups, q_size, kernel_size=5)")),
    (2, "D block with a wrong range factor",
     _old_attention("DeformableAttention(dim, heads, groups, q_size, offset_range_factor=None)")),
    (2, "D block with its offsets switched off",
     _old_attention("DeformableAttention(dim, heads, groups, q_size, use_offsets=False)")),
]
