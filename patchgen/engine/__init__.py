"""Training machinery: the loop, hooks, the runner and checkpoint handling."""
from .budget_hook import BudgetHook
from .checkpoint import PlainCheckpointHook, load_checkpoint_file
from .checkpoint_hook import SafeCheckpointHook
from .ddp import PatchDistributedDataParallel
from .ema import HalfLifeEMA, HalfLifeEMAHook
from .fsdp import PatchFullyShardedDataParallel
from .loops import PatchTrainLoop, StepBatches
from .nonfinite_hook import NonFiniteGuardHook
from .optim_wrapper import AutocastOptimWrapper
from .posthoc_ema import PostHocEMAHook
from .preemption_hook import PreemptionHook
from .runner import PatchgenRunner, build_runner
from .sample_grid_hook import SampleGridHook
from .watch_hook import WatchHook

__all__ = ['AutocastOptimWrapper', 'PlainCheckpointHook', 'SafeCheckpointHook',
           'load_checkpoint_file', 'HalfLifeEMA', 'HalfLifeEMAHook', 'NonFiniteGuardHook',
           'PatchDistributedDataParallel', 'PatchFullyShardedDataParallel',
           'PatchTrainLoop', 'StepBatches', 'PatchgenRunner', 'build_runner', 'SampleGridHook',
           'BudgetHook', 'PreemptionHook', 'PostHocEMAHook', 'WatchHook']
