"""DistributedDataParallel for PatchDiffusion, on GPUs (NCCL) and on CPUs (gloo)."""
from mmengine.model import MMDistributedDataParallel
from torch import nn


class PatchDistributedDataParallel(MMDistributedDataParallel):
    """mmengine's DDP wrapper that runs PatchDiffusion's own train step, on CUDA or CPU.

    The step (skipping non-finite steps, gradient accumulation through
    ``no_sync``) is the model's; only its forward pass goes through DDP, so the
    gradients are averaged over ranks. On the CPU, DDP takes no device ids.

    Args:
        module: The PatchDiffusion model, already on its device.
        **kwargs: DistributedDataParallel's (``device_ids``, ``broadcast_buffers``, ...).
    """

    def __init__(self, module: nn.Module, **kwargs) -> None:
        if next(module.parameters()).device.type == 'cpu':
            kwargs['device_ids'] = None
        super().__init__(module=module, **kwargs)

    def train_step(self, data: dict, optim_wrapper) -> dict:
        return self.module.train_step(data, optim_wrapper, wrapper=self)
