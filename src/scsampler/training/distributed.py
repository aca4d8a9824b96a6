"""torchrun / DistributedDataParallel helpers: one process or many, same code.

Under ``torchrun --nproc_per_node=N`` the environment holds ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`init_distributed` then joins the
process group (``gloo`` on a CPU, ``nccl`` on CUDA). Run as a plain process it
does nothing and reports rank 0 of 1. Only rank 0 writes checkpoints and
metrics (:attr:`DistributedContext.is_main`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from scsampler._device import check_device
from scsampler.errors import UsageError

__all__ = ["DistributedContext", "init_distributed", "shutdown_distributed", "all_reduce_sum", "barrier"]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the one process that writes files and prints."""
        return self.rank == 0


def init_distributed(*, device: str | None = None) -> DistributedContext:
    """Join the torchrun process group when there is one; otherwise a single-process context.

    ``device`` is ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or None (CUDA when available);
    a device this machine lacks is a :class:`~scsampler.errors.UsageError`. Under torchrun
    each process uses the GPU ``LOCAL_RANK`` on CUDA.
    """
    device = check_device(device)
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext(device=torch.device(device if device else "cuda" if use_cuda else "cpu"))
    if device is not None and device.startswith("mps"):
        raise UsageError("device 'mps' cannot run under torchrun (no process-group backend for it); use cpu or cuda.")
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
        target = torch.device("cuda", local_rank)
    else:
        target = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank, device=target)


def shutdown_distributed(context: DistributedContext) -> None:
    """Leave the process group (a no-op for a single process)."""
    if context.is_distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: DistributedContext) -> None:
    """Wait for every process (a no-op for a single process)."""
    if context.is_distributed:
        dist.barrier()


def all_reduce_sum(values: list[float], context: DistributedContext) -> list[float]:
    """Sum ``values`` over every process (returned unchanged for a single process)."""
    if not context.is_distributed:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=context.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()
