"""Mixed-precision training on any device: bf16 autocast (CPU or GPU), fp16 with a GradScaler."""
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from patchgen.errors import PatchgenError
from patchgen.registry import OPTIM_WRAPPERS

DTYPES = {'bfloat16': torch.bfloat16, 'float16': torch.float16}


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """OptimWrapper whose forward pass runs under ``torch.autocast`` on the model's device.

    mmengine's AmpOptimWrapper is GPU-only and uses the deprecated
    ``torch.cuda.amp.GradScaler``; this one works on the CPU too. ``bfloat16``
    needs no loss scaling; ``float16`` (GPU only) scales the loss with
    ``torch.amp.GradScaler``, which skips steps whose gradients overflow.

    Args:
        dtype: 'bfloat16' or 'float16'.
        **kwargs: Passed to ``OptimWrapper`` (``optimizer``, ``clip_grad``, ...).
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs) -> None:
        if dtype not in DTYPES:
            raise PatchgenError(f'autocast dtype {dtype!r} is unknown: use one of '
                                f'{", ".join(DTYPES)}')
        super().__init__(**kwargs)
        self.cast_dtype = DTYPES[dtype]
        self.loss_scaler: torch.amp.GradScaler | None = None

    def _device_type(self, model: nn.Module) -> str:
        device_type = next(model.parameters()).device.type
        if self.cast_dtype == torch.float16 and device_type == 'cpu':
            raise PatchgenError('float16 autocast needs a GPU: use dtype=bfloat16 on the CPU')
        if self.cast_dtype == torch.float16 and self.loss_scaler is None:
            self.loss_scaler = torch.amp.GradScaler(device_type)
        return device_type

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        with super().optim_context(model), torch.autocast(self._device_type(model),
                                                          dtype=self.cast_dtype):
            yield

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        if self.loss_scaler is not None:
            loss = self.loss_scaler.scale(loss)
        loss.backward(**kwargs)
        self._inner_count += 1

    def step(self, **kwargs) -> None:
        if self.loss_scaler is None:
            return super().step(**kwargs)
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grad()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update()

    def state_dict(self) -> dict:
        state = super().state_dict()
        if self.loss_scaler is not None:
            state['loss_scaler'] = self.loss_scaler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        scaler_state = state_dict.pop('loss_scaler', None)
        if scaler_state is not None:
            self.loss_scaler = self.loss_scaler or torch.amp.GradScaler()
            self.loss_scaler.load_state_dict(scaler_state)
        super().load_state_dict(state_dict)
