"""The training loop whose iterations are Patch Diffusion optimizer steps."""
from collections import Counter
from collections.abc import Iterator

import torch
from mmengine.dist import get_rank
from mmengine.runner import IterBasedTrainLoop

from patchgen.datasets.latents import check_latent_source
from patchgen.errors import PatchgenError
from patchgen.patches import FixedSize, PatchSampler
from patchgen.registry import LOOPS, PATCH_SAMPLERS
from patchgen.seeding import reseed_global_rngs

from .optim_wrapper import AutocastOptimWrapper
from .wrappers import unwrap_model

NOISE_SEED_RANGE = 2 ** 62  # per-image noise seeds are drawn in [0, 2^62)


def merge_batches(batches: list[dict]) -> dict:
    """Concatenate collated batches key by key along the batch dimension."""
    if len(batches) == 1:
        return batches[0]
    return {key: torch.cat([batch[key] for batch in batches]) for key in batches[0]}


def check_training_data(dataset, model: torch.nn.Module) -> None:
    """Fail before training when the dataset is empty or its items do not fit the model."""
    if len(dataset) == 0:
        raise PatchgenError('the training dataset is empty: check its root, split or indices')
    check_latent_source(dataset, model)
    shape = tuple(dataset[0]['inputs'].shape)  # (C, H, W)
    expected = (model.image_channels, model.resolution, model.resolution)
    if shape != expected:
        raise PatchgenError(
            f'training images are {"x".join(map(str, shape))} (channels x height x width) after '
            f'the dataset pipeline, but the model expects {"x".join(map(str, expected))}: set '
            'model.image_channels and model.resolution, or resize or pad in the pipeline')


class StepBatches:
    """Iterator over optimizer steps built from an iterator over data batches.

    Step ``t`` first reseeds the global generators from ``(seed, t, rank)``,
    then asks the patch sampler for its plan, merges ``plan.multiplier`` data
    batches into one and adds the step's draws: ``patch_size``, each image's
    crop corner (``top``, ``left``), each image's ``noise_seeds`` (its noise
    level and noise) and the step's ``noise_band``. Because each step's
    randomness depends only on its index, skipping ``t`` steps on resume
    replays an uninterrupted run exactly.

    Args:
        batches: Infinite iterator over collated data batches.
        patch_sampler: Decides each step's patch size, multiplier and noise band.
        seed: The run's seed, the same on every rank.
        rank: This process's rank; positions and noise differ between ranks.
    """

    def __init__(self, batches: Iterator[dict], patch_sampler: PatchSampler, seed: int,
                 rank: int) -> None:
        self.batches = batches
        self.patch_sampler = patch_sampler
        self.seed = seed
        self.rank = rank
        self.step = 0

    def __iter__(self) -> 'StepBatches':
        return self

    def __next__(self) -> dict:
        reseed_global_rngs(self.seed, self.step, self.rank)
        plan = self.patch_sampler.plan(self.step, self.seed)
        batch = merge_batches([next(self.batches) for _ in range(plan.multiplier)])
        n = len(batch['inputs'])
        top, left = self.patch_sampler.corners(n, plan.size)  # each (N,)
        noise_seeds = torch.randint(0, NOISE_SEED_RANGE, (n,))  # (N,)
        self.step += 1
        return {**batch, 'patch_size': plan.size, 'top': top, 'left': left,
                'noise_seeds': noise_seeds, 'noise_band': plan.noise_band}


@LOOPS.register_module()
class PatchTrainLoop(IterBasedTrainLoop):
    """mmengine's IterBasedTrainLoop in which an iteration is one Patch Diffusion step.

    ``max_iters`` counts optimizer steps; a step on patches of side s draws
    the patch sampler's multiplier (R // s by default) data batches.

    Args:
        runner: The Runner.
        dataloader: The training dataloader (or its config).
        max_iters: Optimizer steps.
        patch_sampler: Config of the patch sampler (PATCH_SAMPLERS);
            ``resolution`` is the model's unless given.
        **kwargs: ``IterBasedTrainLoop``'s (``val_begin``, ``val_interval``, ...).
    """

    def __init__(self, runner, dataloader, max_iters: int, patch_sampler: dict | None = None,
                 **kwargs) -> None:
        super().__init__(runner, dataloader, max_iters, **kwargs)
        model = unwrap_model(runner.model)
        if patch_sampler is None:
            raise PatchgenError("PatchTrainLoop needs a patch sampler: set train_cfg.patch_sampler"
                                ", e.g. dict(type='RandomMultiScale', real_p=0.5)")
        self.patch_sampler = PATCH_SAMPLERS.build(
            patch_sampler, default_args=dict(resolution=model.resolution))
        check_training_data(self.dataloader.dataset, model)
        self.dataloader_iterator = StepBatches(self.dataloader_iterator, self.patch_sampler,
                                               seed=runner.seed, rank=get_rank())

    def run(self) -> torch.nn.Module:
        self.dataloader_iterator.seed = self.runner.seed  # a resumed run knows its seed only now
        if isinstance(self.runner.optim_wrapper, AutocastOptimWrapper):  # dtype='auto' measures
            self.runner.optim_wrapper.settle(unwrap_model(self.runner.model), self.step_mix())
        return super().run()

    def step_mix(self, plans: int = 1000) -> dict[tuple[int, int], float]:
        """``{(patch size, images per step): share of the steps}`` over ``plans`` steps
        spread evenly over the run."""
        counts: Counter[tuple[int, int]] = Counter()
        for step in range(0, self.max_iters, max(1, self.max_iters // plans)):
            plan = self.patch_sampler.plan(step, self.runner.seed)
            counts[plan.size, self.dataloader.batch_size * plan.multiplier] += 1
        return {shape: count / counts.total() for shape, count in counts.items()}


def planned_batch(images: torch.Tensor, size: int, seed: int = 0, step: int = 0,
                  rank: int = 0) -> dict:
    """One training batch of ``images`` as PatchTrainLoop makes it at ``step``: the images
    (N, C, R, R) with patches of side ``size`` and the step's corners and noise seeds.

    For scripts and tests that call ``train_step`` or ``loss`` outside a Runner.
    """
    sampler = FixedSize(images.shape[-1], size,
                        multiplier=dict(type='ReferenceMultiplier', max_multiplier=1))
    steps = StepBatches(iter([{'inputs': images}]), sampler, seed=seed, rank=rank)
    steps.step = step
    return next(steps)
