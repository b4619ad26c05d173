"""DistributedDataParallel for PatchDiffusion, on GPUs (NCCL) and on CPUs (gloo)."""
from mmengine.model import MMDistributedDataParallel
from torch import nn

from patchgen.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class PatchDistributedDataParallel(MMDistributedDataParallel):
    """mmengine's DDP wrapper, on CUDA or CPU.

    mmengine's train step runs as it is (gradient accumulation through
    ``no_sync``; patchgen's optimizer wrappers skip non-finite steps). On the
    CPU, DDP takes no device ids; on a GPU, the module's device is the default.

    Args:
        module: The PatchDiffusion model, already on its device.
        **kwargs: DistributedDataParallel's (``find_unused_parameters``, ...);
            ``broadcast_buffers`` is False unless given.
    """

    def __init__(self, module: nn.Module, **kwargs) -> None:
        device = next(module.parameters()).device
        if device.type == 'cpu':
            kwargs['device_ids'] = None
        else:
            kwargs.setdefault('device_ids', [device.index])
        kwargs.setdefault('broadcast_buffers', False)
        super().__init__(module=module, **kwargs)
