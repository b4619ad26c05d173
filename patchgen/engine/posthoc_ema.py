"""Post-hoc EMA (EDM2): power-function averages tracked in training, snapshots, reconstruction.

The math lives in :mod:`patchgen.ema_reconstruction`; this module holds the
training hook, the snapshot files and the reconstruction of a checkpoint from them.
"""
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from torch import Tensor, nn

from patchgen import __version__
from patchgen.checkpoint_file import load_checkpoint_file, save_checkpoint_file
from patchgen.ema_reconstruction import power_beta, sigma_rel_to_gamma, solve_coefficients
from patchgen.errors import PatchgenError
from patchgen.registry import HOOKS

from .checkpoint import resume_candidates
from .fsdp import is_sharded
from .wrappers import unwrap_model

SNAPSHOT_DIR = 'posthoc_ema'  # inside the work dir
SNAPSHOT_NAME = re.compile(r'phema-(\d+)-(\d+(?:\.\d+)?(?:e[+-]\d+)?)\.pth')  # step, sigma_rel
STATE_KEY = 'posthoc_ema_state'  # the hook's state in training checkpoints


def snapshot_path(work_dir: str | Path, step: int, sigma_rel: float) -> Path:
    """Where the snapshot of profile ``sigma_rel`` after ``step`` goes (repr: exact float)."""
    return Path(work_dir) / SNAPSHOT_DIR / f'phema-{step:09d}-{sigma_rel!r}.pth'


def find_snapshots(work_dir: str | Path) -> list[tuple[int, float, Path]]:
    """(step, sigma_rel, path) of every snapshot in ``work_dir``, by step then sigma_rel."""
    found = ((SNAPSHOT_NAME.fullmatch(path.name), path)
             for path in (Path(work_dir) / SNAPSHOT_DIR).glob('phema-*.pth'))
    return sorted((int(match.group(1)), float(match.group(2)), path)
                  for match, path in found if match)


def require_snapshots(work_dir: Path) -> list[tuple[int, float, Path]]:
    """The snapshots of :func:`find_snapshots`; a PatchgenError when there is none."""
    snapshots = find_snapshots(work_dir)
    if not snapshots:
        raise PatchgenError(f'no post-hoc EMA snapshots in {work_dir / SNAPSHOT_DIR}: train with '
                            f"dict(type='PostHocEMAHook', snapshot_interval=K) in custom_hooks")
    return snapshots


def named_parameters(model: nn.Module) -> dict[str, Tensor]:
    """The model's parameters under their state_dict keys (tied ones under each key)."""
    return dict(model.named_parameters(remove_duplicate=False))


@HOOKS.register_module()
class PostHocEMAHook(Hook):
    """Power-function EMAs of the weights, with snapshots for any EMA length after training.

    Keeps one average per ``sigma_rels`` entry, updated after optimizer step
    ``t`` (from 1) with ``beta_t = (1 - 1/t) ** (gamma + 1)``. Every
    ``snapshot_interval`` steps rank 0 writes each average to
    ``WORK_DIR/posthoc_ema/phema-STEP-SIGMA.pth`` (``meta``; ``state_dict``: the
    averaged parameters; ``buffers``: the model's other state); ``patchgen ema
    reconstruct`` combines them. Training checkpoints hold the averages under
    ``posthoc_ema_state``, so a resumed run continues them; snapshots newer than
    the step training starts from (another run's, or ones this run writes again) are
    deleted then. Costs two lerps over the weights per step and two weight copies in
    memory and in each checkpoint; not for FSDP-sharded models.

    Args:
        sigma_rels: Relative standard deviations of the tracked profiles (EDM2: 0.05, 0.10).
        snapshot_interval: Optimizer steps between snapshots.
    """

    def __init__(self, sigma_rels: Sequence[float] = (0.05, 0.10),
                 snapshot_interval: int = 1000) -> None:
        if snapshot_interval < 1 or not sigma_rels or len(set(sigma_rels)) < len(sigma_rels):
            raise PatchgenError(f'PostHocEMAHook needs distinct sigma_rels and '
                                f'snapshot_interval >= 1, got {tuple(sigma_rels)} and '
                                f'{snapshot_interval}')
        self.sigma_rels = [float(sigma_rel) for sigma_rel in sigma_rels]
        self.gammas = [sigma_rel_to_gamma(sigma_rel) for sigma_rel in self.sigma_rels]
        self.snapshot_interval = snapshot_interval
        self.step = 0  # optimizer steps averaged
        self.averages: list[dict[str, Tensor]] = []  # per profile: state_dict key -> average

    def before_train(self, runner) -> None:
        model = unwrap_model(runner.model)
        if is_sharded(model):
            raise PatchgenError('PostHocEMAHook cannot average FSDP-sharded weights: train '
                                'with DDP or without model_wrapper_cfg')
        if self.step != runner.iter:
            if runner.iter:
                raise PatchgenError(f'PostHocEMAHook: training resumes at step {runner.iter} '
                                    f'from a checkpoint without its averages; post-hoc EMA '
                                    f'profiles start at step 0, so train from the start')
            self.step, self.averages = 0, []  # weights loaded to fine-tune: profiles start anew
        params = named_parameters(model)
        if not self.averages:
            self.averages = [{key: param.detach().clone() for key, param in params.items()}
                             for _ in self.gammas]
        elif any(average.keys() != params.keys() for average in self.averages):
            raise PatchgenError('PostHocEMAHook: the averages in the checkpoint do not fit the '
                                'model\'s parameters')
        self.averages = [{key: value.to(params[key].device) for key, value in average.items()}
                         for average in self.averages]
        if is_main_process():
            stale = [path for step, _, path in find_snapshots(runner.work_dir) if step > self.step]
            for path in stale:
                path.unlink()
            if stale:
                runner.logger.warning(f'PostHocEMAHook: deleted {len(stale)} snapshots newer '
                                      f'than step {self.step}, where training starts')

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the weights after one more optimizer step into every average."""
        self.step += 1
        params = list(named_parameters(model).values())
        for gamma, average in zip(self.gammas, self.averages, strict=True):
            torch._foreach_lerp_(list(average.values()), params,
                                 1.0 - power_beta(gamma, self.step))

    def save_snapshots(self, work_dir: str | Path, model: nn.Module) -> None:
        """Write every average after the current step as a snapshot file."""
        buffers = {key: value for key, value in model.state_dict().items()
                   if key not in self.averages[0]}
        for sigma_rel, gamma, average in zip(self.sigma_rels, self.gammas, self.averages,
                                             strict=True):
            meta = dict(step=self.step, sigma_rel=sigma_rel, gamma=gamma,
                        patchgen_version=__version__)
            save_checkpoint_file(dict(meta=meta, state_dict=average, buffers=buffers),
                                 snapshot_path(work_dir, self.step, sigma_rel))

    def after_train_iter(self, runner, batch_idx: int, data_batch: dict | None = None,
                         outputs: dict | None = None) -> None:
        model = unwrap_model(runner.model)
        self.update(model)
        if self.step % self.snapshot_interval == 0 and is_main_process():
            self.save_snapshots(runner.work_dir, model)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[STATE_KEY] = dict(sigma_rels=list(self.sigma_rels), step=self.step,
                                     averages=[dict(average) for average in self.averages])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get(STATE_KEY)
        if state is None:
            return  # before_train refuses to resume such a checkpoint mid-run
        if list(state['sigma_rels']) != self.sigma_rels:
            raise PatchgenError(f'PostHocEMAHook tracks sigma_rels {tuple(self.sigma_rels)} but '
                                f'the checkpoint holds {tuple(state["sigma_rels"])}: keep the '
                                f'run\'s sigma_rels to resume it')
        self.step = int(state['step'])
        self.averages = [dict(average) for average in state['averages']]


def load_template(work_dir: Path, trusted: bool) -> dict:
    """The newest training checkpoint in ``work_dir`` that loads."""
    errors = []
    for path in resume_candidates(work_dir):
        try:
            return load_checkpoint_file(path, trusted=trusted)
        except PatchgenError as error:
            errors.append(str(error))
    raise PatchgenError(f'no training checkpoint in {work_dir} loads, and the reconstructed '
                        f'one copies its structure and config{": " + errors[0] if errors else ""}')


def reconstruct_checkpoint(work_dir: str | Path, sigma_rel: float, trusted: bool = False,
                           progress: Callable[[int, int], None] | None = None) -> dict:
    """A checkpoint whose ``state_dict`` is the EMA with ``sigma_rel`` at the last snapshot.

    Solves EDM2's least-squares fit of the target profile by the snapshots'
    profiles and sums the snapshots' parameters with those coefficients (in
    float64); buffers come from the last snapshot, everything else from the newest
    training checkpoint in ``work_dir``; ``meta['posthoc_ema']`` records the fit.
    ``progress(done, total)`` is called after each snapshot is read.
    """
    work_dir = Path(work_dir)
    gamma = sigma_rel_to_gamma(sigma_rel)
    snapshots = require_snapshots(work_dir)
    template = load_template(work_dir, trusted)
    steps, sigma_rels, paths = zip(*snapshots, strict=True)
    coefficients, fit_error = solve_coefficients(
        steps, [sigma_rel_to_gamma(s) for s in sigma_rels], max(steps), gamma)
    total: dict[str, Tensor] = {}  # key -> float64 sum
    for done, (coefficient, path) in enumerate(zip(coefficients, paths, strict=True), 1):
        snapshot = load_checkpoint_file(path, trusted=trusted)
        if total and snapshot['state_dict'].keys() != total.keys():
            raise PatchgenError(f'snapshot {path} holds other parameters than the snapshots '
                                f'before it: remove the snapshots of other runs')
        for key, value in snapshot['state_dict'].items():
            total[key] = total.get(key, 0.0) + float(coefficient) * value.double()
        if progress is not None:
            progress(done, len(paths))
    last = snapshot  # of the last step: its buffers, and the parameters' dtypes
    state_dict = {**last['buffers'], **{key: value.to(last['state_dict'][key].dtype)
                                        for key, value in total.items()}}
    if state_dict.keys() != template['state_dict'].keys():
        raise PatchgenError(f'the snapshots in {work_dir / SNAPSHOT_DIR} do not fit the model of '
                            f'the training checkpoints in {work_dir}: remove the snapshots of '
                            f'other runs')
    record = dict(sigma_rel=sigma_rel, step=max(steps), snapshots=len(paths),
                  fit_error=fit_error)
    return {**template, 'meta': {**template.get('meta', {}), 'posthoc_ema': record},
            'state_dict': {key: state_dict[key] for key in template['state_dict']}}
