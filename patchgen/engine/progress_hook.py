"""A progress bar over the training steps on a terminal; mmengine's logger keeps its lines."""
import logging
import sys

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from rich.console import Console
from rich.progress import Progress, TaskID

from patchgen.progress import progress
from patchgen.registry import HOOKS


@HOOKS.register_module()
class TrainProgressHook(Hook):
    """Shows a bar with rate and ETA over ``max_iters`` while training on a terminal.

    Off a terminal (logs, pipes, other ranks) it shows nothing: the logger's
    lines already report each interval. While the bar shows, the logger's
    console lines are printed above it instead of through it.
    """

    priority = 'VERY_LOW'

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        self.streams: list[tuple[logging.StreamHandler, object]] = []

    def before_train(self, runner) -> None:
        if not (is_main_process() and self.console.is_terminal):
            return
        self.bar = progress(self.console)
        self.bar.start()  # from here on sys.stdout and sys.stderr print above the bar
        self.task = self.bar.add_task('training', total=runner.max_iters, completed=runner.iter)
        for handler in runner.logger.handlers:
            if type(handler) is logging.StreamHandler:
                self.streams.append((handler, handler.setStream(sys.stdout)))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=runner.iter + 1)

    def restore(self) -> None:
        """Stop the bar and give the logger its streams back (also when training failed)."""
        for handler, stream in self.streams:
            if stream is not None:
                handler.setStream(stream)
        self.streams = []
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
