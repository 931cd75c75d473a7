"""Realistic wrong answers for exercises/09_training.ipynb.

WRONG[part] = [(description, code), ...]; ``code`` replaces the body of that part's solution region
(the N-th ``### BEGIN SOLUTION`` region of solutions/09_training.ipynb belongs to part N) and must
make exactly that part's check cell fail with ExerciseCheckFailed ("Part N (...): ...").
"""


def _lr(warm="lr * (step + 1) / warmup_steps", decay="max(1, total_steps - warmup_steps - 1)",
        t="min(1.0, (step - warmup_steps) / decay_steps)", curve="min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * t))"):
    return (
        "if step < warmup_steps:\n"
        f"    return {warm}\n"
        f"decay_steps = {decay}\n"
        f"t = {t}\n"
        f"return {curve}"
    )


def _ce(soft="(1 - smoothing) * targets + smoothing / K", loss="-(soft * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()",
        one_hot="F.one_hot(targets, K).to(logits.dtype)"):
    return (
        "K = logits.shape[-1]\n"
        "if targets.ndim == 1:\n"
        f"    targets = {one_hot}\n"
        f"soft = {soft}\n"
        f"return {loss}"
    )


def _steps(groups="[{'params': [p for n, p in named if n not in skip], 'weight_decay': weight_decay},\n"
                  "          {'params': [p for n, p in named if n in skip], 'weight_decay': 0.0}]",
           opt="torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999))", rate="lr_schedule(t, total_steps, warmup_steps, lr, min_lr)",
           loss="smoothed_cross_entropy(model(images[t]), labels[t], smoothing)", zero="optimizer.zero_grad(set_to_none=True)",
           clip="torch.nn.utils.clip_grad_norm_(model.parameters(), clip)", order="clip-step", ret="norm"):
    body = {
        "clip-step": "    norm = {clip}\n    optimizer.step()\n",
        "step-clip": "    optimizer.step()\n    norm = {clip}\n",
    }[order].format(clip=clip)
    return (
        "skip = set(no_decay_names(model))\n"
        "named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]\n"
        f"groups = {groups}\n"
        f"optimizer = {opt}\n"
        "model.train()\n"
        "losses, norms = [], []\n"
        "for t in range(images.shape[0]):\n"
        "    for group in optimizer.param_groups:\n"
        f"        group['lr'] = {rate}\n"
        f"    loss = {loss}\n"
        f"    {zero}\n"
        "    loss.backward()\n"
        f"{body}"
        f"    norms.append({ret})\n"
        "    losses.append(loss.detach())\n"
        "return {'loss': torch.stack(losses), 'grad_norm': torch.stack(norms)}"
    )


def _cutmix(keep="1.0 - inside.flatten(1).float().mean(dim=1, keepdim=True)", source="x[perm]",
            mix="keep * targets + (1 - keep) * targets[perm]", inside="(ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)",
            one_hot="F.one_hot(targets, num_classes).float()"):
    return (
        "B, _, H, W = x.shape\n"
        "if targets.ndim == 1:\n"
        f"    targets = {one_hot}\n"
        "ys, xs = torch.arange(H).view(1, H, 1), torch.arange(W).view(1, 1, W)\n"
        "y0, y1, x0, x1 = (boxes[:, i].view(B, 1, 1) for i in range(4))\n"
        f"inside = {inside}\n"
        f"mixed = torch.where(inside[:, None], {source}, x)\n"
        f"keep = {keep}\n"
        f"return mixed, {mix}"
    )


WRONG = {
    1: [
        ("warm-up from 0 (lr * step / warmup_steps)",
         _lr(warm="lr * step / warmup_steps")),
        ("the cosine ends at 0, ignoring min_lr",
         _lr(curve="0.5 * lr * (1 + math.cos(math.pi * t))")),
        ("the cosine reaches min_lr one step after the end (divides by total - warmup)",
         _lr(decay="max(1, total_steps - warmup_steps)")),
        ("a linear decay instead of the cosine",
         _lr(curve="lr - (lr - min_lr) * t")),
        ("the cosine runs over the whole run, warm-up included",
         _lr(t="min(1.0, step / max(1, total_steps - 1))")),
        ("no clamp: steps past the end climb the cosine again",
         _lr(t="(step - warmup_steps) / decay_steps")),
        ("returns a tensor instead of a Python float",
         "import torch\n" + _lr(curve="torch.tensor(min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * t)))")
         .replace("return lr * (step + 1) / warmup_steps", "return torch.tensor(lr * (step + 1) / warmup_steps)")),
    ],
    2: [
        ("smoothing spread over the K - 1 other classes (eps / (K - 1))",
         _ce(soft="(1 - smoothing) * targets + smoothing / (K - 1) * (1 - targets)")),
        ("the true class gets 1 - eps only (forgets its share eps / K)",
         _ce(soft="(1 - smoothing) * targets + smoothing / K * (1 - targets)")),
        ("sums over the batch instead of averaging",
         _ce(loss="-(soft * torch.log_softmax(logits, dim=-1)).sum()")),
        ("log of the softmax (overflows for large logits)",
         _ce(loss="-(soft * torch.log(torch.softmax(logits, dim=-1))).sum(dim=-1).mean()")),
        ("soft targets are not smoothed",
         "K = logits.shape[-1]\n"
         "if targets.ndim == 1:\n"
         "    soft = (1 - smoothing) * F.one_hot(targets, K).to(logits.dtype) + smoothing / K\n"
         "else:\n"
         "    soft = targets\n"
         "return -(soft * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()"),
        ("soft targets treated as labels (argmax)",
         "K = logits.shape[-1]\n"
         "if targets.ndim == 2:\n"
         "    targets = targets.argmax(dim=1)\n"
         "soft = (1 - smoothing) * F.one_hot(targets, K).to(logits.dtype) + smoothing / K\n"
         "return -(soft * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()"),
        ("calls F.cross_entropy",
         "return F.cross_entropy(logits, targets, label_smoothing=smoothing)"),
        ("a Python float through .item() (no gradient)",
         "K = logits.shape[-1]\n"
         "if targets.ndim == 1:\n"
         "    targets = F.one_hot(targets, K).to(logits.dtype)\n"
         "soft = (1 - smoothing) * targets + smoothing / K\n"
         "return torch.tensor(-(soft * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean().item())"),
    ],
    3: [
        ("only the biases",
         "return sorted(n for n, p in model.named_parameters() if n.endswith('bias'))"),
        ("1-D parameters only (forgets the position tables)",
         "return sorted(n for n, p in model.named_parameters() if p.ndim <= 1)"),
        ("only the deformable table (forgets Swin's relative_position_bias_table)",
         "return sorted(n for n, p in model.named_parameters() if p.ndim <= 1 or 'rpe_table' in n)"),
        ("the offset networks too",
         "return sorted(n for n, p in model.named_parameters() if p.ndim <= 1 or 'table' in n or 'offset' in n)"),
        ("not sorted",
         "return [n for n, p in model.named_parameters() if p.ndim <= 1 or 'table' in n]"),
    ],
    4: [
        ("weight decay on every parameter (one group)",
         _steps(groups="[{'params': [p for n, p in named], 'weight_decay': weight_decay}]")),
        ("no weight decay at all",
         _steps(groups="[{'params': [p for n, p in named], 'weight_decay': 0.0}]")),
        ("the two groups swapped (decay on the biases, norms and tables only)",
         _steps(groups="[{'params': [p for n, p in named if n in skip], 'weight_decay': weight_decay},\n"
                       "          {'params': [p for n, p in named if n not in skip], 'weight_decay': 0.0}]")),
        ("Adam with L2 weight decay instead of AdamW",
         _steps(opt="torch.optim.Adam(groups, lr=lr, betas=(0.9, 0.999))")),
        ("the learning rate is never changed (always lr)",
         _steps(rate="lr")),
        ("the learning rate of the next step (off by one)",
         _steps(rate="lr_schedule(t + 1, total_steps, warmup_steps, lr, min_lr)")),
        ("no label smoothing",
         _steps(loss="smoothed_cross_entropy(model(images[t]), labels[t], 0.0)")),
        ("forgets to clear the gradients (they accumulate)",
         _steps(zero="pass")),
        ("no gradient clipping (returns the norm)",
         _steps(clip="torch.nn.utils.clip_grad_norm_(model.parameters(), float('inf'))")),
        ("clips after the optimizer step",
         _steps(order="step-clip")),
        ("clips every gradient value instead of the norm",
         _steps(clip="(torch.nn.utils.clip_grad_value_(model.parameters(), clip), "
                     "torch.norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])))[1]")),
        ("returns the norm after clipping",
         _steps(ret="torch.norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None]))")),
        ("betas (0.9, 0.99)",
         _steps(opt="torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))")),
    ],
    5: [
        ("labels mixed the wrong way round (lambda on the partner)",
         _cutmix(mix="(1 - keep) * targets + keep * targets[perm]")),
        ("labels mixed half and half, whatever the area",
         _cutmix(mix="0.5 * targets + 0.5 * targets[perm]")),
        ("the box taken inclusive of y1 and x1",
         _cutmix(inside="(ys >= y0) & (ys <= y1) & (xs >= x0) & (xs <= x1) & (y1 > y0) & (x1 > x0)")),
        ("pastes the image's own pixels (x instead of x[perm])",
         _cutmix(source="x")),
        ("the partner's box taken from the partner's own box place (boxes[perm])",
         "B, _, H, W = x.shape\n"
         "if targets.ndim == 1:\n"
         "    targets = F.one_hot(targets, num_classes).float()\n"
         "out = x.clone()\n"
         "keep = torch.ones(B, 1)\n"
         "for i in range(B):\n"
         "    y0, y1, x0, x1 = boxes[i].tolist()\n"
         "    py0, py1, px0, px1 = boxes[perm[i]].tolist()\n"
         "    if y1 > y0 and x1 > x0 and (py1 - py0, px1 - px0) == (y1 - y0, x1 - x0):\n"
         "        out[i, :, y0:y1, x0:x1] = x[perm[i], :, py0:py1, px0:px1]\n"
         "    keep[i] = 1 - (y1 - y0) * (x1 - x0) / (H * W)\n"
         "return out, keep * targets + (1 - keep) * targets[perm]"),
        ("writes the boxes into x itself",
         "B, _, H, W = x.shape\n"
         "if targets.ndim == 1:\n"
         "    targets = F.one_hot(targets, num_classes).float()\n"
         "partner = x[perm].clone()\n"
         "keep = torch.ones(B, 1)\n"
         "for i in range(B):\n"
         "    y0, y1, x0, x1 = boxes[i].tolist()\n"
         "    x[i, :, y0:y1, x0:x1] = partner[i, :, y0:y1, x0:x1]\n"
         "    keep[i] = 1 - max(0, y1 - y0) * max(0, x1 - x0) / (H * W)\n"
         "return x, keep * targets + (1 - keep) * targets[perm]"),
        ("soft targets ignored: always one-hot of the argmax",
         _cutmix(one_hot="F.one_hot(targets, num_classes).float()").replace(
             "if targets.ndim == 1:\n", "if targets.ndim == 2:\n    targets = targets.argmax(1)\nnum_classes = num_classes or 5\nif targets.ndim == 1:\n")),
    ],
    6: [
        ("0: a perfect model reaches zero loss",
         "min_loss_ls01_k10 = 0.0"),
        ("-log(0.91): only the true class counted",
         "min_loss_ls01_k10 = -math.log(0.91)"),
        ("the loss of a uniform prediction, log(10)",
         "min_loss_ls01_k10 = math.log(10)"),
        ("eps / (K - 1) on the other classes: 0.9 and 9 x 0.0111",
         "min_loss_ls01_k10 = -(0.9 * math.log(0.9) + 9 * (0.1 / 9) * math.log(0.1 / 9))"),
    ],
}
