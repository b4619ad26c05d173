"""``patchgen ema``: post-hoc EMA (EDM2), an EMA of any length chosen after training."""
from pathlib import Path
from typing import Annotated

import typer

from patchgen.cli.train import TrustCheckpoint

ema_app = typer.Typer(help='Post-hoc EMA: averages of any length from the snapshots of '
                           'PostHocEMAHook.', no_args_is_help=True)

WorkDir = Annotated[Path, typer.Argument(help='Work dir of a run trained with PostHocEMAHook.')]
SigmaRel = Annotated[float, typer.Option(
    help='EMA length as the profile\'s standard deviation relative to the training time '
         '(EDM2: 0.05 to 0.15 is typical; at most 0.2887, the uniform average).')]
Out = Annotated[Path, typer.Option(help='The checkpoint to write (for `patchgen sample`).')]


@ema_app.command()
def reconstruct(work_dir: WorkDir, sigma_rel: SigmaRel, out: Out,
                trust_checkpoint: TrustCheckpoint = False) -> None:
    """Write a checkpoint whose weights are the EMA with SIGMA_REL at the last snapshot."""
    from patchgen.checkpoint_file import save_checkpoint_file
    from patchgen.engine.posthoc_ema import reconstruct_checkpoint
    checkpoint = reconstruct_checkpoint(work_dir, sigma_rel, trust_checkpoint)
    save_checkpoint_file(checkpoint, out)
    record = checkpoint['meta']['posthoc_ema']
    typer.echo(f'EMA sigma_rel {sigma_rel} at step {record["step"]} from {record["snapshots"]} '
               f'snapshots (profile fit error {record["fit_error"]:.2%}) -> {out}')
