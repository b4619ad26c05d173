"""A hook that writes a grid of samples into the work dir during training."""
from pathlib import Path

import numpy as np
from mmengine.dist import is_main_process
from mmengine.hooks import EMAHook, Hook
from PIL import Image

from patchgen.images import save_grid
from patchgen.registry import HOOKS

from .wrappers import unwrap_model


@HOOKS.register_module()
class SampleGridHook(Hook):
    """Every ``interval`` steps and at the end, sample a grid with the EMA weights.

    The grid goes to ``WORK_DIR/samples/iter_0000100.png`` and, as the image
    ``sample_grid``, to the visualizer's backends (TensorBoard, ...); the path
    is also kept in the message hub as ``sample_grid``. Seeds are fixed, so
    grids of successive steps show the same images as they improve.

    Args:
        interval: Steps between grids.
        num_images: Images in the grid.
        num_steps: Sampler steps; the model's sampler setting by default.
        seed: Seed of the first image.
    """

    priority = 'LOW'  # after the EMA update of the same step

    def __init__(self, interval: int = 1000, num_images: int = 64, num_steps: int | None = None,
                 seed: int = 0) -> None:
        self.interval = interval
        self.num_images = num_images
        self.num_steps = num_steps
        self.seed = seed

    def after_train_iter(self, runner, batch_idx: int, data_batch: dict | None = None,
                         outputs: dict | None = None) -> None:
        if self.every_n_train_iters(runner, self.interval) or self.is_last_train_iter(runner):
            self.save(runner)

    def save(self, runner) -> Path | None:
        """Sample the grid now and write it; returns its path (None on ranks other than 0).

        Every rank samples the same grid: a sharded (FSDP) model needs all
        ranks for each forward pass, and under DDP the others would wait anyway.
        """
        ema_hooks = [hook for hook in runner.hooks if isinstance(hook, EMAHook)]
        if ema_hooks:
            model = ema_hooks[0].ema_model.module
        else:
            model = unwrap_model(runner.model)
        images = model.generate(range(self.seed, self.seed + self.num_images),
                                num_steps=self.num_steps)
        if not is_main_process():
            return None
        name = f'iter_{runner.iter + 1:07d}.png'
        path = save_grid(images, Path(runner.work_dir) / 'samples' / name)
        runner.message_hub.update_info('sample_grid', str(path))
        with Image.open(path) as grid:
            runner.visualizer.add_image('sample_grid', np.asarray(grid.convert('RGB')),
                                        step=runner.iter + 1)
        runner.logger.info(f'Sample grid ({"EMA" if ema_hooks else "raw"} weights): {path}')
        return path
