"""EMA of the weights with a half-life counted in images, as EDM and Patch Diffusion use."""
import torch
from mmengine.dist import get_world_size
from mmengine.hooks import EMAHook
from mmengine.model import BaseAveragedModel
from torch import Tensor, nn

from patchgen.registry import HOOKS, MODELS

from .fsdp import is_sharded, sharded_copy


@MODELS.register_module()
class HalfLifeEMA(BaseAveragedModel):
    """Average whose weight halves every ``halflife_images`` images.

    Each update with ``n`` images uses ``beta = 0.5 ** (n / h)`` where
    ``h = min(halflife_images, images_seen * rampup_ratio)``, so early
    averages forget fast (ramp-up) and later ones slowly.

    Args:
        model: The model to average.
        halflife_images: Half-life in images drawn.
        rampup_ratio: Ramp-up ratio; None disables the ramp-up.
        device: Where the averaged copy lives (an FSDP model's copy stays with its shards).
    """

    def __init__(self,
                 model: nn.Module,
                 halflife_images: float = 500_000,
                 rampup_ratio: float | None = 0.05,
                 device: torch.device | None = None) -> None:
        sharded = is_sharded(model)  # FSDP modules cannot be deep-copied, as the base class does
        super().__init__(nn.Module() if sharded else model, interval=1, device=device,
                         update_buffers=False)
        if sharded:
            self.module = sharded_copy(model).requires_grad_(False)
            self.avg_parameters = dict(self.module.named_parameters())
        self.halflife_images = halflife_images
        self.rampup_ratio = rampup_ratio
        self.register_buffer('images_seen', torch.tensor(0, dtype=torch.long, device=device))
        self._lerp_weight = 0.0

    def beta(self, images: int) -> float:
        """Decay of the average for a step that drew ``images`` images."""
        halflife = self.halflife_images
        if self.rampup_ratio is not None:
            halflife = min(halflife, int(self.images_seen) * self.rampup_ratio)
        return 0.5 ** (images / max(halflife, 1e-8))

    def update(self, model: nn.Module, images: int) -> None:
        """Fold in the weights of ``model`` after a step that drew ``images`` images."""
        self._lerp_weight = 1.0 - self.beta(images)
        self.update_parameters(model)
        self.images_seen += images

    def avg_func(self, averaged_param: Tensor, source_param: Tensor, steps: int) -> None:
        averaged_param.lerp_(source_param, self._lerp_weight)


@HOOKS.register_module()
class HalfLifeEMAHook(EMAHook):
    """mmengine's EMAHook driven by images drawn per step (all ranks together).

    Checkpoints store the EMA weights as ``state_dict`` (what sampling loads)
    and the raw weights in ``ema_state_dict``, as mmengine's EMAHook does.

    Args:
        halflife_images: Half-life in images.
        rampup_ratio: Ramp-up ratio; None disables the ramp-up.
    """

    def __init__(self, halflife_images: float = 500_000, rampup_ratio: float | None = 0.05) -> None:
        super().__init__(ema_type='HalfLifeEMA', halflife_images=halflife_images,
                         rampup_ratio=rampup_ratio)

    def after_train_iter(self, runner, batch_idx: int, data_batch: dict | None = None,
                         outputs: dict | None = None) -> None:
        self.ema_model.update(self.src_model, len(data_batch['inputs']) * get_world_size())
