"""Progress of long work: a rich bar on a terminal, plain lines elsewhere, a bar over training."""
import io
import logging
import re
import sys
from types import SimpleNamespace

from rich.console import Console
from rich.progress import Progress

from patchgen.engine.progress_hook import TrainProgressHook
from patchgen.progress import LineProgress, progress


def console(terminal: bool) -> Console:
    return Console(file=io.StringIO(), force_terminal=terminal, width=100)


def test_off_a_terminal_a_line_reports_each_tenth_with_rate_and_eta() -> None:
    shown = progress(console(terminal=False))
    assert isinstance(shown, LineProgress)
    with shown:
        task = shown.add_task('sampling', total=50)
        for _ in range(50):
            shown.advance(task)
    lines = shown.console.file.getvalue().splitlines()
    assert [re.match(r'sampling: (\d+)/50 \((\d+)%\)', line).groups() for line in lines] == \
        [(str(5 * k), str(10 * k)) for k in range(1, 11)]
    assert all(re.search(r', [\d.e+]+/s, ETA \d+:\d\d:\d\d$', line) for line in lines), lines


def test_a_task_without_a_total_prints_once_its_total_is_known() -> None:
    with progress(console(terminal=False)) as shown:
        task = shown.add_task('training the classifier', total=None)
        shown.update(task, completed=3)
        assert shown.console.file.getvalue() == ''
        shown.update(task, completed=4, total=4, description='training the classifier (loss 1)')
    assert shown.console.file.getvalue().startswith('training the classifier (loss 1): 4/4 (100%)')


def test_on_a_terminal_a_rich_bar_with_count_rate_and_eta() -> None:
    shown = progress(console(terminal=True))
    assert type(shown) is Progress and not shown.disable
    with shown:
        task = shown.add_task('features of images', total=8)
        shown.advance(task, 8)
        shown.refresh()
        text = shown.console.file.getvalue()
    assert 'features of images' in text and '8/8' in text and '/s' in text


def test_disabled_progress_shows_nothing() -> None:
    with progress(console(terminal=True), disable=True) as shown:
        shown.advance(shown.add_task('sampling', total=2), 2)
    assert shown.console.file.getvalue() == ''


def fake_runner(max_iters: int, logger: logging.Logger) -> SimpleNamespace:
    return SimpleNamespace(max_iters=max_iters, iter=2, logger=logger)


def test_training_bar_counts_steps_and_prints_log_lines_above_it() -> None:
    logger = logging.getLogger('test_progress_hook')
    handler = logging.StreamHandler(sys.__stdout__)
    logger.addHandler(handler)
    try:
        hook = TrainProgressHook(console(terminal=True))
        runner = fake_runner(6, logger)  # resumed at step 2
        hook.before_train(runner)
        assert handler.stream is not sys.__stdout__  # routed through the live display
        for step in range(2, 6):
            runner.iter = step
            hook.after_train_iter(runner, step)
        logger.warning('Iter(train) [6/6] loss: 0.1')
        task = hook.bar.tasks[0]
        assert (task.completed, task.total, task.description) == (6, 6, 'training')
        hook.restore()
        assert handler.stream is sys.__stdout__ and hook.bar is None
        assert 'Iter(train) [6/6] loss: 0.1' in hook.console.file.getvalue()
    finally:
        logger.removeHandler(handler)


def test_training_off_a_terminal_leaves_the_log_lines_alone() -> None:
    hook = TrainProgressHook(console(terminal=False))
    hook.before_train(fake_runner(4, logging.getLogger('test_progress_hook')))
    hook.after_train_iter(fake_runner(4, None), 0)
    hook.restore()
    assert hook.bar is None and hook.console.file.getvalue() == ''
