"""``patchgen plot`` and ``patchgen report``: a training run as PNG plots or as one HTML page."""
from pathlib import Path
from typing import Annotated

import typer

from patchgen.cli.errors import writable

WorkDir = Annotated[Path, typer.Argument(help='The work dir that training wrote.')]


def plot(work_dir: WorkDir,
         out: Annotated[Path | None, typer.Option(
             file_okay=False, callback=writable,
             help='Folder for the PNG files (default: WORK_DIR/plots).')] = None) -> None:
    """Plot a run: loss, gradient norm and learning rate, metrics against images seen, and a
    strip of sample grids over time; prints the files written."""
    from patchgen.run_plots import write_plots  # imported here: numpy and PIL slow start-up
    for path in write_plots(work_dir, out):
        typer.echo(path)


def report(work_dir: WorkDir,
           out: Annotated[Path | None, typer.Option(
               dir_okay=False, callback=writable,
               help='The HTML file (default: WORK_DIR/report.html).')] = None) -> None:
    """Write one self-contained HTML page about a run (summary, final metrics, curves, sample
    grids over time, config, environment); prints its path."""
    from patchgen.report import write_report  # imported here: numpy and PIL slow start-up
    typer.echo(write_report(work_dir, out))
