"""PNG plots of a training run from its work dir: the loss, the optimizer's scalars, metrics
against images seen, and a strip of sample grids over time."""
import importlib.util
import io
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from patchgen.errors import PatchgenError
from patchgen.files import atomic_write
from patchgen.run_log import RunLog, read_run_log

if TYPE_CHECKING:  # matplotlib is imported where plots are drawn: it is optional, and slow
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

STRIP_GRIDS = 6  # sample grids in the strip, first and last included
COLOR = '#1f5fa8'
LABELS = dict(grad_norm='gradient norm', lr='learning rate', skipped_steps='skipped steps')


def smooth(values: np.ndarray) -> np.ndarray:
    """Exponential moving average over about a 25th of the points, debiased at the start."""
    weight = 1 - 1 / max(1.0, len(values) / 25)
    average, norm, smoothed = 0.0, 0.0, np.empty(len(values))
    for index, value in enumerate(values):
        average = weight * average + (1 - weight) * value
        norm = weight * norm + (1 - weight)
        smoothed[index] = average / norm
    return smoothed


def spread(items: list, count: int) -> list:
    """Up to ``count`` of ``items``, evenly spaced, the first and the last included."""
    if len(items) <= count:
        return list(items)
    return [items[round(index)] for index in np.linspace(0, len(items) - 1, count)]


def x_axis(log: RunLog, steps: np.ndarray) -> tuple[np.ndarray, str]:
    """The x values of ``steps``: images seen where the logs record them, else steps."""
    seen = log.images_seen(steps)
    return (steps, 'step') if seen is None else (seen, 'images seen')


def curve(ax: 'Axes', log: RunLog, key: str, label: str) -> None:
    """Training scalar ``key`` on ``ax``: logged values faint, smoothed values strong."""
    from matplotlib.ticker import EngFormatter
    steps, values = log.series(key)
    x, x_label = x_axis(log, steps)
    finite = np.isfinite(values)
    ax.plot(x, values, color=COLOR, alpha=0.3, linewidth=1, label='logged')
    ax.plot(x[finite], smooth(values[finite]), color=COLOR, linewidth=2, label='smoothed')
    low, high = (values[finite].min(), values[finite].max()) if finite.any() else (0, 0)
    if low > 0 and high > 10 * low:  # spans orders of magnitude
        ax.set_yscale('log')
    ax.set(xlabel=x_label, ylabel=label)
    ax.xaxis.set_major_formatter(EngFormatter())
    ax.grid(alpha=0.3)


def loss_figure(log: RunLog) -> 'Figure | None':
    """The training loss, logged and smoothed (None where nothing was logged)."""
    from matplotlib.figure import Figure
    if not len(log.series('loss')[0]):
        return None
    figure = Figure(figsize=(8, 4.5), layout='constrained')
    ax = figure.subplots()
    curve(ax, log, 'loss', 'loss')
    ax.set_title(f'Training loss: {log.folder.name}')
    ax.legend()
    return figure


def optimizer_figure(log: RunLog) -> 'Figure | None':
    """Gradient norm (logged and smoothed), learning rate and skipped steps, one above another
    (those logged; None where none was)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    keys = [key for key in LABELS if len(log.series(key)[0])]
    if not keys:
        return None
    figure = Figure(figsize=(8, 2.4 * len(keys)), layout='constrained')
    axes = np.atleast_1d(figure.subplots(len(keys), 1, sharex=True))
    for ax, key in zip(axes, keys):
        if key == 'grad_norm':
            curve(ax, log, key, LABELS[key])
            continue
        steps, values = log.series(key)
        x, x_label = x_axis(log, steps)
        ax.plot(x, values, color=COLOR, linewidth=1.5)
        ax.set(xlabel=x_label, ylabel=LABELS[key])
        ax.grid(alpha=0.3)
        if key == 'skipped_steps':  # a count: from zero, whole numbers
            ax.set_ylim(0, max(1, values.max()) * 1.05)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes[:-1]:
        ax.set_xlabel('')  # the shared x axis is labelled once, at the bottom
    figure.suptitle(f'Optimizer: {log.folder.name}')
    return figure


def metrics_figure(log: RunLog) -> 'Figure | None':
    """Each metric evaluated during training against images seen (or steps), its last value
    noted (None where no metric was evaluated)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter
    names = log.metric_names()
    if not names:
        return None
    columns = min(3, len(names))
    rows = -(-len(names) // columns)
    figure = Figure(figsize=(4 * columns, 3.2 * rows), layout='constrained')
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        records = [record for record in log.evaluations if name in record]
        x, x_label = x_axis(log, np.array([record['step'] for record in records]))
        values = [record[name] for record in records]
        ax.plot(x, values, 'o-', color=COLOR)
        ax.annotate(f'{values[-1]:.4g}', (x[-1], values[-1]), textcoords='offset points',
                    xytext=(0, 8), ha='center')
        ax.set(title=name, xlabel=x_label)
        ax.xaxis.set_major_formatter(EngFormatter())
        ax.grid(alpha=0.3)
    for ax in axes[len(names):]:
        ax.set_axis_off()
    figure.suptitle(f'Metrics: {log.folder.name}')
    return figure


def grids_figure(log: RunLog) -> 'Figure | None':
    """A strip of sample grids over time (same seeds, so the same images as they improve);
    None where training wrote no grid."""
    from matplotlib.figure import Figure
    if not log.grids:
        return None
    chosen = spread(log.grids, STRIP_GRIDS)
    seen = log.images_seen(np.array([step for step, _ in chosen]))
    figure = Figure(figsize=(2.6 * len(chosen), 3.1), layout='constrained')
    for index, (ax, (step, path)) in enumerate(zip(np.atleast_1d(figure.subplots(1, len(chosen))),
                                                   chosen)):
        with Image.open(path) as image:
            pixels = np.asarray(image)
        ax.imshow(pixels, cmap='gray', vmin=0, vmax=255, interpolation='nearest')
        ax.set_axis_off()
        ax.set_title(f'step {step:,}' + ('' if seen is None else f'\n{int(seen[index]):,} images'),
                     fontsize=10)
    figure.suptitle(f'Sample grids over time: {log.folder.name}')
    return figure


FIGURES = dict(loss=loss_figure, optimizer=optimizer_figure, metrics=metrics_figure,
               grids=grids_figure)  # name -> the function that draws it


def make_plots(log: RunLog, names: Iterable[str] = tuple(FIGURES)) -> dict[str, bytes]:
    """The PNG files of the plots ``names`` (of :data:`FIGURES`; all by default) that ``log``
    has data for, by name.

    Raises:
        PatchgenError: matplotlib is not installed.
    """
    if importlib.util.find_spec('matplotlib') is None:
        raise PatchgenError("plots need matplotlib: pip install 'patchgen[plots]'")
    plots = {}
    for name in names:
        figure = FIGURES[name](log)
        if figure is not None:
            buffer = io.BytesIO()
            figure.savefig(buffer, format='png', dpi=100)
            plots[name] = buffer.getvalue()
    return plots


def write_plots(folder: Path, out: Path | None = None) -> list[Path]:
    """Write the plots of the run in work dir ``folder`` as PNG files to ``out`` (by default
    ``folder/plots``); returns their paths.

    Raises:
        PatchgenError: ``folder`` is not a work dir, matplotlib is missing, or ``out`` cannot
            be written.
    """
    plots = make_plots(read_run_log(folder))
    if not plots:
        raise PatchgenError(f'{folder} has nothing to plot yet: its logs hold no training step')
    out = folder / 'plots' if out is None else out
    paths = [out / f'{name}.png' for name in plots]
    for path, png in zip(paths, plots.values()):
        with atomic_write(path) as file:
            file.write(png)
    return paths
