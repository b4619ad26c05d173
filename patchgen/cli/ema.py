"""``patchgen ema``: post-hoc EMA (EDM2), an EMA of any length chosen after training."""
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from patchgen.cli.errors import writable
from patchgen.cli.evaluate import Device, Download, Features, Weights, progress_bars
from patchgen.cli.sample import Seed, Steps
from patchgen.cli.train import TrustCheckpoint
from patchgen.errors import PatchgenError
from patchgen.progress import progress

ema_app = typer.Typer(help='Post-hoc EMA: averages of any length from the snapshots of '
                           'PostHocEMAHook.', no_args_is_help=True)

WorkDir = Annotated[Path, typer.Argument(help='Work dir of a run trained with PostHocEMAHook.')]
SigmaRel = Annotated[float, typer.Option(
    min=0, max=0.2887,
    help='EMA length as the profile\'s standard deviation relative to the training time '
         '(EDM2: 0.05 to 0.15 is typical; at most 0.2887, the uniform average).')]
Out = Annotated[Path, typer.Option(dir_okay=False, callback=writable,
                                   help='The checkpoint to write (for `patchgen sample`).')]


@ema_app.command()
def reconstruct(work_dir: WorkDir, sigma_rel: SigmaRel, out: Out,
                trust_checkpoint: TrustCheckpoint = False) -> None:
    """Write a checkpoint whose weights are the EMA with SIGMA_REL at the last snapshot."""
    from patchgen.checkpoint_file import save_checkpoint_file
    from patchgen.engine.posthoc_ema import reconstruct_checkpoint
    with progress() as shown:
        task = shown.add_task('averaging snapshots', total=None)
        checkpoint = reconstruct_checkpoint(
            work_dir, sigma_rel, trust_checkpoint,
            lambda done, total: shown.update(task, completed=done, total=total))
    save_checkpoint_file(checkpoint, out)
    record = checkpoint['meta']['posthoc_ema']
    typer.echo(f'EMA sigma_rel {sigma_rel} at step {record["step"]} from {record["snapshots"]} '
               f'snapshots (profile fit error {record["fit_error"]:.2%}) -> {out}')


SigmaRels = Annotated[str, typer.Option(
    help='Comma-separated EMA lengths to try, each in (0, 0.2887].')]
Metric = Annotated[str, typer.Option(
    help='fid (fd_NAME with --features CLASSIFIER.pth) or kid, lowest best; is, highest best.')]
SweepReference = Annotated[str | None, typer.Option(
    help='Real images or a statistics .npz from `patchgen ref` with the same --features '
         '(fid and kid need one).')]
NumSamples = Annotated[int, typer.Option(min=1, max=10**9, help='Images sampled per sigma_rel '
                                                               '(the same seeds for each).')]
SweepBatch = Annotated[int, typer.Option(min=1, max=10**6,
                                         help='Images per sampler call and feature batch.')]
SweepOut = Annotated[Path | None, typer.Option(
    '--out', file_okay=False, callback=writable,
    help='Folder for sweep.json and sweep.png (default: WORK_DIR/ema_sweep).')]


def parse_sigma_rels(text: str) -> list[float]:
    """The sigma_rel values of a comma-separated list."""
    try:
        return [float(value) for value in text.split(',') if value.strip()]
    except ValueError:
        raise PatchgenError(f'--sigma-rels takes comma-separated numbers, got {text!r}') from None


@ema_app.command()
def sweep(work_dir: WorkDir, metric: Metric = 'fid', reference: SweepReference = None,
          sigma_rels: SigmaRels = '0.025,0.05,0.075,0.1,0.125,0.15,0.2,0.25',
          num_samples: NumSamples = 1000, steps: Steps = None, batch: SweepBatch = 64,
          seed: Seed = 0, features: Features = 'inception', weights: Weights = None,
          download: Download = False, device: Device = None, out: SweepOut = None,
          trust_checkpoint: TrustCheckpoint = False) -> None:
    """Score the EMA of each --sigma-rels length with a metric; write a JSON, a plot, the best.

    Each length is reconstructed as `patchgen ema reconstruct` does, samples --num-samples
    images as `patchgen sample` (the same seeds for each) and is scored as `patchgen eval`.
    """
    lengths = parse_sigma_rels(sigma_rels)
    from patchgen.ema_sweep import plot_sweep, sweep_posthoc_ema
    from patchgen.files import write_text_atomic
    with progress_bars(0) as shown:
        result = sweep_posthoc_ema(work_dir, lengths, metric, reference,
                                   num_samples, steps, batch, seed, features, weights,
                                   download, device, trust_checkpoint, shown)
    out = out or work_dir / 'ema_sweep'
    best = result.best
    record = dict(work_dir=str(work_dir), metric=result.metric,
                  lower_is_better=result.lower_is_better, reference=reference,
                  features=features, num_samples=num_samples, steps=steps, seed=seed,
                  best=best, rows=result.rows)
    write_text_atomic(out / 'sweep.json', json.dumps(record, indent=1) + '\n')
    plot_sweep(result, out / 'sweep.png')
    table = Table(show_header=True)
    for column in ('sigma_rel', result.metric, 'profile fit error'):
        table.add_column(column, justify='right')
    for row in result.rows:
        mark = ' *' if row is best else ''
        table.add_row(f'{row["sigma_rel"]:g}{mark}', f'{row[result.metric]:.6g}',
                      f'{row["fit_error"]:.2%}')
    console = Console(soft_wrap=True, highlight=False)
    console.print(table)
    console.print(f'best (*): sigma_rel {best["sigma_rel"]:g}, {result.metric} '
                  f'{best[result.metric]:.6g}; wrote {out / "sweep.json"} and {out / "sweep.png"}; '
                  f'`patchgen ema reconstruct {work_dir} --sigma-rel {best["sigma_rel"]:g} '
                  f'--out ema.pth` writes its checkpoint', markup=False)
