"""A hook that trains for a budget (seconds, steps or FLOPs) and snapshots along the way."""
import time

from mmengine.dist import broadcast_object_list
from mmengine.hooks import Hook

from patchgen.errors import PatchgenError
from patchgen.flops import train_flops_per_image
from patchgen.registry import HOOKS

from .wrappers import unwrap_model

UNITS = ('seconds', 'steps', 'flops')


@HOOKS.register_module()
class BudgetHook(Hook):
    """Train for a budget, saving ``snapshots`` checkpoints at equal fractions of it.

    Snapshot k of n is written once ``k / n`` of the budget is spent, as
    ``budget_k.pth`` with ``meta['cost']``: the seconds, optimizer steps, FLOPs
    and images spent so far. The last snapshot ends training.

    - ``seconds``: wall-clock time from the start of training (data loading and
      hooks included); fair only when nothing else runs on the machine.
    - ``steps``: optimizer steps.
    - ``flops``: the backbone's forward and backward FLOPs per image, counted
      once per patch size (:func:`patchgen.flops.train_flops_per_image`), times
      the images of each step; machine-independent, so runs may share a machine.

    Under torchrun every rank counts its own batch (the same size on every rank)
    and, for a budget in seconds, uses rank 0's clock (one broadcast a step), so
    all ranks snapshot and stop at one step. A resumed run starts its budget anew.

    Args:
        budget: The amount to spend, in ``unit``.
        unit: 'seconds', 'steps' or 'flops'.
        snapshots: Checkpoints to save at equal fractions of the budget.
    """

    priority = 'VERY_LOW'  # after the EMA update and the other hooks of the step

    def __init__(self, budget: float, unit: str = 'seconds', snapshots: int = 1) -> None:
        if unit not in UNITS:
            raise PatchgenError(f'BudgetHook unit must be one of {", ".join(UNITS)}, got {unit!r}')
        if budget <= 0 or snapshots < 1:
            raise PatchgenError(f'BudgetHook needs budget > 0 and snapshots >= 1, got '
                                f'{budget} and {snapshots}')
        self.budget = budget
        self.unit = unit
        self.snapshots = snapshots
        self.start = 0.0
        self.saved = 0
        self.cost = dict(seconds=0.0, steps=0, flops=0.0, images=0)
        self.flops_per_image: dict[int, float] = {}  # patch size -> FLOPs

    def before_train(self, runner) -> None:
        self.start = time.perf_counter()

    def step_flops(self, runner, size: int, images: int) -> float:
        """FLOPs of one step on ``images`` patches of side ``size``."""
        if size not in self.flops_per_image:
            model = unwrap_model(runner.model)
            self.flops_per_image[size] = train_flops_per_image(
                model.backbone, model.image_channels + 2, size, model.num_classes)
        return self.flops_per_image[size] * images

    def after_train_iter(self, runner, batch_idx: int, data_batch: dict | None = None,
                         outputs: dict | None = None) -> None:
        size, images = int(data_batch['patch_size']), len(data_batch['inputs'])
        seconds = [time.perf_counter() - self.start]
        if self.unit == 'seconds':  # steps and FLOPs are the same on every rank already
            broadcast_object_list(seconds)  # rank 0's clock: every rank saves and stops at one step
        self.cost.update(seconds=seconds[0], steps=self.cost['steps'] + 1,
                         images=self.cost['images'] + images,
                         flops=self.cost['flops'] + self.step_flops(runner, size, images))
        due = int(self.cost[self.unit] * self.snapshots / self.budget + 1e-9)  # snapshots due
        while self.saved < min(due, self.snapshots):
            self.saved += 1
            runner.save_checkpoint(runner.work_dir, f'budget_{self.saved}.pth', by_epoch=False,
                                   meta=dict(cost=dict(self.cost)))
            runner.logger.info(f'Budget: snapshot {self.saved}/{self.snapshots} after '
                               f'{self.cost["steps"]} steps, {self.cost["seconds"]:.0f} s')
        if self.saved == self.snapshots:
            runner.train_loop.stop_training = True
