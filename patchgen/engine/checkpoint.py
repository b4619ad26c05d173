"""The checkpoint hook and resume order of training; the file format lives in
:mod:`patchgen.checkpoint_file`, the atomic writes in :mod:`patchgen.files`."""
import re
from pathlib import Path

from mmengine.hooks import Hook

from patchgen.checkpoint_file import load_checkpoint_file, restore_history_buffers, to_plain
from patchgen.registry import HOOKS

# load_checkpoint_file stays importable from here, where patchgen.engine's users found it.
__all__ = ['CHECKPOINT_NAME', 'PlainCheckpointHook', 'load_checkpoint_file', 'resume_candidates']

CHECKPOINT_NAME = re.compile(r'(?:iter|epoch)_(\d+)\.pth')  # CheckpointHook's file names


def resume_candidates(work_dir: str | Path) -> list[Path]:
    """Checkpoints to resume from, best first: ``last_checkpoint``'s, then the newest by step."""
    work_dir = Path(work_dir)
    pointer = work_dir / 'last_checkpoint'
    named = pointer.read_text().strip() if pointer.is_file() else ''
    numbered = sorted((path for path in work_dir.glob('*.pth')
                       if CHECKPOINT_NAME.fullmatch(path.name)),
                      key=lambda path: int(CHECKPOINT_NAME.fullmatch(path.name).group(1)),
                      reverse=True)
    first = [Path(named)] if named else []
    return first + [path for path in numbered if path not in first]


@HOOKS.register_module()
class PlainCheckpointHook(Hook):
    """Keeps checkpoints plain: converts on save, rebuilds history buffers on load.

    :class:`~patchgen.engine.runner.PatchgenRunner` registers it itself.
    """

    priority = 'LOWEST'  # convert after every other hook has added its state

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.update(to_plain(checkpoint))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        message_hub = checkpoint.get('message_hub')
        if message_hub is not None:
            message_hub['log_scalars'] = restore_history_buffers(message_hub['log_scalars'])
