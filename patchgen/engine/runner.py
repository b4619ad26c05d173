"""patchgen's Runner: mmengine's, with crash-safe checkpoints that load as weights only."""
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from pathlib import Path

import torch
import torch.distributed as torch_dist
from mmengine.device import get_device
from mmengine.dist import is_main_process
from mmengine.hooks import EMAHook
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from torch.utils.data import DataLoader

from patchgen import __version__
from patchgen.checkpoint_file import load_checkpoint_file
from patchgen.config import training_config
from patchgen.errors import PatchgenError
from patchgen.files import commit_file, temporary_name
from patchgen.registry import MODEL_WRAPPERS, RUNNERS, build_in_scope

from .checkpoint import PlainCheckpointHook, resume_candidates
from .fsdp import is_sharded, shard_loaded_optimizer_state, whole_state_dicts
from .preemption_hook import CATCHING, leave_stop_signals_to_main
from .progress_hook import TrainProgressHook
from .wrappers import unwrap_model


@RUNNERS.register_module()
class PatchgenRunner(Runner):
    """mmengine's Runner whose checkpoints are plain data, written atomically, loaded safely.

    mmengine 0.10.7 cannot resume on torch >= 2.6 (its checkpoints hold
    pickled objects); this runner saves plain data through
    :class:`PlainCheckpointHook` and loads with ``weights_only=True`` (or, with
    the config key ``trust_checkpoint=True``, unpickles everything). Each
    checkpoint is written to a temporary file, flushed and renamed, and
    ``resume`` skips a corrupt newest checkpoint for the newest valid one.
    """

    def train(self) -> torch.nn.Module:
        """mmengine's; hooks with a ``restore`` method (the pre-emption hook's signal handlers,
        the progress bar) are restored even when training fails, which skips ``after_train``."""
        try:
            return super().train()
        finally:
            for hook in self.hooks:
                if callable(getattr(hook, 'restore', None)):
                    hook.restore()

    def setup_env(self, env_cfg: dict) -> None:
        """mmengine's, plus torchrun without CUDA: a gloo process group.

        mmengine 0.10.7's 'pytorch' launcher always calls ``torch.cuda.set_device``;
        on a CPU-only machine this runner starts the process group itself (from
        torchrun's environment variables), and mmengine then finds it started.
        """
        if (self.distributed and self.launcher == 'pytorch' and not torch.cuda.is_available()
                and not torch_dist.is_initialized()):
            torch_dist.init_process_group(backend='gloo')
        super().setup_env(env_cfg)

    @staticmethod
    def build_dataloader(dataloader: DataLoader | dict, seed: int | None = None,
                         diff_rank_seed: bool = False) -> DataLoader:
        """mmengine's, with workers that leave the stop signals to the main process during
        training (``leave_stop_signals_to_main``), so a signal to every process of the job
        stops training through the :class:`PreemptionHook`."""
        built = Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
        if built.num_workers > 0:
            built.worker_init_fn = partial(leave_stop_signals_to_main, catching=CATCHING.event(),
                                           then=built.worker_init_fn)
        return built

    def wrap_model(self, model_wrapper_cfg: dict | None, model: torch.nn.Module):
        """mmengine's, but distributed training defaults to PatchDistributedDataParallel, and
        patchgen's wrappers (``PatchFullyShardedDataParallel``) are found by name."""
        if not self.distributed:
            return super().wrap_model(model_wrapper_cfg, model)
        cfg = model_wrapper_cfg or dict(
            type='PatchDistributedDataParallel',
            find_unused_parameters=self.cfg.get('find_unused_parameters', False))
        if cfg.get('type') not in MODEL_WRAPPERS.module_dict:
            return super().wrap_model(cfg, model)  # one of mmengine's wrappers
        return MODEL_WRAPPERS.build(cfg, default_args=dict(module=model.to(get_device())))

    def _init_model_weights(self) -> None:
        """mmengine's, except for a sharded (FSDP) model: its wrapper initialised it."""
        if not is_sharded(unwrap_model(self.model)):
            super()._init_model_weights()

    def register_hooks(self, default_hooks=None, custom_hooks=None) -> None:
        super().register_hooks(default_hooks, custom_hooks)
        self.register_hook(PlainCheckpointHook())
        self.register_hook(TrainProgressHook())

    def build_optim_wrapper(self, optim_wrapper):
        """mmengine's; an optimizer of a sharded (FSDP) model loads whole moments as shards."""
        built = super().build_optim_wrapper(optim_wrapper)
        if built is not optim_wrapper and is_sharded(unwrap_model(self.model)):
            shard_loaded_optimizer_state(built.optimizer)
        return built

    def save_checkpoint(self, out_dir: str, filename: str, *args, **kwargs) -> None:
        """mmengine's save, to a temporary file that is then flushed and renamed; ``meta``
        records the patchgen and torch versions that wrote it."""
        kwargs['meta'] = {**(kwargs.get('meta') or {}), 'patchgen_version': __version__,
                          'torch_version': str(torch.__version__)}
        with self._whole_state_dicts():
            if '://' in str(out_dir):  # a remote storage backend: no local rename to make
                return super().save_checkpoint(out_dir, filename, *args, **kwargs)
            path = Path(out_dir) / filename
            super().save_checkpoint(out_dir, temporary_name(path).name, *args, **kwargs)
            if is_main_process():
                commit_file(temporary_name(path), path)

    def _whole_state_dicts(self) -> AbstractContextManager:
        """For a sharded (FSDP) model, gather the model, EMA and optimizer states on every rank
        (rank 0 then saves them as whole tensors); for any other model, nothing."""
        model = unwrap_model(self.model)
        if not is_sharded(model):
            return nullcontext()
        averages = [hook.ema_model for hook in self.hooks if isinstance(hook, EMAHook)]
        optimizers = ([self.optim_wrapper.optimizer]
                      if isinstance(self.optim_wrapper, OptimWrapper) else [])
        return whole_state_dicts([model, *averages], optimizers)

    def load_checkpoint(self, filename: str, map_location='cpu', strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]) -> dict:  # noqa: B006 (mmengine's signature)
        trusted = bool(self.cfg.get('trust_checkpoint', False))
        checkpoint = load_checkpoint_file(filename, map_location, trusted)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        checkpoint = _load_checkpoint_to_model(unwrap_model(self.model), checkpoint, strict,
                                               revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def load_or_resume(self) -> None:
        """As mmengine's; an automatic resume falls back to the newest checkpoint that loads."""
        if self._has_loaded or not self._resume or self._load_from is not None:
            return super().load_or_resume()
        candidates = resume_candidates(self.work_dir)
        if not candidates:
            self.logger.info(f'No checkpoint in {self.work_dir} to resume from: training '
                             f'from the start.')
            return None
        for candidate in candidates:
            try:
                self.resume(str(candidate))
            except PatchgenError as error:
                self.logger.warning(f'{error}; trying an older one')
                continue
            if candidate != candidates[0]:
                self.logger.warning(f'Resumed from {candidate}, the newest checkpoint that '
                                    f'loads, instead of {candidates[0]}.')
            self._has_loaded = True
            return None
        raise PatchgenError(f'no checkpoint in {self.work_dir} loads (tried '
                            f'{", ".join(path.name for path in candidates)}): train without '
                            f'--resume or use another work dir')


def build_runner(cfg) -> Runner:
    """Build the runner a config asks for (``runner_type``) under its default scope, from the
    config as training runs it (:func:`patchgen.config.training_config`)."""
    training_config(cfg)
    return build_in_scope(RUNNERS, cfg, cfg.get('default_scope'))
