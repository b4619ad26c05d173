"""A hook that trains for a wall-clock budget and snapshots checkpoints along the way."""
import time

from mmengine.dist import broadcast_object_list
from mmengine.hooks import Hook

from patchgen.errors import PatchgenError
from patchgen.registry import HOOKS


@HOOKS.register_module()
class TimeBudgetHook(Hook):
    """Train for ``seconds`` of wall-clock time, saving ``snapshots`` checkpoints on the way.

    Snapshot k of n is written once ``k / n`` of the budget has passed, as
    ``time_k.pth`` with ``meta['train_seconds']``; the last one ends training.
    Time counts from the start of training (data loading and hooks included), so
    runs with equal budgets are compared at equal cost; a resumed run starts its
    budget anew.

    Args:
        seconds: The training budget.
        snapshots: Checkpoints to save at equal fractions of the budget.
    """

    priority = 'VERY_LOW'  # after the EMA update and the other hooks of the step

    def __init__(self, seconds: float, snapshots: int = 1) -> None:
        if seconds <= 0 or snapshots < 1:
            raise PatchgenError(f'TimeBudgetHook needs seconds > 0 and snapshots >= 1, got '
                                f'{seconds} and {snapshots}')
        self.seconds = seconds
        self.snapshots = snapshots
        self.start = 0.0
        self.saved = 0

    def before_train(self, runner) -> None:
        self.start = time.perf_counter()

    def after_train_iter(self, runner, batch_idx: int, data_batch: dict | None = None,
                         outputs: dict | None = None) -> None:
        shared = [time.perf_counter() - self.start]
        broadcast_object_list(shared)  # rank 0's clock: every rank saves and stops at one step
        elapsed = shared[0]
        due = int(elapsed / self.seconds * self.snapshots)  # snapshots whose time has come
        while self.saved < min(due, self.snapshots):
            self.saved += 1
            runner.save_checkpoint(runner.work_dir, f'time_{self.saved}.pth', by_epoch=False,
                                   meta=dict(train_seconds=elapsed))
            runner.logger.info(f'Time budget: snapshot {self.saved}/{self.snapshots} after '
                               f'{elapsed:.0f} s and {runner.iter + 1} steps')
        if self.saved == self.snapshots:
            runner.train_loop.stop_training = True
