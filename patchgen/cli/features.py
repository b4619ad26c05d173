"""``patchgen features train``: a dataset-native feature classifier for FD/KID/IS analogues."""
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from patchgen.cli.errors import writable
from patchgen.progress import progress

features_app = typer.Typer(help='Feature networks for evaluation.', no_args_is_help=True)


@features_app.command('train')
def train(config: Annotated[Path, typer.Argument(help='Classifier config, e.g. '
                                                      'configs/features/fmnist_classifier.py.')],
          out: Annotated[Path, typer.Option('--out', dir_okay=False, callback=writable,
                                            help='The checkpoint to write.')]) -> None:
    """Train a classifier on a labelled dataset; its features give fd_NAME, kid_NAME, is_NAME."""
    from patchgen.config import load_config
    from patchgen.evaluation.classifier_training import train_classifier
    load_config(config)  # a missing or broken config fails here, in one line
    with progress() as shown:
        task = shown.add_task('training the classifier', total=None)

        def report(step: int, total: int, loss: float) -> None:
            shown.update(task, completed=step, total=total,
                         description=f'training the classifier (loss {loss:.3f})')

        meta = train_classifier(config, out, report)
    Console(soft_wrap=True, highlight=False).print(
        f"wrote {out}: test accuracy {meta['test_accuracy']:.4f}; use it with "
        f"--features {out} (metrics fd{meta['metric_suffix']}, kid{meta['metric_suffix']}, "
        f"is{meta['metric_suffix']})")
