"""Fully sharded data parallel training (torch's FSDP2) whose checkpoints hold whole tensors.

Each rank keeps 1/N of every parameter, gradient and Adam moment, and of the
EMA weights. Checkpoints are the same files as in single-process and DDP
training (whole tensors, written by rank 0), so `patchgen sample` reads them
in one process. Saving gathers each
sharded tensor on every rank first (:func:`whole_state_dicts`); loading
slices the whole tensors on each rank (load pre-hooks), with no communication.
"""
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from copy import deepcopy
from weakref import WeakKeyDictionary

import torch
from mmengine.device import get_device
from mmengine.dist import broadcast, get_world_size
from mmengine.logging import print_log
from torch import nn
from torch.distributed.fsdp import FSDPModule, fully_shard
from torch.distributed.tensor import DTensor, distribute_tensor

from patchgen.distributed import whole
from patchgen.registry import MODEL_WRAPPERS

# How each sharded model was sharded (an unsharded copy on the meta device, and the
# unit names), so that the EMA hook can make a sharded copy: FSDP modules cannot be deep-copied.
_RECIPES: WeakKeyDictionary = WeakKeyDictionary()


def is_sharded(module: nn.Module) -> bool:
    """Whether any parameter of ``module`` is sharded (a DTensor)."""
    return any(isinstance(param, DTensor) for param in module.parameters())


def shard_model(model: nn.Module, units: Sequence[str]) -> nn.Module:
    """Shard ``model.backbone`` in place: each submodule whose class is named in ``units`` is
    one FSDP unit (gathered for its own forward), and the backbone holds the rest. A loss
    weighting with learned parameters (``LearnedUncertaintyWeighting``) is a unit of its own,
    so that its gradients are averaged over the ranks like the backbone's.

    FSDP shards only contiguous parameters, so channels-last weights become
    contiguous (activations may stay channels-last).
    """
    model.to(memory_format=torch.contiguous_format)
    _RECIPES[model] = (deepcopy(model).to('meta'), tuple(units))
    backbone = model.backbone
    for module in backbone.modules():
        if type(module).__name__ in units:
            fully_shard(module)
    learned = [module for module in (backbone, getattr(model, 'weighting', None))
               if module is not None and any(True for _ in module.parameters())]
    for module in learned:
        fully_shard(module, reshard_after_forward=True)  # sharded again after each call
        module.register_load_state_dict_pre_hook(_shard_loaded_tensors)
    return model


def sharded_copy(model: nn.Module) -> nn.Module:
    """A copy of a model sharded by :func:`shard_model`, sharded the same way (for the EMA)."""
    blueprint, units = _RECIPES[model]
    copy = shard_model(deepcopy(blueprint), units)
    copy.to_empty(device=next(model.parameters()).device)
    with torch.no_grad():
        for target, source in zip([*copy.parameters(), *copy.buffers()],
                                  [*model.parameters(), *model.buffers()], strict=True):
            target.copy_(source)
    return copy


def _shard_loaded_tensors(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Load pre-hook: replace the whole tensors loaded into sharded parameters by this rank's
    shards (each rank slices its own copy: no communication)."""
    for name, target in module.state_dict().items():
        key = prefix + name
        if isinstance(target, DTensor) and not isinstance(state_dict.get(key, target), DTensor):
            state_dict[key] = distribute_tensor(
                state_dict[key].to(target.device, target.dtype), target.device_mesh,
                target.placements, src_data_rank=None)


def shard_loaded_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Make ``optimizer.load_state_dict`` slice whole moment tensors like their parameters."""
    def hook(optimizer: torch.optim.Optimizer, state_dict: dict) -> dict:
        params = [param for group in optimizer.param_groups for param in group['params']]
        ids = [index for group in state_dict['param_groups'] for index in group['params']]
        for index, param in zip(ids, params, strict=True):
            for name, value in state_dict['state'].get(index, {}).items():
                if (isinstance(param, DTensor) and not isinstance(value, DTensor)
                        and value.shape == param.shape):
                    state_dict['state'][index][name] = distribute_tensor(
                        value.to(param.device), param.device_mesh, param.placements,
                        src_data_rank=None)
        return state_dict
    optimizer.register_load_state_dict_pre_hook(hook)


@contextmanager
def whole_state_dicts(modules: Sequence[nn.Module],
                      optimizers: Sequence[torch.optim.Optimizer]) -> Iterator[None]:
    """Within, ``state_dict()`` of these modules and optimizers returns whole tensors on the CPU.

    Every rank must enter (the tensors are gathered on entry); then any rank,
    typically only rank 0, may call ``state_dict()``.
    """
    def gather(state: dict) -> dict:  # the same traversal order on every rank
        return {key: gather(value) if isinstance(value, dict) else
                whole(value).cpu() if isinstance(value, DTensor) else value
                for key, value in state.items()}

    with ExitStack() as stack:
        for module in modules:
            gathered = {key: whole(value).cpu() for key, value in module.state_dict().items()
                        if isinstance(value, DTensor)}
            stack.callback(module.register_state_dict_post_hook(
                lambda _, state, prefix, __, gathered=gathered: state.update(
                    {prefix + key: value for key, value in gathered.items()})).remove)
        for optimizer in optimizers:
            gathered = gather(optimizer.state_dict())
            stack.callback(optimizer.register_state_dict_post_hook(
                lambda _, __, gathered=gathered: gathered).remove)
        yield


@MODEL_WRAPPERS.register_module()
class PatchFullyShardedDataParallel(nn.Module):
    """Shards a PatchDiffusion model over the ranks with FSDP2; the train step is the model's.

    Select it with ``model_wrapper_cfg = dict(type='PatchFullyShardedDataParallel')``
    in a config run by torchrun (``--launcher pytorch``); DDP stays the default.

    Args:
        module: The PatchDiffusion model.
        units: Class names of the backbone's submodules that are sharded as
            units: each is gathered only for its own forward and backward.
    """

    def __init__(self, module: nn.Module,
                 units: Sequence[str] = ('DiTBlock', 'ResidualBlock')) -> None:
        super().__init__()
        module = module.to(get_device())
        if hasattr(module, 'init_weights'):  # the Runner's own initialisation skips sharded models
            module.init_weights()
        for tensor in module.state_dict().values():  # every rank starts from rank 0's weights
            broadcast(tensor)
        self.module = shard_model(module, units)
        count = sum(isinstance(unit, FSDPModule) for unit in self.module.modules())
        print_log(f'FSDP: {sum(p.numel() for p in self.module.parameters()):,} parameters in '
                  f'{count} units, sharded over {get_world_size()} ranks', logger='current')

    def _run_forward(self, data: dict | tuple | list, mode: str):
        return self.module._run_forward(data, mode)

    def train_step(self, data: dict, optim_wrapper) -> dict:
        """mmengine's train step, with the forward pass through the sharded model."""
        with optim_wrapper.optim_context(self):
            data = self.module.data_preprocessor(data, training=True)
            losses = self._run_forward(data, mode='loss')
        loss, log_vars = self.module.parse_losses(losses)
        optim_wrapper.update_params(loss)
        return log_vars

    def val_step(self, data: dict) -> list:
        return self.module.val_step(data)

    def test_step(self, data: dict) -> list:
        return self.module.test_step(data)

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Accumulate gradients locally (no reduce-scatter) within, as DDP's ``no_sync``."""
        units = [unit for unit in self.module.modules() if isinstance(unit, FSDPModule)]
        for unit in units:
            unit.set_requires_gradient_sync(False, recurse=False)
        try:
            yield
        finally:
            for unit in units:
                unit.set_requires_gradient_sync(True, recurse=False)
