"""``patchgen config print``: a config as training runs it, bases merged and overrides applied."""
import sys
from contextlib import redirect_stdout

import typer

from patchgen.cli.evaluate import Json
from patchgen.cli.output import print_json
from patchgen.cli.train import CfgOptions, ConfigPath, collect_options

config_app = typer.Typer(help='Look at configs.', no_args_is_help=True)


@config_app.command('print', context_settings=dict(allow_extra_args=True,
                                                   ignore_unknown_options=False))
def print_config(ctx: typer.Context, config: ConfigPath, cfg_options: CfgOptions = None,
                 as_json: Json = False) -> None:
    """Print the merged config as Python text: what `patchgen train` would run."""
    from patchgen.config import load_config, parse_cfg_options, resolve_config, training_config
    options = parse_cfg_options(collect_options(ctx, cfg_options))
    with redirect_stdout(sys.stderr):  # mmengine logs warnings to stdout, which is the config's
        cfg = training_config(load_config(config, options))
    file = str(resolve_config(config))
    typer.echo(f'# {file}\n{cfg.pretty_text}')
    if as_json:
        print_json(dict(file=file, config=cfg.to_dict()))
