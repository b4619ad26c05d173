"""The ``patchgen`` command line: every subcommand, and one-line errors for bad input."""
import sys

import typer
from rich.console import Console
from rich.markup import escape

from patchgen.cli.autoencoder import autoencoder_app
from patchgen.cli.configs import config_app
from patchgen.cli.data import data_app
from patchgen.cli.doctor import doctor
from patchgen.cli.ema import ema_app
from patchgen.cli.errors import user_error_message
from patchgen.cli.evaluate import evaluate, fid, inception_score, ref
from patchgen.cli.features import features_app
from patchgen.cli.info import info
from patchgen.cli.outpaint import outpaint
from patchgen.cli.plot import plot, report
from patchgen.cli.registries import list_registries
from patchgen.cli.sample import sample
from patchgen.cli.train import quickstart, train

app = typer.Typer(help='Patch Diffusion training, sampling and data tools. Add --debug to any '
                       'command to see full tracebacks.',
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.command(context_settings=dict(allow_extra_args=True, ignore_unknown_options=False))(train)
app.command(context_settings=dict(allow_extra_args=True, ignore_unknown_options=False))(
    quickstart)
app.command()(sample)
app.command()(outpaint)
app.command('list')(list_registries)
app.command()(ref)
app.command()(fid)
app.command('is')(inception_score)
app.command('eval')(evaluate)
app.add_typer(features_app, name='features')
app.add_typer(config_app, name='config')
app.add_typer(ema_app, name='ema')
app.add_typer(data_app, name='data')
app.add_typer(autoencoder_app, name='autoencoder')
app.command()(info)
app.command()(doctor)
app.command()(plot)
app.command()(report)


def main() -> None:
    """Run the CLI; bad input ends with a one-line error and exit status 2."""
    debug = '--debug' in sys.argv
    if debug:
        sys.argv.remove('--debug')
    try:
        status = app(standalone_mode=False)  # usage errors come here too, to be one line
    except Exception as error:  # noqa: BLE001 (bugs are re-raised below)
        message = user_error_message(error)
        if message is None or debug:
            raise
        if message:  # empty: typer has shown the help of a command given no arguments
            Console(stderr=True).print(f'[bold red]error:[/] {escape(message)}',
                                       highlight=False, soft_wrap=True)
        sys.exit(2)
    sys.exit(status if isinstance(status, int) else 0)  # typer.Exit's code, e.g. 0 after --help
