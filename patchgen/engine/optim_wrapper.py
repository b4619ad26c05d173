"""Optimizer wrappers: skipping non-finite steps, and mixed precision on any device."""
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
from mmengine.dist import broadcast_object_list
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from torch import nn
from torch.distributed.fsdp import FSDPModule

from patchgen.distributed import whole
from patchgen.errors import PatchgenError
from patchgen.registry import OPTIM_WRAPPERS

from .autocast_probe import autocast_speedup

DTYPES = {'bfloat16': torch.bfloat16, 'float16': torch.float16, 'float32': None}  # None: no cast
AUTO = 'auto'  # AutocastOptimWrapper's dtype until it has measured


@OPTIM_WRAPPERS.register_module()
class SafeOptimWrapper(OptimWrapper):
    """mmengine's OptimWrapper that skips a step whose loss or gradients are not finite.

    A skipped step changes no weight, moment or step count. Each update logs
    ``grad_norm``, ``skipped`` (0 or 1) and ``skipped_steps`` (the run's total,
    kept across resumes) as training scalars and sets
    :attr:`last_update` to ``'stepped'`` or ``'skipped'`` (None while gradients
    accumulate), which ``NonFiniteGuardHook`` reads. Under DDP or FSDP the
    gradients are already averaged, so every rank skips together. A GradScaler
    (fp16, see :class:`AutocastOptimWrapper`) skips overflowing steps itself.

    Args:
        **kwargs: Passed to ``OptimWrapper`` (``optimizer``, ``clip_grad``, ...).
    """

    loss_scaler: torch.amp.GradScaler | None = None

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.last_update: str | None = None

    def update_params(self, loss: torch.Tensor, step_kwargs: dict | None = None,
                      zero_kwargs: dict | None = None) -> None:
        self.backward(self.scale_loss(loss))
        self.last_update = None
        if not self.should_update():  # accumulating gradients
            return
        grads = [param.grad for group in self.optimizer.param_groups
                 for param in group['params'] if param.grad is not None]
        grad_norm = whole(torch.nn.utils.get_total_norm(grads)).detach()  # FSDP: a DTensor
        if self.loss_scaler is None:
            finite = bool(torch.isfinite(loss) & torch.isfinite(grad_norm))
            if finite:
                self.step(**(step_kwargs or {}))
        else:  # the GradScaler skips an overflowing step itself, and then lowers its scale
            scale = self.loss_scaler.get_scale()
            grad_norm = grad_norm / scale  # the norm of the unscaled gradients
            self.step(**(step_kwargs or {}))
            finite = self.loss_scaler.get_scale() >= scale
        self.zero_grad(**(zero_kwargs or {}))
        self.last_update = 'stepped' if finite else 'skipped'
        self.message_hub.update_scalar('train/grad_norm', float(grad_norm))
        self.message_hub.update_scalar('train/skipped', float(not finite))
        self.message_hub.update_scalar('train/skipped_steps', self.skipped_steps + (not finite))

    @property
    def skipped_steps(self) -> int:
        """Steps skipped in the run so far (in the message hub, so checkpoints keep it)."""
        history = self.message_hub.log_scalars.get('train/skipped_steps')
        return 0 if history is None else int(history.current())


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(SafeOptimWrapper):
    """OptimWrapper whose forward pass runs under ``torch.autocast`` on the model's device.

    mmengine's AmpOptimWrapper is GPU-only and uses the deprecated
    ``torch.cuda.amp.GradScaler``; this one works on the CPU too. ``bfloat16``
    needs no loss scaling; ``float16`` (GPU only) scales the loss with
    ``torch.amp.GradScaler``, which skips steps whose gradients overflow.
    ``'auto'`` times the run's training steps (each patch size) in fp32 and in
    bf16 before the first step (:meth:`settle`, called by ``PatchTrainLoop``) and trains in
    bf16 only if it is at least ``min_speedup`` times faster (in fp32 under
    FSDP, which it cannot time); checkpoints keep the choice, so a resumed run
    does not probe again.

    Args:
        dtype: 'bfloat16', 'float16', 'float32' (no autocast) or 'auto'.
        min_speedup: With ``'auto'``, the speed-up that bf16 must reach.
        **kwargs: Passed to ``OptimWrapper`` (``optimizer``, ``clip_grad``, ...).
    """

    def __init__(self, dtype: str = 'bfloat16', min_speedup: float = 1.1, **kwargs) -> None:
        if dtype not in (*DTYPES, AUTO):
            raise PatchgenError(f'autocast dtype {dtype!r} is unknown: use one of '
                                f'{", ".join(DTYPES)}, auto')
        super().__init__(**kwargs)
        self.min_speedup = min_speedup
        # None: fp32, no autocast; AUTO until settle() has measured
        self.cast_dtype: torch.dtype | None | str = DTYPES.get(dtype, AUTO)

    def settle(self, model: nn.Module, steps: Mapping[tuple[int, int], float]) -> None:
        """With ``dtype='auto'``: time fp32 and bf16 steps of ``model`` (unwrapped) over the
        run's mix ``steps`` (``{(patch size, images per step): share}``) and keep the
        faster, bf16 only by ``min_speedup``; every rank takes rank 0's choice.
        Otherwise a no-op."""
        if self.cast_dtype != AUTO:
            return
        if not steps:  # a run of no steps: nothing to time
            self.cast_dtype = None
            return
        if any(isinstance(module, FSDPModule) for module in model.modules()):
            # FSDP units gather their weights collectively: one rank alone cannot time them
            self.cast_dtype = None
            print_log("autocast 'auto' cannot time a sharded (FSDP) model: training in float32 "
                      "(set optim_wrapper.dtype='bfloat16' to cast)", logger='current')
            return
        speedup = autocast_speedup(model, steps, torch.bfloat16)
        choice = [torch.bfloat16 if speedup >= self.min_speedup else None]
        broadcast_object_list(choice)  # ranks time differently; all must cast alike
        self.cast_dtype = choice[0]
        print_log(f"autocast 'auto': a bf16 step runs {speedup:.2f}x as fast as an fp32 one "
                  f"(bf16 needs {self.min_speedup}x): training in "
                  f"{'bfloat16' if self.cast_dtype else 'float32'}", logger='current')

    def _device_type(self, model: nn.Module) -> str:
        device_type = next(model.parameters()).device.type
        if self.cast_dtype == AUTO:
            raise PatchgenError("AutocastOptimWrapper(dtype='auto') has not measured yet: train "
                                "with PatchTrainLoop, or pick dtype='bfloat16'")
        if self.cast_dtype == torch.float16 and device_type == 'cpu':
            raise PatchgenError('float16 autocast needs a GPU: use dtype=bfloat16 on the CPU')
        if self.cast_dtype == torch.float16 and self.loss_scaler is None:
            self.loss_scaler = torch.amp.GradScaler(device_type)
        return device_type

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        device_type = self._device_type(model)
        with super().optim_context(model), torch.autocast(
                device_type, dtype=self.cast_dtype or torch.bfloat16,
                enabled=self.cast_dtype is not None):
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
        if self.cast_dtype != AUTO:
            state['autocast_dtype'] = next(name for name, cast in DTYPES.items()
                                           if cast == self.cast_dtype)
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        saved_dtype = state_dict.pop('autocast_dtype', None)
        if self.cast_dtype == AUTO and saved_dtype is not None:  # the run's earlier choice
            self.cast_dtype = DTYPES.get(saved_dtype)
        scaler_state = state_dict.pop('loss_scaler', None)
        if scaler_state is not None:
            self.loss_scaler = self.loss_scaler or torch.amp.GradScaler()
            self.loss_scaler.load_state_dict(scaler_state)
        super().load_state_dict(state_dict)
