"""Several processes under ``torchrun``: who am I, and the few collective operations the loop needs.

With ``WORLD_SIZE`` > 1 every process (rank) trains a DistributedDataParallel copy of the model on
its share of each batch; rank 0 writes metrics and checkpoints. With one process every function here
is a no-op, so the loop reads the same either way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

__all__ = ["Dist", "setup_distributed", "all_reduce_sum", "gather_states", "shutdown", "pick_device"]


@dataclass
class Dist:
    """This process's place among the training processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True for the one process that writes files and prints."""
        return self.rank == 0


def setup_distributed(device_pref: str) -> Dist:
    """Join the process group that ``torchrun`` describes in the environment (nccl on GPUs, else gloo)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_pref in ("auto", "cuda")
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(local)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank=rank, world=world, local_rank=local)


def pick_device(pref: str, d: Dist) -> torch.device:
    """``"auto"``: this process's GPU if there is one, else the CPU; ``"cuda"`` must find a GPU."""
    if pref == "auto":
        pref = "cuda" if torch.cuda.is_available() else "cpu"
    if pref == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device='cuda' but no CUDA GPU is visible; use device='cpu' or 'auto'")
        return torch.device("cuda", d.local_rank)
    return torch.device(pref)


def all_reduce_sum(values: list[float], device) -> list[float]:
    """The sum of ``values`` over all processes (the values themselves with one process)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def gather_states(state: torch.Tensor, d: Dist) -> list[torch.Tensor]:
    """All ranks' generator states (same length) -> list on every rank."""
    if d.world == 1:
        return [state]
    import torch.distributed as dist

    out = [None] * d.world
    dist.all_gather_object(out, state)
    return out


def shutdown() -> None:
    """Leave the process group, if this process joined one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
