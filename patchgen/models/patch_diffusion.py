"""The Patch Diffusion model: glue between noise schedule, loss weighting and backbone."""
from collections.abc import Callable, Sequence

import torch
from mmengine.model import BaseModel
from torch import Tensor

from patchgen.autoencoders import LazyAutoencoder
from patchgen.coords import coordinate_channels
from patchgen.errors import PatchgenError
from patchgen.images import quantize
from patchgen.patches import crop_patches
from patchgen.registry import BACKBONES, LOSS_WEIGHTINGS, MODELS, NOISE_SCHEDULES, SAMPLERS
from patchgen.samplers import Sampler, SeededNoise, TiledDenoiser, Tiling
from patchgen.schedules.base import FULL_BAND

LOSS_REDUCTIONS = ('pixel_sum', 'pixel_mean')


@MODELS.register_module()
class PatchDiffusion(BaseModel):
    """Train on patches with coordinate channels; sample whole images.

    The training loop (``PatchTrainLoop``) decides each step's patches: their
    size, each image's crop corner, the noise band and each image's seed for
    its noise draws. The loss is a plain function of those and the images.
    The backbone F sees ``[c_in * x, coords]`` (C + 2 channels) and predicts C
    channels; the schedule's preconditioning turns it into the denoiser
    ``D(x; sigma) = c_skip * x + c_out * F``. With an ``autoencoder`` the model
    lives in its latent space: it trains on latents (``patchgen data encode``)
    and :meth:`generate` decodes what it samples, so sample grids, ``patchgen
    sample`` and evaluation see images.

    Args:
        backbone: Config of the network (BACKBONES). ``in_channels``,
            ``out_channels`` and ``resolution`` are filled in unless given.
        schedule: Config of the noise schedule (NOISE_SCHEDULES).
        sampler: Config of the sampler that :meth:`generate` uses (SAMPLERS).
        image_channels: Channels C of the images (of the latents, with an autoencoder).
        resolution: Side R of the full training images (latents).
        num_classes: Classes to condition on; 0 trains an unconditional
            model and ignores the dataset's labels.
        label_dropout: Probability that a training label is replaced by the
            null label ``num_classes``, so that the model also learns the
            unconditional denoiser that classifier-free guidance needs.
        loss_reduction: ``'pixel_sum'`` sums the weighted squared error over
            each patch's pixels and averages over patches, as the reference
            code does, so small patches give smaller gradients than full
            images; ``'pixel_mean'`` averages over every pixel, so all patch
            sizes weigh the same per pixel.
        weighting: Config of the loss weighting over noise levels and patch
            sizes (LOSS_WEIGHTINGS); the schedule's lambda(sigma) by default.
        channels_last: Run the backbone in channels-last memory format (faster
            convolutions on CPUs and tensor-core GPUs).
        compile: Compile the backbone with ``torch.compile``: True, or a dict
            of its arguments. Each input size compiles once (``dynamic=False``:
            dynamic shapes fail in inductor for this network on torch 2.14).
        data_preprocessor: Config of the data preprocessor (MODELS).
        autoencoder: Config of the autoencoder (AUTOENCODERS) whose latents the
            model learns; built on first use, kept out of the state dict.
    """

    def __init__(self,
                 backbone: dict,
                 schedule: dict,
                 sampler: dict,
                 image_channels: int,
                 resolution: int,
                 num_classes: int = 0,
                 label_dropout: float = 0.1,
                 loss_reduction: str = 'pixel_sum',
                 weighting: dict | None = None,
                 channels_last: bool = False,
                 compile: bool | dict = False,
                 data_preprocessor: dict | None = None,
                 autoencoder: dict | None = None) -> None:
        if not 0 <= label_dropout < 1:
            raise PatchgenError(f'label_dropout must be in [0, 1), got {label_dropout}')
        if loss_reduction not in LOSS_REDUCTIONS:
            raise PatchgenError(f'loss_reduction {loss_reduction!r} is unknown: use one of '
                                f'{", ".join(LOSS_REDUCTIONS)}')
        preprocessor = MODELS.build(data_preprocessor or dict(type='DiffusionDataPreprocessor'))
        super().__init__(data_preprocessor=preprocessor)
        self.image_channels = image_channels
        self.resolution = resolution
        self.num_classes = num_classes
        self.label_dropout = label_dropout
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
        self.weighting = LOSS_WEIGHTINGS.build(weighting or dict(type='EDMWeighting'))
        self.sampler = SAMPLERS.build(sampler)
        self.autoencoder = None if autoencoder is None else LazyAutoencoder(autoencoder)

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

    def loss(self, images: Tensor, patch_size: int, top: Tensor, left: Tensor,
             noise_seeds: Tensor, labels: Tensor | None = None,
             noise_band: tuple[float, float] = FULL_BAND) -> dict:
        """Weighted denoising loss on one patch per image.

        Args:
            images: (N, C, R, R) full images in [-1, 1].
            patch_size: Side s of the patches of this step.
            top: (N,) long, first row of each image's patch.
            left: (N,) long, first column of each image's patch.
            noise_seeds: (N,) long; image k's noise level and noise come from a
                generator seeded with ``noise_seeds[k]``, so they do not depend
                on the batch it is in.
            labels: (N,) class labels, or None.
            noise_band: Quantiles [lo, hi) of the schedule's noise law to draw from.
        """
        patches, coords = crop_patches(images, top, left, patch_size)  # (N, C|2, s, s)
        draws = SeededNoise(noise_seeds.tolist(), images.device)
        sigma = self.schedule.sigma_in_band(draws.rand(), noise_band)  # (N,)
        noise = draws.randn(*patches.shape[1:])  # (N, C, s, s)
        if labels is not None and self.num_classes > 0 and self.training:
            dropped = torch.rand(len(labels), device=labels.device) < self.label_dropout
            labels = labels.masked_fill(dropped, self.num_classes)  # (N,) some null labels
        noisy = patches + sigma.view(-1, 1, 1, 1) * noise
        denoised = self.denoise(noisy, sigma, coords, labels)
        error = self.weighting(sigma, self.schedule.loss_weight(sigma),
                               (denoised - patches).square(), patch_size / self.resolution)
        loss = error.sum() / len(error) if self.loss_reduction == 'pixel_sum' else error.mean()
        return dict(loss=loss, patch_size=loss.new_tensor(float(patch_size)))

    def forward(self, inputs: Tensor | None = None, labels: Tensor | None = None,
                patch_size: int | None = None, top: Tensor | None = None,
                left: Tensor | None = None, noise_seeds: Tensor | None = None,
                noise_band: tuple[float, float] = FULL_BAND, seeds: Tensor | None = None,
                mode: str = 'loss') -> dict | list[Tensor]:
        """``mode='loss'``: the training loss of a batch that ``PatchTrainLoop`` made
        (images with their patch size, corners and noise seeds); ``mode='predict'``: one
        generated (C, H, W) uint8 image per seed, for the Runner's val/test loops."""
        if mode == 'predict':
            if seeds is None:
                raise PatchgenError("mode='predict' needs seeds: evaluate with a "
                                    "val_dataloader over dict(type='SeedDataset', num=N)")
            return list(quantize(self.generate(seeds.tolist(), labels)))
        if mode != 'loss':
            raise PatchgenError(f"PatchDiffusion has modes 'loss' and 'predict', got {mode!r}")
        if patch_size is None or top is None or left is None or noise_seeds is None:
            raise PatchgenError("the batch carries no patch plan: train PatchDiffusion with "
                                "train_cfg=dict(type='PatchTrainLoop', ...)")
        return self.loss(inputs, patch_size, top, left, noise_seeds, labels, noise_band)

    def guided_denoiser(self, coords: Tensor, labels: Tensor | None,
                        guidance: float) -> Callable[[Tensor, Tensor], Tensor]:
        """D(x; sigma) for sampling, with classifier-free guidance when ``guidance != 1``."""
        if labels is None or self.num_classes == 0 or guidance == 1:
            return lambda x, sigma: self.denoise(x, sigma, coords, labels)
        null = torch.full_like(labels, self.num_classes)

        def guided(x: Tensor, sigma: Tensor) -> Tensor:
            both = self.denoise(torch.cat([x, x]), torch.cat([sigma, sigma]),
                                torch.cat([coords, coords]), torch.cat([labels, null]))
            conditional, unconditional = both.chunk(2)  # each (N, C, H, W)
            return unconditional + guidance * (conditional - unconditional)
        return guided

    @torch.no_grad()
    def generate(self,
                 seeds: Sequence[int],
                 labels: Tensor | None = None,
                 num_steps: int | None = None,
                 size: tuple[int, int] | None = None,
                 offset: tuple[int, int] = (0, 0),
                 guidance: float = 1.0,
                 sampler: Sampler | None = None,
                 tiling: Tiling | None = None) -> Tensor:
        """Sample whole images, one per seed, in eval mode.

        Args:
            seeds: One seed per image; an image depends only on its seed.
            labels: (N,) class labels (``num_classes`` is the null label), or None.
            num_steps: Sampler steps; the sampler's own setting by default.
            size: (height, width) of the canvas; (R, R) by default. A larger
                canvas extrapolates the coordinates beyond [-1, 1].
            offset: (row, column) of the canvas's top-left pixel in the
                training image's pixel grid.
            guidance: Classifier-free guidance weight w: the denoiser is
                ``D(null) + w * (D(labels) - D(null))``; 1 is plain conditional
                sampling (one network call per step).
            sampler: The sampler of this call; ``self.sampler`` by default.
            tiling: Denoise the canvas as overlapping tiles of this size, each
                with its own coordinates (see :class:`TiledDenoiser`), so the
                network sees batches of tiles only, whatever the canvas size.

        Returns:
            (N, C, height, width) images in about [-1, 1]; with an autoencoder,
            the decoded (N, C', f * height, f * width) images in [-1, 1].
        """
        height, width = size or (self.resolution, self.resolution)
        device = next(self.backbone.parameters()).device
        sampler = sampler or self.sampler
        if tiling is None:
            top = torch.full((len(seeds),), offset[0], device=device)
            left = torch.full((len(seeds),), offset[1], device=device)
            coords = coordinate_channels(top, left, height, width, self.resolution)  # (N, 2, H, W)
            denoise = self.guided_denoiser(coords, labels, guidance)
        elif offset != (0, 0):
            raise PatchgenError('a tiled canvas places its tiles itself: leave offset at (0, 0)')
        else:
            denoise = TiledDenoiser(lambda x, sigma, coords, images: self.guided_denoiser(
                coords, None if labels is None else labels[images], guidance)(x, sigma),
                (height, width), self.resolution, tiling)
        sigmas = self.schedule.sampling_sigmas(num_steps or sampler.num_steps)
        was_training = self.training
        self.eval()
        try:
            samples = sampler.sample(denoise, sigmas, SeededNoise(seeds, device),
                                     (self.image_channels, height, width))
        finally:
            self.train(was_training)
        return samples if self.autoencoder is None else self.autoencoder.get(device).decode(samples)
