"""The Patch Diffusion model: glue between patch sampler, noise schedule and backbone."""
from collections.abc import Sequence

import torch
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from torch import Tensor

from patchgen.coords import coordinate_channels
from patchgen.errors import PatchgenError
from patchgen.images import quantize
from patchgen.registry import BACKBONES, MODELS, NOISE_SCHEDULES, PATCH_SAMPLERS, SAMPLERS
from patchgen.samplers import SeededNoise

LOSS_REDUCTIONS = ('pixel_sum', 'pixel_mean')


@MODELS.register_module()
class PatchDiffusion(BaseModel):
    """Train on random patches with coordinate channels; sample whole images.

    The backbone F sees ``[c_in * x, coords]`` (C + 2 channels) and predicts C
    channels; the schedule's preconditioning turns it into the denoiser
    ``D(x; sigma) = c_skip * x + c_out * F``.

    Args:
        backbone: Config of the network (BACKBONES). ``in_channels``,
            ``out_channels`` and ``resolution`` are filled in unless given.
        schedule: Config of the noise schedule (NOISE_SCHEDULES).
        patch_sampler: Config of the patch sampler (PATCH_SAMPLERS);
            ``resolution`` is filled in unless given.
        sampler: Config of the sampler that :meth:`generate` uses (SAMPLERS).
        image_channels: Channels C of the images.
        resolution: Side R of the full training images.
        num_classes: Classes to condition on; 0 trains an unconditional
            model and ignores the dataset's labels.
        loss_reduction: ``'pixel_sum'`` sums the weighted squared error over
            each patch's pixels and averages over patches, as the reference
            code does, so small patches give smaller gradients than full
            images; ``'pixel_mean'`` averages over every pixel, so all patch
            sizes weigh the same per pixel.
        channels_last: Run the backbone in channels-last memory format (faster
            convolutions on CPUs and tensor-core GPUs).
        compile: Compile the backbone with ``torch.compile``: True, or a dict
            of its arguments. Each input size compiles once (``dynamic=False``:
            dynamic shapes fail in inductor for this network on torch 2.14).
        data_preprocessor: Config of the data preprocessor (MODELS).
    """

    def __init__(self,
                 backbone: dict,
                 schedule: dict,
                 patch_sampler: dict,
                 sampler: dict,
                 image_channels: int,
                 resolution: int,
                 num_classes: int = 0,
                 loss_reduction: str = 'pixel_sum',
                 channels_last: bool = False,
                 compile: bool | dict = False,
                 data_preprocessor: dict | None = None) -> None:
        if loss_reduction not in LOSS_REDUCTIONS:
            raise PatchgenError(f'loss_reduction {loss_reduction!r} is unknown: use one of '
                                f'{", ".join(LOSS_REDUCTIONS)}')
        preprocessor = MODELS.build(data_preprocessor or dict(type='DiffusionDataPreprocessor'))
        super().__init__(data_preprocessor=preprocessor)
        self.image_channels = image_channels
        self.resolution = resolution
        self.num_classes = num_classes
        self.loss_reduction = loss_reduction
        self.backbone = BACKBONES.build(backbone, default_args=dict(
            in_channels=image_channels + 2, out_channels=image_channels, resolution=resolution,
            num_classes=num_classes))
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.backbone.to(memory_format=self.memory_format)
        if compile:  # in place, so the state dict keeps its keys; one static graph per size
            self.backbone.compile(**{'dynamic': False, **(compile if isinstance(compile, dict)
                                                          else {})})
        self.schedule = NOISE_SCHEDULES.build(schedule)
        self.patch_sampler = PATCH_SAMPLERS.build(patch_sampler,
                                                  default_args=dict(resolution=resolution))
        self.sampler = SAMPLERS.build(sampler)

    def denoise(self, x: Tensor, sigma: Tensor, coords: Tensor,
                labels: Tensor | None = None) -> Tensor:
        """The preconditioned denoiser D(x; sigma, coords).

        Args:
            x: (N, C, H, W) noisy images or patches.
            sigma: (N,) noise levels.
            coords: (N, 2, H, W) coordinate channels.
            labels: (N,) class labels, or None; ignored by unconditional models.

        Returns:
            (N, C, H, W) denoised estimate.
        """
        c = self.schedule.precondition(sigma.reshape(-1, 1, 1, 1))  # each (N, 1, 1, 1)
        net_in = torch.cat([c.c_in * x, coords], dim=1)  # (N, C + 2, H, W)
        net_in = net_in.contiguous(memory_format=self.memory_format)
        labels = labels if self.num_classes > 0 else None
        out = self.backbone(net_in, c.c_noise.flatten(), labels)  # (N, C, H, W)
        return c.c_skip * x + c.c_out * out

    def loss(self, images: Tensor, patch_size: int, labels: Tensor | None = None) -> dict:
        """Weighted denoising loss on one random patch per image.

        Args:
            images: (N, C, R, R) full images in [-1, 1].
            patch_size: Side of the patches of this step.
            labels: (N,) class labels, or None.
        """
        patches, coords = self.patch_sampler.crop(images, patch_size)  # (N, C, s, s), (N, 2, s, s)
        sigma = self.schedule.sample_sigma(len(patches), patches.device)  # (N,)
        noisy = patches + sigma.view(-1, 1, 1, 1) * torch.randn_like(patches)
        denoised = self.denoise(noisy, sigma, coords, labels)
        error = self.schedule.loss_weight(sigma).view(-1, 1, 1, 1) * (denoised - patches).square()
        loss = error.sum() / len(error) if self.loss_reduction == 'pixel_sum' else error.mean()
        return dict(loss=loss, patch_size=loss.new_tensor(float(patch_size)))

    def forward(self, inputs: Tensor | None = None, labels: Tensor | None = None,
                patch_size: int | None = None, seeds: Tensor | None = None,
                mode: str = 'loss') -> dict | list[Tensor]:
        """``mode='loss'``: the training loss of a batch of images; ``mode='predict'``:
        one generated (C, H, W) uint8 image per seed, for the Runner's val/test loops."""
        if mode == 'predict':
            if seeds is None:
                raise PatchgenError("mode='predict' needs seeds: evaluate with a "
                                    "val_dataloader over dict(type='SeedDataset', num=N)")
            return list(quantize(self.generate(seeds.tolist(), labels)))
        if mode != 'loss':
            raise PatchgenError(f"PatchDiffusion has modes 'loss' and 'predict', got {mode!r}")
        if patch_size is None:
            raise PatchgenError("the batch carries no patch size: train PatchDiffusion with "
                                "train_cfg=dict(type='PatchTrainLoop', ...)")
        return self.loss(inputs, patch_size, labels)

    def train_step(self, data: dict, optim_wrapper: OptimWrapper) -> dict[str, Tensor]:
        """One optimizer step on a batch already holding ``multiplier`` data batches.

        Non-finite gradient entries are zeroed before the optimizer wrapper
        updates the weights (unless it scales the loss for fp16: its GradScaler
        then skips steps that overflow).
        """
        with optim_wrapper.optim_context(self):
            data = self.data_preprocessor(data, True)
            losses = self._run_forward(data, mode='loss')
        loss, log_vars = self.parse_losses(losses)
        optim_wrapper.backward(optim_wrapper.scale_loss(loss))
        if getattr(optim_wrapper, 'loss_scaler', None) is None:  # a GradScaler must see overflows
            for param in self.parameters():
                if param.grad is not None:
                    torch.nan_to_num_(param.grad, nan=0.0, posinf=0.0, neginf=0.0)
        if optim_wrapper.should_update():
            optim_wrapper.step()
            optim_wrapper.zero_grad()
        return log_vars

    @torch.no_grad()
    def generate(self,
                 seeds: Sequence[int],
                 labels: Tensor | None = None,
                 num_steps: int | None = None,
                 size: tuple[int, int] | None = None,
                 offset: tuple[int, int] = (0, 0)) -> Tensor:
        """Sample whole images, one per seed, in eval mode.

        Args:
            seeds: One seed per image; an image depends only on its seed.
            labels: (N,) class labels, or None.
            num_steps: Sampler steps; the sampler's own setting by default.
            size: (height, width) of the canvas; (R, R) by default. A larger
                canvas extrapolates the coordinates beyond [-1, 1].
            offset: (row, column) of the canvas's top-left pixel in the
                training image's pixel grid.

        Returns:
            (N, C, height, width) images in about [-1, 1].
        """
        height, width = size or (self.resolution, self.resolution)
        device = next(self.backbone.parameters()).device
        n = len(seeds)
        top = torch.full((n,), offset[0], device=device)
        left = torch.full((n,), offset[1], device=device)
        coords = coordinate_channels(top, left, height, width, self.resolution)  # (N, 2, H, W)
        sigmas = self.schedule.sampling_sigmas(num_steps or self.sampler.num_steps)
        was_training = self.training
        self.eval()
        try:
            return self.sampler.sample(lambda x, sigma: self.denoise(x, sigma, coords, labels),
                                       sigmas, SeededNoise(seeds, device),
                                       (self.image_channels, height, width))
        finally:
            self.train(was_training)
