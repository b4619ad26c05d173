"""Training machinery: the loop, hooks, the runner and checkpoint handling."""
from .checkpoint import PlainCheckpointHook, load_checkpoint_file
from .ema import HalfLifeEMA, HalfLifeEMAHook
from .loops import PatchTrainLoop, StepBatches
from .optim_wrapper import AutocastOptimWrapper
from .runner import PatchgenRunner, build_runner
from .sample_grid_hook import SampleGridHook
from .time_budget_hook import TimeBudgetHook

__all__ = ['AutocastOptimWrapper', 'PlainCheckpointHook', 'load_checkpoint_file', 'HalfLifeEMA',
           'HalfLifeEMAHook', 'PatchTrainLoop', 'StepBatches', 'PatchgenRunner', 'build_runner',
           'SampleGridHook', 'TimeBudgetHook']
