"""One self-contained HTML page about a training run: summary, final metrics, curves, sample
grids over time, environment and config, images inlined as base64 data URIs."""
import base64
import platform
from datetime import datetime
from html import escape
from pathlib import Path

import numpy as np

from patchgen import __version__
from patchgen.files import write_text_atomic
from patchgen.run_log import RunLog, read_run_log
from patchgen.run_plots import make_plots, spread

REPORT_GRIDS = 8  # sample grids shown, first and last included
# The plots of patchgen.run_plots that the report shows, with their captions.
CAPTIONS = dict(loss='Training loss', optimizer='Gradient norm, learning rate, skipped steps',
                metrics='Metrics during training')
STYLE = '''
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #1b1b1b; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; } td, th { padding: 0.25em 1em 0.25em 0; text-align: left; }
td.value { font-variant-numeric: tabular-nums; }
img { max-width: 100%; } figure { display: inline-block; margin: 0 1em 1em 0; }
img.grid { width: 256px; image-rendering: pixelated; }  /* small grids drawn larger */
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.85em; }
'''


def data_uri(png: bytes) -> str:
    """A PNG file as a ``data:`` URI."""
    return 'data:image/png;base64,' + base64.b64encode(png).decode('ascii')


def figure(png: bytes, caption: str, css_class: str = '') -> str:
    """An inlined PNG with its caption."""
    return (f'<figure><img class="{css_class}" src="{data_uri(png)}" alt="{escape(caption)}">'
            f'<figcaption>{escape(caption)}</figcaption></figure>')


def table(rows: list[tuple[str, ...]], header: tuple[str, ...] = ()) -> str:
    """An HTML table of text cells (escaped); cells after the first are values."""
    head = ''.join(f'<th>{escape(cell)}</th>' for cell in header)
    body = ''.join('<tr><th>' + escape(row[0]) + '</th>'
                   + ''.join(f'<td class="value">{escape(cell)}</td>' for cell in row[1:])
                   + '</tr>' for row in rows)
    return f'<table>{f"<tr>{head}</tr>" if head else ""}{body}</table>'


def images_at(log: RunLog, step: int) -> str:
    """Images seen by the end of ``step``, as text ('' where not logged)."""
    seen = log.images_seen(np.array([step]))
    return '' if seen is None else f'{int(seen[0]):,}'


def summary_rows(log: RunLog) -> list[tuple[str, str]]:
    """Steps, images seen, last loss, learning rate and skipped steps, and the runs logged."""
    rows = []
    if log.train:
        step = log.train[-1]['step']
        rows.append(('last step logged', f'{step:,}'))
        if seen := images_at(log, step):
            rows.append(('images seen', seen))
    for key, label in (('loss', 'last loss'), ('lr', 'learning rate'),
                       ('skipped_steps', 'skipped steps')):
        if (last := log.last(key)) is not None:
            rows.append((label, f'{last[1]:.6g} (step {last[0]:,})'))
    rows.append(('runs', f'{log.runs} (the first start and each resume)'))
    return rows


def metric_rows(log: RunLog) -> list[tuple[str, str, str, str]]:
    """Each metric's last value, with its step and images seen."""
    rows = []
    for name in log.metric_names():
        step, value = log.last(name)
        rows.append((name, f'{value:.6g}', f'{step:,}', images_at(log, step)))
    return rows


def grid_figures(log: RunLog) -> str:
    """The sample grids over time, each inlined with its step."""
    figures = []
    for step, path in spread(log.grids, REPORT_GRIDS):
        seen = images_at(log, step)
        figures.append(figure(path.read_bytes(), f'step {step:,}' + (seen and f', {seen} images'),
                              'grid'))
    return ''.join(figures)


def report_html(log: RunLog, plots: dict[str, bytes]) -> str:
    """The report page of ``log`` with its ``plots`` of :data:`CAPTIONS`, by name (see
    :func:`patchgen.run_plots.make_plots`)."""
    title = f'Training run {log.folder.resolve().name}'
    sections = [('Summary', table(summary_rows(log)))]
    if metrics := metric_rows(log):
        sections.append(('Final metrics', table(metrics, ('metric', 'value', 'step',
                                                          'images seen'))))
    sections.append(('Curves', ''.join(figure(png, CAPTIONS[name]) for name, png in plots.items())))
    if log.grids:
        sections.append(('Sample grids over time', grid_figures(log)))
    environment = [(key.replace('_', ' '), str(value)) for key, value in log.environment.items()]
    sections.append(('Environment of training',
                     table(environment) if environment else '<p>not recorded</p>'))
    sections.append(('Config', f'<pre>{escape(log.config or "not recorded")}</pre>'))
    body = ''.join(f'<section><h2>{name}</h2>{html}</section>' for name, html in sections)
    made = (f'Made by patchgen {__version__} (Python {platform.python_version()}) on '
            f'{datetime.now():%Y-%m-%d %H:%M} from {log.folder.resolve()}')
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<title>{escape(title)}</title><style>{STYLE}</style></head><body>'
            f'<h1>{escape(title)}</h1>{body}<footer><p>{escape(made)}</p></footer></body></html>')


def write_report(folder: Path, out: Path | None = None) -> Path:
    """Write the report of the run in work dir ``folder`` to ``out`` (by default
    ``folder/report.html``); returns its path.

    Raises:
        PatchgenError: ``folder`` is not a work dir, matplotlib is missing, or ``out`` cannot
            be written.
    """
    log = read_run_log(folder)
    out = folder / 'report.html' if out is None else out
    plots = make_plots(log, CAPTIONS)  # the curves; the grids get a section, not the strip
    write_text_atomic(out, report_html(log, plots))
    return out
