"""Process groups for command-line tools started by torchrun, and sharding work over ranks."""
import os
from collections.abc import Sequence
from typing import TypeVar

import torch
import torch.distributed as torch_dist
from torch.distributed.tensor import DTensor

T = TypeVar('T')


def init_from_torchrun() -> tuple[int, int]:
    """(rank, world size); joins torchrun's process group when started by torchrun.

    The backend is NCCL on a CUDA machine (each rank on GPU ``LOCAL_RANK``) and
    gloo otherwise. Outside torchrun this is (0, 1) and starts nothing.
    """
    if int(os.environ.get('WORLD_SIZE', '1')) < 2:
        return 0, 1
    if not torch_dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', '0')))
        torch_dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo')
    return torch_dist.get_rank(), torch_dist.get_world_size()


def shard(items: Sequence[T], rank: int, world_size: int) -> Sequence[T]:
    """This rank's share of ``items``: every ``world_size``-th one from ``rank`` on."""
    return items[rank::world_size]


def gather_batches(batches: list[T], rank: int, world_size: int) -> list[T]:
    """Every rank's results, in the global batch order, on every rank.

    Rank r holds the results of global batches r, r + W, r + 2W, ... (the
    batches :func:`shard` gives it); the list returned holds batch g at index g,
    as one process would have made it.
    """
    if world_size == 1:
        return batches
    per_rank: list[list[T]] = [[] for _ in range(world_size)]
    torch_dist.all_gather_object(per_rank, batches)
    total = sum(len(part) for part in per_rank)
    return [per_rank[index % world_size][index // world_size] for index in range(total)]


def barrier() -> None:
    """Wait for every rank, when there is more than one."""
    if torch_dist.is_initialized():
        torch_dist.barrier()


def whole(value: torch.Tensor) -> torch.Tensor:
    """The whole tensor of a sharded DTensor (a collective: every rank must call it), else
    ``value`` itself."""
    return value.full_tensor() if isinstance(value, DTensor) else value
