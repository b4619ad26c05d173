"""Watching a run: images seen as a training scalar, the environment beside the logs, plots."""
import json
import os
import platform
from pathlib import Path

import mmengine
import torch
from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import Hook

from patchgen import __version__
from patchgen.errors import PatchgenError
from patchgen.files import write_text_atomic
from patchgen.registry import HOOKS
from patchgen.run_log import ENVIRONMENT_FILE


def device_name(device: torch.device) -> str:
    """A GPU's model name, or the CPU's architecture and core count."""
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return f'{device.type} ({platform.machine()}, {os.cpu_count()} cores)'


def environment(model: torch.nn.Module) -> dict[str, str | int]:
    """Versions, device and world size of the process training ``model``."""
    device = next(model.parameters()).device
    return dict(patchgen=__version__, torch=str(torch.__version__), mmengine=mmengine.__version__,
                python=platform.python_version(), device=device_name(device),
                world_size=get_world_size())


@HOOKS.register_module()
class WatchHook(Hook):
    """Records what ``patchgen plot`` and ``patchgen report`` read, and plots the run at its end.

    Every step it logs ``images_seen`` (images drawn so far by all ranks; the
    message hub, and so checkpoints, keep it across resumes) as a training
    scalar. Before training it writes the environment to the run's log folder
    (``environment.json``); after training, the plots of :mod:`patchgen.run_plots`
    to ``WORK_DIR/plots`` (without matplotlib: a warning).

    Args:
        plots: Write the plots at the end of training.
    """

    priority = 'NORMAL'  # before the logger hook: each log line has its step's images_seen

    def __init__(self, plots: bool = True) -> None:
        self.plots = plots

    def before_train(self, runner) -> None:
        if is_main_process():
            write_text_atomic(Path(runner.log_dir) / ENVIRONMENT_FILE,
                              json.dumps(environment(runner.model), indent=1))

    def after_train_iter(self, runner, batch_idx: int, data_batch: dict | None = None,
                         outputs: dict | None = None) -> None:
        history = runner.message_hub.log_scalars.get('train/images_seen')
        seen = 0 if history is None else int(history.current())
        runner.message_hub.update_scalar('train/images_seen',
                                         seen + len(data_batch['inputs']) * get_world_size())

    def after_train(self, runner) -> None:
        if not (self.plots and is_main_process()):
            return
        from patchgen.run_plots import write_plots
        try:
            paths = write_plots(Path(runner.work_dir))
        except PatchgenError as error:
            runner.logger.warning(f'No plots of the run: {error}')
            return
        runner.logger.info(f'Plots of the run: {", ".join(str(path) for path in paths)}')
