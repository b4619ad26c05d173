"""Counting steps skipped for non-finite losses or gradients, and stopping a run that diverged."""
from mmengine.hooks import Hook

from patchgen.errors import PatchgenError
from patchgen.registry import HOOKS

from .checkpoint_hook import save_checkpoint_now


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Logs each skipped step and stops after ``max_consecutive`` of them in a row.

    ``SafeOptimWrapper`` (and ``AutocastOptimWrapper``) skip a step whose loss or
    gradients are not finite, report it in ``last_update`` and count those steps
    (the training scalar ``skipped_steps``; this hook also keeps the total in the
    runtime info of checkpoints). When ``max_consecutive`` steps in a row were
    skipped, the weights have not changed since the last good step, so it saves a
    checkpoint of them and stops the run with a message.

    Args:
        max_consecutive: Skipped steps in a row that stop the run.
    """

    priority = 'LOW'  # after the optimizer step, before the checkpoint and time-budget hooks

    def __init__(self, max_consecutive: int = 50) -> None:
        if max_consecutive < 1:
            raise PatchgenError(f'max_consecutive must be at least 1, got {max_consecutive}')
        self.max_consecutive = max_consecutive
        self.consecutive = 0

    def before_train(self, runner) -> None:
        if not hasattr(runner.optim_wrapper, 'last_update'):
            runner.logger.warning(
                f'{type(runner.optim_wrapper).__name__} does not skip non-finite steps: use '
                "optim_wrapper=dict(_delete_=True, type='SafeOptimWrapper', ...) "
                '(or AutocastOptimWrapper)')

    def after_train_iter(self, runner, batch_idx: int, data_batch: dict | None = None,
                         outputs: dict | None = None) -> None:
        update = getattr(runner.optim_wrapper, 'last_update', None)
        if update != 'skipped':
            if update == 'stepped':
                self.consecutive = 0
            return
        self.consecutive += 1
        total = runner.optim_wrapper.skipped_steps
        runner.message_hub.update_info('skipped_steps', total)
        step = runner.iter + 1
        runner.logger.warning(f'Step {step} skipped: non-finite loss or gradients '
                              f'({self.consecutive} in a row, {total} in the run).')
        if self.consecutive < self.max_consecutive:
            return
        path = save_checkpoint_now(runner, step)
        raise PatchgenError(f'training stopped at step {step}: {self.consecutive} steps in a '
                            f'row had non-finite loss or gradients; checkpoint {path} holds the '
                            f'last good weights; lower the learning rate or check the data, '
                            f'then resume')
