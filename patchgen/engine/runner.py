"""patchgen's Runner: mmengine's, with checkpoints that load as weights only."""
from mmengine.model import is_model_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from patchgen.registry import RUNNERS

from .checkpoint import PlainCheckpointHook, load_checkpoint_file


@RUNNERS.register_module()
class PatchgenRunner(Runner):
    """mmengine's Runner whose checkpoints hold plain data and load with ``weights_only=True``.

    mmengine 0.10.7 cannot resume on torch >= 2.6 (its checkpoints hold
    pickled objects); this runner saves plain data through
    :class:`PlainCheckpointHook` and loads without unpickling code.
    """

    def register_hooks(self, default_hooks=None, custom_hooks=None) -> None:
        super().register_hooks(default_hooks, custom_hooks)
        self.register_hook(PlainCheckpointHook())

    def load_checkpoint(self, filename: str, map_location='cpu', strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]) -> dict:  # noqa: B006 (mmengine's signature)
        checkpoint = load_checkpoint_file(filename, map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint


def build_runner(cfg) -> Runner:
    """Build the runner a config asks for (``runner_type``) under its default scope."""
    init_default_scope(cfg.get('default_scope', 'patchgen'))
    return RUNNERS.build(cfg)
