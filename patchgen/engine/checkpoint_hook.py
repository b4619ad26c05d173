"""Periodic checkpoints that a crash at any moment cannot take away."""
from pathlib import Path

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from patchgen.files import write_text_atomic
from patchgen.registry import HOOKS


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's CheckpointHook, reordered so that the previous checkpoint survives any crash.

    mmengine 0.10.7 deletes the oldest kept checkpoint before it writes the new
    one and rewrites ``last_checkpoint`` in place, so a kill in between can
    leave nothing to resume from. This hook writes the new checkpoint first
    (atomically, through :meth:`PatchgenRunner.save_checkpoint`), then points
    ``last_checkpoint`` at it atomically, and only then deletes the expired one.
    Its arguments are CheckpointHook's.
    """

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        kept = self.keep_ckpt_ids  # a deque of at most max_keep_ckpts steps
        expired = None
        if self.max_keep_ckpts > 0 and (not kept or kept[-1] != step):
            if len(kept) == self.max_keep_ckpts:
                expired = kept.popleft()
            kept.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(kept))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(self.out_dir, filename, self.file_client_args,
                               save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta,
                               by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        write_text_atomic(Path(runner.work_dir) / 'last_checkpoint', self.last_ckpt)
        if expired is not None:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(expired))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)


def save_checkpoint_now(runner, step: int) -> str:
    """Save the weights after ``step`` (once) as the checkpoint hook names them; returns the
    path. Without a checkpoint hook, as ``iter_STEP.pth`` in the work dir."""
    hook = next((hook for hook in runner.hooks if isinstance(hook, CheckpointHook)), None)
    if hook is None:
        runner.save_checkpoint(runner.work_dir, f'iter_{step}.pth', by_epoch=False)
        return str(Path(runner.work_dir) / f'iter_{step}.pth')
    if hook.last_ckpt != hook.file_backend.join_path(hook.out_dir, hook.filename_tmpl.format(step)):
        hook._save_checkpoint(runner)  # not saved at this step yet
    return hook.last_ckpt
