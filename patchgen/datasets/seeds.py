"""Seeds to sample from during evaluation: the 'dataset' of a generative val loop."""
from torch.utils.data import Dataset

from patchgen.errors import PatchgenError
from patchgen.registry import DATASETS


@DATASETS.register_module()
class SeedDataset(Dataset):
    """Item k is ``{'seeds': first_seed + k}`` (plus ``'labels': k % num_classes``).

    A val dataloader over it makes the model generate one image per seed
    (``mode='predict'``); under DDP the sampler splits the seeds across ranks.

    Args:
        num: Number of images to generate.
        first_seed: Seed of the first image.
        num_classes: Cycle class labels 0..num_classes-1 for conditional
            models; 0 gives no labels.
    """

    def __init__(self, num: int, first_seed: int = 0, num_classes: int = 0) -> None:
        if num < 1:
            raise PatchgenError(f'SeedDataset needs num >= 1, got {num}')
        self.num = num
        self.first_seed = first_seed
        self.num_classes = num_classes
        self.metainfo = dict(name='seeds', num_classes=num_classes)

    def __len__(self) -> int:
        return self.num

    def __getitem__(self, index: int) -> dict:
        item = {'seeds': self.first_seed + index}
        if self.num_classes:
            item['labels'] = index % self.num_classes
        return item
