"""Progress of long work: a rich bar with rate and ETA on a terminal, plain lines elsewhere.

Every long command shows its progress through :func:`progress`, which returns a
rich ``Progress`` (``add_task``, ``advance``, ``update``, used as a context
manager): on a terminal it draws bars; in a log file or a pipe it prints one
line each time a task passes another tenth of its total.
"""
import datetime

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second, over the last half minute."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text('?/s' if speed is None else f'{speed:.3g}/s', style='progress.data.speed')


def elapsed_text(seconds: float) -> str:
    """Seconds as H:MM:SS, as rich shows times."""
    return str(datetime.timedelta(seconds=round(seconds)))


def progress_line(task: Task) -> str:
    """``description: done/total (pct%), rate/s, ETA H:MM:SS`` of a task with a known total."""
    elapsed = task.elapsed or 0.0
    rate = task.completed / elapsed if elapsed > 0 else None
    if rate:
        timing = f'{rate:.3g}/s, ETA {elapsed_text((task.total - task.completed) / rate)}'
    else:
        timing = 'rate unknown'
    return (f'{task.description}: {task.completed:g}/{task.total:g} '
            f'({task.percentage:.0f}%), {timing}')


class LineProgress(Progress):
    """rich's Progress without a live display: a plain line each time a task passes another
    ``step`` of its total (tasks with no total yet print nothing)."""

    def __init__(self, console: Console, step: float = 0.1) -> None:
        super().__init__(console=console, disable=True)
        self.step = step
        self.reported: dict[TaskID, int] = {}

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self.report(task_id)

    def update(self, task_id: TaskID, **changes) -> None:
        super().update(task_id, **changes)
        self.report(task_id)

    def report(self, task_id: TaskID) -> None:
        """Print the task's line when it has passed a step it had not reported yet."""
        task = next(task for task in self.tasks if task.id == task_id)
        if not task.total:
            return
        steps = int(min(task.completed / task.total, 1.0) / self.step + 1e-9)
        if steps > self.reported.get(task_id, 0):
            self.reported[task_id] = steps
            self.console.print(progress_line(task), markup=False, highlight=False,
                               soft_wrap=True)


def progress(console: Console | None = None, disable: bool = False) -> Progress:
    """The progress display of a long command (a context manager).

    Args:
        console: Where it shows; standard error by default.
        disable: Show nothing (e.g. on ranks other than 0).

    Returns:
        rich's Progress with bar, count, rate and ETA columns when ``console``
        is a terminal (the bars vanish when done), else a :class:`LineProgress`.
    """
    console = console or Console(stderr=True)
    if disable:
        return Progress(console=console, disable=True)
    if console.is_terminal:
        return Progress(TextColumn('{task.description}'), BarColumn(), MofNCompleteColumn(),
                        RateColumn(), TimeRemainingColumn(), console=console, transient=True)
    return LineProgress(console)

