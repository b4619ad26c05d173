"""Training machinery: the loop, hooks, the runner and checkpoint handling."""
from .checkpoint import PlainCheckpointHook, load_checkpoint_file
from .ema import HalfLifeEMA, HalfLifeEMAHook
from .loops import PatchTrainLoop, StepBatches
from .runner import PatchgenRunner, build_runner
from .sample_grid_hook import SampleGridHook

__all__ = ['PlainCheckpointHook', 'load_checkpoint_file', 'HalfLifeEMA', 'HalfLifeEMAHook',
           'PatchTrainLoop', 'StepBatches', 'PatchgenRunner', 'build_runner', 'SampleGridHook']
