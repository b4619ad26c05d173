"""The training loop whose iterations are Patch Diffusion optimizer steps."""
from collections.abc import Iterator

import torch
from mmengine.dist import get_rank
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop

from patchgen.errors import PatchgenError
from patchgen.patches import PatchSampler
from patchgen.registry import LOOPS
from patchgen.seeding import reseed_global_rngs


def merge_batches(batches: list[dict]) -> dict:
    """Concatenate collated batches key by key along the batch dimension."""
    if len(batches) == 1:
        return batches[0]
    return {key: torch.cat([batch[key] for batch in batches]) for key in batches[0]}


def check_training_data(dataset, model: torch.nn.Module) -> None:
    """Fail before training when the dataset is empty or its items do not fit the model."""
    if len(dataset) == 0:
        raise PatchgenError('the training dataset is empty: check its root, split or indices')
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
    then asks the patch sampler for its plan and merges ``plan.multiplier``
    data batches into one, tagged with ``patch_size``. Because each step's
    randomness depends only on its index, skipping ``t`` steps on resume
    replays an uninterrupted run exactly.

    Args:
        batches: Infinite iterator over collated data batches.
        patch_sampler: Decides each step's patch size and multiplier.
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
        self.step += 1
        return {**batch, 'patch_size': plan.size}


@LOOPS.register_module()
class PatchTrainLoop(IterBasedTrainLoop):
    """mmengine's IterBasedTrainLoop in which an iteration is one Patch Diffusion step.

    ``max_iters`` counts optimizer steps; a step on patches of side s draws
    the patch sampler's multiplier (R // s by default) data batches. Takes
    the same arguments as ``IterBasedTrainLoop``.
    """

    def __init__(self, runner, dataloader, max_iters: int, **kwargs) -> None:
        super().__init__(runner, dataloader, max_iters, **kwargs)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        check_training_data(self.dataloader.dataset, model)
        self.dataloader_iterator = StepBatches(self.dataloader_iterator, model.patch_sampler,
                                               seed=runner.seed, rank=get_rank())

    def run(self) -> torch.nn.Module:
        self.dataloader_iterator.seed = self.runner.seed  # a resumed run knows its seed only now
        return super().run()
